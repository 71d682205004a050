-- What an Idempotency-Key was used for: registry::queue::Enqueuer::idempotency_record.
-- KEYS: the ring of idempotency records (ring.lua, prepended), then the earlier versions'
-- record of the key. ARGV: the key, the records' TTL (ms).
-- Returns "id\ncanonical body", or nil when the key is not known.
local ring = ring_keys(1, #KEYS - 1)
return ring_get(ring, ARGV[1], tonumber(ARGV[2]), ring_now()) or redis.call('GET', KEYS[#KEYS])
