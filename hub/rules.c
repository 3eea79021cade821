/*
 * rules.c - the rules file, and the decision "does this event match".
 *
 * Loading is strict because a rule that silently never matches is a smoke alarm
 * nobody hears: unknown keys, a misspelt field ("valeu"), an unknown summary
 * placeholder, a key that does not apply to the rule's kind or an operator
 * applied to the wrong kind of operand are refused with "file:line:col: what,
 * expected what" (positions from jdoc) and the daemon keeps its old rules.
 * Matching is a pure function of (matcher, event, device) and allocates
 * nothing, so it runs on the ingest path and in backtests alike.  What each
 * kind does over time is the engine's business; this file only says what the
 * rule asked for.
 *
 * Semantics worth knowing when writing rules:
 *  - "=="/"!=" are JSON equality, except that numbers compare by value across
 *    integer and real (1 == 1.0).  A missing field is never "==" anything and
 *    always "!=" anything: ["value","!=",false] matches an SOS press that
 *    carries no value at all.
 *  - "<" "<=" ">" ">=" need two numbers or two strings (byte order); anything
 *    else, including a missing field, is false.
 *  - "exists" means present and not null; "absent" is its negation, because
 *    gateways send null for "no reading".
 *  - "in" is "==" against any element of the operand array.
 *  - A matcher's "location" compares with the device's registry location,
 *    ignoring ASCII case; an event from an unknown device never matches it.
 *
 * Defaults that differ by kind (each one the safe reading of a rule that says
 * nothing):
 *  - cooldown: 0 for event rules (a second fire is a second fire), 30 min for
 *    the rest (a condition over time that just cleared is likely to recur).
 *  - auto_resolve: on for inactivity, device_health and "too little" aggregates
 *    (< <=), whose condition visibly clears; off for event, sequence and "too
 *    much" aggregates (> >=), where someone should look before it closes.
 *  - while_away: "suspend" for inactivity and "too little" aggregates (an empty
 *    home is quiet), "run" for the rest (a leak or a fire matters either way).
 *  - flap: 3 opens within 1 h.
 *  - summary: "{type} from {device}" for event rules, a line naming what was
 *    measured for the others (see kinds[]).
 * A sequence's "then" is one matcher or an array meaning "any of these"; its
 * "during" applies to the first step.  "raises" must name an event rule of the
 * same file, checked once every rule is in, so it may point further down.
 */
#include "rules.h"
#include "jdoc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SUMMARY "{type} from {device}"
#define PTR_MAX 512
#define MAX_MATCHERS 32   /* activity / inside lists: more is a sign of a generated mess */
#define MAX_LOCATION 64   /* bytes, as the registry's locations are short names */
#define MAX_DURATION_S 1e12 /* the same ~31,000 years ch_parse_duration accepts */
#define MIN_MS (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)
/* A bouncing button or a bridge resending comes within seconds; a person still
 * waiting for help presses again after longer than this. */
#define RENOTIFY_DEFAULT_MS (30 * 1000LL)

/* Keys every rule may have besides id and kind. */
static const char *const common_keys[] = {"severity",	 "category",	"policy",     "summary",
					  "description", "enabled",	"cooldown",   "auto_resolve",
					  "while_away",	 "flap"};
static const char *const event_keys[] = {"match", "renotify"};
static const char *const inactivity_keys[] = {"activity", "for", "during"};
static const char *const aggregate_keys[] = {"match", "fn",	   "field", "window",
					     "op",    "threshold", "during"};
static const char *const sequence_keys[] = {"first", "then", "within", "absent", "raises", "during"};
static const char *const health_keys[] = {"check", "below", "heartbeat", "types"};

static const struct kind_def {
	const char *name;
	enum ch_rule_kind kind;
	const char *const *keys; /* the kind's own keys */
	size_t nkeys;
	const char *summary; /* default template */
} kinds[] = {
	{"event", CH_RULE_EVENT, event_keys, CH_ARRAY_LEN(event_keys), DEFAULT_SUMMARY},
	{"inactivity", CH_RULE_INACTIVITY, inactivity_keys, CH_ARRAY_LEN(inactivity_keys),
	 "{subject}: no sign of activity for {duration} (last {since})"},
	{"aggregate", CH_RULE_AGGREGATE, aggregate_keys, CH_ARRAY_LEN(aggregate_keys),
	 "{rule}: {measured} over {duration} (threshold {threshold})"},
	{"sequence", CH_RULE_SEQUENCE, sequence_keys, CH_ARRAY_LEN(sequence_keys),
	 "{rule}: {subject}"},
	{"device_health", CH_RULE_DEVICE_HEALTH, health_keys, CH_ARRAY_LEN(health_keys),
	 "{rule}: {device} ({location})"},
};

static const char *const match_keys[] = {"type", "where", "location"};
static const char *const presence_keys[] = {"exit", "inside", "confirm"};
static const char *const flap_keys[] = {"opens", "within"};

/* What a summary may name; ch_rules_render callers supply these. */
static const char *const placeholders[] = {"device",   "location",  "type",	"value",
					   "subject",  "rule",	    "duration", "threshold",
					   "measured", "since"};

/* The canonical event's fields; anything else a fleet sends lives under data. */
static const char *const event_fields[] = {"id", "device", "type", "ts", "value", "data"};

static const struct {
	const char *name;
	enum ch_cond_op op;
	int nargs; /* elements of the condition array */
} ops[] = {
	{"==", CH_OP_EQ, 3},	  {"!=", CH_OP_NE, 3},	   {"<", CH_OP_LT, 3},
	{"<=", CH_OP_LE, 3},	  {">", CH_OP_GT, 3},	   {">=", CH_OP_GE, 3},
	{"exists", CH_OP_EXISTS, 2}, {"absent", CH_OP_ABSENT, 2}, {"in", CH_OP_IN, 3},
};

static const struct {
	const char *name;
	enum ch_agg_fn fn;
} agg_fns[] = {
	{"sum", CH_AGG_SUM}, {"count", CH_AGG_COUNT}, {"min", CH_AGG_MIN},
	{"max", CH_AGG_MAX}, {"avg", CH_AGG_AVG},
};

static const struct {
	const char *name;
	enum ch_health_check check;
} checks[] = {
	{"silent", CH_HEALTH_SILENT}, {"battery", CH_HEALTH_BATTERY}, {"tamper", CH_HEALTH_TAMPER}};

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

struct loader {
	const struct ch_jdoc *doc;
	char *err;
	size_t errlen;
};

static void matcher_free(struct ch_matcher *m)
{
	free(m->type);
	for (size_t i = 0; i < m->nconds; i++) {
		free(m->conds[i].field);
		json_decref(m->conds[i].operand);
	}
	free(m->conds);
	free(m->location);
	memset(m, 0, sizeof(*m));
}

static void matchers_free(struct ch_matcher *ms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		matcher_free(&ms[i]);
	free(ms);
}

static void rule_free(struct ch_rule *r)
{
	free(r->id);
	matcher_free(&r->match);
	free(r->policy);
	free(r->summary);
	matchers_free(r->activity, r->nactivity);
	free(r->field);
	matcher_free(&r->first);
	matchers_free(r->then, r->nthen);
	free(r->raises);
	for (size_t i = 0; i < r->ndevice_types; i++)
		free(r->device_types[i]);
	free(r->device_types);
	memset(r, 0, sizeof(*r));
}

void ch_rules_free(struct ch_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	matcher_free(&rs->presence.exit);
	matchers_free(rs->presence.inside, rs->presence.ninside);
	free(rs);
}

static int oom(struct loader *ld)
{
	ch_strlcpy(ld->err, "out of memory", ld->errlen);
	return CH_ENOMEM;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return true;
	}
	return false;
}

/* Appends "/key" to base with RFC 6901 escaping, so any key maps back to its position. */
static void ptr_key(char *out, size_t len, const char *base, const char *key)
{
	size_t o;

	if (ch_strlcpy(out, base, len) != 0)
		return;
	o = strlen(out);
	if (o + 1 < len)
		out[o++] = '/';
	for (; *key && o + 1 < len; key++) {
		if (*key == '~' || *key == '/') {
			if (o + 2 >= len)
				break;
			out[o++] = '~';
			out[o++] = *key == '~' ? '0' : '1';
		} else {
			out[o++] = *key;
		}
	}
	out[o] = '\0';
}

/* The first unknown member of obj is an error; `what` names the object in the message. */
static int check_keys(struct loader *ld, json_t *obj, const char *ptr, const char *what,
		      const char *const *keys, size_t nkeys, const char *expected)
{
	const char *k;
	json_t *v;
	char p[PTR_MAX];

	json_object_foreach(obj, k, v)
	{
		(void)v;
		if (!in_list(k, keys, nkeys)) {
			ptr_key(p, sizeof(p), ptr, k);
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "unknown key \"%s\" in %s, expected one of %s", k, what,
					   expected);
		}
	}
	return 0;
}

/* "rule has no \"for\", expected ..." at the object that lacks the key. */
static int missing(struct loader *ld, const char *ptr, const char *what, const char *key,
		   const char *expected)
{
	return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen, "%s has no \"%s\", expected %s", what,
			   key, expected);
}

/* "\"key\" is not valid, expected ..." at obj's member key. */
static int invalid(struct loader *ld, const char *ptr, const char *key, const char *expected)
{
	char p[PTR_MAX];

	ptr_key(p, sizeof(p), ptr, key);
	return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen, "\"%s\" is not valid, expected %s", key,
			   expected);
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Same alphabet as the event parser accepts for "type", optionally ending in ".*". */
static bool valid_type_pattern(const char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && s[n - 2] == '.' && s[n - 1] == '*')
		n -= 1; /* keep the dot: "service.*" is the prefix "service." */
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* A dotted path whose head is a canonical field; a typo here would silently never match. */
static bool valid_field(const char *s)
{
	const char *dot = strchr(s, '.');
	size_t head = dot ? (size_t)(dot - s) : strlen(s);
	bool known = false;

	if (strlen(s) > 255)
		return false;
	for (size_t i = 0; i < CH_ARRAY_LEN(event_fields); i++) {
		if (strlen(event_fields[i]) == head && memcmp(s, event_fields[i], head) == 0)
			known = true;
	}
	if (!known)
		return false;
	for (; dot; dot = strchr(dot + 1, '.')) {
		if (dot[1] == '\0' || dot[1] == '.')
			return false;
	}
	return true;
}

/* Finds a {name} placeholder that no caller will fill, so a typo fails at load time. */
static bool unknown_placeholder(const char *tmpl, char *name, size_t namelen)
{
	for (const char *p = strchr(tmpl, '{'); p; p = strchr(p + 1, '{')) {
		const char *end = strchr(p + 1, '}');
		size_t n;
		bool found = false;

		if (!end)
			return false;
		n = (size_t)(end - p - 1);
		if (memchr(p + 1, '{', n))
			continue; /* "{{x}": the inner one is the placeholder */
		for (size_t i = 0; i < CH_ARRAY_LEN(placeholders); i++) {
			if (strlen(placeholders[i]) == n && memcmp(p + 1, placeholders[i], n) == 0)
				found = true;
		}
		if (!found) {
			if (n >= namelen)
				n = namelen - 1;
			memcpy(name, p + 1, n);
			name[n] = '\0';
			return true;
		}
	}
	return false;
}

static int opt_string(struct loader *ld, json_t *obj, const char *ptr, const char *key,
		      const char *expected, char **out)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return invalid(ld, ptr, key, expected);
	if (out) {
		*out = ch_strdup(json_string_value(v));
		if (!*out)
			return oom(ld);
	}
	return 0;
}

static int opt_bool(struct loader *ld, json_t *obj, const char *ptr, const char *key, bool def,
		    bool *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return invalid(ld, ptr, key, "true or false");
	*out = json_is_true(v);
	return 0;
}

/*
 * A duration at obj's member key: seconds as a JSON number (as in the config
 * file) or a string ch_parse_duration reads ("90s", "10m", "12h").  positive:
 * 0 is refused, for the lengths that make a rule mean something.
 */
static int duration_at(struct loader *ld, json_t *v, const char *ptr, const char *key,
		       bool positive, int64_t *out)
{
	char p[PTR_MAX];
	bool ok = false;

	if (json_is_number(v)) {
		double s = json_number_value(v);

		if (s >= 0 && s <= MAX_DURATION_S) {
			*out = (int64_t)llround(s * 1000);
			ok = true;
		}
	} else if (json_is_string(v)) {
		ok = ch_parse_duration(json_string_value(v), out) == 0;
	}
	ptr_key(p, sizeof(p), ptr, key);
	if (!ok)
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"%s\" is not a duration, expected seconds or a string such as "
				   "\"90s\", \"10m\", \"12h\"",
				   key);
	if (positive && *out <= 0)
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"%s\" is zero, expected a duration longer than 0 such as \"10m\"",
				   key);
	return 0;
}

static int opt_duration(struct loader *ld, json_t *obj, const char *ptr, const char *key,
			bool positive, int64_t def, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	return v ? duration_at(ld, v, ptr, key, positive, out) : 0;
}

/* A required duration > 0; `what` names the object in the "has no" message. */
static int need_duration(struct loader *ld, json_t *obj, const char *ptr, const char *what,
			 const char *key, const char *example, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char expected[64];

	if (!v) {
		ch_fmt(expected, sizeof(expected), "a duration such as \"%s\"", example);
		return missing(ld, ptr, what, key, expected);
	}
	return duration_at(ld, v, ptr, key, true, out);
}

static int parse_cond(struct loader *ld, json_t *jc, const char *ptr, struct ch_cond *c)
{
	char p[PTR_MAX];
	const char *field, *op;
	size_t nel = json_array_size(jc);
	int k = -1;

	if (!json_is_array(jc) || nel < 2 || nel > 3 || !json_is_string(json_array_get(jc, 1)))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "condition is not valid, expected [field, op, operand] or "
				   "[field, \"exists\"|\"absent\"]");
	ch_fmt(p, sizeof(p), "%s/0", ptr);
	if (!json_is_string(json_array_get(jc, 0)) ||
	    !valid_field(json_string_value(json_array_get(jc, 0))))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "unknown field, expected value, type, device, id, ts or "
				   "data.<key> (dotted path)");
	field = json_string_value(json_array_get(jc, 0));
	op = json_string_value(json_array_get(jc, 1));
	ch_fmt(p, sizeof(p), "%s/1", ptr);
	for (size_t i = 0; i < CH_ARRAY_LEN(ops); i++) {
		if (strcmp(op, ops[i].name) == 0)
			k = (int)i;
	}
	if (k < 0)
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "unknown operator \"%s\", expected one of ==, !=, <, <=, >, >=, "
				   "exists, absent, in",
				   op);
	if ((int)nel != ops[k].nargs)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   ops[k].nargs == 2 ? "\"%s\" takes no operand, expected [field, \"%s\"]"
						     : "\"%s\" needs an operand, expected [field, \"%s\", "
						       "operand]",
				   op, op);

	json_t *operand = nel == 3 ? json_array_get(jc, 2) : NULL;

	ch_fmt(p, sizeof(p), "%s/2", ptr);
	switch (ops[k].op) {
	case CH_OP_LT:
	case CH_OP_LE:
	case CH_OP_GT:
	case CH_OP_GE:
		if (!json_is_number(operand) && !json_is_string(operand))
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"%s\" compares numbers or strings, expected a number "
					   "or a string operand",
					   op);
		break;
	case CH_OP_IN:
		if (!json_is_array(operand) || json_array_size(operand) == 0)
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"in\" is not valid here, expected a non-empty array "
					   "operand");
		break;
	default:
		break;
	}

	c->field = ch_strdup(field);
	c->op = ops[k].op;
	/* A deep copy so the rule owns its operand outright and the document can go. */
	c->operand = operand ? json_deep_copy(operand) : NULL;
	if (!c->field || (operand && !c->operand)) {
		free(c->field);
		json_decref(c->operand);
		c->field = NULL;
		c->operand = NULL;
		return oom(ld);
	}
	return 0;
}

/*
 * {"type": ..., "where": [...], "location": ...} at ptr; `what` names it in
 * messages ("match", "activity[2]").  On error m holds what was parsed so far,
 * for the caller to free with the rest of the rule.
 */
static int parse_matcher(struct loader *ld, json_t *jm, const char *ptr, const char *what,
			 struct ch_matcher *m)
{
	char p[PTR_MAX];
	json_t *type, *where, *loc;
	int rc;

	if (!json_is_object(jm))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "\"%s\" is not valid, expected an object "
				   "{\"type\": ..., \"where\": [...], \"location\": ...}",
				   what);
	rc = check_keys(ld, jm, ptr, what, match_keys, CH_ARRAY_LEN(match_keys),
			"type, where, location");
	if (rc)
		return rc;
	type = json_object_get(jm, "type");
	if (!type)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "\"%s\" has no \"type\", expected an event type such as "
				   "\"smoke\" or a prefix such as \"service.*\"",
				   what);
	if (!json_is_string(type) || !valid_type_pattern(json_string_value(type)))
		return invalid(ld, ptr, "type",
			       "1-63 of [a-z0-9_.] optionally ending in \".*\"");
	m->type = ch_strdup(json_string_value(type));
	if (!m->type)
		return oom(ld);

	loc = json_object_get(jm, "location");
	if (loc) {
		if (!json_is_string(loc) || json_string_length(loc) == 0 ||
		    json_string_length(loc) > MAX_LOCATION ||
		    memchr(json_string_value(loc), '\0', json_string_length(loc)))
			return invalid(ld, ptr, "location",
				       "a device location of 1-64 bytes such as \"front door\"");
		m->location = ch_strdup(json_string_value(loc));
		if (!m->location)
			return oom(ld);
	}

	where = json_object_get(jm, "where");
	if (!where)
		return 0;
	ptr_key(p, sizeof(p), ptr, "where");
	if (!json_is_array(where))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"where\" is not valid, expected an array of conditions");
	if (json_array_size(where) == 0)
		return 0;
	m->conds = calloc(json_array_size(where), sizeof(*m->conds));
	if (!m->conds)
		return oom(ld);
	for (size_t i = 0; i < json_array_size(where); i++) {
		char cp[PTR_MAX];

		ch_fmt(cp, sizeof(cp), "%s/%zu", p, i);
		rc = parse_cond(ld, json_array_get(where, i), cp, &m->conds[i]);
		if (rc)
			return rc;
		m->nconds++;
	}
	return 0;
}

/* A required matcher at obj's member key. */
static int need_matcher(struct loader *ld, json_t *obj, const char *ptr, const char *what,
			const char *key, struct ch_matcher *m)
{
	json_t *v = json_object_get(obj, key);
	char p[PTR_MAX];

	if (!v)
		return missing(ld, ptr, what, key, "{\"type\": ..., \"where\": [...]}");
	ptr_key(p, sizeof(p), ptr, key);
	return parse_matcher(ld, v, p, key, m);
}

/* v, at obj's member key, is an array of 1..MAX_MATCHERS matchers. */
static int matcher_array(struct loader *ld, json_t *v, const char *ptr, const char *key,
			 const char *expected, struct ch_matcher **out, size_t *nout)
{
	size_t n = json_array_size(v);
	char p[PTR_MAX];

	if (!json_is_array(v) || n == 0 || n > MAX_MATCHERS)
		return invalid(ld, ptr, key, expected);
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return oom(ld);
	*nout = n; /* zeroed matchers free cleanly if one fails half-way */
	ptr_key(p, sizeof(p), ptr, key);
	for (size_t i = 0; i < n; i++) {
		char ip[PTR_MAX], name[64];
		int rc;

		ch_fmt(ip, sizeof(ip), "%s/%zu", p, i);
		ch_fmt(name, sizeof(name), "%s[%zu]", key, i);
		rc = parse_matcher(ld, json_array_get(v, i), ip, name, &(*out)[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* A required array of 1..MAX_MATCHERS matchers at obj's member key. */
static int need_matchers(struct loader *ld, json_t *obj, const char *ptr, const char *what,
			 const char *key, struct ch_matcher **out, size_t *nout)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return missing(ld, ptr, what, key, "an array of matchers such as [{\"type\": \"motion\"}]");
	return matcher_array(ld, v, ptr, key,
			     "a non-empty array of at most 32 matchers such as "
			     "[{\"type\": \"motion\"}]",
			     out, nout);
}

/* A required matcher, or an array of them meaning "any of these", at obj's member key. */
static int need_matcher_or_array(struct loader *ld, json_t *obj, const char *ptr,
				 const char *what, const char *key, struct ch_matcher **out,
				 size_t *nout)
{
	json_t *v = json_object_get(obj, key);
	char p[PTR_MAX];

	if (!v)
		return missing(ld, ptr, what, key,
			       "a matcher {\"type\": ..., \"where\": [...]} or an array of them");
	if (json_is_array(v))
		return matcher_array(ld, v, ptr, key,
				     "a matcher or a non-empty array of at most 32 matchers", out,
				     nout);
	if (!json_is_object(v))
		return invalid(ld, ptr, key,
			       "a matcher {\"type\": ..., \"where\": [...]} or an array of them");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return oom(ld);
	*nout = 1;
	ptr_key(p, sizeof(p), ptr, key);
	return parse_matcher(ld, v, p, key, *out);
}

static const struct kind_def *parse_kind(struct loader *ld, json_t *jr, const char *ptr, int *rc)
{
	json_t *v = json_object_get(jr, "kind");
	char p[PTR_MAX];

	*rc = 0;
	if (!v) {
		*rc = missing(ld, ptr, "rule", "kind",
			      "one of event, inactivity, aggregate, sequence, device_health");
		return NULL;
	}
	for (size_t i = 0; json_is_string(v) && i < CH_ARRAY_LEN(kinds); i++) {
		if (strcmp(json_string_value(v), kinds[i].name) == 0)
			return &kinds[i];
	}
	ptr_key(p, sizeof(p), ptr, "kind");
	if (json_is_string(v))
		*rc = ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				  "unknown kind \"%s\", expected one of event, inactivity, aggregate, "
				  "sequence, device_health",
				  json_string_value(v));
	else
		*rc = ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				  "\"kind\" is not a string, expected one of event, inactivity, "
				  "aggregate, sequence, device_health");
	return NULL;
}

/*
 * Keys that some kinds have and this one lacks get a message that says why,
 * before the generic "unknown key": they are the likely mistakes.
 */
static int check_rule_keys(struct loader *ld, json_t *jr, const char *ptr, const struct kind_def *k)
{
	const char *keys[2 + CH_ARRAY_LEN(aggregate_keys) + CH_ARRAY_LEN(common_keys)]; /* the longest */
	char expected[512] = "", what[32], p[PTR_MAX];
	size_t n = 0, o = 0;

	if (json_object_get(jr, "during") &&
	    (k->kind == CH_RULE_EVENT || k->kind == CH_RULE_DEVICE_HEALTH)) {
		ptr_key(p, sizeof(p), ptr, "during");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"during\" does not apply to %s rules, expected it only on "
				   "inactivity, aggregate or sequence rules",
				   k->name);
	}
	if (json_object_get(jr, "match") && k->kind == CH_RULE_DEVICE_HEALTH) {
		ptr_key(p, sizeof(p), ptr, "match");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"match\" does not apply to device_health rules (they watch "
				   "devices, not events), expected check, below, heartbeat, types");
	}
	keys[n++] = "id";
	keys[n++] = "kind";
	for (size_t i = 0; i < k->nkeys && n < CH_ARRAY_LEN(keys) - CH_ARRAY_LEN(common_keys); i++)
		keys[n++] = k->keys[i];
	for (size_t i = 0; i < CH_ARRAY_LEN(common_keys); i++)
		keys[n++] = common_keys[i];
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(expected + o, sizeof(expected) - o, "%s%s", i ? ", " : "", keys[i]);

		if (w < 0 || (size_t)w >= sizeof(expected) - o)
			break; /* cannot happen with these lists; a short list beats none */
		o += (size_t)w;
	}
	ch_fmt(what, sizeof(what), "%s rule", k->name);
	return check_keys(ld, jr, ptr, what, keys, n, expected);
}

static int parse_event(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	return need_matcher(ld, jr, ptr, "event rule", "match", &r->match);
}

static int parse_inactivity(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	int rc = need_matchers(ld, jr, ptr, "inactivity rule", "activity", &r->activity,
			       &r->nactivity);

	return rc ? rc : need_duration(ld, jr, ptr, "inactivity rule", "for", "8h", &r->for_ms);
}

static int parse_aggregate(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	static const char *const what = "aggregate rule";
	json_t *v;
	int rc, k = -1;

	rc = need_matcher(ld, jr, ptr, what, "match", &r->match);
	if (rc)
		return rc;

	v = json_object_get(jr, "fn");
	if (!v)
		return missing(ld, ptr, what, "fn", "one of sum, count, min, max, avg");
	for (size_t i = 0; json_is_string(v) && i < CH_ARRAY_LEN(agg_fns); i++) {
		if (strcmp(json_string_value(v), agg_fns[i].name) == 0)
			k = (int)i;
	}
	if (k < 0)
		return invalid(ld, ptr, "fn", "one of sum, count, min, max, avg");
	r->fn = agg_fns[k].fn;

	v = json_object_get(jr, "field");
	if (v && r->fn == CH_AGG_COUNT) {
		char p[PTR_MAX];

		ptr_key(p, sizeof(p), ptr, "field");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"field\" does not apply to count, which counts matching "
				   "events, expected no \"field\" or another fn");
	}
	if (v && (!json_is_string(v) || !valid_field(json_string_value(v))))
		return invalid(ld, ptr, "field",
			       "value, type, device, id, ts or data.<key> (dotted path)");
	if (r->fn != CH_AGG_COUNT) {
		r->field = ch_strdup(v ? json_string_value(v) : "value");
		if (!r->field)
			return oom(ld);
	}

	rc = need_duration(ld, jr, ptr, what, "window", "12h", &r->window_ms);
	if (rc)
		return rc;

	v = json_object_get(jr, "op");
	if (!v)
		return missing(ld, ptr, what, "op", "one of <, <=, >, >=");
	k = -1;
	for (size_t i = 0; json_is_string(v) && i < CH_ARRAY_LEN(ops); i++) {
		if (strcmp(json_string_value(v), ops[i].name) == 0 &&
		    (ops[i].op == CH_OP_LT || ops[i].op == CH_OP_LE || ops[i].op == CH_OP_GT ||
		     ops[i].op == CH_OP_GE))
			k = (int)i;
	}
	if (k < 0)
		return invalid(ld, ptr, "op", "one of <, <=, >, >=");
	r->cmp = ops[k].op;

	v = json_object_get(jr, "threshold");
	if (!v)
		return missing(ld, ptr, what, "threshold", "a number such as 0.01");
	if (!json_is_number(v))
		return invalid(ld, ptr, "threshold", "a number such as 0.01");
	r->threshold = json_number_value(v);
	return 0;
}

static int parse_sequence(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	static const char *const what = "sequence rule";
	json_t *v;
	int rc;

	if ((rc = need_matcher(ld, jr, ptr, what, "first", &r->first)) ||
	    (rc = need_matcher_or_array(ld, jr, ptr, what, "then", &r->then, &r->nthen)) ||
	    (rc = need_duration(ld, jr, ptr, what, "within", "10m", &r->within_ms)) ||
	    (rc = opt_bool(ld, jr, ptr, "absent", true, &r->absent)))
		return rc;
	/* Whether it names an event rule is checked once the whole file is in. */
	v = json_object_get(jr, "raises");
	if (v) {
		if (!json_is_string(v) || !valid_id(json_string_value(v)))
			return invalid(ld, ptr, "raises", "the id of an event rule in this file");
		r->raises = ch_strdup(json_string_value(v));
		if (!r->raises)
			return oom(ld);
	}
	return 0;
}

static int parse_device_types(struct loader *ld, json_t *v, const char *ptr, struct ch_rule *r)
{
	static const char *const expected = "a non-empty array of device types such as "
					    "[\"smoke\", \"motion\"]";
	size_t n = json_array_size(v);
	char p[PTR_MAX];

	if (!json_is_array(v) || n == 0)
		return invalid(ld, ptr, "types", expected);
	r->device_types = calloc(n, sizeof(*r->device_types));
	if (!r->device_types)
		return oom(ld);
	r->ndevice_types = n;
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(v, i);

		if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 63 ||
		    memchr(json_string_value(t), '\0', json_string_length(t))) {
			ch_fmt(p, sizeof(p), "%s/types/%zu", ptr, i);
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "device type is not valid, expected a string of 1-63 "
					   "bytes such as \"smoke\"");
		}
		r->device_types[i] = ch_strdup(json_string_value(t));
		if (!r->device_types[i])
			return oom(ld);
	}
	return 0;
}

static int parse_device_health(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	static const char *const what = "device_health rule";
	json_t *v = json_object_get(jr, "check");
	char p[PTR_MAX];
	int k = -1, rc;

	if (!v)
		return missing(ld, ptr, what, "check", "one of silent, battery, tamper");
	for (size_t i = 0; json_is_string(v) && i < CH_ARRAY_LEN(checks); i++) {
		if (strcmp(json_string_value(v), checks[i].name) == 0)
			k = (int)i;
	}
	if (k < 0)
		return invalid(ld, ptr, "check", "one of silent, battery, tamper");
	r->check = checks[k].check;

	v = json_object_get(jr, "below");
	if (r->check == CH_HEALTH_BATTERY) {
		if (!v)
			return missing(ld, ptr, "battery check", "below",
				       "a battery percentage from 0 to 100 such as 20");
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100)
			return invalid(ld, ptr, "below",
				       "a battery percentage from 0 to 100 such as 20");
		r->battery_below = json_number_value(v);
	} else if (v) {
		ptr_key(p, sizeof(p), ptr, "below");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"below\" does not apply to check %s, expected it only with "
				   "check battery",
				   checks[k].name);
	}

	v = json_object_get(jr, "heartbeat");
	if (v && r->check != CH_HEALTH_SILENT) {
		ptr_key(p, sizeof(p), ptr, "heartbeat");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"heartbeat\" does not apply to check %s, expected it only with "
				   "check silent",
				   checks[k].name);
	}
	rc = opt_duration(ld, jr, ptr, "heartbeat", false, 0, &r->default_heartbeat_ms);
	if (rc)
		return rc;

	v = json_object_get(jr, "types");
	return v ? parse_device_types(ld, v, ptr, r) : 0;
}

static int parse_flap(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	json_t *v = json_object_get(jr, "flap"), *opens;
	char p[PTR_MAX];
	int rc;

	r->flap_opens = 3;
	r->flap_window_ms = HOUR_MS;
	if (!v)
		return 0;
	ptr_key(p, sizeof(p), ptr, "flap");
	if (!json_is_object(v))
		return invalid(ld, ptr, "flap", "{\"opens\": N, \"within\": duration}");
	rc = check_keys(ld, v, p, "flap", flap_keys, CH_ARRAY_LEN(flap_keys), "opens, within");
	if (rc)
		return rc;
	opens = json_object_get(v, "opens");
	if (opens) {
		if (!json_is_integer(opens) || json_integer_value(opens) < 0 ||
		    json_integer_value(opens) > 100)
			return invalid(ld, p, "opens", "an integer from 0 (off) to 100");
		r->flap_opens = (int)json_integer_value(opens);
	}
	return opt_duration(ld, v, p, "within", true, HOUR_MS, &r->flap_window_ms);
}

static int parse_during(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	json_t *v = json_object_get(jr, "during");
	char p[PTR_MAX];
	int start, end;

	if (!v)
		return 0;
	if (!json_is_string(v) || ch_parse_daywindow(json_string_value(v), &start, &end) != 0)
		return invalid(ld, ptr, "during", "\"HH:MM-HH:MM\" such as \"22:00-06:00\"");
	if (start == end) {
		ptr_key(p, sizeof(p), ptr, "during");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"during\" starts and ends at the same time, expected a window "
				   "such as \"22:00-06:00\" (leave \"during\" out for all day)");
	}
	r->during.set = true;
	r->during.start_min = start;
	r->during.end_min = end;
	return 0;
}

/* cooldown, auto_resolve, while_away, flap, during: after the kind's own keys (op matters). */
static int parse_lifecycle(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	bool below = r->kind == CH_RULE_AGGREGATE && (r->cmp == CH_OP_LT || r->cmp == CH_OP_LE);
	json_t *v;
	int rc;

	rc = opt_duration(ld, jr, ptr, "cooldown", false, r->kind == CH_RULE_EVENT ? 0 : 30 * MIN_MS,
			  &r->cooldown_ms);
	if (rc)
		return rc;
	rc = opt_bool(ld, jr, ptr, "auto_resolve",
		      r->kind == CH_RULE_INACTIVITY || r->kind == CH_RULE_DEVICE_HEALTH || below,
		      &r->auto_resolve);
	if (rc)
		return rc;
	r->suspend_when_away = r->kind == CH_RULE_INACTIVITY || below;
	v = json_object_get(jr, "while_away");
	if (v) {
		const char *s = json_string_value(v); /* NULL when not a string */

		if (s && strcmp(s, "suspend") == 0)
			r->suspend_when_away = true;
		else if (s && strcmp(s, "run") == 0)
			r->suspend_when_away = false;
		else
			return invalid(ld, ptr, "while_away", "suspend or run");
	}
	rc = parse_flap(ld, jr, ptr, r);
	return rc ? rc : parse_during(ld, jr, ptr, r);
}

/*
 * "renotify" (event rules only, after category): a duration (0: every new
 * event) or false.  Safety rules default to RENOTIFY_DEFAULT_MS; maintenance
 * rules never re-notify (a battery reported twice is not news), and saying
 * otherwise is an error rather than a setting quietly ignored.
 */
static int parse_renotify(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	json_t *v = json_object_get(jr, "renotify");
	char p[PTR_MAX];

	r->renotify_ms = r->kind == CH_RULE_EVENT && r->category == CH_CAT_SAFETY ? RENOTIFY_DEFAULT_MS : -1;
	if (!v)
		return 0;
	if (json_is_false(v)) {
		r->renotify_ms = -1;
		return 0;
	}
	if (r->category != CH_CAT_SAFETY) {
		ptr_key(p, sizeof(p), ptr, "renotify");
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"renotify\" on a maintenance rule, expected it only on safety rules "
				   "(or false)");
	}
	return duration_at(ld, v, ptr, "renotify", false, &r->renotify_ms);
}

static int parse_rule(struct loader *ld, json_t *jr, const char *ptr, const struct ch_ruleset *rs,
		      struct ch_rule *r)
{
	const struct kind_def *k;
	char p[PTR_MAX];
	json_t *v;
	int rc;

	if (!json_is_object(jr))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule is not an object, expected {\"id\": ..., \"kind\": \"event\", "
				   "\"match\": {...}, \"severity\": ...}");
	/* Kind first: which keys are allowed depends on it. */
	k = parse_kind(ld, jr, ptr, &rc);
	if (!k)
		return rc;
	r->kind = k->kind;
	rc = check_rule_keys(ld, jr, ptr, k);
	if (rc)
		return rc;

	v = json_object_get(jr, "id");
	if (!v)
		return missing(ld, ptr, "rule", "id", "1-63 of [A-Za-z0-9_.-]");
	if (!json_is_string(v) || !valid_id(json_string_value(v)))
		return invalid(ld, ptr, "id", "1-63 of [A-Za-z0-9_.-]");
	for (size_t i = 0; i < rs->n; i++) {
		if (strcmp(rs->rules[i].id, json_string_value(v)) == 0) {
			ptr_key(p, sizeof(p), ptr, "id");
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "duplicate rule id \"%s\", expected ids to be unique",
					   json_string_value(v));
		}
	}
	r->id = ch_strdup(json_string_value(v));
	r->id_hash = ch_fnv1a32(r->id);
	if (!r->id)
		return oom(ld);

	switch (r->kind) {
	case CH_RULE_EVENT:
		rc = parse_event(ld, jr, ptr, r);
		break;
	case CH_RULE_INACTIVITY:
		rc = parse_inactivity(ld, jr, ptr, r);
		break;
	case CH_RULE_AGGREGATE:
		rc = parse_aggregate(ld, jr, ptr, r);
		break;
	case CH_RULE_SEQUENCE:
		rc = parse_sequence(ld, jr, ptr, r);
		break;
	case CH_RULE_DEVICE_HEALTH:
		rc = parse_device_health(ld, jr, ptr, r);
		break;
	}
	if (rc)
		return rc;

	v = json_object_get(jr, "severity");
	if (!v)
		return missing(ld, ptr, "rule", "severity",
			       "one of info, low, medium, high, critical");
	if (!json_is_string(v) || ch_severity_parse(json_string_value(v), &r->severity) != 0)
		return invalid(ld, ptr, "severity", "one of info, low, medium, high, critical");

	/* A flat battery is a job for maintenance, and must never page family as an emergency. */
	r->category = r->kind == CH_RULE_DEVICE_HEALTH ? CH_CAT_MAINTENANCE : CH_CAT_SAFETY;
	v = json_object_get(jr, "category");
	if (v) {
		const char *cat = json_string_value(v); /* NULL when not a string */

		if (cat && strcmp(cat, "safety") == 0 && r->kind == CH_RULE_DEVICE_HEALTH) {
			ptr_key(p, sizeof(p), ptr, "category");
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "category safety is not allowed on a device_health rule "
					   "(device health is maintenance, never the person's "
					   "safety), expected maintenance");
		}
		if (cat && strcmp(cat, "safety") == 0)
			r->category = CH_CAT_SAFETY;
		else if (cat && strcmp(cat, "maintenance") == 0)
			r->category = CH_CAT_MAINTENANCE;
		else
			return invalid(ld, ptr, "category", "safety or maintenance");
	}

	rc = opt_string(ld, jr, ptr, "policy", "a policy name", &r->policy);
	if (rc)
		return rc;
	rc = opt_string(ld, jr, ptr, "summary", "a non-empty template such as \"{location}烟感报警\"",
			&r->summary);
	if (rc)
		return rc;
	if (r->summary) {
		char name[64];

		if (unknown_placeholder(r->summary, name, sizeof(name))) {
			ptr_key(p, sizeof(p), ptr, "summary");
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "unknown placeholder {%s} in summary, expected {device}, "
					   "{location}, {type}, {value}, {subject}, {rule}, "
					   "{duration}, {threshold}, {measured} or {since}",
					   name);
		}
	} else {
		r->summary = ch_strdup(k->summary);
		if (!r->summary)
			return oom(ld);
	}
	/* Kept in the file for people (why this severity); the hub needs only its form. */
	rc = opt_string(ld, jr, ptr, "description", "a non-empty string", NULL);
	if (rc)
		return rc;
	rc = opt_bool(ld, jr, ptr, "enabled", true, &r->enabled);
	if (!rc)
		rc = parse_lifecycle(ld, jr, ptr, r);
	return rc ? rc : parse_renotify(ld, jr, ptr, r);
}

static int parse_presence(struct loader *ld, json_t *jp, struct ch_presence *pr)
{
	static const char *const ptr = "/presence";
	int rc;

	if (!json_is_object(jp))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "\"presence\" is not valid, expected {\"exit\": {...}, "
				   "\"inside\": [...], \"confirm\": duration}");
	if ((rc = check_keys(ld, jp, ptr, "presence", presence_keys, CH_ARRAY_LEN(presence_keys),
			     "exit, inside, confirm")) ||
	    (rc = need_matcher(ld, jp, ptr, "presence", "exit", &pr->exit)) ||
	    (rc = need_matchers(ld, jp, ptr, "presence", "inside", &pr->inside, &pr->ninside)) ||
	    (rc = opt_duration(ld, jp, ptr, "confirm", true, 10 * MIN_MS, &pr->confirm_ms)))
		return rc;
	pr->enabled = true;
	return 0;
}

/* "raises" may name a rule further down the file, so it is checked once all are in. */
static int check_raises(struct loader *ld, const struct ch_ruleset *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct ch_rule *r = &rs->rules[i], *t;
		char p[PTR_MAX];

		if (!r->raises)
			continue;
		t = ch_rules_find(rs, r->raises);
		ch_fmt(p, sizeof(p), "/rules/%zu/raises", i);
		if (!t)
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"raises\" names no rule \"%s\", expected the id of an "
					   "event rule in this file",
					   r->raises);
		if (t->kind != CH_RULE_EVENT)
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"raises\" names the %s rule \"%s\", expected the id of "
					   "an event rule",
					   ch_rule_kind_name(t->kind), r->raises);
	}
	return 0;
}

static int load_doc(const struct ch_jdoc *doc, struct ch_ruleset **out, char *err, size_t errlen)
{
	struct loader ld = {.doc = doc, .err = err, .errlen = errlen};
	json_t *root = ch_jdoc_root(doc), *list, *presence;
	struct ch_ruleset *rs;
	int rc;

	if (!json_is_object(root))
		return ch_jdoc_err(doc, "", err, errlen,
				   "rules file is not an object, expected {\"rules\": [...]}");
	rc = check_keys(&ld, root, "", "the rules file", (const char *const[]){"rules", "presence"},
			2, "rules, presence");
	if (rc)
		return rc;
	list = json_object_get(root, "rules");
	if (!list)
		return ch_jdoc_err(doc, "", err, errlen,
				   "rules file has no \"rules\", expected {\"rules\": [...]}");
	if (!json_is_array(list))
		return ch_jdoc_err(doc, "/rules", err, errlen,
				   "\"rules\" is not an array, expected [{\"id\": ...}, ...]");

	rs = calloc(1, sizeof(*rs));
	if (rs && json_array_size(list))
		rs->rules = calloc(json_array_size(list), sizeof(*rs->rules));
	if (!rs || (json_array_size(list) && !rs->rules)) {
		free(rs);
		return oom(&ld);
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		char p[PTR_MAX];

		ch_fmt(p, sizeof(p), "/rules/%zu", i);
		rc = parse_rule(&ld, json_array_get(list, i), p, rs, &rs->rules[i]);
		if (rc) {
			rule_free(&rs->rules[i]);
			ch_rules_free(rs);
			return rc;
		}
		rs->n++;
	}
	presence = json_object_get(root, "presence");
	rc = presence ? parse_presence(&ld, presence, &rs->presence) : 0;
	if (!rc)
		rc = check_raises(&ld, rs);
	if (rc) {
		ch_rules_free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}

int ch_rules_load(const char *path, struct ch_ruleset **out, char *err, size_t errlen)
{
	struct ch_jdoc *doc;
	int rc;

	if (!path || !out)
		return CH_EINVAL;
	*out = NULL;
	rc = ch_jdoc_load(path, &doc, err, errlen);
	if (rc)
		return rc;
	rc = load_doc(doc, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

int ch_rules_parse(const char *name, const char *text, size_t len, struct ch_ruleset **out,
		   char *err, size_t errlen)
{
	struct ch_jdoc *doc;
	int rc;

	if (!text || !out)
		return CH_EINVAL;
	*out = NULL;
	rc = ch_jdoc_parse(name ? name : "<rules>", text, len, &doc, err, errlen);
	if (rc)
		return rc;
	rc = load_doc(doc, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

const char *ch_rule_kind_name(enum ch_rule_kind k)
{
	for (size_t i = 0; i < CH_ARRAY_LEN(kinds); i++) {
		if (kinds[i].kind == k)
			return kinds[i].name;
	}
	return "?";
}

bool ch_type_matches(const char *pattern, const char *type)
{
	size_t n = strlen(pattern);

	/* "service.*" needs something after "service.": the bare prefix is not a service event. */
	if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*')
		return strncmp(type, pattern, n - 1) == 0 && type[n - 1] != '\0';
	return strcmp(pattern, type) == 0;
}

/* Integers compare exactly (epoch ms don't fit a double's 53 bits); mixed by value. */
static bool numbers_cmp(const json_t *a, const json_t *b, int *cmp)
{
	if (!json_is_number(a) || !json_is_number(b))
		return false;
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		*cmp = (x > y) - (x < y);
	} else {
		double x = json_number_value(a), y = json_number_value(b);
		*cmp = (x > y) - (x < y);
	}
	return true;
}

static bool values_equal(const json_t *a, const json_t *b)
{
	int cmp;

	if (numbers_cmp(a, b, &cmp))
		return cmp == 0;
	return json_equal(a, b);
}

static bool cond_holds(const struct ch_cond *c, const struct ch_event *ev)
{
	const json_t *f = ch_event_field(ev, c->field);
	int cmp;

	switch (c->op) {
	case CH_OP_EXISTS:
		return f && !json_is_null(f);
	case CH_OP_ABSENT:
		return !f || json_is_null(f);
	case CH_OP_EQ:
		return f && values_equal(f, c->operand);
	case CH_OP_NE:
		return !f || !values_equal(f, c->operand);
	case CH_OP_IN:
		for (size_t i = 0; f && i < json_array_size(c->operand); i++) {
			if (values_equal(f, json_array_get(c->operand, i)))
				return true;
		}
		return false;
	case CH_OP_LT:
	case CH_OP_LE:
	case CH_OP_GT:
	case CH_OP_GE:
		if (!f)
			return false;
		if (!numbers_cmp(f, c->operand, &cmp)) {
			if (!json_is_string(f) || !json_is_string(c->operand))
				return false;
			cmp = strcmp(json_string_value(f), json_string_value(c->operand));
		}
		switch (c->op) {
		case CH_OP_LT:
			return cmp < 0;
		case CH_OP_LE:
			return cmp <= 0;
		case CH_OP_GT:
			return cmp > 0;
		default:
			return cmp >= 0;
		}
	}
	return false;
}

/* Type and conditions: what a matcher asks of the event alone. */
static bool event_matches(const struct ch_matcher *m, const struct ch_event *ev)
{
	if (!m || !ev || !m->type || !ch_type_matches(m->type, ev->type))
		return false;
	for (size_t i = 0; i < m->nconds; i++) {
		if (!cond_holds(&m->conds[i], ev))
			return false;
	}
	return true;
}

/* Locations are names people typed twice (registry, rules): "Front Door" is "front door". */
static bool ascii_caseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return *a == *b;
}

bool ch_matcher_matches(const struct ch_matcher *m, const struct ch_event *ev,
			const struct ch_device *dev)
{
	if (!event_matches(m, ev))
		return false;
	/* An unknown device has no location, so it can't be at the front door. */
	return !m->location || (dev && dev->location && ascii_caseeq(m->location, dev->location));
}

bool ch_rule_matches(const struct ch_rule *rule, const struct ch_event *ev)
{
	return rule && event_matches(&rule->match, ev);
}

const struct ch_rule *ch_rules_find(const struct ch_ruleset *rs, const char *id)
{
	for (size_t i = 0; rs && id && i < rs->n; i++) {
		if (strcmp(rs->rules[i].id, id) == 0)
			return &rs->rules[i];
	}
	return NULL;
}

void ch_rules_match_event(const struct ch_ruleset *rs, const struct ch_event *ev,
			  const struct ch_rule **out, size_t max, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; rs && out && i < rs->n && k < max; i++) {
		const struct ch_rule *r = &rs->rules[i];

		if (r->enabled && r->kind == CH_RULE_EVENT && ch_rule_matches(r, ev))
			out[k++] = r;
	}
	if (n)
		*n = k;
}

/* ------------------------------------------------------------------ */
/* Rendering                                                           */
/* ------------------------------------------------------------------ */

struct sink {
	char *out;
	size_t len; /* bytes written, out[len] is kept NUL */
	size_t cap; /* usable bytes: outlen - 1 */
	bool full;
};

/*
 * Appends what fits.  A cut never splits a UTF-8 sequence (an SMS gateway
 * rejects or garbles a half character), and after the first cut nothing more is
 * written, so a short piece can't land after a truncated one.
 */
static void sink_put(struct sink *s, const char *src, size_t n)
{
	size_t room = s->cap - s->len;

	if (s->full)
		return;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
		s->full = true;
	}
	memcpy(s->out + s->len, src, n);
	s->len += n;
	s->out[s->len] = '\0';
}

void ch_rules_render(const char *tmpl, const char *const keys[], const char *const vals[],
		     size_t nkv, char *out, size_t outlen)
{
	struct sink s = {.out = out, .cap = outlen ? outlen - 1 : 0};

	if (!out || outlen == 0)
		return;
	out[0] = '\0';
	if (!tmpl)
		return;
	while (*tmpl && !s.full) {
		const char *brace = strchr(tmpl, '{');
		const char *end;
		size_t klen;
		bool done = false;

		if (!brace) {
			sink_put(&s, tmpl, strlen(tmpl));
			break;
		}
		sink_put(&s, tmpl, (size_t)(brace - tmpl));
		end = strchr(brace + 1, '}');
		klen = end ? (size_t)(end - brace - 1) : 0;
		for (size_t i = 0; end && keys && i < nkv; i++) {
			if (keys[i] && strlen(keys[i]) == klen && memcmp(brace + 1, keys[i], klen) == 0) {
				const char *val = vals && vals[i] ? vals[i] : "";

				sink_put(&s, val, strlen(val));
				tmpl = end + 1;
				done = true;
				break;
			}
		}
		if (!done) {
			/* Not ours: the brace is text, and the scan resumes right after it. */
			sink_put(&s, brace, 1);
			tmpl = brace + 1;
		}
	}
}
