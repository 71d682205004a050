-- Ends a load of the stored emails: registry::queue::EmailIndex.
-- KEYS: filter-loading, filter-loaded, then the set and marker of versions before the filter.
-- ARGV: the loader's token, '1' to mark the filter loaded.
-- Releases the lock if it is still this loader's, and only then marks the filter complete
-- (and drops the old set, which it replaces); returns 1, or 0 when the lock was no longer
-- this loader's.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], '1')
  redis.call('UNLINK', KEYS[3], KEYS[4])
end
return 1
