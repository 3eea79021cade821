-- ingest.lua: applies one batch of events atomically.
-- ARGV: prefix, now_ms, now_iso, actor, nevents, then per event:
--   sid, device, dedup_id, dedup_ttl_ms, ts_ms, event_json, nmatches,
--   then per match: rule, alert_doc_template, jobs_json, timeline_text
-- Returns {duplicates, njobs, kind1, sid1, id1, doc1, kind2, ...}
local P, now, now_iso, actor = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local nev = tonumber(ARGV[5])
local i = 6
local dups, njobs = 0, 0
local out = {}
for _ = 1, nev do
  local sid, dev, did, ttl, ts, ev = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], tonumber(ARGV[i+4]), ARGV[i+5]
  local nm = tonumber(ARGV[i+6])
  i = i + 7
  local S = P .. '{' .. sid .. '}:'
  local fresh = true
  if did ~= '' then
    fresh = redis.call('SET', S .. 'dedup:' .. dev .. '|' .. did, '1', 'NX', 'PX', ttl)
  end
  if not fresh then
    dups = dups + 1
    i = i + 4 * nm
  else
    local last = tonumber(redis.call('HGET', S .. 'devices', dev) or '0')
    if ts > last then redis.call('HSET', S .. 'devices', dev, ts) end
    for _ = 1, nm do
      local rule, tmpl, jobs, what = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
      i = i + 4
      local openkey = S .. 'open:' .. rule
      local aid = redis.call('GET', openkey)
      local doc, kind, akey
      if aid then
        local n = string.match(aid, ':(%d+)$')
        akey = S .. 'alert:' .. n
        doc = cjson.decode(redis.call('GET', akey))
        doc.count = doc.count + 1
        doc.updated_at = now_iso
        doc.updated_at_ms = now
        doc.last_event = cjson.decode(ev)
        kind = 'repeat'
      else
        local n = redis.call('INCR', S .. 'seq')
        aid = sid .. ':' .. n
        akey = S .. 'alert:' .. n
        doc = cjson.decode(tmpl)
        doc.id = aid
        doc.state = 'open'
        doc.count = 1
        doc.opened_at = now_iso
        doc.opened_at_ms = now
        doc.updated_at = now_iso
        doc.updated_at_ms = now
        doc.last_event = cjson.decode(ev)
        redis.call('SET', openkey, aid)
        redis.call('ZADD', P .. 'alerts:open', now, aid)
        kind = 'opened'
        for _, job in ipairs(cjson.decode(jobs)) do
          job.alert = aid
          job.key = aid .. ':' .. job.step .. ':' .. job.cid .. ':' .. job.channel
          redis.call('XADD', P .. 'outbox', '*', 'job', cjson.encode(job))
          njobs = njobs + 1
        end
      end
      local enc = cjson.encode(doc)
      redis.call('SET', akey, enc)
      redis.call('RPUSH', akey .. ':tl', cjson.encode({ts = now_iso, ts_ms = now, what = kind,
        by = actor, count = doc.count, text = what, event = cjson.decode(ev).id}))
      out[#out + 1] = kind
      out[#out + 1] = sid
      out[#out + 1] = aid
      out[#out + 1] = enc
    end
  end
end
local res = {dups, njobs}
for _, v in ipairs(out) do res[#res + 1] = v end
return res
