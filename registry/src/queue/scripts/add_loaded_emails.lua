-- Adds emails loaded from MySQL to the filter while the loader holds its lock:
-- registry::queue::EmailIndex (email_filter.lua is prepended).
-- KEYS: email filter, filter-loading. ARGV: the loader's token, the lock's TTL (s), then emails.
-- Returns 1, or 0 (adding nothing) when the lock expired, was taken over, or vanished with a
-- Redis that came back empty. Stored emails are all different: added without looking first.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[2])
local count = filter_count(KEYS[1])
for i = 3, #ARGV do count = filter_add(KEYS[1], count, filter_hashes(ARGV[i])) end
return 1
