/*
 * test_sms.c - the sms channel against a local HTTP server playing the SMS
 * gateway: one JSON request per notification with the number, the rendered
 * text cut into parts, the idempotency key in the body and a header, and the
 * number never in the hub's log.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct t_hub hub;
static struct t_http *gw;

static int setup(void **state)
{
	static const int ok[] = {200};
	char channels[512];

	(void)state;
	t_mqtt_init();
	gw = t_http_start(ok, 1);
	snprintf(channels, sizeof(channels),
		 "{\"sms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\", \"sender\": \"carehub\"}}",
		 t_http_port(gw));
	t_hub_config(&hub, "sms", channels, T_POLICY_FAMILY("\"sms\""), NULL);
	t_hub_start(&hub, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_http_stop(gw);
	t_mqtt_done();
	return 0;
}

static void sos_reaches_the_gateway_in_parts(void **state)
{
	struct t_http_req rq;
	json_t *body, *parts;
	size_t units, len = 0;

	(void)state;
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_http_wait(gw, 1, T_DEADLINE_MS));
	assert_true(t_http_get(gw, 0, &rq));
	assert_string_equal(rq.path, "/sms");
	assert_true(strncmp(rq.idem, "s-001:1:0:", 10) == 0);
	body = json_loads(rq.body, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(body, "to")), "+8613800000011");
	assert_string_equal(json_string_value(json_object_get(body, "id")), rq.idem);
	assert_string_equal(json_string_value(json_object_get(body, "sender")), "carehub");
	parts = json_object_get(body, "parts");
	units = (size_t)json_integer_value(json_object_get(body, "units"));
	/* The text is Chinese: 70 fit one SMS, 67 per part beyond. */
	assert_int_equal(json_array_size(parts), units <= 70 ? 1 : (units + 66) / 67);
	for (size_t i = 0; i < json_array_size(parts); i++)
		len += strlen(json_string_value(json_array_get(parts, i)));
	assert_int_equal(len, strlen(json_string_value(json_object_get(body, "text"))));
	assert_non_null(strstr(json_string_value(json_object_get(body, "text")), "紧急呼叫"));
	json_decref(body);
	t_http_req_free(&rq);
	/* Sent once, recorded, and the number is masked in the log. */
	assert_false(t_hub_log_contains(&hub, "+8613800000011"));
}

/* The rate limit holds the fourth message and the fourth call to one number, and sends them when the window rolls over. */
static void rate_limit_holds_the_fourth_message_and_call(void **state)
{
	static const int ok[] = {200};
	struct t_http *gw2 = t_http_start(ok, 1);
	struct t_hub h;
	char channels[512];
	static const char *const devs[][2] = {{"sos-1", "sos"}, {"smoke-1", "smoke"}, {"gas-1", "gas"}, {"leak-1", "water_leak"}};

	(void)state;
	/* An SMS gateway and a voice platform (one local server plays both), each 3 per number per 4 s. */
	snprintf(channels, sizeof(channels),
		 "{\"sms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\", \"rate_limit\": [[3, \"4s\"]]},"
		 " \"call\": {\"plugin\": \"ai_call\", \"url\": \"http://127.0.0.1:%d/calls\", \"rate_limit\": [[3, \"4s\"]]}}",
		 t_http_port(gw2), t_http_port(gw2));
	t_hub_config(&h, "smsrate", channels, T_POLICY_FAMILY("\"sms\",\"call\""), NULL);
	t_hub_start(&h, NULL);
	/* Start just after a 4 s window begins, so that all four fall in one window. */
	while (t_wall_ms() % 4000 > 300)
		t_sleep_ms(10);
	int64_t boundary = t_wall_ms() - t_wall_ms() % 4000 + 4000;
	for (size_t i = 0; i < 4; i++) {
		char json[160];
		snprintf(json, sizeof(json), "{\"device\":\"%s\",\"type\":\"%s\",\"value\":true}", devs[i][0], devs[i][1]);
		t_publish_event(devs[i][0], json);
	}
	/* Three messages and three calls at once; the fourth of each waits for the next window. */
	assert_true(t_http_wait(gw2, 6, T_DEADLINE_MS));
	while (t_wall_ms() < boundary - 300) {
		assert_int_equal(t_http_count(gw2), 6);
		t_sleep_ms(50);
	}
	assert_true(t_http_wait(gw2, 8, T_DEADLINE_MS));
	assert_true(t_wall_ms() >= boundary);
	size_t calls = 0;
	for (size_t i = 0; i < t_http_count(gw2); i++) {
		struct t_http_req rq;
		assert_true(t_http_get(gw2, i, &rq));
		calls += strcmp(rq.path, "/calls") == 0;
		t_http_req_free(&rq);
	}
	assert_int_equal(calls, 4);
	assert_true(t_hub_log_contains(&h, "waits"));
	t_hub_stop(&h);
	t_http_stop(gw2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sos_reaches_the_gateway_in_parts),
		cmocka_unit_test(rate_limit_holds_the_fourth_message_and_call),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
