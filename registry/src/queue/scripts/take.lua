-- Moves up to ARGV[1] of the oldest messages into a processing list: registry::queue::Lease.
-- KEYS: queue, processing list, consumers. ARGV: how many, the consumer's id, the lease (ms).
-- Messages the list already holds come back first, alone.
-- Renews the consumer's lease on Redis's clock in the same step, so that no processing list
-- is ever without one (a consumer that dies before its first heartbeat is still reaped).
-- Returns how many it moved; the caller reads the list back in the same transaction.
-- Design: docs/design.md, "Taking a batch".
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
if redis.call('LLEN', KEYS[2]) > 0 then return 0 end
local len = redis.call('LLEN', KEYS[1])
local n = math.min(tonumber(ARGV[1]), len)
if n == 0 then return 0 end
redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', len - n, n, 'STORE', KEYS[2])
redis.call('LTRIM', KEYS[1], 0, -n - 1)
return n
