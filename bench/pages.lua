-- wrk script: reads a listing a page at a time, each request following the nextCursor of the
-- answer before it (one connection, so there is always one answer before the next request);
-- at the end of the listing it starts again from the first page. Figure 7b.
--   wrk -t1 -c1 -d3s --latency -s bench/pages.lua http://127.0.0.1:PORT -- "/api/tasks?limit=100"

local path = "/api/tasks?limit=100"
local cursor = nil
local pages = 0
local short = 0

function init(args)
  if args[1] ~= nil then path = args[1] end
end

function request()
  if cursor == nil then return wrk.format("GET", path) end
  return wrk.format("GET", path .. "&cursor=" .. cursor)
end

function response(status, headers, body)
  pages = pages + 1
  cursor = body:match('"nextCursor":"([^"]*)"')
  -- A page with fewer than 100 tasks before the end of the listing would read less than it should.
  local _, tasks = body:gsub('{"id":"', '')
  if cursor ~= nil and tasks ~= 100 then short = short + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("pages read: %d; pages short of 100 before the end: %d\n", pages, short))
end
