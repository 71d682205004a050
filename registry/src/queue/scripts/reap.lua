-- Re-queues the in-flight messages of consumers whose lease ran out: registry::queue::Lease.
-- KEYS: consumers, queue. ARGV: now (ms), processing key prefix, second slot's suffix.
-- Both processing lists of each such consumer go back to the head of the queue, each list's
-- oldest first, and the consumer is forgotten. Processing lists share the hash tag of KEYS.
-- Returns {consumer, count, ...}.
local out = {}
for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  local n = 0
  for _, list in ipairs({ARGV[2] .. c .. ARGV[3], ARGV[2] .. c}) do
    while redis.call('LMOVE', list, KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
  end
  redis.call('ZREM', KEYS[1], c)
  table.insert(out, c)
  table.insert(out, n)
end
return out
