-- Re-queues the in-flight messages of consumers whose lease ran out: registry::queue::Lease.
-- KEYS: consumers, queue. ARGV: processing key prefix, second slot's suffix. Leases are
-- compared with Redis's clock, the one they were written with, never a host's.
-- Both processing lists of each such consumer go back to the head of the queue, each list's
-- oldest first, and the consumer is forgotten. Processing lists share the hash tag of KEYS.
-- Returns {consumer, count, ...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)) do
  local n = 0
  for _, list in ipairs({ARGV[1] .. c .. ARGV[2], ARGV[1] .. c}) do
    while redis.call('LMOVE', list, KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
  end
  redis.call('ZREM', KEYS[1], c)
  table.insert(out, c)
  table.insert(out, n)
end
return out
