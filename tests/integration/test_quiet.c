/*
 * test_quiet.c - quiet hours: a contact inside their quiet hours is not told
 * of a medium alert (a water leak) until they end, while a critical one (a
 * smoke alarm) reaches them at once; a held notification is sent when the quiet hours end
 * if the alert is still open, and dropped, on the timeline, if someone
 * answered it meanwhile; a resolve sends the all clear to exactly those told.  The quiet window is written around the current
 * time; its end is then brought forward in Redis instead of waiting for it.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define POLICY                                                                                                  \
	"{\"by_severity\":{\"critical\":\"p\",\"high\":\"p\",\"medium\":\"p\",\"low\":\"p\",\"info\":\"p\"},"    \
	"\"policies\":{\"p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\",\"caseworker\"],"          \
	"\"channels\":[\"log\"]}]}}}"

static struct t_hub hub;
static char notif[700];

/* Quiet hours from 30 minutes ago to 30 minutes ahead, as "HH:MM-HH:MM" in Shanghai. */
static void quiet_now(char out[16])
{
	int64_t m = (t_wall_ms() / 60000 + 8 * 60) % 1440; /* minute of the day in Shanghai */
	int s = (int)((m + 1440 - 30) % 1440), e = (int)((m + 30) % 1440);

	snprintf(out, 16, "%02d:%02d-%02d:%02d", s / 60, s % 60, e / 60, e % 60);
}

/* Writes the registry text into the hub's directory and starts the hub with it. */
static void start_with_registry(struct t_hub *h, const char *registry)
{
	char reg[700], ov[760];
	FILE *f;

	snprintf(reg, sizeof(reg), "%s/registry.json", h->dir);
	f = fopen(reg, "w");
	assert_non_null(f);
	fputs(registry, f);
	fclose(f);
	snprintf(ov, sizeof(ov), "registry.file=%s", reg);
	const char *ovs[] = {ov, NULL};
	t_hub_start(h, ovs);
}

static int setup(void **state)
{
	char text[2048], quiet[16];

	(void)state;
	t_mqtt_init();
	t_hub_config(&hub, "quiet", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}", POLICY, NULL);
	snprintf(notif, sizeof(notif), "%s/n.jsonl", hub.dir);
	quiet_now(quiet);
	snprintf(text, sizeof(text),
		 "{\"subjects\":[{\"id\":\"q-1\",\"name\":\"q\",\"address\":\"a\",\"phone\":\"+8613800000000\","
		 "\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"q-smoke\",\"type\":\"smoke\",\"location\":\"kitchen\"},"
		 "{\"id\":\"q-leak\",\"type\":\"water_leak\",\"location\":\"bathroom\"}],\"contacts\":["
		 "{\"name\":\"daughter\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1,"
		 "\"quiet_hours\":\"%s\"},"
		 "{\"name\":\"caseworker\",\"phone\":\"+8613800000002\",\"role\":\"caseworker\",\"order\":2}]}]}",
		 quiet);
	start_with_registry(&hub, text);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

/* Roles told about an alert, in order, as "family,caseworker,". */
static void told(const char *alert, char *out, size_t len)
{
	json_t *all = t_log_notifications(notif, alert), *n;
	size_t i;

	out[0] = '\0';
	json_array_foreach(all, i, n) {
		const char *role = json_string_value(json_object_get(json_object_get(n, "contact"), "role"));
		if (role && strlen(out) + strlen(role) + 2 < len) {
			strcat(out, role);
			strcat(out, ",");
		}
	}
	json_decref(all);
}

struct told_wait {
	const char *alert, *want;
};

static bool told_is(void *arg)
{
	struct told_wait *w = arg;
	char got[256];

	told(w->alert, got, sizeof(got));
	return strcmp(got, w->want) == 0;
}

/* How many notifications of an alert were the all clear. */
static size_t all_clears(const char *alert)
{
	json_t *all = t_log_notifications(notif, alert), *n;
	size_t i, k = 0;

	json_array_foreach(all, i, n) {
		const char *id = json_string_value(json_object_get(n, "id"));
		const char *text = json_string_value(json_object_get(n, "text"));
		/* The all clear's key says so, and its default text too. */
		k += id && strstr(id, ":clear:") != NULL && text && strstr(text, "【已解除】") != NULL;
	}
	json_decref(all);
	return k;
}

struct clear_wait {
	const char *alert;
	size_t n;
};

static bool clears_are(void *arg)
{
	struct clear_wait *w = arg;
	return all_clears(w->alert) == w->n;
}

/* Brings the end of every held job's quiet hours to now. */
static void end_quiet_hours(void)
{
	json_t *held = t_redis("ZRANGE %sheld 0 -1", hub.prefix);
	size_t i;
	json_t *m;

	json_array_foreach(held, i, m)
		json_decref(t_redis("ZADD %sheld XX %lld %s", hub.prefix, (long long)t_wall_ms() - 1, json_string_value(m)));
	json_decref(held);
}

static void quiet_hours_hold_a_leak_not_a_smoke_alarm(void **state)
{
	struct told_wait leak = {"q-1:1", "caseworker,"}, smoke = {"q-1:2", "family,caseworker,"};
	char got[256];

	(void)state;
	t_publish_event("q-leak", "{\"device\":\"q-leak\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(told_is, &leak, T_DEADLINE_MS));
	/* The daughter's notification waits for the end of her quiet hours, 25-35 minutes away. */
	assert_int_equal(t_redis_int("ZCARD %sheld", hub.prefix), 1);
	json_t *h = t_redis("ZRANGE %sheld 0 -1 WITHSCORES", hub.prefix);
	long long until = atoll(json_string_value(json_array_get(h, 1)));
	assert_true(until > t_wall_ms() + 25 * 60000LL && until < t_wall_ms() + 36 * 60000LL);
	json_decref(h);

	t_publish_event("q-smoke", "{\"device\":\"q-smoke\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(told_is, &smoke, T_DEADLINE_MS));

	/* Her quiet hours end with the leak still open: she is told then. */
	end_quiet_hours();
	leak.want = "caseworker,family,";
	assert_true(t_wait(told_is, &leak, T_DEADLINE_MS));
	json_t *tl = t_redis("LRANGE %s{q-1}:alert:1:tl 0 -1", hub.prefix);
	char *s = json_dumps(tl, 0);
	assert_non_null(strstr(s, "quiet hours over: family on log"));
	free(s);
	json_decref(tl);
	told("q-1:2", got, sizeof(got));
	assert_string_equal(got, "family,caseworker,");

	/* Resolved: both who were told get the all clear, once each. */
	const char *res = "{\"alert\":\"q-1:1\",\"action\":\"resolve\",\"by\":\"caseworker\",\"outcome\":\"genuine\"}";
	struct clear_wait cw = {"q-1:1", 2};
	t_mqtt_publish("carehub/v1/acks", res, strlen(res), 1);
	assert_true(t_wait(clears_are, &cw, T_DEADLINE_MS));
	told("q-1:1", got, sizeof(got));
	assert_true(strcmp(got, "caseworker,family,caseworker,family,") == 0 ||
		    strcmp(got, "caseworker,family,family,caseworker,") == 0);
}

static void answered_during_quiet_hours_is_not_sent(void **state)
{
	const char *res3 = "{\"alert\":\"q-1:3\",\"action\":\"resolve\",\"by\":\"caseworker\",\"outcome\":\"genuine\"}";
	struct told_wait leak = {"q-1:3", "caseworker,"};

	(void)state;
	t_publish_event("q-leak", "{\"device\":\"q-leak\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(told_is, &leak, T_DEADLINE_MS));
	t_mqtt_publish("carehub/v1/acks", res3, strlen(res3), 1);
	t_sleep_ms(500);
	end_quiet_hours();
	/* Dropped, and said so on the timeline; she is never told of an answered leak. */
	for (int i = 0; i < 100 && t_redis_int("ZCARD %sheld", hub.prefix) > 0; i++)
		t_sleep_ms(50);
	assert_int_equal(t_redis_int("ZCARD %sheld", hub.prefix), 0);
	t_sleep_ms(300);
	/* Only the caseworker was told, so only the caseworker gets the all clear. */
	struct clear_wait cw = {"q-1:3", 1};
	assert_true(t_wait(clears_are, &cw, T_DEADLINE_MS));
	char got[256];
	told("q-1:3", got, sizeof(got));
	assert_string_equal(got, "caseworker,caseworker,");
	json_t *tl = t_redis("LRANGE %s{q-1}:alert:3:tl 0 -1", hub.prefix);
	char *s = json_dumps(tl, 0);
	assert_non_null(strstr(s, "answered during quiet hours, not sent"));
	free(s);
	json_decref(tl);
}

static bool held_is(void *arg)
{
	const struct t_hub *h = arg;

	return t_redis_int("ZCARD %sheld", h->prefix) == 1;
}

/*
 * Falling back to the next relative keeps her quiet hours: the son (first in
 * order) cannot be reached, his sister is in her quiet hours, and a leak is
 * not worth waking her: the fallback waits in the held set until they end.
 */
static void a_fallback_to_the_next_contact_keeps_her_quiet_hours(void **state)
{
	static const int refused[] = {400};
	struct t_http *dead = t_http_start(refused, 1);
	struct t_hub h;
	char chans[256], text[2048], quiet[16];

	(void)state;
	snprintf(chans, sizeof(chans), "{\"dead\": {\"plugin\": \"webhook\", \"url\": \"http://127.0.0.1:%d/hook\"}}",
		 t_http_port(dead));
	t_hub_config(&h, "quietfb", chans,
		     "{\"by_severity\":{\"critical\":\"m\",\"high\":\"m\",\"medium\":\"m\",\"low\":\"m\",\"info\":\"m\"},"
		     "\"policies\":{\"m\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"dead\"],"
		     "\"contacts\":\"first\"}]}}}",
		     NULL);
	quiet_now(quiet);
	snprintf(text, sizeof(text),
		 "{\"subjects\":[{\"id\":\"q-2\",\"name\":\"q\",\"address\":\"a\",\"phone\":\"+8613800000000\","
		 "\"timezone\":\"Asia/Shanghai\",\"devices\":[{\"id\":\"q2-leak\",\"type\":\"water_leak\",\"location\":\"bathroom\"}],"
		 "\"contacts\":[{\"name\":\"son\",\"phone\":\"+8613800000003\",\"role\":\"family\",\"order\":0},"
		 "{\"name\":\"daughter\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1,"
		 "\"quiet_hours\":\"%s\"}]}]}",
		 quiet);
	start_with_registry(&h, text);

	t_publish_event("q2-leak", "{\"device\":\"q2-leak\",\"type\":\"water_leak\",\"value\":true}");
	assert_true(t_wait(held_is, &h, T_DEADLINE_MS));
	json_t *held = t_redis("ZRANGE %sheld 0 -1 WITHSCORES", h.prefix);
	const char *job = json_string_value(json_array_get(held, 0));
	assert_non_null(strstr(job, "\"name\":\"daughter\""));
	long long until = atoll(json_string_value(json_array_get(held, 1)));
	assert_true(until > t_wall_ms() + 25 * 60000LL && until < t_wall_ms() + 36 * 60000LL);
	/* Only the son was tried. */
	assert_int_equal(t_http_count(dead), 1);

	/* Her quiet hours end: she is tried then. */
	json_decref(t_redis("ZADD %sheld XX %lld %s", h.prefix, (long long)t_wall_ms() - 1, job));
	json_decref(held);
	assert_true(t_http_wait(dead, 2, T_DEADLINE_MS));
	t_hub_stop(&h);
	t_http_stop(dead);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quiet_hours_hold_a_leak_not_a_smoke_alarm),
		cmocka_unit_test(answered_during_quiet_hours_is_not_sent),
		cmocka_unit_test(a_fallback_to_the_next_contact_keeps_her_quiet_hours),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
