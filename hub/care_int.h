/*
 * care_int.h - what care.c (check-ins) and care_trends.c (daily aggregates)
 * share: the handle.  Not for other modules.
 */
#ifndef CH_CARE_INT_H
#define CH_CARE_INT_H

#include "care.h"
#include "trends.h"

/* An observation waiting for the next flush, with the subject it is about. */
struct care_obs {
	char sid[CH_DEVICE_MAX];
	const struct ch_tz *tz; /* from the tz cache: lives until exit */
	struct ch_trend_obs o;
};

/* The live record last read or written, per subject: a flush needs no read. */
struct care_live {
	char *sid;
	uint8_t live[CH_TREND_LIVE_BYTES];
	size_t len; /* 0: the subject has none in Redis */
};

struct ch_care {
	struct ch_store *store;
	char *actor;
	uint64_t armed_generation; /* registry whose check-ins have timers */
	struct care_obs *obs;
	size_t nobs, capobs;
	size_t dropped; /* observations given up while Redis was away */
	struct care_live *cache; /* open addressing, sid NULL = free */
	size_t capcache, ncache;
	char digest_done[32]; /* the last digest slot this hub saw through (Redis has the claim) */
};

/* digest.c: sends the digest of the slot due at now, once (the slot's claim is in Redis). */
void care__digest_tick(struct ch_care *c, const struct ch_runtime *rt, int64_t now_ms, bool *jobs);

#endif
