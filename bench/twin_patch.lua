-- wrk script: PATCH /twins/{id} with {"properties":{"desired":{"x":n}}} on random ids (no If-Match:
-- unconditional, like the SDK's updateTwin with etag "*").
-- Environment: BENCH_DEVICES, BENCH_AUTH, as for twin_get.lua.
local n = tonumber(os.getenv("BENCH_DEVICES") or "1000")
local auth = os.getenv("BENCH_AUTH") or ""
local threads = 0
local counter = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + 1)
end

function request()
  counter = counter + 1
  local path = string.format("/twins/bench-%07d?api-version=2021-04-12", math.random(0, n - 1))
  local body = string.format('{"properties":{"desired":{"x":%d}}}', counter)
  return wrk.format("PATCH", path, { ["Authorization"] = auth, ["Host"] = "benchhub",
    ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local s = summary.errors
  io.write(string.format("wrk_result rps=%.0f requests=%d p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, s.status,
    s.connect + s.read + s.write + s.timeout))
end
