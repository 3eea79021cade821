/*
 * ingest.h - the correlator: takes batches off the ingest queue, validates
 * events, groups them by subject, runs the engine (engine.h) on each subject's
 * state and applies the batch to Redis in one round trip (compare-and-set per
 * subject), then publishes alert changes and wakes the dispatcher.  Between
 * batches it claims due timers and evaluates those subjects the same way.
 *
 * While Redis is away it retries the same batch with backoff and takes no more
 * from the queue; the queue fills, the MQTT thread stops reading, and the
 * broker holds the backlog.
 */
#ifndef CH_INGEST_H
#define CH_INGEST_H

#include "ch.h"
#include "journal.h"
#include "mqtt.h"
#include "queue.h"
#include "store.h"

struct ch_ingest;

struct ch_ingest_opts {
	struct ch_queue *queue;     /* borrowed */
	struct ch_journal *journal; /* borrowed, may be NULL */
	const struct ch_store_opts *store;
	const char *actor;          /* "carehubd/<instance>" for timelines */
	/* Publishes an alert document; borrowed hook so tests can run without MQTT. */
	void (*publish_alert)(void *arg, const char *sid, const char *doc, size_t len);
	/* Tells the dispatcher that jobs are waiting. */
	void (*jobs_ready)(void *arg);
	void *arg;
};

int ch_ingest_start(const struct ch_ingest_opts *o, struct ch_ingest **out, char *err, size_t errlen);
/*
 * The journal to commit to.  Set after start because the journal's replay
 * needs a running correlator to drain into.  Borrowed.
 */
void ch_ingest_set_journal(struct ch_ingest *ig, struct ch_journal *j);

/* Drains what is queued (up to deadline_ms for Redis to answer), then joins. */
void ch_ingest_stop(struct ch_ingest *ig, int64_t deadline_ms);

/*
 * Closes the timer gate until the message carrying nonce (decimal) on
 * CH_TOPIC_SYNC<instance> passes through the queue.  The hub calls it on every
 * MQTT (re)connect and publishes the marker to itself: the broker delivers it
 * behind the backlog it held, so overdue timers wait for the backlog to be
 * applied and a restart fires no burst of false inactivity alerts.
 */
void ch_ingest_sync_expect(struct ch_ingest *ig, uint64_t nonce);

/* Did the correlator's last Redis call succeed?  (for /healthz) */
bool ch_ingest_redis_ok(struct ch_ingest *ig);
/* Have timers been released after the last (re)connect? */
bool ch_ingest_timers_running(struct ch_ingest *ig);

/* The topic prefix of canonical events. */
#define CH_TOPIC_EVENTS "carehub/v1/events/"
/*
 * Silences: {"subject": ID, "rule": ID | "device": ID (neither: the whole
 * subject), "until": RFC 3339 or epoch ms | "for": duration, "reason": TEXT,
 * "by": NAME}.  An "until" in the past (or "for": 0) lifts the silence.
 */
#define CH_TOPIC_SILENCES "carehub/v1/silences"
/*
 * Acknowledgements: {"alert": "s-001:3", "action": "ack" | "resolve", "by": NAME,
 * "outcome": genuine | false_alarm | accidental | no_response | activity_resumed
 * (resolve only, required), "note": TEXT}.
 */
#define CH_TOPIC_ACKS "carehub/v1/acks"
/*
 * The same two from the HTTP API, with the signed-in "account" and its "role"
 * added by the server.  Never an MQTT subscription: a topic starting with '$'
 * is not matched by '#' or '+' (MQTT 3.1.1, 4.7.2), so an adapter's wildcard
 * cannot let a broker client in, and the hub subscribes to neither.  Only the
 * HTTP server queues them (through the journal); only they are trusted to say
 * who acted.
 */
#define CH_TOPIC_API_ACKS "$carehub/api/acks"
#define CH_TOPIC_API_SILENCES "$carehub/api/silences"
/* The hub's own marker topic prefix (carehub/v1/sync/<instance>). */
#define CH_TOPIC_SYNC "carehub/v1/sync/"

#endif
