-- Whether the email filter may hold an email: registry::queue::EmailIndex (email_filter.lua
-- is prepended). KEYS: email filter. ARGV: the lower-cased email. Returns 1 (maybe) or 0 (no).
return filter_has(KEYS[1], filter_count(KEYS[1]), filter_hashes(ARGV[1])) and 1 or 0
