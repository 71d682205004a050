-- Moves up to ARGV[1] of the oldest messages into a processing list: registry::queue::Lease.
-- KEYS: queue, processing list. ARGV: how many, '1' to hand back held messages first.
-- Returns how many it moved; the caller reads the list back in the same transaction.
-- Design: docs/design.md, "Taking a batch".
local held = redis.call('LLEN', KEYS[2])
if held > 0 and ARGV[2] == '1' then return 0 end
local len = redis.call('LLEN', KEYS[1])
local n = math.min(tonumber(ARGV[1]), len)
if n == 0 then return 0 end
local kept = {}
if held > 0 then kept = redis.call('LRANGE', KEYS[2], 0, -1) end
redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', len - n, n, 'STORE', KEYS[2])
redis.call('LTRIM', KEYS[1], 0, -n - 1)
for i = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(kept, i, math.min(i + 999, #kept)))
end
return n
