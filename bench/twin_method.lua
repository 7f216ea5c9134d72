-- wrk script: POST /twins/{id}/methods (direct method "echo") for random ids among connected devices.
-- Environment: BENCH_AUTH (the Authorization header value); BENCH_METHOD_PREFIX, BENCH_METHOD_FIRST,
-- BENCH_METHOD_COUNT, BENCH_METHOD_DIGITS: ids are prefix .. zero-padded number, first .. first+count-1
-- (defaults: the simulator's sim-00001 .. sim-10000).
local auth = os.getenv("BENCH_AUTH") or ""
local prefix = os.getenv("BENCH_METHOD_PREFIX") or "sim-"
local first = tonumber(os.getenv("BENCH_METHOD_FIRST") or "1")
local count = tonumber(os.getenv("BENCH_METHOD_COUNT") or "10000")
local fmt = "/twins/" .. prefix .. "%0" .. (os.getenv("BENCH_METHOD_DIGITS") or "5") .. "d/methods?api-version=2021-04-12"
local threads = 0
local n = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function request()
  n = n + 1
  local body = string.format('{"methodName":"echo","payload":{"n":%d,"note":"bench"},"responseTimeoutInSeconds":5}', n)
  return wrk.format("POST", string.format(fmt, math.random(first, first + count - 1)),
    { ["Authorization"] = auth, ["Host"] = "benchhub", ["Content-Type"] = "application/json" }, body)
end

-- One machine-readable line for bench/devices.sh (wrk's own summary is printed above it).
function done(summary, latency, requests)
  local s = summary.errors
  io.write(string.format("wrk_result rps=%.0f requests=%d p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, s.status,
    s.connect + s.read + s.write + s.timeout))
end
