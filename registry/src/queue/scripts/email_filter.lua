-- The email filter (registry::queue::EmailIndex), prepended to each script that uses it: a
-- scalable Bloom filter of the lower-cased accepted emails, in one string. It answers "surely
-- new" or "maybe taken" (then MySQL decides), in memory that follows the number of emails:
-- - bits 0 to 31 count the emails added, then come layers of 2^20, 2^21, 2^22, ... bits;
-- - a layer takes one email per FILTER_BITS_PER_EMAIL of its bits, then the next one starts,
--   so the string grows by doubling and holds between 1 and 2 times that many bits per email;
-- - an email sets FILTER_HASHES bits of the layer it is added to, at positions derived from
--   two halves of its SHA-1 (double hashing), and is "maybe taken" when every one of its bits
--   is set in some layer.
local FILTER_HEADER, FILTER_LAYER0, FILTER_BITS_PER_EMAIL, FILTER_HASHES = 64, 1048576, 12, 8

-- The two hashes of an email; the second odd, so that its multiples modulo a layer's size (a
-- power of two) are all different.
local function filter_hashes(email)
  local h = redis.sha1hex(email)
  local h2 = tonumber(string.sub(h, 9, 16), 16)
  return tonumber(string.sub(h, 1, 8), 16), h2 - h2 % 2 + 1
end

-- BITFIELD arguments reading (GET) or setting (SET ... 1) an email's bits in a layer.
local function filter_fields(set, start, size, h1, h2)
  local args = {}
  for i = 0, FILTER_HASHES - 1 do
    args[#args + 1] = set and 'SET' or 'GET'
    args[#args + 1] = 'u1'
    args[#args + 1] = start + (h1 + i * h2) % size
    if set then args[#args + 1] = 1 end
  end
  return args
end

-- How many emails the filter holds.
local function filter_count(key)
  return redis.call('BITFIELD_RO', key, 'GET', 'u32', 0)[1]
end

-- Calls visit(start, size) for each layer up to the one the n-th email goes to (n >= 1),
-- oldest first, until visit answers true; answers whether one did.
local function filter_layers(n, visit)
  local start, size, held = FILTER_HEADER, FILTER_LAYER0, 0
  while true do
    if visit(start, size) then return true end
    held = held + math.floor(size / FILTER_BITS_PER_EMAIL)
    if held >= n then return false end
    start, size = start + size, size * 2
  end
end

-- Whether the email may be in the filter (false: it surely is not).
local function filter_has(key, count, h1, h2)
  return filter_layers(math.max(count, 1), function(start, size)
    local bits = redis.call('BITFIELD_RO', key, unpack(filter_fields(false, start, size, h1, h2)))
    for i = 1, #bits do
      if bits[i] == 0 then return false end
    end
    return true
  end)
end

-- Adds an email to the newest layer and counts it; with `checked`, only if it is not
-- (maybe) there already, so that the count stays near the number of different emails.
local function filter_add(key, email, checked)
  local h1, h2 = filter_hashes(email)
  local count = filter_count(key)
  if checked and filter_has(key, count, h1, h2) then return end
  local newest, size
  filter_layers(count + 1, function(start, layer)
    newest, size = start, layer
    return false
  end)
  local args = filter_fields(true, newest, size, h1, h2)
  for _, arg in ipairs({ 'INCRBY', 'u32', 0, 1 }) do args[#args + 1] = arg end
  redis.call('BITFIELD', key, unpack(args))
end
