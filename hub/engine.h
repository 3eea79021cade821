/*
 * engine.h - per-subject correlation: the decisions of every rule kind as plain
 * functions of (state, event or clock, rules, registry).
 *
 * One subject (household) has one state: the last sign of life per
 * inactivity rule, the buckets of each sliding window, pending sequences,
 * presence (home, away by the front door, in hospital), silences, device
 * last-seen times and the lifecycle of each rule's alert (open, cooldown,
 * flapping).  The correlator keeps it in Redis (encoded by
 * ch_sstate_encode) and changes it atomically per subject; the backtest keeps
 * it in memory and drives the same functions with a virtual clock.
 *
 * Time: every function takes `now` (the hub's clock, or the backtest's virtual
 * clock) and events carry their own event time.  Windows and "last activity"
 * use event time; deadlines are absolute instants.  Late and out-of-order
 * events count where they belong (a window bucket that is still kept, the
 * last-activity maximum); lateness is therefore bounded by each rule's own
 * window, and a late sign of life resolves an inactivity alert it would have
 * prevented.
 */
#ifndef CH_ENGINE_H
#define CH_ENGINE_H

#include "ch.h"
#include "event.h"
#include "registry.h"
#include "rules.h"
#include "tz.h"

#define CH_AGG_BUCKETS 12
#define CH_ENGINE_MAX_ACTIONS 32
#define CH_MAX_SILENCES 16

enum ch_action_kind {
	CH_ACT_OPEN = 0, /* open an alert for (subject, key) unless one is open */
	CH_ACT_REPEAT,   /* an open alert's condition was seen again */
	CH_ACT_RESOLVE,  /* the condition cleared: resolve with outcome */
	CH_ACT_RAISE,    /* raise the open alert of key to severity */
};

const char *ch_action_kind_name(enum ch_action_kind k);

struct ch_action {
	enum ch_action_kind kind;
	const struct ch_rule *rule;
	char key[160];               /* rule id, or "rule|device" for device health */
	const struct ch_device *dev; /* the device concerned, or NULL */
	const struct ch_event *ev;   /* the event that caused it, or NULL (a deadline) */
	enum ch_severity severity;
	const char *outcome;         /* RESOLVE: activity_resumed, device_back, ... */
	int64_t at_ms;               /* when the condition became true (event time or deadline) */
	char why[256];               /* one English sentence for the timeline */
	char measured[32];           /* aggregate value, for {measured} */
	char since[32];              /* local time of the last activity, for {since} */
	char caveat[256];            /* what makes the alert less certain, or "" */
};

struct ch_actions {
	struct ch_action a[CH_ENGINE_MAX_ACTIONS];
	size_t n;
	size_t dropped; /* actions that did not fit (logged by the caller) */
};

/* One rule's state in one subject; rules are found by a hash of their id. */
struct ch_rstate {
	uint32_t rule_hash;
	uint8_t open;     /* the engine opened an alert and has not seen it resolve */
	uint8_t armed;    /* may open: re-armed when the condition clears */
	uint8_t flapping; /* opened flap_opens times within flap_window: no auto-resolve */
	uint8_t pad;
	uint16_t flap_count;
	int64_t flap_start_ms;
	int64_t resolved_ms; /* cooldown starts here */
	int64_t since_ms;    /* when this rule started watching the subject */
	int64_t last_ms;     /* inactivity: last sign of life; sequence: pending first step */
	int64_t head;        /* aggregate: bucket number of the newest bucket */
	float val[CH_AGG_BUCKETS];
	uint32_t cnt[CH_AGG_BUCKETS];
};

/* What the engine knows of one device. */
struct ch_dstate {
	uint32_t dev_hash;
	int64_t last_ms; /* last event time from it */
};

enum ch_silence_kind { CH_SIL_SUBJECT = 0, CH_SIL_RULE, CH_SIL_DEVICE };

struct ch_silence {
	uint8_t kind;
	uint32_t target_hash; /* rule or device id hash; 0 for the subject */
	int64_t until_ms;
};

enum ch_away { CH_HOME = 0, CH_AWAY_OUT, CH_AWAY_HOSPITAL };

struct ch_sstate {
	int64_t created_ms;
	int64_t watermark_ms; /* latest event time seen */
	uint8_t away;         /* enum ch_away */
	int64_t away_since_ms;
	int64_t exit_ms; /* front door passed, waiting for inside activity (0: none) */
	struct ch_silence sil[CH_MAX_SILENCES];
	size_t nsil;
	uint32_t open_health[32]; /* hash of "rule|device" of open device-health alerts */
	size_t nopen_health;
	struct ch_rstate *rules;
	size_t nrules, caprules;
	struct ch_dstate *devs;
	size_t ndevs, capdevs;
};

/* What the engine needs besides the state. */
struct ch_engine_ctx {
	const struct ch_ruleset *rules;
	const struct ch_subject *subj;
	const struct ch_tz *tz; /* the subject's zone */
};

void ch_sstate_init(struct ch_sstate *st, int64_t now_ms);
void ch_sstate_clear(struct ch_sstate *st);
/* Deep copy; CH_ENOMEM leaves dst empty. */
int ch_sstate_copy(struct ch_sstate *dst, const struct ch_sstate *src);
/* An upper bound of ch_sstate_encode's length for st. */
size_t ch_sstate_encoded_max(const struct ch_sstate *st);

/*
 * Compact binary form (little-endian, versioned) for Redis.  encode drops the
 * state of rules no longer in rs; returns the length or 0 when buf is too
 * small.  decode returns CH_EINVAL on anything malformed (the caller starts
 * afresh and says so).
 */
size_t ch_sstate_encode(const struct ch_sstate *st, const struct ch_ruleset *rs, uint8_t *buf,
			size_t cap);
int ch_sstate_decode(struct ch_sstate *st, const uint8_t *buf, size_t len);

/*
 * An event of the subject (dev is its registry device).  Appends what to do
 * to out and updates st.  Also runs ch_engine_tick(now) afterwards.
 */
void ch_engine_event(struct ch_sstate *st, const struct ch_engine_ctx *cx, const struct ch_event *ev,
		     const struct ch_device *dev, int64_t now_ms, struct ch_actions *out);

/* The clock reached now: fires what is due (inactivity, sequences, silent devices, ...). */
void ch_engine_tick(struct ch_sstate *st, const struct ch_engine_ctx *cx, int64_t now_ms,
		    struct ch_actions *out);

/* The next instant ch_engine_tick has something to do, or INT64_MAX. */
int64_t ch_engine_next_deadline(const struct ch_sstate *st, const struct ch_engine_ctx *cx,
				int64_t now_ms);

/*
 * Control: silence (subject when target is NULL, a rule or a device) until
 * until_ms; or an alert resolved from outside (an acknowledgement, a person):
 * its key stops being open and its cooldown starts at now.
 */
int ch_engine_silence(struct ch_sstate *st, enum ch_silence_kind kind, const char *target,
		      int64_t until_ms);
void ch_engine_resolved(struct ch_sstate *st, const struct ch_engine_ctx *cx, const char *key,
			int64_t now_ms);

/* FNV-1a 32 of s (never 0): how states name rules, devices and keys. */
uint32_t ch_engine_hash(const char *s);

#endif
