-- wrk script: POST the body in $WRK_BODY with the headers in $WRK_HEADERS ("Name: value" lines);
-- at the end, write requests, errors (non-2xx answers included) and latency percentiles to $WRK_REPORT.
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

function done(summary, latency, requests)
  local path = os.getenv("WRK_REPORT")
  if not path then return end
  local out = assert(io.open(path, "w"))
  local e = summary.errors
  out:write("requests ", summary.requests, "\n")
  out:write("errors ", e.connect + e.read + e.write + e.status + e.timeout, "\n")
  for _, q in ipairs({50, 95, 99}) do
    out:write("p", q, "_us ", latency:percentile(q), "\n")
  end
  out:close()
end
