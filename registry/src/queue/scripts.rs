//! Lua scripts: each runs atomically inside Redis, so a push and its bookkeeping cannot part.

use std::sync::LazyLock;

use redis::Script;

/// Ids are `(ms since ID_EPOCH_MS) * 1024 + n`: time-ordered, so a Redis that comes back
/// empty still hands out ids above every earlier one (as long as fewer than 1024 users per
/// ms are accepted on average), and below 2^53 until the year 2300 (safe in JavaScript).
pub const ID_EPOCH_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// Enqueues a batch of users (one or many) atomically.
/// KEYS: last-id, queue, pending, emails, emails-loaded, then one idempotency key per user (any
/// key of the deployment, e.g. last-id, for a user without one).
/// ARGV: id floor, idempotency TTL, epoch, then per user: message tail, use idempotency
/// ('1'/'0'), canonical body, lower-cased email ('' for none), check the email first ('1'/'0').
/// Returns per user, in order, `1, id` when queued; `0, "<id>\n<canonical body>"` when its
/// key was known (also when an earlier user of the same batch had just recorded it); `2, ''`
/// when the email is to be checked and is among the accepted ones, and `3, ''` when it is to be
/// checked and Redis does not know every stored email yet: for these two nothing is queued,
/// and the caller asks MySQL. A queued user's email joins the accepted ones. A known key is
/// answered before the email is looked at. The emails to check are looked up in one
/// `SMISMEMBER` (Redis 6.2 and later) for the whole batch: one call from Lua, not one per user. Writes happen after every read, pushes before
/// idempotency records: an error cannot leave a key recorded for a message that was not pushed.
pub static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = #KEYS - 5
local t = redis.call('TIME')
local now = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])) * 1024
local floor = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local out, msgs, fields, records, fresh, emails = {}, {}, {}, {}, {}, {}
local wanted, listed, loaded = {}, {}, true
for i = 1, n do
  local a = 5 * i - 1
  if ARGV[a + 3] ~= '' and ARGV[a + 4] == '1' then wanted[#wanted + 1] = ARGV[a + 3] end
end
if #wanted > 0 then
  loaded = redis.call('EXISTS', KEYS[5]) == 1
  if loaded then
    local found = redis.call('SMISMEMBER', KEYS[4], unpack(wanted))
    for j = 1, #wanted do
      if found[j] == 1 then listed[wanted[j]] = true end
    end
  end
end
for i = 1, n do
  local a, key = 5 * i - 1, KEYS[5 + i]
  local email = ARGV[a + 3]
  local prev = nil
  if ARGV[a + 1] == '1' then prev = fresh[key] or redis.call('GET', key) end
  local status = 1
  if prev then
    status = 0
  elseif email ~= '' and ARGV[a + 4] == '1' then
    if not loaded then
      status = 3
    elseif listed[email] then
      status = 2
    end
  end
  if status == 0 then
    out[#out + 1] = 0
    out[#out + 1] = prev
  elseif status > 1 then
    out[#out + 1] = status
    out[#out + 1] = ''
  else
    last = math.max(now, last + 1, floor)
    local id = string.format('%.0f', last)
    local msg = '{"v":1,"id":' .. id .. ',' .. ARGV[a]
    msgs[#msgs + 1] = msg
    fields[#fields + 1] = id
    fields[#fields + 1] = msg
    if ARGV[a + 1] == '1' then
      fresh[key] = id .. '\n' .. ARGV[a + 2]
      records[#records + 1] = key
    end
    if email ~= '' then emails[#emails + 1] = email end
    out[#out + 1] = 1
    out[#out + 1] = id
  end
end
if #msgs > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', last))
  redis.call('LPUSH', KEYS[2], unpack(msgs))
  redis.call('HSET', KEYS[3], unpack(fields))
  if #emails > 0 then redis.call('SADD', KEYS[4], unpack(emails)) end
  for _, key in ipairs(records) do
    redis.call('SET', key, fresh[key], 'EX', ARGV[2])
  end
end
return out
"#,
    )
});

/// KEYS: queue, processing list. ARGV: how many, `1` to hand back held messages first.
/// Moves up to that many oldest messages into the processing list; returns how many it moved.
/// The caller reads the list in the same transaction (see `Queue::take`): messages are not
/// returned through Lua, which would make a Lua string of each and a reply of each again.
/// With ARGV[2] = `1`, a processing list that already holds messages is left as it is, and
/// nothing moves: those messages were taken by a reply the consumer never received (Redis
/// restarted or the connection dropped after the move) or belong to a batch whose
/// acknowledgement failed. The consumer's next acknowledgement empties the list, so it must
/// process them first. With `0`, messages the list holds (the one `BLMOVE` just moved) stay,
/// at its oldest end.
///
/// The move is one `SORT ... BY nosort LIMIT ... STORE` (a list's own order, the range read
/// directly, copied inside Redis) and one `LTRIM`, not one `LMOVE` per message (and one
/// append-only-file entry each). The processing list ends up as `LMOVE`s would leave it:
/// newest on the left, oldest on the right, where the reaper starts putting them back.
/// `STORE` replaces the list, so held messages are read first and pushed back after it.
pub static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local held = redis.call('LLEN', KEYS[2])
if held > 0 and ARGV[2] == '1' then return 0 end
local len = redis.call('LLEN', KEYS[1])
local n = math.min(tonumber(ARGV[1]), len)
if n == 0 then return 0 end
local kept = {}
if held > 0 then kept = redis.call('LRANGE', KEYS[2], 0, -1) end
redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', len - n, n, 'STORE', KEYS[2])
redis.call('LTRIM', KEYS[1], 0, -n - 1)
for i = 1, #kept, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(kept, i, math.min(i + 999, #kept)))
end
return n
"#,
    )
});

/// KEYS: consumers, queue. ARGV: now (ms), processing key prefix, second slot's suffix.
/// Puts the in-flight messages of every consumer whose lease deadline has passed (both of its
/// processing lists) back at the head of the queue, each list's oldest first, and forgets the
/// consumer. Processing lists share the hash tag of KEYS, so they live in the same cluster
/// slot. Returns `{consumer, count, ...}`.
pub static REAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
for _, c in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  local n = 0
  for _, list in ipairs({ARGV[2] .. c .. ARGV[3], ARGV[2] .. c}) do
    while redis.call('LMOVE', list, KEYS[2], 'LEFT', 'RIGHT') do n = n + 1 end
  end
  redis.call('ZREM', KEYS[1], c)
  table.insert(out, c)
  table.insert(out, n)
end
return out
"#,
    )
});

/// KEYS: queue, dead, consumers. ARGV: now (ms), processing key prefix, second slot's suffix.
/// Returns `{pending, processing, dead, live consumers}`.
pub static STATS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local processing = 0
for _, c in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  processing = processing + redis.call('LLEN', ARGV[2] .. c) + redis.call('LLEN', ARGV[2] .. c .. ARGV[3])
end
local live = redis.call('ZCOUNT', KEYS[3], ARGV[1], '+inf')
return {redis.call('LLEN', KEYS[1]), processing, redis.call('LLEN', KEYS[2]), live}
"#,
    )
});

/// KEYS: dead, queue, attempts. ARGV: how many at most.
/// Moves the oldest dead letters' messages back to the queue with fresh attempts.
pub static REQUEUE_DEAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = 0
for i = 1, tonumber(ARGV[1]) do
  local e = redis.call('RPOP', KEYS[1])
  if not e then break end
  local ok, d = pcall(cjson.decode, e)
  if ok and type(d) == 'table' and type(d.message) == 'string' then
    redis.call('LPUSH', KEYS[2], d.message)
    if type(d.id) == 'number' then redis.call('HDEL', KEYS[3], string.format('%.0f', d.id)) end
    n = n + 1
  else
    redis.call('LPUSH', KEYS[1], e)
  end
end
return n
"#,
    )
});

/// KEYS: emails, emails-loading. ARGV: the loader's token, the lock's TTL (s), then emails.
/// Adds the emails and renews the lock while it is still this loader's; returns 1, or 0 (and
/// adds nothing) when the lock expired, was taken over, or vanished with a Redis that came
/// back empty.
pub static ADD_LOADED_EMAILS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[2])
if #ARGV > 2 then redis.call('SADD', KEYS[1], unpack(ARGV, 3)) end
return 1
"#,
    )
});

/// KEYS: emails-loading, emails-loaded. ARGV: the loader's token, `1` to mark the emails
/// loaded (`0` to give up). Releases the lock if it is still this loader's, and then (only
/// then) marks the set complete; returns 1, or 0 when the lock was no longer this loader's.
pub static END_EMAILS_LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1') end
return 1
"#,
    )
});
