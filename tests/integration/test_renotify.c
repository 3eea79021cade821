/*
 * test_renotify.c - a new press is never swallowed (issue 11, class 1): a
 * second SOS press after the centre acknowledged re-opens the alert and tells
 * the current step's contacts and the centre again at once, under keys of its
 * own, on the timeline and on carehub/v1/alerts, and the escalation runs again
 * from that step; a burst of presses tells them once, a replayed press nobody;
 * a smoke alarm going off again on a forgotten alert tells them again once the
 * rule's minimum interval has passed; maintenance repeats (a device-health
 * rule, an event rule of category maintenance) tell nobody.
 *
 * Rules: fixtures/rules_renotify.json (sos "renotify": "1h" so the burst is
 * inside it, smoke "2s" so the test can outwait it).  Waiting out the 2 s is a
 * lower bound the test needs, not a guess at the hub's speed.
 */
#include "harness.h"
#include "alerts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* SOS: the family at once, the caseworker 3 s later; no step names the centre.
 * Fire: the family and the centre at once.  Maintenance: the family (so a
 * re-notification would show). */
#define POLICIES                                                                                             \
	"{\"by_severity\":{\"critical\":\"maint_p\",\"high\":\"maint_p\",\"medium\":\"maint_p\","               \
	"\"low\":\"maint_p\",\"info\":\"maint_p\"},\"policies\":{"                                          \
	"\"sos_p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"log\"]},"             \
	"{\"after\":\"3s\",\"roles\":[\"caseworker\"],\"channels\":[\"log\"]}]},"                            \
	"\"fire_p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\",\"centre\"],\"channels\":[\"log\"]}]}," \
	"\"maint_p\":{\"steps\":[{\"after\":\"0s\",\"roles\":[\"family\"],\"channels\":[\"log\"]}]}}}"

static struct t_hub hub;
static char notif[700];

static int setup(void **state)
{
	char rules[600];

	(void)state;
	t_mqtt_init();
	snprintf(rules, sizeof(rules), "%s/tests/integration/fixtures/rules_renotify.json", t_src_dir());
	t_hub_config(&hub, "renotify", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}", POLICIES,
		     rules);
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

static void event(const char *device, const char *id, const char *type, const char *value)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"device\":\"%s\",\"type\":\"%s\",\"value\":%s}", id, device,
		 type, value);
	t_publish_event(device, json);
}

static json_t *alert_doc(int n)
{
	char *s = t_redis_str("GET %s{s-001}:alert:%d", hub.prefix, n);
	json_t *j = s ? json_loads(s, 0, NULL) : NULL;

	free(s);
	return j;
}

static char *timeline(int n)
{
	json_t *tl = t_redis("LRANGE %s{s-001}:alert:%d:tl 0 -1", hub.prefix, n);
	char *s = json_dumps(tl, 0);

	json_decref(tl);
	return s;
}

struct doc_wait {
	int n;
	long long count;   /* at least this many occurrences */
	const char *state; /* and this state, if not NULL */
};

static bool doc_is(void *arg)
{
	struct doc_wait *w = arg;
	json_t *d = alert_doc(w->n);
	const char *st = json_string_value(json_object_get(d, "state"));
	bool ok = d && json_integer_value(json_object_get(d, "count")) >= w->count &&
		  (!w->state || (st && strcmp(st, w->state) == 0));

	json_decref(d);
	return ok;
}

struct sent_wait {
	const char *alert;
	size_t n;
};

static bool sent_n(void *arg)
{
	struct sent_wait *w = arg;
	json_t *s = t_log_notifications(notif, w->alert);
	bool ok = json_array_size(s) >= w->n;

	json_decref(s);
	return ok;
}

/* The event with this id has been through the correlator (its dedup key is in). */
static bool seen(void *arg)
{
	return t_redis_int("EXISTS %s{s-001}:dedup:pir-1|%s", hub.prefix, (const char *)arg) == 1;
}

/* Events are applied in order: once a later marker is in, so is everything before it. */
static void drain(const char *marker)
{
	event("pir-1", marker, "motion", "true");
	assert_true(t_wait(seen, (void *)marker, T_DEADLINE_MS));
}

/* The re-notification jobs ever queued for an alert (the outbox stream keeps them): their keys. */
static json_t *renotify_keys(const char *alert)
{
	json_t *out = json_array(), *x = t_redis("XRANGE %soutbox - +", hub.prefix), *e;
	size_t i;

	json_array_foreach(x, i, e) {
		json_t *f = json_array_get(e, 1);
		json_t *job = json_loads(json_string_value(json_array_get(f, 1)), 0, NULL);
		if (job && strcmp(json_string_value(json_object_get(job, "alert")), alert) == 0 &&
		    json_is_string(json_object_get(job, "renotify")))
			json_array_append(out, json_object_get(job, "key"));
		json_decref(job);
	}
	json_decref(x);
	return out;
}

static const char *role_of(json_t *n)
{
	return json_string_value(json_object_get(json_object_get(n, "contact"), "role"));
}

/* The notifications of alert whose key starts with prefix, by role: family, caseworker, centre. */
static void roles_with_prefix(const char *alert, const char *prefix, int *family, int *caseworker, int *centre)
{
	json_t *s = t_log_notifications(notif, alert), *n;
	size_t i;

	*family = *caseworker = *centre = 0;
	json_array_foreach(s, i, n) {
		const char *key = json_string_value(json_object_get(n, "id"));
		if (!key || strncmp(key, prefix, strlen(prefix)) != 0)
			continue;
		*family += strcmp(role_of(n), "family") == 0;
		*caseworker += strcmp(role_of(n), "caseworker") == 0;
		*centre += strcmp(role_of(n), "centre") == 0;
	}
	json_decref(s);
}

static bool mqtt_doc_count(void *arg)
{
	char *last = t_mqtt_last("carehub/v1/alerts/s-001");
	json_t *d = last ? json_loads(last, 0, NULL) : NULL;
	bool ok = d && json_integer_value(json_object_get(d, "count")) == *(long long *)arg &&
		  strcmp(json_string_value(json_object_get(d, "state")), "open") == 0;

	json_decref(d);
	free(last);
	return ok;
}

static void sos_pressed_again_after_ack_tells_them_again(void **state)
{
	const char *ack = "{\"alert\":\"s-001:1\",\"action\":\"ack\",\"by\":\"centre operator 7\"}";
	struct sent_wait first = {"s-001:1", 1};
	struct doc_wait acked = {1, 1, "acknowledged"}, burst = {1, 6, "open"};
	char tag[CH_RENOTIFY_TAG_LEN], prefix[64], id[32];
	int fam, cw, cen;
	long long six = 6;

	(void)state;
	event("sos-1", "sos-1:p1", "sos", "true");
	assert_true(t_wait(sent_n, &first, T_DEADLINE_MS));
	roles_with_prefix("s-001:1", "s-001:1:0:", &fam, &cw, &cen);
	assert_int_equal(fam, 1); /* the policy tells the family first, not the centre */
	assert_int_equal(cen, 0);

	t_mqtt_publish("carehub/v1/acks", ack, strlen(ack), 1);
	assert_true(t_wait(doc_is, &acked, T_DEADLINE_MS));
	/* The step the escalation is at: 0 unless this machine was so slow that step 1 (3 s) beat the ack. */
	char *g = t_redis_str("HGET %s{s-001}:esc:1 g", hub.prefix);
	int cur = g && strcmp(g, "1") == 0 ? 0 : 1;
	free(g);

	/* A bouncing button: five presses at once.  The first re-opens and tells them; the rest are counted. */
	for (int i = 2; i <= 6; i++) {
		snprintf(id, sizeof(id), "sos-1:p%d", i);
		event("sos-1", id, "sos", "true");
	}
	assert_true(t_wait(doc_is, &burst, T_DEADLINE_MS));
	json_t *d = alert_doc(1);
	assert_non_null(json_object_get(d, "reopened_at"));
	assert_null(json_object_get(d, "acknowledged_by"));
	int64_t reopened = json_integer_value(json_object_get(d, "reopened_at_ms"));
	json_decref(d);

	/* One round, keyed by the press that caused it: <alert>:<tag of sos-1:p2>:<cid>:<channel>. */
	ch_alert_renotify_tag("sos-1", "sos-1:p2", tag);
	snprintf(prefix, sizeof(prefix), "s-001:1:%s:", tag);
	json_t *keys = renotify_keys("s-001:1");
	assert_int_equal(json_array_size(keys), 2);
	for (size_t i = 0; i < json_array_size(keys); i++)
		assert_true(strncmp(json_string_value(json_array_get(keys, i)), prefix, strlen(prefix)) == 0);
	json_decref(keys);

	/* Delivered: the current step's contacts and the centre, with the step they belong to. */
	struct sent_wait told = {"s-001:1", 3};
	assert_true(t_wait(sent_n, &told, T_DEADLINE_MS));
	roles_with_prefix("s-001:1", prefix, &fam, &cw, &cen);
	assert_int_equal(fam, cur == 0 ? 1 : 0);
	assert_int_equal(cw, cur == 1 ? 1 : 0);
	assert_int_equal(cen, 1);

	/* The console sees it: the document went out again, open, with every press counted. */
	assert_true(t_wait(mqtt_doc_count, &six, T_DEADLINE_MS));
	assert_true(t_hub_log_contains(&hub, "alert s-001:1: occurrence 2, people told again; re-opened"));
	char *tl = timeline(1);
	assert_non_null(strstr(tl, "acknowledged by centre operator 7"));
	assert_non_null(strstr(tl, "pressed again, 2 presses in all"));
	assert_non_null(strstr(tl, "pressed again, 6 presses in all"));
	assert_non_null(strstr(tl, "re-opened (it was acknowledged by centre operator 7): the escalation goes on"));
	assert_non_null(strstr(tl, "told again at once: step"));
	assert_non_null(strstr(tl, "not told again"));
	free(tl);

	if (cur == 0) {
		/* The escalation runs again from step 0: step 1 comes its 3 s after the re-opening. */
		char *sc = t_redis_str("ZSCORE %sescalations s-001:1", hub.prefix);
		assert_non_null(sc);
		assert_int_equal(strtoll(sc, NULL, 10), reopened + 3000);
		free(sc);
		struct sent_wait step1 = {"s-001:1", 4};
		assert_true(t_wait(sent_n, &step1, T_DEADLINE_MS));
		assert_true(t_wall_ms() >= reopened + 2900);
		roles_with_prefix("s-001:1", "s-001:1:1:", &fam, &cw, &cen);
		assert_int_equal(cw, 1);
	}

	/* The same press replayed (a bridge, a restart): counted once already, nobody told. */
	long long xlen = t_redis_int("XLEN %soutbox", hub.prefix);
	event("sos-1", "sos-1:p2", "sos", "true");
	drain("mk-1");
	assert_int_equal(t_redis_int("XLEN %soutbox", hub.prefix), xlen);
	d = alert_doc(1);
	assert_int_equal(json_integer_value(json_object_get(d, "count")), 6);
	json_decref(d);
}

static void smoke_again_on_a_forgotten_alert_tells_them_again(void **state)
{
	struct sent_wait first = {"s-001:2", 2}, again = {"s-001:2", 4};
	struct doc_wait two = {2, 2, "open"}, three = {2, 3, "open"};
	char tag[CH_RENOTIFY_TAG_LEN], prefix[64];
	int fam, cw, cen;

	(void)state;
	event("smoke-1", "sm-1", "smoke", "true");
	assert_true(t_wait(sent_n, &first, T_DEADLINE_MS));
	/* At once again: inside the rule's 2 s, counted and not told. */
	event("smoke-1", "sm-2", "smoke", "true");
	assert_true(t_wait(doc_is, &two, T_DEADLINE_MS));
	json_t *keys = renotify_keys("s-001:2");
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);

	/* Nobody answered; the alarm goes off again after the interval. */
	t_sleep_ms(2100);
	event("smoke-1", "sm-3", "smoke", "true");
	assert_true(t_wait(doc_is, &three, T_DEADLINE_MS));
	assert_true(t_wait(sent_n, &again, T_DEADLINE_MS));
	ch_alert_renotify_tag("smoke-1", "sm-3", tag);
	snprintf(prefix, sizeof(prefix), "s-001:2:%s:", tag);
	roles_with_prefix("s-001:2", prefix, &fam, &cw, &cen);
	/* The step names the centre: told once, not twice. */
	assert_int_equal(fam, 1);
	assert_int_equal(cen, 1);
	assert_int_equal(cw, 0);
	json_t *d = alert_doc(2);
	assert_null(json_object_get(d, "reopened_at")); /* never acknowledged: nothing to re-open */
	json_decref(d);
	char *tl = timeline(2);
	assert_non_null(strstr(tl, "again, 3 times in all"));
	assert_non_null(strstr(tl, "told again at once: step 0, family, centre (2 notifications)"));
	free(tl);
}

static void maintenance_repeats_tell_nobody(void **state)
{
	struct sent_wait first = {"s-001:3", 1};
	json_t *d;

	(void)state;
	event("pir-1", "b-1", "battery", "10");
	assert_true(t_wait(sent_n, &first, T_DEADLINE_MS));
	d = alert_doc(3);
	assert_string_equal(json_string_value(json_object_get(d, "rule")), "battery_low");
	json_decref(d);
	long long xlen = t_redis_int("XLEN %soutbox", hub.prefix);
	event("pir-1", "b-2", "battery", "9");
	event("pir-1", "b-3", "battery", "8");
	drain("mk-2");
	assert_int_equal(t_redis_int("XLEN %soutbox", hub.prefix), xlen);
	json_t *keys = renotify_keys("s-001:3");
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);
	json_t *s = t_log_notifications(notif, "s-001:3");
	assert_int_equal(json_array_size(s), 1);
	json_decref(s);

	/* An event rule of category maintenance: its repeat is counted, and nobody is told. */
	struct sent_wait tamper = {"s-001:4", 1};
	struct doc_wait twice = {4, 2, "open"};
	event("pir-1", "t-1", "tamper", "true");
	assert_true(t_wait(sent_n, &tamper, T_DEADLINE_MS));
	event("pir-1", "t-2", "tamper", "true");
	assert_true(t_wait(doc_is, &twice, T_DEADLINE_MS));
	drain("mk-3");
	keys = renotify_keys("s-001:4");
	assert_int_equal(json_array_size(keys), 0);
	json_decref(keys);
	char *tl = timeline(4);
	assert_non_null(strstr(tl, "again, 2 times in all"));
	assert_null(strstr(tl, "told again")); /* not even considered: no "not told again" either */
	free(tl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sos_pressed_again_after_ack_tells_them_again),
		cmocka_unit_test(smoke_again_on_a_forgotten_alert_tells_them_again),
		cmocka_unit_test(maintenance_repeats_tell_nobody),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
