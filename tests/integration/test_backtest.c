/*
 * test_backtest.c - carehubctl backtest on a hand-made home with known
 * expected alerts (tests/backtest/README.md): the same engine as the daemon,
 * driven by event time, with the default rule pack.  Also: bad lines are
 * skipped with a message and a bad rules file is refused.
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
	assert_int_equal(ctl(args, out, sizeof(out), err, sizeof(err)), 0);
	assert_non_null(strstr(err, "mixed.jsonl:1: not_json"));
	assert_non_null(strstr(err, "mixed.jsonl:2: device \"nobody\" is not in the registry"));
	assert_non_null(strstr(out, "opened   smoke"));
	assert_non_null(strstr(out, "1 events, 2 skipped"));

	assert_int_equal(ctl("backtest -r tests/backtest/small.registry.json -g tests/backtest/small.registry.json -", out,
			     sizeof(out), err, sizeof(err)),
			 2);
	assert_non_null(strstr(err, "small.registry.json:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_home_raises_exactly_the_expected_alerts),
		cmocka_unit_test(bad_lines_are_skipped_and_bad_rules_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
