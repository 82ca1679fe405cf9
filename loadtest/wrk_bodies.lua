-- wrk script: POST bodies read from files, rotated; a JSON summary printed at the end.
--
--   wrk -t1 -c32 -d10s -s loadtest/wrk_bodies.lua http://127.0.0.1:8000/predict -- MANIFEST
--
-- MANIFEST lists one body a line: the body's file, then optional tab-separated
-- "Header: value" fields (Content-Type defaults to application/json). Every
-- request is built once in init(); request() only picks the next one.
-- response() counts the answers by HTTP status (wrk then hands every
-- answer's headers and body to Lua: a few microseconds each).
-- done() prints one line "CTRKIT_WRK {json}" with those counts, wrk's error
-- counters and latency percentiles in microseconds.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local function split(text, separator)
   local fields = {}
   for field in string.gmatch(text, "([^" .. separator .. "]+)") do
      table.insert(fields, field)
   end
   return fields
end

function init(args)
   prepared = {}
   for line in io.lines(args[1]) do
      if line ~= "" then
         local fields = split(line, "\t")
         local file = assert(io.open(fields[1], "rb"))
         local body = file:read("*a")
         file:close()
         local headers = {}
         for name, value in pairs(wrk.headers) do
            headers[name] = value
         end
         headers["Content-Type"] = "application/json"
         for i = 2, #fields do
            local name, value = string.match(fields[i], "^([^:]+):%s*(.*)$")
            headers[name] = value
         end
         table.insert(prepared, wrk.format("POST", nil, headers, body))
      end
   end
   assert(#prepared > 0, "the manifest lists no body")
   next_index = 0
   statuses = {}
end

function request()
   next_index = next_index % #prepared + 1
   return prepared[next_index]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(counts) do
      table.insert(parts, string.format('"%d":%d', status, n))
   end
   local percentiles = {}
   for _, p in ipairs({50, 75, 90, 99, 99.9}) do
      table.insert(percentiles, string.format('"%g":%d', p, latency:percentile(p)))
   end
   local min, mean, max = 0, 0, 0
   if summary.requests > 0 then
      min, mean, max = latency.min, latency.mean, latency.max
   end
   local e = summary.errors
   io.write(string.format(
      'CTRKIT_WRK {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"percentiles":{%s}},"statuses":%s}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      min, mean, max, table.concat(percentiles, ","), "{" .. table.concat(parts, ",") .. "}"))
end
