/*
 * rules.h - correlation rules: loading the rules file and the pure decisions.
 *
 * Five kinds: event, inactivity, aggregate, sequence, device_health (the file
 * format is in README.md).  Loading is strict; matching is a plain function of
 * (rule, event, device) so unit tests and backtests call it without servers.
 * The stateful decisions live in engine.c.
 */
#ifndef CH_RULES_H
#define CH_RULES_H

#include "ch.h"
#include "event.h"
#include "registry.h"

#include <jansson.h>

enum ch_rule_kind {
	CH_RULE_EVENT = 0,
	CH_RULE_INACTIVITY,
	CH_RULE_AGGREGATE,
	CH_RULE_SEQUENCE,
	CH_RULE_DEVICE_HEALTH,
};

enum ch_cond_op { CH_OP_EQ = 0, CH_OP_NE, CH_OP_LT, CH_OP_LE, CH_OP_GT, CH_OP_GE, CH_OP_EXISTS,
		  CH_OP_ABSENT, CH_OP_IN };

struct ch_cond {
	char *field;     /* dotted path into the event: "value", "data.level" */
	enum ch_cond_op op;
	json_t *operand; /* owned; NULL for exists/absent; an array for in */
};

/*
 * Which events count: {"type": "motion", "where": [["value","==",true]],
 * "location": "front door"}.  location, when given, must equal the registry
 * location of the event's device (ASCII case-insensitive).
 */
struct ch_matcher {
	char *type; /* event type or "prefix.*" */
	struct ch_cond *conds;
	size_t nconds;
	char *location; /* NULL: any device */
};

/* A time-of-day window in the subject's timezone, "22:00-06:00" (may wrap midnight). */
struct ch_daywindow {
	bool set;
	int start_min, end_min; /* minutes of the day; start == end never loads */
};

enum ch_rule_category { CH_CAT_SAFETY = 0, CH_CAT_MAINTENANCE };

enum ch_agg_fn { CH_AGG_SUM = 0, CH_AGG_COUNT, CH_AGG_MIN, CH_AGG_MAX, CH_AGG_AVG };

enum ch_health_check { CH_HEALTH_SILENT = 0, CH_HEALTH_BATTERY, CH_HEALTH_TAMPER };

struct ch_rule {
	char *id;
	uint32_t id_hash; /* FNV-1a of id (ch_engine_hash): how engine states name the rule */
	enum ch_rule_kind kind;
	struct ch_matcher match; /* event, aggregate: "match" */
	enum ch_severity severity;
	enum ch_rule_category category;
	char *policy;  /* NULL: by severity */
	char *summary; /* template, see placeholders in rules.c */
	bool enabled;

	/* Lifecycle (every kind). */
	int64_t cooldown_ms;   /* "cooldown": no new alert this long after one resolves */
	bool auto_resolve;     /* "auto_resolve": resolve when the condition clears */
	bool suspend_when_away; /* "while_away": "suspend" (true) or "run" */
	int flap_opens;        /* "flap": {"opens": N, "within": D}: N opens within D = flapping */
	int64_t flap_window_ms;
	struct ch_daywindow during; /* "during": see each kind */
	/* "renotify" (event rules of category safety): a new matching event while the
	 * alert is open or acknowledged tells people again, at most once per this
	 * interval (0: every time); -1: never (maintenance, other kinds, false). */
	int64_t renotify_ms;

	/* inactivity: no event matching any of activity[] for for_ms (counted only
	 * inside `during` when set). */
	struct ch_matcher *activity;
	size_t nactivity;
	int64_t for_ms;

	/* aggregate: fn(field) over the events matching `match` in the last
	 * window_ms (only events inside `during` when set) compared with threshold. */
	enum ch_agg_fn fn;
	char *field; /* dotted path, default "value"; NULL for count */
	enum ch_cond_op cmp; /* CH_OP_LT, LE, GT or GE */
	double threshold;
	int64_t window_ms;

	/* sequence: `first` (inside `during` when set), then `then` within
	 * within_ms; absent=true alerts when `then` does not come.  raises: an
	 * event rule whose open alert is raised to this severity instead of
	 * opening an alert of its own. */
	struct ch_matcher first;
	struct ch_matcher *then; /* any of these: one matcher or an array in the file */
	size_t nthen;
	int64_t within_ms;
	bool absent;
	char *raises;

	/* device_health */
	enum ch_health_check check;
	double battery_below;         /* battery: percent */
	int64_t default_heartbeat_ms; /* silent: for devices that declare none (0: skip those) */
	char **device_types;          /* "types": only these device types; NULL: all */
	size_t ndevice_types;
};

/*
 * Presence: leaving by the front door is `exit` followed by no `inside`
 * activity within confirm_ms; any inside activity after that means home again.
 */
struct ch_presence {
	bool enabled; /* the file had "presence" */
	struct ch_matcher exit;
	struct ch_matcher *inside;
	size_t ninside;
	int64_t confirm_ms;
};

struct ch_ruleset {
	struct ch_rule *rules;
	size_t n;
	struct ch_presence presence;
};

/*
 * Loads a rules file:
 *   {"rules":[{"id":"smoke","kind":"event","match":{"type":"smoke",
 *     "where":[["value","==",true]]},"severity":"critical","summary":"..."}]}
 * Errors are "file:line:col: what, expected what" (CH_ECONFIG).  Ids are unique.
 */
int ch_rules_load(const char *path, struct ch_ruleset **out, char *err, size_t errlen);
int ch_rules_parse(const char *name, const char *text, size_t len, struct ch_ruleset **out,
		   char *err, size_t errlen);
void ch_rules_free(struct ch_ruleset *rs);

/* Does one rule's match (type and conditions, not location) match the event? */
bool ch_rule_matches(const struct ch_rule *rule, const struct ch_event *ev);

/* Does the event, from device dev (NULL: unknown location), match m? */
bool ch_matcher_matches(const struct ch_matcher *m, const struct ch_event *ev,
			const struct ch_device *dev);

/* Does an event or device type match a pattern ("smoke", or "service.*" for "service.x")? */
bool ch_type_matches(const char *pattern, const char *type);

/* "event", "inactivity", ... as the rules file spells them. */
const char *ch_rule_kind_name(enum ch_rule_kind k);

/* The rule with this id, or NULL. */
const struct ch_rule *ch_rules_find(const struct ch_ruleset *rs, const char *id);

/*
 * Fills out[0..max) with the enabled event rules the event matches, in file
 * order; *n is how many (at most max).  Type and conditions only: with no
 * device at hand it ignores match.location, so a caller that honours location
 * uses ch_matcher_matches with the event's device instead.
 */
void ch_rules_match_event(const struct ch_ruleset *rs, const struct ch_event *ev,
			  const struct ch_rule **out, size_t max, size_t *n);

/*
 * Renders a summary template, replacing {device}, {location}, {type}, {value},
 * {subject}, {rule} with the given strings (NULL -> "").  Always NUL-terminates.
 */
void ch_rules_render(const char *tmpl, const char *const keys[], const char *const vals[],
		     size_t nkv, char *out, size_t outlen);

#endif
