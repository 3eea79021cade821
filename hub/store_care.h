/*
 * store_care.h - what the store keeps for proactive care: check-in schedules
 * and the daily aggregates (store_care.c, store_care.lua).  Part of the store
 * module (the only one that sees hiredis); a header of its own so the rest of
 * the store stays as it is.
 *
 * Keys (P is redis.prefix):
 *   P{sid}:checkin          hash: the subject's check-in state (checkin.h)
 *   Pcheckins               sorted set: subject -> when its check-in needs the hub
 *   P{sid}:checkin:<slot>   the slot's call was queued (":retry": its retry); 36 h
 *   P{sid}:trend            the daily aggregates: the live record (trends.h, 64 bytes),
 *                           then the finished days, 56 x 24 bytes, slot = day mod 56
 *   Pdigest:<week>          the weekly digest of that week was queued
 */
#ifndef CH_STORE_CARE_H
#define CH_STORE_CARE_H

#include "checkin.h"
#include "store.h"

/* ---- check-ins ---- */

struct ch_checkin_due {
	char *sid;
	struct ch_checkin_state st; /* zero when the subject has none yet */
	uint8_t *eng;               /* the engine state (engine.h), or NULL */
	size_t englen;
	uint8_t *live;              /* the live daily record, or NULL */
	size_t livelen;
};

/* Subjects whose check-in needs the hub at now, each pushed lease_ms ahead. */
int ch_store_checkin_claim(struct ch_store *st, int64_t now_ms, int64_t lease_ms, int max, struct ch_checkin_due **out,
			   size_t *n, char *err, size_t errlen);
void ch_checkin_due_free(struct ch_checkin_due *d, size_t n);

/*
 * Writes next over expect if the stored state is still expect (slot, phase,
 * tries): *applied false when it moved on.  job (JSON, may be NULL) goes to
 * the outbox unless the guard "<slot>" / "<slot>:retry" says it did before
 * (*queued).  remove: the subject has no check-ins any more.
 */
int ch_store_checkin_put(struct ch_store *st, const char *sid, const struct ch_checkin_state *expect,
			 const struct ch_checkin_state *next, bool remove, const char *job, const char *guard,
			 bool *applied, bool *queued, char *err, size_t errlen);

/* The subject's state and the id of its open check_in_missed alert ("" when none). */
int ch_store_checkin_get(struct ch_store *st, const char *sid, struct ch_checkin_state *out, char *missed_alert,
			 size_t len, char *err, size_t errlen);

/* Each subject's check-in is due now (after a start or a registry reload: the tick looks at them all once). */
int ch_store_checkin_arm(struct ch_store *st, const char *const *sids, size_t n, int64_t now_ms, char *err,
			 size_t errlen);

/* ---- daily aggregates ---- */

/* The live records of n subjects: lives[i] malloc'ed (NULL, lens[i] 0: none). */
int ch_store_trend_get(struct ch_store *st, const char *const *sids, size_t n, uint8_t **lives, size_t *lens,
		       char *err, size_t errlen);

struct ch_store_trend_put {
	const char *sid;
	const uint8_t *old; /* the live record as read; NULL: there was none */
	size_t oldlen;
	const uint8_t *live; /* the new one */
	size_t livelen;
	const uint8_t *days; /* nday finished days of day_len bytes each ... */
	size_t nday, day_len;
	const size_t *day_off; /* ... and where each goes after the live record */
};

/*
 * Writes each subject's new live record if the stored one is still old,
 * with its finished days.  current[i] (malloc'ed) is the stored record of a
 * subject not written (NULL when written; *len 0 and a NULL means there is
 * none); applied[i] says which.  ttl_s: both keys expire after this much
 * silence.
 */
int ch_store_trend_put(struct ch_store *st, const struct ch_store_trend_put *p, size_t n, int64_t ttl_s,
		       bool *applied, uint8_t **current, size_t *curlen, char *err, size_t errlen);

/* One subject's live record and days (each malloc'ed, NULL when absent). */
int ch_store_trend_read(struct ch_store *st, const char *sid, uint8_t **live, size_t *livelen, uint8_t **days,
			size_t *dayslen, char *err, size_t errlen);

/* Queues job (JSON) in the outbox unless guard (under the prefix) was claimed in the last ttl_s. */
int ch_store_care_job(struct ch_store *st, const char *guard, int64_t ttl_s, const char *job, bool *queued, char *err,
		      size_t errlen);

/* Claims key (under the prefix) for ttl_s: *first true only for the first caller. */
int ch_store_care_once(struct ch_store *st, const char *key, int64_t ttl_s, bool *first, char *err, size_t errlen);

#endif
