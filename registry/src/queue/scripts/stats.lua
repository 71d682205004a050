-- Counts of the queue: registry::queue::QueueMonitor.
-- KEYS: queue, dead, consumers. ARGV: now (ms), processing key prefix, second slot's suffix.
-- Returns {pending, processing, dead, live consumers}.
local processing = 0
for _, c in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  processing = processing + redis.call('LLEN', ARGV[2] .. c) + redis.call('LLEN', ARGV[2] .. c .. ARGV[3])
end
local live = redis.call('ZCOUNT', KEYS[3], ARGV[1], '+inf')
return {redis.call('LLEN', KEYS[1]), processing, redis.call('LLEN', KEYS[2]), live}
