-- store_care.lua: what proactive care keeps in Redis (store_care.h).
--
-- Check-in calls.  P{sid}:checkin is a hash of one subject's schedule state
-- (checkin.h: slot, due, phase, tries, next, missed, last, last_slot, last_ms,
-- reason, conf); the sorted set Pcheckins holds sid -> when something is due
-- (an absolute deadline, like the rule timers).  The hub claims due subjects,
-- decides in C, and writes back only if the state is still what it read
-- (compare-and-set on slot, phase and tries), so two hubs or a restart never
-- act on one moment twice.  Queueing a call also sets P{sid}:checkin:<slot>
-- (":retry" for the second call) with SET NX: a slot's call is queued once,
-- whatever happens to the hash.
--
-- Daily aggregates.  One string P{sid}:trend: the live record (trends.h, its
-- first 64 bytes), then the finished days, 24 bytes each at 64 + (day mod
-- 56) * 24: one key, 1,408 bytes, for 8 weeks.  The live record is written
-- only if it is still the one the hub read (compare-and-set on its bytes); a
-- finished day is written to its slot, which is the same whoever writes it.
--
-- ARGV[1] = 'claim': P, now_ms, lease_ms, max
--   -> {sid, {hash as a flat list}, engine state or '', trend live or '', ...}
--      (live: the first 64 bytes of P{sid}:trend)
--      for subjects due at now, each pushed lease_ms ahead.
-- ARGV[1] = 'put': P, sid, expect_slot ('' for none), expect_phase, expect_tries,
--   remove ('1': the subject has no check-ins any more), next_ms ('0': no timer),
--   nfields, then field/value pairs, job ('' none), guard (key suffix, '' none), guard_ttl_s
--   -> {1, queued} applied (queued 1 when the job went to the outbox, 0 when
--      the guard says it went before), or {0} when the state moved on.
-- ARGV[1] = 'get': P, sid -> {{hash as a flat list}, open check_in_missed alert id or ''}
-- ARGV[1] = 'arm': P, now_ms, sid... -> number armed: each subject with check-ins
--   is due now (a new block: its first slot; a changed one: the next slot of the
--   new schedule, not the old one's; an unchanged one: the same state written back)
-- ARGV[1] = 'trend_get': P, sid... -> {live or '', ...}
-- ARGV[1] = 'trend_put': P, ttl_s, n, then per subject: sid, old live ('' none),
--   new live, nday, then nday pairs offset (from the end of the live record), 24 bytes
--   -> per subject '' (applied) or the current live record (not applied)
-- ARGV[1] = 'trend_read': P, sid -> the whole P{sid}:trend, or 
-- ARGV[1] = 'once': P, key, ttl_s -> 1 the first time the key is claimed, else 0
-- ARGV[1] = 'job': P, guard, ttl_s, job -> 1 and the job in the outbox the first time
--   the guard is claimed, else 0 (the weekly digest's tasks)
local mode, P = ARGV[1], ARGV[2]
local LIVE = 64 -- CH_TREND_LIVE_BYTES

local function S(sid)
  return P .. '{' .. sid .. '}:'
end

if mode == 'claim' then
  local now, lease, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local due = redis.call('ZRANGEBYSCORE', P .. 'checkins', '-inf', now, 'LIMIT', 0, max)
  local out = {}
  for _, sid in ipairs(due) do
    redis.call('ZADD', P .. 'checkins', now + lease, sid)
    out[#out + 1] = sid
    out[#out + 1] = redis.call('HGETALL', S(sid) .. 'checkin')
    out[#out + 1] = redis.call('HGET', S(sid) .. 'eng', 's') or ''
    out[#out + 1] = redis.call('GETRANGE', S(sid) .. 'trend', 0, LIVE - 1)
  end
  return out
elseif mode == 'put' then
  local sid, eslot, ephase, etries = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local remove, next_at, nf = ARGV[7], ARGV[8], tonumber(ARGV[9])
  local K = S(sid) .. 'checkin'
  local cur = redis.call('HMGET', K, 'slot', 'phase', 'tries')
  if (cur[1] or '') ~= eslot or (cur[1] and ((cur[2] or '') ~= ephase or (cur[3] or '') ~= etries)) then
    return {0}
  end
  if remove == '1' then
    redis.call('DEL', K)
    redis.call('ZREM', P .. 'checkins', sid)
    return {1, 0}
  end
  local i = 10
  local fields = {}
  for _ = 1, nf do
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    i = i + 2
  end
  local job, guard, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local queued = 0
  if job ~= '' then
    if redis.call('SET', S(sid) .. 'checkin:' .. guard, '1', 'NX', 'EX', ttl) then
      redis.call('XADD', P .. 'outbox', '*', 'job', job)
      queued = 1
    end
  end
  if #fields > 0 then
    redis.call('HSET', K, unpack(fields))
  end
  if next_at == '0' then
    redis.call('ZREM', P .. 'checkins', sid)
  else
    redis.call('ZADD', P .. 'checkins', next_at, sid)
  end
  return {1, queued}
elseif mode == 'get' then
  local sid = ARGV[3]
  return {redis.call('HGETALL', S(sid) .. 'checkin'), redis.call('GET', S(sid) .. 'open:check_in_missed') or ''}
elseif mode == 'arm' then
  local now, n = ARGV[3], 0
  for i = 4, #ARGV do
    n = n + redis.call('ZADD', P .. 'checkins', 'LT', 'CH', now, ARGV[i])
  end
  return n
elseif mode == 'trend_get' then
  local out = {}
  for i = 3, #ARGV do
    out[#out + 1] = redis.call('GETRANGE', S(ARGV[i]) .. 'trend', 0, LIVE - 1)
  end
  return out
elseif mode == 'trend_put' then
  local ttl, n = ARGV[3], tonumber(ARGV[4])
  local i, out = 5, {}
  for _ = 1, n do
    local sid, old, new, nday = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
    local K = S(sid) .. 'trend'
    local cur = redis.call('GETRANGE', K, 0, LIVE - 1)
    i = i + 4
    if cur ~= old then
      out[#out + 1] = cur
      i = i + 2 * nday
    else
      redis.call('SETRANGE', K, 0, new)
      for _ = 1, nday do
        redis.call('SETRANGE', K, LIVE + tonumber(ARGV[i]), ARGV[i + 1])
        i = i + 2
      end
      redis.call('EXPIRE', K, ttl)
      out[#out + 1] = ''
    end
  end
  return out
elseif mode == 'trend_read' then
  return redis.call('GET', S(ARGV[3]) .. 'trend') or ''
elseif mode == 'once' then
  if redis.call('SET', P .. ARGV[3], '1', 'NX', 'EX', ARGV[4]) then return 1 end
  return 0
elseif mode == 'job' then
  if redis.call('SET', P .. ARGV[3], '1', 'NX', 'EX', ARGV[4]) then
    redis.call('XADD', P .. 'outbox', '*', 'job', ARGV[5])
    return 1
  end
  return 0
end
return redis.error_reply('store_care.lua: unknown mode ' .. tostring(mode))
