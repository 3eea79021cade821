/*
 * stream.h - the live feed of alert changes (GET /v1/stream, server-sent
 * events), resumable by event id.
 *
 * Every script that changes an alert appends the change to the capped Redis
 * stream Pchanges in the same step (store.h), so a change and its feed entry
 * commit together.  One reader thread per hub follows that stream (XREAD
 * BLOCK) into a ring of ready-made SSE frames and wakes the clients; each
 * client (one HTTP connection thread) takes the frames after its own cursor.
 * The event id is the Redis stream id, the same on every hub instance of one
 * Redis and across restarts (the ring is primed from the stream's tail at
 * start), so a browser that reconnects to another instance, or after a
 * restart, resumes where it stopped.  A cursor older than the ring gets
 * "event: reset" (the client refetches /v1/alerts); so does one the stream
 * never had (a wiped Redis).
 *
 * Frames: "id: <id>\nevent: alert\ndata: <JSON>\n\n", ": keepalive\n\n" when
 * nothing happened for keepalive_ms, "retry: 2000" once at the start.
 */
#ifndef CH_STREAM_H
#define CH_STREAM_H

#include "ch.h"
#include "store.h"

struct ch_stream;
struct ch_stream_client;

struct ch_stream_opts {
	const struct ch_store_opts *store; /* borrowed for the call; the reader has its own connection */
	int keepalive_ms;                  /* 0: 15 s */
	size_t ring;                       /* frames kept for resuming; 0: 1024 */
	size_t max_clients;                /* 0: 64 */
	/*
	 * The data line of one change (malloc'ed JSON, no newlines), from the
	 * reader thread: doc is the alert document after the change ("" when
	 * gone).  NULL: the change is skipped.
	 */
	char *(*render)(void *arg, const struct ch_change *c, const char *doc);
	void *arg;
};

int ch_stream_start(const struct ch_stream_opts *o, struct ch_stream **out, char *err, size_t errlen);
/* Ends every client's stream at its next read, stops the reader, frees s. */
void ch_stream_stop(struct ch_stream *s);

/*
 * A new client, resuming after last_id (NULL or "": only what comes next).
 * CH_EFULL when max_clients are connected.
 */
int ch_stream_open(struct ch_stream *s, const char *last_id, struct ch_stream_client **out);
/*
 * Up to max bytes of frames for the client: waits up to a second for
 * something; 0 when nothing yet, -1 when the stream is stopping.
 */
long ch_stream_next(struct ch_stream_client *c, char *buf, size_t max);
void ch_stream_close(struct ch_stream_client *c);
/* Connected clients (for /metrics). */
size_t ch_stream_clients(struct ch_stream *s);

/* ---- pure, for tests ---- */

/* One SSE frame: "id: ..\nevent: ..\ndata: ..\n\n" (id and event may be NULL); malloc'ed. */
char *ch_sse_frame(const char *id, const char *event, const char *data);
/* Compares two stream ids "<ms>-<seq>" numerically; a malformed id is older than any. */
int ch_stream_id_cmp(const char *a, const char *b);
/* true when s is a stream id: digits, '-', digits. */
bool ch_stream_id_ok(const char *s);

#endif
