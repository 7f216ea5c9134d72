-- wrk script: GET /twins/{id} for random ids among the devices bench/bulk_load.c created.
-- Environment: BENCH_DEVICES (how many exist), BENCH_AUTH (the Authorization header value).
local n = tonumber(os.getenv("BENCH_DEVICES") or "1000")
local auth = os.getenv("BENCH_AUTH") or ""
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  local path = string.format("/twins/bench-%07d?api-version=2021-04-12", math.random(0, n - 1))
  return wrk.format("GET", path, { ["Authorization"] = auth, ["Host"] = "benchhub" })
end

-- One machine-readable line for bench/run.sh (wrk's own summary is printed above it).
function done(summary, latency, requests)
  local s = summary.errors
  io.write(string.format("wrk_result rps=%.0f requests=%d p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, s.status,
    s.connect + s.read + s.write + s.timeout))
end
