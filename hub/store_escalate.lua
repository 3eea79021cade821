-- store_escalate.lua: the escalation steps that come after an alert opened.
--
-- An open alert with steps still to come has P{sid}:esc:<n> = {pol, g, at}
-- (policy, the global index of the next step counting repeats, when it is
-- due) and an entry alert id -> at in the sorted set Pescalations.  The
-- ingest script writes both when it opens the alert and deletes both when the
-- alert is resolved: that is what stops an escalation.  An acknowledgement
-- only takes the entry out of Pescalations (paused): a new press re-opens the
-- alert and puts it back, going on from the step it was at.  A step applies
-- only while the alert is open.
--
-- Each step and release is also appended to the live feed (Pchanges, see store_ingest.lua).
--
-- ARGV[1] = 'claim': prefix, now_ms, lease_ms, max
--   returns {aid, pol, g, doc, ...} for due steps, each pushed lease_ms ahead
--   (if this hub dies the step comes due again; the step's idempotency keys
--   keep a provider from calling twice).
-- ARGV[1] = 'step': prefix, now_ms, now_iso, actor, aid, expect_g, next_g,
--   next_at ('' when this was the last step), jobs_json, text
--   applies one step if the escalation is still at expect_g (so two hubs, or a
--   restart, never send a step twice): queues its jobs, notes it on the
--   timeline and moves on; returns the number of jobs queued, or -1 when the
--   step was already taken or the escalation has stopped.
-- ARGV[1] = 'stop': prefix, aid   (the alert is no longer open; an acknowledged
--   one keeps its place for a re-opening)
-- ARGV[1] = 'rate': prefix, channel, number_id, now_ms, n, then n pairs max, window_ms
--   takes one send from each fixed window (aligned to the epoch) of the
--   contact's number on the channel if every window has room; else takes
--   nothing and returns how long until the fullest window rolls over (ms).
-- ARGV[1] = 'held': prefix, now_ms, now_iso, actor, max
--   releases jobs held for quiet hours that have ended: queued if their alert
--   is still open (acknowledged counts as answered), dropped otherwise, each
--   noted on the alert's timeline; returns the number queued.
local mode, P = ARGV[1], ARGV[2]

local function keys(aid)
  local sid, n = string.match(aid, '^(.*):(%d+)$')
  local S = P .. '{' .. sid .. '}:'
  return S .. 'esc:' .. n, S .. 'alert:' .. n
end

if mode == 'claim' then
  local now, lease, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local out = {}
  for _, aid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'escalations', '-inf', now, 'LIMIT', 0, max)) do
    redis.call('ZADD', P .. 'escalations', now + lease, aid)
    local ekey, akey = keys(aid)
    local e = redis.call('HMGET', ekey, 'pol', 'g')
    out[#out + 1] = aid
    out[#out + 1] = e[1] or ''
    out[#out + 1] = e[2] or ''
    out[#out + 1] = redis.call('GET', akey) or ''
  end
  return out
elseif mode == 'step' then
  local now, now_iso, actor, aid = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
  local expect, nextg, nextat, jobs, text = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
  local ekey, akey = keys(aid)
  if redis.call('HGET', ekey, 'g') ~= expect then return -1 end
  local doc = redis.call('GET', akey)
  if not doc or cjson.decode(doc).state ~= 'open' then return -1 end -- acknowledged meanwhile: paused
  local njobs = 0
  for _, job in ipairs(cjson.decode(jobs)) do
    job.alert = aid
    job.key = aid .. ':' .. job.step .. ':' .. job.cid .. ':' .. job.channel
    if job.hold_until then
      redis.call('ZADD', P .. 'held', job.hold_until, cjson.encode(job))
    else
      redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
      redis.call('HSET', akey .. ':told', job.cid .. '|' .. job.channel, cjson.encode(job))
      njobs = njobs + 1
    end
  end
  redis.call('RPUSH', akey .. ':tl', cjson.encode({ts = now_iso, ts_ms = now, what = 'escalated', by = actor,
    step = tonumber(expect), text = text, jobs = njobs}))
  redis.call('XADD', P .. 'changes', 'MAXLEN', '~', 10000, '*', 'alert', aid, 'kind', 'escalated', 'doc',
    redis.call('GET', akey) or '')
  if nextat == '' then
    redis.call('DEL', ekey)
    redis.call('ZREM', P .. 'escalations', aid)
  else
    redis.call('HSET', ekey, 'g', nextg, 'at', nextat)
    redis.call('ZADD', P .. 'escalations', nextat, aid)
  end
  return njobs
elseif mode == 'rate' then
  local ch, who, now, n = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
  local wait, keys_ = 0, {}
  for w = 0, n - 1 do
    local max, win = tonumber(ARGV[7 + 2 * w]), tonumber(ARGV[8 + 2 * w])
    local slot = math.floor(now / win)
    local k = P .. 'rate:' .. ch .. ':' .. who .. ':' .. win .. ':' .. slot
    if tonumber(redis.call('GET', k) or '0') >= max then
      local left = (slot + 1) * win - now
      if left > wait then wait = left end
    end
    keys_[#keys_ + 1] = {k, win}
  end
  if wait > 0 then return wait end
  for _, kw in ipairs(keys_) do
    redis.call('INCR', kw[1])
    redis.call('PEXPIRE', kw[1], kw[2])
  end
  return 0
elseif mode == 'held' then
  local now, now_iso, actor, max = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
  local queued = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'held', '-inf', now, 'LIMIT', 0, max)) do
    redis.call('ZREM', P .. 'held', member)
    local job = cjson.decode(member)
    local _, akey = keys(job.alert)
    local doc = redis.call('GET', akey)
    local open = doc and cjson.decode(doc).state == 'open'
    local who = (job.contact and job.contact.role or '?') .. ' on ' .. job.channel
    if open then
      job.hold_until = nil
      redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
      redis.call('HSET', akey .. ':told', job.cid .. '|' .. job.channel, cjson.encode(job))
      queued = queued + 1
    end
    redis.call('RPUSH', akey .. ':tl', cjson.encode({ts = now_iso, ts_ms = now, by = actor, step = job.step,
      what = open and 'released' or 'not_sent',
      text = (open and 'quiet hours over: ' or 'answered during quiet hours, not sent: ') .. who}))
    redis.call('XADD', P .. 'changes', 'MAXLEN', '~', 10000, '*', 'alert', job.alert, 'kind',
      open and 'released' or 'not_sent', 'doc', doc or '')
  end
  return queued
else
  local aid = ARGV[3]
  local ekey, akey = keys(aid)
  local doc = redis.call('GET', akey)
  if not (doc and cjson.decode(doc).state == 'acknowledged') then redis.call('DEL', ekey) end
  redis.call('ZREM', P .. 'escalations', aid)
  return 0
end
