-- wrk script: every request POSTs a new task to /api/tasks, due far ahead so that nothing
-- runs. Ids are unique per wrk invocation (a prefix given after "--"), per thread and per
-- request: "<prefix>-<thread>-<counter>".
--   wrk -t1 -c32 -d5s -s bench/submit.lua http://127.0.0.1:PORT -- PREFIX

local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

local prefix = "wrk"
local counter = 0

function init(args)
  if args[1] ~= nil then prefix = args[1] end
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local id = prefix .. "-" .. thread_number .. "-" .. counter
  local body = '{"id":"' .. id .. '","type":"delay","time":"1000h","script":"echo never"}'
  return wrk.format("POST", "/api/tasks", headers, body)
end
