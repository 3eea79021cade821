/*
 * ingest.c - the correlator thread.
 */
#include "ingest.h"
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
	/* Per-batch scratch, allocated once for the batch size and reused. */
	struct slot *slots;
	struct ch_ingest_event *evs;
	struct ch_dead_letter *dls;
	char (*details)[256];
};

/* Per-event scratch kept alive until the batch is applied. */
struct slot {
	struct ch_event ev;
	bool ok;
	char dedup[CH_ID_MAX + 32];
	const char *event_json; /* the validated payload itself, borrowed from the message */
	struct ch_ingest_match matches[8];
	char *docs[8];
	char *jobs[8];
	size_t nmatches;
};

static void slot_clear(struct slot *s)
{
	ch_event_clear(&s->ev);
	for (size_t i = 0; i < s->nmatches; i++) {
		free(s->docs[i]);
		free(s->jobs[i]);
	}
	memset(s, 0, sizeof(*s));
}

static void reject(struct ch_dead_letter *dl, size_t *ndl, const struct ch_msg *m, enum ch_reject why,
		   const char *detail)
{
	struct ch_dead_letter *d = &dl[(*ndl)++];

	d->reason = ch_reject_name(why);
	d->detail = detail;
	d->topic = m->topic;
	d->payload = m->payload;
	d->len = m->len < DEADLETTER_KEEP ? m->len : DEADLETTER_KEEP;
	d->orig_len = m->orig_len;
	d->arrival_ms = m->arrival_ms;
	atomic_fetch_add(&ch_metrics.rejected[why], 1);
	ch_log_rl(d->reason, 10000, CH_LOG_WARN, "rejected message on %s: %s: %s", m->topic, d->reason,
		  detail && *detail ? detail : "-");
}

/* Validates one message and works out what the store must do with it. */
static void prepare(struct ch_runtime *rt, const struct ch_msg *m, struct slot *s, char *detail,
		    size_t detlen, struct ch_dead_letter *dl, size_t *ndl)
{
	const struct ch_config *cfg = rt->cfg;
	struct ch_event_limits lim = {cfg->limits.max_payload, cfg->limits.max_depth, cfg->limits.future_skew_ms};
	const struct ch_subject *subj;
	const struct ch_device *dev = NULL;
	const struct ch_rule *hits[8];
	enum ch_reject why = CH_REJ_NONE;
	size_t nhits = 0;
	const char *tdev;

	detail[0] = '\0';
	if (m->orig_len > cfg->limits.max_payload) {
		ch_fmt(detail, detlen, "payload of %zu bytes, limit %zu", m->orig_len, cfg->limits.max_payload);
		reject(dl, ndl, m, CH_REJ_OVERSIZE, detail);
		return;
	}
	if (ch_event_parse(m->payload, m->len, &lim, m->arrival_ms, &s->ev, &why, detail, detlen)) {
		reject(dl, ndl, m, why, detail);
		return;
	}
	tdev = strncmp(m->topic, CH_TOPIC_EVENTS, strlen(CH_TOPIC_EVENTS)) == 0
		       ? m->topic + strlen(CH_TOPIC_EVENTS)
		       : NULL;
	if (tdev && strcmp(tdev, s->ev.device) != 0) {
		ch_fmt(detail, detlen, "topic names device \"%.96s\", payload \"%s\"", tdev, s->ev.device);
		reject(dl, ndl, m, CH_REJ_TOPIC_MISMATCH, detail);
		ch_event_clear(&s->ev);
		return;
	}
	subj = ch_registry_find_device(rt->reg, s->ev.device, &dev);
	if (!subj) {
		ch_fmt(detail, detlen, "device \"%s\" is not in the registry", s->ev.device);
		reject(dl, ndl, m, CH_REJ_UNKNOWN_DEVICE, detail);
		ch_event_clear(&s->ev);
		return;
	}
	if (s->ev.id[0])
		ch_strlcpy(s->dedup, s->ev.id, sizeof(s->dedup));
	else
		ch_fmt(s->dedup, sizeof(s->dedup), "~j%llu", (unsigned long long)m->seq);
	/* The payload is already valid JSON: no need to print the tree again. */
	s->event_json = m->payload;
	ch_rules_match_event(rt->rules, &s->ev, hits, CH_ARRAY_LEN(hits), &nhits);
	for (size_t i = 0; i < nhits; i++) {
		const struct ch_rule *r = hits[i];
		json_t *tmpl = ch_alert_template(r, subj, dev, &s->ev);
		const struct ch_policy *pol = ch_config_policy(cfg, r->policy, ch_severity_name(r->severity));
		json_t *jobs = ch_alert_step_jobs(pol, 0, subj);

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
	s->ok = s->event_json != NULL;
	if (!s->ok)
		ch_event_clear(&s->ev);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void process(struct ch_ingest *ig, struct ch_msg *msgs, size_t n)
{
	struct ch_runtime *rt = ch_runtime_acquire();
	struct slot *slots = ig->slots;
	struct ch_ingest_event *evs = ig->evs;
	struct ch_dead_letter *dls = ig->dls;
	char (*details)[256] = ig->details;
	struct ch_ingest_result res = {0};
	size_t nev = 0, ndl = 0;
	uint64_t maxseq = 0;
	char err[512];
	int attempt = 0, rc;

	if (!rt || !slots || !evs || !dls || !details) {
		ch_log(CH_LOG_ERROR, "ingest: out of memory; batch left in the journal");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ch_subject *subj;

		if (msgs[i].seq > maxseq)
			maxseq = msgs[i].seq;
		prepare(rt, &msgs[i], &slots[i], details[i], sizeof(details[i]), dls, &ndl);
		if (!slots[i].ok)
			continue;
		subj = ch_registry_find_device(rt->reg, slots[i].ev.device, NULL);
		evs[nev++] = (struct ch_ingest_event){
			.sid = subj->id,
			.device = slots[i].ev.device,
			.dedup_id = slots[i].dedup,
			.dedup_ttl_ms = slots[i].ev.id[0] ? rt->cfg->limits.dedup_ttl_ms : IMPLICIT_ID_TTL_MS,
			.ts_ms = slots[i].ev.ts_ms,
			.event_json = slots[i].event_json,
			.matches = slots[i].matches,
			.nmatches = slots[i].nmatches,
		};
	}
	for (;;) {
		rc = ch_store_ingest(ig->store, evs, nev, dls, ndl, ch_clock_now_ms(), ig->actor,
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
		for (size_t i = 0; i < n; i++) {
			if (slots[i].ok) {
				dls[ndl + k] = (struct ch_dead_letter){"store_error", err, msgs[i].topic, msgs[i].payload,
								       msgs[i].len < DEADLETTER_KEEP ? msgs[i].len : DEADLETTER_KEEP,
								       msgs[i].orig_len, msgs[i].arrival_ms};
				k++;
			}
		}
		if (k && ch_store_ingest(ig->store, NULL, 0, dls + ndl, k, ch_clock_now_ms(), ig->actor,
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
	for (size_t i = 0; slots && i < n; i++)
		slot_clear(&slots[i]);
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
	ig->slots = calloc(cap, sizeof(*ig->slots));
	ig->evs = calloc(cap, sizeof(*ig->evs));
	/* A batch can dead-letter each event twice (refused, then store error). */
	ig->dls = calloc(2 * cap, sizeof(*ig->dls));
	ig->details = calloc(cap, sizeof(*ig->details));
	if (!batch || !ig->slots || !ig->evs || !ig->dls || !ig->details) {
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
	free(ig->details);
	free(ig->actor);
	free(ig);
}
