/*
 * test_config.c - configuration, positioned JSON documents and the registry:
 * each kind of mistake is refused with file:line:col and what was expected,
 * overrides apply and name themselves, defaults and relative paths resolve.
 */
#include "config.h"
#include "jdoc.h"
#include "registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define POLICIES                                                                                            \
	"\"policies\": {\"by_severity\": {\"critical\": \"p\", \"high\": \"p\", \"medium\": \"p\", \"low\": \"p\", " \
	"\"info\": \"p\"}, \"policies\": {\"p\": {\"steps\": [{\"after\": \"0s\", \"roles\": [\"family\"], "    \
	"\"channels\": [\"c\"]}, {\"after\": \"5m\", \"roles\": [\"caseworker\"], \"channels\": [\"c\"]}]}}}"
#define CHANNELS "\"channels\": {\"c\": {\"plugin\": \"log\", \"path\": \"/tmp/x\", \"max_attempts\": 3}}"

static int parse(const char *text, const char *const *ov, size_t nov, struct ch_config **cfg, char *err,
		 size_t errlen)
{
	return ch_config_parse("/etc/carehub/c.json", text, strlen(text), ov, nov, cfg, err, errlen);
}

static void expect_error(const char *text, const char *const *ov, size_t nov, const char *want)
{
	struct ch_config *cfg = NULL;
	char err[1024] = "";

	assert_int_equal(parse(text, ov, nov, &cfg, err, sizeof(err)), CH_ECONFIG);
	assert_null(cfg);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want a message starting \"%s\"", err, want);
}

static void defaults_and_paths(void **state)
{
	struct ch_config *cfg;
	char err[512];

	(void)state;
	assert_int_equal(parse("{" CHANNELS ", " POLICIES "}", NULL, 0, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->mqtt.host, "127.0.0.1");
	assert_int_equal(cfg->mqtt.port, 1883);
	assert_string_equal(cfg->instance, "carehubd");
	assert_string_equal(cfg->redis.prefix, "ch:");
	assert_int_equal(cfg->limits.max_payload, 65536);
	assert_int_equal(cfg->limits.dedup_ttl_ms, 86400000);
	/* Relative paths are relative to the config file's directory. */
	assert_string_equal(cfg->rules.file, "/etc/carehub/rules.json");
	assert_string_equal(cfg->state_dir, "/etc/carehub/state");
	/* Host keys are consumed, the rest go to the plugin. */
	const struct ch_channel_conf *c = ch_config_channel(cfg, "c");
	assert_non_null(c);
	assert_int_equal(c->max_attempts, 3);
	assert_null(json_object_get(c->options, "max_attempts"));
	assert_null(json_object_get(c->options, "plugin"));
	assert_string_equal(json_string_value(json_object_get(c->options, "path")), "/tmp/x");
	/* Policies by severity and by name. */
	const struct ch_policy *p = ch_config_policy(cfg, NULL, "critical");
	assert_non_null(p);
	assert_int_equal(p->nsteps, 2);
	assert_int_equal(p->steps[1].after_ms, 300000);
	assert_ptr_equal(ch_config_policy(cfg, "p", "low"), p);
	assert_ptr_equal(ch_config_policy(cfg, "nope", "low"), p);
	ch_config_free(cfg);
}

static void overrides_apply(void **state)
{
	const char *ov[] = {"mqtt.port=18830", "channels.c.path=/var/log/n.jsonl", "mqtt.shared_group=hubs",
			    "limits.future_skew=10s"};
	struct ch_config *cfg;
	char err[512];

	(void)state;
	assert_int_equal(parse("{" CHANNELS ", " POLICIES "}", ov, 4, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->mqtt.port, 18830);
	assert_string_equal(cfg->mqtt.shared_group, "hubs");
	assert_int_equal(cfg->limits.future_skew_ms, 10000);
	assert_string_equal(json_string_value(json_object_get(ch_config_channel(cfg, "c")->options, "path")),
			    "/var/log/n.jsonl");
	ch_config_free(cfg);
}

/* Exposure: plain HTTP only on loopback unless said otherwise; TLS needs both files; secrets by file. */
static void http_exposure_and_secret_files(void **state)
{
	const char *open_all[] = {"http.enabled=true", "http.listen=0.0.0.0"};
	const char *insecure[] = {"http.enabled=true", "http.listen=0.0.0.0", "http.insecure=true"};
	const char *tls[] = {"http.enabled=true", "http.listen=0.0.0.0", "http.tls={\"cert_file\":\"c.pem\",\"key_file\":\"/k.pem\"}"};
	const char *half[] = {"http.tls={\"cert_file\":\"c.pem\"}"};
	const char *files[] = {"mqtt.password_file=pw", "redis.password_file=/run/credentials/r", "redis.username=carehub",
			       "redis.socket=/run/redis/redis.sock", "http.token_file=api", "http.metrics_token_env=M_TOKEN"};
	struct ch_config *cfg;
	char err[512];

	(void)state;
	expect_error("{" CHANNELS ", " POLICIES "}", open_all, 2, "-o http.listen=0.0.0.0: http.listen \"0.0.0.0\" is not a loopback address");
	expect_error("{" CHANNELS ", " POLICIES "}", half, 1, "-o http.tls={\"cert_file\":\"c.pem\"}: http.tls needs both");
	assert_int_equal(parse("{" CHANNELS ", " POLICIES "}", insecure, 3, &cfg, err, sizeof(err)), 0);
	assert_true(cfg->http.insecure);
	ch_config_free(cfg);
	assert_int_equal(parse("{" CHANNELS ", " POLICIES "}", tls, 3, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->http.tls.cert_file, "/etc/carehub/c.pem");
	assert_string_equal(cfg->http.tls.key_file, "/k.pem");
	ch_config_free(cfg);
	assert_int_equal(parse("{" CHANNELS ", " POLICIES "}", files, 6, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->mqtt.password_file, "/etc/carehub/pw");
	assert_string_equal(cfg->redis.password_file, "/run/credentials/r");
	assert_string_equal(cfg->redis.username, "carehub");
	assert_string_equal(cfg->redis.socket, "/run/redis/redis.sock");
	assert_string_equal(cfg->http.token_file, "/etc/carehub/api");
	assert_string_equal(cfg->http.metrics_token_env, "M_TOKEN");
	ch_config_free(cfg);
}

static void each_kind_of_error(void **state)
{
	const char *bad_port[] = {"mqtt.port=70000"};
	const char *no_eq[] = {"mqtt.port"};
	const char *through[] = {"mqtt.port.x=1"};

	(void)state;
	/* syntax: jansson's position */
	expect_error("{\n  \"mqtt\": {,}\n}", NULL, 0, "/etc/carehub/c.json:2:");
	/* unknown and duplicate keys */
	expect_error("{\"mqtt\": {\"hots\": \"x\"}, " CHANNELS ", " POLICIES "}", NULL, 0, "/etc/carehub/c.json:1:19: unknown key \"hots\" in mqtt");
	expect_error("{\"mqtt\": {\"port\": 1, \"port\": 2}}", NULL, 0, "/etc/carehub/c.json:1:");
	/* wrong type and range */
	expect_error("{\"redis\": {\"port\": \"six\"}, " CHANNELS ", " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:20: redis.port is \"six\", expected an integer 1..65535");
	expect_error("{\"limits\": {\"max_depth\": 1000}, " CHANNELS ", " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:26: limits.max_depth is 1000, expected an integer 2..64");
	/* rate limits: pairs of [count, window] */
	expect_error("{\"channels\": {\"c\": {\"plugin\": \"log\", \"path\": \"/tmp/x\", \"rate_limit\": [[0, \"1m\"]]}}, " POLICIES "}",
		     NULL, 0, "/etc/carehub/c.json:1:");
	expect_error("{\"channels\": {\"c\": {\"plugin\": \"log\", \"path\": \"/tmp/x\", \"rate_limit\": [[1, \"100ms\"]]}}, " POLICIES "}",
		     NULL, 0, "/etc/carehub/c.json:1:75: rate limit window is too short");
	expect_error("{\"channels\": {\"c\": {\"plugin\": \"log\", \"path\": \"/tmp/x\", \"rate_limit\": 5}}, " POLICIES "}",
		     NULL, 0, "/etc/carehub/c.json:1:");
	/* bad duration */
	expect_error("{\"limits\": {\"dedup_ttl\": \"soon\"}, " CHANNELS ", " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:26: limits.dedup_ttl is not a duration");
	/* secrets */
	expect_error("{\"redis\": {\"password\": \"x\"}, " CHANNELS ", " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:24: \"password\" in the file: secrets must come from the environment");
	expect_error("{\"redis\": {\"password_env\": \"lower\"}, " CHANNELS ", " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:28: redis.password_env is not an environment variable name");
	/* policies: unknown channel, unknown role, missing severity, steps back in time */
	expect_error("{\"channels\": {\"d\": {\"plugin\": \"log\"}}, " POLICIES "}", NULL, 0, "/etc/carehub/c.json:1:");
	expect_error("{" CHANNELS ", \"policies\": {\"by_severity\": {\"high\": \"p\"}, \"policies\": {\"p\": "
		     "{\"steps\": [{\"roles\": [\"family\"], \"channels\": [\"c\"]}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:");
	expect_error("{" CHANNELS ", \"policies\": {\"policies\": {\"default\": {\"steps\": [{\"roles\": [\"butler\"], "
		     "\"channels\": [\"c\"]}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:");
	expect_error("{" CHANNELS ", \"policies\": {\"policies\": {\"default\": {\"steps\": [{\"after\": \"5m\", "
		     "\"roles\": [\"family\"], \"channels\": [\"c\"]}, {\"after\": \"1m\", \"roles\": [\"family\"], "
		     "\"channels\": [\"c\"]}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:");
	/* a step's fallback names a channel that is not configured; "contacts" is all or first */
	expect_error("{" CHANNELS ", \"policies\": {\"policies\": {\"default\": {\"steps\": [{\"after\": \"0s\", "
		     "\"roles\": [\"family\"], \"channels\": [\"c\"], \"fallback\": [\"sms\"]}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:1:194: channel \"sms\" is not configured");
	expect_error("{" CHANNELS ", \"policies\": {\"policies\": {\"default\": {\"steps\": [{\"after\": \"0s\", "
		     "\"roles\": [\"family\"], \"channels\": [\"c\"], \"contacts\": \"some\"}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:1:193: \"contacts\" must be \"all\"");
	expect_error("{" CHANNELS ", \"policies\": {\"policies\": {\"default\": {\"steps\": [{\"after\": \"0s\", "
		     "\"roles\": [\"family\"], \"channels\": [\"c\"], \"when_limited\": \"drop\"}]}}}}",
		     NULL, 0, "/etc/carehub/c.json:1:197: \"when_limited\" must be \"wait\"");
	/* message texts: a misspelt placeholder and a bad language are found before the daemon starts */
	expect_error("{" CHANNELS ", " POLICIES ", \"templates\": {\"zh\": {\"sms\": {\"alert\": \"{sbject}\"}}}}", NULL, 0,
		     "/etc/carehub/c.json:1:341: templates.zh.sms.alert: unknown placeholder {sbject}");
	expect_error("{" CHANNELS ", " POLICIES ", \"language\": \"chinese\"}", NULL, 0,
		     "/etc/carehub/c.json:1:340: language \"chinese\" is not a code");
	expect_error("{" CHANNELS ", " POLICIES ", \"templates\": {\"file\": \"/nonexistent/t.json\"}}", NULL, 0,
		     "/etc/carehub/c.json:1:350: unable to open /nonexistent/t.json: No such file or directory");
	/* channel without plugin */
	expect_error("{\"channels\": {\"c\": {\"path\": \"x\"}}, " POLICIES "}", NULL, 0,
		     "/etc/carehub/c.json:1:20: channel c has no \"plugin\"");
	/* overrides name themselves */
	expect_error("{" CHANNELS ", " POLICIES "}", bad_port, 1, "-o mqtt.port=70000: mqtt.port is 70000");
	expect_error("{" CHANNELS ", " POLICIES "}", no_eq, 1, "-o mqtt.port: expected path=value");
	expect_error("{" CHANNELS ", " POLICIES "}", through, 1, "-o mqtt.port.x=1: mqtt.port expected an integer");
	/* an override on a document that is not an object */
	expect_error("[1]", bad_port, 1, "-o mqtt.port=70000: the configuration is not a JSON object");
	/* missing policies file: says which file */
	expect_error("{" CHANNELS ", \"policies\": {\"file\": \"/nonexistent/p.json\"}}", NULL, 0,
		     "/nonexistent/p.json: cannot open");
}

static void jdoc_positions(void **state)
{
	const char *text = "{\n  \"a\": {\"b/c\": [1,\n    {\"d~e\": true}]},\n  \"x\": 5\n}\n";
	struct ch_jdoc *doc;
	char err[256];
	int line, col;

	(void)state;
	assert_int_equal(ch_jdoc_parse("t.json", text, strlen(text), &doc, err, sizeof(err)), 0);
	ch_jdoc_pos(doc, "/a/b~1c/1/d~0e", &line, &col);
	assert_int_equal(line, 3);
	assert_int_equal(col, 13);
	ch_jdoc_pos(doc, "/x", &line, &col);
	assert_int_equal(line, 4);
	assert_int_equal(col, 8);
	/* Unknown pointers fall back to the nearest ancestor. */
	ch_jdoc_pos(doc, "/a/b~1c/7", &line, &col);
	assert_int_equal(line, 2);
	assert_int_equal(col, 16);
	assert_int_equal(ch_jdoc_err(doc, "/x", err, sizeof(err), "bad %s", "x"), CH_ECONFIG);
	assert_string_equal(err, "t.json:4:8: bad x");
	ch_jdoc_free(doc);
	/* A NUL ends the text; what follows it neither loops nor crashes. */
	int rc = ch_jdoc_parse("t.json", "{\"a\":[4\0]}", 10, &doc, err, sizeof(err));
	if (rc == 0)
		ch_jdoc_free(doc);
	else
		assert_memory_equal(err, "t.json:", 7);
}

static const char *const REG =
	"{\"subjects\": [\n"
	" {\"id\": \"s-1\", \"name\": \"A\", \"devices\": [{\"id\": \"d1\", \"type\": \"smoke\", \"heartbeat\": \"1h\"}],\n"
	"  \"contacts\": [{\"name\": \"F2\", \"phone\": \"+8613800000002\", \"role\": \"family\", \"order\": 2},\n"
	"                {\"name\": \"F1\", \"phone\": \"+8613800000001\", \"role\": \"family\", \"order\": 1,\n"
	"                 \"quiet_hours\": \"22:00-07:00\"}]},\n"
	" {\"id\": \"s-2\", \"name\": \"B\", \"devices\": [{\"id\": \"d2\", \"type\": \"sos\"}], \"contacts\": []}\n"
	"]}\n";

static void registry_index_and_order(void **state)
{
	struct ch_registry *reg;
	const struct ch_device *dev;
	char err[512];

	(void)state;
	assert_int_equal(ch_registry_parse("r.json", REG, strlen(REG), &reg, err, sizeof(err)), 0);
	assert_int_equal(ch_registry_count(reg), 2);
	const struct ch_subject *s = ch_registry_find_device(reg, "d1", &dev);
	assert_non_null(s);
	assert_string_equal(s->id, "s-1");
	assert_string_equal(dev->type, "smoke");
	assert_int_equal(dev->heartbeat_ms, 3600000);
	assert_string_equal(s->timezone, "UTC");
	/* Contacts sorted by order. */
	assert_string_equal(s->contacts[0].name, "F1");
	assert_null(ch_registry_find_device(reg, "d3", NULL));
	assert_ptr_equal(ch_registry_subject(reg, "s-2"), ch_registry_find_device(reg, "d2", NULL));

	/* Round trip through the stored records (what Redis holds). */
	json_t *recs[2] = {ch_registry_at(reg, 0)->json, ch_registry_at(reg, 1)->json};
	struct ch_registry *back;
	assert_int_equal(ch_registry_from_subjects(recs, 2, &back, err, sizeof(err)), 0);
	assert_non_null(ch_registry_find_device(back, "d2", NULL));
	ch_registry_free(back);
	ch_registry_free(reg);
}

static void expect_reg_error(const char *text, const char *want)
{
	struct ch_registry *reg = NULL;
	char err[512] = "";

	assert_int_equal(ch_registry_parse("r.json", text, strlen(text), &reg, err, sizeof(err)), CH_ECONFIG);
	assert_null(reg);
	if (!strstr(err, want) || strncmp(err, "r.json:", 7) != 0)
		fail_msg("got \"%s\", want r.json:L:C and \"%s\"", err, want);
}

static void registry_aliases(void **state)
{
	const char *text = "{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"devices\": [{\"id\": \"pir-1\", "
			   "\"type\": \"motion\", \"aliases\": [\"living room/pir\", \"0x00158d0001a2b3c4\"]}]}]}";
	struct ch_registry *reg;
	const struct ch_device *dev = NULL;
	char err[512];

	(void)state;
	assert_int_equal(ch_registry_parse("r.json", text, strlen(text), &reg, err, sizeof(err)), 0);
	assert_non_null(ch_registry_find_device(reg, "living room/pir", &dev));
	assert_string_equal(dev->id, "pir-1");
	assert_non_null(ch_registry_find_device(reg, "0x00158d0001a2b3c4", NULL));
	ch_registry_free(reg);
	/* An alias may not name another device. */
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"devices\": [{\"id\": \"d1\", \"type\": \"x\"},"
			 " {\"id\": \"d2\", \"type\": \"y\", \"aliases\": [\"d1\"]}]}]}",
			 "alias \"d1\" is already registered");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"devices\": [{\"id\": \"d1\", \"type\": \"x\","
			 " \"aliases\": [\"a/#\"]}]}]}",
			 "alias");
}

static void registry_errors(void **state)
{
	(void)state;
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"devices\": [{\"id\": \"d\", \"type\": \"x\"}]},"
			 " {\"id\": \"b\", \"name\": \"B\", \"devices\": [{\"id\": \"d\", \"type\": \"y\"}]}]}",
			 "already registered");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\"}, {\"id\": \"a\", \"name\": \"B\"}]}", "twice");
	expect_reg_error("{\"subjects\": [{\"id\": \"a b\", \"name\": \"A\"}]}", "not valid");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"contacts\": [{\"name\": \"x\", \"phone\": \"call me\","
			 " \"role\": \"family\"}]}]}",
			 "phone");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"contacts\": [{\"name\": \"x\", \"phone\": \"+861\","
			 "\"role\": \"butler\"}]}]}",
			 "phone");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"contacts\": [{\"name\": \"x\", \"phone\": "
			 "\"+8613800000001\", \"role\": \"butler\"}]}]}",
			 "role");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"contacts\": [{\"name\": \"x\", \"phone\": "
			 "\"+8613800000001\", \"role\": \"family\", \"quiet_hours\": \"late\"}]}]}",
			 "quiet_hours");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"contacts\": [{\"name\": \"x\", \"phone\": "
			 "\"+8613800000001\", \"role\": \"family\", \"timezone\": \"Mars/Olympus\"}]}]}",
			 "timezone \"Mars/Olympus\" is not a zone");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\", \"name\": \"A\", \"pets\": 2}]}", "unknown key \"pets\"");
	expect_reg_error("{\"subjects\": [{\"id\": \"a\"}]}", "missing \"name\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_paths),	cmocka_unit_test(overrides_apply),
		cmocka_unit_test(each_kind_of_error),	cmocka_unit_test(jdoc_positions),
		cmocka_unit_test(registry_index_and_order), cmocka_unit_test(registry_errors),
		cmocka_unit_test(registry_aliases),
		cmocka_unit_test(http_exposure_and_secret_files),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
