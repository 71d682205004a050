-- Counts of the queue: registry::queue::QueueMonitor.
-- KEYS: queue, dead, consumers. ARGV: processing key prefix, second slot's suffix. A consumer
-- is live while its lease, on Redis's clock, has not run out.
-- Returns {pending, processing, dead, live consumers}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local processing = 0
for _, c in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  processing = processing + redis.call('LLEN', ARGV[1] .. c) + redis.call('LLEN', ARGV[1] .. c .. ARGV[2])
end
local live = redis.call('ZCOUNT', KEYS[3], now, '+inf')
return {redis.call('LLEN', KEYS[1]), processing, redis.call('LLEN', KEYS[2]), live}
