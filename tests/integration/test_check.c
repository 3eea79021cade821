/*
 * test_check.c - `carehubd --check` on broken configurations: every kind of
 * mistake is reported as file:line:col with what was expected, the exit status
 * is non-zero, and plugin loader refusals name their exact reason.
 */
#include "harness.h"

#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char dir[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", t_scratch("check"));
	return 0;
}

static void write_text(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A valid config with one substitution point for the channels object. */
static void config_with(const char *name, const char *channels_in, const char *plugins_dir, const char *extra,
			char *path, size_t len)
{
	char text[8192], channels[2048];
	const char *at = strstr(channels_in, "\"n.jsonl\"");

	/* Log channels write into the scratch directory, not the working tree. */
	if (at)
		snprintf(channels, sizeof(channels), "%.*s\"%s/n.jsonl\"%s", (int)(at - channels_in), channels_in, dir,
			 at + 9);
	else
		snprintf(channels, sizeof(channels), "%s", channels_in);

	snprintf(text, sizeof(text),
		 "{\n"
		 "  \"plugins_dir\": \"%s\",\n"
		 "  \"registry\": {\"file\": \"%s/tests/integration/fixtures/registry.json\"},\n"
		 "  \"rules\": {\"file\": \"%s/config/rules.json\"},\n"
		 "  \"policies\": {\"by_severity\": {\"critical\": \"p\", \"high\": \"p\", \"medium\": \"p\",\n"
		 "                 \"low\": \"p\", \"info\": \"p\"},\n"
		 "               \"policies\": {\"p\": {\"steps\": [{\"after\": \"0s\", \"roles\": [\"family\"],\n"
		 "                 \"channels\": [\"c\"]}]}}},\n"
		 "  %s\n"
		 "  \"channels\": %s\n"
		 "}\n",
		 plugins_dir, t_src_dir(), t_src_dir(), extra ? extra : "", channels);
	write_text(name, text, path, len);
}

static char plugins[600], testplugins[600];

static void check(const char *cfg, const char *const *overrides, int want_ok, const char *want_pos_file,
		  const char *want_text)
{
	char out[8192];
	const char *args[16];
	int n = 0, rc;

	args[n++] = "--check";
	args[n++] = "-c";
	args[n++] = cfg;
	for (size_t i = 0; overrides && overrides[i]; i++) {
		args[n++] = "-o";
		args[n++] = overrides[i];
	}
	args[n] = NULL;
	rc = t_run_carehubd(args, out, sizeof(out));
	print_message("carehubd --check %s: exit %d: %s", cfg, rc, out);
	if (want_ok) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_not_equal(rc, 0);
	if (want_pos_file) {
		/* "<file>:<line>:<col>: " */
		char pattern[1024];
		regex_t re;
		snprintf(pattern, sizeof(pattern), "^%s:[0-9]+:[0-9]+: ", want_pos_file);
		assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE), 0);
		assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
		regfree(&re);
	}
	if (want_text)
		assert_non_null(strstr(out, want_text));
}

static void good_config_passes(void **state)
{
	char cfg[600];

	(void)state;
	snprintf(plugins, sizeof(plugins), "%s/plugins", t_build_dir());
	config_with("good.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins, NULL, cfg, sizeof(cfg));
	check(cfg, NULL, 1, NULL, NULL);
	/* The shipped example config passes too. */
	char example[600];
	snprintf(example, sizeof(example), "%s/config/carehub.json", t_src_dir());
	check(example, NULL, 1, NULL, NULL);
	/* The providers example (ai_call, sms, caseworker) passes once its secrets are in the environment... */
	static const char *const secrets[] = {"CAREHUB_VOICE_TOKEN", "CAREHUB_VOICE_SECRET", "CAREHUB_SMS_TOKEN",
					      "CAREHUB_SMS_SECRET",  "CAREHUB_CASE_TOKEN",   "CAREHUB_CASE_SECRET"};
	char pdir[700];
	const char *ov[] = {pdir, NULL};
	snprintf(pdir, sizeof(pdir), "plugins_dir=%s", plugins);
	snprintf(example, sizeof(example), "%s/config/providers.example.json", t_src_dir());
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		setenv(secrets[i], "example-value", 1);
	check(example, ov, 1, NULL, NULL);
	/* ...and names the one that is missing. */
	unsetenv("CAREHUB_SMS_SECRET");
	check(example, ov, 0, NULL, "secret_env names CAREHUB_SMS_SECRET, which is not set in the environment");
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		unsetenv(secrets[i]);
}

static void syntax_error(void **state)
{
	char cfg[600];

	(void)state;
	write_text("syntax.json", "{\n  \"mqtt\": {\"port\": 1883,,}\n}\n", cfg, sizeof(cfg));
	check(cfg, NULL, 0, cfg, NULL);
	char out[4096];
	const char *args[] = {"--check", "-c", cfg, NULL};
	t_run_carehubd(args, out, sizeof(out));
	/* line 2 */
	char want[700];
	snprintf(want, sizeof(want), "%s:2:", cfg);
	assert_non_null(strstr(out, want));
}

static void unknown_key(void **state)
{
	char cfg[600];

	(void)state;
	config_with("unknown.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins,
		    "\"mqtt\": {\"hots\": \"x\"},", cfg, sizeof(cfg));
	check(cfg, NULL, 0, cfg, "hots");
}

static void wrong_type(void **state)
{
	char cfg[600];

	(void)state;
	config_with("type.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins,
		    "\"redis\": {\"port\": \"six\"},", cfg, sizeof(cfg));
	check(cfg, NULL, 0, cfg, "port");
}

static void secret_in_file(void **state)
{
	char cfg[600];

	(void)state;
	config_with("secret.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins,
		    "\"mqtt\": {\"password\": \"hunter2\"},", cfg, sizeof(cfg));
	check(cfg, NULL, 0, cfg, "environment");
}

static void unknown_channel_in_policy(void **state)
{
	char cfg[600];

	(void)state;
	config_with("nochan.json", "{\"other\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins, NULL, cfg,
		    sizeof(cfg));
	check(cfg, NULL, 0, cfg, "\"c\"");
}

static void bad_override(void **state)
{
	char cfg[600];
	const char *o1[] = {"mqtt.port=notaport", NULL};
	const char *o2[] = {"noequals", NULL};

	(void)state;
	config_with("ovr.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins, NULL, cfg, sizeof(cfg));
	check(cfg, o1, 0, NULL, "mqtt.port");
	check(cfg, o2, 0, NULL, "noequals");
}

static void bad_rules_file(void **state)
{
	char cfg[600], rules[600], text[8192];

	(void)state;
	write_text("rules.json", "{\"rules\": [\n  {\"id\": \"x\", \"kind\": \"event\", \"match\": {\"type\": \"smoke\"},\n"
				 "   \"severity\": \"apocalyptic\"}\n]}\n", rules, sizeof(rules));
	snprintf(text, sizeof(text),
		 "{\"plugins_dir\": \"%s\", \"registry\": {\"file\": \"%s/tests/integration/fixtures/registry.json\"},\n"
		 " \"rules\": {\"file\": \"%s\"}, \"channels\": {\"c\": {\"plugin\": \"log\", \"path\": \"%s/n\"}},\n"
		 " \"policies\": {\"by_severity\": {\"critical\": \"p\", \"high\": \"p\", \"medium\": \"p\", \"low\": \"p\","
		 " \"info\": \"p\"}, \"policies\": {\"p\": {\"steps\": [{\"after\": 0, \"roles\": [\"family\"],"
		 " \"channels\": [\"c\"]}]}}}}\n",
		 plugins, t_src_dir(), rules, dir);
	write_text("cfg-rules.json", text, cfg, sizeof(cfg));
	check(cfg, NULL, 0, rules, "severity");
}

static void bad_registry_file(void **state)
{
	char cfg[600], reg[600];

	(void)state;
	write_text("registry.json",
		   "{\"subjects\": [\n {\"id\": \"a\", \"name\": \"A\", \"devices\": [{\"id\": \"d1\", \"type\": \"smoke\"}],"
		   " \"contacts\": []},\n {\"id\": \"b\", \"name\": \"B\", \"devices\": [{\"id\": \"d1\", \"type\": \"sos\"}],"
		   " \"contacts\": []}\n]}\n",
		   reg, sizeof(reg));
	config_with("cfg-reg.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins, NULL, cfg,
		    sizeof(cfg));
	char o[700];
	snprintf(o, sizeof(o), "registry.file=%s", reg);
	const char *ov[] = {o, NULL};
	check(cfg, ov, 0, reg, "d1");
}

static void bad_adapter(void **state)
{
	char cfg[600];
	const char *ov[] = {"mqtt.adapters=[{\"name\":\"z\",\"kind\":\"zigbee\"}]", NULL};

	(void)state;
	config_with("adapter.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\"}}", plugins, NULL, cfg,
		    sizeof(cfg));
	check(cfg, ov, 0, NULL, "mqtt.adapters[0] (z): unknown kind \"zigbee\"");
}

static void plugin_refusals(void **state)
{
	char cfg[600];

	(void)state;
	snprintf(testplugins, sizeof(testplugins), "%s/test-plugins", t_build_dir());
	config_with("abi.json", "{\"c\": {\"plugin\": \"bad_abi\"}}", testplugins, NULL, cfg, sizeof(cfg));
	check(cfg, NULL, 0, NULL, "ABI version 999");
	config_with("noentry.json", "{\"c\": {\"plugin\": \"no_entry\"}}", testplugins, NULL, cfg, sizeof(cfg));
	check(cfg, NULL, 0, NULL, "entry symbol");
	config_with("initfails.json", "{\"c\": {\"plugin\": \"init_fails\"}}", testplugins, NULL, cfg, sizeof(cfg));
	check(cfg, NULL, 0, NULL, "init");
	config_with("missing.json", "{\"c\": {\"plugin\": \"does_not_exist\"}}", testplugins, NULL, cfg, sizeof(cfg));
	check(cfg, NULL, 0, NULL, "cannot load");
	config_with("badopt.json", "{\"c\": {\"plugin\": \"log\", \"path\": \"n.jsonl\", \"colour\": \"red\"}}", plugins, NULL,
		    cfg, sizeof(cfg));
	check(cfg, NULL, 0, NULL, "colour");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_config_passes),  cmocka_unit_test(syntax_error),
		cmocka_unit_test(unknown_key),         cmocka_unit_test(wrong_type),
		cmocka_unit_test(secret_in_file),      cmocka_unit_test(unknown_channel_in_policy),
		cmocka_unit_test(bad_override),        cmocka_unit_test(bad_rules_file),
		cmocka_unit_test(bad_registry_file),   cmocka_unit_test(plugin_refusals),
		cmocka_unit_test(bad_adapter),
	};
	return cmocka_run_group_tests_name("check", tests, setup, NULL);
}
