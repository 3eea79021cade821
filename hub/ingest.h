/*
 * ingest.h - the correlator: takes batches off the ingest queue, validates
 * events, matches rules and applies the batch to Redis in one round trip, then
 * publishes alert changes and wakes the dispatcher.
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

/* The topic prefix of canonical events. */
#define CH_TOPIC_EVENTS "carehub/v1/events/"

#endif
