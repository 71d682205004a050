-- Records that expire without a TTL (docs/design.md, "Records without a TTL"), prepended to
-- each script that keeps idempotency records or enqueue outcomes: under volatile-lru, Redis
-- evicts only keys with a TTL, and these must never be evicted while they are valid.
-- A kind of record lives in a ring of hashes (keys: their names, given in KEYS); time is cut
-- into buckets of width ttl / (#keys - 1), and bucket b writes into the hash b mod #keys, whose
-- field RING_BUCKET holds the bucket it serves. A record is "WRITTEN_AT_MS\nVALUE" under its
-- field (an Idempotency-Key or a token, never empty), valid while younger than ttl ms.
local RING_BUCKET = ''

-- Redis's clock in ms since the epoch.
local function ring_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The value recorded under field less than ttl ms before now in any hash of the ring, or nil.
-- At most one is valid: a field is written only when none is.
local function ring_get(keys, field, ttl, now)
  for i = 1, #keys do
    local record = redis.call('HGET', keys[i], field)
    if record then
      local cut = string.find(record, '\n', 1, true)
      if cut and now - tonumber(string.sub(record, 1, cut - 1)) < ttl then
        return string.sub(record, cut + 1)
      end
    end
  end
  return nil
end

-- Records value under field at now. A hash that still serves an older bucket holds only
-- records at least #keys - 1 widths (>= ttl) old: it is unlinked first.
local function ring_put(keys, field, value, ttl, now)
  local width = math.ceil(ttl / (#keys - 1))
  local bucket = string.format('%.0f', math.floor(now / width))
  local key = keys[math.floor(now / width) % #keys + 1]
  if redis.call('HGET', key, RING_BUCKET) ~= bucket then
    redis.call('UNLINK', key)
    redis.call('HSET', key, RING_BUCKET, bucket)
  end
  redis.call('HSET', key, field, string.format('%.0f', now) .. '\n' .. value)
end

-- The names of the ring's hashes, KEYS[first] to KEYS[first + count - 1].
local function ring_keys(first, count)
  local keys = {}
  for i = first, first + count - 1 do keys[#keys + 1] = KEYS[i] end
  return keys
end
