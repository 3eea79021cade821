/*
 * store.h - everything carehub keeps in Redis.  The only module that sees hiredis.
 *
 * Key layout (P is redis.prefix, default "ch:"; {sid} is a hash tag so one
 * subject's keys share a cluster slot):
 *   P{sid}:dedup:<device>|<event id>   event ids seen (SET NX PX ttl)
 *   P{sid}:seq                         alert number counter
 *   P{sid}:eng                         hash: v (version), s (engine state, engine.h)
 *   P{sid}:silences                    hash rule/device id ("*": subject) -> silence (JSON)
 *   P{sid}:open:<key>                  id of the open alert for (subject, key); key is
 *                                      the rule id, or "rule|device" for device health
 *   P{sid}:alert:<n>                   the alert document (JSON)
 *   P{sid}:alert:<n>:tl                the alert's timeline (list of JSON entries)
 *   Palerts:open                       sorted set of open alert ids by opening time
 *   Ptimers                            sorted set: subject id -> its next deadline (ms)
 *   P{sid}:esc:<n>                     hash pol, g, at: the alert's next escalation step (kept
 *                                      while acknowledged: a new press goes on from it)
 *   Pescalations                       sorted set: alert id -> when its next step is due
 *   Pheld                              sorted set: job (JSON) held for quiet hours -> when they end
 *   Poutbox                            stream of notification jobs (consumer group "dispatch")
 *   Pdispatch:<idempotency key>        state of one send: sending, sent, failed
 *   Pdeadletter                        stream of rejected input with its reason
 *   Pregistry:subjects                 hash subject id -> subject record (JSON)
 *   Pchanges                           capped stream of alert changes {alert, kind, doc}: the
 *                                      live feed (GET /v1/stream), written by the scripts
 *   Paudit                             capped stream of what signed-in accounts did
 *   Poperators                         hash name -> operator account (JSON, argon2id hash)
 *   Psession:<sha256 of the cookie>    a signed-in session (JSON), expires when idle
 *   Ploginfail:<kind>:<who>            failed logins in the current window (counter)
 *   Preply:<channel>:<last 11 digits>  the latest notification sent to a number (a day)
 *   P{sid}:devhealth                   hash "<device>|battery" -> "<percent>|<ms>", "<device>|online"
 *                                      -> "0|1|<ms>": what devices last said of themselves
 *   Pcallback:<digest>                 a provider callback taken (replays refused), for
 *                                      twice its channel's callback_window
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
	const char *socket; /* a unix socket path instead of host and port; NULL: TCP; copied */
	int db;
	const char *username; /* ACL user for AUTH; NULL: the default user; copied */
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

/*
 * Claims P<name> for ttl_ms (SET NX PX): 0 when this call took it, CH_EDUP
 * when it is already taken (a replay), CH_EAGAIN while Redis is away.
 * ch_store_unclaim gives it back (the claimant could not finish).
 */
int ch_store_claim(struct ch_store *st, const char *name, int64_t ttl_ms, char *err, size_t errlen);
int ch_store_unclaim(struct ch_store *st, const char *name, char *err, size_t errlen);

/* ---- ingest ---- */

/* An event of a group: dedup and device last-seen. */
struct ch_store_event {
	const char *device;
	const char *dedup_id; /* "" for none */
	int64_t dedup_ttl_ms;
	int64_t ts_ms;
	/* What the device says of itself, kept for the console's device health:
	 * "battery:<percent>" or "online:<0|1>"; NULL or "" for anything else. */
	const char *health;
};

/* An alert change the engine decided (see engine.h). */
struct ch_store_action {
	const char *kind;       /* opened, repeat, resolved, raised, acknowledged, silenced */
	const char *key;        /* dedup key within the subject */
	const char *doc;        /* opened: the alert document template (JSON) */
	const char *jobs;       /* opened: step-0 notification jobs (JSON array) */
	const char *text;       /* the timeline's line */
	const char *outcome;    /* resolved */
	const char *severity;   /* raised */
	const char *event_json; /* the event that caused it, or "" */
	const char *alert_id;   /* acknowledged/resolved by a person: only this alert, if still open; else NULL */
	const char *by;         /* who, for the timeline; NULL: the hub */
	const char *esc_policy; /* opened: the policy whose later steps follow */
	int64_t esc_at;         /* opened: when step 1 is due (0: no later steps) */
	const char *renotify;   /* opened/repeat of a rule that re-notifies: ch_alert_renotify (JSON); NULL: none */
};

/*
 * One subject's share of a batch, applied only if its engine state is still
 * at version `expect` (compare-and-set; -1: whatever it is).
 */
struct ch_store_group {
	const char *sid;
	long long expect;
	const uint8_t *state; /* new engine state, NULL: leave */
	size_t state_len;
	int64_t deadline; /* next timer: -1 leave, 0 none, else epoch ms */
	const struct ch_store_event *evs;
	size_t nev;
	const struct ch_store_action *acts;
	size_t nacts;
};

enum ch_group_status { CH_GROUP_APPLIED = 0, CH_GROUP_CONFLICT, CH_GROUP_DUPS };

struct ch_group_result {
	enum ch_group_status status;
	long long version; /* applied: the new version; conflict: the current one */
	uint8_t *state;    /* conflict: the current state (malloc'ed, may be NULL) */
	size_t state_len;
	char *dups; /* dups: indices of the events already seen, "0,3" */
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
	struct ch_group_result *groups; /* one per group sent, in order */
	size_t ngroups;
	size_t jobs; /* notification jobs queued */
};

/*
 * Applies a batch in one round trip: the groups (atomically, in one script
 * call) and the dead letters.  CH_EAGAIN when Redis is away: nothing, or all
 * of the script, was applied; the caller retries (dedup and the version check
 * make that safe).  Groups not applied are reported in res->groups.
 */
int ch_store_ingest(struct ch_store *st, const struct ch_store_group *groups, size_t ngroups,
		    const struct ch_dead_letter *dls, size_t ndl, int64_t now_ms, const char *actor,
		    size_t deadletter_max, struct ch_ingest_result *res, char *err, size_t errlen);
void ch_ingest_result_clear(struct ch_ingest_result *res);

/* ---- engine state and timers ---- */

/* One subject's engine state as stored: version 0 and no bytes when none yet. */
struct ch_state_blob {
	char *sid; /* timers claim: malloc'ed; states read: NULL */
	long long version;
	uint8_t *state; /* malloc'ed or NULL */
	size_t len;
};

/* Reads the engine states of n subjects in one round trip; out[n] filled. */
int ch_store_states_read(struct ch_store *st, const char *const *sids, size_t n, struct ch_state_blob *out,
			 char *err, size_t errlen);
/*
 * Claims up to max subjects whose timer is due at now: each is pushed lease_ms
 * ahead and returned with its state.  *out malloc'ed (ch_state_blobs_free).
 */
int ch_store_timers_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max,
			  struct ch_state_blob **out, size_t *n, char *err, size_t errlen);
void ch_state_blobs_free(struct ch_state_blob *b, size_t n);

/* ---- escalation (store_escalate.lua) ---- */

struct ch_esc_due {
	char *alert_id;
	char *policy;
	long long step; /* global index of the step due, counting repeats */
	char *doc;      /* the alert document ("" if gone) */
};

/* Claims up to max due escalation steps, each pushed lease_ms ahead. */
int ch_store_esc_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max, struct ch_esc_due **out,
		       size_t *n, char *err, size_t errlen);
void ch_esc_due_free(struct ch_esc_due *d, size_t n);
/*
 * Applies step `step` if the escalation is still there: queues jobs (JSON
 * array), notes it on the timeline, and schedules next_step at next_at (0: it
 * was the last).  *njobs = -1 when the step was already taken.
 */
int ch_store_esc_step(struct ch_store *st, int64_t now_ms, const char *actor, const char *alert_id, long long step,
		      int64_t next_at, const char *jobs, const char *text, long long *njobs, char *err, size_t errlen);
/* Releases jobs held for quiet hours that have ended (dropped if their alert was answered). */
int ch_store_held_release(struct ch_store *st, int64_t now_ms, const char *actor, int max, long long *queued,
			  char *err, size_t errlen);
/*
 * Per-number rate limits of a channel: takes one send from every window
 * (max[i] sends per window_ms[i]) if all have room, *wait_ms = 0; else takes
 * nothing and *wait_ms is how long until one rolls over.
 */
int ch_store_rate_take(struct ch_store *st, const char *channel, const char *number_id, const int *max,
		       const int64_t *window_ms, size_t n, int64_t now_ms, int64_t *wait_ms, char *err, size_t errlen);
/* Ends an escalation whose alert is no longer open. */
int ch_store_esc_stop(struct ch_store *st, const char *alert_id, char *err, size_t errlen);

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

/* State of a send: "" if never tried. */
int ch_store_dispatch_state(struct ch_store *st, const char *key, char *state, size_t len, char *err,
			    size_t errlen);
/* Marks a send as being attempted (before the first try). */
int ch_store_dispatch_begin(struct ch_store *st, const char *key, char *err, size_t errlen);
/*
 * Final outcome of a job: records state ("sent"/"failed"), appends a timeline
 * entry to the alert, queues next_job (a fallback, may be NULL; with
 * next_told, the "cid|channel" it is remembered under for the all clear; with
 * next_hold_ms > 0 it waits in the held set until then: quiet hours) and
 * acknowledges the stream entry, in one transaction and one round trip.
 */
int ch_store_dispatch_finish(struct ch_store *st, const char *entry_id, const char *key,
			     const char *state, const char *sid, const char *alert_id,
			     const char *timeline_json, const char *next_job, const char *next_told,
			     int64_t next_hold_ms, char *err, size_t errlen);
/*
 * Remembers key as the latest notification sent to phone on channel (for a
 * day), so an SMS the person sends back can be matched to it; and looks it up.
 * Numbers are compared by their last 11 digits: gateways add or drop the
 * country code.  CH_ENOTFOUND when nothing was sent there lately.
 */
int ch_store_reply_note(struct ch_store *st, const char *channel, const char *phone, const char *key, char *err,
			size_t errlen);
int ch_store_reply_find(struct ch_store *st, const char *channel, const char *phone, char *key, size_t keylen,
			char *err, size_t errlen);

/* The alert document, or CH_ENOTFOUND.  *doc is malloc'ed. */
int ch_store_alert_get(struct ch_store *st, const char *alert_id, char **doc, char *err, size_t errlen);
/* For the API (each a new JSON reference in *out):
 * the open and acknowledged alerts, oldest first, at most max documents; */
int ch_store_alerts_open(struct ch_store *st, size_t max, json_t **out, char *err, size_t errlen);
/* a subject's alerts in any state, newest first, at most max; */
int ch_store_subject_alerts(struct ch_store *st, const char *sid, size_t max, json_t **out, char *err, size_t errlen);
/* a subject's silences as {target ("*": the subject): {"scope","target","until","until_ms","reason","by"}}. */
int ch_store_silences_get(struct ch_store *st, const char *sid, json_t **out, char *err, size_t errlen);

/* The job an alert's contact was told by ("cid|channel" in {sid}:alert:<n>:told), or CH_ENOTFOUND.
 * *job is malloc'ed JSON. */
int ch_store_told_get(struct ch_store *st, const char *alert_id, const char *field, char **job, char *err,
		      size_t errlen);
/* The alert's timeline as a JSON array (caller decrefs). */
int ch_store_alert_timeline(struct ch_store *st, const char *alert_id, json_t **out, char *err,
			    size_t errlen);

/* ---- accounts (store_accounts.c) ---- */

/* An operator's record (JSON object), or CH_ENOTFOUND.  New reference in *out. */
int ch_store_operator_get(struct ch_store *st, const char *name, json_t **out, char *err, size_t errlen);
/* Writes an operator's record; with create, CH_EDUP when the name is taken. */
int ch_store_operator_put(struct ch_store *st, const char *name, json_t *rec, bool create, char *err, size_t errlen);
/* Every operator record (a new array). */
int ch_store_operators_list(struct ch_store *st, json_t **out, char *err, size_t errlen);
/* A session under key (hex digest of the cookie): put with an idle ttl; get refreshes the ttl
 * (CH_ENOTFOUND when gone); del ends it. */
int ch_store_session_put(struct ch_store *st, const char *key, json_t *rec, int64_t ttl_ms, char *err, size_t errlen);
int ch_store_session_get(struct ch_store *st, const char *key, int64_t ttl_ms, json_t **out, char *err, size_t errlen);
int ch_store_session_del(struct ch_store *st, const char *key, char *err, size_t errlen);
/*
 * Failed logins in fixed windows of window_ms, for each of n counters
 * ("pair:<name>|<ip>", "ip:<ip>", "name:<name>"): with add, each is counted
 * one up first.  counts[i] is the count, ttl_ms the longest time left.
 */
int ch_store_login_failures(struct ch_store *st, const char *const *who, size_t n, bool add, int64_t window_ms,
			    long long *counts, int64_t *ttl_ms, char *err, size_t errlen);
/* Forgets the failures of who[0..n). */
int ch_store_login_clear(struct ch_store *st, const char *const *who, size_t n, char *err, size_t errlen);
/* Appends to the audit stream: ts_ms, actor, role, action, target, detail. */
int ch_store_audit_add(struct ch_store *st, int64_t ts_ms, const char *actor, const char *role, const char *action,
		       const char *target, const char *detail, char *err, size_t errlen);
/* The newest n audit entries, newest first: [{"id","ts_ms","actor","role","action","target","detail"}]. */
int ch_store_audit_list(struct ch_store *st, size_t n, json_t **out, char *err, size_t errlen);

/* ---- the live feed (store_alerts.c) ---- */

/* One entry of Pchanges. */
struct ch_change {
	char id[48];   /* stream id "<ms>-<seq>" */
	char *alert;   /* malloc'ed */
	char *kind;    /* malloc'ed */
	char *doc;     /* the alert document after the change, malloc'ed ("" when the writer had none) */
};
void ch_changes_free(struct ch_change *c, size_t n);
/*
 * Entries after id ("0": from the start; "$": only new ones), at most max,
 * waiting up to block_ms (0: no wait) for one to arrive.  *out malloc'ed.
 */
int ch_store_changes_read(struct ch_store *st, const char *after, size_t max, int block_ms, struct ch_change **out,
			  size_t *n, char *err, size_t errlen);
/* The oldest and newest ids kept ("" when the stream is empty). */
int ch_store_changes_bounds(struct ch_store *st, char *first, char *last, size_t len, char *err, size_t errlen);
/* The newest n entries, oldest first (to prime a reader after a start). */
int ch_store_changes_tail(struct ch_store *st, size_t max, struct ch_change **out, size_t *n, char *err, size_t errlen);

/* ---- what the API reads besides alerts ---- */

/* The alert's escalation: its policy, next global step and when it is due; CH_ENOTFOUND when none. */
int ch_store_esc_get(struct ch_store *st, const char *alert_id, char *policy, size_t plen, long long *step,
		     int64_t *at_ms, char *err, size_t errlen);
/* The engine state blob of a subject (malloc'ed; NULL and 0 when none). */
int ch_store_state_get(struct ch_store *st, const char *sid, uint8_t **blob, size_t *len, char *err, size_t errlen);
/* A subject's P{sid}:devhealth as an object field -> value (strings). */
int ch_store_devhealth_get(struct ch_store *st, const char *sid, json_t **out, char *err, size_t errlen);
/* The ids of recently resolved alerts, newest first (Palerts:recent, capped). */
int ch_store_alerts_recent(struct ch_store *st, size_t max, json_t **out, char *err, size_t errlen);

/* Splits "s-001:42" into sid and number; CH_EINVAL if malformed. */
int ch_store_alert_id_split(const char *alert_id, char *sid, size_t sidlen, long *num);

#endif
