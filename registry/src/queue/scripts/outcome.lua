-- What became of an enqueue whose answer never reached the producer: registry::queue::Enqueuer.
-- KEYS: the ring of outcome records (ring.lua, prepended). ARGV: the run's token, the records'
-- TTL (ms).
-- Returns the answer the enqueue script kept there (it queued users), or 'abandoned' when the
-- record says so; with no record, marks it abandoned, so that the script, should it still
-- arrive, does nothing, and returns 'abandoned': nothing was queued, and nothing will be.
local ttl, now = tonumber(ARGV[2]), ring_now()
local kept = ring_get(KEYS, ARGV[1], ttl, now)
if kept then return kept end
ring_put(KEYS, ARGV[1], 'abandoned', ttl, now)
return 'abandoned'
