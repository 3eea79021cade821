/*
 * dispatch.h - the dispatcher: reads notification jobs from the outbox stream
 * in Redis, hands each to its channel's plugin, performs the plugin's HTTP
 * requests with libcurl's multi interface, and retries with capped exponential
 * backoff and full jitter.  The only module that sees libcurl.
 *
 * A job in the outbox:
 *   {"key":"<alert>:<step>:<cid>:<channel>","alert":"s-001:7","sid":"s-001",
 *    "step":0,"cid":"9f3a01c2","channel":"webhook","fallback":["sms"],
 *    "contact":{"name","phone","role","order"}}
 * The key is the idempotency key: a send recorded "sent" is never repeated;
 * one interrupted mid-flight by a crash is repeated with the same key, which
 * the provider deduplicates.  Jobs stay pending in the stream's consumer group
 * until their final outcome, so a restart picks them up again.
 */
#ifndef CH_DISPATCH_H
#define CH_DISPATCH_H

#include "ch.h"
#include "store.h"

struct ch_dispatch;

struct ch_dispatch_opts {
	const struct ch_store_opts *store;
	const char *consumer; /* this instance's name in the consumer group */
	const char *actor;    /* for timelines */
};

int ch_dispatch_start(const struct ch_dispatch_opts *o, struct ch_dispatch **out, char *err, size_t errlen);
/* Jobs are waiting: read the outbox now.  Safe from any thread. */
void ch_dispatch_wake(struct ch_dispatch *d);

/* Sends this hub holds: in flight, waiting for a retry or for a rate limit. */
size_t ch_dispatch_depth(struct ch_dispatch *d);
/* Stops taking jobs; lets transfers in flight finish up to deadline_ms; joins. */
void ch_dispatch_stop(struct ch_dispatch *d, int64_t deadline_ms);

#endif
