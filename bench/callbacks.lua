-- wrk script for bench/callbacks.sh: POST /public-api/callbacks with a new event_id per request.
-- Each event is a new ticket of company "Company <n % 200>"; the seeded agents' fifth rule picks 5 of
-- the 1,000 agents for it. BENCH_KEY and BENCH_RUN come from the environment; BENCH_PREFER=minimal sends
-- `Prefer: return=minimal` (the receipt instead of the whole CallbackDetail).
local key = os.getenv("BENCH_KEY")
local run = os.getenv("BENCH_RUN") or "r"
local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
if os.getenv("BENCH_PREFER") == "minimal" then headers["Prefer"] = "return=minimal" end
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

request = function()
  counter = counter + 1
  local n = counter * 7919 + tid
  local body = string.format(
    '{"event_id":"%s-%d-%d","entity_type":"TICKET","entity_id":"%d-%d","change_type":"TICKET_CREATED",' ..
    '"entity":{"summary":"Printer on fire #%d","status":"New","board":"Help Desk","priority":2,' ..
    '"company":{"name":"Company %d","id":%d}}}',
    run, tid, counter, tid, counter, counter, n % 200, n % 200)
  return wrk.format("POST", "/public-api/callbacks", headers, body)
end
