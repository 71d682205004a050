-- Moves the oldest dead letters' messages back to the queue: registry::queue::DeadLetters.
-- KEYS: dead, queue, attempts, pending, failed. ARGV: how many at most. Returns how many moved.
-- A message with an id is pending again (its read answers `pending`, no longer `failed`).
local n = 0
for i = 1, tonumber(ARGV[1]) do
  local e = redis.call('RPOP', KEYS[1])
  if not e then break end
  local ok, d = pcall(cjson.decode, e)
  if ok and type(d) == 'table' and type(d.message) == 'string' then
    redis.call('LPUSH', KEYS[2], d.message)
    if type(d.id) == 'number' then
      local id = string.format('%.0f', d.id)
      redis.call('HDEL', KEYS[3], id)
      redis.call('HSET', KEYS[4], id, d.message)
      redis.call('HDEL', KEYS[5], id)
    end
    n = n + 1
  else
    redis.call('LPUSH', KEYS[1], e)
  end
end
return n
