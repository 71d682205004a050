-- Renews a consumer's lease on Redis's clock: registry::queue::Lease::heartbeat.
-- KEYS: consumers. ARGV: the consumer's id, the lease (ms).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
