/*
 * care.c - scheduled check-in calls in the correlator's thread: due slots
 * claimed from Redis, the decision (checkin.c) made on what the hub knows of
 * the person (engine state: away, silenced; aggregates: last sign of life;
 * the self contact: number, quiet hours), the call queued in the outbox, and
 * answers turned into the event that ends a slot.
 *
 * Exactly one call per slot and try: the decision is written back only if
 * the state is still what was claimed, and the call's own guard key in Redis
 * is set with the job in the same script (store_care.lua), so neither a
 * second hub nor a restart between the decision and the call queues it twice.
 */
#include "care_int.h"
#include "alerts.h"
#include "checkin.h"
#include "clock.h"
#include "engine.h"
#include "log.h"
#include "runtime.h"
#include "store_care.h"
#include "tz.h"

#include <stdlib.h>
#include <string.h>

#define CLAIM_MAX 128
#define LEASE_MS 2000
#define ROUNDS 4 /* compare-and-set attempts before an answer waits for the next replay */

int ch_care_new(const struct ch_store_opts *so, const char *actor, struct ch_care **out, char *err, size_t errlen)
{
	struct ch_care *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return CH_ENOMEM;
	c->actor = ch_strdup(actor ? actor : "carehubd");
	rc = ch_store_open(so, &c->store, err, errlen);
	if ((rc && rc != CH_EAGAIN) || !c->actor) {
		ch_store_close(c->store);
		free(c->actor);
		free(c);
		return rc ? rc : CH_ENOMEM;
	}
	*out = c;
	return 0;
}

void ch_care_free(struct ch_care *c)
{
	if (!c)
		return;
	ch_store_close(c->store);
	for (size_t i = 0; i < c->capcache; i++)
		free(c->cache[i].sid);
	free(c->cache);
	free(c->obs);
	free(c->actor);
	free(c);
}

int ch_care_check(const struct ch_runtime *rt, char *err, size_t errlen)
{
	for (size_t i = 0; i < ch_registry_count(rt->reg); i++) {
		const struct ch_subject *s = ch_registry_at(rt->reg, i);
		if (s->check_in && !ch_runtime_channel(rt, s->check_in->channel)) {
			ch_fmt(err, errlen, "%s: subject %s: check_in.channel \"%s\" is not configured, expected one of the "
					    "names under channels",
			       rt->cfg->registry.file, s->id, s->check_in->channel);
			return CH_ECONFIG;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* What the hub knows of the person                                    */
/* ------------------------------------------------------------------ */

/* The person's own contact (role self), or NULL: then the subject's phone. */
static const struct ch_contact *self_contact(const struct ch_subject *s)
{
	for (size_t i = 0; i < s->ncontacts; i++) {
		if (strcmp(s->contacts[i].role, "self") == 0)
			return &s->contacts[i];
	}
	return NULL;
}

static const char *self_phone(const struct ch_subject *s)
{
	const struct ch_contact *ct = self_contact(s);

	return ct && ct->phone && *ct->phone ? ct->phone : s->phone ? s->phone : "";
}

static const struct ch_tz *zone_of(const struct ch_runtime *rt, const struct ch_subject *s)
{
	const struct ch_tz *tz = NULL;

	if (ch_tz_get(ch_runtime_zone(rt, s), &tz, NULL, 0))
		tz = NULL; /* UTC rather than no check-in at all */
	return tz;
}

static void context(const struct ch_runtime *rt, const struct ch_subject *s, const struct ch_checkin_due *d,
		    const struct ch_tz *tz, int64_t now, struct ch_checkin_ctx *cx)
{
	const struct ch_contact *ct = self_contact(s);
	struct ch_trend_live live;
	struct ch_sstate st;
	int a, b;

	memset(cx, 0, sizeof(*cx));
	cx->reachable = ch_runtime_channel(rt, s->check_in->channel) && *self_phone(s);
	if (d->live && ch_trend_live_decode(d->live, d->livelen, &live) == 0)
		cx->last_active_ms = live.last_active_ms;
	if (d->eng && ch_sstate_decode(&st, d->eng, d->englen) == 0) {
		cx->away = st.away != CH_HOME;
		for (size_t i = 0; i < st.nsil; i++)
			cx->silenced |= st.sil[i].kind == CH_SIL_SUBJECT && st.sil[i].until_ms > now;
		ch_sstate_clear(&st);
	}
	if (ct && ct->quiet_hours && ch_parse_daywindow(ct->quiet_hours, &a, &b) == 0) {
		const struct ch_tz *ctz = tz;
		if (ct->timezone && ch_tz_get(ct->timezone, &ctz, NULL, 0))
			ctz = tz;
		cx->quiet = ch_tz_in_window(ctz, a, b, now);
	}
}

/* The outbox job of one call: like an alert step's, with the check-in instead of an alert. */
static char *call_job(const struct ch_subject *s, const struct ch_checkin_state *st, int try_no, const char *key)
{
	const char *phone = self_phone(s);
	char cid[9];
	json_t *j;
	char *out;

	ch_alert_contact_id("self", phone, cid);
	j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s, s:s, s:i}, s:{s:s, s:i, s:I}}", "sid", s->id, "alert",
		      key, "key", key, "channel", s->check_in->channel, "step", 0, "cid", cid, "contact", "name", s->name,
		      "phone", phone, "role", "self", "order", 0, "checkin", "slot", st->slot, "try", try_no, "due_ms",
		      (json_int_t)st->due_ms);
	out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return out;
}

/* ------------------------------------------------------------------ */
/* The tick                                                            */
/* ------------------------------------------------------------------ */

/*
 * After a start or a reload every subject with check-ins is due now: a new
 * block gets its first slot, a changed one the next slot of the new schedule
 * (not the old one's, hours away), the others are written back as they were.
 */
static void arm(struct ch_care *c, const struct ch_runtime *rt, int64_t now)
{
	size_t n = ch_registry_count(rt->reg), k = 0;
	const char **sids = calloc(n ? n : 1, sizeof(*sids));
	char err[256];

	if (!sids)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct ch_subject *s = ch_registry_at(rt->reg, i);
		if (s->check_in) {
			sids[k++] = s->id;
			if (!ch_runtime_channel(rt, s->check_in->channel))
				ch_log(CH_LOG_ERROR, "check-ins of %s: channel %s is not configured; no calls until it is",
				       s->id, s->check_in->channel);
		}
	}
	for (size_t off = 0; off < k; off += 512) {
		if (ch_store_checkin_arm(c->store, sids + off, k - off < 512 ? k - off : 512, now, err, sizeof(err))) {
			ch_log_rl("checkin-arm", 10000, CH_LOG_WARN, "check-ins: %s; will retry", err);
			free(sids);
			return;
		}
	}
	if (k)
		ch_log(CH_LOG_INFO, "check-ins: %zu subjects have scheduled calls", k);
	c->armed_generation = rt->generation;
	free(sids);
}

static bool push_msg(struct ch_msg **msgs, size_t *n, char *payload, int64_t now)
{
	struct ch_msg *m = realloc(*msgs, (*n + 1) * sizeof(*m));

	if (!m || !payload) {
		free(payload);
		if (m)
			*msgs = m;
		return false;
	}
	*msgs = m;
	m[*n] = (struct ch_msg){.topic = ch_strdup(CH_CHECKIN_TOPIC), .payload = payload, .len = strlen(payload),
				.orig_len = strlen(payload), .arrival_ms = now};
	if (!m[*n].topic) {
		ch_msg_clear(&m[*n]);
		return false;
	}
	(*n)++;
	return true;
}

/* One due subject: the decision, written back (with the call) or handed on as an answer. */
static void tick_one(struct ch_care *c, const struct ch_runtime *rt, struct ch_checkin_due *d, int64_t now,
		     struct ch_msg **msgs, size_t *nmsgs, bool *jobs)
{
	const struct ch_subject *s = ch_registry_subject(rt->reg, d->sid);
	struct ch_checkin_step step;
	struct ch_checkin_ctx cx;
	const struct ch_tz *tz;
	char key[CH_CHECKIN_KEY_MAX], guard[32], err[256];
	char *job = NULL;
	bool applied, queued;
	int rc;

	if (!s || !s->check_in) {
		/* No longer in the registry, or no check-ins any more: the schedule goes. */
		if (ch_store_checkin_put(c->store, d->sid, &d->st, &d->st, true, NULL, NULL, &applied, &queued, err,
					 sizeof(err)))
			ch_log_rl("checkin-put", 10000, CH_LOG_WARN, "check-ins: %s", err);
		return;
	}
	tz = zone_of(rt, s);
	context(rt, s, d, tz, now, &cx);
	ch_checkin_tick(s->check_in, tz, &d->st, &cx, now, &step);
	if (step.what == CH_CI_ANSWER) {
		struct ch_checkin_answer a = {0};
		ch_strlcpy(a.sid, s->id, sizeof(a.sid));
		ch_strlcpy(a.slot, d->st.slot, sizeof(a.slot));
		a.try_no = strcmp(step.outcome, "skipped") == 0 ? 0 : d->st.tries;
		ch_strlcpy(a.outcome, step.outcome, sizeof(a.outcome));
		ch_strlcpy(a.via, "hub", sizeof(a.via));
		ch_strlcpy(a.detail, step.reason, sizeof(a.detail));
		if (!push_msg(msgs, nmsgs, ch_checkin_answer_json(&a), now))
			ch_log(CH_LOG_ERROR, "check-in %s %s: out of memory; again after the lease", s->id, d->st.slot);
		return;
	}
	if (step.what == CH_CI_CALL) {
		if (ch_checkin_key(s->id, step.next.slot, step.try_no, key, sizeof(key)) ||
		    !(job = call_job(s, &step.next, step.try_no, key))) {
			ch_log(CH_LOG_ERROR, "check-in %s %s: cannot build the call; again after the lease", s->id,
			       step.next.slot);
			return;
		}
		ch_fmt(guard, sizeof(guard), "%s%s", step.next.slot, step.try_no > 1 ? ":retry" : "");
	}
	rc = ch_store_checkin_put(c->store, s->id, &d->st, &step.next, false, job, step.what == CH_CI_CALL ? guard : NULL,
				  &applied, &queued, err, sizeof(err));
	if (rc)
		ch_log_rl("checkin-put", 10000, CH_LOG_WARN, "check-in %s: %s; again after the lease", s->id, err);
	else if (!applied)
		ch_log(CH_LOG_DEBUG, "check-in %s: moved on meanwhile (another hub)", s->id);
	else if (step.what == CH_CI_CALL) {
		ch_log(CH_LOG_INFO, "check-in %s %s: call %d %s on %s", s->id, step.next.slot, step.try_no,
		       queued ? "queued" : "was queued before", s->check_in->channel);
		*jobs = *jobs || queued;
	} else if (strcmp(step.next.slot, d->st.slot) != 0) {
		char when[40];
		ch_tz_format(tz, step.next.due_ms, when, sizeof(when));
		ch_log(CH_LOG_INFO, "check-in %s: next call %s (%s)", s->id, when, step.next.slot);
	}
	free(job);
}

size_t ch_care_tick(struct ch_care *c, int64_t now_ms, struct ch_msg **msgs, size_t *nmsgs, bool *jobs)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct ch_checkin_due *d = NULL;
	size_t n = 0;
	char err[256];

	*msgs = NULL;
	*nmsgs = 0;
	*jobs = false;
	if (!rt)
		return 0;
	if (rt->generation != c->armed_generation)
		arm(c, rt, now_ms);
	if (ch_store_checkin_claim(c->store, now_ms, LEASE_MS, CLAIM_MAX, &d, &n, err, sizeof(err))) {
		ch_log_rl("checkin-claim", 10000, CH_LOG_WARN, "check-ins: %s", err);
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		tick_one(c, rt, &d[i], now_ms, msgs, nmsgs, jobs);
	ch_checkin_due_free(d, n);
	care__digest_tick(c, rt, now_ms, jobs);
	ch_runtime_release(rt);
	return n;
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

/* "I am well" reached the person: the open check_in_missed alert is over. */
static char *resolve_doc(const struct ch_subject *s, const char *alert, const struct ch_checkin_answer *a,
			 const char *value)
{
	char by[120], note[160];
	json_t *j;
	char *out;

	ch_fmt(by, sizeof(by), "%.90s (self)", s->name);
	ch_fmt(note, sizeof(note), "answered the check-in call of %s: %s", a->slot,
	       strcmp(value, "well") == 0 ? "well" : "needs help");
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alert", alert, "action", "resolve", "by", by, "outcome",
		      "activity_resumed", "note", note, "via", a->via[0] ? a->via : "checkin");
	out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return out;
}

/* The event of a slot that is over already (a replayed answer): the same again, counted once by its id. */
static bool replay_result(const struct ch_checkin_conf *conf, const struct ch_checkin_state *st,
			  const struct ch_checkin_answer *a, struct ch_checkin_result *r)
{
	if (!st->last_slot[0] || strcmp(st->last_slot, a->slot) != 0 || !st->last[0])
		return false;
	memset(r, 0, sizeof(*r));
	r->final = true;
	ch_strlcpy(r->value, st->last, sizeof(r->value));
	r->missed = st->missed;
	r->alert = strcmp(st->last, "missed") == 0 && conf->alert_after_missed > 0 && st->missed >= conf->alert_after_missed;
	r->reached = strcmp(st->last, "well") == 0 || strcmp(st->last, "needs_help") == 0;
	return true;
}

int ch_care_answer(struct ch_care *c, const struct ch_runtime *rt, const char *payload, size_t len, int64_t now_ms,
		   const struct ch_subject **subj, char **event, char **resolve, char *err, size_t errlen)
{
	struct ch_checkin_answer a;
	struct ch_checkin_result r = {0};
	struct ch_checkin_state st;
	const struct ch_subject *s;
	char open_alert[CH_ID_MAX], e2[256];
	bool applied = false, queued;
	int rc, round;

	*subj = NULL;
	*event = *resolve = NULL;
	if ((rc = ch_checkin_answer_parse(payload, len, &a, err, errlen)))
		return rc;
	if (!(s = ch_registry_subject(rt->reg, a.sid)) || !s->check_in) {
		ch_fmt(err, errlen, "check-in answer for %s, which has no check-ins", a.sid);
		return CH_EINVAL;
	}
	*subj = s;
	for (round = 0; round < ROUNDS && !applied; round++) {
		if ((rc = ch_store_checkin_get(c->store, s->id, &st, open_alert, sizeof(open_alert), err, errlen)))
			return rc;
		ch_checkin_apply(s->check_in, zone_of(rt, s), &st, &a, now_ms, &r);
		if (r.stale) {
			if (!replay_result(s->check_in, &st, &a, &r)) {
				ch_log(CH_LOG_INFO, "check-in %s %s: %s (try %d) comes too late; nothing changes", s->id, a.slot,
				       a.outcome, a.try_no);
				return 0;
			}
			break;
		}
		if ((rc = ch_store_checkin_put(c->store, s->id, &st, &r.next, false, NULL, NULL, &applied, &queued, e2,
					       sizeof(e2)))) {
			ch_strlcpy(err, e2, errlen);
			return rc;
		}
	}
	if (!r.stale && !applied) {
		ch_fmt(err, errlen, "check-in %s: the state kept moving", s->id);
		return CH_EAGAIN;
	}
	if (!r.final) {
		ch_log(CH_LOG_INFO, "check-in %s %s: %s on call %d (%s); one retry in %lld s", s->id, a.slot, a.outcome,
		       a.try_no, a.detail[0] ? a.detail : a.via, (long long)(s->check_in->retry_after_ms / 1000));
		return 0;
	}
	if (!r.stale)
		ch_log(CH_LOG_INFO, "check-in %s %s: %s%s%s (%d missed in a row)", s->id, a.slot, r.value,
		       a.detail[0] ? ": " : "", a.detail, r.missed);
	*event = ch_checkin_event_json(&a, &r, now_ms);
	if (r.reached && open_alert[0])
		*resolve = resolve_doc(s, open_alert, &a, r.value);
	if (!*event || (r.reached && open_alert[0] && !*resolve)) {
		free(*event);
		free(*resolve);
		*event = *resolve = NULL;
		ch_fmt(err, errlen, "out of memory");
		return CH_ENOMEM;
	}
	return 0;
}
