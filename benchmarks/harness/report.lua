-- Summary as one JSON line, so the harness never scrapes wrk's human output.
-- Only done() is defined: request()/response() hooks would slow wrk down.
done = function(summary, latency, requests)
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 75, 90, 95, 99, 99.9, 99.99}) do
    pct[#pct + 1] = string.format('"%s": %d', p, latency:percentile(p))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"mean_us": %.1f, "max_us": %d, "percentiles_us": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, table.concat(pct, ", ")))
end
