-- wrk script: POST /api/users, each request with a unique name and, when BENCH_EMAIL=1, a
-- unique email (a repeated one would answer 409 once stored). BENCH_RUN tags this run.
-- Usage: BENCH_RUN=abc BENCH_EMAIL=1 wrk -s bench/wrk/post.lua http://HOST:PORT/api/users
dofile("bench/wrk/common.lua")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local run = os.getenv("BENCH_RUN") or tostring(os.time())
local with_email = os.getenv("BENCH_EMAIL") == "1"
local n = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local body
  if with_email then
    body = string.format('{"name":"Wrk %s %d-%d","email":"wrk.%s.%d.%d@example.com"}',
      run, thread_no, n, run, thread_no, n)
  else
    body = string.format('{"name":"Wrk %s %d-%d"}', run, thread_no, n)
  end
  return wrk.format(nil, nil, nil, body)
end
