/*
 * test_family_messages.c - what a family reads and how they answer, through a
 * local SMS gateway and signed inbound callbacks into a real carehubd:
 *   - a daughter's SMS says who, what, where (the room in Chinese), when,
 *     what to do, the centre's number and "reply 1 / 2", all in Chinese;
 *   - her brother in London gets it in English throughout (the room's English
 *     name, never a Chinese one) on his own clock, with the zone shown;
 *   - her reply "1" acknowledges the alert as her, and the next step never
 *     goes out; his "２" (full-width) brings the next step forward at once;
 *   - a reply from a number that was told nothing changes nothing; an
 *     unsigned one is refused;
 *   - the all clear carries the outcome and the operator's note, in each one's
 *     language.
 */
#include "api_client.h"
#include "harness.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SECRET "family-callback-secret"
#define TOKEN "family-admin-token"
#define DAUGHTER "+8613900000011"
#define SON "+447700900123"
#define CASEWORKER "+8613800000021"

/* The family at once by SMS; the caseworker a minute later (unless someone is on it). */
#define POLICY                                                                                                     \
	"{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"      \
	"\"policies\":{\"p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"sms\"]},"        \
	"{\"after\":\"60s\",\"roles\":[\"caseworker\"],\"channels\":[\"sms\"]}]}}}"

static struct t_hub hub;
static struct t_http *gateway;
static int port;
static struct t_resp r;

static int setup(void **state)
{
	static const int ok[] = {200};
	char chans[1024], ov_port[64], ov_reg[600];
	const char *ov[] = {"http.enabled=true", ov_port, ov_reg, "http.token_env=CH_TEST_FAMILY_TOKEN",
			    "centre_phone=021-12345678", NULL};

	(void)state;
	setenv("CH_TEST_FAMILY_SECRET", SECRET, 1);
	setenv("CH_TEST_FAMILY_TOKEN", TOKEN, 1);
	gateway = t_http_start(ok, 1);
	t_http_reply(gateway, "{\"id\":\"msg-%d\"}");
	port = t_free_port();
	snprintf(chans, sizeof(chans),
		 "{\"sms\": {\"plugin\": \"sms\", \"url\": \"http://127.0.0.1:%d/sms\", \"secret_env\": \"CH_TEST_FAMILY_SECRET\","
		 " \"callback_url\": \"http://127.0.0.1:%d/v1/callbacks/sms\"}}",
		 t_http_port(gateway), port);
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	snprintf(ov_reg, sizeof(ov_reg), "registry.file=%s/tests/integration/fixtures/registry_family.json", t_src_dir());
	t_mqtt_init();
	t_hub_config(&hub, "family", chans, POLICY, NULL);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	t_http_stop(gateway);
	return 0;
}

/* The text of the latest SMS the gateway got for number, containing must (NULL: any); malloc'ed or NULL. */
static char *sms_to(const char *number, const char *must)
{
	char *found = NULL;

	for (size_t i = 0; i < t_http_count(gateway); i++) {
		struct t_http_req q;
		json_t *j;
		if (!t_http_get(gateway, i, &q))
			continue;
		j = json_loads(q.body, 0, NULL);
		const char *to = json_string_value(json_object_get(j, "to"));
		const char *text = json_string_value(json_object_get(j, "text"));
		if (to && text && strcmp(to, number) == 0 && (!must || strstr(text, must))) {
			free(found);
			found = strdup(text);
		}
		json_decref(j);
		t_http_req_free(&q);
	}
	return found;
}

struct sms_wait {
	const char *number, *must;
};

static bool has_sms(void *arg)
{
	struct sms_wait *w = arg;
	char *t = sms_to(w->number, w->must);

	free(t);
	return t != NULL;
}

/* A signed inbound SMS from number saying text; the HTTP status. */
static long reply(const char *number, const char *text, bool sign)
{
	char body[256], ts[32], sig[65], hts[64], hsig[128];
	const char *h[] = {"Content-Type: application/json", hts, hsig, NULL};

	snprintf(body, sizeof(body), "{\"type\":\"inbound\",\"from\":\"%s\",\"text\":\"%s\",\"message_id\":\"in-1\"}",
		 number, text);
	snprintf(ts, sizeof(ts), "%lld", (long long)(t_wall_ms() / 1000));
	ch_http_sign_hmac(SECRET, ts, body, strlen(body), sig);
	snprintf(hts, sizeof(hts), "X-Carehub-Timestamp: %s", ts);
	snprintf(hsig, sizeof(hsig), "X-Carehub-Signature: %s", sig);
	if (!sign)
		h[1] = NULL;
	return t_api(port, "POST", "/v1/callbacks/sms", h, body, &r);
}

struct state_wait {
	const char *id, *state;
};

static bool alert_is(void *arg)
{
	struct state_wait *w = arg;
	char path[128];
	json_t *j;
	bool ok;

	snprintf(path, sizeof(path), "/v1/alerts/%s", w->id);
	if (t_api_token(port, TOKEN, "GET", path, NULL, &r) != 200)
		return false;
	j = json_loads(r.body, 0, NULL);
	ok = json_string_value(json_object_get(j, "state")) &&
	     strcmp(json_string_value(json_object_get(j, "state")), w->state) == 0;
	json_decref(j);
	return ok;
}

static void each_reads_it_in_their_language(void **state)
{
	struct sms_wait d = {DAUGHTER, "烟雾报警"}, s = {SON, "smoke alarm"};
	char *zh, *en;

	(void)state;
	t_publish_event("smoke-f", "{\"device\":\"smoke-f\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(has_sms, &d, T_DEADLINE_MS));
	assert_true(t_wait(has_sms, &s, T_DEADLINE_MS));
	zh = sms_to(DAUGHTER, NULL);
	en = sms_to(SON, NULL);
	print_message("daughter: %s\nson: %s\n", zh, en);
	/* Who, what, where, when, what to do, whom to call, how to answer: in Chinese. */
	assert_non_null(strstr(zh, "【紧急】王秀英家厨房烟雾报警，"));
	assert_non_null(strstr(zh, "地址上海市宝山区测试路1号101室"));
	assert_non_null(strstr(zh, "请立即打电话并尽快赶到；如有火情请拨打119。"));
	assert_non_null(strstr(zh, "监护中心021-12345678"));
	assert_non_null(strstr(zh, "回复1表示您来处理，回复2请求支援"));
	assert_null(strstr(zh, "kitchen"));
	/* English throughout, on his clock: the room's English name, no Chinese one, the zone shown. */
	assert_non_null(strstr(en, "[Critical] smoke alarm at 王秀英's home (kitchen), "));
	assert_non_null(strstr(en, " (UTC+"));
	assert_non_null(strstr(en, "Centre: 021-12345678."));
	assert_non_null(strstr(en, "Reply 1 if you are on it, 2 if you need help."));
	assert_null(strstr(en, "厨房"));
	free(zh);
	free(en);
	/* The console's summary names the room in the pack's language, not "kitchen烟感报警". */
	assert_int_equal(t_api_token(port, TOKEN, "GET", "/v1/alerts/s-fam:1", NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"summary\":\"厨房烟感报警\""));
}

static void her_one_says_she_is_on_it(void **state)
{
	struct state_wait w = {"s-fam:1", "acknowledged"};
	json_t *j;

	(void)state;
	/* Unsigned: refused, changes nothing. */
	assert_int_equal(reply(DAUGHTER, "1", false), 401);
	/* A number that was told nothing: taken (so the gateway stops resending) and ignored. */
	assert_int_equal(reply("+8613700000000", "1", true), 200);
	assert_non_null(strstr(r.body, "\"action\":\"none\""));
	assert_int_equal(reply(DAUGHTER, " 1 ", true), 200);
	assert_non_null(strstr(r.body, "\"action\":\"ack\""));
	assert_true(t_wait(alert_is, &w, T_DEADLINE_MS));
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "acked_by")), "李娜 (family)");
	/* Nothing more comes: the caseworker's step is gone from the plan. */
	assert_int_equal(json_array_size(json_object_get(j, "plan")), 0);
	/* Her answer is beside her name in who was reached. */
	char *s = json_dumps(json_object_get(j, "reached"), 0);
	assert_non_null(strstr(s, "\"answer\": \"on_it\""));
	free(s);
	json_decref(j);
}

static void his_two_asks_for_help_at_once(void **state)
{
	struct sms_wait sos = {SON, "SOS button"}, cw = {CASEWORKER, "紧急呼叫"};
	int64_t t0;

	(void)state;
	t_publish_event("sos-f", "{\"device\":\"sos-f\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(has_sms, &sos, T_DEADLINE_MS));
	t0 = t_now_ms();
	/* "２" (full-width, as a Chinese keyboard types it) is "I need help": the next step now, not in 60 s. */
	assert_int_equal(reply(SON, "２", true), 200);
	assert_non_null(strstr(r.body, "\"action\":\"escalate\""));
	assert_true(t_wait(has_sms, &cw, 20000));
	print_message("\"2\" -> the caseworker told in %lld ms (the step was due in 60 s)\n",
		      (long long)(t_now_ms() - t0));
	assert_true(t_now_ms() - t0 < 30000);
}

static void the_all_clear_says_how_it_ended(void **state)
{
	struct state_wait w = {"s-fam:2", "resolved"};
	struct sms_wait zh = {DAUGHTER, "已解除"}, en = {SON, "All clear"};
	char *t;

	(void)state;
	assert_int_equal(t_api_token(port, TOKEN, "POST", "/v1/alerts/s-fam:2/resolve",
				     "{\"outcome\":\"false_alarm\",\"note\":\"pressed by mistake, she is fine\"}", &r),
			 202);
	assert_true(t_wait(alert_is, &w, T_DEADLINE_MS));
	assert_true(t_wait(has_sms, &zh, T_DEADLINE_MS));
	assert_true(t_wait(has_sms, &en, T_DEADLINE_MS));
	t = sms_to(DAUGHTER, "已解除");
	assert_non_null(strstr(t, "结果：误报。说明：pressed by mistake, she is fine"));
	free(t);
	t = sms_to(SON, "All clear");
	assert_non_null(strstr(t, "Outcome: false alarm. Note: pressed by mistake, she is fine"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_reads_it_in_their_language),
		cmocka_unit_test(her_one_says_she_is_on_it),
		cmocka_unit_test(his_two_asks_for_help_at_once),
		cmocka_unit_test(the_all_clear_says_how_it_ended),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
