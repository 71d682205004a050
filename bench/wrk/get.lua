-- wrk script: GET /api/users/ID over the ids in BENCH_IDS (comma-separated), in turn.
-- Usage: BENCH_IDS=1,2,3 wrk -s bench/wrk/get.lua http://HOST:PORT
dofile("bench/wrk/common.lua")

local paths = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "", "%d+") do
  table.insert(paths, "/api/users/" .. id)
end
assert(#paths > 0, "BENCH_IDS names no id")
local i = 0

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
