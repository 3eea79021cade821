/*
 * checkin.h - scheduled check-in calls: what a subject's (or its group's)
 * "check_in" block says, when each call is due in the subject's zone, and
 * what happens at each moment of one slot's life.
 *
 * Pure: no I/O and no clock of its own.  care.c runs these decisions on state
 * kept in Redis (store_care.c); unit tests and the fuzzer call them directly.
 *
 * A slot is one due time ("at" 09:30 on 11-28, or one "every" period).  Its
 * life: due -> skipped (the sensors showed activity, away, silenced, quiet
 * hours) or called; called -> well, needs help, or no answer (the platform
 * said so, or said nothing within answer_within) -> one retry after
 * retry_after -> well, needs help or missed.  Every slot ends in exactly one
 * outcome, which becomes an event of the subject (type "check_in"), so the
 * rules (check_in_help, check_in_missed) and the daily aggregates see it.
 *
 * Keys: the call of a slot is sent under "<subject>:checkin:<slot>", its
 * retry under "<subject>:checkin:<slot>:retry"; slot is the due instant in
 * UTC, "20261128T013000Z".  The key is the idempotency key the voice platform
 * gets, the key of the send in the outbox, and what its callback names.
 */
#ifndef CH_CHECKIN_H
#define CH_CHECKIN_H

#include "ch.h"
#include "event.h"

#include <jansson.h>

struct ch_tz;
struct ch_registry;
struct ch_subject;
struct ch_templates;

#define CH_CHECKIN_MAX_AT 12
#define CH_CHECKIN_SLOT_LEN 17 /* "20261128T013000Z" and its NUL */
#define CH_CHECKIN_KEY_MAX 160
#define CH_CHECKIN_TOPIC "carehub/v1/checkins"
/* The pseudo-device check-in events come from (not in the registry). */
#define CH_CHECKIN_DEVICE "checkin"

struct ch_checkin_conf {
	int nat;                        /* "at": local times of day, sorted and unique */
	int at_min[CH_CHECKIN_MAX_AT];  /* minutes of the day */
	int64_t every_ms;               /* "every": 0 when "at" is used; slots restart at local midnight */
	int64_t skip_active_ms;         /* "skip_if_active_within": 0 never skips for activity */
	char channel[64];               /* "channel": default "ai_call" */
	int alert_after_missed;         /* "alert_after_missed": default 2; 0 never alerts */
	int64_t retry_after_ms;         /* "retry_after": default 10 min */
	int64_t answer_within_ms;       /* "answer_within": no callback by then counts as no answer; 15 min */
	uint32_t hash;                  /* of all the above: a changed schedule starts a new slot */
};

/*
 * Parses and checks a "check_in" object (untrusted: registry files and
 * records edited through the API).  On error CH_ECONFIG with the JSON pointer
 * below the block in ptr ("" for the block itself, "/at/1") and what was
 * expected in err.
 */
int ch_checkin_conf_parse(json_t *o, struct ch_checkin_conf *out, char *ptr, size_t ptrlen, char *err,
			  size_t errlen);

/* The first due instant strictly after after_ms in zone tz (NULL: UTC); INT64_MAX if none. */
int64_t ch_checkin_next_due(const struct ch_checkin_conf *c, const struct ch_tz *tz, int64_t after_ms);

/* "20261128T013000Z" for a due instant; buf >= CH_CHECKIN_SLOT_LEN. */
void ch_checkin_slot_name(int64_t due_ms, char *buf, size_t len);

/* "<sid>:checkin:<slot>" (try 1) or "...:retry" (try 2); CH_EINVAL when it does not fit. */
int ch_checkin_key(const char *sid, const char *slot, int try_no, char *buf, size_t len);
/* The reverse; false when key is not a check-in key. */
bool ch_checkin_key_parse(const char *key, char *sid, size_t sidlen, char slot[CH_CHECKIN_SLOT_LEN], int *try_no);

/* ---- one slot's life ---- */

enum ch_checkin_phase {
	CH_CI_DUE = 0, /* waiting for the slot's due time */
	CH_CI_CALLING, /* a call is queued: waiting for its answer until next_ms */
	CH_CI_RETRY,   /* no answer: the retry goes at next_ms */
};

/* What Redis keeps per subject (store_care.c: the hash {sid}:checkin). */
struct ch_checkin_state {
	char slot[CH_CHECKIN_SLOT_LEN]; /* the current slot, "" before the first */
	int64_t due_ms;
	int phase;             /* enum ch_checkin_phase */
	int tries;             /* calls queued for this slot: 0, 1, 2 */
	int64_t next_ms;       /* when something is due: the slot, the answer deadline, the retry */
	int missed;            /* slots missed in a row */
	char last[16];         /* the last slot's outcome: well, needs_help, missed, skipped */
	char last_slot[CH_CHECKIN_SLOT_LEN];
	int64_t last_ms;
	char reason[64];       /* why the last slot was skipped or missed */
	uint32_t conf_hash;
};

/* What the hub knows about the person at that moment (engine state, aggregates, contact). */
struct ch_checkin_ctx {
	int64_t last_active_ms; /* latest sign of life from the activity sensors; 0 none */
	bool away;              /* out (front door) or in hospital */
	bool silenced;          /* a subject silence is on */
	bool quiet;             /* inside the person's quiet hours */
	bool reachable;         /* the channel is configured and there is a number to call */
};

enum ch_checkin_do {
	CH_CI_NOTHING = 0, /* just store next (a new slot scheduled, or nothing changed) */
	CH_CI_CALL,        /* queue call try_no and store next */
	CH_CI_ANSWER,      /* feed the synthetic answer below to ch_checkin_apply */
};

struct ch_checkin_step {
	enum ch_checkin_do what;
	struct ch_checkin_state next;
	int try_no;          /* CALL */
	char outcome[16];    /* ANSWER: "skipped" or "no_answer" */
	char reason[64];     /* ANSWER: why ("active 12 min ago", "no answer within 15m") */
};

/*
 * The clock reached now for this subject: what to do.  A slot whose time came
 * while the hub was down is still called up to an hour (or one period) late,
 * and skipped ("late") after that.
 */
void ch_checkin_tick(const struct ch_checkin_conf *c, const struct ch_tz *tz, const struct ch_checkin_state *st,
		     const struct ch_checkin_ctx *cx, int64_t now_ms, struct ch_checkin_step *out);

/* An answer about one call (a provider callback, or a synthetic one from ch_checkin_tick). */
struct ch_checkin_answer {
	char sid[CH_DEVICE_MAX];
	char slot[CH_CHECKIN_SLOT_LEN];
	int try_no;        /* 1 or 2; 0 for a synthetic skip */
	char outcome[16];  /* confirmed_safe, needs_help, answered, no_answer, busy, failed, skipped */
	char via[64];      /* the channel, or "hub" */
	char ref[128];     /* the provider's call id */
	char detail[256];  /* the provider's words, or the hub's reason */
};

struct ch_checkin_result {
	bool stale;      /* about a call that is over: nothing changes */
	bool final;      /* the slot is over: an event of the subject (ch_checkin_event_json) */
	char value[16];  /* final: well, needs_help, missed, skipped */
	int missed;      /* slots missed in a row after this one */
	bool alert;      /* missed reached alert_after_missed */
	bool reached;    /* the person answered: an open check_in_missed alert can close */
	struct ch_checkin_state next;
};

/*
 * Applies an answer.  The current slot's answers move it on (no answer to
 * the first call: the retry after retry_after; to the retry: missed); "I
 * need help" or "I am well" about the slot before (a late callback) still
 * counts; anything else about another slot or try is stale.  A call picked up
 * with no key pressed counts as no answer: she may not be able to speak.
 */
void ch_checkin_apply(const struct ch_checkin_conf *c, const struct ch_tz *tz, const struct ch_checkin_state *st,
		      const struct ch_checkin_answer *a, int64_t now_ms, struct ch_checkin_result *out);

/* ---- the messages ---- */

/*
 * The internal message an answer travels in (journal, then the correlator):
 * {"subject","slot","try","outcome","via","ref","detail"}.  malloc'ed or NULL.
 */
char *ch_checkin_answer_json(const struct ch_checkin_answer *a);
/* Parses it (untrusted: it is replayed from the journal); CH_EINVAL with err. */
int ch_checkin_answer_parse(const char *payload, size_t len, struct ch_checkin_answer *out, char *err,
			    size_t errlen);

/*
 * A provider callback about a check-in call (key from ch_checkin_key) as the
 * internal answer message: CH_ENOTFOUND when the key is not a check-in key of
 * a subject with check-ins; CH_EINVAL for another channel's key or an
 * outcome that is not a call's (delivered receipts are CH_EAGAIN: nothing to
 * do).  *doc malloc'ed.
 */
struct ch_callback_result;
int ch_checkin_from_callback(const struct ch_registry *reg, const char *channel, const struct ch_callback_result *r,
			     char **doc, char *err, size_t errlen);

/*
 * The final outcome as a canonical event of the subject, id
 * "checkin:<slot>:<value>" (a replay is processed once; a late "needs help"
 * after "missed" is its own event):
 * {"id","device":"checkin","type":"check_in","ts":MS,"value":VALUE,
 *  "data":{"slot","try","missed","alert","reason","via"}}.  malloc'ed or NULL.
 */
char *ch_checkin_event_json(const struct ch_checkin_answer *a, const struct ch_checkin_result *r, int64_t now_ms);

/*
 * The spoken script (template kind "checkin" of the channel's plugin, in the
 * person's language) for a call to subj; contact_name is the person's name.
 */
void ch_checkin_render(const struct ch_templates *tpl, const char *lang, const struct ch_subject *subj,
		       const char *channel, const char *plugin, char *out, size_t len);

#endif
