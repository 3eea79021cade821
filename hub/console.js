// console.js - the monitoring console's core: text and time, the API (session
// cookie + CSRF header), the live stream with polling as its fallback, the queue
// and the alarm. console_views.js adds the alert card, subjects and silences; both
// run inside one function scope (see console.html), so they share these names.
//
// Rules the page keeps, because an operator at 3 a.m. depends on them:
// - Nothing the operator typed or chose is ever rebuilt away. Data updates change
//   text in place; the resolve form, the note and the silence form are built once
//   per alert / page and only their labels change. Drafts survive a reload.
// - Everything shown comes from the hub's JSON and goes in with textContent.
// - No alert(), confirm() or prompt(): they stop the page, and with it the alarm and
//   the live updates. Dangerous buttons ask twice instead.

const I18N = window.CH_I18N;
const $ = (id) => document.getElementById(id);
const SEV_RANK = {critical: 4, high: 3, medium: 2, low: 1, info: 0};
// Seconds within which an alert of each severity should be acknowledged. Amber from
// half of it, red past it. Critical follows the alarm-centre norm (97.5% of alarms
// answered within 60 s); a low-severity maintenance alert has an hour.
const TARGET_S = {critical: 60, high: 180, medium: 900, low: 3600, info: 14400};
const OUTCOMES = ["genuine", "false_alarm", "accidental", "no_response", "activity_resumed"];
const POLL_MS = 5000, RECONCILE_MS = 30000, HEALTH_MS = 10000, DETAIL_MS = 5000;
const STREAM_RETRY_MAX_MS = 30000, POLL_BANNER_AFTER_MS = 4000, ACK_GRACE_MS = 15000;

const S = {
  lang: localStorage.getItem("carehub.lang") === "en" ? "en" : "zh",
  me: null,            // {name, role, csrf, timezone}
  tz: undefined,       // the centre's IANA zone; undefined: the browser's own
  started: false,
  alerts: new Map(),   // id -> list item, open and acknowledged alerts
  touched: new Map(),  // id -> when the stream last changed it (ms), so an older list can't undo it
  seen: new Set(),     // ids already announced
  loaded: false,       // the first list has arrived (nothing before it is "new")
  cat: "",             // queue filter: "", "safety", "maintenance"
  view: "queue",
  sel: null,           // selected alert id
  card: null,          // the alert card on screen (console_views.js)
  es: null, esState: "down", streamEvents: 0, esSince: Date.now(), esRetry: 1000, esTimer: 0, lastEventId: "",
  hub: "ok", hubSince: 0, // "ok", "offline" (no answer), "store" (hub up, Redis down)
  lastFull: 0, lastUpdate: 0, skew: 0,
  ackPending: new Map(), // id -> when our ack was accepted (the alarm stops at once)
  notes: new Map(),    // id -> desktop Notification
  subjects: [],        // for the silence form's list
  timers: [],
};

// ------------------------------------------------------------------ text

function t(key, ...args) {
  let s = (I18N[S.lang] || I18N.zh)[key];
  if (s === undefined) s = I18N.zh[key];
  if (s === undefined) return key;
  return s.replace(/\{(\d)\}/g, (_, i) => (args[+i] === undefined || args[+i] === null ? "" : String(args[+i])));
}

// A hub code (severity, role, channel, rule...) in words; an unknown code as itself.
function code(prefix, v) {
  if (v === undefined || v === null || v === "") return "";
  const k = prefix + String(v).toLowerCase().replace(/[\s-]+/g, "_");
  const d = I18N[S.lang] || I18N.zh;
  return d[k] !== undefined ? d[k] : String(v);
}

// Registry locations are a string ("kitchen") or per language ({"zh": "厨房", "en": "kitchen"}).
function place(l) {
  if (!l) return "";
  if (typeof l === "object") return l[S.lang] || l.zh || l.en || Object.values(l)[0] || "";
  return code("loc_", l);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function setText(e, s) {
  s = s === undefined || s === null ? "" : String(s);
  if (e && e.textContent !== s) e.textContent = s;
}

// Labels marked in the markup (and in built parts) follow the language.
function applyLang(root) {
  root = root || document;
  for (const e of root.querySelectorAll("[data-i18n]")) setText(e, t(e.dataset.i18n));
  for (const e of root.querySelectorAll("[data-i18n-ph]")) e.placeholder = t(e.dataset.i18nPh);
  for (const e of root.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
  for (const e of root.querySelectorAll("[data-i18n-aria]")) e.setAttribute("aria-label", t(e.dataset.i18nAria));
}

function lbl(tag, key, cls) {
  const e = el(tag, cls, t(key));
  e.dataset.i18n = key;
  return e;
}

// ------------------------------------------------------------------ time

const now = () => Date.now() + S.skew;
const fmts = new Map();

function dtf(tz, opts) {
  const key = S.lang + "|" + (tz || "") + "|" + JSON.stringify(opts);
  let f = fmts.get(key);
  if (!f) {
    const o = Object.assign({hourCycle: "h23"}, opts);
    if (tz) o.timeZone = tz;
    try { f = new Intl.DateTimeFormat(S.lang === "en" ? "en-GB" : "zh-CN", o); }
    catch (_) { delete o.timeZone; f = new Intl.DateTimeFormat(S.lang === "en" ? "en-GB" : "zh-CN", o); }
    fmts.set(key, f);
  }
  return f;
}

function partsOf(ms, tz) {
  const p = {};
  for (const x of dtf(tz, {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit"}).formatToParts(new Date(ms))) p[x.type] = x.value;
  return p;
}

// "03:12:05" today in that zone, "11-28 03:12" another day.
function clock(ms, tz) {
  if (!Number.isFinite(ms)) return "";
  const p = partsOf(ms, tz), n = partsOf(now(), tz);
  if (p.year === n.year && p.month === n.month && p.day === n.day) return p.hour + ":" + p.minute + ":" + p.second;
  return p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
}

function zoneName(tz) {
  const z = tz || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  return z.replace(/^.*\//, "").replace(/_/g, " ");
}

function fullTime(ms, tz) {
  const p = partsOf(ms, tz);
  return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second + " " +
    (tz || Intl.DateTimeFormat().resolvedOptions().timeZone || "");
}

// A <time>: the centre's clock, and the subject's when it reads differently.
function timeEl(ms, subjTz) {
  const e = el("time");
  if (!Number.isFinite(ms)) { e.textContent = t("none"); return e; }
  e.dateTime = new Date(ms).toISOString();
  e.title = fullTime(ms, S.tz);
  let s = clock(ms, S.tz);
  if (subjTz && clock(ms, subjTz) !== s) {
    s += " (" + t("f_local", clock(ms, subjTz) + " " + zoneName(subjTz)) + ")";
    e.title += "\n" + fullTime(ms, subjTz);
  }
  e.textContent = s;
  return e;
}

function dur(sec) {
  sec = Math.max(0, Math.floor(sec));
  if (sec < 60) return t("sec", sec);
  if (sec < 3600) return t("min_sec", Math.floor(sec / 60), sec % 60);
  if (sec < 86400) return t("hour_min", Math.floor(sec / 3600), Math.floor(sec / 60) % 60);
  return t("day_hour", Math.floor(sec / 86400), Math.floor(sec / 3600) % 24);
}

// The queue's compact age: 0:45, 12:03, 2:05:09, 3d 4h.
function ageClock(sec) {
  sec = Math.max(0, Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor(sec / 60) % 60, s = sec % 60;
  if (h >= 48) return t("day_hour", Math.floor(h / 24), h % 24);
  return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
}

function targetText(sec) {
  if (sec < 120) return t("sec", sec);
  if (sec < 7200) return t("target_unit_min", Math.round(sec / 60));
  return t("target_unit_h", Math.round(sec / 3600));
}

const msOf = (v) => (typeof v === "number" ? v : (typeof v === "string" && v ? Date.parse(v) : NaN));
const openedMs = (a) => msOf(a.opened_ms !== undefined ? a.opened_ms : (a.opened_at_ms !== undefined ? a.opened_at_ms : a.opened_at));
const firstOf = (a, keys) => { for (const k of keys) if (a[k] !== undefined && a[k] !== null) return a[k]; return undefined; };
const ackedMs = (a) => msOf(firstOf(a, ["acked_ms", "acked_at_ms", "acknowledged_at_ms", "acked_at", "acknowledged_at"]));
const ackedBy = (a) => a.acked_by || a.acknowledged_by || "";
const resolvedMs = (a) => msOf(a.resolved_ms !== undefined ? a.resolved_ms : (a.resolved_at_ms !== undefined ? a.resolved_at_ms : a.resolved_at));
const subjectId = (a) => a.subject_id || (a.subject && typeof a.subject === "object" ? a.subject.id : a.subject) || "";
const subjectName = (a) => a.subject_name || (a.subject && typeof a.subject === "object" && a.subject.name) || subjectId(a);

// How late an alert is against its severity's target: ok, soon, over; ack, resolved.
function dueOf(a) {
  if (a.state === "resolved") return {cls: "resolved"};
  if (a.state !== "open" || S.ackPending.has(a.id)) return {cls: "ack"};
  const target = TARGET_S[a.severity] !== undefined ? TARGET_S[a.severity] : 3600;
  const age = (now() - openedMs(a)) / 1000;
  if (!Number.isFinite(age)) return {cls: "ok", target, age: 0};
  return {cls: age >= target ? "over" : age >= target / 2 ? "soon" : "ok", target, age};
}

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(status, codeStr, msg) { super(msg); this.status = status; this.code = codeStr; }
}

function noteSkew(r) {
  const d = Date.parse(r.headers.get("Date") || "");
  if (!Number.isFinite(d)) return;
  const off = d - Date.now();
  // The header has 1 s resolution: only a clock that is clearly off is corrected.
  S.skew = Math.abs(off) > 2500 ? off : 0;
}

async function api(method, path, body, retried) {
  const opt = {method, headers: {"Accept": "application/json"}, credentials: "same-origin", cache: "no-store"};
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  if (method !== "GET" && S.me && S.me.csrf) opt.headers["X-CSRF-Token"] = S.me.csrf;
  let r;
  try { r = await fetch(path, opt); }
  catch (e) { hubState("offline"); throw new ApiError(0, "network", t("login_offline")); }
  noteSkew(r);
  const txt = await r.text();
  let j = null;
  try { j = txt ? JSON.parse(txt) : null; } catch (_) { j = null; }
  if (r.status === 503 && method === "GET") hubState("store");
  else if (r.status < 500) hubState("ok");
  if (r.status === 401 && path !== "/v1/session") sessionLost();
  if (r.status === 403 && j && j.error === "csrf" && !retried && path !== "/v1/session") {
    // The session's token changed (a new login elsewhere in this browser): take the new one, once.
    try { const s = await api("GET", "/v1/session"); if (s && s.csrf) S.me.csrf = s.csrf; } catch (_) { /* below */ }
    return api(method, path, body, true);
  }
  if (!r.ok) {
    const msg = r.status === 403 && (!j || j.error === "forbidden") ? t("forbidden")
      : (j && (j.message || j.error)) || ("HTTP " + r.status);
    throw new ApiError(r.status, (j && j.error) || "", msg);
  }
  return j || {};
}

const enc = encodeURIComponent;

// ------------------------------------------------------------------ hub and stream state

function hubState(st) {
  if (st === S.hub) return;
  S.hub = st;
  S.hubSince = now();
  paintConn();
}

function setEs(st) {
  if (st === S.esState) return;
  S.esState = st;
  S.esSince = now();
  paintConn();
}

function paintConn() {
  const c = $("conn");
  let st = S.hub !== "ok" ? "offline" : S.esState === "open" ? "live" : S.started ? "polling" : "connecting";
  if (!S.started) st = S.hub !== "ok" ? "offline" : "connecting";
  c.className = st;
  setText(c, t("conn_" + st));
  c.title = S.lastUpdate ? t("updated", clock(S.lastUpdate, S.tz)) : "";
  paintBanner();
}

function paintBanner() {
  const b = $("banner");
  let cls = "", text = "";
  if (S.hub === "offline") {
    cls = "offline";
    text = t("banner_offline", clock(S.hubSince, S.tz), dur((now() - S.hubSince) / 1000));
  } else if (S.hub === "store") {
    cls = "offline";
    text = t("banner_store", clock(S.hubSince, S.tz), dur((now() - S.hubSince) / 1000));
  } else if (S.sessionLost) {
    cls = "offline";
    text = t("banner_session");
  } else if (S.started && S.esState !== "open" && now() - S.esSince > POLL_BANNER_AFTER_MS) {
    cls = "polling";
    text = t("banner_polling", clock(S.esSince, S.tz));
  }
  b.hidden = !text;
  if (b.className !== cls) b.className = cls;
  setText(b, text);
}

function markUpdate() { S.lastUpdate = now(); }

function openStream() {
  closeStream();
  if (!S.started || !window.EventSource) { setEs("down"); return; }
  // A stream created anew (not EventSource's own reconnect) carries no Last-Event-ID
  // header; the contract takes the same id as ?last_id=.
  const url = "/v1/stream" + (S.lastEventId ? "?last_id=" + enc(S.lastEventId) : "");
  const es = new EventSource(url);
  S.es = es;
  setEs("connecting");
  es.onopen = () => {
    S.esRetry = 1000;
    setEs("open");
    hubState("ok");
    loadQueue();
  };
  es.addEventListener("alert", (e) => {
    if (e.lastEventId) S.lastEventId = e.lastEventId;
    let a;
    try { a = JSON.parse(e.data); } catch (_) { return; }
    markUpdate();
    document.body.dataset.streamEvents = String(++S.streamEvents);
    S.touched.set(a.id, now());
    upsert(a);
    renderQueue();
    alarmUpdate();
    if (S.card && S.card.id === a.id) cardItem(a, true);
  });
  es.addEventListener("reset", () => { loadQueue(); });
  es.onerror = () => {
    if (es !== S.es) return;
    if (es.readyState === EventSource.CLOSED) {
      // A refusal (401, 404, 503): EventSource gives up; try again later, slower each time.
      S.es = null;
      setEs("down");
      es.close();
      clearTimeout(S.esTimer);
      S.esTimer = setTimeout(() => { checkSession().then(() => { if (S.started && !S.es) openStream(); }); }, S.esRetry);
      S.esRetry = Math.min(S.esRetry * 2, STREAM_RETRY_MAX_MS);
    } else {
      setEs("connecting"); // EventSource retries by itself with Last-Event-ID
    }
  };
}

function closeStream() {
  clearTimeout(S.esTimer);
  if (S.es) { S.es.onerror = null; S.es.close(); S.es = null; }
}

async function checkSession() {
  try {
    const j = await api("GET", "/v1/session");
    if (j && j.csrf && S.me) S.me.csrf = j.csrf;
  } catch (e) {
    if (e.status === 401) sessionLost(); // else the banner says the hub is away
  }
}

// ------------------------------------------------------------------ queue data

// One list item in; the queue keeps open and acknowledged alerts.
function upsert(a) {
  if (!a || !a.id) return;
  const had = S.alerts.has(a.id);
  if (a.state === "resolved") {
    S.alerts.delete(a.id);
    S.ackPending.delete(a.id);
  } else {
    S.alerts.set(a.id, a);
    if (a.state !== "open") S.ackPending.delete(a.id);
    if (!had && !S.seen.has(a.id)) {
      S.seen.add(a.id);
      if (S.loaded) announce(a);
    }
  }
}

let loading = null;
async function loadQueue() {
  if (loading) return loading;
  const started = now();
  loading = (async () => {
    try {
      const j = await api("GET", "/v1/alerts"); // the queue: open and acknowledged
      const list = Array.isArray(j.alerts) ? j.alerts : [];
      const ids = new Set(list.map((a) => a.id));
      for (const a of list) {
        // The stream may have told us something newer while this list was on its way.
        if ((S.touched.get(a.id) || 0) > started) continue;
        upsert(a);
      }
      for (const id of [...S.alerts.keys()]) {
        if (!ids.has(id) && (S.touched.get(id) || 0) <= started) S.alerts.delete(id);
      }
      S.loaded = true;
      S.lastFull = now();
      markUpdate();
      renderQueue();
      alarmUpdate();
      if (S.card && !S.alerts.has(S.card.id)) refreshCard(); // resolved meanwhile: the card shows it
    } catch (_) {
      // The banner says why (hub away, Redis away, session over); the queue stays as it was.
    } finally {
      loading = null;
      paintConn();
    }
  })();
  return loading;
}

function cmpAlerts(a, b) {
  return (SEV_RANK[b.severity] || 0) - (SEV_RANK[a.severity] || 0) || (openedMs(a) || 0) - (openedMs(b) || 0) ||
    (a.id < b.id ? -1 : 1);
}

// ------------------------------------------------------------------ queue view

const rows = new Map(); // id -> {tr, sev, ageT, tag, name, addr, rule, summ, where, count, st}

function makeRow(a) {
  const tr = el("tr");
  tr.tabIndex = 0;
  tr.dataset.alertId = a.id;
  const r = {tr};
  const sevTd = el("td"); r.sev = el("span", "sev"); sevTd.append(r.sev);
  const ageTd = el("td", "age"); r.ageT = el("span"); r.tag = el("span"); ageTd.append(r.ageT, r.tag);
  const subj = el("td", "subj"); r.name = el("b"); r.addr = el("span", "muted small"); subj.append(r.name, r.addr);
  const what = el("td"); r.rule = el("b"); r.summ = el("div", "small"); r.where = el("div", "small muted");
  what.append(r.rule, r.summ, r.where);
  r.count = el("td", "num");
  r.st = el("td", "st");
  tr.append(sevTd, ageTd, subj, what, r.count, r.st);
  tr.addEventListener("click", () => select(a.id));
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(a.id); } });
  rows.set(a.id, r);
  return r;
}

function fillRow(r, a) {
  r.sev.className = "sev sev-" + a.severity;
  setText(r.sev, code("sev_", a.severity));
  setText(r.name, subjectName(a));
  setText(r.addr, a.address || "");
  setText(r.rule, code("rule_", a.rule));
  setText(r.summ, a.summary && a.summary !== a.rule ? a.summary : "");
  setText(r.where, [code("dt_", a.device_type || ""), a.device, place(a.location)].filter(Boolean).join(" · "));
  setText(r.count, a.count || 1);
  const acked = a.state !== "open" || S.ackPending.has(a.id);
  setText(r.st, acked ? code("st_", "acknowledged") + (ackedBy(a) ? " · " + ackedBy(a) : "") : code("st_", "open"));
  r.st.classList.toggle("st-open-tag", !acked);
  r.tr.classList.toggle("st-acknowledged", acked);
  r.tr.classList.toggle("sel", a.id === S.sel);
  r.tr.setAttribute("aria-selected", a.id === S.sel ? "true" : "false");
  tickRow(r, a);
}

function tickRow(r, a) {
  const d = dueOf(a);
  const age = (now() - openedMs(a)) / 1000;
  setText(r.ageT, Number.isFinite(age) ? ageClock(age) : "");
  r.ageT.parentNode.title = d.target ? t("due_ok", targetText(d.target), dur(d.target - d.age)) : "";
  setText(r.tag, d.cls === "over" ? t("over_short") + " +" + ageClock(d.age - d.target) : "");
  r.tag.className = d.cls === "over" ? "late-tag" : "";
  for (const c of ["ok", "soon", "over", "ack"]) r.tr.classList.toggle("due-" + c, d.cls === c);
}

function visibleAlerts() {
  return [...S.alerts.values()].filter((a) => !S.cat || (a.category || "safety") === S.cat).sort(cmpAlerts);
}

function renderQueue() {
  const tb = $("queue"), list = visibleAlerts(), keep = new Set();
  list.forEach((a, i) => {
    const r = rows.get(a.id) || makeRow(a);
    const fresh = !r.tr.isConnected && S.loaded && now() - openedMs(a) < 120000 && !r.shown;
    fillRow(r, a);
    keep.add(a.id);
    if (tb.children[i] !== r.tr) tb.insertBefore(r.tr, tb.children[i] || null);
    if (fresh) { r.tr.classList.add("fresh"); setTimeout(() => r.tr.classList.remove("fresh"), 3500); }
    r.shown = true;
  });
  for (const [id, r] of rows) if (!keep.has(id)) { r.tr.remove(); rows.delete(id); }
  setText($("queue-count"), "(" + list.length + ")");
  setText($("nav-count"), S.alerts.size ? "(" + S.alerts.size + ")" : "");
  $("queue-empty").hidden = list.length > 0;
  paintTitle();
}

function tickQueue() {
  for (const [id, r] of rows) { const a = S.alerts.get(id); if (a) tickRow(r, a); }
}

function announce(a) {
  setText($("announce"), t("announce_new", subjectName(a), code("rule_", a.rule), code("sev_", a.severity)));
  if (a.severity === "high" && a.state === "open") {
    playChime();
    desktopNote(a, false);
  }
}

// ------------------------------------------------------------------ the alarm

// Sounds are made here (no file, no network): a WAV in memory for the <audio>
// elements, with Web Audio beeps if the page may not play a blob.
function wavBlob(tones, rate) {
  let n = 0;
  for (const [, ms] of tones) n += Math.round(rate * ms / 1000);
  const buf = new ArrayBuffer(44 + n * 2), v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + n * 2, true); str(8, "WAVE"); str(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true); str(36, "data");
  v.setUint32(40, n * 2, true);
  let o = 44;
  for (const [hz, ms] of tones) {
    const len = Math.round(rate * ms / 1000), fade = Math.max(1, Math.min(len / 2, rate * 0.006));
    for (let i = 0; i < len; i++) {
      const env = Math.min(1, i / fade, (len - i) / fade), x = 2 * Math.PI * hz * i / rate;
      const s = hz ? (Math.sin(x) + 0.3 * Math.sin(3 * x)) * 0.55 * env : 0;
      v.setInt16(o, Math.max(-1, Math.min(1, s)) * 32767, true);
      o += 2;
    }
  }
  return new Blob([buf], {type: "audio/wav"});
}

const ALARM_TONES = [[988, 170], [0, 60], [740, 170], [0, 60], [988, 170], [0, 60], [740, 170], [0, 800]];
const CHIME_TONES = [[660, 140], [0, 40], [880, 260]];
const AL = {media: true, ctx: null, timer: 0, mode: "", flash: false};

function soundsInit() {
  const a = $("alarm"), c = $("chime");
  try {
    a.src = URL.createObjectURL(wavBlob(ALARM_TONES, 16000));
    c.src = URL.createObjectURL(wavBlob(CHIME_TONES, 16000));
  } catch (_) { AL.media = false; }
  a.addEventListener("error", () => { AL.media = false; if (AL.mode === "audio" || AL.mode === "starting") startSound(); });
  a.addEventListener("playing", () => setAlarmMode("audio"));
}

function setAlarmMode(m) {
  AL.mode = m;
  document.body.dataset.alarm = m;
  $("sound-btn").hidden = m !== "blocked";
}

function wantAlarm() {
  return [...S.alerts.values()].filter((a) => a.severity === "critical" && a.state === "open" && !S.ackPending.has(a.id))
    .sort(cmpAlerts);
}

function startSound() {
  if (AL.media) {
    const a = $("alarm");
    if (!a.paused) return;
    AL.mode = AL.mode || "starting";
    a.play().then(() => setAlarmMode("audio")).catch((e) => {
      if (e && e.name === "NotAllowedError") setAlarmMode("blocked");
      else { AL.media = false; startSound(); }
    });
    return;
  }
  try {
    if (!AL.ctx) AL.ctx = new (window.AudioContext || window.webkitAudioContext)();
    const go = () => {
      if (AL.ctx.state !== "running") { setAlarmMode("blocked"); return; }
      if (!AL.timer) { beeps(); AL.timer = setInterval(beeps, 1600); }
      setAlarmMode("webaudio");
    };
    if (AL.ctx.state === "running") go(); else AL.ctx.resume().then(go, go);
  } catch (_) { setAlarmMode("blocked"); }
}

function beeps() {
  const ctx = AL.ctx, t0 = ctx.currentTime + 0.02;
  [988, 740, 988, 740].forEach((hz, i) => {
    const o = ctx.createOscillator(), g = ctx.createGain();
    o.type = "square"; o.frequency.value = hz;
    g.gain.setValueAtTime(0.0001, t0 + i * 0.23);
    g.gain.exponentialRampToValueAtTime(0.25, t0 + i * 0.23 + 0.01);
    g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.23 + 0.17);
    o.connect(g).connect(ctx.destination);
    o.start(t0 + i * 0.23); o.stop(t0 + i * 0.23 + 0.18);
  });
}

function stopSound() {
  const a = $("alarm");
  if (!a.paused) a.pause();
  try { a.currentTime = 0; } catch (_) { /* not loaded */ }
  clearInterval(AL.timer);
  AL.timer = 0;
  if (AL.mode) setAlarmMode("");
}

function playChime() {
  const c = $("chime");
  if (AL.media) { c.currentTime = 0; c.play().catch(() => {}); }
}

// Sounds while any critical alert is open and nobody has acknowledged it.
function alarmUpdate() {
  const crit = S.started ? wantAlarm() : [];
  const bar = $("alarm-bar"), items = $("alarm-items");
  // Rebuilt only when the set changes, so a focused button keeps its focus.
  const sig = S.lang + crit.map((a) => a.id + "/" + subjectName(a)).join("|");
  if (items._sig !== sig) {
    items._sig = sig;
    items.replaceChildren();
    for (const a of crit) {
      const it = el("span", "item");
      const b = el("button", "needs-operator", t("ack_short"));
      b.type = "button";
      b.addEventListener("click", (e) => { e.stopPropagation(); doAck(a.id, $("alarm-msg")); });
      const open = el("a", "", subjectName(a) + " · " + code("rule_", a.rule));
      open.href = "#";
      open.style.color = "inherit";
      open.addEventListener("click", (e) => { e.preventDefault(); showView("queue"); select(a.id); });
      it.append(open, b);
      items.append(it);
    }
  }
  for (const a of crit) desktopNote(a, true);
  bar.hidden = crit.length === 0;
  if (!crit.length) setText($("alarm-msg"), "");
  for (const [id, n] of S.notes) {
    if (!crit.some((a) => a.id === id) && n.requireInteraction) { n.close(); S.notes.delete(id); }
  }
  document.body.dataset.notifications = String(S.notes.size);
  if (crit.length) startSound(); else stopSound();
  paintTitle();
}

function desktopNote(a, critical) {
  if (!("Notification" in window) || Notification.permission !== "granted" || S.notes.has(a.id)) return;
  try {
    const n = new Notification(t(critical ? "notif_title" : "notif_high", subjectName(a)), {
      body: [code("rule_", a.rule), a.summary, a.address].filter(Boolean).join("\n"),
      tag: "carehub-" + a.id, requireInteraction: critical, renotify: true,
    });
    n.onclick = () => { window.focus(); showView("queue"); select(a.id); };
    S.notes.set(a.id, n);
  } catch (_) { /* some platforms allow notifications only from a service worker */ }
}

function paintNotifyBtn() {
  const b = $("notify-btn");
  b.hidden = !("Notification" in window) || Notification.permission !== "default" || !S.started;
}

function paintTitle() {
  const open = [...S.alerts.values()].filter((a) => a.state === "open").length;
  const base = (open ? "(" + open + ") " : "") + t("app");
  const crit = S.started ? wantAlarm() : [];
  const title = crit.length && AL.flash ? t("title_flash", subjectName(crit[0]) + " " + code("rule_", crit[0].rule)) : base;
  if (document.title !== title) document.title = title;
  document.body.classList.toggle("flash", !!crit.length && AL.flash);
}

async function doAck(id, statusEl) {
  try {
    await api("POST", "/v1/alerts/" + enc(id) + "/ack", {});
    S.ackPending.set(id, now());
    if (statusEl) { setText(statusEl, t("acked_sent")); statusEl.className = "status-line ok"; }
    renderQueue();
    alarmUpdate();
    if (S.card && S.card.id === id) refreshCard();
  } catch (e) {
    if (statusEl) { setText(statusEl, t("write_failed", e.message)); statusEl.className = "status-line err"; }
  }
}

// ------------------------------------------------------------------ session

function showLogin(msg) {
  $("login").hidden = false;
  setText($("login-err"), msg || "");
  const n = $("login-name");
  if (!n.value) n.focus(); else $("login-password").focus();
}

function sessionLost() {
  if (!S.me || S.sessionLost) return;
  S.sessionLost = true;
  closeStream();
  setEs("down");
  showLogin(t("banner_session"));
  paintBanner();
}

function signedIn(j) {
  const again = S.started && S.me && S.me.name === j.name;
  S.me = j;
  S.tz = j.timezone || undefined;
  S.sessionLost = false;
  fmts.clear();
  document.body.classList.remove("role-viewer", "role-operator", "role-admin");
  document.body.classList.add("role-" + (j.role === "admin" || j.role === "operator" ? j.role : "viewer"));
  setText($("me"), j.name + " · " + code("role_", j.role));
  $("login").hidden = true;
  $("login-password").value = "";
  setText($("login-err"), "");
  if (S.started && !again) stopAll();
  if (!S.started) {
    S.started = true;
    loadDrafts();
    loadQueue();
    loadSubjects();
    if (S.view === "silences") loadSilences();
  } else {
    loadQueue();
    refreshCard();
  }
  openStream();
  paintNotifyBtn();
  paintConn();
}

async function submitLogin(ev) {
  ev.preventDefault();
  const name = $("login-name").value.trim(), password = $("login-password").value;
  if (!name || !password) return;
  $("login-submit").disabled = true;
  try {
    signedIn(await api("POST", "/v1/session", {name, password}));
  } catch (e) {
    setText($("login-err"), e.status === 401 ? t("login_bad") : e.status === 429 ? t("login_limited")
      : e.status === 0 ? t("login_offline") : t("login_failed", e.message));
  } finally {
    $("login-submit").disabled = false;
  }
}

// Everything that belonged to the signed-in operator goes; the page stays.
function stopAll() {
  closeStream();
  S.started = false;
  S.alerts.clear(); S.touched.clear(); S.seen.clear(); S.ackPending.clear(); S.loaded = false;
  for (const n of S.notes.values()) n.close();
  S.notes.clear();
  for (const r of rows.values()) r.tr.remove();
  rows.clear();
  S.sel = null;
  closeCard();
  clearDrafts();
  renderQueue();
  alarmUpdate();
  setEs("down");
}

async function logout() {
  try { await api("DELETE", "/v1/session"); } catch (_) { /* the cookie goes either way */ }
  stopAll();
  S.me = null;
  setText($("me"), "");
  showLogin();
  paintConn();
}

async function boot() {
  try {
    signedIn(await api("GET", "/v1/session"));
  } catch (e) {
    if (e.status === 401) showLogin();
    else { showLogin(e.status === 0 ? t("login_offline") : t("login_failed", e.message)); setTimeout(retryBoot, POLL_MS); }
  }
}

function retryBoot() { if (!S.me) boot(); }

// ------------------------------------------------------------------ loops

async function pollLoop() {
  if (S.started && !S.sessionLost) {
    const live = S.esState === "open";
    if (!live || now() - S.lastFull >= RECONCILE_MS) await loadQueue();
    if (!live && !S.es && !S.esTimer) openStream();
  }
  setTimeout(pollLoop, POLL_MS);
}

async function healthLoop() {
  try {
    const r = await fetch("/healthz", {cache: "no-store"});
    noteSkew(r);
    hubState(r.status === 503 ? "store" : "ok");
  } catch (_) {
    hubState("offline");
  }
  setTimeout(healthLoop, HEALTH_MS);
}

function tick() {
  AL.flash = !AL.flash;
  setText($("clock"), clock(now(), S.tz) + " " + zoneName(S.tz));
  tickQueue();
  tickCard();
  tickSince(document);
  paintBanner();
  paintTitle();
  // An acknowledgement the hub took but never showed: sound again.
  for (const [id, at] of S.ackPending) {
    if (now() - at > ACK_GRACE_MS) { S.ackPending.delete(id); alarmUpdate(); }
  }
}

// Elements that say "3 分钟前" / "2 分 10 秒后" keep counting.
function tickSince(root) {
  for (const e of root.querySelectorAll("[data-since-ms]")) {
    setText(e, t("ago", dur((now() - Number(e.dataset.sinceMs)) / 1000)));
  }
  for (const e of root.querySelectorAll("[data-due-ms]")) {
    const left = (Number(e.dataset.dueMs) - now()) / 1000;
    setText(e, left > 0 ? t("in", dur(left)) : t("plan_overdue"));
  }
}

// ------------------------------------------------------------------ navigation and keys

function showView(v) {
  S.view = v;
  for (const id of ["queue", "subjects", "silences"]) {
    $("v-" + id).hidden = id !== v;
    const b = $("nav-" + id);
    if (id === v) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  if (v === "silences" && S.started) loadSilences();
  if (v === "subjects") $("subj-q").focus();
}

function moveSel(step) {
  const list = visibleAlerts();
  if (!list.length) return;
  let i = list.findIndex((a) => a.id === S.sel);
  i = i < 0 ? 0 : Math.max(0, Math.min(list.length - 1, i + step));
  select(list[i].id);
  const r = rows.get(list[i].id);
  if (r) r.tr.focus();
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || !S.started || !$("login").hidden) return;
  const tag = (e.target && e.target.tagName) || "";
  if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag)) { if (e.key === "Escape") e.target.blur(); return; }
  const k = e.key;
  if (k === "j" || k === "ArrowDown") { if (S.view === "queue") { e.preventDefault(); moveSel(1); } }
  else if (k === "k" || k === "ArrowUp") { if (S.view === "queue") { e.preventDefault(); moveSel(-1); } }
  else if ((k === "a" || k === "A") && S.view === "queue" && S.sel && S.me && S.me.role !== "viewer") {
    const a = S.alerts.get(S.sel);
    if (a && a.state === "open") { e.preventDefault(); doAck(a.id, S.card && S.card.actStatus); }
  } else if (k === "/") { e.preventDefault(); showView("subjects"); }
  else if (k === "1") showView("queue");
  else if (k === "2") showView("subjects");
  else if (k === "3") showView("silences");
}

function setLang(l) {
  S.lang = l === "en" ? "en" : "zh";
  localStorage.setItem("carehub.lang", S.lang);
  document.documentElement.lang = S.lang === "en" ? "en" : "zh-CN";
  fmts.clear();
  applyLang();
  for (const [id, r] of rows) { const a = S.alerts.get(id); if (a) fillRow(r, a); }
  if (S.me) setText($("me"), S.me.name + " · " + code("role_", S.me.role));
  relabelViews();
  alarmUpdate();
  paintConn();
}

function wire() {
  $("login-form").addEventListener("submit", submitLogin);
  $("logout-btn").addEventListener("click", logout);
  const flip = () => setLang(S.lang === "en" ? "zh" : "en");
  $("lang-btn").addEventListener("click", flip);
  $("login-lang").addEventListener("click", flip);
  for (const b of document.querySelectorAll("#top nav button")) b.addEventListener("click", () => showView(b.dataset.view));
  for (const b of document.querySelectorAll(".chips button")) {
    b.addEventListener("click", () => {
      S.cat = b.dataset.cat;
      for (const x of document.querySelectorAll(".chips button")) x.setAttribute("aria-pressed", x === b ? "true" : "false");
      renderQueue();
    });
  }
  $("sound-btn").addEventListener("click", () => { if (wantAlarm().length) startSound(); });
  $("notify-btn").addEventListener("click", () => {
    Notification.requestPermission().then(() => { paintNotifyBtn(); alarmUpdate(); });
  });
  // Browsers let a page make sound only after the person has used it: any click or key
  // starts an alarm the browser held back.
  const unblock = () => { if (AL.mode === "blocked" && wantAlarm().length) { AL.mode = ""; startSound(); } };
  document.addEventListener("pointerdown", unblock, true);
  document.addEventListener("keydown", unblock, true);
  document.addEventListener("keydown", onKey);
  window.addEventListener("storage", (e) => { if (e.key === "carehub.lang" && e.newValue && e.newValue !== S.lang) setLang(e.newValue); });
}

function main() {
  document.documentElement.lang = S.lang === "en" ? "en" : "zh-CN";
  applyLang();
  soundsInit();
  wire();
  buildViews();
  paintConn();
  tick();
  setInterval(tick, 1000);
  setTimeout(pollLoop, POLL_MS);
  healthLoop();
  boot();
}
