/*
 * test_api_view.c - what the console is shown, built from stored documents
 * with no server: list items, most urgent first then oldest; the timeline by
 * contact name (never "notified · console · family"); who was reached and
 * what they answered; the escalation plan with its due times (and a step
 * brought forward); each device's battery, last report and offline state;
 * subject search.
 */
#include "api_view.h"
#include "alerts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct ch_contact contacts[] = {
	{.name = (char *)"李娜", .phone = (char *)"+8613800000011", .role = (char *)"family", .order = 1},
	{.name = (char *)"李强", .phone = (char *)"+8613800000012", .role = (char *)"family", .order = 2},
	{.name = (char *)"张社工", .phone = (char *)"+8613800000021", .role = (char *)"caseworker", .order = 3},
};
static struct ch_device devices[] = {
	{.id = (char *)"pir-1", .type = (char *)"motion", .location = (char *)"living room", .heartbeat_ms = 3600000},
	{.id = (char *)"sos-1", .type = (char *)"sos", .location = (char *)"bedroom"},
	{.id = (char *)"door-1", .type = (char *)"door", .location = (char *)"front door"},
};
static struct ch_subject subj = {
	.id = (char *)"s-001", .name = (char *)"王秀英", .address = (char *)"友谊路1号", .phone = (char *)"+8613800000001",
	.timezone = (char *)"Asia/Shanghai", .notes = (char *)"独居", .devices = devices, .ndevices = 3,
	.contacts = contacts, .ncontacts = 3,
};

static const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

static void items_and_order(void **state)
{
	json_t *docs = json_loads(
		"[{\"id\":\"s-001:1\",\"rule\":\"battery_low\",\"severity\":\"low\",\"state\":\"open\",\"subject\":\"s-001\","
		"\"opened_at_ms\":1000},"
		"{\"id\":\"s-001:2\",\"rule\":\"sos\",\"severity\":\"critical\",\"state\":\"open\",\"subject\":\"s-001\","
		"\"opened_at_ms\":3000,\"acknowledged_by\":\"op7\",\"acknowledged_at_ms\":3500,\"note\":\"calling\"},"
		"{\"id\":\"s-001:3\",\"rule\":\"smoke\",\"severity\":\"critical\",\"state\":\"open\",\"subject\":\"s-001\","
		"\"opened_at_ms\":2000},"
		"{\"id\":\"s-001:4\",\"rule\":\"fall\",\"severity\":\"high\",\"state\":\"open\",\"subject\":\"s-001\","
		"\"opened_at_ms\":500}]",
		0, NULL);
	json_t *items = json_array(), *d;
	size_t i;

	(void)state;
	json_array_foreach(docs, i, d)
		json_array_append_new(items, ch_view_item(d, &subj, "Asia/Shanghai"));
	ch_view_sort(items);
	/* Critical first, and among them the oldest first; then high; then low. */
	assert_string_equal(js(json_array_get(items, 0), "id"), "s-001:3");
	assert_string_equal(js(json_array_get(items, 1), "id"), "s-001:2");
	assert_string_equal(js(json_array_get(items, 2), "id"), "s-001:4");
	assert_string_equal(js(json_array_get(items, 3), "id"), "s-001:1");
	d = json_array_get(items, 1);
	assert_string_equal(js(d, "subject_name"), "王秀英");
	assert_string_equal(js(d, "address"), "友谊路1号");
	assert_string_equal(js(d, "acked_by"), "op7");
	assert_int_equal(json_integer_value(json_object_get(d, "acked_ms")), 3500);
	assert_int_equal(json_integer_value(json_object_get(d, "opened_ms")), 3000);
	assert_string_equal(js(d, "note"), "calling");
	assert_string_equal(js(d, "tz"), "Asia/Shanghai");
	assert_string_equal(js(d, "subject_id"), "s-001");
	assert_int_equal(ch_view_severity_rank("critical"), 4);
	assert_int_equal(ch_view_severity_rank("urgent"), -1);
	json_decref(items);
	json_decref(docs);
}

static void timeline_names_people(void **state)
{
	char cid[9], key[128];
	json_t *tl, *v, *reached;

	(void)state;
	ch_alert_contact_id("family", "+8613800000011", cid);
	snprintf(key, sizeof(key), "s-001:2:0:%s:sms", cid);
	char *text = malloc(4096);
	snprintf(text, 4096,
		 "[{\"ts_ms\":1,\"what\":\"opened\",\"by\":\"carehubd/a\",\"text\":\"sos from sos-1\"},"
		 "{\"ts_ms\":2,\"what\":\"notified\",\"by\":\"carehubd/a\",\"channel\":\"sms\",\"step\":0,"
		 "\"contact\":{\"name\":\"李娜\",\"role\":\"family\"},\"key\":\"%s\"},"
		 "{\"ts_ms\":3,\"what\":\"notify_failed\",\"by\":\"carehubd/a\",\"channel\":\"call\",\"step\":0,"
		 "\"contact\":{\"name\":\"李强\",\"role\":\"family\"},\"reason\":\"HTTP 400\"},"
		 "{\"ts_ms\":4,\"what\":\"acknowledged\",\"by\":\"李娜 (family)\",\"via\":\"sms\",\"dispatch\":\"%s\","
		 "\"text\":\"acknowledged by 李娜 (family) via sms\"},"
		 "{\"ts_ms\":5,\"what\":\"resolved\",\"by\":\"op7\",\"actor\":\"op7\",\"actor_role\":\"operator\","
		 "\"outcome\":\"false_alarm\",\"note\":\"按错了\",\"text\":\"resolved by op7 via api: 按错了\"},"
		 "{\"ts_ms\":6,\"what\":\"notified\",\"by\":\"carehubd/a\",\"channel\":\"sms\",\"step\":-1,"
		 "\"contact\":{\"name\":\"李娜\",\"role\":\"family\"}}]",
		 key, key);
	tl = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(tl);
	v = ch_view_timeline(tl, &subj);
	assert_int_equal(json_array_size(v), 6);
	assert_string_equal(js(json_array_get(v, 1), "text"), "told 李娜 (family) on sms");
	assert_string_equal(js(json_array_get(v, 1), "contact"), "李娜");
	assert_string_equal(js(json_array_get(v, 2), "text"), "could not reach 李强 (family) on call: HTTP 400");
	/* A contact's answer names the contact, from the notification it answers. */
	assert_string_equal(js(json_array_get(v, 3), "contact"), "李娜");
	assert_string_equal(js(json_array_get(v, 3), "channel"), "sms");
	assert_string_equal(js(json_array_get(v, 4), "actor"), "op7");
	assert_string_equal(js(json_array_get(v, 4), "actor_role"), "operator");
	assert_string_equal(js(json_array_get(v, 4), "note"), "按错了");
	assert_string_equal(js(json_array_get(v, 4), "outcome"), "false_alarm");
	assert_true(json_is_true(json_object_get(json_array_get(v, 5), "all_clear")));
	assert_string_equal(js(json_array_get(v, 5), "text"), "all clear: told 李娜 (family) on sms");
	/* Who was reached: her SMS sent and answered "on it"; his call failed; the all clear is not a reach. */
	reached = ch_view_reached(tl, &subj);
	assert_int_equal(json_array_size(reached), 2);
	assert_string_equal(js(json_array_get(reached, 0), "contact"), "李娜");
	assert_string_equal(js(json_array_get(reached, 0), "status"), "sent");
	assert_string_equal(js(json_array_get(reached, 0), "answer"), "on_it");
	assert_string_equal(js(json_array_get(reached, 1), "contact"), "李强");
	assert_string_equal(js(json_array_get(reached, 1), "status"), "failed");
	json_decref(reached);
	json_decref(v);
	json_decref(tl);
}

static void plan_says_what_comes_next(void **state)
{
	char *r0[] = {(char *)"family"}, *r1[] = {(char *)"caseworker"};
	char *ch0[] = {(char *)"sms", (char *)"call"}, *ch1[] = {(char *)"case"}, *fb[] = {(char *)"sms"};
	struct ch_policy_step steps[] = {
		{.after_ms = 0, .roles = r0, .nroles = 1, .channels = ch0, .nchannels = 2},
		{.after_ms = 600000, .roles = r1, .nroles = 1, .channels = ch1, .nchannels = 1, .fallback = fb, .nfallback = 1},
	};
	struct ch_policy pol = {.name = (char *)"p", .steps = steps, .nsteps = 2, .repeat = 1, .repeat_after_ms = 300000};
	json_t *plan;

	(void)state;
	/* Next is step 1 at its time: 10 min after opening. */
	plan = ch_view_plan(&pol, 1, 0, 1000000, &subj, 8);
	assert_int_equal(json_array_size(plan), 3); /* step 1, then the repeat's 2 and 3 */
	json_t *p = json_array_get(plan, 0);
	assert_int_equal(json_integer_value(json_object_get(p, "step")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "due_ms")), 1000000 + 600000);
	assert_string_equal(js(json_array_get(json_object_get(p, "contacts"), 0), "name"), "张社工");
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "fallback"), 0)), "sms");
	/* The repeat: after the last step's after + repeat_after. */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(plan, 1), "due_ms")), 1000000 + 900000);
	assert_int_equal(json_array_size(json_object_get(json_array_get(plan, 1), "contacts")), 2);
	json_decref(plan);
	/* Brought forward ("I need help"): due when the escalation says. */
	plan = ch_view_plan(&pol, 1, 1000500, 1000000, &subj, 1);
	assert_int_equal(json_array_size(plan), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(plan, 0), "due_ms")), 1000500);
	json_decref(plan);
	/* Nothing left (answered): an empty plan. */
	plan = ch_view_plan(NULL, 0, 0, 0, &subj, 8);
	assert_int_equal(json_array_size(plan), 0);
	json_decref(plan);
}

static void device_health(void **state)
{
	struct ch_sstate st = {0};
	struct ch_dstate ds[] = {{ch_engine_hash("pir-1"), 1000}, {ch_engine_hash("sos-1"), 5000}};
	json_t *health = json_pack("{s:s, s:s}", "sos-1|battery", "12|4000", "door-1|online", "0|4500"), *devs, *d;

	(void)state;
	st.devs = ds;
	st.ndevs = 2;
	st.created_ms = 0;
	/* An hour and a bit after the PIR was last heard: past its heartbeat. */
	devs = ch_view_devices(&subj, &st, health, 1000 + 3600000 + 1);
	d = json_array_get(devs, 0);
	assert_string_equal(js(d, "id"), "pir-1");
	assert_int_equal(json_integer_value(json_object_get(d, "last_seen_ms")), 1000);
	assert_true(json_is_true(json_object_get(d, "offline")));
	assert_true(json_is_null(json_object_get(d, "battery")));
	assert_int_equal(json_integer_value(json_object_get(d, "heartbeat_s")), 3600);
	d = json_array_get(devs, 1);
	assert_int_equal(json_integer_value(json_object_get(d, "battery")), 12);
	assert_int_equal(json_integer_value(json_object_get(d, "battery_ms")), 4000);
	assert_false(json_is_true(json_object_get(d, "offline")));
	/* The door said it is offline; never heard otherwise. */
	d = json_array_get(devs, 2);
	assert_true(json_is_null(json_object_get(d, "last_seen_ms")));
	assert_false(json_is_true(json_object_get(d, "online")));
	assert_true(json_is_true(json_object_get(d, "offline")));
	json_decref(devs);
	/* The subject as the console shows it: phones of contacts, devices. */
	json_t *s = ch_view_subject(&subj, "Asia/Shanghai", NULL);
	assert_string_equal(js(s, "phone"), "+8613800000001");
	assert_string_equal(js(json_array_get(json_object_get(s, "contacts"), 0), "phone"), "+8613800000011");
	json_decref(s);
	json_decref(health);
	/* Search: name, id, address, phone; any case. */
	assert_true(ch_view_subject_matches(&subj, "王"));
	assert_true(ch_view_subject_matches(&subj, "S-00"));
	assert_true(ch_view_subject_matches(&subj, "友谊路"));
	assert_true(ch_view_subject_matches(&subj, "0000001"));
	assert_true(ch_view_subject_matches(&subj, NULL));
	assert_false(ch_view_subject_matches(&subj, "李"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(items_and_order),
		cmocka_unit_test(timeline_names_people),
		cmocka_unit_test(plan_says_what_comes_next),
		cmocka_unit_test(device_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
