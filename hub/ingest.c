/*
 * ingest.c - the correlator thread.
 */
#include "ingest.h"
#include "adapters.h"
#include "fleet.h"
#include "hass.h"
#include "alerts.h"
#include "backoff.h"
#include "care.h"
#include "checkin.h"
#include "clock.h"
#include "control.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "tz.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Events without an id get one from the journal; remembering those only has to
 * cover a replay after a crash, not a day. */
#define IMPLICIT_ID_TTL_MS (3600 * 1000)
/* Dead letters keep this much of a payload: enough to see what was sent. */
#define DEADLETTER_KEEP 4096
/* A claimed timer comes due again after this if its hub dies meanwhile. */
#define TIMER_LEASE_MS 2000
#define TIMER_POLL_MS 250
#define TIMER_CLAIM_MAX 128
/* Compare-and-set rounds before a batch is left to the journal's replay. */
#define MAX_ROUNDS 16
/* Engine states kept in memory; past this the cache starts over (Redis has them all). */
#define CACHE_MAX (1u << 17)

/* A subject's engine state as last read from or written to Redis. */
struct cache_ent {
	char *sid;
	long long version;
	struct ch_sstate st;
};

struct cache {
	struct cache_ent *t; /* open addressing; sid NULL = free */
	size_t cap, n;
};

/* One subject's share of a batch (or a due timer), evaluated and sent as one group. */
struct group {
	const struct ch_subject *subj;
	const struct ch_tz *tz;
	bool done;
	bool tick;     /* a due timer, no events */
	bool orphan;   /* a timer of a subject no longer in the registry */
	struct ch_sstate work;
	struct ch_actions *acts; /* malloc'ed on evaluation: 30 KB, most of it never touched */
	struct ch_store_action sacts[CH_ENGINE_MAX_ACTIONS + 8];
	size_t nsacts;
	char *docs[CH_ENGINE_MAX_ACTIONS];
	char *jobs[CH_ENGINE_MAX_ACTIONS];
	char *renots[CH_ENGINE_MAX_ACTIONS];
	struct ch_store_event *sevs;
	size_t nsev;
	uint8_t *blob;
	size_t bloblen;
	int64_t deadline;
	char sid[CH_DEVICE_MAX];
};

struct ch_ingest {
	struct ch_ingest_opts o;
	struct ch_journal *_Atomic journal;
	struct ch_store *store;
	char *actor;
	pthread_t thread;
	atomic_bool running;
	int64_t stop_deadline;
	uint64_t rnd;
	/* Per-batch scratch, sized for the batch and reused; grows when adapters
	 * turn one message into several events. */
	struct slot *slots;
	struct ch_dead_letter *dls; /* 2 * cap: a refusal and a store error per slot at worst */
	size_t cap;
	struct cache cache;
	/* Timers wait until the broker's backlog has drained: the sync marker the
	 * hub publishes to itself after (re)connecting comes back behind it. */
	atomic_bool timers_open;
	atomic_bool redis_ok; /* the last Redis call succeeded */
	atomic_uint_fast64_t sync_nonce;
	int64_t next_timer_poll; /* monotonic */
	uint64_t boot_generation; /* registry generation whose subjects all have a state */
	struct ch_care *care; /* check-in calls and daily aggregates (care.h) */
};

/*
 * Per-event scratch kept alive until the batch is applied.  A message gives
 * one slot (a canonical event, or a rejection) or, through an adapter, several.
 */
struct slot {
	const struct ch_msg *m;
	bool ok;
	enum ch_reject why; /* when !ok and rejected */
	bool rejected;
	char detail[256];
	struct ch_event ev;
	const struct ch_subject *subj;
	const struct ch_device *dev;
	size_t group;
	bool dup; /* seen before: skipped */
	bool silence; /* a silence (CH_TOPIC_SILENCES), not an event */
	enum ch_silence_kind sil_kind;
	char sil_target[CH_DEVICE_MAX];
	int64_t sil_until;
	char *sil_doc; /* what the store keeps about it */
	bool ack;      /* an acknowledgement or resolve (CH_TOPIC_ACKS) */
	enum ch_ack_action ack_action;
	char ack_alert[CH_ID_MAX];
	char ack_key[160]; /* the alert's key, read from Redis before evaluation */
	char ack_by[101];
	char ack_outcome[32];
	char ack_text[800];
	char *ack_info;     /* note, via, account, role (control.h ch_control_ack_info); malloc'ed */
	char ack_told[80];  /* undelivered: the told entry to fall back from */
	char *ack_jobs;     /* undelivered: the fallback job, as a JSON array; malloc'ed */
	char dedup[CH_ID_MAX + 32];
	char health[32];        /* a battery level or availability, for the device-health view */
	const char *event_json; /* the payload, or owned_json */
	char *owned_json;       /* an adapter's event, printed */
};

static void slot_clear(struct slot *s)
{
	ch_event_clear(&s->ev);
	free(s->owned_json);
	free(s->sil_doc);
	free(s->ack_jobs);
	free(s->ack_info);
	memset(s, 0, sizeof(*s));
}

/* The next free slot, growing the scratch arrays when a batch needs more. */
static struct slot *next_slot(struct ch_ingest *ig, size_t *ns)
{
	if (*ns == ig->cap) {
		size_t cap = ig->cap * 2;
		struct slot *sl = realloc(ig->slots, cap * sizeof(*sl));
		if (!sl)
			return NULL;
		ig->slots = sl;
		memset(sl + ig->cap, 0, (cap - ig->cap) * sizeof(*sl));
		struct ch_dead_letter *dl = realloc(ig->dls, 2 * cap * sizeof(*dl));
		if (!dl)
			return NULL;
		ig->dls = dl;
		ig->cap = cap;
	}
	struct slot *s = &ig->slots[(*ns)++];
	memset(s, 0, sizeof(*s));
	return s;
}

static void reject(struct slot *s, enum ch_reject why)
{
	s->ok = false;
	s->rejected = true;
	s->why = why;
	atomic_fetch_add(&ch_metrics.rejected[why], 1);
	ch_log_rl(ch_reject_name(why), 10000, CH_LOG_WARN, "rejected message on %s: %s: %s", s->m->topic,
		  ch_reject_name(why), s->detail[0] ? s->detail : "-");
}

/* A silence request (control.c): refused to the dead letters when it does not hold. */
static void prepare_silence(struct ch_runtime *rt, struct slot *s, int64_t now)
{
	struct ch_silence_req q;
	enum ch_reject why;

	if (ch_control_silence(s->m->payload, s->m->len, rt->reg, rt->rules, now, &q, &why, s->detail,
			       sizeof(s->detail))) {
		reject(s, why);
		return;
	}
	/* Only the API's own topic may say which account acted. */
	if (q.account[0] && strcmp(s->m->topic, CH_TOPIC_API_SILENCES) != 0) {
		q.account[0] = q.role[0] = '\0';
		if (ch_control_silence_doc(&q)) {
			ch_fmt(s->detail, sizeof(s->detail), "out of memory");
			reject(s, CH_REJ_OVERFLOW);
			return;
		}
	}
	s->subj = q.subj;
	s->sil_kind = q.kind;
	ch_strlcpy(s->sil_target, q.target, sizeof(s->sil_target));
	s->sil_until = q.until_ms;
	s->sil_doc = q.doc;
	ch_log(CH_LOG_INFO, "silence for %s%s%s until %lld", q.subj->id, q.target[0] ? " " : "", q.target,
	       (long long)q.until_ms);
	s->silence = true;
	s->ok = true;
}

/* An acknowledgement or resolve from a person (control.c); its alert is read later (ack_fetch). */
static void prepare_ack(struct ch_runtime *rt, struct slot *s, const char *payload, size_t len)
{
	struct ch_ack_req q;
	enum ch_reject why;

	if (ch_control_ack(payload, len, rt->reg, &q, &why, s->detail, sizeof(s->detail))) {
		reject(s, why);
		return;
	}
	/* Only the API's own topic may say which account acted. */
	if (strcmp(s->m->topic, CH_TOPIC_API_ACKS) != 0)
		q.account[0] = q.role[0] = '\0';
	if (!(s->ack_info = ch_control_ack_info(&q))) {
		ch_fmt(s->detail, sizeof(s->detail), "out of memory");
		reject(s, CH_REJ_OVERFLOW);
		return;
	}
	s->subj = q.subj;
	s->ack_action = q.action;
	ch_strlcpy(s->ack_alert, q.alert, sizeof(s->ack_alert));
	ch_strlcpy(s->ack_by, q.by, sizeof(s->ack_by));
	ch_strlcpy(s->ack_outcome, q.outcome, sizeof(s->ack_outcome));
	ch_strlcpy(s->ack_text, q.text, sizeof(s->ack_text));
	if (q.undelivered)
		ch_strlcpy(s->ack_told, q.told, sizeof(s->ack_told));
	s->ack = true;
	s->ok = true;
}

/* What a battery or availability event says, for the console's device health. */
static void device_health(struct slot *s)
{
	const struct ch_event *ev = &s->ev;

	s->health[0] = '\0';
	if (strcmp(ev->type, "battery") == 0 && ev->vkind == CH_VAL_NUMBER && ev->vnum >= 0 && ev->vnum <= 100)
		ch_fmt(s->health, sizeof(s->health), "battery:%d", (int)(ev->vnum + 0.5));
	else if (strcmp(ev->type, "availability") == 0 && ev->vkind == CH_VAL_STRING)
		ch_fmt(s->health, sizeof(s->health), "online:%d", strcmp(ev->vstr, "online") == 0);
}

/* What the store script calls each control action. */
static const char *const ack_kinds[] = {[CH_ACK_ACK] = "acknowledged", [CH_ACK_RESOLVE] = "resolved",
					[CH_ACK_ESCALATE] = "escalate", [CH_ACK_NOTE] = "note"};

/*
 * A provider said a notification never arrived: the job to try instead (the
 * step's fallback channel, or the next contact), from the one the contact was
 * told by.  Nothing when the policy has none.
 */
static int undelivered_fallback(struct ch_ingest *ig, struct slot *s, char *err, size_t errlen)
{
	char *told = NULL;
	json_t *job, *next, *arr;
	int rc = ch_store_told_get(ig->store, s->ack_alert, s->ack_told, &told, err, errlen);

	if (rc)
		return rc == CH_EAGAIN ? rc : 0;
	job = json_loads(told, 0, NULL);
	free(told);
	next = job ? ch_alert_next_job(job) : NULL;
	json_decref(job);
	if (!next) {
		ch_log(CH_LOG_INFO, "%s: not delivered, and the policy has no fallback", s->ack_alert);
		return 0;
	}
	arr = json_array();
	json_array_append_new(arr, next);
	free(s->ack_jobs);
	s->ack_jobs = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return 0;
}

/* Reads the alerts that acks name, for their keys; CH_EAGAIN while Redis is away. */
static int ack_fetch(struct ch_ingest *ig, struct slot *slots, size_t ns, char *err, size_t errlen)
{
	for (size_t i = 0; i < ns; i++) {
		struct slot *s = &slots[i];
		char *doc = NULL;
		json_t *j;
		int rc;

		if (!s->ok || !s->ack || s->ack_key[0])
			continue;
		rc = ch_store_alert_get(ig->store, s->ack_alert, &doc, err, errlen);
		if (rc == CH_EAGAIN)
			return rc;
		j = rc ? NULL : json_loads(doc, 0, NULL);
		free(doc);
		if (!json_is_string(json_object_get(j, "key"))) {
			ch_fmt(s->detail, sizeof(s->detail), "ack: no alert %s", s->ack_alert);
			reject(s, CH_REJ_UNKNOWN_DEVICE);
			s->ok = false;
		} else if (json_is_string(json_object_get(j, "state")) &&
			   strcmp(json_string_value(json_object_get(j, "state")), "resolved") == 0) {
			/* Answered twice (two people, a retry): the first one counts. */
			ch_log(CH_LOG_INFO, "ack for %s by %s: already resolved", s->ack_alert, s->ack_by);
			s->ok = false;
		} else {
			ch_strlcpy(s->ack_key, json_string_value(json_object_get(j, "key")), sizeof(s->ack_key));
			if (s->ack_told[0] && (rc = undelivered_fallback(ig, s, err, errlen)) == CH_EAGAIN) {
				s->ack_key[0] = '\0';
				json_decref(j);
				return rc;
			}
		}
		json_decref(j);
	}
	return 0;
}

/* Validates one canonical event and works out what the store must do with it. */
static void prepare_event(struct ch_runtime *rt, struct slot *s, const char *payload, size_t len, int sub)
{
	const struct ch_config *cfg = rt->cfg;
	const struct ch_msg *m = s->m;
	struct ch_event_limits lim = {cfg->limits.max_payload, cfg->limits.max_depth, cfg->limits.future_skew_ms};
	const struct ch_device *dev = NULL;
	enum ch_reject why = CH_REJ_NONE;
	const char *tdev;

	if (ch_event_parse(payload, len, &lim, m->arrival_ms, &s->ev, &why, s->detail, sizeof(s->detail))) {
		reject(s, why);
		return;
	}
	tdev = strncmp(m->topic, CH_TOPIC_EVENTS, strlen(CH_TOPIC_EVENTS)) == 0
		       ? m->topic + strlen(CH_TOPIC_EVENTS)
		       : NULL;
	if (tdev && strcmp(tdev, s->ev.device) != 0) {
		ch_fmt(s->detail, sizeof(s->detail), "topic names device \"%.96s\", payload \"%s\"", tdev, s->ev.device);
		reject(s, CH_REJ_TOPIC_MISMATCH);
		return;
	}
	s->subj = ch_registry_find_device(rt->reg, s->ev.device, &dev);
	if (!s->subj) {
		ch_fmt(s->detail, sizeof(s->detail), "device \"%s\" is not in the registry", s->ev.device);
		reject(s, CH_REJ_UNKNOWN_DEVICE);
		return;
	}
	if (s->ev.id[0])
		ch_strlcpy(s->dedup, s->ev.id, sizeof(s->dedup));
	else if (sub < 0)
		ch_fmt(s->dedup, sizeof(s->dedup), "~j%llu", (unsigned long long)m->seq);
	else
		ch_fmt(s->dedup, sizeof(s->dedup), "~j%llu.%d", (unsigned long long)m->seq, sub);
	s->event_json = payload;
	s->dev = dev;
	s->ok = true;
}

/* The registry's type of a device a bridge names: what a press or a switch means (adapters.h). */
static const char *registry_type(void *arg, const char *name)
{
	const struct ch_device *dev = NULL;

	return ch_registry_find_device(arg, name, &dev) && dev ? dev->type : NULL;
}

/* A message whose fields were partly unreadable still goes to the dead letters, beside its events. */
static void bad_values(struct ch_ingest *ig, const struct ch_msg *m, const char *adapter, json_t *unmapped,
		       size_t *ns)
{
	struct slot *s = NULL;
	size_t i, off = 0;
	json_t *u;

	json_array_foreach(unmapped, i, u) {
		if (strcmp(json_string_value(json_object_get(u, "reason")), "bad_value") != 0)
			continue;
		if (!s) {
			if (!(s = next_slot(ig, ns)))
				return;
			s->m = m;
			ch_fmt_append(s->detail, sizeof(s->detail), &off, "%s: bad value for", adapter);
		}
		ch_fmt_append(s->detail, sizeof(s->detail), &off, " %s (\"%.32s\")",
			      json_string_value(json_object_get(u, "field")),
			      json_string_value(json_object_get(u, "value")));
	}
	if (s)
		reject(s, CH_REJ_BAD_FIELD);
}

/*
 * A fleet's own format: the adapter turns it into canonical events, each
 * named by the bridge (friendly name, IEEE address) and mapped to the
 * registry's device id, then validated like any canonical event.  What maps
 * to nothing goes to the fleet report (fleet.h), never nowhere.
 */
static void prepare_adapter(struct ch_ingest *ig, struct ch_runtime *rt, const struct ch_msg *m, size_t *ns)
{
	int idx = rt->adapters ? ch_adapters_match(rt->adapters, m->topic) : -1;
	struct ch_adapter_lookup lk = {registry_type, rt->reg};
	struct slot *s = next_slot(ig, ns);
	enum ch_reject why = CH_REJ_NONE;
	json_t *out, *unmapped, *bridge = NULL, *ev;
	const char *adapter;
	size_t k;

	if (!s)
		return;
	s->m = m;
	if (idx < 0) {
		ch_fmt(s->detail, sizeof(s->detail), "no adapter handles this topic");
		reject(s, CH_REJ_TOPIC_MISMATCH);
		return;
	}
	adapter = ch_adapters_name(rt->adapters, (size_t)idx);
	out = json_array();
	unmapped = json_array();
	struct ch_adapter_out ao = {out, unmapped, &bridge};
	if (!out || !unmapped ||
	    ch_adapters_convert(rt->adapters, idx, m->topic, m->payload, m->len, m->arrival_ms, &lk, &ao, &why,
				s->detail, sizeof(s->detail))) {
		json_decref(out);
		json_decref(unmapped);
		reject(s, why != CH_REJ_NONE ? why : CH_REJ_BAD_FIELD);
		return;
	}
	(*ns)--; /* the slot is taken again by the first event, if any */
	ch_fleet_note(adapter, unmapped, bridge, &lk, m->arrival_ms);
	bad_values(ig, m, adapter, unmapped, ns);
	json_decref(unmapped);
	json_decref(bridge);
	json_array_foreach(out, k, ev) {
		const struct ch_device *dev = NULL;
		const char *name = json_string_value(json_object_get(ev, "device"));

		if (!(s = next_slot(ig, ns)))
			break;
		s->m = m;
		if (!name || !ch_registry_find_device(rt->reg, name, &dev)) {
			json_t *one = json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "device", name ? name : "?", "field",
						json_string_value(json_object_get(ev, "field")), "value", "",
						"reason", "not_registered", "alone", 0);
			ch_fleet_note(adapter, one, NULL, &lk, m->arrival_ms);
			json_decref(one);
			ch_fmt(s->detail, sizeof(s->detail), "%s: device \"%.96s\" is neither a device id nor an alias in the registry",
			       adapter, name ? name : "?");
			reject(s, CH_REJ_UNKNOWN_DEVICE);
			continue;
		}
		json_object_del(ev, "field"); /* the adapter's note for reports, not part of the event */
		json_object_set_new(ev, "device", json_string(dev->id));
		s->owned_json = json_dumps(ev, JSON_COMPACT);
		if (!s->owned_json) {
			ch_fmt(s->detail, sizeof(s->detail), "out of memory");
			reject(s, CH_REJ_OVERFLOW);
			continue;
		}
		prepare_event(rt, s, s->owned_json, strlen(s->owned_json), (int)k);
	}
	json_decref(out);
}

static bool redis_backoff(struct ch_ingest *ig, int *attempt, const char *err, size_t n);

/*
 * A check-in answer (a provider's callback through the journal, or the care
 * tick's own "skipped" / "no answer in time"): applied to the schedule now,
 * and what ends the slot becomes an event of the subject (no registry device:
 * the pseudo-device "checkin"), followed by the resolve of an open
 * check_in_missed alert when the person was reached.  false when stopping
 * with Redis away: the journal keeps the batch.
 */
static bool prepare_checkin(struct ch_ingest *ig, struct ch_runtime *rt, const struct ch_msg *m, size_t *ns)
{
	const struct ch_subject *subj = NULL;
	char *event = NULL, *resolve = NULL, err[512];
	struct slot *s;
	int attempt = 0, rc;

	while ((rc = ch_care_answer(ig->care, rt, m->payload, m->len, ch_clock_now_ms(), &subj, &event, &resolve, err,
				    sizeof(err))) == CH_EAGAIN) {
		if (!redis_backoff(ig, &attempt, err, 1))
			return false;
	}
	if (rc) {
		if ((s = next_slot(ig, ns)) != NULL) {
			s->m = m;
			ch_strlcpy(s->detail, err, sizeof(s->detail));
			reject(s, rc == CH_ENOMEM ? CH_REJ_OVERFLOW : CH_REJ_BAD_FIELD);
		}
		return true;
	}
	if (event && (s = next_slot(ig, ns)) != NULL) {
		struct ch_event_limits lim = {rt->cfg->limits.max_payload, rt->cfg->limits.max_depth,
					      rt->cfg->limits.future_skew_ms};
		enum ch_reject why = CH_REJ_NONE;
		s->m = m;
		s->owned_json = event;
		event = NULL;
		if (ch_event_parse(s->owned_json, strlen(s->owned_json), &lim, ch_clock_now_ms(), &s->ev, &why, s->detail,
				   sizeof(s->detail))) {
			reject(s, why);
		} else {
			s->subj = subj;
			ch_strlcpy(s->dedup, s->ev.id, sizeof(s->dedup));
			s->event_json = s->owned_json;
			s->ok = true;
		}
	}
	if (resolve && (s = next_slot(ig, ns)) != NULL) {
		s->m = m;
		prepare_ack(rt, s, resolve, strlen(resolve));
	}
	free(event);
	free(resolve);
	return true;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* The engine state cache                                              */
/* ------------------------------------------------------------------ */

static size_t cache_hash(const char *s)
{
	return ch_engine_hash(s);
}

static void cache_clear(struct cache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		if (c->t[i].sid) {
			free(c->t[i].sid);
			ch_sstate_clear(&c->t[i].st);
		}
	}
	free(c->t);
	memset(c, 0, sizeof(*c));
}

static struct cache_ent *cache_get(struct cache *c, const char *sid)
{
	if (!c->cap)
		return NULL;
	for (size_t i = cache_hash(sid) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (!c->t[i].sid)
			return NULL;
		if (strcmp(c->t[i].sid, sid) == 0)
			return &c->t[i];
	}
}

/* Stores (moving st in) the state of sid at version; false when out of memory. */
static bool cache_put(struct cache *c, const char *sid, long long version, struct ch_sstate *st)
{
	struct cache_ent *e = cache_get(c, sid);

	if (e) {
		ch_sstate_clear(&e->st);
		e->st = *st;
		e->version = version;
		memset(st, 0, sizeof(*st));
		return true;
	}
	if ((c->n + 1) * 10 > c->cap * 7) {
		struct cache old = *c;
		size_t cap = c->cap ? c->cap * 2 : 1024;

		if (cap > CACHE_MAX) {
			/* Full: start over; every state is still in Redis. */
			cache_clear(c);
			cap = 1024;
			old = (struct cache){0};
		}
		c->t = calloc(cap, sizeof(*c->t));
		if (!c->t) {
			*c = old;
			ch_sstate_clear(st);
			return false;
		}
		c->cap = cap;
		c->n = 0;
		for (size_t i = 0; i < old.cap; i++) {
			struct cache_ent *o = &old.t[i];
			if (!o->sid)
				continue;
			size_t j = cache_hash(o->sid) & (c->cap - 1);
			while (c->t[j].sid)
				j = (j + 1) & (c->cap - 1);
			c->t[j] = *o;
			c->n++;
		}
		free(old.t);
	}
	size_t j = cache_hash(sid) & (c->cap - 1);
	while (c->t[j].sid)
		j = (j + 1) & (c->cap - 1);
	c->t[j].sid = ch_strdup(sid);
	if (!c->t[j].sid) {
		ch_sstate_clear(st);
		return false;
	}
	c->t[j].version = version;
	c->t[j].st = *st;
	memset(st, 0, sizeof(*st));
	c->n++;
	return true;
}

/* Decodes a stored state into the cache; a state we cannot read starts afresh (and says so). */
static void cache_store_blob(struct cache *c, const char *sid, long long version, const uint8_t *blob, size_t len,
			     int64_t now)
{
	struct ch_sstate st;

	if (!blob || len == 0) {
		ch_sstate_init(&st, now);
	} else if (ch_sstate_decode(&st, blob, len) != 0) {
		ch_log_rl("state-decode", 10000, CH_LOG_ERROR,
			  "subject %s: engine state of %zu bytes is unreadable; starting afresh", sid, len);
		ch_sstate_init(&st, now);
	}
	cache_put(c, sid, version, &st);
}

/* The subject's zone, else the config's, else UTC (a zone the machine lacks must not stop alerts). */
static const struct ch_tz *subject_tz(const struct ch_runtime *rt, const struct ch_subject *subj)
{
	const struct ch_tz *tz = NULL;
	char err[256];

	if (ch_tz_get(ch_runtime_zone(rt, subj), &tz, err, sizeof(err)) &&
	    ch_tz_get("UTC", &tz, err, sizeof(err)))
		tz = NULL;
	return tz;
}

/* ------------------------------------------------------------------ */
/* Evaluation                                                          */
/* ------------------------------------------------------------------ */

static void group_reset(struct group *g)
{
	for (size_t i = 0; g->acts && i < g->acts->n; i++) {
		free(g->docs[i]);
		free(g->jobs[i]);
		free(g->renots[i]);
		g->docs[i] = g->jobs[i] = g->renots[i] = NULL;
	}
	free(g->acts);
	g->acts = NULL;
	g->nsacts = 0;
	ch_sstate_clear(&g->work);
	free(g->sevs);
	g->sevs = NULL;
	g->nsev = 0;
	free(g->blob);
	g->blob = NULL;
	g->bloblen = 0;
}

static const char *slot_json_of(struct slot *slots, size_t ns, const struct ch_event *ev)
{
	for (size_t i = 0; ev && i < ns; i++) {
		if (&slots[i].ev == ev)
			return slots[i].event_json;
	}
	return "";
}

/*
 * What a new occurrence of an event rule's alert tells people (alerts.h,
 * ch_alert_renotify), keyed by the event so a replay gives the same keys;
 * whether the stored alert is open and due for it is the store's decision.
 * *out stays NULL when the rule does not re-notify.
 */
static int renotify_json(const struct ch_action *a, const struct ch_policy *pol, const struct group *g,
			 struct slot *slots, size_t ns, int64_t now, char **out)
{
	char tag[CH_RENOTIFY_TAG_LEN];
	json_t *rn;

	*out = NULL;
	if (a->rule->kind != CH_RULE_EVENT || a->rule->renotify_ms < 0 || !a->ev || !pol || !pol->nsteps)
		return 0;
	for (size_t i = 0; i < ns; i++) {
		if (&slots[i].ev == a->ev) {
			ch_alert_renotify_tag(slots[i].ev.device, slots[i].dedup, tag);
			rn = ch_alert_renotify(pol, g->subj, g->tz, a->severity, a->rule->renotify_ms, tag, now);
			*out = rn ? json_dumps(rn, JSON_COMPACT) : NULL;
			json_decref(rn);
			return *out ? 0 : CH_ENOMEM;
		}
	}
	return 0;
}

/* Runs the engine over the group's events (or its due timer) from the cached state. */
static int eval_group(struct ch_ingest *ig, struct ch_runtime *rt, struct group *g, size_t gi, struct slot *slots,
		      size_t ns, int64_t now)
{
	struct cache_ent *ce = cache_get(&ig->cache, g->sid);
	struct ch_engine_ctx cx = {rt->rules, g->subj, g->tz};
	size_t k = 0;

	group_reset(g);
	if (g->orphan) {
		g->deadline = 0;
		return 0;
	}
	if (!ce || ch_sstate_copy(&g->work, &ce->st))
		return CH_ENOMEM;
	g->sevs = calloc(ns ? ns : 1, sizeof(*g->sevs));
	g->acts = malloc(sizeof(*g->acts));
	if (!g->sevs || !g->acts)
		return CH_ENOMEM;
	g->acts->n = g->acts->dropped = 0;
	if (g->tick) {
		ch_engine_tick(&g->work, &cx, now, g->acts);
	} else {
		for (size_t i = 0; i < ns; i++) {
			struct slot *s = &slots[i];
			if (!s->ok || s->group != gi || s->dup)
				continue;
			if (s->silence) {
				ch_engine_silence(&g->work, s->sil_kind, s->sil_target, s->sil_until);
				continue;
			}
			if (s->ack) {
				if (s->ack_action == CH_ACK_RESOLVE)
					ch_engine_resolved(&g->work, &cx, s->ack_key, now);
				continue;
			}
			device_health(s);
			g->sevs[g->nsev++] = (struct ch_store_event){
				.device = s->ev.device,
				.dedup_id = s->dedup,
				.dedup_ttl_ms = s->ev.id[0] ? rt->cfg->limits.dedup_ttl_ms : IMPLICIT_ID_TTL_MS,
				.ts_ms = s->ev.ts_ms,
				.health = s->health};
			ch_engine_event(&g->work, &cx, &s->ev, s->dev, now, g->acts);
		}
	}
	if (g->acts->dropped)
		ch_log_rl("actions-dropped", 10000, CH_LOG_ERROR, "subject %s: %zu alert changes did not fit one batch",
			  g->sid, g->acts->dropped);
	for (size_t i = 0; i < g->acts->n; i++) {
		const struct ch_action *a = &g->acts->a[i];
		struct ch_store_action *x = &g->sacts[k];

		memset(x, 0, sizeof(*x));
		/* A repeat carries the template too: if the open alert is gone from Redis it opens anew. */
		if (a->kind == CH_ACT_OPEN || a->kind == CH_ACT_REPEAT) {
			json_t *doc = ch_alert_for_action_in(a, g->subj, g->tz, rt->cfg->templates, rt->cfg->language);
			const struct ch_policy *pol =
				ch_config_policy(rt->cfg, a->rule->policy, ch_severity_name(a->severity));
			json_t *jobs = ch_alert_step_jobs(pol, 0, g->subj);

			ch_alert_hold_quiet(jobs, g->subj, g->tz, a->severity, now);

			if (a->kind == CH_ACT_OPEN && ch_policy_total_steps(pol) > 1) {
				g->sacts[k].esc_policy = pol->name;
				g->sacts[k].esc_at = now + ch_policy_step_due_ms(pol, 1);
			}
			g->docs[i] = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
			g->jobs[i] = jobs ? json_dumps(jobs, JSON_COMPACT) : NULL;
			json_decref(doc);
			json_decref(jobs);
			if (!g->docs[i] || !g->jobs[i] || renotify_json(a, pol, g, slots, ns, now, &g->renots[i]))
				return CH_ENOMEM;
		}
		x->kind = ch_action_kind_name(a->kind);
		x->key = a->key;
		x->doc = g->docs[i];
		x->jobs = g->jobs[i];
		x->text = a->why[0] ? a->why : a->rule->id;
		x->outcome = a->outcome ? a->outcome : "";
		x->severity = ch_severity_name(a->severity);
		x->event_json = slot_json_of(slots, ns, a->ev);
		x->renotify = g->renots[i];
		k++;
	}
	for (size_t i = 0; !g->tick && i < ns && k < CH_ARRAY_LEN(g->sacts); i++) {
		struct slot *s = &slots[i];
		if (!s->ok || s->group != gi || !s->ack)
			continue;
		g->sacts[k++] = (struct ch_store_action){
			.kind = ack_kinds[s->ack_action], .key = s->ack_key, .text = s->ack_text,
			.outcome = s->ack_outcome, .severity = "", .event_json = "", .alert_id = s->ack_alert,
			.by = s->ack_by, .jobs = s->ack_jobs, .doc = s->ack_info};
	}
	for (size_t i = 0; !g->tick && i < ns && k < CH_ARRAY_LEN(g->sacts); i++) {
		struct slot *s = &slots[i];
		if (!s->ok || s->group != gi || !s->silence)
			continue;
		g->sacts[k++] = (struct ch_store_action){
			.kind = "silenced", .key = s->sil_target[0] ? s->sil_target : "*", .doc = s->sil_doc,
			.text = "", .outcome = "", .severity = "", .event_json = ""};
	}
	g->nsacts = k;
	g->blob = malloc(ch_sstate_encoded_max(&g->work));
	if (!g->blob)
		return CH_ENOMEM;
	g->bloblen = ch_sstate_encode(&g->work, rt->rules, g->blob, ch_sstate_encoded_max(&g->work));
	if (!g->bloblen)
		return CH_ENOMEM;
	g->deadline = ch_engine_next_deadline(&g->work, &cx, now);
	if (g->deadline == INT64_MAX)
		g->deadline = 0;
	else if (g->deadline <= now)
		g->deadline = now + 1000; /* the engine just ran at now: due again means it could not act; back off */
	return 0;
}

static void publish_transitions(struct ch_ingest *ig, const struct ch_ingest_result *res)
{
	for (size_t i = 0; i < res->ntransitions; i++) {
		const struct ch_transition *t = &res->transitions[i];
		json_t *doc = json_loads(t->doc, 0, NULL);
		json_int_t upd = json_integer_value(json_object_get(doc, "updated_at_ms"));
		json_int_t told = json_integer_value(json_object_get(doc, "renotified_at_ms"));

		ch_metrics_inc(CH_MF_ALERTS, json_string_value(json_object_get(doc, "rule")), t->kind);
		if (strcmp(t->kind, "opened") == 0)
			ch_care_observe_alert(ig->care, t->sid, doc);
		/* A new occurrence that told people again (store_ingest.lua renotify) says so in the log. */
		if (strcmp(t->kind, "repeat") == 0 && upd && told == upd)
			ch_log(CH_LOG_INFO, "alert %s: occurrence %lld, people told again%s", t->alert_id,
			       (long long)json_integer_value(json_object_get(doc, "count")),
			       json_integer_value(json_object_get(doc, "reopened_at_ms")) == upd ? "; re-opened" : "");
		json_decref(doc);
		if (strcmp(t->kind, "opened") == 0 || strcmp(t->kind, "resolved") == 0 || strcmp(t->kind, "raised") == 0)
			ch_log(CH_LOG_INFO, "alert %s %s", t->alert_id, t->kind);
		if (ig->o.publish_alert)
			ig->o.publish_alert(ig->o.arg, t->sid, t->doc, strlen(t->doc));
	}
	if (res->jobs && ig->o.jobs_ready)
		ig->o.jobs_ready(ig->o.arg);
	atomic_fetch_add(&ch_metrics.jobs_queued, res->jobs);
}

/* Waits out a Redis outage; false when stopping past the deadline (give up, keep the journal). */
static bool redis_backoff(struct ch_ingest *ig, int *attempt, const char *err, size_t n)
{
	atomic_fetch_add(&ch_metrics.redis_errors, 1);
	atomic_store(&ig->redis_ok, false);
	if (!atomic_load(&ig->running) && ch_clock_mono_ms() > ig->stop_deadline) {
		ch_log(CH_LOG_WARN, "ingest: stopping with Redis away; %zu messages stay in the journal", n);
		return false;
	}
	int64_t d = ch_backoff_full_jitter(100, 5000, ++*attempt, ch_rand64(&ig->rnd));
	ch_log_rl("redis-away", 10000, CH_LOG_WARN, "ingest: %s; holding %zu messages, retrying", err, n);
	sleep_ms(d < 20 ? 20 : d);
	return true;
}

/* Reads into the cache the states of the groups' subjects it does not hold. */
static int load_states(struct ch_ingest *ig, struct group *gs, size_t ng, int64_t now, char *err, size_t errlen)
{
	const char **sids = calloc(ng ? ng : 1, sizeof(*sids));
	struct ch_state_blob *b = calloc(ng ? ng : 1, sizeof(*b));
	size_t k = 0;
	int rc = 0;

	if (!sids || !b) {
		free(sids);
		free(b);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < ng; i++) {
		if (!gs[i].orphan && !cache_get(&ig->cache, gs[i].sid))
			sids[k++] = gs[i].sid;
	}
	if (k) {
		atomic_fetch_add(&ch_metrics.redis_round_trips, 1);
		rc = ch_store_states_read(ig->store, sids, k, b, err, errlen);
		for (size_t i = 0; !rc && i < k; i++)
			cache_store_blob(&ig->cache, sids[i], b[i].version, b[i].state, b[i].len, now);
		for (size_t i = 0; i < k; i++)
			free(b[i].state);
	}
	free(sids);
	free(b);
	return rc;
}

/*
 * Evaluates and applies groups until every one is in: a group that lost the
 * compare-and-set to another instance, or carried an event already seen, is
 * evaluated again from what Redis returned.  Returns 0, or an error when the
 * batch could not be applied (rc of the store; CH_EAGAIN only when stopping).
 */
static int run_groups(struct ch_ingest *ig, struct ch_runtime *rt, struct group *gs, size_t ng, struct slot *slots,
		      size_t ns, struct ch_dead_letter *dls, size_t ndl, size_t nmsgs, char *err, size_t errlen)
{
	struct ch_store_group *sg = calloc(ng ? ng : 1, sizeof(*sg));
	size_t *map = calloc(ng ? ng : 1, sizeof(*map));
	int attempt = 0, rc = 0;

	if (!sg || !map) {
		free(sg);
		free(map);
		return CH_ENOMEM;
	}
	for (int round = 0; round < MAX_ROUNDS; round++) {
		struct ch_ingest_result res = {0};
		int64_t now = ch_clock_now_ms();
		size_t k = 0;

		while ((rc = load_states(ig, gs, ng, now, err, errlen)) == CH_EAGAIN) {
			if (!redis_backoff(ig, &attempt, err, nmsgs))
				goto out;
		}
		if (rc)
			goto out;
		for (size_t i = 0; i < ng; i++) {
			struct group *g = &gs[i];
			struct cache_ent *ce;

			if (g->done)
				continue;
			if ((rc = eval_group(ig, rt, g, i, slots, ns, now))) {
				ch_strlcpy(err, "out of memory evaluating rules", errlen);
				goto out;
			}
			ce = cache_get(&ig->cache, g->sid);
			sg[k] = (struct ch_store_group){
				.sid = g->sid,
				.expect = g->orphan ? -1 : ce ? ce->version : 0,
				.state = g->orphan ? NULL : g->blob,
				.state_len = g->bloblen,
				.deadline = g->deadline,
				.evs = g->sevs,
				.nev = g->nsev,
				.acts = g->sacts,
				.nacts = g->nsacts};
			map[k++] = i;
		}
		if (k == 0 && ndl == 0)
			break;
		for (;;) {
			atomic_fetch_add(&ch_metrics.redis_round_trips, 1);
			rc = ch_store_ingest(ig->store, sg, k, dls, ndl, now, ig->actor, rt->cfg->limits.deadletter_max,
					     &res, err, errlen);
			if (rc != CH_EAGAIN)
				break;
			if (!redis_backoff(ig, &attempt, err, nmsgs))
				goto out;
		}
		if (rc)
			goto out;
		atomic_store(&ig->redis_ok, true);
		ndl = 0; /* dead letters are in */
		publish_transitions(ig, &res);
		for (size_t j = 0; j < res.ngroups; j++) {
			struct group *g = &gs[map[j]];
			const struct ch_group_result *gr = &res.groups[j];

			switch (gr->status) {
			case CH_GROUP_APPLIED:
				g->done = true;
				if (!g->orphan)
					cache_put(&ig->cache, g->sid, gr->version, &g->work);
				break;
			case CH_GROUP_CONFLICT:
				atomic_fetch_add(&ch_metrics.state_conflicts, 1);
				cache_store_blob(&ig->cache, g->sid, gr->version, gr->state, gr->state_len, now);
				break;
			case CH_GROUP_DUPS: {
				/* Indices count the group's events in slot order. */
				size_t e = 0;
				for (size_t i = 0; i < ns; i++) {
					struct slot *s = &slots[i];
					char idx[24];
					if (!s->ok || s->group != map[j] || s->dup || s->silence || s->ack)
						continue;
					ch_fmt(idx, sizeof(idx), "%zu", e++);
					for (const char *p = gr->dups; p && *p;) {
						size_t n = strcspn(p, ",");
						if (n == strlen(idx) && strncmp(p, idx, n) == 0) {
							s->dup = true;
							atomic_fetch_add(&ch_metrics.duplicates, 1);
						}
						p += n + (p[n] == ',');
					}
				}
				break;
			}
			}
		}
		ch_ingest_result_clear(&res);
	}
	for (size_t i = 0; i < ng; i++) {
		if (!gs[i].done) {
			ch_fmt(err, errlen, "subject %s: state kept changing under us for %d rounds", gs[i].sid,
			       MAX_ROUNDS);
			rc = CH_EAGAIN;
		}
	}
out:
	free(sg);
	free(map);
	return rc;
}

static void groups_free(struct group *gs, size_t ng)
{
	for (size_t i = 0; gs && i < ng; i++)
		group_reset(&gs[i]);
	free(gs);
}

static bool is_sync(const struct ch_msg *m)
{
	return strncmp(m->topic, CH_TOPIC_SYNC, strlen(CH_TOPIC_SYNC)) == 0;
}

static void process(struct ch_ingest *ig, struct ch_msg *msgs, size_t n)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct group *gs = NULL;
	size_t ndl = 0, ns = 0, ng = 0, nev = 0;
	uint64_t maxseq = 0;
	char err[512];
	int rc;

	if (!rt) {
		ch_log(CH_LOG_ERROR, "ingest: no configuration; batch left in the journal");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ch_msg *m = &msgs[i];

		if (m->seq > maxseq)
			maxseq = m->seq;
		if (is_sync(m)) {
			char want[32];
			ch_fmt(want, sizeof(want), "%llu", (unsigned long long)atomic_load(&ig->sync_nonce));
			if (m->len == strlen(want) && memcmp(m->payload, want, m->len) == 0 &&
			    !atomic_exchange(&ig->timers_open, true))
				ch_log(CH_LOG_INFO, "ingest: broker backlog drained; timers run");
		} else if (m->orig_len > rt->cfg->limits.max_payload &&
			   (m->orig_len > CH_ADAPTERS_LARGE_MAX || !ch_adapters_large(rt->adapters, m->topic))) {
			struct slot *s = next_slot(ig, &ns);
			if (!s)
				break;
			s->m = m;
			ch_fmt(s->detail, sizeof(s->detail), "payload of %zu bytes, limit %zu", m->orig_len,
			       rt->cfg->limits.max_payload);
			reject(s, CH_REJ_OVERSIZE);
		} else if (strncmp(m->topic, CH_TOPIC_EVENTS, strlen(CH_TOPIC_EVENTS)) == 0) {
			struct slot *s = next_slot(ig, &ns);
			if (!s)
				break;
			s->m = m;
			prepare_event(rt, s, m->payload, m->len, -1);
		} else if (strcmp(m->topic, CH_TOPIC_ACKS) == 0 || strcmp(m->topic, CH_TOPIC_API_ACKS) == 0) {
			struct slot *s = next_slot(ig, &ns);
			if (!s)
				break;
			s->m = m;
			prepare_ack(rt, s, m->payload, m->len);
		} else if (strcmp(m->topic, CH_TOPIC_SILENCES) == 0 || strcmp(m->topic, CH_TOPIC_API_SILENCES) == 0) {
			struct slot *s = next_slot(ig, &ns);
			if (!s)
				break;
			s->m = m;
			prepare_silence(rt, s, m->arrival_ms);
		} else if (strcmp(m->topic, CH_CHECKIN_TOPIC) == 0) {
			if (!prepare_checkin(ig, rt, m, &ns)) {
				maxseq = 0;
				goto out;
			}
		} else {
			prepare_adapter(ig, rt, m, &ns);
		}
	}
	if (ns == ig->cap && n > 0 && !ig->slots[ns - 1].m) {
		/* Out of memory growing the scratch: keep the journal, it will be replayed. */
		maxseq = 0;
	}
	{
		int attempt = 0;
		while (ack_fetch(ig, ig->slots, ns, err, sizeof(err)) == CH_EAGAIN) {
			if (!redis_backoff(ig, &attempt, err, n)) {
				maxseq = 0;
				goto out;
			}
		}
	}
	gs = calloc(ns ? ns : 1, sizeof(*gs));
	if (!gs) {
		maxseq = 0;
		goto out;
	}
	/* The slots are final now (no more growing): group the events by subject. */
	for (size_t i = 0; i < ns; i++) {
		struct slot *s = &ig->slots[i];
		size_t g;

		if (s->rejected) {
			ig->dls[ndl++] = (struct ch_dead_letter){
				.reason = ch_reject_name(s->why), .detail = s->detail, .topic = s->m->topic,
				.payload = s->m->payload, .len = s->m->len < DEADLETTER_KEEP ? s->m->len : DEADLETTER_KEEP,
				.orig_len = s->m->orig_len, .arrival_ms = s->m->arrival_ms};
			continue;
		}
		if (!s->ok)
			continue;
		nev++;
		for (g = 0; g < ng && gs[g].subj != s->subj; g++)
			;
		if (g == ng) {
			gs[ng].subj = s->subj;
			ch_strlcpy(gs[ng].sid, s->subj->id, sizeof(gs[ng].sid));
			gs[ng].tz = subject_tz(rt, s->subj);
			ng++;
		}
		s->group = g;
	}
	rc = run_groups(ig, rt, gs, ng, ig->slots, ns, ig->dls, ndl, n, err, sizeof(err));
	if (rc == 0) {
		int64_t done = ch_clock_now_ms();
		for (size_t i = 0; i < ns; i++) {
			const struct slot *s = &ig->slots[i];
			if (s->ok && s->m)
				ch_metrics_observe(CH_H_EVENT, done - s->m->arrival_ms);
			if (s->ok && !s->dup && !s->silence && !s->ack && s->ev.type[0])
				ch_hass_event(rt->rules, s->subj, &s->ev, s->dev); /* "last activity" */
			/* Applied events feed the daily aggregates (flushed after the batch). */
			if (s->ok && !s->dup && !s->ack && !s->silence && s->subj)
				ch_care_observe(ig->care, s->subj, gs[s->group].tz, &s->ev, s->dev);
		}
	}
	if (rc == CH_EAGAIN) {
		maxseq = 0; /* stopping with Redis away, or endless conflicts: the journal replays them */
		ch_log(CH_LOG_WARN, "ingest: %s; batch stays in the journal", err);
	} else if (rc) {
		/* Not a passing outage: a bug or a refusal.  Keep the events as dead letters. */
		struct ch_ingest_result res = {0};
		size_t k = 0;

		ch_log(CH_LOG_ERROR, "ingest: batch refused by Redis: %s; events dead-lettered", err);
		for (size_t i = 0; i < ns; i++) {
			const struct slot *s = &ig->slots[i];
			if (s->ok)
				ig->dls[ndl + k++] = (struct ch_dead_letter){
					"store_error", err, s->m->topic, s->event_json, strlen(s->event_json),
					s->m->orig_len, s->m->arrival_ms};
		}
		if (ndl + k && ch_store_ingest(ig->store, NULL, 0, ig->dls, ndl + k, ch_clock_now_ms(), ig->actor,
					       rt->cfg->limits.deadletter_max, &res, err, sizeof(err)))
			maxseq = 0; /* could not even dead-letter: keep the journal */
		ch_ingest_result_clear(&res);
	}
	atomic_fetch_add(&ch_metrics.batches, 1);
	atomic_fetch_add(&ch_metrics.events_processed, nev);
out:
	groups_free(gs, ng);
	if (maxseq && atomic_load(&ig->journal))
		ch_journal_commit(atomic_load(&ig->journal), maxseq);
	for (size_t i = 0; i < ns; i++)
		slot_clear(&ig->slots[i]);
	ch_runtime_release(rt);
}

/* Claims the subjects whose deadline is due and evaluates them; returns how many. */
static size_t fire_timers(struct ch_ingest *ig)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct ch_state_blob *b = NULL;
	struct group *gs = NULL;
	size_t n = 0;
	int64_t now = ch_clock_now_ms();
	char err[512];
	int rc;

	if (!rt)
		return 0;
	atomic_fetch_add(&ch_metrics.redis_round_trips, 1);
	rc = ch_store_timers_claim(ig->store, now, TIMER_LEASE_MS, TIMER_CLAIM_MAX, &b, &n, err, sizeof(err));
	atomic_store(&ig->redis_ok, rc == 0);
	if (rc) {
		if (rc == CH_EAGAIN)
			atomic_fetch_add(&ch_metrics.redis_errors, 1);
		ch_log_rl("timers-claim", 10000, CH_LOG_WARN, "timers: %s", err);
		ch_runtime_release(rt);
		return 0;
	}
	gs = n ? calloc(n, sizeof(*gs)) : NULL;
	for (size_t i = 0; gs && i < n; i++) {
		struct group *g = &gs[i];

		ch_strlcpy(g->sid, b[i].sid, sizeof(g->sid));
		g->tick = true;
		g->subj = ch_registry_subject(rt->reg, b[i].sid);
		if (!g->subj) {
			g->orphan = true; /* no longer in the registry: its timer goes */
			continue;
		}
		g->tz = subject_tz(rt, g->subj);
		cache_store_blob(&ig->cache, g->sid, b[i].version, b[i].state, b[i].len, now);
	}
	if (gs) {
		atomic_fetch_add(&ch_metrics.timers_fired, n);
		rc = run_groups(ig, rt, gs, n, NULL, 0, NULL, 0, n, err, sizeof(err));
		if (rc)
			ch_log_rl("timers-apply", 10000, CH_LOG_WARN,
				  "timers: %s; they come due again after the lease", err);
	}
	groups_free(gs, n);
	ch_state_blobs_free(b, n);
	ch_runtime_release(rt);
	return n;
}

/* One due escalation step: the jobs of that step, unless the alert was answered meanwhile. */
static void escalate_one(struct ch_ingest *ig, struct ch_runtime *rt, const struct ch_esc_due *d, int64_t now)
{
	json_t *doc = json_loads(d->doc, 0, NULL), *jobs = NULL, *job;
	const char *state = json_string_value(json_object_get(doc, "state"));
	const char *sev = json_string_value(json_object_get(doc, "severity"));
	const struct ch_subject *subj;
	const struct ch_policy *pol;
	char sid[CH_DEVICE_MAX], err[512], text[256];
	char *jtext = NULL;
	long long njobs = -1;
	long num;
	size_t total, idx;
	int64_t next = 0;
	int rc;

	if (!doc || !state || strcmp(state, "open") != 0 || ch_store_alert_id_split(d->alert_id, sid, sizeof(sid), &num) ||
	    !(subj = ch_registry_subject(rt->reg, sid)) ||
	    !(pol = ch_config_policy(rt->cfg, d->policy[0] ? d->policy : NULL, sev ? sev : "high")) ||
	    d->step < 1 || (size_t)d->step >= (total = ch_policy_total_steps(pol))) {
		/* Answered, gone, or the policy no longer has this step: the escalation ends. */
		if ((rc = ch_store_esc_stop(ig->store, d->alert_id, err, sizeof(err))))
			ch_log_rl("esc-stop", 10000, CH_LOG_WARN, "escalation %s: %s", d->alert_id, err);
		json_decref(doc);
		return;
	}
	idx = (size_t)d->step % pol->nsteps;
	jobs = ch_alert_step_jobs(pol, idx, subj);
	{
		const struct ch_tz *tz = subject_tz(rt, subj);
		enum ch_severity sv = CH_SEV_HIGH;
		if (tz && sev && ch_severity_parse(sev, &sv) == 0)
			ch_alert_hold_quiet(jobs, subj, tz, sv, now);
	}
	json_array_foreach(jobs, idx, job)
		json_object_set_new(job, "step", json_integer(d->step));
	jtext = jobs ? json_dumps(jobs, JSON_COMPACT) : NULL;
	if ((size_t)d->step + 1 < total) {
		/* A re-opened alert's schedule counts from its re-opening (store_ingest.lua). */
		json_t *base = json_object_get(doc, "escalation_base_ms");
		next = json_integer_value(base ? base : json_object_get(doc, "opened_at_ms")) +
		       ch_policy_step_due_ms(pol, (size_t)d->step + 1);
	}
	{
		const struct ch_policy_step *ps = &pol->steps[(size_t)d->step % pol->nsteps];
		size_t o = 0;
		o += (size_t)snprintf(text, sizeof(text), "step %lld of %s:", d->step, pol->name);
		for (size_t r = 0; r < ps->nroles && o < sizeof(text); r++)
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", r ? ", " : " ", ps->roles[r]);
	}
	if (!jtext) {
		ch_log(CH_LOG_ERROR, "escalation %s: out of memory; retried after the lease", d->alert_id);
	} else if ((rc = ch_store_esc_step(ig->store, now, ig->actor, d->alert_id, d->step, next, jtext, text, &njobs,
					   err, sizeof(err)))) {
		ch_log_rl("esc-step", 10000, CH_LOG_WARN, "escalation %s: %s; retried after the lease", d->alert_id, err);
	} else if (njobs >= 0) {
		ch_log(CH_LOG_INFO, "alert %s escalated: %s (%lld notifications)", d->alert_id, text, njobs);
		atomic_fetch_add(&ch_metrics.jobs_queued, (uint64_t)njobs);
		if (njobs && ig->o.jobs_ready)
			ig->o.jobs_ready(ig->o.arg);
	}
	free(jtext);
	json_decref(jobs);
	json_decref(doc);
}

/* Claims due escalation steps and takes them; returns how many were due. */
static size_t fire_escalations(struct ch_ingest *ig)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct ch_esc_due *d = NULL;
	size_t n = 0;
	int64_t now = ch_clock_now_ms();
	char err[512];

	if (!rt)
		return 0;
	if (ch_store_esc_claim(ig->store, now, TIMER_LEASE_MS, TIMER_CLAIM_MAX, &d, &n, err, sizeof(err))) {
		ch_log_rl("esc-claim", 10000, CH_LOG_WARN, "escalation: %s", err);
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		escalate_one(ig, rt, &d[i], now);
	ch_esc_due_free(d, n);
	/* Jobs held for quiet hours that are over. */
	long long queued = 0;
	if (ch_store_held_release(ig->store, now, ig->actor, TIMER_CLAIM_MAX, &queued, err, sizeof(err)))
		ch_log_rl("held-release", 10000, CH_LOG_WARN, "quiet hours: %s", err);
	else if (queued > 0) {
		ch_log(CH_LOG_INFO, "quiet hours over: %lld notifications released", queued);
		atomic_fetch_add(&ch_metrics.jobs_queued, (uint64_t)queued);
		if (ig->o.jobs_ready)
			ig->o.jobs_ready(ig->o.arg);
	}
	ch_runtime_release(rt);
	return n;
}

/*
 * Subjects the engine has never seen get their state and first timers now, so
 * a home whose sensors never report anything still raises "no sign of life".
 * Runs once per registry generation; a subject that has a state is left alone.
 */
static void bootstrap_subjects(struct ch_ingest *ig)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	size_t total, chunk = 256;
	char err[512];

	if (!rt)
		return;
	total = ch_registry_count(rt->reg);
	for (size_t off = 0; off < total; off += chunk) {
		size_t n = total - off < chunk ? total - off : chunk, ng = 0;
		struct group *gs = calloc(n, sizeof(*gs));
		int rc;

		if (!gs)
			break;
		for (size_t i = 0; i < n; i++) {
			struct group *g = &gs[i];
			g->subj = ch_registry_at(rt->reg, off + i);
			ch_strlcpy(g->sid, g->subj->id, sizeof(g->sid));
		}
		rc = load_states(ig, gs, n, ch_clock_now_ms(), err, sizeof(err));
		for (size_t i = 0; !rc && i < n; i++) {
			struct cache_ent *ce = cache_get(&ig->cache, gs[i].sid);
			if (!ce || ce->version != 0)
				continue;
			struct group *g = &gs[ng++];
			if (g != &gs[i])
				*g = gs[i];
			g->tick = true;
			g->tz = subject_tz(rt, g->subj);
		}
		if (!rc && ng)
			rc = run_groups(ig, rt, gs, ng, NULL, 0, NULL, 0, 0, err, sizeof(err));
		groups_free(gs, ng);
		if (rc) {
			ch_log_rl("bootstrap", 10000, CH_LOG_WARN, "engine: starting new subjects: %s; will retry", err);
			ch_runtime_release(rt);
			return;
		}
	}
	ig->boot_generation = rt->generation;
	ch_runtime_release(rt);
}

/* Due check-in calls (care.h); slots that end without a call are applied here as a batch of their own. */
static size_t care_tick(struct ch_ingest *ig)
{
	struct ch_msg *msgs = NULL;
	size_t n = 0, due;
	bool jobs = false;

	due = ch_care_tick(ig->care, ch_clock_now_ms(), &msgs, &n, &jobs);
	if (jobs && ig->o.jobs_ready)
		ig->o.jobs_ready(ig->o.arg);
	if (n)
		process(ig, msgs, n);
	for (size_t i = 0; i < n; i++)
		ch_msg_clear(&msgs[i]);
	free(msgs);
	return due;
}

static void *ingest_thread(void *arg)
{
	struct ch_ingest *ig = arg;
	struct ch_msg *batch;
	size_t cap;
	struct ch_runtime *rt = ch_runtime_acquire();

	cap = rt && rt->cfg->limits.batch_size > 0 ? (size_t)rt->cfg->limits.batch_size : 256;
	ch_runtime_release(rt);
	batch = calloc(cap, sizeof(*batch));
	ig->cap = cap;
	ig->slots = calloc(cap, sizeof(*ig->slots));
	ig->dls = calloc(2 * cap, sizeof(*ig->dls));
	if (!batch || !ig->slots || !ig->dls) {
		ch_log(CH_LOG_ERROR, "ingest: out of memory");
		free(batch);
		return NULL;
	}
	for (;;) {
		size_t n = ch_queue_pop(ig->o.queue, batch, cap, TIMER_POLL_MS / 2);

		if (n) {
			process(ig, batch, n);
			for (size_t i = 0; i < n; i++)
				ch_msg_clear(&batch[i]);
		} else if (!atomic_load(&ig->running)) {
			break;
		}
		if (atomic_load(&ig->timers_open) && atomic_load(&ig->running) &&
		    ch_clock_mono_ms() >= ig->next_timer_poll) {
			struct ch_runtime *cur = ch_runtime_acquire();
			bool boot = cur && cur->generation != ig->boot_generation;
			ch_runtime_release(cur);
			if (boot)
				bootstrap_subjects(ig);
			/* A full claim means more are due: come back at once. */
			size_t fired = fire_timers(ig);
			if (fire_escalations(ig) == TIMER_CLAIM_MAX)
				fired = TIMER_CLAIM_MAX;
			if (care_tick(ig) >= TIMER_CLAIM_MAX)
				fired = TIMER_CLAIM_MAX;
			ig->next_timer_poll = ch_clock_mono_ms() + (fired == TIMER_CLAIM_MAX ? 0 : TIMER_POLL_MS);
		}
		ch_care_flush(ig->care, ch_clock_now_ms());
	}
	free(batch);
	return NULL;
}

bool ch_ingest_redis_ok(struct ch_ingest *ig)
{
	return atomic_load(&ig->redis_ok);
}

bool ch_ingest_timers_running(struct ch_ingest *ig)
{
	return atomic_load(&ig->timers_open);
}

void ch_ingest_sync_expect(struct ch_ingest *ig, uint64_t nonce)
{
	atomic_store(&ig->sync_nonce, nonce);
	if (atomic_exchange(&ig->timers_open, false))
		ch_log(CH_LOG_INFO, "ingest: timers wait for the broker's backlog");
}

int ch_ingest_start(const struct ch_ingest_opts *o, struct ch_ingest **out, char *err, size_t errlen)
{
	struct ch_ingest *ig = calloc(1, sizeof(*ig));
	int rc;

	if (!ig)
		return CH_ENOMEM;
	ig->o = *o;
	atomic_store(&ig->journal, o->journal);
	ig->actor = ch_strdup(o->actor);
	ig->rnd = (uint64_t)ch_clock_mono_ms() * 31u + 7u;
	if ((rc = ch_care_new(o->store, o->actor, &ig->care, err, errlen))) {
		free(ig->actor);
		free(ig);
		return rc;
	}
	rc = ch_store_open(o->store, &ig->store, err, errlen);
	if (rc && rc != CH_EAGAIN) {
		ch_store_close(ig->store);
		ch_care_free(ig->care);
		free(ig->actor);
		free(ig);
		return rc;
	}
	if (rc == CH_EAGAIN)
		ch_log(CH_LOG_WARN, "ingest: %s; will retry", err);
	atomic_store(&ig->redis_ok, rc == 0);
	atomic_store(&ig->running, true);
	if (pthread_create(&ig->thread, NULL, ingest_thread, ig)) {
		ch_store_close(ig->store);
		ch_care_free(ig->care);
		free(ig->actor);
		free(ig);
		return CH_ENOMEM;
	}
	*out = ig;
	return 0;
}

void ch_ingest_set_journal(struct ch_ingest *ig, struct ch_journal *j)
{
	atomic_store(&ig->journal, j);
}

void ch_ingest_stop(struct ch_ingest *ig, int64_t deadline_ms)
{
	if (!ig)
		return;
	ig->stop_deadline = ch_clock_mono_ms() + deadline_ms;
	atomic_store(&ig->running, false);
	ch_queue_wake(ig->o.queue);
	pthread_join(ig->thread, NULL);
	ch_care_flush(ig->care, ch_clock_now_ms());
	ch_care_free(ig->care);
	ch_store_close(ig->store);
	cache_clear(&ig->cache);
	free(ig->slots);
	free(ig->dls);
	free(ig->actor);
	free(ig);
}
