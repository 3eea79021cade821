/*
 * test_escalation.c - an alert's later policy steps, with delays in seconds:
 * each step notifies its roles on time and once (repeats included, each with
 * its own idempotency key), an acknowledgement on carehub/v1/acks stops the
 * rest, and a hub killed between steps takes the next one on time after a
 * restart without repeating the one already sent.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* family at once, the caseworker after 1 s, the centre after 2 s; the whole list once more 1 s later. */
#define POLICY                                                                                              \
	"{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"    \
	"\"policies\":{\"p\":{\"steps\":["                                                                 \
	"{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"log\"]},"                                  \
	"{\"after\":\"1s\",\"roles\":[\"caseworker\"],\"channels\":[\"log\"]},"                              \
	"{\"after\":\"2s\",\"roles\":[\"centre\"],\"channels\":[\"log\"]}],"                                 \
	"\"repeat\":1,\"repeat_after\":\"1s\"}}}"

static struct t_hub hub;
static char notif[700];

static int setup(void **state)
{
	(void)state;
	t_mqtt_init();
	t_hub_config(&hub, "escalation", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}", POLICY, NULL);
	snprintf(notif, sizeof(notif), "%s/n.jsonl", hub.dir);
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

/* The notifications of one alert in the log channel's file, as a JSON array. */
static json_t *sent(const char *alert)
{
	return t_log_notifications(notif, alert);
}

struct count_wait {
	const char *alert;
	size_t n;
};

static bool sent_n(void *arg)
{
	struct count_wait *w = arg;
	json_t *s = sent(w->alert);
	bool ok = json_array_size(s) >= w->n;

	json_decref(s);
	return ok;
}

static bool open_alert(void *arg)
{
	char *id = t_redis_str("GET %s{s-001}:open:%s", hub.prefix, (const char *)arg);
	bool ok = id != NULL;

	free(id);
	return ok;
}

static void steps_on_time_in_order_once(void **state)
{
	struct count_wait w = {"s-001:1", 6};
	static const char *const roles[] = {"family", "caseworker", "centre", "family", "caseworker", "centre"};
	int64_t t0;

	(void)state;
	t0 = t_now_ms();
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(sent_n, &w, T_DEADLINE_MS));
	/* Steps at 0, 1, 2 s, then the list again at 3, 4, 5 s: not all before 5 s. */
	assert_true(t_now_ms() - t0 >= 4900);
	t_sleep_ms(1500);
	json_t *s = sent("s-001:1");
	assert_int_equal(json_array_size(s), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *n = json_array_get(s, i);
		char key[128];
		assert_int_equal(json_integer_value(json_object_get(n, "step")), (json_int_t)i);
		assert_string_equal(json_string_value(json_object_get(json_object_get(n, "contact"), "role")), roles[i]);
		snprintf(key, sizeof(key), "s-001:1:%zu:", i);
		assert_true(strncmp(json_string_value(json_object_get(n, "id")), key, strlen(key)) == 0);
	}
	json_decref(s);
	json_t *tl = t_redis("LRANGE %s{s-001}:alert:1:tl 0 -1", hub.prefix);
	char *txt = json_dumps(tl, 0);
	assert_non_null(strstr(txt, "escalated"));
	assert_non_null(strstr(txt, "step 5 of p: centre"));
	free(txt);
	json_decref(tl);
	assert_int_equal(t_redis_int("ZCARD %sescalations", hub.prefix), 0);
}

static void acknowledgement_stops_the_rest(void **state)
{
	struct count_wait w = {"s-001:2", 1};
	const char *ack = "{\"alert\":\"s-001:2\",\"action\":\"ack\",\"by\":\"centre operator 7\"}";

	(void)state;
	t_publish_event("gas-1", "{\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	char rule[] = "gas";
	assert_true(t_wait(open_alert, rule, T_DEADLINE_MS));
	assert_true(t_wait(sent_n, &w, T_DEADLINE_MS));
	t_mqtt_publish("carehub/v1/acks", ack, strlen(ack), 1);
	/* Step 1 was due 1 s after opening; the ack came before it: nothing more for 4 s. */
	t_sleep_ms(4000);
	json_t *s = sent("s-001:2");
	assert_true(json_array_size(s) <= 2); /* the ack may race step 1, never more */
	json_decref(s);
	assert_int_equal(t_redis_int("ZCARD %sescalations", hub.prefix), 0);
}

static void kill9_between_steps_neither_skips_nor_repeats(void **state)
{
	struct count_wait first = {"s-001:3", 2}, all = {"s-001:3", 6};

	(void)state;
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(sent_n, &first, T_DEADLINE_MS));
	t_hub_kill(&hub);
	t_hub_start(&hub, NULL);
	assert_true(t_wait(sent_n, &all, T_DEADLINE_MS));
	t_sleep_ms(1500);
	json_t *s = sent("s-001:3"), *keys = json_object();
	size_t distinct = 0;
	/* Each step exactly once: six distinct steps under six keys.  A send the kill interrupted after
	 * the log line was written and before it was recorded is sent again under the same key (the
	 * promise: at least once, deduplicated by the idempotency key); never under another one. */
	for (size_t i = 0; i < json_array_size(s); i++) {
		json_t *n = json_array_get(s, i);
		const char *key = json_string_value(json_object_get(n, "id")); /* the idempotency key */
		assert_non_null(key);
		if (json_object_get(keys, key))
			continue;
		json_object_set_new(keys, key, json_true());
		assert_int_equal(json_integer_value(json_object_get(n, "step")), (json_int_t)distinct);
		distinct++;
	}
	assert_int_equal(distinct, 6);
	assert_true(json_array_size(s) <= 7); /* one kill: at most one send repeated */
	json_decref(keys);
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(steps_on_time_in_order_once),
		cmocka_unit_test(acknowledgement_stops_the_rest),
		cmocka_unit_test(kill9_between_steps_neither_skips_nor_repeats),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
