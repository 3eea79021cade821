/*
 * store.h - everything carehub keeps in Redis.  The only module that sees hiredis.
 *
 * Key layout (P is redis.prefix, default "ch:"; {sid} is a hash tag so one
 * subject's keys share a cluster slot):
 *   P{sid}:dedup:<device>|<event id>   event ids seen (SET NX PX ttl)
 *   P{sid}:devices                     hash device -> last event time (ms)
 *   P{sid}:seq                         alert number counter
 *   P{sid}:open:<rule>                 id of the open alert for (subject, rule)
 *   P{sid}:alert:<n>                   the alert document (JSON)
 *   P{sid}:alert:<n>:tl                the alert's timeline (list of JSON entries)
 *   Palerts:open                       sorted set of open alert ids by opening time
 *   Poutbox                            stream of notification jobs (consumer group "dispatch")
 *   Pdispatch:<idempotency key>        state of one send: sending, sent, failed
 *   Pdeadletter                        stream of rejected input with its reason
 *   Pregistry:subjects                 hash subject id -> subject record (JSON)
 *
 * A connection (struct ch_store) belongs to one thread.  After any error the
 * connection is dropped and the next call reconnects (hiredis contexts are not
 * reusable after an error).
 */
#ifndef CH_STORE_H
#define CH_STORE_H

#include "ch.h"

#include <jansson.h>

struct ch_store;

struct ch_store_opts {
	const char *host; /* borrowed, copied */
	int port;
	int db;
	const char *password; /* NULL: no AUTH; copied, never logged */
	const char *prefix;
	int timeout_ms; /* connect and command timeout */
};

/* Creates a handle and connects; a failed connect still returns the handle (CH_EAGAIN). */
int ch_store_open(const struct ch_store_opts *o, struct ch_store **out, char *err, size_t errlen);
void ch_store_close(struct ch_store *st);
/* Connects if not connected (loading scripts); 0, or CH_EAGAIN while Redis is away. */
int ch_store_ensure(struct ch_store *st, char *err, size_t errlen);
bool ch_store_connected(const struct ch_store *st);
const char *ch_store_prefix(const struct ch_store *st);

/* ---- ingest ---- */

/* One rule an event matched, with what to do if it opens a new alert. */
struct ch_ingest_match {
	const char *rule;
	const char *alert_doc; /* JSON object template of the alert (no id/state/count yet) */
	const char *jobs;      /* JSON array of step-0 notification jobs (see dispatch.h) */
	const char *timeline;  /* short text for the timeline: what happened */
};

struct ch_ingest_event {
	const char *sid;
	const char *device;
	const char *dedup_id; /* "" for none */
	int64_t dedup_ttl_ms;
	int64_t ts_ms;
	const char *event_json; /* the canonical event, compact */
	const struct ch_ingest_match *matches;
	size_t nmatches;
};

struct ch_dead_letter {
	const char *reason; /* ch_reject_name() */
	const char *detail;
	const char *topic;
	const char *payload; /* may be truncated by the caller; len is what is stored */
	size_t len;
	size_t orig_len;
	int64_t arrival_ms;
};

/* An alert state change to publish; strings owned by the array (ch_store_transitions_free). */
struct ch_transition {
	char *kind; /* opened, repeat */
	char *sid;
	char *alert_id;
	char *doc; /* the alert document */
};

struct ch_ingest_result {
	struct ch_transition *transitions;
	size_t ntransitions;
	size_t duplicates; /* events skipped as already seen */
	size_t jobs;       /* notification jobs queued */
};

/*
 * Applies a batch in one round trip: the events (atomically, in one script call)
 * and the dead letters.  CH_EAGAIN when Redis is away: nothing, or all of the
 * script, was applied; the caller retries the same batch (dedup makes that safe).
 */
int ch_store_ingest(struct ch_store *st, const struct ch_ingest_event *evs, size_t nev,
		    const struct ch_dead_letter *dls, size_t ndl, int64_t now_ms, const char *actor,
		    size_t deadletter_max, struct ch_ingest_result *res, char *err, size_t errlen);
void ch_ingest_result_clear(struct ch_ingest_result *res);

/* ---- registry ---- */

/* Upserts subject records (id -> JSON) in one round trip. */
int ch_store_registry_upsert(struct ch_store *st, json_t *const *subjects, size_t n, char *err,
			     size_t errlen);
/* Reads every subject record; *out is a new JSON array (caller decrefs). */
int ch_store_registry_read(struct ch_store *st, json_t **out, char *err, size_t errlen);

/* ---- outbox and dispatch ---- */

struct ch_job {
	char *entry_id; /* stream id */
	json_t *job;    /* the job object, owned */
};

/* Creates the stream's consumer group if missing. */
int ch_store_outbox_init(struct ch_store *st, char *err, size_t errlen);
/*
 * Reads up to count jobs for this consumer: pending=true re-reads this consumer's
 * unacknowledged entries (after a restart), else new ones.  Also reclaims
 * entries idle longer than claim_idle_ms from dead consumers when > 0.
 */
int ch_store_outbox_read(struct ch_store *st, const char *consumer, bool pending, int count,
			 struct ch_job **out, size_t *n, char *err, size_t errlen);
int ch_store_outbox_claim(struct ch_store *st, const char *consumer, int64_t min_idle_ms, int count,
			  struct ch_job **out, size_t *n, char *err, size_t errlen);
void ch_store_jobs_free(struct ch_job *jobs, size_t n);

/* Queues a job (fallback to another channel). */
int ch_store_outbox_add(struct ch_store *st, json_t *job, char *err, size_t errlen);

/* State of a send: "" if never tried. */
int ch_store_dispatch_state(struct ch_store *st, const char *key, char *state, size_t len, char *err,
			    size_t errlen);
/* Marks a send as being attempted (before the first try). */
int ch_store_dispatch_begin(struct ch_store *st, const char *key, char *err, size_t errlen);
/*
 * Final outcome of a job: records state ("sent"/"failed"), appends a timeline
 * entry to the alert and acknowledges the stream entry, in one round trip.
 */
int ch_store_dispatch_finish(struct ch_store *st, const char *entry_id, const char *key,
			     const char *state, const char *sid, const char *alert_id,
			     const char *timeline_json, char *err, size_t errlen);

/* The alert document, or CH_ENOTFOUND.  *doc is malloc'ed. */
int ch_store_alert_get(struct ch_store *st, const char *alert_id, char **doc, char *err, size_t errlen);
/* The alert's timeline as a JSON array (caller decrefs). */
int ch_store_alert_timeline(struct ch_store *st, const char *alert_id, json_t **out, char *err,
			    size_t errlen);

/* Splits "s-001:42" into sid and number; CH_EINVAL if malformed. */
int ch_store_alert_id_split(const char *alert_id, char *sid, size_t sidlen, long *num);

#endif
