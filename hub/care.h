/*
 * care.h - proactive care, run by the correlator's thread: scheduled check-in
 * calls (the decisions are checkin.h) and the daily aggregates (trends.h),
 * kept in Redis through store_care.h, and the weekly digest to caseworkers.
 *
 * How it meets the rest of the hub, one hook each:
 *  - between batches ch_care_tick claims due check-ins (like rule timers):
 *    a call is queued in the outbox (key <subject>:checkin:<slot>), a slot
 *    that ends without a call (skipped, or no answer in time) comes back as
 *    an answer message for the correlator;
 *  - answers (a provider callback through the journal, or those messages) go
 *    through ch_care_answer, which moves the slot on and gives the event that
 *    ends it (type "check_in") for the rules, and the resolve of an open
 *    check_in_missed alert when the person was reached;
 *  - every applied event and every alert opened is observed
 *    (ch_care_observe, ch_care_observe_alert) and flushed to the aggregates
 *    once per batch (ch_care_flush).
 * The hub's state stays in Redis: a kill -9 loses at most the observations of
 * the batch in flight (the counters are statistics, not alerts).
 */
#ifndef CH_CARE_H
#define CH_CARE_H

#include "ch.h"
#include "event.h"
#include "queue.h"
#include "store.h"

#include <jansson.h>

struct ch_care;
struct ch_runtime;

/*
 * The config's "care" block:
 *   {"digest": {"weekday": "monday", "at": "08:00", "channel": NAME, "weeks": 4} | false}
 * or "every": DURATION instead of weekday and at (tests).  The digest goes to
 * each caseworker once a week, in the config's timezone, through channel: by
 * default the first channel of plugin caseworker (a task of kind "digest"),
 * else the first of plugin log, else the hub's own log.
 */
struct ch_care_conf {
	bool digest;       /* false: no weekly digest */
	int weekday;       /* 1 Monday .. 7 Sunday */
	int at_min;        /* minute of the day */
	int64_t every_ms;  /* > 0: every this long instead of weekly */
	char channel[64];  /* "": the default above */
	int weeks;         /* weeks each report looks at (4) */
};

/* Parses the block (NULL: the defaults); CH_ECONFIG with the JSON pointer below "care" in ptr. */
int ch_care_conf_parse(json_t *o, struct ch_care_conf *out, char *ptr, size_t ptrlen, char *err, size_t errlen);
struct ch_subject;
struct ch_device;
struct ch_tz;

/*
 * What the config and the registry must agree on for proactive care: each
 * subject's check-in channel is configured.  CH_ECONFIG with the reason, so
 * --check, the start and a reload refuse a registry that would never call.
 */
int ch_care_check(const struct ch_runtime *rt, char *err, size_t errlen);

/* Opens its own Redis connection (CH_EAGAIN from the store is not an error: it reconnects). */
int ch_care_new(const struct ch_store_opts *so, const char *actor, struct ch_care **out, char *err, size_t errlen);
void ch_care_free(struct ch_care *c);

/*
 * Check-ins due at now: calls queued (*jobs set when one went to the outbox),
 * next slots scheduled, and answer messages (topic CH_CHECKIN_TOPIC) for
 * slots that end without a call, in *msgs (malloc'ed array of nmsgs; each
 * ch_msg_clear then free).  Returns how many subjects were due.
 */
size_t ch_care_tick(struct ch_care *c, int64_t now_ms, struct ch_msg **msgs, size_t *nmsgs, bool *jobs);

/*
 * Applies one answer message (CH_CHECKIN_TOPIC).  *event: the canonical event
 * that ends the slot (check_in: well, needs_help, missed, skipped), *resolve:
 * an acknowledgement message resolving the open check_in_missed alert; each
 * malloc'ed or NULL, and *subj the subject.  A replay of an answer already
 * applied gives the same event again (its id makes it count once).
 * CH_EAGAIN while Redis is away; CH_EINVAL (err) for a malformed message.
 */
int ch_care_answer(struct ch_care *c, const struct ch_runtime *rt, const char *payload, size_t len, int64_t now_ms,
		   const struct ch_subject **subj, char **event, char **resolve, char *err, size_t errlen);

/* An event applied for subj (dev: its registry device, NULL for a check-in outcome). */
void ch_care_observe(struct ch_care *c, const struct ch_subject *subj, const struct ch_tz *tz,
		     const struct ch_event *ev, const struct ch_device *dev);
/* An alert opened (its document). */
void ch_care_observe_alert(struct ch_care *c, const char *sid, json_t *doc);
/* Writes what was observed to the aggregates (a round trip, two on a cold cache). */
void ch_care_flush(struct ch_care *c, int64_t now_ms);

#endif
