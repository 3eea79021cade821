/*
 * rules.h - correlation rules: loading the rules file and the pure decisions.
 *
 * This slice has `event` rules: an event that matches a type (exact, or
 * a prefix ending in ".*" such as "service.*") and a list of conditions opens an
 * alert at once.  Matching is a plain function of (rules, event) so unit tests
 * and backtests call it without servers.
 */
#ifndef CH_RULES_H
#define CH_RULES_H

#include "ch.h"
#include "event.h"

#include <jansson.h>

enum ch_rule_kind { CH_RULE_EVENT = 0 };

enum ch_cond_op { CH_OP_EQ = 0, CH_OP_NE, CH_OP_LT, CH_OP_LE, CH_OP_GT, CH_OP_GE, CH_OP_EXISTS,
		  CH_OP_ABSENT, CH_OP_IN };

struct ch_cond {
	char *field;     /* dotted path into the event: "value", "data.level" */
	enum ch_cond_op op;
	json_t *operand; /* owned; NULL for exists/absent; an array for in */
};

enum ch_rule_category { CH_CAT_SAFETY = 0, CH_CAT_MAINTENANCE };

struct ch_rule {
	char *id;
	enum ch_rule_kind kind;
	char *type; /* event type or "prefix.*" */
	struct ch_cond *conds;
	size_t nconds;
	enum ch_severity severity;
	enum ch_rule_category category;
	char *policy;  /* NULL: by severity */
	char *summary; /* template: {device} {location} {type} {value} {subject} */
	bool enabled;
};

struct ch_ruleset {
	struct ch_rule *rules;
	size_t n;
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

/* Does one rule's type and conditions match the event? */
bool ch_rule_matches(const struct ch_rule *rule, const struct ch_event *ev);

/*
 * Fills out[0..max) with the enabled event rules the event matches, in file
 * order; *n is how many (at most max).
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
