-- wrk script of `make bench-cluster`: the staff mix, one request path after another from the
-- file FLOCK_MIX_FILE (one path a line; each thread starts at its own place in it), with the
-- counting and the JSON line of report.lua (answers other than 200 count as failures).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local report_setup, report_init = setup, init
local started = 0

function setup(thread)
  report_setup(thread)
  thread:set("offset", started)
  started = started + 1
end

function init(args)
  report_init(args)
  paths = {}
  for line in io.lines(os.getenv("FLOCK_MIX_FILE")) do
    paths[#paths + 1] = line
  end
  i = (offset * 7919) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
