/*
 * test_pipeline.c - the core slice end to end: a smoke event on MQTT becomes
 * an alert in Redis, an alert document on MQTT and a webhook POST with the
 * documented body and Idempotency-Key; duplicates and repeats behave.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;
static struct t_http *http;

static int setup(void **state)
{
	static const int ok[] = {200};
	char channels[512];

	(void)state;
	t_mqtt_init();
	http = t_http_start(ok, 1);
	snprintf(channels, sizeof(channels),
		 "{\"hook\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/notify\"},"
		 " \"console\": {\"plugin\": \"mqtt\", \"topic\": \"carehub/v1/console/{subject}\"}}",
		 t_http_port(http));
	t_hub_config(&hub, "pipeline", channels,
		     T_POLICY_FAMILY("\"hook\",\"console\""),
		     NULL);
	t_hub_start(&hub, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_http_stop(http);
	t_mqtt_done();
	return 0;
}

struct key_wait {
	const char *prefix;
	const char *rule;
	const char *sid;
};

static bool open_alert(void *arg)
{
	struct key_wait *w = arg;
	char *id = t_redis_str("GET %s{%s}:open:%s", w->prefix, w->sid, w->rule);
	bool ok = id != NULL;

	free(id);
	return ok;
}

static json_t *alert_doc(const char *sid, const char *rule)
{
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, sid, rule);
	char *num, *doc;
	json_t *j;

	assert_non_null(id);
	num = strrchr(id, ':') + 1;
	doc = t_redis_str("GET %s{%s}:alert:%s", hub.prefix, sid, num);
	assert_non_null(doc);
	j = json_loads(doc, 0, NULL);
	assert_non_null(j);
	free(doc);
	free(id);
	return j;
}

static bool alert_published(void *arg)
{
	(void)arg;
	return t_mqtt_count("carehub/v1/alerts/s-001") > 0;
}

static bool console_published(void *arg)
{
	(void)arg;
	return t_mqtt_count("carehub/v1/console/s-001") > 0;
}

static void smoke_opens_alert_and_notifies(void **state)
{
	struct key_wait w = {hub.prefix, "smoke", "s-001"};
	struct t_http_req r;
	json_t *body, *doc;
	char *last;

	(void)state;
	t_publish_event("smoke-1", "{\"id\":\"smoke-1:1\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(open_alert, &w, T_DEADLINE_MS));
	doc = alert_doc("s-001", "smoke");
	assert_string_equal(json_string_value(json_object_get(doc, "state")), "open");
	assert_string_equal(json_string_value(json_object_get(doc, "severity")), "critical");
	assert_int_equal(json_integer_value(json_object_get(doc, "count")), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "subject")), "s-001");

	/* The family contact (one) is notified once over the webhook. */
	assert_true(t_http_wait(http, 1, T_DEADLINE_MS));
	assert_true(t_http_get(http, 0, &r));
	assert_string_equal(r.path, "/notify");
	body = json_loads(r.body, 0, NULL);
	assert_non_null(body);
	const char *id = json_string_value(json_object_get(body, "id"));
	assert_non_null(id);
	assert_string_equal(id, r.idem);
	json_t *alert = json_object_get(body, "alert");
	assert_string_equal(json_string_value(json_object_get(alert, "id")),
			    json_string_value(json_object_get(doc, "id")));
	assert_string_equal(json_string_value(json_object_get(alert, "rule")), "smoke");
	assert_string_equal(json_string_value(json_object_get(alert, "severity")), "critical");
	assert_string_equal(json_string_value(json_object_get(alert, "state")), "open");
	assert_string_equal(json_string_value(json_object_get(alert, "subject")), "s-001");
	assert_non_null(json_string_value(json_object_get(alert, "opened_at")));
	assert_non_null(json_string_value(json_object_get(alert, "summary")));
	json_t *subj = json_object_get(body, "subject");
	assert_string_equal(json_string_value(json_object_get(subj, "id")), "s-001");
	assert_string_equal(json_string_value(json_object_get(subj, "name")), "王秀英");
	assert_non_null(json_string_value(json_object_get(subj, "address")));
	json_t *contact = json_object_get(body, "contact");
	assert_string_equal(json_string_value(json_object_get(contact, "role")), "family");
	assert_string_equal(json_string_value(json_object_get(contact, "phone")), "+8613800000011");
	assert_int_equal(json_integer_value(json_object_get(body, "step")), 0);
	assert_int_equal(json_integer_value(json_object_get(body, "attempt")), 1);
	assert_non_null(json_string_value(json_object_get(body, "text")));
	/* key = alert:step:contact:channel */
	char want[128];
	snprintf(want, sizeof(want), "%s:0:", json_string_value(json_object_get(doc, "id")));
	assert_memory_equal(id, want, strlen(want));
	assert_non_null(strstr(id, ":hook"));
	json_decref(body);
	t_http_req_free(&r);

	/* The console channel published the same notification on MQTT. */
	assert_true(t_wait(console_published, NULL, T_DEADLINE_MS));
	last = t_mqtt_last("carehub/v1/console/s-001");
	assert_non_null(strstr(last, "\"role\":\"family\""));
	free(last);

	/* The alert document went out on MQTT. */
	assert_true(t_wait(alert_published, NULL, T_DEADLINE_MS));
	last = t_mqtt_last("carehub/v1/alerts/s-001");
	assert_non_null(last);
	assert_non_null(strstr(last, "\"smoke\""));
	free(last);
	json_decref(doc);
}

struct count_wait {
	const char *sid, *rule;
	long long want;
};

static bool count_is(void *arg)
{
	struct count_wait *w = arg;
	json_t *doc;
	bool ok;
	char *id = t_redis_str("GET %s{%s}:open:%s", hub.prefix, w->sid, w->rule);

	if (!id)
		return false;
	char *doc_s = t_redis_str("GET %s{%s}:alert:%s", hub.prefix, w->sid, strrchr(id, ':') + 1);
	free(id);
	if (!doc_s)
		return false;
	doc = json_loads(doc_s, 0, NULL);
	free(doc_s);
	ok = json_integer_value(json_object_get(doc, "count")) == w->want;
	json_decref(doc);
	return ok;
}

static void duplicate_id_processed_once_repeat_counts(void **state)
{
	struct count_wait w = {"s-001", "smoke", 2};

	(void)state;
	/* Same id again: ignored. */
	t_publish_event("smoke-1", "{\"id\":\"smoke-1:1\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	/* A new smoke event while open: count 2, no new notification. */
	t_publish_event("smoke-1", "{\"id\":\"smoke-1:2\",\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(count_is, &w, T_DEADLINE_MS));
	/* A marker event for another subject proves the hub got past both. */
	t_publish_event("sos-2", "{\"id\":\"sos-2:1\",\"device\":\"sos-2\",\"type\":\"sos\"}");
	struct key_wait k = {hub.prefix, "sos", "s-002"};
	assert_true(t_wait(open_alert, &k, T_DEADLINE_MS));
	assert_true(t_http_wait(http, 2, T_DEADLINE_MS));
	/* Still count 2 after the marker: the duplicate id never counted. */
	assert_true(count_is(&w));
	/* Exactly four notification jobs were ever queued: smoke once, sos once, two channels each. */
	assert_int_equal(t_redis_int("XLEN %soutbox", hub.prefix), 4);
	json_t *tl = t_redis("LRANGE %s{s-001}:alert:1:tl 0 -1", hub.prefix);
	assert_non_null(tl);
	/* opened, repeat and the delivery record */
	assert_true(json_array_size(tl) >= 3);
	json_decref(tl);
}

static void smoke_cleared_does_not_alert(void **state)
{
	(void)state;
	long long before = t_redis_int("XLEN %soutbox", hub.prefix);
	t_publish_event("smoke-2", "{\"id\":\"smoke-2:1\",\"device\":\"smoke-2\",\"type\":\"smoke\",\"value\":false}");
	t_publish_event("sos-2", "{\"id\":\"sos-2:2\",\"device\":\"sos-2\",\"type\":\"sos\"}");
	struct count_wait w = {"s-002", "sos", 2};
	assert_true(t_wait(count_is, &w, T_DEADLINE_MS));
	char *id = t_redis_str("GET %s{s-002}:open:smoke", hub.prefix);
	assert_null(id);
	assert_int_equal(t_redis_int("XLEN %soutbox", hub.prefix), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(smoke_opens_alert_and_notifies),
		cmocka_unit_test(duplicate_id_processed_once_repeat_counts),
		cmocka_unit_test(smoke_cleared_does_not_alert),
	};
	return cmocka_run_group_tests_name("pipeline", tests, setup, teardown);
}
