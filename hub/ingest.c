/*
 * ingest.c - the correlator thread.
 */
#include "ingest.h"
#include "adapters.h"
#include "alerts.h"
#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Events without an id get one from the journal; remembering those only has to
 * cover a replay after a crash, not a day. */
#define IMPLICIT_ID_TTL_MS (3600 * 1000)
/* Dead letters keep this much of a payload: enough to see what was sent. */
#define DEADLETTER_KEEP 4096

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
	struct ch_ingest_event *evs;
	struct ch_dead_letter *dls; /* 2 * cap: a refusal and a store error per slot at worst */
	size_t cap;
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
	char dedup[CH_ID_MAX + 32];
	const char *event_json; /* the payload, or owned_json */
	char *owned_json;       /* an adapter's event, printed */
	struct ch_ingest_match matches[8];
	char *docs[8];
	char *jobs[8];
	size_t nmatches;
};

static void slot_clear(struct slot *s)
{
	ch_event_clear(&s->ev);
	free(s->owned_json);
	for (size_t i = 0; i < s->nmatches; i++) {
		free(s->docs[i]);
		free(s->jobs[i]);
	}
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
		struct ch_ingest_event *ev = realloc(ig->evs, cap * sizeof(*ev));
		if (ev)
			ig->evs = ev;
		struct ch_dead_letter *dl = realloc(ig->dls, 2 * cap * sizeof(*dl));
		if (dl)
			ig->dls = dl;
		if (!ev || !dl)
			return NULL;
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

/* Validates one canonical event and works out what the store must do with it. */
static void prepare_event(struct ch_runtime *rt, struct slot *s, const char *payload, size_t len, int sub)
{
	const struct ch_config *cfg = rt->cfg;
	const struct ch_msg *m = s->m;
	struct ch_event_limits lim = {cfg->limits.max_payload, cfg->limits.max_depth, cfg->limits.future_skew_ms};
	const struct ch_device *dev = NULL;
	const struct ch_rule *hits[8];
	enum ch_reject why = CH_REJ_NONE;
	size_t nhits = 0;
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
	ch_rules_match_event(rt->rules, &s->ev, hits, CH_ARRAY_LEN(hits), &nhits);
	for (size_t i = 0; i < nhits; i++) {
		const struct ch_rule *r = hits[i];
		json_t *tmpl = ch_alert_template(r, s->subj, dev, &s->ev);
		const struct ch_policy *pol = ch_config_policy(cfg, r->policy, ch_severity_name(r->severity));
		json_t *jobs = ch_alert_step_jobs(pol, 0, s->subj);

		s->docs[s->nmatches] = tmpl ? json_dumps(tmpl, JSON_COMPACT) : NULL;
		s->jobs[s->nmatches] = jobs ? json_dumps(jobs, JSON_COMPACT) : NULL;
		json_decref(tmpl);
		json_decref(jobs);
		if (!s->docs[s->nmatches] || !s->jobs[s->nmatches]) {
			free(s->docs[s->nmatches]);
			free(s->jobs[s->nmatches]);
			ch_log(CH_LOG_ERROR, "out of memory building alert for rule %s", r->id);
			continue;
		}
		s->matches[s->nmatches] = (struct ch_ingest_match){
			.rule = r->id, .alert_doc = s->docs[s->nmatches], .jobs = s->jobs[s->nmatches],
			.timeline = r->id};
		s->nmatches++;
	}
	s->ok = true;
}

/*
 * A fleet's own format: the adapter turns it into canonical events, each
 * named by the bridge (friendly name, IEEE address) and mapped to the
 * registry's device id, then validated like any canonical event.
 */
static void prepare_adapter(struct ch_ingest *ig, struct ch_runtime *rt, const struct ch_msg *m, size_t *ns)
{
	int idx = rt->adapters ? ch_adapters_match(rt->adapters, m->topic) : -1;
	struct slot *s = next_slot(ig, ns);
	enum ch_reject why = CH_REJ_NONE;
	json_t *out, *ev;
	size_t k;

	if (!s)
		return;
	s->m = m;
	if (idx < 0) {
		ch_fmt(s->detail, sizeof(s->detail), "no adapter handles this topic");
		reject(s, CH_REJ_TOPIC_MISMATCH);
		return;
	}
	out = json_array();
	if (!out || ch_adapters_convert(rt->adapters, idx, m->topic, m->payload, m->len, m->arrival_ms, out, &why,
					s->detail, sizeof(s->detail))) {
		json_decref(out);
		reject(s, why != CH_REJ_NONE ? why : CH_REJ_BAD_FIELD);
		return;
	}
	if (json_array_size(out) == 0) {
		/* Bridge chatter or an unchanged state: nothing to do, nothing wrong. */
		(*ns)--;
		json_decref(out);
		return;
	}
	json_array_foreach(out, k, ev) {
		const struct ch_device *dev = NULL;
		const char *name = json_string_value(json_object_get(ev, "device"));

		if (k > 0 && !(s = next_slot(ig, ns)))
			break;
		s->m = m;
		if (!name || !ch_registry_find_device(rt->reg, name, &dev)) {
			ch_fmt(s->detail, sizeof(s->detail), "%s: device \"%.96s\" is neither a device id nor an alias in the registry",
			       ch_adapters_name(rt->adapters, (size_t)idx), name ? name : "?");
			reject(s, CH_REJ_UNKNOWN_DEVICE);
			continue;
		}
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

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void process(struct ch_ingest *ig, struct ch_msg *msgs, size_t n)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct ch_ingest_result res = {0};
	size_t nev = 0, ndl = 0, ns = 0;
	uint64_t maxseq = 0;
	char err[512];
	int attempt = 0, rc;

	if (!rt) {
		ch_log(CH_LOG_ERROR, "ingest: no configuration; batch left in the journal");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ch_msg *m = &msgs[i];

		if (m->seq > maxseq)
			maxseq = m->seq;
		if (m->orig_len > rt->cfg->limits.max_payload) {
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
		} else {
			prepare_adapter(ig, rt, m, &ns);
		}
	}
	if (ns == ig->cap && n > 0 && !ig->slots[ns - 1].m) {
		/* Out of memory growing the scratch: keep the journal, it will be replayed. */
		maxseq = 0;
	}
	/* The slots are final now (no more growing): point the batch at them. */
	for (size_t i = 0; i < ns; i++) {
		struct slot *s = &ig->slots[i];
		if (s->rejected) {
			ig->dls[ndl++] = (struct ch_dead_letter){
				.reason = ch_reject_name(s->why), .detail = s->detail, .topic = s->m->topic,
				.payload = s->m->payload, .len = s->m->len < DEADLETTER_KEEP ? s->m->len : DEADLETTER_KEEP,
				.orig_len = s->m->orig_len, .arrival_ms = s->m->arrival_ms};
			continue;
		}
		if (!s->ok)
			continue;
		ig->evs[nev++] = (struct ch_ingest_event){
			.sid = s->subj->id,
			.device = s->ev.device,
			.dedup_id = s->dedup,
			.dedup_ttl_ms = s->ev.id[0] ? rt->cfg->limits.dedup_ttl_ms : IMPLICIT_ID_TTL_MS,
			.ts_ms = s->ev.ts_ms,
			.event_json = s->event_json,
			.matches = s->matches,
			.nmatches = s->nmatches,
		};
	}
	for (;;) {
		rc = ch_store_ingest(ig->store, ig->evs, nev, ig->dls, ndl, ch_clock_now_ms(), ig->actor,
				     rt->cfg->limits.deadletter_max, &res, err, sizeof(err));
		if (rc != CH_EAGAIN)
			break;
		atomic_fetch_add(&ch_metrics.redis_errors, 1);
		if (!atomic_load(&ig->running) && ch_clock_mono_ms() > ig->stop_deadline) {
			ch_log(CH_LOG_WARN, "ingest: stopping with Redis away; %zu messages stay in the journal", n);
			maxseq = 0;
			goto out;
		}
		int64_t d = ch_backoff_full_jitter(100, 5000, ++attempt, ch_rand64(&ig->rnd));
		ch_log_rl("redis-away", 10000, CH_LOG_WARN, "ingest: %s; holding %zu messages, retrying", err, n);
		sleep_ms(d < 20 ? 20 : d);
	}
	if (rc) {
		/* Not a passing outage: a bug or a refusal.  Keep the events as dead letters. */
		ch_log(CH_LOG_ERROR, "ingest: batch refused by Redis: %s; events dead-lettered", err);
		size_t k = 0;
		for (size_t i = 0; i < ns; i++) {
			const struct slot *s = &ig->slots[i];
			if (s->ok)
				ig->dls[ndl + k++] = (struct ch_dead_letter){
					"store_error", err, s->m->topic, s->event_json, strlen(s->event_json),
					s->m->orig_len, s->m->arrival_ms};
		}
		if (k && ch_store_ingest(ig->store, NULL, 0, ig->dls + ndl, k, ch_clock_now_ms(), ig->actor,
					 rt->cfg->limits.deadletter_max, &res, err, sizeof(err)))
			maxseq = 0; /* could not even dead-letter: keep the journal */
	}
	atomic_fetch_add(&ch_metrics.batches, 1);
	atomic_fetch_add(&ch_metrics.events_processed, nev - res.duplicates);
	atomic_fetch_add(&ch_metrics.duplicates, res.duplicates);
	atomic_fetch_add(&ch_metrics.jobs_queued, res.jobs);
	for (size_t i = 0; i < res.ntransitions; i++) {
		const struct ch_transition *t = &res.transitions[i];
		if (strcmp(t->kind, "opened") == 0) {
			atomic_fetch_add(&ch_metrics.alerts_opened, 1);
			ch_log(CH_LOG_INFO, "alert %s opened", t->alert_id);
		} else {
			atomic_fetch_add(&ch_metrics.alerts_repeated, 1);
		}
		if (ig->o.publish_alert)
			ig->o.publish_alert(ig->o.arg, t->sid, t->doc, strlen(t->doc));
	}
	if (res.jobs && ig->o.jobs_ready)
		ig->o.jobs_ready(ig->o.arg);
	ch_ingest_result_clear(&res);
out:
	if (maxseq && atomic_load(&ig->journal))
		ch_journal_commit(atomic_load(&ig->journal), maxseq);
	for (size_t i = 0; i < ns; i++)
		slot_clear(&ig->slots[i]);
	ch_runtime_release(rt);
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
	ig->evs = calloc(cap, sizeof(*ig->evs));
	ig->dls = calloc(2 * cap, sizeof(*ig->dls));
	if (!batch || !ig->slots || !ig->evs || !ig->dls) {
		ch_log(CH_LOG_ERROR, "ingest: out of memory");
		free(batch);
		return NULL;
	}
	for (;;) {
		size_t n = ch_queue_pop(ig->o.queue, batch, cap, 200);
		if (n == 0) {
			if (!atomic_load(&ig->running))
				break;
			continue;
		}
		process(ig, batch, n);
		for (size_t i = 0; i < n; i++)
			ch_msg_clear(&batch[i]);
	}
	free(batch);
	return NULL;
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
	rc = ch_store_open(o->store, &ig->store, err, errlen);
	if (rc && rc != CH_EAGAIN) {
		ch_store_close(ig->store);
		free(ig->actor);
		free(ig);
		return rc;
	}
	if (rc == CH_EAGAIN)
		ch_log(CH_LOG_WARN, "ingest: %s; will retry", err);
	atomic_store(&ig->running, true);
	if (pthread_create(&ig->thread, NULL, ingest_thread, ig)) {
		ch_store_close(ig->store);
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
	ch_store_close(ig->store);
	free(ig->slots);
	free(ig->evs);
	free(ig->dls);
	free(ig->actor);
	free(ig);
}
