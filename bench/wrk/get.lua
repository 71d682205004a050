-- wrk script: GET /api/users/ID over the ids in BENCH_IDS (comma-separated), in turn; or, with
-- BENCH_ID_COUNT=N instead, over the ids 1..N in a scattered order, each at most once until
-- all N were read (the k-th request of the run reads 1 + (k * stride) mod N, the stride near
-- N * 0.618 and prime to N), so that no read finds a user another read has cached.
-- Usage: BENCH_IDS=1,2,3 wrk -s bench/wrk/get.lua http://HOST:PORT
--        BENCH_ID_COUNT=1000000 wrk -t 1 -s bench/wrk/get.lua http://HOST:PORT
dofile("bench/wrk/common.lua")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
  thread:set("thread_count", 0)
  for _, t in ipairs(threads) do
    t:set("thread_count", #threads)
  end
end

local function gcd(a, b)
  while b ~= 0 do
    a, b = b, a % b
  end
  return a
end

local count = tonumber(os.getenv("BENCH_ID_COUNT") or "")
local paths = {}
local stride = 1
if count then
  assert(count > 0, "BENCH_ID_COUNT must be positive")
  stride = math.max(1, math.floor(count * 0.618))
  while gcd(stride, count) ~= 1 do
    stride = stride + 1
  end
else
  for id in string.gmatch(os.getenv("BENCH_IDS") or "", "%d+") do
    table.insert(paths, "/api/users/" .. id)
  end
  assert(#paths > 0, "BENCH_IDS names no id")
end
local i = 0

function request()
  if count then
    -- Threads take turns through the same sequence: thread t reads k = t-1, t-1+threads, ...
    local k = (thread_no or 1) - 1 + i * math.max(thread_count or 1, 1)
    i = i + 1
    return wrk.format("GET", "/api/users/" .. (1 + (k * stride) % count))
  end
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
