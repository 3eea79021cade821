-- store_timers.lua: claims the subjects whose next timer is due.
--
-- Timers are one absolute deadline per subject in the sorted set Ptimers
-- (score = ms since the epoch).  A claim pushes each due entry lease_ms into
-- the future (so another instance does not take it meanwhile; if this hub
-- dies the entry comes due again after the lease) and returns the subject's
-- engine state with its version, all in one step.  The hub evaluates, and the
-- ingest script's compare-and-set both applies the result and writes the real
-- next deadline: a timer fires once even when two instances claim it.
--
-- ARGV: prefix, now_ms, lease_ms, max
-- Returns {sid1, version1, state1, sid2, ...}
local P, now, lease, max = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', P .. 'timers', '-inf', now, 'LIMIT', 0, max)
local out = {}
for _, sid in ipairs(due) do
  redis.call('ZADD', P .. 'timers', now + lease, sid)
  local S = P .. '{' .. sid .. '}:'
  local vs = redis.call('HMGET', S .. 'eng', 'v', 's')
  out[#out + 1] = sid
  out[#out + 1] = vs[1] or '0'
  out[#out + 1] = vs[2] or ''
end
return out
