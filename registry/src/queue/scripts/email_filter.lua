-- The email filter (registry::queue::EmailIndex), prepended to each script that uses it: a
-- scalable, blocked Bloom filter of the lower-cased accepted emails, in one string. It answers
-- "surely new" or "maybe taken" (then MySQL decides), in memory that follows the number of
-- emails:
-- - bits 0 to 31 count the emails added, then come layers of 2^23 (1 MiB), 2^24, 2^25, ... bits;
-- - a layer takes one email per FILTER_BITS_PER_EMAIL of its bits, then the next one starts,
--   so the string grows by doubling and holds between 1 and 2 times that many bits per email;
-- - an email sets FILTER_HASHES bits inside one 64-bit block of the layer it is added to: the
--   block and the bits come from its SHA-1, and it is "maybe taken" when all its bits are set
--   in its block of some layer. A block is read as two u32 fields, so looking an email up costs
--   two BITFIELD fields per layer (eight separate bits cost four times as much Redis CPU), for
--   a "maybe" of about 1 new email in 100 per full layer instead of 1 in 300.
local FILTER_HEADER, FILTER_LAYER0, FILTER_BITS_PER_EMAIL, FILTER_HASHES = 64, 8388608, 12, 6

-- An email's hashes: its block's position before the layer is known (h1, h2: the block is
-- (h1 + layer * h2) modulo the layer's blocks, h2 odd so that layers do not share collisions),
-- the masks of its bits in the block's first and second 32 bits (bit 0 of a block is the most
-- significant bit of its first word, as BITFIELD numbers them), and the bits' positions.
local function filter_hashes(email)
  local h = redis.sha1hex(email)
  local h2 = tonumber(string.sub(h, 9, 16), 16)
  local hi, lo, bits = 0, 0, {}
  for i = 0, FILTER_HASHES - 1 do
    local p = tonumber(string.sub(h, 17 + 2 * i, 18 + 2 * i), 16) % 64
    bits[#bits + 1] = p
    if p < 32 then
      hi = bit.bor(hi, bit.lshift(1, 31 - p))
    else
      lo = bit.bor(lo, bit.lshift(1, 63 - p))
    end
  end
  return { tonumber(string.sub(h, 1, 8), 16), h2 - h2 % 2 + 1, hi, lo, bits }
end

-- The bit offset of an email's block in the layer number `layer` at `start` of `size` bits.
local function filter_block(hashes, layer, start, size)
  return start + 64 * ((hashes[1] + layer * hashes[2]) % (size / 64))
end

-- How many emails the filter holds.
local function filter_count(key)
  return redis.call('BITFIELD_RO', key, 'GET', 'u32', 0)[1]
end

-- Calls visit(layer, start, size) for each layer up to the one the n-th email goes to
-- (n >= 1), oldest first (layer 0).
local function filter_layers(n, visit)
  local layer, start, size, held = 0, FILTER_HEADER, FILTER_LAYER0, 0
  while true do
    visit(layer, start, size)
    held = held + math.floor(size / FILTER_BITS_PER_EMAIL)
    if held >= n then return end
    layer, start, size = layer + 1, start + size, size * 2
  end
end

-- Whether the email (its hashes) may be in a filter of count emails (false: it surely is
-- not): the email's block in every layer read by one BITFIELD_RO.
local function filter_has(key, count, hashes)
  local args, n = {}, 0
  filter_layers(math.max(count, 1), function(layer, start, size)
    local block = filter_block(hashes, layer, start, size)
    args[n + 1], args[n + 2], args[n + 3] = 'GET', 'u32', block
    args[n + 4], args[n + 5], args[n + 6] = 'GET', 'u32', block + 32
    n = n + 6
  end)
  local words = redis.call('BITFIELD_RO', key, unpack(args))
  local hi, lo = bit.tobit(hashes[3]), bit.tobit(hashes[4])
  for w = 1, #words, 2 do
    if bit.band(words[w], hi) == hi and bit.band(words[w + 1], lo) == lo then return true end
  end
  return false
end

-- Adds the email (its hashes) to a filter of count emails: sets its bits in its block of the
-- layer the next email goes to and counts it, by one BITFIELD. Returns the new count.
local function filter_add(key, count, hashes)
  local block
  filter_layers(count + 1, function(layer, start, size) block = filter_block(hashes, layer, start, size) end)
  local args, n = { 'INCRBY', 'u32', 0, 1 }, 4
  for _, p in ipairs(hashes[5]) do
    args[n + 1], args[n + 2], args[n + 3], args[n + 4] = 'SET', 'u1', block + p, 1
    n = n + 4
  end
  redis.call('BITFIELD', key, unpack(args))
  return count + 1
end
