-- What became of an enqueue whose answer never reached the producer: registry::queue::Enqueuer.
-- KEYS: the run's outcome record. ARGV: its TTL (s).
-- Returns the answer the enqueue script kept there (it queued users), or 'abandoned' when the
-- record says so; with no record, marks it abandoned, so that the script, should it still
-- arrive, does nothing, and returns 'abandoned': nothing was queued, and nothing will be.
local kept = redis.call('GET', KEYS[1])
if kept then return kept end
redis.call('SET', KEYS[1], 'abandoned', 'EX', ARGV[1])
return 'abandoned'
