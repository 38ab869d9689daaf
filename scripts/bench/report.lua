-- wrk script of `make bench`: counts answers other than 200 (a 302 to the login page would
-- otherwise pass as a success) and prints one JSON line with the figures, latencies in ms.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not200 = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not200 = not200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("not200")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "rps": %.2f, "not200": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_ms": {"mean": %.3f, "p50": %.3f, "p75": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(75) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
