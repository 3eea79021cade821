/*
 * test_alerts_renotify.c - the pure decisions behind telling people again
 * when an open alert's event comes again (a second SOS press): which rules
 * do it and how often (the rules file's "renotify"), who is told (the
 * current step's contacts and the centre), under which keys (one set per
 * occurrence, the same for a replay), how the schedule goes on, and how a
 * failed re-notification falls back under its own key.  Which step is
 * current and whether the interval has passed are the store's (Lua); the
 * integration test test_renotify covers those.
 */
#include "alerts.h"
#include "rules.h"
#include "tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct ch_contact contacts[] = {
	{.name = (char *)"Li", .phone = (char *)"+8613800000011", .role = (char *)"family", .order = 1,
	 .quiet_hours = (char *)"22:00-07:00"},
	{.name = (char *)"Zhang", .phone = (char *)"+8613800000021", .role = (char *)"caseworker", .order = 2},
	{.name = (char *)"Centre", .phone = (char *)"+862100000000", .role = (char *)"centre", .order = 3},
};
static struct ch_subject subj = {.id = (char *)"s-001", .name = (char *)"Wang", .contacts = contacts,
				 .ncontacts = 3};

/* 2026-11-02T23:30+08:00: inside Li's quiet hours. */
static const int64_t night = 1793548800000LL + 23 * 3600000LL + 1800000LL;

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static const char *role(json_t *job)
{
	return jstr(json_object_get(job, "contact"), "role");
}

static const struct ch_tz *shanghai(void)
{
	const struct ch_tz *tz = NULL;
	char err[256];

	assert_int_equal(ch_tz_get("Asia/Shanghai", &tz, err, sizeof(err)), 0);
	return tz;
}

static json_t *step_jobs(json_t *rn, size_t i)
{
	return json_object_get(json_array_get(json_object_get(rn, "steps"), i), "jobs");
}

static void current_step_and_the_centre_on_its_channels(void **state)
{
	char *fam[] = {(char *)"family"}, *cw[] = {(char *)"caseworker"}, *ctr[] = {(char *)"centre"};
	char *sms[] = {(char *)"sms"}, *call[] = {(char *)"call"}, *console[] = {(char *)"console"};
	char *fb[] = {(char *)"sms"};
	struct ch_policy_step steps[] = {
		{.after_ms = 0, .roles = fam, .nroles = 1, .channels = sms, .nchannels = 1},
		{.after_ms = 120000, .roles = ctr, .nroles = 1, .channels = console, .nchannels = 1,
		 .fallback = fb, .nfallback = 1},
		{.after_ms = 600000, .roles = cw, .nroles = 1, .channels = call, .nchannels = 1},
	};
	struct ch_policy pol = {.name = (char *)"p", .steps = steps, .nsteps = 3, .repeat = 1,
				.repeat_after_ms = 300000};
	json_t *rn, *jobs;

	(void)state;
	rn = ch_alert_renotify(&pol, &subj, shanghai(), CH_SEV_CRITICAL, 30000, "r0123456789ab", night);
	assert_non_null(rn);
	assert_int_equal(json_integer_value(json_object_get(rn, "every")), 30000);
	assert_string_equal(jstr(rn, "tag"), "r0123456789ab");
	assert_int_equal(json_integer_value(json_object_get(rn, "total")), 6);
	assert_int_equal(json_integer_value(json_object_get(rn, "cycle")), 900000);
	assert_int_equal(json_array_size(json_object_get(rn, "steps")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(rn, "steps"), 1), "after")),
			 120000);

	/* Step 0: the family, and the centre the way the policy reaches it (step 1: console, sms fallback). */
	jobs = step_jobs(rn, 0);
	assert_int_equal(json_array_size(jobs), 2);
	assert_string_equal(role(json_array_get(jobs, 0)), "family");
	assert_string_equal(jstr(json_array_get(jobs, 0), "channel"), "sms");
	assert_string_equal(role(json_array_get(jobs, 1)), "centre");
	assert_string_equal(jstr(json_array_get(jobs, 1), "channel"), "console");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(jobs, 1), "fallback"), 0)),
			    "sms");
	/* Every job carries the occurrence's tag; critical breaks quiet hours. */
	for (size_t i = 0; i < json_array_size(jobs); i++) {
		assert_string_equal(jstr(json_array_get(jobs, i), "renotify"), "r0123456789ab");
		assert_null(json_object_get(json_array_get(jobs, i), "hold_until"));
	}
	/* Step 1 names the centre itself: told once, not twice. */
	jobs = step_jobs(rn, 1);
	assert_int_equal(json_array_size(jobs), 1);
	assert_string_equal(role(json_array_get(jobs, 0)), "centre");
	/* Step 2: the caseworker and the centre. */
	jobs = step_jobs(rn, 2);
	assert_int_equal(json_array_size(jobs), 2);
	assert_string_equal(role(json_array_get(jobs, 0)), "caseworker");
	assert_string_equal(role(json_array_get(jobs, 1)), "centre");
	assert_string_equal(jstr(json_array_get(jobs, 1), "channel"), "console");
	json_decref(rn);
}

static void no_centre_in_the_policy_means_the_current_steps_channels(void **state)
{
	char *fam[] = {(char *)"family"}, *chans[] = {(char *)"sms", (char *)"call"};
	struct ch_policy_step step = {.roles = fam, .nroles = 1, .channels = chans, .nchannels = 2};
	struct ch_policy pol = {.name = (char *)"p", .steps = &step, .nsteps = 1};
	json_t *rn, *jobs;

	(void)state;
	rn = ch_alert_renotify(&pol, &subj, shanghai(), CH_SEV_MEDIUM, 0, "r000000000001", night);
	jobs = step_jobs(rn, 0);
	/* Li on sms and call, the centre on sms and call. */
	assert_int_equal(json_array_size(jobs), 4);
	assert_string_equal(role(json_array_get(jobs, 2)), "centre");
	assert_string_equal(jstr(json_array_get(jobs, 2), "channel"), "sms");
	assert_string_equal(jstr(json_array_get(jobs, 3), "channel"), "call");
	/* Medium keeps Li's quiet hours (held till 07:00); the centre has none. */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "hold_until")),
			 1793548800000LL + 31 * 3600000LL);
	assert_null(json_object_get(json_array_get(jobs, 2), "hold_until"));
	assert_int_equal(json_integer_value(json_object_get(rn, "total")), 1);
	json_decref(rn);

	/* A subject without a centre contact: the step's contacts only. */
	struct ch_subject lone = {.id = (char *)"s-2", .name = (char *)"x", .contacts = contacts, .ncontacts = 2};
	rn = ch_alert_renotify(&pol, &lone, shanghai(), CH_SEV_HIGH, 0, "r000000000001", night);
	assert_int_equal(json_array_size(step_jobs(rn, 0)), 2);
	json_decref(rn);
	assert_null(ch_alert_renotify(NULL, &subj, NULL, CH_SEV_HIGH, 0, "r1", night));
}

static void tag_is_per_event_and_stable(void **state)
{
	char a[CH_RENOTIFY_TAG_LEN], b[CH_RENOTIFY_TAG_LEN], c[CH_RENOTIFY_TAG_LEN], d[CH_RENOTIFY_TAG_LEN];

	(void)state;
	ch_alert_renotify_tag("sos-1", "sos-1:2", a);
	ch_alert_renotify_tag("sos-1", "sos-1:2", b);
	ch_alert_renotify_tag("sos-1", "sos-1:3", c);
	ch_alert_renotify_tag("sos-2", "sos-1:2", d);
	assert_string_equal(a, b); /* a replay: the same keys, never sent twice */
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_int_equal(strlen(a), 13);
	assert_int_equal(a[0], 'r');
	assert_int_equal(strspn(a + 1, "0123456789abcdef"), 12);
	/* Never a number: it cannot be taken for a step of the policy. */
	assert_true(strchr(a, ':') == NULL);
}

static void schedule_gap_goes_on_from_the_current_step(void **state)
{
	char *roles[] = {(char *)"family"}, *chans[] = {(char *)"sms"};
	struct ch_policy_step steps[] = {
		{.after_ms = 0, .roles = roles, .nroles = 1, .channels = chans, .nchannels = 1},
		{.after_ms = 180000, .roles = roles, .nroles = 1, .channels = chans, .nchannels = 1},
	};
	struct ch_policy pol = {.name = (char *)"p", .steps = steps, .nsteps = 2, .repeat = 1,
				.repeat_after_ms = 300000};

	(void)state;
	assert_int_equal(ch_policy_step_gap_ms(&pol, 0), 180000);
	/* From a round's last step to the next round's first: repeat_after plus the first's after. */
	assert_int_equal(ch_policy_step_gap_ms(&pol, 1), 300000);
	assert_int_equal(ch_policy_step_gap_ms(&pol, 2), 180000);
}

static void failed_renotification_falls_back_under_its_own_key(void **state)
{
	json_t *job = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:[s], s:{s:s, s:s}}", "alert", "s-001:4", "key",
				"s-001:4:r0123456789ab:aaaabbbb:call", "step", 2, "cid", "aaaabbbb", "channel", "call",
				"renotify", "r0123456789ab", "fallback", "sms", "contact", "role", "family", "name",
				"Li");
	json_t *next = ch_alert_next_job(job);

	(void)state;
	assert_non_null(next);
	/* Not s-001:4:2:...: that is the step's own key, sent or failed already. */
	assert_string_equal(jstr(next, "key"), "s-001:4:r0123456789ab:aaaabbbb:sms");
	json_decref(next);
	json_decref(job);
}

static int load(const char *text, struct ch_ruleset **rs, char *err, size_t errlen)
{
	return ch_rules_parse("rules.json", text, strlen(text), rs, err, errlen);
}

static void rules_say_who_renotifies_and_how_often(void **state)
{
	const char *text =
		"{\"rules\":["
		"{\"id\":\"sos\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\"},"
		"{\"id\":\"smoke\",\"kind\":\"event\",\"match\":{\"type\":\"smoke\"},\"severity\":\"critical\","
		"\"renotify\":\"2m\"},"
		"{\"id\":\"fall\",\"kind\":\"event\",\"match\":{\"type\":\"fall\"},\"severity\":\"high\",\"renotify\":0},"
		"{\"id\":\"leak\",\"kind\":\"event\",\"match\":{\"type\":\"water_leak\"},\"severity\":\"medium\","
		"\"renotify\":false},"
		"{\"id\":\"tamper_evt\",\"kind\":\"event\",\"category\":\"maintenance\",\"match\":{\"type\":\"tamper\"},"
		"\"severity\":\"low\"},"
		"{\"id\":\"battery_low\",\"kind\":\"device_health\",\"check\":\"battery\",\"below\":20,"
		"\"severity\":\"low\"}]}";
	struct ch_ruleset *rs = NULL;
	char err[512];

	(void)state;
	assert_int_equal(load(text, &rs, err, sizeof(err)), 0);
	assert_int_equal(ch_rules_find(rs, "sos")->renotify_ms, 30000); /* the default */
	assert_int_equal(ch_rules_find(rs, "smoke")->renotify_ms, 120000);
	assert_int_equal(ch_rules_find(rs, "fall")->renotify_ms, 0); /* every new event */
	assert_int_equal(ch_rules_find(rs, "leak")->renotify_ms, -1);
	assert_int_equal(ch_rules_find(rs, "tamper_evt")->renotify_ms, -1); /* maintenance: never */
	assert_int_equal(ch_rules_find(rs, "battery_low")->renotify_ms, -1);
	ch_rules_free(rs);
}

static void rules_refuse_renotify_where_it_cannot_apply(void **state)
{
	static const struct {
		const char *text, *says;
	} bad[] = {
		{"{\"rules\":[{\"id\":\"t\",\"kind\":\"event\",\"category\":\"maintenance\",\"match\":{\"type\":\"tamper\"},"
		 "\"severity\":\"low\",\"renotify\":\"30s\"}]}",
		 "on a maintenance rule"},
		{"{\"rules\":[{\"id\":\"b\",\"kind\":\"device_health\",\"check\":\"battery\",\"below\":20,"
		 "\"severity\":\"low\",\"renotify\":\"30s\"}]}",
		 "renotify"},
		{"{\"rules\":[{\"id\":\"s\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\","
		 "\"renotify\":\"soon\"}]}",
		 "is not a duration"},
		{"{\"rules\":[{\"id\":\"s\",\"kind\":\"event\",\"match\":{\"type\":\"sos\"},\"severity\":\"critical\","
		 "\"renotify\":true}]}",
		 "is not a duration"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ch_ruleset *rs = NULL;
		assert_int_not_equal(load(bad[i].text, &rs, err, sizeof(err)), 0);
		assert_null(rs);
		if (!strstr(err, bad[i].says))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, bad[i].says);
		assert_non_null(strstr(err, "rules.json:1:"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(current_step_and_the_centre_on_its_channels),
		cmocka_unit_test(no_centre_in_the_policy_means_the_current_steps_channels),
		cmocka_unit_test(tag_is_per_event_and_stable),
		cmocka_unit_test(schedule_gap_goes_on_from_the_current_step),
		cmocka_unit_test(failed_renotification_falls_back_under_its_own_key),
		cmocka_unit_test(rules_say_who_renotifies_and_how_often),
		cmocka_unit_test(rules_refuse_renotify_where_it_cannot_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
