/*
 * test_rules.c - rules file loading (every error with its exact file:line:col),
 * the matching semantics of each operator, and summary rendering.
 *
 * Matching decides whether a person in trouble gets help, so the edge cases
 * (a missing field, 1 vs 1.0, a prefix type) are spelled out one by one, and the
 * default rule pack shipped in config/ is loaded and run against sample events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "rules.h"

#define ARRIVAL 1795824900000LL

static const struct ch_event_limits lim = {
	.max_payload = 64 * 1024,
	.max_depth = 32,
	.future_skew_ms = 300000,
};

static void event(const char *json, struct ch_event *ev)
{
	enum ch_reject why;
	char err[256];

	if (ch_event_parse(json, strlen(json), &lim, ARRIVAL, ev, &why, err, sizeof(err)) != 0)
		fail_msg("event %s rejected: %s", json, err);
}

static struct ch_ruleset *rules(const char *text)
{
	struct ch_ruleset *rs = NULL;
	char err[512];

	if (ch_rules_parse("test.json", text, strlen(text), &rs, err, sizeof(err)) != 0)
		fail_msg("rules rejected: %s", err);
	return rs;
}

/* One rule of type t with the given where clause; returns whether the event matches it. */
static bool match1(const char *where, const char *ev_json)
{
	char text[1024];
	struct ch_ruleset *rs;
	struct ch_event ev;
	bool m;

	ch_fmt(text, sizeof(text),
	       "{\"rules\":[{\"id\":\"r\",\"kind\":\"event\",\"match\":{\"type\":\"t\","
	       "\"where\":[%s]},\"severity\":\"high\"}]}",
	       where);
	rs = rules(text);
	event(ev_json, &ev);
	m = ch_rule_matches(&rs->rules[0], &ev);
	ch_event_clear(&ev);
	ch_rules_free(rs);
	return m;
}

#define EV(v) "{\"device\":\"d\",\"type\":\"t\"" v "}"

static void test_parse_full_rule(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":[{\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\","
		"\"where\":[[\"value\",\"==\",true],[\"data.level\",\"exists\"],"
		"[\"data.zone\",\"in\",[\"a\",\"b\"]]]},\"severity\":\"critical\",\"category\":"
		"\"maintenance\",\"policy\":\"fire_gas\",\"summary\":\"{location}烟感报警\","
		"\"description\":\"why\",\"enabled\":false},"
		"{\"id\":\"svc\",\"kind\":\"event\",\"match\":{\"type\":\"service.*\"},"
		"\"severity\":\"info\"}]}");
	const struct ch_rule *r = &rs->rules[0];

	assert_int_equal(rs->n, 2);
	assert_string_equal(r->id, "smoke");
	assert_int_equal(r->kind, CH_RULE_EVENT);
	assert_string_equal(r->type, "smoke");
	assert_int_equal(r->nconds, 3);
	assert_string_equal(r->conds[0].field, "value");
	assert_int_equal(r->conds[0].op, CH_OP_EQ);
	assert_true(json_is_true(r->conds[0].operand));
	assert_int_equal(r->conds[1].op, CH_OP_EXISTS);
	assert_null(r->conds[1].operand);
	assert_int_equal(r->conds[2].op, CH_OP_IN);
	assert_int_equal(json_array_size(r->conds[2].operand), 2);
	assert_int_equal(r->severity, CH_SEV_CRITICAL);
	assert_int_equal(r->category, CH_CAT_MAINTENANCE);
	assert_string_equal(r->policy, "fire_gas");
	assert_string_equal(r->summary, "{location}烟感报警");
	assert_false(r->enabled);

	/* Defaults: safety, no policy (by severity), the generic summary, enabled, no conditions. */
	r = &rs->rules[1];
	assert_string_equal(r->type, "service.*");
	assert_int_equal(r->nconds, 0);
	assert_null(r->conds);
	assert_int_equal(r->severity, CH_SEV_INFO);
	assert_int_equal(r->category, CH_CAT_SAFETY);
	assert_null(r->policy);
	assert_string_equal(r->summary, "{type} from {device}");
	assert_true(r->enabled);
	ch_rules_free(rs);

	rs = rules("{\"rules\":[]}");
	assert_int_equal(rs->n, 0);
	ch_rules_free(rs);
	ch_rules_free(NULL);
}

static void test_op_eq_ne(void **state)
{
	(void)state;
	assert_true(match1("[\"value\",\"==\",true]", EV(",\"value\":true")));
	assert_false(match1("[\"value\",\"==\",true]", EV(",\"value\":false")));
	assert_false(match1("[\"value\",\"==\",true]", EV(",\"value\":1")));
	assert_true(match1("[\"value\",\"==\",\"open\"]", EV(",\"value\":\"open\"")));
	assert_false(match1("[\"value\",\"==\",\"open\"]", EV(",\"value\":\"Open\"")));
	assert_true(match1("[\"value\",\"==\",null]", EV(",\"value\":null")));
	assert_true(match1("[\"data.a\",\"==\",{\"x\":[1,2]}]", EV(",\"data\":{\"a\":{\"x\":[1,2]}}")));
	assert_true(match1("[\"value\",\"!=\",false]", EV(",\"value\":true")));
	assert_false(match1("[\"value\",\"!=\",false]", EV(",\"value\":false")));
	assert_true(match1("[\"value\",\"!=\",\"closed\"]", EV(",\"value\":\"open\"")));
	/* Other top-level fields are fields too. */
	assert_true(match1("[\"device\",\"==\",\"d\"]", EV("")));
	assert_true(match1("[\"type\",\"!=\",\"smoke\"]", EV("")));
	assert_true(match1("[\"id\",\"==\",\"e-1\"]", EV(",\"id\":\"e-1\"")));
}

static void test_numeric_equality(void **state)
{
	(void)state;
	/* 1 == 1.0 both ways; JSON equality alone would say no. */
	assert_true(match1("[\"value\",\"==\",1]", EV(",\"value\":1.0")));
	assert_true(match1("[\"value\",\"==\",1.0]", EV(",\"value\":1")));
	assert_false(match1("[\"value\",\"!=\",1.0]", EV(",\"value\":1")));
	assert_true(match1("[\"value\",\"==\",0]", EV(",\"value\":-0.0")));
	assert_false(match1("[\"value\",\"==\",1]", EV(",\"value\":1.0000001")));
	/* Integers beyond 2^53 still compare exactly. */
	assert_false(match1("[\"value\",\"==\",9007199254740993]", EV(",\"value\":9007199254740992")));
	assert_true(match1("[\"value\",\"==\",9007199254740993]", EV(",\"value\":9007199254740993")));
	assert_true(match1("[\"value\",\">\",9007199254740992]", EV(",\"value\":9007199254740993")));
	/* A number is not the string of its digits. */
	assert_false(match1("[\"value\",\"==\",\"1\"]", EV(",\"value\":1")));
	assert_true(match1("[\"value\",\"in\",[\"x\",2.0,true]]", EV(",\"value\":2")));
}

static void test_op_order(void **state)
{
	(void)state;
	assert_true(match1("[\"value\",\"<\",20]", EV(",\"value\":19.5")));
	assert_false(match1("[\"value\",\"<\",20]", EV(",\"value\":20")));
	assert_true(match1("[\"value\",\"<=\",20]", EV(",\"value\":20")));
	assert_false(match1("[\"value\",\"<=\",20]", EV(",\"value\":20.01")));
	assert_true(match1("[\"value\",\">\",2.0]", EV(",\"value\":3")));
	assert_false(match1("[\"value\",\">\",2]", EV(",\"value\":2")));
	assert_true(match1("[\"value\",\">=\",2]", EV(",\"value\":2.0")));
	assert_false(match1("[\"value\",\">=\",2]", EV(",\"value\":-5")));
	/* Strings compare bytewise. */
	assert_true(match1("[\"value\",\"<\",\"b\"]", EV(",\"value\":\"a\"")));
	assert_true(match1("[\"value\",\">=\",\"2026-01-01\"]", EV(",\"value\":\"2026-11-28\"")));
	/* Mixed kinds never hold, in either direction. */
	assert_false(match1("[\"value\",\"<\",20]", EV(",\"value\":\"10\"")));
	assert_false(match1("[\"value\",\">=\",20]", EV(",\"value\":\"10\"")));
	assert_false(match1("[\"value\",\"<\",\"b\"]", EV(",\"value\":1")));
	assert_false(match1("[\"value\",\"<\",1]", EV(",\"value\":true")));
	assert_false(match1("[\"value\",\">\",1]", EV(",\"value\":null")));
	/* Battery below 20 % on a nested field. */
	assert_true(match1("[\"data.battery\",\"<\",20]", EV(",\"data\":{\"battery\":15}")));
}

static void test_op_exists_absent_in(void **state)
{
	(void)state;
	assert_true(match1("[\"data.level\",\"exists\"]", EV(",\"data\":{\"level\":0}")));
	assert_true(match1("[\"data.level\",\"exists\"]", EV(",\"data\":{\"level\":false}")));
	assert_false(match1("[\"data.level\",\"exists\"]", EV(",\"data\":{}")));
	assert_false(match1("[\"data.level\",\"exists\"]", EV("")));
	/* null is "no reading": absent, not present. */
	assert_false(match1("[\"value\",\"exists\"]", EV(",\"value\":null")));
	assert_true(match1("[\"value\",\"absent\"]", EV(",\"value\":null")));
	assert_true(match1("[\"value\",\"absent\"]", EV("")));
	assert_false(match1("[\"value\",\"absent\"]", EV(",\"value\":0")));

	assert_true(match1("[\"value\",\"in\",[\"open\",\"ajar\"]]", EV(",\"value\":\"ajar\"")));
	assert_false(match1("[\"value\",\"in\",[\"open\",\"ajar\"]]", EV(",\"value\":\"closed\"")));
	assert_true(match1("[\"value\",\"in\",[null]]", EV(",\"value\":null")));
	assert_false(match1("[\"value\",\"in\",[null]]", EV("")));
}

static void test_missing_fields(void **state)
{
	(void)state;
	/* A missing field equals nothing, differs from everything, orders with nothing. */
	assert_false(match1("[\"value\",\"==\",true]", EV("")));
	assert_false(match1("[\"value\",\"==\",null]", EV("")));
	assert_true(match1("[\"value\",\"!=\",false]", EV("")));
	assert_false(match1("[\"value\",\"<\",1]", EV("")));
	assert_false(match1("[\"value\",\"<=\",1]", EV("")));
	assert_false(match1("[\"value\",\">\",1]", EV("")));
	assert_false(match1("[\"value\",\">=\",1]", EV("")));
	assert_false(match1("[\"value\",\"in\",[1,2]]", EV("")));
	assert_false(match1("[\"data.a.b\",\"==\",1]", EV(",\"data\":{\"a\":5}")));
	assert_true(match1("[\"data.a.b\",\"!=\",1]", EV(",\"data\":{\"a\":5}")));
	/* The SOS case that motivated "!=" on missing fields. */
	struct ch_ruleset *rs = rules("{\"rules\":[{\"id\":\"sos\",\"kind\":\"event\",\"match\":{"
				      "\"type\":\"sos\",\"where\":[[\"value\",\"!=\",false]]},"
				      "\"severity\":\"critical\"}]}");
	struct ch_event ev;

	event("{\"device\":\"btn-1\",\"type\":\"sos\"}", &ev);
	assert_true(ch_rule_matches(&rs->rules[0], &ev));
	ch_event_clear(&ev);
	ch_rules_free(rs);
}

static void test_all_conditions_must_hold(void **state)
{
	(void)state;
	const char *w = "[\"value\",\">\",1],[\"data.unit\",\"==\",\"m3\"]";

	assert_true(match1(w, EV(",\"value\":2,\"data\":{\"unit\":\"m3\"}")));
	assert_false(match1(w, EV(",\"value\":2,\"data\":{\"unit\":\"l\"}")));
	assert_false(match1(w, EV(",\"value\":0,\"data\":{\"unit\":\"m3\"}")));
}

static void test_types(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":[{\"id\":\"svc\",\"kind\":\"event\",\"match\":{\"type\":\"service.*\"},"
		"\"severity\":\"low\"},{\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":"
		"\"smoke\"},\"severity\":\"critical\"}]}");
	static const struct {
		const char *type;
		bool svc, smoke;
	} cases[] = {
		{"service.meal_missed", true, false},
		{"service.hospital_admission", true, false},
		{"service.a.b", true, false},
		{"service", false, false},
		{"service.", false, false},
		{"services.x", false, false},
		{"xservice.x", false, false},
		{"smoke", false, true},
		{"smoke2", false, false},
		{"smok", false, false},
	};

	for (size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
		char json[128];
		struct ch_event ev;

		ch_fmt(json, sizeof(json), "{\"device\":\"d\",\"type\":\"%s\"}", cases[i].type);
		event(json, &ev);
		if (ch_rule_matches(&rs->rules[0], &ev) != cases[i].svc ||
		    ch_rule_matches(&rs->rules[1], &ev) != cases[i].smoke)
			fail_msg("type %s", cases[i].type);
		ch_event_clear(&ev);
	}
	assert_false(ch_rule_matches(NULL, NULL));
	ch_rules_free(rs);
}

static void test_match_event_order_disabled_max(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":["
		"{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},\"severity\":\"low\"},"
		"{\"id\":\"b\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},\"severity\":\"low\","
		"\"enabled\":false},"
		"{\"id\":\"c\",\"kind\":\"event\",\"match\":{\"type\":\"gas\"},\"severity\":\"low\"},"
		"{\"id\":\"d\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\",\"where\":[[\"value\","
		"\"==\",true]]},\"severity\":\"critical\"},"
		"{\"id\":\"e\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},\"severity\":\"low\","
		"\"enabled\":true}]}");
	const struct ch_rule *out[8];
	struct ch_event ev;
	size_t n = 99;

	event("{\"device\":\"d\",\"type\":\"smoke\",\"value\":true}", &ev);
	ch_rules_match_event(rs, &ev, out, CH_ARRAY_LEN(out), &n);
	assert_int_equal(n, 3);
	assert_string_equal(out[0]->id, "a");
	assert_string_equal(out[1]->id, "d");
	assert_string_equal(out[2]->id, "e");
	/* A disabled rule still matches when asked directly: "enabled" is the set's business. */
	assert_true(ch_rule_matches(&rs->rules[1], &ev));
	/* At most max. */
	ch_rules_match_event(rs, &ev, out, 2, &n);
	assert_int_equal(n, 2);
	assert_string_equal(out[1]->id, "d");
	ch_rules_match_event(rs, &ev, out, 0, &n);
	assert_int_equal(n, 0);
	ch_rules_match_event(NULL, &ev, out, 8, &n);
	assert_int_equal(n, 0);
	ch_event_clear(&ev);
	ch_rules_free(rs);
}

/* Parses text and expects the exact error message. */
static void expect_error(const char *text, const char *want)
{
	struct ch_ruleset *rs = (struct ch_ruleset *)1;
	char err[512] = "";
	int rc = ch_rules_parse("rules.json", text, strlen(text), &rs, err, sizeof(err));

	if (rc != CH_ECONFIG)
		fail_msg("rc %d for %s (err: %s)", rc, text, err);
	assert_null(rs);
	if (strcmp(err, want) != 0)
		fail_msg("\n got: %s\nwant: %s", err, want);
}

static void test_file_errors(void **state)
{
	(void)state;
	/* Syntax errors come from jdoc with the same prefix. */
	{
		struct ch_ruleset *rs = NULL;
		char err[512];
		const char *t = "{\"rules\":[\n  {\"id\": }\n]}";

		assert_int_equal(ch_rules_parse("rules.json", t, strlen(t), &rs, err, sizeof(err)),
				 CH_ECONFIG);
		assert_null(rs);
		assert_int_equal(strncmp(err, "rules.json:2:", 13), 0);
	}
	expect_error("[]", "rules.json:1:1: rules file is not an object, expected {\"rules\": [...]}");
	expect_error("{}", "rules.json:1:1: rules file has no \"rules\", expected {\"rules\": [...]}");
	expect_error("{\"rules\":[],\n \"extra\":1}",
		     "rules.json:2:10: unknown key \"extra\" in the rules file, expected one of rules");
	expect_error("{\"rules\":{}}",
		     "rules.json:1:10: \"rules\" is not an array, expected [{\"id\": ...}, ...]");
	expect_error("{\"rules\":[\n  42\n]}",
		     "rules.json:2:3: rule is not an object, expected {\"id\": ..., \"kind\": "
		     "\"event\", \"match\": {...}, \"severity\": ...}");
	expect_error("{\"rules\":[\n  {\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},"
		     "\"severity\":\"high\",\"colour\":\"red\"}\n]}",
		     "rules.json:2:80: unknown key \"colour\" in rule, expected one of id, kind, "
		     "match, severity, category, policy, summary, description, enabled");
	expect_error("{\"rules\":[{\"kind\":\"event\"}]}",
		     "rules.json:1:11: rule has no \"id\", expected 1-63 of [A-Za-z0-9_.-]");
	expect_error("{\"rules\":[{\"id\":\"a b\",\"kind\":\"event\"}]}",
		     "rules.json:1:17: \"id\" is not valid, expected 1-63 of [A-Za-z0-9_.-]");
	/* Duplicate ids: the error points at the second one. */
	expect_error("{\"rules\":[\n"
		     "  {\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},"
		     "\"severity\":\"high\"},\n"
		     "  {\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"gas\"},"
		     "\"severity\":\"high\"}\n]}",
		     "rules.json:3:9: duplicate rule id \"smoke\", expected ids to be unique");
	expect_error("{\"rules\":[{\"id\":\"a\"}]}",
		     "rules.json:1:11: rule has no \"kind\", expected \"kind\": \"event\"");
	expect_error("{\"rules\":[{\"id\":\"a\",\n \"kind\":\"inactivity\"}]}",
		     "rules.json:2:9: kind \"inactivity\" is not supported yet, expected event");
	/* A rule of a later kind is refused for its kind, not for keys this version doesn't know. */
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"aggregate\",\"window\":\"24h\"}]}",
		     "rules.json:1:28: kind \"aggregate\" is not supported yet, expected event");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"evnt\"}]}",
		     "rules.json:1:28: unknown kind \"evnt\", expected event");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\"}]}",
		     "rules.json:1:11: rule has no \"match\", expected {\"type\": ..., \"where\": [...]}");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"where\":[]}}]}",
		     "rules.json:1:44: \"match\" has no \"type\", expected an event type such as "
		     "\"smoke\" or a prefix such as \"service.*\"");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"Smoke\"}}]}",
		     "rules.json:1:52: \"type\" is not valid, expected 1-63 of [a-z0-9_.] optionally "
		     "ending in \".*\"");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"*\"}}]}",
		     "rules.json:1:52: \"type\" is not valid, expected 1-63 of [a-z0-9_.] optionally "
		     "ending in \".*\"");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\","
		     "\"when\":1}}]}",
		     "rules.json:1:63: unknown key \"when\" in match, expected one of type, where");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"}}]}",
		     "rules.json:1:11: rule has no \"severity\", expected one of info, low, medium, "
		     "high, critical");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"urgent\"}]}",
		     "rules.json:1:68: \"severity\" is not valid, expected one of info, low, medium, "
		     "high, critical");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"low\",\"category\":\"fun\"}]}",
		     "rules.json:1:85: \"category\" is not valid, expected safety or maintenance");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"low\",\"enabled\":\"yes\"}]}",
		     "rules.json:1:84: \"enabled\" is not valid, expected true or false");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"low\",\"policy\":7}]}",
		     "rules.json:1:83: \"policy\" is not valid, expected a policy name");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"low\",\"description\":[]}]}",
		     "rules.json:1:88: \"description\" is not valid, expected a non-empty string");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\"},"
		     "\"severity\":\"low\",\"summary\":\"{loction}烟感\"}]}",
		     "rules.json:1:84: unknown placeholder {loction} in summary, expected {device}, "
		     "{location}, {type}, {value}, {subject} or {rule}");
}

/* Errors inside "where"; prefix is the rule up to the where array. */
static void test_condition_errors(void **state)
{
	(void)state;
#define W(c) "{\"rules\":[{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"t\",\"where\":" c \
	     "}}]}"
	/* Positions are where the offending value starts (the "where" value at col 64). */
	expect_error(W("{}"), "rules.json:1:64: \"where\" is not valid, expected an array of conditions");
	expect_error(W("[\"value\"]"), "rules.json:1:65: condition is not valid, expected [field, op, "
				       "operand] or [field, \"exists\"|\"absent\"]");
	expect_error(W("[[\"value\",\"==\",1,2]]"),
		     "rules.json:1:65: condition is not valid, expected [field, op, operand] or "
		     "[field, \"exists\"|\"absent\"]");
	expect_error(W("[[\"valeu\",\"==\",1]]"),
		     "rules.json:1:66: unknown field, expected value, type, device, id, ts or "
		     "data.<key> (dotted path)");
	expect_error(W("[[\"data.\",\"==\",1]]"),
		     "rules.json:1:66: unknown field, expected value, type, device, id, ts or "
		     "data.<key> (dotted path)");
	expect_error(W("[[\"data..x\",\"==\",1]]"),
		     "rules.json:1:66: unknown field, expected value, type, device, id, ts or "
		     "data.<key> (dotted path)");
	expect_error(W("[[\"value\",\"=\",1]]"),
		     "rules.json:1:74: unknown operator \"=\", expected one of ==, !=, <, <=, >, >=, "
		     "exists, absent, in");
	expect_error(W("[[\"value\",\"exists\",true]]"),
		     "rules.json:1:65: \"exists\" takes no operand, expected [field, \"exists\"]");
	expect_error(W("[[\"value\",\"==\"]]"),
		     "rules.json:1:65: \"==\" needs an operand, expected [field, \"==\", operand]");
	expect_error(W("[[\"value\",\"<\",true]]"),
		     "rules.json:1:78: \"<\" compares numbers or strings, expected a number or a "
		     "string operand");
	expect_error(W("[[\"value\",\"in\",\"open\"]]"),
		     "rules.json:1:79: \"in\" is not valid here, expected a non-empty array operand");
	expect_error(W("[[\"value\",\"in\",[]]]"),
		     "rules.json:1:79: \"in\" is not valid here, expected a non-empty array operand");
	/* The second condition's position. */
	expect_error(W("[[\"value\",\"exists\"],\n [\"value\",\"in\",1]]"),
		     "rules.json:2:16: \"in\" is not valid here, expected a non-empty array operand");
#undef W
}

static void test_load_file(void **state)
{
	(void)state;
	char path[] = "/tmp/carehub-test-rules-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	struct ch_ruleset *rs = NULL;
	char err[512], want[600];

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("{\"rules\":[\n  {\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},"
	      "\"severity\":\"high\"},\n  {\"id\":\"b\",\"kind\":\"sequence\"}\n]}\n",
	      f);
	fclose(f);
	assert_int_equal(ch_rules_load(path, &rs, err, sizeof(err)), CH_ECONFIG);
	assert_null(rs);
	ch_fmt(want, sizeof(want), "%s:3:20: kind \"sequence\" is not supported yet, expected event",
	       path);
	assert_string_equal(err, want);
	unlink(path);

	assert_true(ch_rules_load("/nonexistent/rules.json", &rs, err, sizeof(err)) < 0);
	assert_null(rs);
	assert_non_null(strstr(err, "/nonexistent/rules.json"));
}

/* The shipped rule pack loads and does what its descriptions say. */
static void test_default_pack(void **state)
{
	(void)state;
	const char *src = getenv("CH_SRC_DIR");
	char path[1024], err[512];
	struct ch_ruleset *rs = NULL;
	static const struct {
		const char *ev;
		const char *rule; /* NULL: nothing fires */
		enum ch_severity sev;
	} cases[] = {
		{"{\"device\":\"s1\",\"type\":\"smoke\",\"value\":true}", "smoke", CH_SEV_CRITICAL},
		{"{\"device\":\"s1\",\"type\":\"smoke\"}", "smoke", CH_SEV_CRITICAL},
		{"{\"device\":\"s1\",\"type\":\"smoke\",\"value\":false}", NULL, 0},
		{"{\"device\":\"s1\",\"type\":\"smoke\",\"value\":0}", NULL, 0},
		{"{\"device\":\"g1\",\"type\":\"gas\",\"value\":true}", "gas", CH_SEV_CRITICAL},
		{"{\"device\":\"c1\",\"type\":\"co\",\"value\":1}", "co", CH_SEV_CRITICAL},
		{"{\"device\":\"b1\",\"type\":\"sos\"}", "sos", CH_SEV_CRITICAL},
		{"{\"device\":\"b1\",\"type\":\"sos\",\"value\":\"emergency\"}", "sos", CH_SEV_CRITICAL},
		{"{\"device\":\"f1\",\"type\":\"fall\",\"value\":true}", "fall", CH_SEV_HIGH},
		{"{\"device\":\"w1\",\"type\":\"water_leak\",\"value\":true}", "water_leak", CH_SEV_MEDIUM},
		{"{\"device\":\"w1\",\"type\":\"water_leak\",\"value\":false}", NULL, 0},
		{"{\"device\":\"m1\",\"type\":\"motion\",\"value\":true}", NULL, 0},
		{"{\"device\":\"x\",\"type\":\"service.meal_missed\"}", NULL, 0},
	};

	ch_fmt(path, sizeof(path), "%s/config/rules.json", src ? src : ".");
	if (ch_rules_load(path, &rs, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(rs->n, 6);
	for (size_t i = 0; i < rs->n; i++) {
		assert_true(rs->rules[i].enabled);
		assert_int_equal(rs->rules[i].category, CH_CAT_SAFETY);
	}
	for (size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
		const struct ch_rule *out[4];
		struct ch_event ev;
		size_t n;

		event(cases[i].ev, &ev);
		ch_rules_match_event(rs, &ev, out, CH_ARRAY_LEN(out), &n);
		if (!cases[i].rule && n != 0)
			fail_msg("%s fired %s", cases[i].ev, out[0]->id);
		if (cases[i].rule) {
			if (n != 1 || strcmp(out[0]->id, cases[i].rule) != 0)
				fail_msg("%s: %zu rules, want %s", cases[i].ev, n, cases[i].rule);
			assert_int_equal(out[0]->severity, cases[i].sev);
		}
		ch_event_clear(&ev);
	}
	ch_rules_free(rs);
}

static void test_render(void **state)
{
	(void)state;
	static const char *const keys[] = {"device", "location", "type", "value", "subject", "rule"};
	const char *vals[] = {"s-17", "厨房", "smoke", "true", "王阿姨", NULL};
	char out[128];

	ch_rules_render("{location}烟感报警", keys, vals, 6, out, sizeof(out));
	assert_string_equal(out, "厨房烟感报警");
	ch_rules_render("{type} from {device} ({subject}) rule={rule}", keys, vals, 6, out,
			sizeof(out));
	assert_string_equal(out, "smoke from s-17 (王阿姨) rule=");
	/* Unknown, unclosed, empty and nested braces stay as text. */
	ch_rules_render("{nope} {} {type {{type}} {", keys, vals, 6, out, sizeof(out));
	assert_string_equal(out, "{nope} {} {type {smoke} {");
	/* A value is inserted as is, never expanded again. */
	vals[0] = "{type}";
	ch_rules_render("{device}", keys, vals, 6, out, sizeof(out));
	assert_string_equal(out, "{type}");
	ch_rules_render("plain", NULL, NULL, 0, out, sizeof(out));
	assert_string_equal(out, "plain");
	ch_rules_render(NULL, keys, vals, 6, out, sizeof(out));
	assert_string_equal(out, "");
	ch_rules_render("{device}", keys, NULL, 6, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_render_truncation(void **state)
{
	(void)state;
	static const char *const keys[] = {"location"};
	static const char *const vals[] = {"厨房"}; /* 6 bytes */
	char out[32];

	/* "厨房烟感报警" is 18 bytes; each cut lands on a character boundary. */
	for (size_t len = 1; len <= 19; len++) {
		memset(out, 'X', sizeof(out));
		ch_rules_render("{location}烟感报警", keys, vals, 1, out, len);
		assert_true(strlen(out) < len);
		assert_int_equal(strlen(out) % 3, 0);
		assert_true(ch_utf8_valid(out, strlen(out)));
		assert_int_equal(strncmp(out, "厨房烟感报警", strlen(out)), 0);
		assert_int_equal(out[len], 'X'); /* nothing written past the buffer */
	}
	ch_rules_render("abc{location}", keys, vals, 1, out, 6);
	assert_string_equal(out, "abc");
	/* After a cut nothing more is added, even if a later piece would fit. */
	ch_rules_render("{location}a", keys, vals, 1, out, 6);
	assert_string_equal(out, "厨");
	/* ASCII cuts anywhere. */
	ch_rules_render("abcdef", NULL, NULL, 0, out, 4);
	assert_string_equal(out, "abc");
	/* No room at all: untouched when 0, empty when 1. */
	out[0] = 'Z';
	ch_rules_render("abc", NULL, NULL, 0, out, 0);
	assert_int_equal(out[0], 'Z');
	ch_rules_render("abc", NULL, NULL, 0, out, 1);
	assert_string_equal(out, "");
	ch_rules_render("abc", NULL, NULL, 0, NULL, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full_rule),
		cmocka_unit_test(test_op_eq_ne),
		cmocka_unit_test(test_numeric_equality),
		cmocka_unit_test(test_op_order),
		cmocka_unit_test(test_op_exists_absent_in),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_all_conditions_must_hold),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_match_event_order_disabled_max),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_condition_errors),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_default_pack),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
