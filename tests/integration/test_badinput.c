/*
 * test_badinput.c - hostile payloads end in the dead-letter stream with their
 * reason, and the hub keeps serving.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;

static int setup(void **state)
{
	(void)state;
	t_mqtt_init();
	t_hub_config(&hub, "badinput", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/notifications.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""),
		     NULL);
	t_hub_start(&hub, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

struct dl_wait {
	long long n;
};

static bool deadletters_at_least(void *arg)
{
	struct dl_wait *w = arg;
	return t_redis_int("XLEN %sdeadletter", hub.prefix) >= w->n;
}

/* The reasons of every dead letter, in order. */
static json_t *reasons(void)
{
	json_t *all = t_redis("XRANGE %sdeadletter - +", hub.prefix);
	json_t *out = json_array();
	size_t i;
	json_t *e;

	json_array_foreach(all, i, e) {
		json_t *fields = json_array_get(e, 1);
		for (size_t k = 0; k + 1 < json_array_size(fields); k += 2) {
			if (strcmp(json_string_value(json_array_get(fields, k)), "reason") == 0)
				json_array_append(out, json_array_get(fields, k + 1));
		}
	}
	json_decref(all);
	return out;
}

static bool has_reason(json_t *rs, const char *r)
{
	size_t i;
	json_t *v;

	json_array_foreach(rs, i, v) {
		if (strcmp(json_string_value(v), r) == 0)
			return true;
	}
	return false;
}

static void bad_payloads_are_dead_lettered(void **state)
{
	char *big, *deep;
	size_t i;
	struct dl_wait w = {8};

	(void)state;
	t_publish_event("smoke-1", "{not json");
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":42}");
	t_publish_event("ghost-9", "{\"device\":\"ghost-9\",\"type\":\"smoke\",\"value\":true}");
	big = malloc(1 << 20);
	memset(big, 'a', 1 << 20);
	memcpy(big, "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"data\":\"", 44);
	big[(1 << 20) - 2] = '"';
	big[(1 << 20) - 1] = '}';
	t_mqtt_publish("carehub/v1/events/smoke-1", big, 1 << 20, 1);
	free(big);
	deep = calloc(1, 512);
	size_t off = (size_t)snprintf(deep, 512, "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"data\":");
	memset(deep + off, '[', 100);
	memset(deep + off + 100, ']', 100);
	deep[off + 200] = '}';
	t_publish_event("smoke-1", deep);
	free(deep);
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"note\":\"\xc3\x28\"}");
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"ts\":\"2999-01-01T00:00:00Z\"}");
	t_publish_event("smoke-1", "{\"device\":\"smoke-2\",\"type\":\"smoke\",\"value\":true}");

	assert_true(t_wait(deadletters_at_least, &w, T_DEADLINE_MS));
	json_t *rs = reasons();
	assert_true(has_reason(rs, "not_json"));
	assert_true(has_reason(rs, "bad_field"));
	assert_true(has_reason(rs, "unknown_device"));
	assert_true(has_reason(rs, "oversize"));
	assert_true(has_reason(rs, "too_deep"));
	assert_true(has_reason(rs, "bad_utf8"));
	assert_true(has_reason(rs, "future_ts"));
	assert_true(has_reason(rs, "topic_mismatch"));
	json_decref(rs);

	/* The oversized one is kept as a prefix with its real size. */
	json_t *all = t_redis("XRANGE %sdeadletter - +", hub.prefix);
	bool saw_size = false;
	json_array_foreach(all, i, rs) {
		json_t *f = json_array_get(rs, 1);
		for (size_t k = 0; k + 1 < json_array_size(f); k += 2) {
			if (strcmp(json_string_value(json_array_get(f, k)), "size") == 0 &&
			    strcmp(json_string_value(json_array_get(f, k + 1)), "1048576") == 0)
				saw_size = true;
		}
	}
	json_decref(all);
	assert_true(saw_size);
}

static bool alert_open(void *arg)
{
	(void)arg;
	char *id = t_redis_str("GET %s{s-001}:open:smoke", hub.prefix);
	bool ok = id != NULL;
	free(id);
	return ok;
}

static void hub_still_serves(void **state)
{
	(void)state;
	t_publish_event("smoke-1", "{\"id\":\"ok-1\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(alert_open, NULL, T_DEADLINE_MS));
	/* Rate limiting: many bad payloads of one kind log a handful of lines. */
	for (int i = 0; i < 50; i++)
		t_publish_event("smoke-1", "{oops");
	struct dl_wait w = {58};
	assert_true(t_wait(deadletters_at_least, &w, T_DEADLINE_MS));
	FILE *f = fopen(hub.log, "r");
	char line[4096];
	int lines = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		lines += strstr(line, "not_json") != NULL;
	fclose(f);
	assert_true(lines <= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_payloads_are_dead_lettered),
		cmocka_unit_test(hub_still_serves),
	};
	return cmocka_run_group_tests_name("badinput", tests, setup, teardown);
}
