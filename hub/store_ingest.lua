-- store_ingest.lua: applies one batch of per-subject changes, atomically.
--
-- The hub evaluates a subject's events against the subject's engine state
-- (read earlier, cached) and sends the new state with the alert changes it
-- decided.  Each group applies only if the state is still the version the hub
-- read (compare-and-set), so two hub instances can never both open the same
-- alert: the loser gets the current state back and evaluates again.
--
-- ARGV: prefix, now_ms, now_iso, actor, ngroups, then per group:
--   sid, expect ('*': any version), state ('': leave), deadline ('': leave,
--   '0': no timer, else the absolute ms of the subject's next timer),
--   nevents, then per event: device, dedup_id, dedup_ttl_ms, ts_ms, health ('' or "battery:87",
--     "online:1": kept in P{sid}:devhealth for the console)
--   nactions, then per action: kind, key, doc, jobs, text, outcome, severity, event_json,
--     alert_id (a person's ack/resolve/escalate/note: only that alert, if it is still the open one), by,
--     esc_policy, esc_at (opened: the policy and when its next step is due; '' for none),
--     renotify (opened/repeat of a rule that re-notifies: alerts.h ch_alert_renotify; '' for none)
--   a person's answer carries in doc (unused otherwise) what they sent besides the line of text:
--   {"note", "via", "account", "role"}: the note is kept on the alert exactly as written, and an
--   account (the API's signed-in operator) is kept with who acted and written to the audit stream.
-- Every alert change is also appended to the capped stream Pchanges ({alert, kind, doc}), in the
-- same script, so the live stream (GET /v1/stream) misses nothing and survives a restart.
-- Returns {njobs, records...}: per group either
--   'V', sid, version          applied
--   'C', sid, version, state   not applied: the state moved on
--   'D', sid, 'i,j'            not applied: events i, j were seen before
-- and per alert change 'T', kind, sid, alert id, document.
local P, now, now_iso, actor = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local ng = tonumber(ARGV[5])
local i = 6
local njobs = 0
local res = {0}

local function put(...)
  for _, v in ipairs({...}) do res[#res + 1] = v end
end

-- The live stream's entry for a change (capped: GET /v1/stream says "reset" to a client further behind).
local function changed(aid, kind, enc)
  redis.call('XADD', P .. 'changes', 'MAXLEN', '~', 10000, '*', 'alert', aid, 'kind', kind, 'doc', enc)
end

-- What an operator signed in to the API did, for GET /v1/audit.
local function audit(info, action, target, detail)
  if info and info.account then
    redis.call('XADD', P .. 'audit', 'MAXLEN', '~', 100000, '*', 'ts_ms', now, 'actor', info.account,
      'role', info.role or '', 'action', action, 'target', target, 'detail', detail or '')
  end
end

-- A timeline entry with who acted and what they wrote.
local function person(tl, info)
  if info then
    if info.note then tl.note = info.note end
    if info.account then tl.actor = info.account; tl.actor_role = info.role end
    if info.via then tl.via = info.via end
    if info.dispatch then tl.dispatch = info.dispatch end -- the notification a provider's callback answers
  end
  return tl
end

local function record(kind, sid, aid, akey, doc, text, ev, outcome, by, info)
  local enc = cjson.encode(doc)
  redis.call('SET', akey, enc)
  local tl = {ts = now_iso, ts_ms = now, what = kind, by = by or actor, count = doc.count, text = text}
  if ev then tl.event = ev.id end
  if outcome and outcome ~= '' then tl.outcome = outcome end
  redis.call('RPUSH', akey .. ':tl', cjson.encode(person(tl, info)))
  changed(aid, kind, enc)
  put('T', kind, sid, aid, enc)
end

-- "90 s", "30 s", "1 h" for a timeline line.
local function secs(ms)
  local s = math.floor(ms / 1000)
  if s >= 3600 and s % 3600 == 0 then return (s / 3600) .. ' h' end
  if s >= 60 and s % 60 == 0 then return (s / 60) .. ' min' end
  return s .. ' s'
end

local function due(rn, g)
  local n = #rn.steps
  return math.floor(g / n) * rn.cycle + rn.steps[g % n + 1].after
end

-- An acknowledged alert opens again: its escalation goes on from step cur, the
-- schedule counting from now as if step cur were due now (ingest.c reads
-- escalation_base_ms); the acknowledgement stays on the timeline.
local function reopen(S, aid, doc, rn, cur, g)
  local ekey = S .. 'esc:' .. string.match(aid, ':(%d+)$')
  local was = 'acknowledged by ' .. (doc.acknowledged_by or '?')
  local following = 'no step after it'
  doc.state = 'open'
  doc.reopened_at = now_iso
  doc.reopened_at_ms = now
  doc.acknowledged_at, doc.acknowledged_at_ms, doc.acknowledged_by = nil, nil, nil
  doc.escalation_base_ms = now - due(rn, cur)
  if g and g < rn.total and redis.call('EXISTS', ekey) == 1 then
    local at = doc.escalation_base_ms + due(rn, g)
    redis.call('HSET', ekey, 'at', at)
    redis.call('ZADD', P .. 'escalations', at, aid)
    following = 'step ' .. g .. ' in ' .. secs(at - now)
  end
  return {ts = now_iso, ts_ms = now, what = 'reopened', by = actor, step = cur,
    text = 're-opened (it was ' .. was .. '): the escalation goes on from step ' .. cur .. ', ' .. following}
end

-- A new occurrence of an open or acknowledged alert's event (a second SOS
-- press, the smoke alarm again): the contacts of the step the escalation is at
-- and the centre are told again at once, at most once per rn.every while the
-- alert is open (a bouncing button, a bridge resending); an acknowledged alert
-- opens again.  Keys <alert>:<tag>:<cid>:<channel>: the tag comes from the
-- event, so a replay never tells anyone twice.  Returns a note for the
-- 'repeat' line and the timeline entries that follow it.
local function renotify(S, aid, akey, doc, rnj)
  if rnj == '' or (doc.state ~= 'open' and doc.state ~= 'acknowledged') then return '', {} end
  local rn = cjson.decode(rnj)
  if #rn.steps == 0 or rn.total < 1 then return '', {} end
  local last = doc.renotified_at_ms or doc.opened_at_ms or 0
  if doc.state == 'open' and now - last < rn.every then
    return '; not told again: told ' .. secs(now - last) .. ' ago, at most once every ' .. secs(rn.every) ..
      ' (renotify)', {}
  end
  -- The step the escalation is at: the one before its next, else (none left) its last.
  local g = tonumber(redis.call('HGET', S .. 'esc:' .. string.match(aid, ':(%d+)$'), 'g') or '')
  local cur = g and g - 1 or rn.total - 1
  if cur < 0 then cur = 0 end
  local told, held, roles, seen = 0, 0, {}, {}
  for _, job in ipairs(rn.steps[cur % #rn.steps + 1].jobs) do
    job.alert = aid
    job.step = cur
    job.key = aid .. ':' .. rn.tag .. ':' .. job.cid .. ':' .. job.channel
    if job.hold_until then
      redis.call('ZADD', P .. 'held', job.hold_until, cjson.encode(job))
      held = held + 1
    else
      redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
      redis.call('HSET', akey .. ':told', job.cid .. '|' .. job.channel, cjson.encode(job))
      njobs = njobs + 1
      told = told + 1
    end
    local role = job.contact and job.contact.role or '?'
    if not seen[role] then
      seen[role] = true
      roles[#roles + 1] = role
    end
  end
  doc.renotified_at = now_iso
  doc.renotified_at_ms = now
  local lines = {}
  if doc.state == 'acknowledged' then lines[1] = reopen(S, aid, doc, rn, cur, g) end
  local who = #roles > 0 and table.concat(roles, ', ') or 'nobody (no contacts for this step)'
  lines[#lines + 1] = {ts = now_iso, ts_ms = now, what = 'renotified', by = actor, step = cur, jobs = told,
    text = 'told again at once: step ' .. cur .. ', ' .. who .. ' (' .. told .. ' notifications' ..
      (held > 0 and (', ' .. held .. ' held for quiet hours') or '') .. ')'}
  return '', lines
end

local function again_text(doc, ev, text)
  if ev and ev.type == 'sos' then
    return 'pressed again, ' .. doc.count .. ' presses in all: ' .. text
  end
  return 'again, ' .. doc.count .. ' times in all: ' .. text
end

for _ = 1, ng do
  local sid, expect, state, deadline = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local nev = tonumber(ARGV[i + 4])
  local evb = i + 5
  local nact = tonumber(ARGV[evb + 5 * nev])
  local actb = evb + 5 * nev + 1
  i = actb + 13 * nact
  local S = P .. '{' .. sid .. '}:'
  local cur = redis.call('HGET', S .. 'eng', 'v') or '0'
  local ok = true
  if expect ~= '*' and cur ~= expect then
    put('C', sid, cur, redis.call('HGET', S .. 'eng', 's') or '')
    ok = false
  end
  if ok then
    -- Claim each event id (SET NX); if one was seen before, give back the
    -- claims of this group and report: the hub evaluates again without it.
    local dups, claimed = {}, {}
    for e = 0, nev - 1 do
      local b = evb + 5 * e
      if ARGV[b + 1] ~= '' then
        local k = S .. 'dedup:' .. ARGV[b] .. '|' .. ARGV[b + 1]
        if redis.call('SET', k, '1', 'NX', 'PX', ARGV[b + 2]) then
          claimed[#claimed + 1] = k
        else
          dups[#dups + 1] = tostring(e)
        end
      end
    end
    if #dups > 0 then
      if #claimed > 0 then redis.call('DEL', unpack(claimed)) end
      put('D', sid, table.concat(dups, ','))
      ok = false
    end
  end
  if ok then
    for e = 0, nev - 1 do
      local b = evb + 5 * e
      local what, val = string.match(ARGV[b + 4], '^(%a+):(%d+)$')
      if what then redis.call('HSET', S .. 'devhealth', ARGV[b] .. '|' .. what, val .. '|' .. ARGV[b + 3]) end
    end
  end
  if ok then
    for a = 0, nact - 1 do
      local b = actb + 13 * a
      local kind, key, tmpl, jobs = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
      local text, outcome, sev, evj = ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
      local want, by = ARGV[b + 8], ARGV[b + 9]
      local escpol, escat, rnj = ARGV[b + 10], ARGV[b + 11], ARGV[b + 12]
      if by == '' then by = actor end
      local info = nil
      if want ~= '' and kind ~= 'silenced' then info = cjson.decode(tmpl) end
      local ev = nil
      if evj ~= '' then ev = cjson.decode(evj) end
      if kind == 'silenced' then
        local sil = cjson.decode(tmpl)
        if tonumber(sil.until_ms) > now then
          redis.call('HSET', S .. 'silences', key, tmpl)
        else
          redis.call('HDEL', S .. 'silences', key) -- lifted
        end
        audit(sil, tonumber(sil.until_ms) > now and 'silence' or 'lift_silence', sid .. '~' .. key, sil.reason)
      end
      local openkey = S .. 'open:' .. key
      local aid = redis.call('GET', openkey)
      local akey, doc
      if aid and want ~= '' and aid ~= want then
        aid = nil -- a person answered an alert that is no longer the open one: nothing to do
        audit(info, kind, want, 'not applied: the alert is no longer open')
        kind = 'stale'
      end
      if aid then
        akey = S .. 'alert:' .. string.match(aid, ':(%d+)$')
        doc = cjson.decode(redis.call('GET', akey))
        doc.updated_at = now_iso
        doc.updated_at_ms = now
      end
      if kind == 'silenced' then
        -- recorded above; the engine state holds the silence itself
      elseif (kind == 'opened' or kind == 'repeat') and doc then
        doc.count = doc.count + 1
        if ev then doc.last_event = ev end
        local note, lines = renotify(S, aid, akey, doc, rnj)
        record('repeat', sid, aid, akey, doc, again_text(doc, ev, text) .. note, ev)
        for _, l in ipairs(lines) do redis.call('RPUSH', akey .. ':tl', cjson.encode(l)) end
      elseif kind == 'opened' or kind == 'repeat' then
        local n = redis.call('INCR', S .. 'seq')
        aid = sid .. ':' .. n
        akey = S .. 'alert:' .. n
        doc = cjson.decode(tmpl)
        doc.id = aid
        doc.key = key
        doc.state = 'open'
        doc.count = 1
        doc.opened_at = now_iso
        doc.opened_at_ms = now
        doc.updated_at = now_iso
        doc.updated_at_ms = now
        if ev then doc.last_event = ev end
        redis.call('SET', openkey, aid)
        redis.call('ZADD', P .. 'alerts:open', now, aid)
        if escat ~= '' then
          redis.call('HSET', S .. 'esc:' .. n, 'pol', escpol, 'g', 1, 'at', escat)
          redis.call('ZADD', P .. 'escalations', escat, aid)
        end
        for _, job in ipairs(cjson.decode(jobs)) do
          job.alert = aid
          job.key = aid .. ':' .. job.step .. ':' .. job.cid .. ':' .. job.channel
          if job.hold_until then
            -- quiet hours: kept aside until they end (store_escalate.lua 'held')
            redis.call('ZADD', P .. 'held', job.hold_until, cjson.encode(job))
          else
            redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
            redis.call('HSET', akey .. ':told', job.cid .. '|' .. job.channel, cjson.encode(job))
            njobs = njobs + 1
          end
        end
        record('opened', sid, aid, akey, doc, text, ev)
      elseif kind == 'resolved' and doc then
        doc.state = 'resolved'
        doc.outcome = outcome
        doc.resolved_at = now_iso
        doc.resolved_at_ms = now
        doc.resolved_by = by
        if info then
          -- exactly what the person chose and wrote; the all clear quotes it
          if info.note then doc.note = info.note; doc.resolve_note = info.note end
          if info.account then doc.resolved_role = info.role end
          audit(info, 'resolve', aid, outcome .. (info.note and (': ' .. info.note) or ''))
        end
        redis.call('DEL', openkey)
        redis.call('ZREM', P .. 'alerts:open', aid)
        -- the console's "recently resolved" (GET /v1/alerts?state=resolved), the newest 1000
        redis.call('ZADD', P .. 'alerts:recent', now, aid)
        redis.call('ZREMRANGEBYRANK', P .. 'alerts:recent', 0, -1001)
        redis.call('DEL', S .. 'esc:' .. string.match(aid, ':(%d+)$'))
        redis.call('ZREM', P .. 'escalations', aid)
        record('resolved', sid, aid, akey, doc, text, ev, outcome, by, info)
        -- "All clear" to everyone already told, once per contact and channel.
        for _, told in ipairs(redis.call('HVALS', akey .. ':told')) do
          local job = cjson.decode(told)
          job.step = -1
          job.all_clear = true
          job.hold_until = nil
          job.key = aid .. ':clear:' .. job.cid .. ':' .. job.channel
          redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
          njobs = njobs + 1
        end
        redis.call('DEL', akey .. ':told')
      elseif kind == 'acknowledged' and doc and doc.state == 'open' then
        doc.state = 'acknowledged'
        doc.acknowledged_at = now_iso
        doc.acknowledged_at_ms = now
        doc.acknowledged_by = by
        if info then
          if info.note then doc.note = info.note; doc.ack_note = info.note end
          if info.account then doc.acknowledged_role = info.role end
          audit(info, 'ack', aid, info.note)
        end
        -- Paused, not ended: a new press re-opens the alert and the escalation
        -- goes on from the step it was at (renotify); a resolve ends it.
        redis.call('ZREM', P .. 'escalations', aid)
        record('acknowledged', sid, aid, akey, doc, text, ev, nil, by, info)
      elseif kind == 'escalate' and doc then
        -- "I need help" from a call: the next step is due now, if any is left.
        local ekey = S .. 'esc:' .. string.match(aid, ':(%d+)$')
        if doc.state == 'open' and redis.call('EXISTS', ekey) == 1 then
          redis.call('HSET', ekey, 'at', now)
          redis.call('ZADD', P .. 'escalations', now, aid)
        else
          text = text .. ' (no further step to bring forward)'
        end
        redis.call('RPUSH', akey .. ':tl', cjson.encode(person({ts = now_iso, ts_ms = now,
          what = (info and info.account) and 'escalated_now' or 'needs_help', by = by, text = text}, info)))
        audit(info, 'escalate', aid, info and info.note)
        changed(aid, 'escalate', cjson.encode(doc))
      elseif kind == 'note' and doc then
        redis.call('RPUSH', akey .. ':tl', cjson.encode(person({ts = now_iso, ts_ms = now,
          what = (info and info.account) and 'note' or 'callback', by = by, text = text}, info)))
        if info and info.account then
          doc.note = info.note
          redis.call('SET', akey, cjson.encode(doc))
        end
        audit(info, 'note', aid, info and info.note)
        changed(aid, 'note', cjson.encode(doc))
        -- Not delivered: the fallback the hub worked out, once (a repeated receipt finds it told);
        -- not once someone has taken the alert.
        if doc.state == 'open' and jobs ~= '' and jobs ~= '[]' then
          for _, job in ipairs(cjson.decode(jobs)) do
            if redis.call('HSETNX', akey .. ':told', job.cid .. '|' .. job.channel, cjson.encode(job)) == 1 then
              redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
              njobs = njobs + 1
            end
          end
        end
      elseif kind == 'raised' and doc then
        doc.severity = sev
        record('raised', sid, aid, akey, doc, text, ev)
      end
    end
    local v = cur
    if state ~= '' then
      v = tostring(tonumber(cur) + 1)
      redis.call('HSET', S .. 'eng', 'v', v, 's', state)
    end
    if deadline == '0' then
      redis.call('ZREM', P .. 'timers', sid)
    elseif deadline ~= '' then
      redis.call('ZADD', P .. 'timers', deadline, sid)
    end
    put('V', sid, v)
  end
end
res[1] = njobs
return res
