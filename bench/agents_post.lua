-- wrk script for bench/pg-writes.sh: POST /public-api/agents, a new name per request (an acknowledged write each).
local key = os.getenv("BENCH_KEY")
local run = os.getenv("BENCH_RUN") or "r"
local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local body = string.format('{"name":"bench-%s-%d-%d","trigger_type":"NONE","actions":[]}', run, tid, counter)
  return wrk.format("POST", "/public-api/agents", headers, body)
end
