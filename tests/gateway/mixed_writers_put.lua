-- wrk script for mixed_writers_test: every request a PUT of a new record
-- with an id of its own; every answer goes to this thread's file as
-- "<status> <id>" (the id from the answer's body, "-" when there is none),
-- so the test can check each acknowledged write afterwards.
-- Arguments (after --): the directory for the answer files.
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  n = 0
  out = io.open(args[1] .. "/wrk-answers-" .. tid .. ".txt", "w")
end

function request()
  n = n + 1
  local path = "/v1/collections/wrk/records/t" .. tid .. "-" .. n
  return wrk.format("PUT", path, {["Content-Type"] = "application/json"},
                    '{"thread":' .. tid .. ',"n":' .. n .. '}')
end

function response(status, headers, body)
  local id = body and body:match('"id":"([^"]+)"') or "-"
  out:write(status .. " " .. id .. "\n")
  out:flush()
end
