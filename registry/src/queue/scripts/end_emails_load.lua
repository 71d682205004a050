-- Ends a load of the stored emails: registry::queue::EmailIndex.
-- KEYS: emails-loading, emails-loaded. ARGV: the loader's token, '1' to mark the emails loaded.
-- Releases the lock if it is still this loader's, and only then marks the set complete;
-- returns 1, or 0 when the lock was no longer this loader's.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1') end
return 1
