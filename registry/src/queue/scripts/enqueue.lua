-- Enqueues a batch of users (one or many) atomically: registry::queue::enqueue::Enqueuer.
-- KEYS: last-id, queue, pending, email filter, email filter loaded, this run's outcome record, then one
--   idempotency key per user (any key of the deployment, e.g. last-id, for a user without one).
-- ARGV: id floor, idempotency TTL (s), id epoch (ms), message head, outcome TTL (s), then per
--   user: message tail, use idempotency ('1'/'0'), canonical body, lower-cased email ('' for
--   none), check the email first ('1'/'0').
-- Returns per user, in order, a status and a value (statuses as EnqueueStatus reads them).
-- When it queues anything it also keeps that answer under the outcome record, so that a
-- producer that never got it can read it (outcome.lua); a run whose record the producer has
-- already marked abandoned does nothing.
-- Writes happen after every read, pushes before idempotency records: an error cannot leave a
-- key recorded for a message that was not pushed.
local KNOWN, QUEUED, EMAIL_LISTED, EMAILS_NOT_LOADED = 0, 1, 2, 3
local FIXED, PER_USER, FIXED_KEYS = 5, 5, 6
local n = #KEYS - FIXED_KEYS
if redis.call('EXISTS', KEYS[6]) == 1 then
  return redis.error_reply('ABANDONED the producer gave up on this enqueue')
end
local t = redis.call('TIME')
local now = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])) * 1024
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
      local h1, h2 = filter_hashes(email)
      listed[email] = filter_has(KEYS[4], count, h1, h2)
    end
  end
end

for i = 1, n do
  local a, key = FIXED + PER_USER * (i - 1), KEYS[FIXED_KEYS + i]
  local tail, keyed, canonical, email, check = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local prev = nil
  if keyed == '1' then prev = fresh[key] or redis.call('GET', key) end
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
    if keyed == '1' then
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
  for _, email in ipairs(emails) do filter_add(KEYS[4], email, true) end
  for _, key in ipairs(records) do
    redis.call('SET', key, fresh[key], 'EX', ARGV[2])
  end
  redis.call('SET', KEYS[6], cjson.encode(out), 'EX', ARGV[5])
end
return out
