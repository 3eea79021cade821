/*
 * test_backtest.c - carehubctl backtest on a hand-made home with known
 * expected alerts (tests/backtest/README.md): the same engine as the daemon,
 * driven by event time, with the default rule pack.  Also: bad lines are
 * skipped with a message and a bad rules file is refused; events of devices
 * the registry does not know are counted (a few quoted) and make the exit
 * status 1; --resolve-after resolves a forgotten alert as a person would, so
 * the engine lets the next incident through.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static const char *dir(void)
{
	static char d[600];

	if (!d[0])
		snprintf(d, sizeof(d), "%s", t_scratch("backtest"));
	return d;
}

/* Runs carehubctl with args; stdout into out (lines), stderr into errout. */
static int ctl(const char *args, char *out, size_t outlen, char *errout, size_t errlen)
{
	char cmd[4096], errfile[700];
	FILE *p;
	size_t n = 0;
	int status;

	snprintf(errfile, sizeof(errfile), "%s/ctl.err", dir());
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s/carehubctl' %s 2>'%s'", t_src_dir(), t_build_dir(), args, errfile);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < outlen && !feof(p))
		n += fread(out + n, 1, outlen - 1 - n, p);
	out[n] = '\0';
	status = pclose(p);
	FILE *e = fopen(errfile, "r");
	n = e ? fread(errout, 1, errlen - 1, e) : 0;
	errout[n] = '\0';
	if (e)
		fclose(e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void small_home_raises_exactly_the_expected_alerts(void **state)
{
	static const struct {
		const char *local, *kind, *rule;
	} want[] = {
		{"2026-11-02T10:00:00+08:00", "opened", "smoke"},
		{"2026-11-03T02:20:00+08:00", "opened", "night_wandering"},
		{"2026-11-03T09:00:00+08:00", "opened", "water_low_12h"},
		{"2026-11-03T17:00:00+08:00", "opened", "inactivity_day"},
		{"2026-11-03T18:30:00+08:00", "resolved", "inactivity_day"},
	};
	static char out[65536], err[4096];
	size_t k = 0;

	(void)state;
	assert_int_equal(ctl("backtest --no-progress --json -r config/rules.json -g tests/backtest/small.registry.json "
			     "tests/backtest/small.jsonl",
			     out, sizeof(out), err, sizeof(err)),
			 0);
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = json_loads(line, 0, NULL);
		assert_non_null(j);
		if (json_object_get(j, "summary")) {
			json_t *s = json_object_get(j, "summary");
			assert_int_equal(json_integer_value(json_object_get(s, "events")), 47);
			assert_int_equal(json_integer_value(json_object_get(s, "opened")), 4);
			json_decref(j);
			continue;
		}
		assert_true(k < CH_TEST_LEN(want));
		assert_string_equal(json_string_value(json_object_get(j, "local")), want[k].local);
		assert_string_equal(json_string_value(json_object_get(j, "kind")), want[k].kind);
		assert_string_equal(json_string_value(json_object_get(j, "rule")), want[k].rule);
		assert_string_equal(json_string_value(json_object_get(j, "subject")), "bt-1");
		k++;
		json_decref(j);
	}
	assert_int_equal(k, CH_TEST_LEN(want));
	assert_non_null(strstr(err, "events/s"));
}

static void bad_lines_are_skipped_and_bad_rules_refused(void **state)
{
	static char out[65536], err[4096];
	char path[700], args[1600];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/mixed.jsonl", dir());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not json\n"
	      "{\"device\":\"nobody\",\"type\":\"smoke\",\"value\":true,\"ts\":\"2026-11-02T10:00:00+08:00\"}\n"
	      "\n"
	      "{\"device\":\"bt-smoke\",\"type\":\"smoke\",\"value\":true,\"ts\":\"2026-11-02T10:00:00+08:00\"}\n",
	      f);
	fclose(f);
	snprintf(args, sizeof(args), "backtest --no-progress -r config/rules.json -g tests/backtest/small.registry.json '%s'",
		 path);
	assert_int_equal(ctl(args, out, sizeof(out), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "mixed.jsonl:1: not_json"));
	assert_non_null(strstr(err, "mixed.jsonl:2: device \"nobody\" is not in the registry"));
	assert_non_null(strstr(out, "opened   smoke"));
	assert_non_null(strstr(out, "1 events, 2 skipped"));

	assert_int_equal(ctl("backtest -r tests/backtest/small.registry.json -g tests/backtest/small.registry.json -", out,
			     sizeof(out), err, sizeof(err)),
			 2);
	assert_non_null(strstr(err, "small.registry.json:"));
}

/* Writes text to <scratch>/name; returns the path (static, one per name slot). */
static const char *scratch_file(const char *name, const char *text)
{
	static char paths[4][700];
	static int next;
	char *path = paths[next++ % 4];
	FILE *f;

	snprintf(path, 700, "%s/%s", dir(), name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* How many lines of text contain every one of the given strings. */
static int lines_with(const char *text, const char *a, const char *b)
{
	int n = 0;

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[4096];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), p);
		n += strstr(line, a) && (!b || strstr(line, b));
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

static const char sos_registry[] =
	"{\"subjects\":[{\"id\":\"ra-1\",\"name\":\"x\",\"address\":\"x\",\"phone\":\"+8613800000000\","
	"\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"ra-sos\",\"type\":\"sos\",\"location\":\"bedside\"},"
	"{\"id\":\"ra-pir\",\"type\":\"motion\",\"location\":\"hall\"}],"
	"\"contacts\":[{\"name\":\"f\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1}]}]}";

static const char sos_rules[] =
	"{\"rules\":[{\"id\":\"sos\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\","
	"\"summary\":\"sos\"}]}";

/* 10:00 a press nobody resolves; 13:00 another press, a new incident. */
static const char sos_events[] =
	"{\"device\":\"ra-sos\",\"type\":\"sos\",\"value\":true,\"ts\":\"2026-11-02T10:00:00+08:00\"}\n"
	"{\"device\":\"ra-pir\",\"type\":\"motion\",\"value\":true,\"ts\":\"2026-11-02T12:00:00+08:00\"}\n"
	"{\"device\":\"ra-sos\",\"type\":\"sos\",\"value\":true,\"ts\":\"2026-11-02T13:00:00+08:00\"}\n"
	"{\"device\":\"ra-pir\",\"type\":\"motion\",\"value\":true,\"ts\":\"2026-11-02T15:00:00+08:00\"}\n";

static void resolve_after_lets_the_next_incident_through(void **state)
{
	static char out[65536], err[4096];
	char args[3000];
	const char *reg = scratch_file("ra.registry.json", sos_registry);
	const char *rules = scratch_file("ra.rules.json", sos_rules);
	const char *events = scratch_file("ra.jsonl", sos_events);

	(void)state;
	/* Forgotten: the first alert stays open and the second press is only a repeat of it. */
	snprintf(args, sizeof(args), "backtest --no-progress --json -r '%s' -g '%s' '%s'", rules, reg, events);
	assert_int_equal(ctl(args, out, sizeof(out), err, sizeof(err)), 0);
	assert_int_equal(lines_with(out, "\"kind\":\"opened\"", NULL), 1);

	/* Resolved an hour after it opened, as the centre would: the engine hears of it as
	 * from an ack, so the 13:00 press opens a new alert. */
	snprintf(args, sizeof(args), "backtest --no-progress --json --resolve-after 1h -r '%s' -g '%s' '%s'", rules, reg,
		 events);
	assert_int_equal(ctl(args, out, sizeof(out), err, sizeof(err)), 0);
	assert_int_equal(lines_with(out, "\"kind\":\"opened\"", NULL), 2);
	assert_int_equal(lines_with(out, "\"local\":\"2026-11-02T10:00:00+08:00\"", "\"kind\":\"opened\""), 1);
	assert_int_equal(lines_with(out, "\"local\":\"2026-11-02T11:00:00+08:00\"", "\"kind\":\"resolved\""), 1);
	assert_int_equal(lines_with(out, "\"by\":\"backtest\"", "\"alert\":\"ra-1:1\""), 1);
	assert_int_equal(lines_with(out, "\"local\":\"2026-11-02T13:00:00+08:00\"", "\"alert\":\"ra-1:2\""), 1);
	assert_int_equal(lines_with(out, "\"local\":\"2026-11-02T14:00:00+08:00\"", "\"kind\":\"resolved\""), 1);
	assert_int_equal(lines_with(out, "\"summary\"", "\"resolve_after_ms\":3600000"), 1);
	/* 2 alerts in one home over 5 h: 2 / (1 * 5/24 / 30) = 288 per household per 30 days. */
	assert_int_equal(lines_with(out, "\"per_rule\":{\"sos\":{\"opened\":2,\"per_household_30d\":288", NULL), 1);

	assert_int_equal(ctl("backtest --resolve-after soon -r config/rules.json -g config/registry.json -", out,
			     sizeof(out), err, sizeof(err)),
			 2);
	assert_non_null(strstr(err, "--resolve-after \"soon\""));
}

/* Thousands of events from devices the registry does not know: one count, a few examples, exit 1. */
static void unknown_devices_are_counted_and_fail_the_run(void **state)
{
	static char out[65536], err[8192];
	char path[700], args[1600];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/unknown.jsonl", dir());
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++)
		fprintf(f, "{\"device\":\"ghost-%d\",\"type\":\"motion\",\"value\":true,\"ts\":%lld}\n", i % 120,
			1793584800000LL + i * 1000LL);
	fputs("{\"device\":\"bt-smoke\",\"type\":\"smoke\",\"value\":true,\"ts\":\"2026-11-02T12:00:00+08:00\"}\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "backtest --no-progress -r config/rules.json -g tests/backtest/small.registry.json '%s'",
		 path);
	assert_int_equal(ctl(args, out, sizeof(out), err, sizeof(err)), 1);
	assert_non_null(strstr(err, "3000 events named 120 devices that are not in the registry"));
	assert_int_equal(lines_with(err, "is not in the registry", NULL), 5);
	assert_non_null(strstr(err, "unknown.jsonl:1: device \"ghost-0\" is not in the registry"));
	assert_non_null(strstr(out, "opened   smoke"));
	assert_non_null(strstr(out, "1 events, 3000 skipped"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_home_raises_exactly_the_expected_alerts),
		cmocka_unit_test(bad_lines_are_skipped_and_bad_rules_refused),
		cmocka_unit_test(resolve_after_lets_the_next_incident_through),
		cmocka_unit_test(unknown_devices_are_counted_and_fail_the_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
