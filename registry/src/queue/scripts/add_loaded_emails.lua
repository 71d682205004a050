-- Adds emails loaded from MySQL while the loader holds its lock: registry::queue::EmailIndex.
-- KEYS: emails, emails-loading. ARGV: the loader's token, the lock's TTL (s), then emails.
-- Returns 1, or 0 (adding nothing) when the lock expired, was taken over, or vanished with a
-- Redis that came back empty.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[2])
if #ARGV > 2 then redis.call('SADD', KEYS[1], unpack(ARGV, 3)) end
return 1
