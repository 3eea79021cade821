/*
 * queue.h - the bounded ingest queue between the MQTT thread and the correlator.
 *
 * Many producers, one consumer.  Pushing never blocks: the MQTT thread asks
 * ch_queue_has_room() before it reads from the socket, so when the correlator
 * falls behind (Redis away, a burst) the broker holds the backlog, not our heap.
 * A push past capacity still succeeds up to a hard limit (a read can deliver a
 * few messages at once), beyond which it fails and the caller dead-letters.
 */
#ifndef CH_QUEUE_H
#define CH_QUEUE_H

#include "ch.h"

struct ch_msg {
	char *topic;     /* owned */
	char *payload;   /* owned, NUL-terminated for convenience; len excludes the NUL */
	size_t len;
	size_t orig_len; /* before truncation of an oversized payload */
	int64_t arrival_ms;
	uint64_t seq;    /* journal sequence number, 0 if not journaled */
};

struct ch_queue;

int ch_queue_new(size_t capacity, size_t headroom, struct ch_queue **out);
void ch_queue_free(struct ch_queue *q);

/* Takes ownership of m's strings on success; CH_EFULL past capacity + headroom. */
int ch_queue_push(struct ch_queue *q, struct ch_msg *m);

/* Moves up to max messages into out; waits up to wait_ms for the first one. */
size_t ch_queue_pop(struct ch_queue *q, struct ch_msg *out, size_t max, int wait_ms);

/* Below capacity: safe to read more from the network. */
bool ch_queue_has_room(struct ch_queue *q);
/* Waits until there is room or wait_ms passed. */
void ch_queue_wait_room(struct ch_queue *q, int wait_ms);
size_t ch_queue_depth(struct ch_queue *q);
/* Wakes a consumer blocked in ch_queue_pop (on shutdown). */
void ch_queue_wake(struct ch_queue *q);

void ch_msg_clear(struct ch_msg *m);

#endif
