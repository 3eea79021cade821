// console_views.js - the alert card, the subject search and card, and silences.
// Runs in the same scope as console.js (see console.html).
//
// The card is built once when an alert is picked; after that every update only
// changes text or re-renders the lists that hold no input (reached, plan,
// devices, contacts), and the timeline only grows. The resolve form and the note
// keep what the operator chose and typed, mirrored to sessionStorage as drafts.

let drafts = {};
const draftKey = () => "carehub.drafts." + (S.me ? S.me.name : "");

function loadDrafts() {
  try { drafts = JSON.parse(sessionStorage.getItem(draftKey()) || "{}") || {}; } catch (_) { drafts = {}; }
}
function saveDrafts() {
  try { sessionStorage.setItem(draftKey(), JSON.stringify(drafts)); } catch (_) { /* full or off: memory still has it */ }
}
function clearDrafts() {
  try { sessionStorage.removeItem(draftKey()); } catch (_) { /* nothing to do */ }
  drafts = {};
}
const draft = (id) => drafts[id] || (drafts[id] = {});

function btn(cls, key, id) {
  const b = lbl("button", key, cls);
  b.type = "button";
  if (id) b.id = id;
  return b;
}

// A definition list whose rows are made once and then only change text.
function kv(dl, key, value, cls) {
  dl._rows = dl._rows || new Map();
  let r = dl._rows.get(key);
  if (!r) {
    r = {dt: lbl("dt", key), dd: el("dd", cls)};
    dl._rows.set(key, r);
    dl.append(r.dt, r.dd);
  }
  const empty = value === undefined || value === null || value === "";
  r.dt.hidden = r.dd.hidden = empty;
  if (empty) return;
  if (value instanceof Node) {
    const sig = value.textContent + "|" + (value.href || "");
    if (r.sig !== sig) { r.dd.replaceChildren(value); r.sig = sig; }
  } else {
    setText(r.dd, value);
    r.sig = null;
  }
}

// Re-renders host only when what it shows changed (a text selection survives).
function paintIf(host, data, render) {
  const sig = S.lang + JSON.stringify(data === undefined ? null : data);
  if (host._sig === sig) return;
  host._sig = sig;
  host.replaceChildren(...render());
  tickSince(host);
}

function telLink(phone) {
  if (!phone) return "";
  const a = el("a", "", phone);
  a.href = "tel:" + String(phone).replace(/[^0-9+]/g, "");
  return a;
}

// ------------------------------------------------------------------ the alert card

function select(id) {
  if (S.sel !== id) {
    S.sel = id;
    for (const [rid, r] of rows) {
      r.tr.classList.toggle("sel", rid === id);
      r.tr.setAttribute("aria-selected", rid === id ? "true" : "false");
    }
  }
  if (!S.card || S.card.id !== id) buildCard(id);
  refreshCard();
}

function closeCard() {
  S.card = null;
  $("detail").replaceChildren(lbl("p", "pick_alert", "muted"));
}

function buildCard(id) {
  const c = {id, detail: null, subj: null, sent: null, sentAt: 0, sending: false, fetched: 0, busy: false, again: false};
  const d = draft(id);
  const root = el("article", "card");
  root.dataset.alertId = id;

  const h = el("div", "card-h");
  c.sev = el("span", "sev");
  c.title = el("h2");
  c.title.id = "card-title";
  h.append(c.sev, c.title, el("span", "muted small", id));
  c.summary = el("p", "summary");
  c.meta = el("p", "small muted");
  c.due = el("p", "due-line");
  c.due.id = "card-due";

  const act = el("div", "actions needs-operator");
  c.ackBtn = btn("primary", "ack", "ack-btn");
  c.escBtn = btn("", "escalate", "escalate-btn");
  act.append(c.ackBtn, c.escBtn);
  c.actStatus = el("p", "status-line");
  c.actStatus.setAttribute("role", "status");

  c.who = el("dl", "who");
  c.reached = el("div");
  c.plan = el("div");
  const cols = el("div", "cols");
  const left = el("div"), right = el("div");
  left.append(lbl("h3", "sec_reached"), c.reached);
  right.append(lbl("h3", "sec_plan"), c.plan);
  cols.append(left, right);

  const form = el("form", "resolve needs-operator");
  form.id = "resolve-form";
  form.noValidate = true;
  const fs = el("fieldset", "outcomes");
  fs.append(lbl("legend", "resolve_outcome"));
  c.radios = OUTCOMES.map((o) => {
    const l = el("label"), i = el("input");
    i.type = "radio"; i.name = "outcome"; i.value = o; i.id = "outcome-" + o;
    i.checked = d.outcome === o;
    const sp = lbl("span", "oc_" + o);
    l.append(i, sp);
    fs.append(l);
    i.addEventListener("change", () => { draft(id).outcome = o; saveDrafts(); paintForm(c); });
    return i;
  });
  const nl = lbl("label", "resolve_note", "small");
  nl.htmlFor = "resolve-note";
  c.note = el("textarea");
  c.note.id = "resolve-note";
  c.note.maxLength = 1000;
  c.note.rows = 2;
  c.note.value = d.note || "";
  c.note.addEventListener("input", () => { draft(id).note = c.note.value; saveDrafts(); });
  const fr = el("div", "actions");
  c.resBtn = lbl("button", "resolve_btn", "danger");
  c.resBtn.type = "submit";
  c.resBtn.id = "resolve-btn";
  c.resStatus = el("p", "status-line");
  c.resStatus.id = "resolve-status";
  c.resStatus.setAttribute("role", "status");
  fr.append(c.resBtn);
  form.append(lbl("h3", "sec_resolve"), fs, nl, c.note, fr, c.resStatus);
  form.addEventListener("submit", (e) => { e.preventDefault(); submitResolve(c); });

  const memoBox = el("div", "needs-operator");
  const mf = el("div", "inline-form");
  c.memo = el("textarea");
  c.memo.id = "note-text";
  c.memo.maxLength = 1000;
  c.memo.rows = 1;
  c.memo.dataset.i18nPh = "note_ph";
  c.memo.placeholder = t("note_ph");
  c.memo.value = d.memo || "";
  c.memo.addEventListener("input", () => { draft(id).memo = c.memo.value; saveDrafts(); });
  c.memoBtn = btn("", "note_btn", "note-btn");
  c.memoStatus = el("p", "status-line");
  mf.append(c.memo, c.memoBtn);
  memoBox.append(lbl("h3", "sec_note"), mf, c.memoStatus);

  c.tl = el("ol", "tl");
  c.tl.id = "timeline";
  c.tlN = 0;
  c.devs = el("div");
  c.contacts = el("div");
  const cols2 = el("div", "cols");
  const l2 = el("div"), r2 = el("div");
  l2.append(lbl("h3", "sec_devices"), c.devs);
  r2.append(lbl("h3", "sec_contacts"), c.contacts);
  cols2.append(l2, r2);

  root.append(h, c.summary, c.meta, c.due, act, c.actStatus, lbl("h3", "sec_subject"), c.who, cols, form, memoBox,
    lbl("h3", "sec_timeline"), c.tl, cols2);
  $("detail").replaceChildren(root);

  c.ackBtn.addEventListener("click", () => doAck(id, c.actStatus));
  c.escBtn.addEventListener("click", () => escalate(c));
  c.memoBtn.addEventListener("click", () => submitMemo(c));
  S.card = c;
  const a = S.alerts.get(id);
  if (a) cardItem(a, false);
  paintForm(c);
}

function normDetail(j) {
  // The flat item (with the stored document beside it as "alert"), or {"alert", "timeline"} of older hubs.
  const d = Object.assign({}, j.id ? j : (j.alert || j));
  delete d.alert;
  for (const k of ["timeline", "plan", "reached", "subject"]) if (j[k] !== undefined) d[k] = j[k];
  if (d.subject && typeof d.subject === "object") {
    d.subject_info = d.subject;
    d.subject = d.subject_id || d.subject.id || "";
  }
  return d;
}

async function refreshCard() {
  const c = S.card;
  if (!c || !S.started) return;
  if (c.busy) { c.again = true; return; }
  c.busy = true;
  c.fetched = now();
  try {
    const d = normDetail(await api("GET", "/v1/alerts/" + enc(c.id)));
    if (S.card !== c) return;
    const list = S.alerts.get(c.id);
    // A stream item newer than this answer keeps its state.
    if (list && (S.touched.get(c.id) || 0) > c.fetched) Object.assign(d, {state: list.state, count: list.count});
    c.detail = d;
    if (d.subject_info) c.subj = d.subject_info;
    else if (d.subject && (!c.subj || now() - (c.subjAt || 0) > DETAIL_MS)) {
      c.subjAt = now();
      try { c.subj = await api("GET", "/v1/subjects/" + enc(d.subject)); } catch (_) { /* keep the last one */ }
    }
    if (S.card !== c) return;
    cardItem(d, false);
    paintWho(c);
    paintReached(c, d);
    paintPlan(c, d);
    paintTimeline(c, d.timeline || []);
    paintDevices(c.devs, (c.subj && c.subj.devices) || [], c.subj && c.subj.tz);
    paintContacts(c.contacts, (c.subj && c.subj.contacts) || []);
    paintForm(c);
  } catch (e) {
    if (S.card === c && e.status === 404) { setText(c.actStatus, e.message); c.actStatus.className = "status-line err"; }
  } finally {
    c.busy = false;
    if (c.again) { c.again = false; setTimeout(refreshCard, 150); }
  }
}

// The fields every list item has: header, summary, meta line, due line.
function cardItem(a, fromStream) {
  const c = S.card;
  if (!c || c.id !== a.id) return;
  if (c.detail) Object.assign(c.detail, a); else c.detail = Object.assign({}, a);
  const d = c.detail;
  c.sev.className = "sev sev-" + d.severity;
  setText(c.sev, code("sev_", d.severity));
  setText(c.title, subjectName(d) + " · " + code("rule_", d.rule));
  setText(c.summary, d.summary || "");
  const tz = d.tz || (c.subj && c.subj.tz);
  const dev = c.subj && Array.isArray(c.subj.devices) ? c.subj.devices.find((x) => x.id === d.device) : null;
  const meta = [code("dt_", d.device_type || (dev && dev.type) || ""), d.device, place(d.location || (dev && dev.location)),
    t("times", d.count || 1)].filter(Boolean);
  const sig = S.lang + meta.join("|") + openedMs(d) + tz;
  if (c.metaSig !== sig) {
    c.metaSig = sig;
    c.meta.replaceChildren(meta.join(" · ") + " · " + t("f_opened") + " ", timeEl(openedMs(d), tz));
  }
  paintDue(c);
  paintForm(c);
  if (fromStream) { clearTimeout(c.soon); c.soon = setTimeout(refreshCard, 120); }
}

function paintDue(c) {
  const d = c.detail;
  if (!d) return;
  const due = dueOf(d);
  let s;
  if (due.cls === "resolved") s = t("due_resolved", d.resolved_by || "", clock(resolvedMs(d), S.tz), code("oc_", d.outcome));
  else if (due.cls === "ack") s = t("due_acked", ackedBy(d) || (S.me && S.me.name) || "", clock(ackedMs(d) || now(), S.tz));
  else if (due.cls === "over") s = t("due_over", targetText(due.target), dur(due.age - due.target));
  else s = t("due_ok", targetText(due.target), dur(due.target - due.age));
  setText(c.due, s);
  const cls = "due-line due-" + due.cls;
  if (c.due.className !== cls) c.due.className = cls;
}

function tickCard() {
  const c = S.card;
  if (!c) return;
  paintDue(c);
  if (!c.busy && now() - c.fetched >= DETAIL_MS && S.started && !S.sessionLost) refreshCard();
  // A resolve the hub took but has not shown after 20 s: let the operator send again.
  if (c.sent && c.sentAt && now() - c.sentAt > 20000 && c.detail && c.detail.state !== "resolved") {
    c.sent = null;
    paintForm(c);
  }
}

function paintWho(c) {
  const s = c.subj || {}, d = c.detail || {};
  const tz = s.tz || s.timezone || d.tz;
  const name = el("span", "big", s.name || subjectName(d));
  kv(c.who, "f_name", name);
  kv(c.who, "f_phone", telLink(s.phone), "phone");
  kv(c.who, "f_address", s.address || d.address);
  kv(c.who, "f_notes", s.notes, "notes");
  kv(c.who, "f_tz", tz && clock(now(), tz) !== clock(now(), S.tz) ? zoneName(tz) + " · " + t("f_local", clock(now(), tz)) : "");
}

function who(x) {
  const name = x.contact && typeof x.contact === "object" ? x.contact.name : x.contact;
  const role = x.role || (x.contact && typeof x.contact === "object" ? x.contact.role : "");
  return {name: name || "", role: role || ""};
}

// One row per person: each way they were told with its status, their answer, the latest time.
function paintReached(c, d) {
  const list = Array.isArray(d.reached) ? d.reached : [];
  paintIf(c.reached, list, () => {
    if (!list.length) return [lbl("p", "reached_none", "muted small")];
    const people = new Map();
    for (const x of list) {
      const w = who(x), k = w.name + "|" + w.role;
      const p = people.get(k) || {w, ways: [], answers: [], ts: NaN};
      p.ways.push({channel: x.channel, status: x.status});
      if (x.answer || x.receipt) p.answers.push(x);
      const ts = msOf(x.answer_ms !== undefined && x.answer_ms !== null ? x.answer_ms : x.ts_ms);
      if (Number.isFinite(ts) && !(ts <= p.ts)) p.ts = ts;
      people.set(k, p);
    }
    const tb = el("table", "mini reached"), head = el("tr");
    for (const k of ["col_contact", "col_channel", "col_answer", "col_time"]) head.append(lbl("th", k));
    tb.append(el("thead"), el("tbody"));
    tb.tHead.append(head);
    for (const p of people.values()) {
      const tr = el("tr");
      const n = el("td", "", p.w.name || t("none"));
      if (p.w.role) n.append(el("span", "muted", "（" + code("r_", p.w.role) + "）"));
      const ways = el("td");
      p.ways.forEach((x, i) => {
        if (i) ways.append(el("br"));
        ways.append(code("ch_", x.channel) + " ", el("span", "ans-" + (x.status || "") + " muted", code("rs_", x.status)));
      });
      const ans = el("td");
      for (const x of p.answers) {
        ans.append(el("div", "ans-" + (x.answer || ""), [code("rs_", x.answer), x.receipt].filter(Boolean).join(" · ")));
      }
      const tm = el("td");
      tm.append(timeEl(p.ts, d.tz));
      tr.append(n, ways, ans, tm);
      tb.tBodies[0].append(tr);
    }
    return [tb];
  });
}

function paintPlan(c, d) {
  const list = Array.isArray(d.plan) ? d.plan : [];
  const stopped = d.state && d.state !== "open";
  paintIf(c.plan, {list, stopped, st: d.state}, () => {
    if (stopped) return [el("p", "muted small", t("plan_stopped", code("st_", d.state)))];
    if (!list.length) return [lbl("p", "plan_none", "muted small")];
    const ul = el("ul", "plain plan");
    for (const p of list) {
      const li = el("li"), due = msOf(p.due_ms !== undefined ? p.due_ms : p.due);
      const when = el("span", "when");
      when.append(timeEl(due, d.tz), " ");
      const left = el("span", "muted");
      left.dataset.dueMs = String(due);
      when.append(left);
      const people = Array.isArray(p.contacts) && p.contacts.length
        ? p.contacts.map((x) => (x.name || "") + (x.role ? "（" + code("r_", x.role) + "）" : "")).join("、")
        : (p.roles || []).map((r) => code("r_", r)).join("、");
      const chans = (p.channels || []).map((x) => code("ch_", x)).join("、");
      // Steps are counted from 0 by the hub, from 1 by people.
      li.append(when, el("div", "", t("plan_step", Number.isInteger(p.step) ? p.step + 1 : "") + " · " + people +
        (chans ? " · " + chans : "")));
      ul.append(li);
    }
    return [ul];
  });
}

function tlLine(e, tz, summary) {
  const li = el("li");
  li.append(timeEl(msOf(e.ts_ms !== undefined ? e.ts_ms : e.ts), tz));
  const body = el("div");
  let kind = e.kind || e.what || "";
  if (e.all_clear && (kind === "notified" || kind === "sent")) kind = "all_clear";
  body.append(el("span", "k", code("tl_", kind)));
  const w = who(e);
  const actor = e.actor || e.by || "";
  const bits = [];
  if (w.name) bits.push(w.name + (w.role ? "（" + code("r_", w.role) + "）" : ""));
  else if (w.role) bits.push(code("r_", w.role));
  // People and accounts are named; the hub's own instance ("carehubd/...") is not news.
  if (actor && actor !== w.name && (e.actor_role || !/^carehubd\//.test(actor))) {
    bits.push(actor + (e.actor_role ? "（" + code("role_", e.actor_role) + "）" : ""));
  }
  if (e.channel) bits.push(code("ch_", e.channel));
  if (e.outcome) bits.push(code("oc_", e.outcome));
  if (e.count && (kind === "repeated" || kind === "repeat")) bits.push(t("times", e.count));
  // What the kinds the console knows mean is said above in words (who, how, which step); the
  // hub's own sentence for them is for logs. People's words (notes, answers) and reasons stay.
  let text = "";
  if (kind === "opened") text = summary || e.text || "";
  else if (kind === "escalated" || kind === "escalated_now") text = Number.isInteger(e.step) ? t("plan_step", e.step + 1) : "";
  else if (/^(note|callback|acknowledged|resolved|notify_failed|not_sent|rate_limited)$/.test(kind) ||
    !(("tl_" + kind) in I18N.zh)) text = e.note || e.text || e.reason || "";
  body.append(bits.join(" · ") + (text ? (bits.length ? " · " : "") + text : ""));
  li.append(body);
  return li;
}

function paintTimeline(c, tl) {
  const first = tl.length ? JSON.stringify(tl[0]) : "";
  if (tl.length < c.tlN || first !== c.tlFirst || c.tlLang !== S.lang) {
    c.tl.replaceChildren();
    c.tlN = 0;
  }
  c.tlFirst = first;
  c.tlLang = S.lang;
  const tz = c.detail && c.detail.tz, summary = c.detail && c.detail.summary;
  for (; c.tlN < tl.length; c.tlN++) c.tl.append(tlLine(tl[c.tlN], tz, summary));
  if (!tl.length && !c.tl.children.length) c.tl.append(lbl("li", "tl_none", "muted"));
}

function paintDevices(host, list, tz) {
  paintIf(host, list, () => {
    if (!list.length) return [el("p", "muted small", t("none"))];
    const tb = el("table", "mini"), head = el("tr");
    for (const k of ["f_device", "f_location", "col_battery", "col_last_seen", "col_health"]) head.append(lbl("th", k));
    tb.append(el("thead"), el("tbody"));
    tb.tHead.append(head);
    for (const v of list) {
      const tr = el("tr");
      const dev = el("td", "", code("dt_", v.type) || v.id);
      dev.append(el("div", "muted small", v.id));
      const bat = el("td");
      const pct = typeof v.battery === "number" ? v.battery : (typeof v.battery === "string" && v.battery !== "" ? Number(v.battery) : NaN);
      if (Number.isFinite(pct)) {
        const bar = el("span", "battery" + (pct < 20 ? " low" : "")), fill = el("i");
        fill.style.width = Math.max(0, Math.min(100, pct)) + "%";
        bar.append(fill);
        bat.append(bar, Math.round(pct) + "%");
      } else bat.textContent = t("none");
      const seenMs = msOf(v.last_seen_ms !== undefined ? v.last_seen_ms : v.last_seen);
      const seen = el("td");
      if (Number.isFinite(seenMs)) {
        const ago = el("span", "muted");
        ago.dataset.sinceMs = String(seenMs);
        seen.append(timeEl(seenMs, tz), el("br"), ago);
      } else seen.textContent = t("none");
      const bad = v.offline === true, low = Number.isFinite(pct) && pct < 20;
      const health = bad ? "dev_offline" : low ? "dev_low" : Number.isFinite(seenMs) ? "dev_ok" : "dev_unknown";
      tr.append(dev, el("td", "", place(v.location)), bat, seen,
        el("td", bad || low ? "dev-bad" : health === "dev_ok" ? "dev-good" : "muted", t(health)));
      tb.tBodies[0].append(tr);
    }
    return [tb];
  });
}

function paintContacts(host, list) {
  const sorted = list.slice().sort((a, b) => (a.order || 99) - (b.order || 99));
  paintIf(host, sorted, () => {
    if (!sorted.length) return [el("p", "muted small", t("none"))];
    const ul = el("ul", "plain");
    for (const x of sorted) {
      const li = el("li");
      li.append(el("b", "", x.name || ""), " " + (x.role ? "（" + code("r_", x.role) + "）" : "") + " ");
      if (x.phone) li.append(telLink(x.phone));
      if (x.quiet_hours) li.append(el("span", "muted small", " · " + t("quiet", x.quiet_hours)));
      ul.append(li);
    }
    return [ul];
  });
}

// The form's controls follow the alert's state; their values are never touched.
function paintForm(c) {
  const d = c.detail || {};
  const resolved = d.state === "resolved";
  const waiting = c.sending || (c.sent && !resolved);
  const chosen = c.radios.find((r) => r.checked);
  for (const r of c.radios) r.disabled = resolved || waiting;
  c.note.readOnly = resolved || waiting;
  c.resBtn.disabled = resolved || waiting || !chosen;
  c.ackBtn.disabled = d.state !== "open" || S.ackPending.has(c.id);
  c.escBtn.disabled = resolved || !d.state;
  c.memoBtn.disabled = resolved;
  if (resolved) {
    if (c.sent) {
      const note = d.resolve_note !== undefined ? d.resolve_note : d.note;
      const same = d.outcome === c.sent.outcome && (note || "").trim() === (c.sent.note || "").trim();
      setText(c.resStatus, same ? t("resolve_done", code("oc_", d.outcome))
        : t("resolve_mismatch", code("oc_", d.outcome) + (note ? "「" + note + "」" : ""),
          code("oc_", c.sent.outcome) + (c.sent.note ? "「" + c.sent.note + "」" : "")));
      c.resStatus.className = "status-line " + (same ? "ok" : "err");
      if (same && drafts[c.id]) { delete drafts[c.id]; saveDrafts(); }
    } else {
      setText(c.resStatus, t("resolve_by_other", d.resolved_by || "", code("oc_", d.outcome)));
      c.resStatus.className = "status-line";
    }
  }
}

async function submitResolve(c) {
  const chosen = c.radios.find((r) => r.checked);
  if (!chosen) { setText(c.resStatus, t("resolve_pick")); c.resStatus.className = "status-line err"; return; }
  // Exactly what the operator chose and typed; an empty note is no note.
  const body = {outcome: chosen.value};
  if (c.note.value.trim()) body.note = c.note.value;
  c.sending = true;
  paintForm(c);
  setText(c.resStatus, t("resolve_sending"));
  c.resStatus.className = "status-line";
  try {
    await api("POST", "/v1/alerts/" + enc(c.id) + "/resolve", body);
    c.sent = body;
    c.sentAt = now();
    setText(c.resStatus, t("resolve_sent"));
    c.resStatus.className = "status-line ok";
    setTimeout(refreshCard, 200);
  } catch (e) {
    setText(c.resStatus, t("write_failed", e.message));
    c.resStatus.className = "status-line err";
  } finally {
    c.sending = false;
    if (S.card === c) paintForm(c);
  }
}

async function submitMemo(c) {
  const text = c.memo.value;
  if (!text.trim()) return;
  c.memoBtn.disabled = true;
  try {
    await api("POST", "/v1/alerts/" + enc(c.id) + "/note", {note: text});
    // Sent and on the timeline: the box is free for the next one.
    if (c.memo.value === text) c.memo.value = "";
    delete draft(c.id).memo;
    saveDrafts();
    setText(c.memoStatus, t("note_sent"));
    c.memoStatus.className = "status-line ok";
    setTimeout(refreshCard, 200);
  } catch (e) {
    setText(c.memoStatus, t("write_failed", e.message));
    c.memoStatus.className = "status-line err";
  } finally {
    c.memoBtn.disabled = false;
  }
}

// Asks twice: the first press arms the button for 5 s.
async function escalate(c) {
  if (!c.escArmed) {
    c.escArmed = setTimeout(() => { c.escArmed = 0; c.escBtn.classList.remove("armed"); c.escBtn.dataset.i18n = "escalate"; setText(c.escBtn, t("escalate")); }, 5000);
    c.escBtn.classList.add("armed");
    c.escBtn.dataset.i18n = "escalate_confirm";
    setText(c.escBtn, t("escalate_confirm"));
    return;
  }
  clearTimeout(c.escArmed);
  c.escArmed = 0;
  c.escBtn.classList.remove("armed");
  c.escBtn.dataset.i18n = "escalate";
  setText(c.escBtn, t("escalate"));
  try {
    await api("POST", "/v1/alerts/" + enc(c.id) + "/escalate", {});
    setText(c.actStatus, t("escalated"));
    c.actStatus.className = "status-line ok";
    setTimeout(refreshCard, 300);
  } catch (e) {
    setText(c.actStatus, t("write_failed", e.message));
    c.actStatus.className = "status-line err";
  }
}

// ------------------------------------------------------------------ subjects

const SUBJ = {timer: 0, q: null, cur: null, info: null, seq: 0};

async function loadSubjects() {
  try {
    const j = await api("GET", "/v1/subjects");
    S.subjects = Array.isArray(j.subjects) ? j.subjects : [];
    const dl = $("subj-list");
    dl.replaceChildren(...S.subjects.map((s) => { const o = el("option"); o.value = s.id; o.label = (s.name || "") + " · " + (s.address || ""); return o; }));
  } catch (_) { /* the search still works */ }
}

function matches(s, q) {
  if (!q) return true;
  q = q.toLowerCase();
  return [s.name, s.id, s.address, s.phone].some((v) => v && String(v).toLowerCase().includes(q));
}

async function runSearch() {
  const q = $("subj-q").value.trim(), seq = ++SUBJ.seq;
  try {
    const j = await api("GET", "/v1/subjects" + (q ? "?q=" + enc(q) : ""));
    if (seq !== SUBJ.seq) return;
    const list = (Array.isArray(j.subjects) ? j.subjects : []).filter((s) => matches(s, q));
    const ul = $("subj-results");
    // The same answer again (a key typed and taken back): leave the list the operator is pointing at.
    const sig = S.lang + JSON.stringify(list.slice(0, 50));
    if (ul._sig === sig) return;
    ul._sig = sig;
    ul.replaceChildren();
    for (const s of list.slice(0, 50)) {
      const li = el("li");
      li.tabIndex = 0;
      li.dataset.subjectId = s.id;
      const open = typeof s.open_alerts === "number" ? s.open_alerts
        : Array.isArray(s.open_alerts) ? s.open_alerts.length
          : [...S.alerts.values()].filter((a) => subjectId(a) === s.id).length;
      const name = el("b", "", s.name || s.id);
      li.append(name, el("span", "badge" + (open ? " hot" : ""), open ? t("open_alerts", open) : t("no_open")),
        el("div", "meta", [s.id, s.address, s.phone].filter(Boolean).join(" · ")));
      li.classList.toggle("sel", s.id === SUBJ.cur);
      const go = () => showSubject(s.id);
      li.addEventListener("click", go);
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      ul.append(li);
    }
    const msg = $("subj-msg");
    msg.dataset.i18n = list.length ? "search_hint" : "search_none";
    setText(msg, list.length ? (list.length > 50 ? "1–50 / " + list.length : "") : t("search_none"));
  } catch (_) { /* banner */ }
}

async function showSubject(id) {
  SUBJ.cur = id;
  for (const li of $("subj-results").children) li.classList.toggle("sel", li.dataset.subjectId === id);
  const host = $("subj-card");
  let s;
  try { s = await api("GET", "/v1/subjects/" + enc(id)); } catch (e) { host.replaceChildren(el("p", "status-line err", e.message)); return; }
  if (SUBJ.cur !== id) return;
  SUBJ.info = s;
  const info = el("div");
  info.id = "subj-info";
  const silHost = el("div");
  silHost.id = "subj-silences";
  const formBox = el("div", "needs-operator");
  formBox.append(lbl("h3", "sil_add"), silenceForm(id));
  host.replaceChildren(info, lbl("h3", "sec_silences"), silHost, formBox);
  paintSubject();
  loadSilences();
}

async function paintSubject() {
  const s = SUBJ.info, info = $("subj-info");
  if (!s || !info) return;
  const dl = el("dl", "who");
  kv(dl, "f_name", el("span", "big", s.name || s.id));
  kv(dl, "f_id", s.id);
  kv(dl, "f_phone", telLink(s.phone), "phone");
  kv(dl, "f_address", s.address);
  kv(dl, "f_notes", s.notes, "notes");
  kv(dl, "f_tz", s.tz || s.timezone);
  const devs = el("div"), cons = el("div"), alerts = el("div"), trends = el("div");
  trends.id = "subj-trends";
  paintDevices(devs, s.devices || [], s.tz || s.timezone);
  paintContacts(cons, s.contacts || []);
  info.replaceChildren(dl, lbl("h3", "sec_trends"), trends, lbl("h3", "sec_devices"), devs, lbl("h3", "sec_contacts"), cons,
    lbl("h3", "sec_subject_alerts"), alerts);
  paintTrends(trends, s.id);
  let list = [].concat(s.open_alerts || [], s.recent_alerts || []).filter((a) => a && typeof a === "object");
  if (!list.length) {
    try { list = (await api("GET", "/v1/alerts?subject=" + enc(s.id))).alerts || []; } catch (_) { list = []; }
  }
  const seen = new Set(), ul = el("ul", "plain");
  for (const a of list) {
    if (!a.id || seen.has(a.id)) continue;
    seen.add(a.id);
    const li = el("li"), link = el("a", "alert-link", code("rule_", a.rule) + " · " + code("st_", a.state) +
      (a.outcome ? " · " + code("oc_", a.outcome) : ""));
    link.href = "#";
    link.addEventListener("click", (e) => { e.preventDefault(); showView("queue"); select(a.id); });
    li.append(el("span", "sev sev-" + a.severity, code("sev_", a.severity)), " ", link, " ", timeEl(openedMs(a), a.tz));
    ul.append(li);
  }
  alerts.replaceChildren(seen.size ? ul : el("p", "muted small", t("no_open")));
}

// ------------------------------------------------------------------ trends

// The trend report's flags and a sparkline a metric (GET /v1/subjects/{id}/report: one value a day for
// 8 weeks, null on days away or with no data, which break the line).
const SVGNS = "http://www.w3.org/2000/svg";
const SPARKS = [["active_hours", "trend_active"], ["nights_up", "trend_nights"], ["water_litres", "trend_water"],
  ["kitchen_hours", "trend_kitchen"], ["outings", "trend_outings"]];

function sparkline(values, title) {
  const w = 240, h = 36, pad = 3, n = values.length;
  const nums = values.filter((v) => typeof v === "number");
  const hi = Math.max(1, ...nums), lo = Math.min(0, ...nums);
  const svg = document.createElementNS(SVGNS, "svg"), path = document.createElementNS(SVGNS, "path");
  const tip = document.createElementNS(SVGNS, "title");
  let d = "", pen = false;
  values.forEach((v, i) => {
    if (typeof v !== "number") { pen = false; return; }
    const x = pad + (n > 1 ? (i * (w - 2 * pad)) / (n - 1) : 0), y = h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad);
    d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1) + " ";
    pen = true;
  });
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  path.setAttribute("d", d.trim() || "M0 0");
  tip.textContent = title;
  svg.append(tip, path);
  return svg;
}

async function paintTrends(host, id) {
  let r;
  try { r = await api("GET", "/v1/subjects/" + enc(id) + "/report?weeks=4"); } catch (_) { r = null; }
  if (SUBJ.cur !== id) return;
  if (!r) { host.replaceChildren(el("p", "muted small", t("trend_none_yet"))); return; }
  const flags = el("ul", "plain trend-flags"), sparks = el("div", "trend-sparks"), daily = r.daily || {};
  for (const f of r.flags || []) {
    const li = el("li", "flag flag-" + f.severity, S.lang === "en" ? f.text : f.text_zh || f.text);
    if (f.week) li.append(" ", el("span", "muted small", t("trend_earlier")));
    flags.append(li);
  }
  for (const [k, key] of SPARKS) {
    const v = Array.isArray(daily[k]) ? daily[k] : [];
    if (!v.some((x) => typeof x === "number")) continue;
    const row = el("div", "spark-row"), wk = (r.weeks || [])[0] || {}, usual = (r.usual || {})[k];
    row.dataset.metric = k;
    row.append(lbl("span", key, "spark-label"), sparkline(v, t(key)),
      el("span", "muted small", t("trend_last", wk[k] ?? "-", r.learning || usual === null || usual === undefined ? "-" : usual)));
    sparks.append(row);
  }
  const head = r.learning ? el("p", "muted small", t("trend_learning", r.history_days))
    : (r.flags || []).length ? flags : el("p", "muted small", t("trend_no_flags"));
  host.replaceChildren(head, sparks);
}

// ------------------------------------------------------------------ silences

const SIL = {list: [], seq: 0, armed: new Map()};
const DURATIONS = ["30m", "1h", "2h", "4h", "8h", "24h", "3d"];

function normSilences(j) {
  const v = j && j.silences;
  if (Array.isArray(v)) return v;
  const out = [];
  // Older hubs: {"<subject>": {"<key>": {...}} | [...]}.
  if (v && typeof v === "object") {
    for (const [sid, x] of Object.entries(v)) {
      if (Array.isArray(x)) for (const s of x) out.push(Object.assign({subject: sid}, s));
      else if (x && typeof x === "object") for (const [k, s] of Object.entries(x)) out.push(Object.assign({id: k, subject: sid}, typeof s === "object" ? s : {}));
    }
  }
  return out;
}

async function loadSilences() {
  const seq = ++SIL.seq;
  try {
    const j = await api("GET", "/v1/silences");
    if (seq !== SIL.seq) return;
    SIL.list = normSilences(j);
  } catch (_) { return; }
  paintSilences();
}

function paintSilences() {
  renderSilences($("sil-list"), SIL.list);
  const sub = $("subj-silences");
  if (sub && SUBJ.cur) renderSilences(sub, SIL.list.filter((s) => s.subject === SUBJ.cur));
}

function renderSilences(host, list) {
  const byId = new Map(S.subjects.map((s) => [s.id, s]));
  const live = list.filter((s) => { const u = msOf(s.until_ms !== undefined && s.until_ms !== null ? s.until_ms : s.until); return !Number.isFinite(u) || u > now(); });
  if (!live.length) { host.replaceChildren(lbl("p", "sil_none", "muted small")); return; }
  const tb = el("table", "mini"), head = el("tr");
  for (const k of ["sil_subject", "sil_scope", "col_until", "sil_reason", "col_by"]) head.append(lbl("th", k));
  tb.append(el("thead"), el("tbody"));
  tb.tHead.append(head);
  for (const s of live) {
    const tr = el("tr"), subj = byId.get(s.subject);
    const scope = s.rule ? t("sil_rule") + " · " + code("rule_", s.rule)
      : s.device ? t("sil_device") + " · " + s.device : t("sil_whole");
    // (scope "subject", or an id ending in "~*": the whole household)
    const until = el("td");
    const u = msOf(s.until_ms !== undefined && s.until_ms !== null ? s.until_ms : s.until);
    if (Number.isFinite(u)) {
      until.append(timeEl(u, subj && subj.tz));
      const left = el("span", "muted small");
      left.dataset.dueMs = String(u);
      until.append(el("br"), left);
    }
    const act = el("td");
    const by = s.by || s.account;
    act.append(el("span", "muted small", by ? t("sil_by", by) + " " : ""));
    if (s.id) {
      const b = btn("needs-operator", "sil_lift");
      if ((SIL.armed.get(s.id) || 0) > now()) armLift(b);
      b.addEventListener("click", () => liftSilence(b, s.id));
      act.append(b);
    }
    tr.append(el("td", "", (subj && subj.name ? subj.name + " " : "") + "(" + s.subject + ")"), el("td", "", scope), until,
      el("td", "", s.reason || ""), act);
    tb.tBodies[0].append(tr);
  }
  host.replaceChildren(tb);
  tickSince(host);
}

function armLift(b) {
  b.dataset.armed = "1";
  b.classList.add("armed");
  b.dataset.i18n = "sil_lift_confirm";
  setText(b, t("sil_lift_confirm"));
}

// Asks twice; the first press holds for 5 s, also across a re-render of the list.
async function liftSilence(b, id) {
  if (!b.dataset.armed) {
    SIL.armed.set(id, now() + 5000);
    armLift(b);
    setTimeout(() => {
      SIL.armed.delete(id);
      if (b.isConnected) { delete b.dataset.armed; b.classList.remove("armed"); b.dataset.i18n = "sil_lift"; setText(b, t("sil_lift")); }
    }, 5000);
    return;
  }
  SIL.armed.delete(id);
  b.disabled = true;
  try {
    await api("DELETE", "/v1/silences/" + enc(id));
    SIL.list = SIL.list.filter((s) => s.id !== id);
    paintSilences();
    setTimeout(loadSilences, 500);
  } catch (e) {
    b.disabled = false;
    b.title = e.message;
    setText(b, t("write_failed", e.message));
  }
}

function opt(value, key) {
  const o = el("option");
  o.value = value;
  if (key) { o.dataset.i18n = key; o.textContent = t(key); } else o.textContent = value;
  return o;
}

// One silence form; fixedSubject: the subject card's own, with the subject given.
function silenceForm(fixedSubject) {
  const f = el("form", "silence");
  f.noValidate = true;
  const row = (key, input) => { const l = lbl("label", key); l.htmlFor = input.id; f.append(l, input); };
  const uid = fixedSubject ? "s" : "g";
  let subj;
  if (fixedSubject) {
    subj = el("input");
    subj.type = "text";
    subj.value = fixedSubject;
    subj.readOnly = true;
  } else {
    subj = el("input");
    subj.type = "text";
    subj.setAttribute("list", "subj-list");
    subj.autocomplete = "off";
  }
  subj.id = "sil-subject-" + uid;
  const scope = el("select");
  scope.id = "sil-scope-" + uid;
  scope.append(opt("rule", "sil_scope_rule"), opt("device", "sil_scope_device"));
  const rule = el("input");
  rule.type = "text";
  rule.id = "sil-rule-" + uid;
  rule.setAttribute("list", "rule-list");
  rule.autocomplete = "off";
  const dev = el("select");
  dev.id = "sil-device-" + uid;
  const forSel = el("select");
  forSel.id = "sil-for-" + uid;
  for (const d of DURATIONS) forSel.append(opt(d, "d_" + d));
  forSel.value = "2h";
  const reason = el("input");
  reason.type = "text";
  reason.id = "sil-reason-" + uid;
  reason.maxLength = 200;
  reason.dataset.i18nPh = "sil_reason_ph";
  reason.placeholder = t("sil_reason_ph");
  row("sil_subject", subj);
  row("sil_scope", scope);
  row("sil_rule", rule);
  row("sil_device", dev);
  row("sil_for", forSel);
  row("sil_reason", reason);
  const go = lbl("button", "sil_submit", "primary wide");
  go.type = "submit";
  const status = el("p", "status-line wide");
  f.append(go, status);
  const scopeShow = () => {
    const r = scope.value === "rule";
    rule.hidden = rule.previousSibling.hidden = !r;
    dev.hidden = dev.previousSibling.hidden = r;
  };
  const fillDevices = async () => {
    const id = subj.value.trim();
    let devices = [];
    try { if (id) devices = (await api("GET", "/v1/subjects/" + enc(id))).devices || []; } catch (_) { devices = []; }
    const keep = dev.value;
    dev.replaceChildren(...devices.map((d) => { const o = el("option", "", [code("dt_", d.type), place(d.location), d.id].filter(Boolean).join(" · ")); o.value = d.id; return o; }));
    if (keep) dev.value = keep;
  };
  scope.addEventListener("change", scopeShow);
  subj.addEventListener("change", fillDevices);
  scopeShow();
  if (fixedSubject) fillDevices();
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {subject: subj.value.trim(), for: forSel.value, reason: reason.value.trim()};
    if (scope.value === "rule") body.rule = rule.value.trim(); else body.device = dev.value;
    if (!body.subject || !body.reason || !(body.rule || body.device)) {
      setText(status, t("sil_need"));
      status.className = "status-line wide err";
      return;
    }
    go.disabled = true;
    try {
      await api("POST", "/v1/silences", body);
      setText(status, t("sil_added"));
      status.className = "status-line wide ok";
      reason.value = "";
      setTimeout(loadSilences, 300);
    } catch (err) {
      setText(status, t("write_failed", err.message));
      status.className = "status-line wide err";
    } finally {
      go.disabled = false;
    }
  });
  return f;
}

// ------------------------------------------------------------------ wiring

function buildViews() {
  const dl = el("datalist");
  dl.id = "subj-list";
  const rl = el("datalist");
  rl.id = "rule-list";
  for (const k of Object.keys(I18N.zh).filter((k) => k.startsWith("rule_"))) {
    const o = el("option");
    o.value = k.slice(5);
    o.label = I18N.zh[k] + " / " + I18N.en[k];
    rl.append(o);
  }
  document.body.append(dl, rl);
  $("sil-form-host").append(silenceForm(null));
  $("subj-q").addEventListener("input", () => { clearTimeout(SUBJ.timer); SUBJ.timer = setTimeout(runSearch, 250); });
  $("nav-subjects").addEventListener("click", () => { if (!$("subj-results").children.length) runSearch(); });
}

// After a language switch: everything that is not an input says it anew.
function relabelViews() {
  const c = S.card;
  if (c && c.detail) {
    c.metaSig = "";
    cardItem(c.detail, false);
    paintWho(c);
    paintReached(c, c.detail);
    paintPlan(c, c.detail);
    paintTimeline(c, c.detail.timeline || []);
    paintDevices(c.devs, (c.subj && c.subj.devices) || [], c.subj && c.subj.tz);
    paintContacts(c.contacts, (c.subj && c.subj.contacts) || []);
    paintForm(c);
  }
  if (SUBJ.info) paintSubject();
  paintSilences();
  if ($("subj-results").children.length) runSearch();
}
