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
	assert_string_equal(r->match.type, "smoke");
	assert_null(r->match.location);
	assert_int_equal(r->match.nconds, 3);
	assert_string_equal(r->match.conds[0].field, "value");
	assert_int_equal(r->match.conds[0].op, CH_OP_EQ);
	assert_true(json_is_true(r->match.conds[0].operand));
	assert_int_equal(r->match.conds[1].op, CH_OP_EXISTS);
	assert_null(r->match.conds[1].operand);
	assert_int_equal(r->match.conds[2].op, CH_OP_IN);
	assert_int_equal(json_array_size(r->match.conds[2].operand), 2);
	assert_int_equal(r->severity, CH_SEV_CRITICAL);
	assert_int_equal(r->category, CH_CAT_MAINTENANCE);
	assert_string_equal(r->policy, "fire_gas");
	assert_string_equal(r->summary, "{location}烟感报警");
	assert_false(r->enabled);

	/* Defaults: safety, no policy (by severity), the generic summary, enabled, no conditions,
	 * no cooldown, no auto-resolve, runs while away, flap 3 in 1 h, all day. */
	r = &rs->rules[1];
	assert_string_equal(r->match.type, "service.*");
	assert_int_equal(r->match.nconds, 0);
	assert_null(r->match.conds);
	assert_int_equal(r->cooldown_ms, 0);
	assert_false(r->auto_resolve);
	assert_false(r->suspend_when_away);
	assert_int_equal(r->flap_opens, 3);
	assert_int_equal(r->flap_window_ms, 3600000);
	assert_false(r->during.set);
	assert_false(rs->presence.enabled);
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
		     "rules.json:2:10: unknown key \"extra\" in the rules file, expected one of rules, "
		     "presence");
	expect_error("{\"rules\":{}}",
		     "rules.json:1:10: \"rules\" is not an array, expected [{\"id\": ...}, ...]");
	expect_error("{\"rules\":[\n  42\n]}",
		     "rules.json:2:3: rule is not an object, expected {\"id\": ..., \"kind\": "
		     "\"event\", \"match\": {...}, \"severity\": ...}");
	expect_error("{\"rules\":[\n  {\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},"
		     "\"severity\":\"high\",\"colour\":\"red\"}\n]}",
		     "rules.json:2:80: unknown key \"colour\" in event rule, expected one of id, kind, "
		     "match, renotify, severity, category, policy, summary, description, enabled, cooldown, "
		     "auto_resolve, while_away, flap");
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
		     "rules.json:1:11: rule has no \"kind\", expected one of event, inactivity, "
		     "aggregate, sequence, device_health");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"evnt\"}]}",
		     "rules.json:1:28: unknown kind \"evnt\", expected one of event, inactivity, "
		     "aggregate, sequence, device_health");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":7}]}",
		     "rules.json:1:28: \"kind\" is not a string, expected one of event, inactivity, "
		     "aggregate, sequence, device_health");
	expect_error("{\"rules\":[{\"id\":\"a\",\"kind\":\"event\"}]}",
		     "rules.json:1:11: event rule has no \"match\", expected {\"type\": ..., "
		     "\"where\": [...]}");
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
		     "rules.json:1:63: unknown key \"when\" in match, expected one of type, where, "
		     "location");
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
		     "{location}, {type}, {value}, {subject}, {rule}, {duration}, {threshold}, "
		     "{measured} or {since}");
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
	ch_fmt(want, sizeof(want),
	       "%s:3:3: sequence rule has no \"first\", expected {\"type\": ..., \"where\": [...]}",
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
	/* Every rule is on; only device health is maintenance; the pack knows when the home is empty. */
	assert_true(rs->n >= 6);
	for (size_t i = 0; i < rs->n; i++) {
		const struct ch_rule *r = &rs->rules[i];

		assert_true(r->enabled);
		assert_int_equal(r->category, r->kind == CH_RULE_DEVICE_HEALTH ? CH_CAT_MAINTENANCE
									  : CH_CAT_SAFETY);
		if (r->raises)
			assert_int_equal(ch_rules_find(rs, r->raises)->kind, CH_RULE_EVENT);
	}
	assert_true(rs->presence.enabled);
	for (size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
		if (cases[i].rule)
			assert_int_equal(ch_rules_find(rs, cases[i].rule)->kind, CH_RULE_EVENT);
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

/* One file with every kind and presence, every key spelt out. */
static void test_parse_all_kinds(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":["
		/* A forward reference: "raises" may name a rule further down. */
		"{\"id\":\"wander\",\"kind\":\"sequence\",\"first\":{\"type\":\"door\",\"location\":"
		"\"front door\",\"where\":[[\"value\",\"==\",\"open\"]]},\"then\":[{\"type\":\"motion\"},"
		"{\"type\":\"bed\"}],\"within\":\"10m\",\"absent\":false,\"raises\":\"smoke\","
		"\"during\":\"22:00-06:00\",\"severity\":\"high\",\"cooldown\":\"1h\","
		"\"auto_resolve\":true,\"while_away\":\"suspend\",\"flap\":{\"opens\":0}},"
		"{\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\",\"location\":"
		"\"Kitchen\"},\"severity\":\"critical\",\"cooldown\":\"5m\",\"auto_resolve\":true,"
		"\"while_away\":\"run\",\"flap\":{\"opens\":5,\"within\":\"2h\"}},"
		"{\"id\":\"idle\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\",\"where\":"
		"[[\"value\",\"==\",true]]},{\"type\":\"service.*\"}],\"for\":\"8h\",\"during\":"
		"\"07:00-22:00\",\"severity\":\"high\",\"cooldown\":90,\"auto_resolve\":false,"
		"\"while_away\":\"run\",\"summary\":\"{subject}: {duration} since {since}\"},"
		"{\"id\":\"water\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},"
		"\"fn\":\"avg\",\"field\":\"data.total_m3\",\"window\":43200,\"op\":\"<=\","
		"\"threshold\":0.01,\"severity\":\"high\",\"summary\":\"{measured} of {threshold} "
		"in {duration}\",\"category\":\"safety\",\"policy\":\"urgent\",\"enabled\":false},"
		"{\"id\":\"doors\",\"kind\":\"aggregate\",\"match\":{\"type\":\"door\"},\"fn\":\"count\","
		"\"window\":\"8h\",\"op\":\">=\",\"threshold\":3,\"during\":\"22:00-06:00\","
		"\"severity\":\"medium\"},"
		"{\"id\":\"offline\",\"kind\":\"device_health\",\"check\":\"silent\",\"heartbeat\":"
		"\"2h\",\"types\":[\"motion\",\"smoke\"],\"severity\":\"low\"},"
		"{\"id\":\"battery\",\"kind\":\"device_health\",\"check\":\"battery\",\"below\":20.5,"
		"\"category\":\"maintenance\",\"auto_resolve\":false,\"severity\":\"low\"},"
		"{\"id\":\"tamper\",\"kind\":\"device_health\",\"check\":\"tamper\",\"severity\":"
		"\"medium\",\"while_away\":\"suspend\"}],"
		"\"presence\":{\"exit\":{\"type\":\"door\",\"location\":\"front door\"},\"inside\":"
		"[{\"type\":\"motion\",\"where\":[[\"value\",\"==\",true]]},{\"type\":\"bed\"}],"
		"\"confirm\":\"5m\"}}");
	const struct ch_rule *r;

	assert_int_equal(rs->n, 8);
	assert_null(ch_rules_find(rs, "nope"));
	assert_null(ch_rules_find(NULL, "smoke"));
	assert_null(ch_rules_find(rs, NULL));

	r = ch_rules_find(rs, "wander");
	assert_ptr_equal(r, &rs->rules[0]);
	assert_int_equal(r->kind, CH_RULE_SEQUENCE);
	assert_string_equal(r->first.type, "door");
	assert_string_equal(r->first.location, "front door");
	assert_int_equal(r->first.nconds, 1);
	assert_int_equal(r->nthen, 2);
	assert_string_equal(r->then[0].type, "motion");
	assert_string_equal(r->then[1].type, "bed");
	assert_null(r->match.type);
	assert_int_equal(r->within_ms, 600000);
	assert_false(r->absent);
	assert_string_equal(r->raises, "smoke");
	assert_true(r->during.set);
	assert_int_equal(r->during.start_min, 22 * 60);
	assert_int_equal(r->during.end_min, 6 * 60);
	assert_int_equal(r->cooldown_ms, 3600000);
	assert_true(r->auto_resolve);
	assert_true(r->suspend_when_away);
	assert_int_equal(r->flap_opens, 0);
	assert_int_equal(r->flap_window_ms, 3600000);
	assert_string_equal(r->summary, "{rule}: {subject}");

	r = ch_rules_find(rs, "smoke");
	assert_int_equal(r->kind, CH_RULE_EVENT);
	assert_string_equal(r->match.type, "smoke");
	assert_string_equal(r->match.location, "Kitchen");
	assert_int_equal(r->cooldown_ms, 300000);
	assert_true(r->auto_resolve);
	assert_false(r->suspend_when_away);
	assert_int_equal(r->flap_opens, 5);
	assert_int_equal(r->flap_window_ms, 7200000);
	assert_false(r->during.set);

	r = ch_rules_find(rs, "idle");
	assert_int_equal(r->kind, CH_RULE_INACTIVITY);
	assert_int_equal(r->nactivity, 2);
	assert_string_equal(r->activity[0].type, "motion");
	assert_int_equal(r->activity[0].nconds, 1);
	assert_string_equal(r->activity[1].type, "service.*");
	assert_null(r->activity[1].location);
	assert_int_equal(r->for_ms, 8 * 3600000LL);
	assert_int_equal(r->during.start_min, 7 * 60);
	assert_int_equal(r->during.end_min, 22 * 60);
	assert_int_equal(r->cooldown_ms, 90000); /* a number is seconds */
	assert_false(r->auto_resolve);
	assert_false(r->suspend_when_away);
	assert_string_equal(r->summary, "{subject}: {duration} since {since}");

	r = ch_rules_find(rs, "water");
	assert_int_equal(r->kind, CH_RULE_AGGREGATE);
	assert_string_equal(r->match.type, "water_meter");
	assert_int_equal(r->fn, CH_AGG_AVG);
	assert_string_equal(r->field, "data.total_m3");
	assert_int_equal(r->window_ms, 43200000);
	assert_int_equal(r->cmp, CH_OP_LE);
	assert_true(r->threshold == 0.01);
	assert_string_equal(r->policy, "urgent");
	assert_false(r->enabled);

	r = ch_rules_find(rs, "doors");
	assert_int_equal(r->fn, CH_AGG_COUNT);
	assert_null(r->field);
	assert_int_equal(r->cmp, CH_OP_GE);
	assert_true(r->threshold == 3);
	assert_true(r->during.set);

	r = ch_rules_find(rs, "offline");
	assert_int_equal(r->kind, CH_RULE_DEVICE_HEALTH);
	assert_int_equal(r->check, CH_HEALTH_SILENT);
	assert_int_equal(r->default_heartbeat_ms, 7200000);
	assert_int_equal(r->ndevice_types, 2);
	assert_string_equal(r->device_types[0], "motion");
	assert_string_equal(r->device_types[1], "smoke");
	assert_int_equal(r->category, CH_CAT_MAINTENANCE);
	assert_null(r->match.type);

	r = ch_rules_find(rs, "battery");
	assert_int_equal(r->check, CH_HEALTH_BATTERY);
	assert_true(r->battery_below == 20.5);
	assert_int_equal(r->default_heartbeat_ms, 0);
	assert_null(r->device_types);
	assert_false(r->auto_resolve);

	r = ch_rules_find(rs, "tamper");
	assert_int_equal(r->check, CH_HEALTH_TAMPER);
	assert_true(r->suspend_when_away);

	assert_true(rs->presence.enabled);
	assert_string_equal(rs->presence.exit.type, "door");
	assert_string_equal(rs->presence.exit.location, "front door");
	assert_int_equal(rs->presence.ninside, 2);
	assert_string_equal(rs->presence.inside[0].type, "motion");
	assert_int_equal(rs->presence.inside[0].nconds, 1);
	assert_string_equal(rs->presence.inside[1].type, "bed");
	assert_int_equal(rs->presence.confirm_ms, 300000);
	ch_rules_free(rs);
}

/* What each kind does when a rule says nothing. */
static void test_defaults_by_kind(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":["
		"{\"id\":\"ev\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"high\"},"
		"{\"id\":\"in\",\"kind\":\"inactivity\",\"activity\":[{\"type\":\"motion\"}],"
		"\"for\":\"3s\",\"severity\":\"high\"},"
		"{\"id\":\"lo\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},"
		"\"fn\":\"sum\",\"window\":\"12h\",\"op\":\"<\",\"threshold\":0,\"severity\":\"high\"},"
		"{\"id\":\"hi\",\"kind\":\"aggregate\",\"match\":{\"type\":\"water_meter\"},"
		"\"fn\":\"max\",\"window\":\"24h\",\"op\":\">\",\"threshold\":-2,\"severity\":\"low\"},"
		"{\"id\":\"sq\",\"kind\":\"sequence\",\"first\":{\"type\":\"fall\"},\"then\":"
		"{\"type\":\"motion\"},\"within\":120,\"severity\":\"critical\"},"
		"{\"id\":\"dh\",\"kind\":\"device_health\",\"check\":\"silent\",\"severity\":\"low\"}],"
		"\"presence\":{\"exit\":{\"type\":\"door\"},\"inside\":[{\"type\":\"motion\"}]}}");
	static const struct {
		const char *id;
		int64_t cooldown_ms;
		bool auto_resolve, suspend;
		enum ch_rule_category cat;
		const char *summary;
	} want[] = {
		{"ev", 0, false, false, CH_CAT_SAFETY, "{type} from {device}"},
		{"in", 1800000, true, true, CH_CAT_SAFETY,
		 "{subject}: no sign of activity for {duration} (last {since})"},
		{"lo", 1800000, true, true, CH_CAT_SAFETY,
		 "{rule}: {measured} over {duration} (threshold {threshold})"},
		{"hi", 1800000, false, false, CH_CAT_SAFETY,
		 "{rule}: {measured} over {duration} (threshold {threshold})"},
		{"sq", 1800000, false, false, CH_CAT_SAFETY, "{rule}: {subject}"},
		{"dh", 1800000, true, false, CH_CAT_MAINTENANCE, "{rule}: {device} ({location})"},
	};
	const struct ch_rule *r;

	assert_int_equal(rs->n, CH_ARRAY_LEN(want));
	for (size_t i = 0; i < CH_ARRAY_LEN(want); i++) {
		r = &rs->rules[i];
		assert_string_equal(r->id, want[i].id);
		if (r->cooldown_ms != want[i].cooldown_ms || r->auto_resolve != want[i].auto_resolve ||
		    r->suspend_when_away != want[i].suspend || r->category != want[i].cat)
			fail_msg("%s: cooldown %lld auto_resolve %d suspend %d category %d", r->id,
				 (long long)r->cooldown_ms, r->auto_resolve, r->suspend_when_away,
				 r->category);
		assert_string_equal(r->summary, want[i].summary);
		assert_int_equal(r->flap_opens, 3);
		assert_int_equal(r->flap_window_ms, 3600000);
		assert_false(r->during.set);
		assert_true(r->enabled);
	}
	r = ch_rules_find(rs, "lo");
	assert_string_equal(r->field, "value");
	assert_true(r->threshold == 0);
	assert_true(ch_rules_find(rs, "hi")->threshold == -2);
	r = ch_rules_find(rs, "sq");
	assert_true(r->absent);
	assert_null(r->raises);
	assert_int_equal(r->within_ms, 120000);
	assert_int_equal(r->nthen, 1);
	assert_string_equal(r->then[0].type, "motion");
	r = ch_rules_find(rs, "dh");
	assert_int_equal(r->default_heartbeat_ms, 0);
	assert_null(r->device_types);
	assert_int_equal(rs->presence.confirm_ms, 600000);
	ch_rules_free(rs);
}

/*
 * Errors of the new kinds; each rule is on line 2 so the column is the
 * offending value's offset on that line plus one.
 */
static void test_kind_errors(void **state)
{
	(void)state;
#define R(rule) "{\"rules\":[\n" rule "\n]}"
#define INACT "{\"id\":\"a\",\"kind\":\"inactivity\",\"severity\":\"high\","
#define AGG "{\"id\":\"a\",\"kind\":\"aggregate\",\"severity\":\"high\",\"match\":{\"type\":\"w\"},"
#define SEQ "{\"id\":\"a\",\"kind\":\"sequence\",\"severity\":\"high\",\"first\":{\"type\":\"f\"},"
#define DH "{\"id\":\"a\",\"kind\":\"device_health\",\"severity\":\"low\","
	/* Unknown keys, each kind with its own list. */
	expect_error(R(INACT "\"match\":{\"type\":\"motion\"}}"),
		     "rules.json:2:57: unknown key \"match\" in inactivity rule, expected one of id, "
		     "kind, activity, for, during, severity, category, policy, summary, description, "
		     "enabled, cooldown, auto_resolve, while_away, flap");
	expect_error(R(AGG "\"for\":\"1h\"}"),
		     "rules.json:2:75: unknown key \"for\" in aggregate rule, expected one of id, kind, "
		     "match, fn, field, window, op, threshold, during, severity, category, policy, "
		     "summary, description, enabled, cooldown, auto_resolve, while_away, flap");
	expect_error(R(SEQ "\"window\":\"1h\"}"),
		     "rules.json:2:77: unknown key \"window\" in sequence rule, expected one of id, "
		     "kind, first, then, within, absent, raises, during, severity, category, policy, "
		     "summary, description, enabled, cooldown, auto_resolve, while_away, flap");
	expect_error(R(DH "\"check\":\"silent\",\"for\":\"1h\"}"),
		     "rules.json:2:74: unknown key \"for\" in device_health rule, expected one of id, "
		     "kind, check, below, heartbeat, types, severity, category, policy, summary, "
		     "description, enabled, cooldown, auto_resolve, while_away, flap");
	/* Keys that belong to other kinds say why. */
	expect_error(R("{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},"
		       "\"severity\":\"high\",\"during\":\"22:00-06:00\"}"),
		     "rules.json:2:78: \"during\" does not apply to event rules, expected it only on "
		     "inactivity, aggregate or sequence rules");
	expect_error(R(DH "\"check\":\"tamper\",\"during\":\"22:00-06:00\"}"),
		     "rules.json:2:77: \"during\" does not apply to device_health rules, expected it "
		     "only on inactivity, aggregate or sequence rules");
	expect_error(R(DH "\"check\":\"tamper\",\"match\":{\"type\":\"x\"}}"),
		     "rules.json:2:76: \"match\" does not apply to device_health rules (they watch "
		     "devices, not events), expected check, below, heartbeat, types");

	/* inactivity */
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"}]}"),
		     "rules.json:2:1: inactivity rule has no \"for\", expected a duration such as "
		     "\"8h\"");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"}],\"for\":0}"),
		     "rules.json:2:86: \"for\" is zero, expected a duration longer than 0 such as "
		     "\"10m\"");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"}],\"for\":\"8 hours\"}"),
		     "rules.json:2:86: \"for\" is not a duration, expected seconds or a string such as "
		     "\"90s\", \"10m\", \"12h\"");
	expect_error(R(INACT "\"for\":\"8h\"}"),
		     "rules.json:2:1: inactivity rule has no \"activity\", expected an array of "
		     "matchers such as [{\"type\": \"motion\"}]");
	expect_error(R(INACT "\"activity\":[],\"for\":\"8h\"}"),
		     "rules.json:2:60: \"activity\" is not valid, expected a non-empty array of at most "
		     "32 matchers such as [{\"type\": \"motion\"}]");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"},{\"typ\":\"door\"}],\"for\":\"8h\"}"),
		     "rules.json:2:86: unknown key \"typ\" in activity[1], expected one of type, where, "
		     "location");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"},{}],\"for\":\"8h\"}"),
		     "rules.json:2:79: \"activity[1]\" has no \"type\", expected an event type such as "
		     "\"smoke\" or a prefix such as \"service.*\"");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"}],\"for\":\"8h\","
			     "\"during\":\"07:00-07:00\"}"),
		     "rules.json:2:100: \"during\" starts and ends at the same time, expected a window "
		     "such as \"22:00-06:00\" (leave \"during\" out for all day)");
	expect_error(R(INACT "\"activity\":[{\"type\":\"motion\"}],\"for\":\"8h\","
			     "\"during\":\"7:00-22:00\"}"),
		     "rules.json:2:100: \"during\" is not valid, expected \"HH:MM-HH:MM\" such as "
		     "\"22:00-06:00\"");

	/* aggregate */
	expect_error(R(AGG "\"fn\":\"median\",\"window\":\"1h\",\"op\":\"<\",\"threshold\":1}"),
		     "rules.json:2:74: \"fn\" is not valid, expected one of sum, count, min, max, avg");
	expect_error(R(AGG "\"fn\":\"count\",\"field\":\"value\",\"window\":\"1h\",\"op\":\">\","
			   "\"threshold\":3}"),
		     "rules.json:2:90: \"field\" does not apply to count, which counts matching "
		     "events, expected no \"field\" or another fn");
	expect_error(R(AGG "\"fn\":\"sum\",\"field\":\"valeu\",\"window\":\"1h\",\"op\":\">\","
			   "\"threshold\":3}"),
		     "rules.json:2:88: \"field\" is not valid, expected value, type, device, id, ts or "
		     "data.<key> (dotted path)");
	expect_error(R(AGG "\"fn\":\"sum\",\"window\":\"1h\",\"op\":\"==\",\"threshold\":3}"),
		     "rules.json:2:99: \"op\" is not valid, expected one of <, <=, >, >=");
	expect_error(R(AGG "\"fn\":\"sum\",\"window\":\"1h\",\"op\":\"<\",\"threshold\":\"3\"}"),
		     "rules.json:2:115: \"threshold\" is not valid, expected a number such as 0.01");
	expect_error(R(AGG "\"fn\":\"sum\",\"window\":\"1h\",\"op\":\"<\"}"),
		     "rules.json:2:1: aggregate rule has no \"threshold\", expected a number such as "
		     "0.01");
	expect_error(R(AGG "\"fn\":\"sum\",\"op\":\"<\",\"threshold\":1}"),
		     "rules.json:2:1: aggregate rule has no \"window\", expected a duration such as "
		     "\"12h\"");

	/* sequence */
	expect_error(R(SEQ "\"within\":\"10m\"}"),
		     "rules.json:2:1: sequence rule has no \"then\", expected a matcher {\"type\": ..., "
		     "\"where\": [...]} or an array of them");
	expect_error(R(SEQ "\"then\":\"motion\",\"within\":\"10m\"}"),
		     "rules.json:2:75: \"then\" is not valid, expected a matcher {\"type\": ..., "
		     "\"where\": [...]} or an array of them");
	expect_error(R(SEQ "\"then\":{\"type\":\"m\"},\"within\":\"10m\",\"absent\":1}"),
		     "rules.json:2:112: \"absent\" is not valid, expected true or false");
	expect_error(R(SEQ "\"then\":{\"type\":\"m\"},\"within\":\"10m\",\"raises\":\"nope\"}"),
		     "rules.json:2:112: \"raises\" names no rule \"nope\", expected the id of an event "
		     "rule in this file");
	expect_error("{\"rules\":[\n"
		     "{\"id\":\"i\",\"kind\":\"inactivity\",\"severity\":\"high\",\"activity\":"
		     "[{\"type\":\"m\"}],\"for\":\"1h\"},\n" SEQ
		     "\"then\":{\"type\":\"m\"},\"within\":\"10m\",\"raises\":\"i\"}\n]}",
		     "rules.json:3:112: \"raises\" names the inactivity rule \"i\", expected the id of "
		     "an event rule");

	/* device_health */
	expect_error(R(DH "\"check\":\"silent\",\"category\":\"safety\"}"),
		     "rules.json:2:79: category safety is not allowed on a device_health rule (device "
		     "health is maintenance, never the person's safety), expected maintenance");
	expect_error(R(DH "\"check\":\"offline\"}"),
		     "rules.json:2:59: \"check\" is not valid, expected one of silent, battery, tamper");
	expect_error(R(DH "\"check\":\"battery\"}"),
		     "rules.json:2:1: battery check has no \"below\", expected a battery percentage "
		     "from 0 to 100 such as 20");
	expect_error(R(DH "\"check\":\"battery\",\"below\":120}"),
		     "rules.json:2:77: \"below\" is not valid, expected a battery percentage from 0 to "
		     "100 such as 20");
	expect_error(R(DH "\"check\":\"tamper\",\"below\":20}"),
		     "rules.json:2:76: \"below\" does not apply to check tamper, expected it only with "
		     "check battery");
	expect_error(R(DH "\"check\":\"battery\",\"below\":20,\"heartbeat\":\"1h\"}"),
		     "rules.json:2:92: \"heartbeat\" does not apply to check battery, expected it only "
		     "with check silent");
	expect_error(R(DH "\"check\":\"silent\",\"types\":[\"motion\",\"\"]}"),
		     "rules.json:2:86: device type is not valid, expected a string of 1-63 bytes such "
		     "as \"smoke\"");

	/* Lifecycle keys, on any kind. */
	expect_error(R(DH "\"check\":\"tamper\",\"cooldown\":-1}"),
		     "rules.json:2:79: \"cooldown\" is not a duration, expected seconds or a string "
		     "such as \"90s\", \"10m\", \"12h\"");
	expect_error(R(DH "\"check\":\"tamper\",\"while_away\":\"pause\"}"),
		     "rules.json:2:81: \"while_away\" is not valid, expected suspend or run");
	expect_error(R(DH "\"check\":\"tamper\",\"flap\":{\"opens\":101}}"),
		     "rules.json:2:84: \"opens\" is not valid, expected an integer from 0 (off) to 100");
	expect_error(R(DH "\"check\":\"tamper\",\"flap\":{\"opens\":2,\"window\":\"1h\"}}"),
		     "rules.json:2:95: unknown key \"window\" in flap, expected one of opens, within");
	expect_error(R(DH "\"check\":\"tamper\",\"auto_resolve\":\"yes\"}"),
		     "rules.json:2:83: \"auto_resolve\" is not valid, expected true or false");
	expect_error(R("{\"id\":\"a\",\"kind\":\"event\",\"match\":{\"type\":\"x\",\"location\":\"\"},"
		       "\"severity\":\"high\"}"),
		     "rules.json:2:57: \"location\" is not valid, expected a device location of 1-64 "
		     "bytes such as \"front door\"");
#undef R
#undef INACT
#undef AGG
#undef SEQ
#undef DH
}

static void test_presence_errors(void **state)
{
	(void)state;
#define P(p) "{\"rules\":[],\n\"presence\":" p "}"
	expect_error(P("[]"), "rules.json:2:12: \"presence\" is not valid, expected {\"exit\": {...}, "
			      "\"inside\": [...], \"confirm\": duration}");
	expect_error(P("{\"inside\":[{\"type\":\"motion\"}]}"),
		     "rules.json:2:12: presence has no \"exit\", expected {\"type\": ..., \"where\": "
		     "[...]}");
	expect_error(P("{\"exit\":{\"type\":\"door\"}}"),
		     "rules.json:2:12: presence has no \"inside\", expected an array of matchers such "
		     "as [{\"type\": \"motion\"}]");
	expect_error(P("{\"exit\":{\"type\":\"door\"},\"inside\":{\"type\":\"motion\"}}"),
		     "rules.json:2:45: \"inside\" is not valid, expected a non-empty array of at most "
		     "32 matchers such as [{\"type\": \"motion\"}]");
	expect_error(P("{\"exit\":{\"type\":\"door\"},\"inside\":[{\"type\":\"motion\"}],"
		       "\"confirm\":\"0s\"}"),
		     "rules.json:2:75: \"confirm\" is zero, expected a duration longer than 0 such as "
		     "\"10m\"");
	expect_error(P("{\"exit\":{\"type\":\"door\"},\"inside\":[{\"type\":\"motion\"}],\"away\":1}"),
		     "rules.json:2:72: unknown key \"away\" in presence, expected one of exit, inside, "
		     "confirm");
	expect_error(P("{\"exit\":\"door\",\"inside\":[{\"type\":\"motion\"}]}"),
		     "rules.json:2:20: \"exit\" is not valid, expected an object {\"type\": ..., "
		     "\"where\": [...], \"location\": ...}");
#undef P
}

static struct ch_device device_at(const char *location)
{
	return (struct ch_device){.id = (char *)"d", .type = (char *)"door",
				  .location = (char *)location};
}

static void test_matcher_location(void **state)
{
	(void)state;
	struct ch_ruleset *rs = rules(
		"{\"rules\":[{\"id\":\"front\",\"kind\":\"event\",\"match\":{\"type\":\"door\","
		"\"location\":\"Front Door\",\"where\":[[\"value\",\"==\",\"open\"]]},"
		"\"severity\":\"low\"},"
		"{\"id\":\"any\",\"kind\":\"event\",\"match\":{\"type\":\"door\"},\"severity\":\"low\"},"
		"{\"id\":\"agg\",\"kind\":\"aggregate\",\"match\":{\"type\":\"door\"},\"fn\":\"count\","
		"\"window\":\"1h\",\"op\":\">\",\"threshold\":1,\"severity\":\"low\"}]}");
	const struct ch_matcher *front = &rs->rules[0].match, *any = &rs->rules[1].match;
	struct ch_device fd = device_at("front door"), kitchen = device_at("kitchen"),
			 nowhere = device_at(NULL), longer = device_at("front doors");
	const struct ch_rule *out[4];
	struct ch_event ev;
	size_t n;

	event("{\"device\":\"d\",\"type\":\"door\",\"value\":\"open\"}", &ev);
	assert_true(ch_matcher_matches(front, &ev, &fd)); /* ASCII case is ignored */
	assert_false(ch_matcher_matches(front, &ev, &kitchen));
	assert_false(ch_matcher_matches(front, &ev, &longer));
	assert_false(ch_matcher_matches(front, &ev, &nowhere));
	assert_false(ch_matcher_matches(front, &ev, NULL)); /* unknown device: no location */
	assert_true(ch_matcher_matches(any, &ev, NULL));
	assert_true(ch_matcher_matches(any, &ev, &kitchen));
	assert_false(ch_matcher_matches(NULL, &ev, &fd));
	assert_false(ch_matcher_matches(front, NULL, &fd));
	/* The rule-level helpers have no device, so they look at type and conditions only. */
	assert_true(ch_rule_matches(&rs->rules[0], &ev));
	ch_rules_match_event(rs, &ev, out, CH_ARRAY_LEN(out), &n);
	assert_int_equal(n, 2); /* the aggregate rule is not an event rule */
	assert_string_equal(out[0]->id, "front");
	assert_string_equal(out[1]->id, "any");
	ch_event_clear(&ev);

	/* Conditions still apply with a matching location. */
	event("{\"device\":\"d\",\"type\":\"door\",\"value\":\"closed\"}", &ev);
	assert_false(ch_matcher_matches(front, &ev, &fd));
	ch_event_clear(&ev);
	/* And so does the type. */
	event("{\"device\":\"d\",\"type\":\"motion\",\"value\":\"open\"}", &ev);
	assert_false(ch_matcher_matches(front, &ev, &fd));
	ch_event_clear(&ev);
	ch_rules_free(rs);

	/* Non-ASCII locations compare bytewise. */
	rs = rules("{\"rules\":[{\"id\":\"k\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\","
		   "\"location\":\"厨房\"},\"severity\":\"low\"}]}");
	kitchen = device_at("厨房");
	event("{\"device\":\"d\",\"type\":\"smoke\"}", &ev);
	assert_true(ch_matcher_matches(&rs->rules[0].match, &ev, &kitchen));
	kitchen = device_at("厨");
	assert_false(ch_matcher_matches(&rs->rules[0].match, &ev, &kitchen));
	ch_event_clear(&ev);
	ch_rules_free(rs);
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
		cmocka_unit_test(test_parse_all_kinds),
		cmocka_unit_test(test_defaults_by_kind),
		cmocka_unit_test(test_kind_errors),
		cmocka_unit_test(test_presence_errors),
		cmocka_unit_test(test_matcher_location),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
