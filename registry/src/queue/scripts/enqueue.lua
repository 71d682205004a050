-- Enqueues a batch of users (one or many) atomically: registry::queue::enqueue::Enqueuer.
-- KEYS: last-id, queue, pending, email filter, email filter loaded, the ring of outcome
--   records and the ring of idempotency records (as many hashes each; ring.lua, prepended),
--   then per user the earlier versions' idempotency record, read only (any key of the
--   deployment, e.g. last-id, for a user without an Idempotency-Key).
-- ARGV: id floor, idempotency TTL (ms), id epoch (ms), message head, outcome TTL (ms), this
--   run's token, then per user: message tail, Idempotency-Key ('' for none), canonical body,
--   lower-cased email ('' for none), check the email first ('1'/'0').
-- Returns per user, in order, a status and a value (statuses as EnqueueStatus reads them).
-- When it queues anything it also keeps that answer as the token's outcome record, so that a
-- producer that never got it can read it (outcome.lua); a run whose token the producer has
-- already marked abandoned does nothing.
-- Writes happen after every read, pushes before idempotency records: an error cannot leave a
-- key recorded for a message that was not pushed.
local KNOWN, QUEUED, EMAIL_LISTED, EMAILS_NOT_LOADED = 0, 1, 2, 3
local FIXED, PER_USER, RING_FIRST = 6, 5, 6
local n = (#ARGV - FIXED) / PER_USER
local ring_size = (#KEYS - RING_FIRST + 1 - n) / 2
local outcomes, idempotency = ring_keys(RING_FIRST, ring_size), ring_keys(RING_FIRST + ring_size, ring_size)
local LEGACY_FIRST = RING_FIRST + 2 * ring_size
local idem_ttl, outcome_ttl, token = tonumber(ARGV[2]), tonumber(ARGV[5]), ARGV[6]
local ms = ring_now()
if ring_get(outcomes, token, outcome_ttl, ms) then
  return redis.error_reply('ABANDONED the producer gave up on this enqueue')
end
local now = (ms - tonumber(ARGV[3])) * 1024
local floor = tonumber(ARGV[1])
local head = ARGV[4]
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local out, msgs, fields, records, fresh, emails = {}, {}, {}, {}, {}, {}

-- The emails to check, looked up in the filter (email_filter.lua, prepended).
local listed, loaded, count = {}, nil, nil
for i = 1, n do
  local a = FIXED + PER_USER * (i - 1)
  local email = ARGV[a + 4]
  if email ~= '' and ARGV[a + 5] == '1' then
    if loaded == nil then
      loaded = redis.call('EXISTS', KEYS[5]) == 1
      count = filter_count(KEYS[4])
    end
    if loaded and listed[email] == nil then
      listed[email] = filter_has(KEYS[4], count, filter_hashes(email))
    end
  end
end

for i = 1, n do
  local a = FIXED + PER_USER * (i - 1)
  local tail, key, canonical, email, check = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local prev = nil
  if key ~= '' then
    prev = fresh[key] or ring_get(idempotency, key, idem_ttl, ms) or redis.call('GET', KEYS[LEGACY_FIRST + i - 1])
  end
  local status = QUEUED
  if prev then
    status = KNOWN
  elseif email ~= '' and check == '1' then
    if loaded == false then
      status = EMAILS_NOT_LOADED
    elseif listed[email] then
      status = EMAIL_LISTED
    end
  end
  if status == KNOWN then
    out[#out + 1] = status
    out[#out + 1] = prev
  elseif status ~= QUEUED then
    out[#out + 1] = status
    out[#out + 1] = ''
  else
    last = math.max(now, last + 1, floor)
    local id = string.format('%.0f', last)
    local msg = head .. id .. ',' .. tail
    msgs[#msgs + 1] = msg
    fields[#fields + 1] = id
    fields[#fields + 1] = msg
    if key ~= '' then
      fresh[key] = id .. '\n' .. canonical
      records[#records + 1] = key
    end
    if email ~= '' then emails[#emails + 1] = email end
    out[#out + 1] = status
    out[#out + 1] = id
  end
end

if #msgs > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', last))
  redis.call('LPUSH', KEYS[2], unpack(msgs))
  redis.call('HSET', KEYS[3], unpack(fields))
  -- Each new email into the filter once; one not checked above is looked up first, so that
  -- the count (which sizes the layers) stays near the number of different emails.
  local held, added = count or filter_count(KEYS[4]), {}
  for _, email in ipairs(emails) do
    if not added[email] then
      added[email] = true
      local hashes = filter_hashes(email)
      if listed[email] == false or not filter_has(KEYS[4], held, hashes) then
        held = filter_add(KEYS[4], held, hashes)
      end
    end
  end
  for _, key in ipairs(records) do ring_put(idempotency, key, fresh[key], idem_ttl, ms) end
  ring_put(outcomes, token, cjson.encode(out), outcome_ttl, ms)
end
return out
