/*
 * rules.c - the rules file and the decision "does this event open an alert".
 *
 * Loading is strict because a rule that silently never matches is a smoke alarm
 * nobody hears: unknown keys, a misspelt field ("valeu"), an unknown summary
 * placeholder or an operator applied to the wrong kind of operand are refused
 * with "file:line:col: what, expected what" (positions from jdoc) and the
 * daemon keeps its old rules.  Matching is a pure function of (rule, event) and
 * allocates nothing, so it runs on the ingest path and in backtests alike.
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
 */
#include "rules.h"
#include "jdoc.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_SUMMARY "{type} from {device}"
#define PTR_MAX 512

/* Later issues add these kinds; a file written for them must fail loudly, not half-load. */
static const char *const future_kinds[] = {"inactivity", "aggregate", "sequence", "device_health"};

static const char *const rule_keys[] = {"id",	    "kind",    "match",	      "severity", "category",
					"policy", "summary", "description", "enabled"};
static const char *const match_keys[] = {"type", "where"};

/* What a summary may name; ch_rules_render callers supply these. */
static const char *const placeholders[] = {"device", "location", "type", "value", "subject", "rule"};

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

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

struct loader {
	const struct ch_jdoc *doc;
	char *err;
	size_t errlen;
};

static void rule_free(struct ch_rule *r)
{
	free(r->id);
	free(r->type);
	for (size_t i = 0; i < r->nconds; i++) {
		free(r->conds[i].field);
		json_decref(r->conds[i].operand);
	}
	free(r->conds);
	free(r->policy);
	free(r->summary);
	memset(r, 0, sizeof(*r));
}

void ch_rules_free(struct ch_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	free(rs);
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
	char p[PTR_MAX];

	if (!v)
		return 0;
	ptr_key(p, sizeof(p), ptr, key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen, "\"%s\" is not valid, expected %s",
				   key, expected);
	if (out) {
		*out = ch_strdup(json_string_value(v));
		if (!*out) {
			ch_strlcpy(ld->err, "out of memory", ld->errlen);
			return CH_ENOMEM;
		}
	}
	return 0;
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
		ch_strlcpy(ld->err, "out of memory", ld->errlen);
		return CH_ENOMEM;
	}
	return 0;
}

static int parse_match(struct loader *ld, json_t *jm, const char *ptr, struct ch_rule *r)
{
	char p[PTR_MAX];
	json_t *type, *where;
	int rc;

	if (!json_is_object(jm))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "\"match\" is not valid, expected an object "
				   "{\"type\": ..., \"where\": [...]}");
	rc = check_keys(ld, jm, ptr, "match", match_keys, CH_ARRAY_LEN(match_keys), "type, where");
	if (rc)
		return rc;
	type = json_object_get(jm, "type");
	if (!type)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "\"match\" has no \"type\", expected an event type such as "
				   "\"smoke\" or a prefix such as \"service.*\"");
	ptr_key(p, sizeof(p), ptr, "type");
	if (!json_is_string(type) || !valid_type_pattern(json_string_value(type)))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"type\" is not valid, expected 1-63 of [a-z0-9_.] optionally "
				   "ending in \".*\"");
	r->type = ch_strdup(json_string_value(type));
	if (!r->type) {
		ch_strlcpy(ld->err, "out of memory", ld->errlen);
		return CH_ENOMEM;
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
	r->conds = calloc(json_array_size(where), sizeof(*r->conds));
	if (!r->conds) {
		ch_strlcpy(ld->err, "out of memory", ld->errlen);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(where); i++) {
		char cp[PTR_MAX];

		ch_fmt(cp, sizeof(cp), "%s/%zu", p, i);
		rc = parse_cond(ld, json_array_get(where, i), cp, &r->conds[i]);
		if (rc)
			return rc;
		r->nconds++;
	}
	return 0;
}

static int parse_kind(struct loader *ld, json_t *jr, const char *ptr, struct ch_rule *r)
{
	json_t *v = json_object_get(jr, "kind");
	char p[PTR_MAX];
	const char *kind;

	if (!v)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule has no \"kind\", expected \"kind\": \"event\"");
	ptr_key(p, sizeof(p), ptr, "kind");
	if (!json_is_string(v))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"kind\" is not a string, expected event");
	kind = json_string_value(v);
	if (strcmp(kind, "event") == 0) {
		r->kind = CH_RULE_EVENT;
		return 0;
	}
	if (in_list(kind, future_kinds, CH_ARRAY_LEN(future_kinds)))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "kind \"%s\" is not supported yet, expected event", kind);
	return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen, "unknown kind \"%s\", expected event",
			   kind);
}

static int parse_rule(struct loader *ld, json_t *jr, const char *ptr, const struct ch_ruleset *rs,
		      struct ch_rule *r)
{
	char p[PTR_MAX];
	json_t *v;
	int rc;

	if (!json_is_object(jr))
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule is not an object, expected {\"id\": ..., \"kind\": \"event\", "
				   "\"match\": {...}, \"severity\": ...}");
	/* Kind first: a rule of a later kind has keys of its own, and "not supported yet" is the news. */
	rc = parse_kind(ld, jr, ptr, r);
	if (rc)
		return rc;
	rc = check_keys(ld, jr, ptr, "rule", rule_keys, CH_ARRAY_LEN(rule_keys),
			"id, kind, match, severity, category, policy, summary, description, "
			"enabled");
	if (rc)
		return rc;

	v = json_object_get(jr, "id");
	if (!v)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule has no \"id\", expected 1-63 of [A-Za-z0-9_.-]");
	ptr_key(p, sizeof(p), ptr, "id");
	if (!json_is_string(v) || !valid_id(json_string_value(v)))
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"id\" is not valid, expected 1-63 of [A-Za-z0-9_.-]");
	for (size_t i = 0; i < rs->n; i++) {
		if (strcmp(rs->rules[i].id, json_string_value(v)) == 0)
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "duplicate rule id \"%s\", expected ids to be unique",
					   json_string_value(v));
	}
	r->id = ch_strdup(json_string_value(v));
	if (!r->id) {
		ch_strlcpy(ld->err, "out of memory", ld->errlen);
		return CH_ENOMEM;
	}

	v = json_object_get(jr, "match");
	if (!v)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule has no \"match\", expected {\"type\": ..., \"where\": [...]}");
	ptr_key(p, sizeof(p), ptr, "match");
	rc = parse_match(ld, v, p, r);
	if (rc)
		return rc;

	v = json_object_get(jr, "severity");
	if (!v)
		return ch_jdoc_err(ld->doc, ptr, ld->err, ld->errlen,
				   "rule has no \"severity\", expected one of info, low, medium, "
				   "high, critical");
	ptr_key(p, sizeof(p), ptr, "severity");
	if (!json_is_string(v) || ch_severity_parse(json_string_value(v), &r->severity) != 0)
		return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
				   "\"severity\" is not valid, expected one of info, low, medium, "
				   "high, critical");

	r->category = CH_CAT_SAFETY;
	v = json_object_get(jr, "category");
	if (v) {
		const char *cat = json_string_value(v); /* NULL when not a string */

		ptr_key(p, sizeof(p), ptr, "category");
		if (cat && strcmp(cat, "safety") == 0)
			r->category = CH_CAT_SAFETY;
		else if (cat && strcmp(cat, "maintenance") == 0)
			r->category = CH_CAT_MAINTENANCE;
		else
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"category\" is not valid, expected safety or "
					   "maintenance");
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
					   "{location}, {type}, {value}, {subject} or {rule}",
					   name);
		}
	} else {
		r->summary = ch_strdup(DEFAULT_SUMMARY);
		if (!r->summary) {
			ch_strlcpy(ld->err, "out of memory", ld->errlen);
			return CH_ENOMEM;
		}
	}
	/* Kept in the file for people (why this severity); the hub needs only its form. */
	rc = opt_string(ld, jr, ptr, "description", "a non-empty string", NULL);
	if (rc)
		return rc;

	r->enabled = true;
	v = json_object_get(jr, "enabled");
	if (v) {
		ptr_key(p, sizeof(p), ptr, "enabled");
		if (!json_is_boolean(v))
			return ch_jdoc_err(ld->doc, p, ld->err, ld->errlen,
					   "\"enabled\" is not valid, expected true or false");
		r->enabled = json_is_true(v);
	}
	return 0;
}

static int load_doc(const struct ch_jdoc *doc, struct ch_ruleset **out, char *err, size_t errlen)
{
	struct loader ld = {.doc = doc, .err = err, .errlen = errlen};
	json_t *root = ch_jdoc_root(doc), *list;
	struct ch_ruleset *rs;
	int rc;

	if (!json_is_object(root))
		return ch_jdoc_err(doc, "", err, errlen,
				   "rules file is not an object, expected {\"rules\": [...]}");
	rc = check_keys(&ld, root, "", "the rules file", (const char *const[]){"rules"}, 1, "rules");
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
		ch_strlcpy(err, "out of memory", errlen);
		return CH_ENOMEM;
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

static bool type_matches(const char *pattern, const char *type)
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

bool ch_rule_matches(const struct ch_rule *rule, const struct ch_event *ev)
{
	if (!rule || !ev || !rule->type || !type_matches(rule->type, ev->type))
		return false;
	for (size_t i = 0; i < rule->nconds; i++) {
		if (!cond_holds(&rule->conds[i], ev))
			return false;
	}
	return true;
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
