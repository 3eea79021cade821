/*
 * test_reload.c - SIGHUP swaps rules and registry atomically; a bad file is
 * refused, logged, and the running configuration keeps working.
 */
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;
static char rules[700], registry[700];

static const char SMOKE_ONLY[] =
	"{\"rules\": [{\"id\": \"smoke\", \"kind\": \"event\", \"match\": {\"type\": \"smoke\"}, \"severity\": \"critical\"}]}";
static const char SMOKE_AND_GAS[] =
	"{\"rules\": [{\"id\": \"smoke\", \"kind\": \"event\", \"match\": {\"type\": \"smoke\"}, \"severity\": \"critical\"},\n"
	"            {\"id\": \"gas\", \"kind\": \"event\", \"match\": {\"type\": \"gas\"}, \"severity\": \"critical\"}]}";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char reg_override[800];
	FILE *in;
	char buf[8192];
	size_t n;

	(void)state;
	t_mqtt_init();
	t_hub_config(&hub, "reload", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""),
		     NULL);
	snprintf(rules, sizeof(rules), "%s/rules.json", hub.dir);
	snprintf(registry, sizeof(registry), "%s/registry.json", hub.dir);
	write_file(rules, SMOKE_ONLY);
	snprintf(buf, sizeof(buf), "%s/tests/integration/fixtures/registry.json", t_src_dir());
	in = fopen(buf, "r");
	assert_non_null(in);
	n = fread(buf, 1, sizeof(buf) - 1, in);
	fclose(in);
	buf[n] = '\0';
	write_file(registry, buf);
	snprintf(reg_override, sizeof(reg_override), "registry.file=%s", registry);
	char rules_override[800];
	snprintf(rules_override, sizeof(rules_override), "rules.file=%s", rules);
	const char *ov[] = {reg_override, rules_override, NULL};
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

struct open_wait {
	const char *sid, *rule;
};

static bool alert_open(void *arg)
{
	struct open_wait *w = arg;
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, w->sid, w->rule);
	bool ok = id != NULL;

	free(id);
	return ok;
}

struct log_wait {
	const char *text;
	int n;
};

static bool log_has(void *arg)
{
	struct log_wait *w = arg;
	return t_hub_log_count(&hub, w->text) >= w->n;
}

static void new_rules_and_registry_apply(void **state)
{
	struct open_wait smoke = {"s-001", "smoke"}, gas = {"s-001", "gas"}, newcomer = {"s-009", "smoke"};

	(void)state;
	/* Before: gas has no rule; the smoke marker shows the gas event went by. */
	t_publish_event("gas-1", "{\"id\":\"r-1\",\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	t_publish_event("smoke-1", "{\"id\":\"r-2\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(alert_open, &smoke, T_DEADLINE_MS));
	assert_false(alert_open(&gas));

	/* A new rule and a new household, then SIGHUP. */
	write_file(rules, SMOKE_AND_GAS);
	write_file(registry, "{\"subjects\": [{\"id\": \"s-009\", \"name\": \"New\", \"devices\": [{\"id\": \"smoke-9\", "
			     "\"type\": \"smoke\"}], \"contacts\": [{\"name\": \"F\", \"phone\": \"+8613800000099\", "
			     "\"role\": \"family\"}]}]}");
	struct log_wait w = {"reloaded:", 1};
	t_hub_signal(&hub, SIGHUP);
	assert_true(t_wait(log_has, &w, T_DEADLINE_MS));
	t_publish_event("gas-1", "{\"id\":\"r-3\",\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	assert_true(t_wait(alert_open, &gas, T_DEADLINE_MS));
	t_publish_event("smoke-9", "{\"id\":\"r-4\",\"device\":\"smoke-9\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(alert_open, &newcomer, T_DEADLINE_MS));
}

static void bad_reload_keeps_running_config(void **state)
{
	struct open_wait leak = {"s-002", "smoke"};
	struct log_wait w = {"reload failed", 1};

	(void)state;
	write_file(rules, "{\"rules\": [{\"id\": \"smoke\", \"kind\": \"event\", \"severity\": \"apocalyptic\"");
	t_hub_signal(&hub, SIGHUP);
	assert_true(t_wait(log_has, &w, T_DEADLINE_MS));
	assert_true(t_hub_log_contains(&hub, "keeping the running configuration"));
	assert_true(t_hub_log_contains(&hub, "rules.json:"));
	/* Still the rules of the last good load. */
	t_publish_event("smoke-2", "{\"id\":\"r-6\",\"device\":\"smoke-2\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(alert_open, &leak, T_DEADLINE_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_rules_and_registry_apply),
		cmocka_unit_test(bad_reload_keeps_running_config),
	};
	return cmocka_run_group_tests_name("reload", tests, setup, teardown);
}
