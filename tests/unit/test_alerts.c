/*
 * test_alerts.c - the pure parts of opening an alert: the template, the jobs
 * of an escalation step (roles, contact order, channels), the notification
 * document of the SPEC.
 */
#include "alerts.h"
#include "template.h"
#include "tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct ch_contact contacts[] = {
	{.name = (char *)"Li", .phone = (char *)"+8613800000011", .role = (char *)"family", .order = 1},
	{.name = (char *)"Zhang", .phone = (char *)"+8613800000021", .role = (char *)"caseworker", .order = 2},
	{.name = (char *)"Wang", .phone = (char *)"+8613800000012", .role = (char *)"family", .order = 3},
};
static struct ch_device devices[] = {{.id = (char *)"smoke-1", .type = (char *)"smoke", .location = (char *)"kitchen"}};
static struct ch_subject subj = {
	.id = (char *)"s-001", .name = (char *)"Wang Xiuying", .address = (char *)"1 Test Road",
	.devices = devices, .ndevices = 1, .contacts = contacts, .ncontacts = 3,
};

static void step_jobs_follow_roles_order_and_channels(void **state)
{
	char *roles0[] = {(char *)"family"}, *roles1[] = {(char *)"caseworker", (char *)"family"};
	char *chans0[] = {(char *)"sms", (char *)"call"}, *chans1[] = {(char *)"webhook"};
	struct ch_policy_step steps[] = {
		{.after_ms = 0, .roles = roles0, .nroles = 1, .channels = chans0, .nchannels = 2},
		{.after_ms = 60000, .roles = roles1, .nroles = 2, .channels = chans1, .nchannels = 1},
	};
	struct ch_policy pol = {.name = (char *)"p", .steps = steps, .nsteps = 2};
	json_t *jobs;

	(void)state;
	jobs = ch_alert_step_jobs(&pol, 0, &subj);
	/* Two family contacts x two channels, in contact order. */
	assert_int_equal(json_array_size(jobs), 4);
	json_t *j0 = json_array_get(jobs, 0), *j2 = json_array_get(jobs, 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j0, "contact"), "name")), "Li");
	assert_string_equal(json_string_value(json_object_get(j0, "channel")), "sms");
	assert_string_equal(json_string_value(json_object_get(json_array_get(jobs, 1), "channel")), "call");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j2, "contact"), "name")), "Wang");
	assert_int_equal(json_integer_value(json_object_get(j0, "step")), 0);
	/* No phone number in the contact id. */
	const char *cid = json_string_value(json_object_get(j0, "cid"));
	assert_int_equal(strlen(cid), 8);
	assert_null(strstr(cid, "138"));
	json_decref(jobs);

	jobs = ch_alert_step_jobs(&pol, 1, &subj);
	assert_int_equal(json_array_size(jobs), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(jobs, 0), "contact"), "role")),
			    "caseworker");
	json_decref(jobs);

	/* Past the last step: nothing. */
	jobs = ch_alert_step_jobs(&pol, 2, &subj);
	assert_int_equal(json_array_size(jobs), 0);
	json_decref(jobs);
}

static void contact_id_is_stable_and_distinct(void **state)
{
	char a[9], b[9], c[9];

	(void)state;
	ch_alert_contact_id("family", "+8613800000011", a);
	ch_alert_contact_id("family", "+8613800000011", b);
	ch_alert_contact_id("family", "+8613800000012", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
}

static void notification_document_has_the_spec_shape(void **state)
{
	json_t *alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", "s-001:7", "rule", "smoke",
				  "severity", "critical", "state", "open", "subject", "s-001", "opened_at",
				  "2026-11-28T00:15:00.000Z", "summary", "kitchen smoke", "count", 1);
	json_t *contact = json_pack("{s:s, s:s, s:s}", "name", "Li", "phone", "+8613800000011", "role", "family");
	char text[256];
	json_t *n;

	(void)state;
	struct ch_render_opts ro = {.lang = "zh", .channel = "hook", .plugin = "webhook"};
	ch_alert_render(&ro, alert, &subj, contact, text, sizeof(text));
	assert_string_equal(text, "kitchen smoke");
	snprintf(text, sizeof(text), "%s", "kitchen smoke");
	n = ch_alert_notification("s-001:7:0:abcd0123:webhook", alert, &subj, contact, 0, 2, text);
	assert_non_null(n);
	assert_string_equal(json_string_value(json_object_get(n, "id")), "s-001:7:0:abcd0123:webhook");
	json_t *a = json_object_get(n, "alert");
	const char *keys[] = {"id", "rule", "severity", "state", "subject", "opened_at", "summary"};
	for (size_t i = 0; i < 7; i++)
		assert_non_null(json_string_value(json_object_get(a, keys[i])));
	assert_null(json_object_get(a, "count"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(n, "subject"), "name")), "Wang Xiuying");
	assert_string_equal(json_string_value(json_object_get(json_object_get(n, "contact"), "role")), "family");
	assert_int_equal(json_integer_value(json_object_get(n, "step")), 0);
	assert_int_equal(json_integer_value(json_object_get(n, "attempt")), 2);
	json_decref(n);
	json_decref(alert);
	json_decref(contact);
}

static void policy_schedule_counts_repeats(void **state)
{
	char *roles[] = {(char *)"family"}, *chans[] = {(char *)"sms"};
	struct ch_policy_step steps[] = {
		{.after_ms = 0, .roles = roles, .nroles = 1, .channels = chans, .nchannels = 1},
		{.after_ms = 180000, .roles = roles, .nroles = 1, .channels = chans, .nchannels = 1},
		{.after_ms = 600000, .roles = roles, .nroles = 1, .channels = chans, .nchannels = 1},
	};
	struct ch_policy pol = {.name = (char *)"p", .steps = steps, .nsteps = 3, .repeat = 2, .repeat_after_ms = 300000};

	(void)state;
	assert_int_equal(ch_policy_total_steps(&pol), 9);
	assert_int_equal(ch_policy_step_due_ms(&pol, 0), 0);
	assert_int_equal(ch_policy_step_due_ms(&pol, 2), 600000);
	/* Round 1 starts 10 min + 5 min after the opening. */
	assert_int_equal(ch_policy_step_due_ms(&pol, 3), 900000);
	assert_int_equal(ch_policy_step_due_ms(&pol, 4), 1080000);
	assert_int_equal(ch_policy_step_due_ms(&pol, 8), 2 * 900000 + 600000);
	pol.repeat = 0;
	assert_int_equal(ch_policy_total_steps(&pol), 3);
	assert_int_equal(ch_policy_total_steps(NULL), 0);
}

static void quiet_hours_hold_below_high_only(void **state)
{
	struct ch_contact qc[] = {
		{.name = (char *)"Li", .phone = (char *)"+8613800000011", .role = (char *)"family", .order = 1,
		 .quiet_hours = (char *)"22:00-07:00"},
		{.name = (char *)"Zhang", .phone = (char *)"+8613800000021", .role = (char *)"caseworker", .order = 2},
	};
	struct ch_subject qs = {.id = (char *)"s-9", .name = (char *)"q", .contacts = qc, .ncontacts = 2};
	char *roles[] = {(char *)"family", (char *)"caseworker"}, *chans[] = {(char *)"sms"};
	struct ch_policy_step step = {.roles = roles, .nroles = 2, .channels = chans, .nchannels = 1};
	struct ch_policy pol = {.name = (char *)"p", .steps = &step, .nsteps = 1};
	const struct ch_tz *tz;
	char err[256];
	/* 2026-11-02T23:30+08:00; quiet hours end at 07:00 the next morning. */
	int64_t night = 1793548800000LL + 23 * 3600000LL + 1800000LL, morning = 1793548800000LL + 31 * 3600000LL;
	json_t *jobs;

	(void)state;
	assert_int_equal(ch_tz_get("Asia/Shanghai", &tz, err, sizeof(err)), 0);
	jobs = ch_alert_step_jobs(&pol, 0, &qs);
	assert_int_equal(ch_alert_hold_quiet(jobs, &qs, tz, CH_SEV_MEDIUM, night), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(jobs, 0), "hold_until")), morning);
	assert_null(json_object_get(json_array_get(jobs, 1), "hold_until"));
	json_decref(jobs);
	/* In his own zone: 23:30 in Shanghai is 15:30 in London, no quiet hours there. */
	qc[0].timezone = (char *)"Europe/London";
	jobs = ch_alert_step_jobs(&pol, 0, &qs);
	assert_int_equal(ch_alert_hold_quiet(jobs, &qs, tz, CH_SEV_MEDIUM, night), 0);
	json_decref(jobs);
	qc[0].timezone = NULL;
	/* High breaks quiet hours; daytime has none. */
	jobs = ch_alert_step_jobs(&pol, 0, &qs);
	assert_int_equal(ch_alert_hold_quiet(jobs, &qs, tz, CH_SEV_HIGH, night), 0);
	assert_int_equal(ch_alert_hold_quiet(jobs, &qs, tz, CH_SEV_LOW, morning + 3 * 3600000LL), 0);
	json_decref(jobs);
}

/* A send that fails for good: the step's fallback channels, then (contacts "first") the next relative. */
static void permanent_failure_falls_back_channel_then_contact(void **state)
{
	char *roles[] = {(char *)"family"}, *chans[] = {(char *)"call"}, *fb[] = {(char *)"sms"};
	struct ch_policy_step st = {.roles = roles, .nroles = 1, .channels = chans, .nchannels = 1, .fallback = fb,
				    .nfallback = 1, .first_contact = true};
	struct ch_policy pol = {.name = (char *)"p", .steps = &st, .nsteps = 1};
	json_t *jobs, *a, *b, *c, *d;

	(void)state;
	jobs = ch_alert_step_jobs(&pol, 0, &subj);
	/* Only the first relative in order (Li), not Wang. */
	assert_int_equal(json_array_size(jobs), 1);
	a = json_array_get(jobs, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "contact"), "name")), "Li");
	json_object_set_new(a, "alert", json_string("s-001:9"));
	/* The call fails: an SMS to Li, under its own key. */
	b = ch_alert_next_job(a);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "sms");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "contact"), "name")), "Li");
	assert_non_null(strstr(json_string_value(json_object_get(b, "key")), "s-001:9:0:"));
	assert_non_null(strstr(json_string_value(json_object_get(b, "key")), ":sms"));
	/* That fails too: Wang by call, with the SMS fallback again. */
	c = ch_alert_next_job(b);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "channel")), "call");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "contact"), "name")), "Wang");
	assert_string_not_equal(json_string_value(json_object_get(c, "cid")), json_string_value(json_object_get(a, "cid")));
	d = ch_alert_next_job(c);
	assert_string_equal(json_string_value(json_object_get(d, "channel")), "sms");
	/* Nobody left. */
	assert_null(ch_alert_next_job(d));
	json_decref(b);
	json_decref(c);
	json_decref(d);
	json_decref(jobs);

	/* Without "first", every relative at once and no next contact. */
	st.first_contact = false;
	jobs = ch_alert_step_jobs(&pol, 0, &subj);
	assert_int_equal(json_array_size(jobs), 2);
	a = json_array_get(jobs, 0);
	json_object_set_new(a, "alert", json_string("s-001:9"));
	b = ch_alert_next_job(a);
	assert_string_equal(json_string_value(json_object_get(b, "channel")), "sms");
	assert_null(ch_alert_next_job(b));
	json_decref(b);
	json_decref(jobs);
}

/* Renders alert for contact on (channel, plugin) in lang; the text in text. */
static void render(const struct ch_templates *tpl, const struct ch_tz *tz, const struct ch_tz *ctz, const char *lang,
		   json_t *alert, json_t *contact, const char *channel, const char *plugin, char *text, size_t len)
{
	struct ch_render_opts ro = {.tpl = tpl, .lang = lang, .channel = channel, .plugin = plugin,
				    .centre_phone = "021-12345678", .tz = tz, .contact_tz = ctz};

	ch_alert_render(&ro, alert, &subj, contact, text, len);
}

/*
 * The message a contact reads: who, what, where in the message's own language,
 * when on the contact's clock, what to do, whom to call, how to answer; the
 * all clear with the outcome and the operator's note.
 */
static void message_text_per_channel_language_and_role(void **state)
{
	struct ch_templates *tpl = NULL;
	const struct ch_tz *tz = NULL, *london = NULL;
	char err[256], text[1024];
	/* 2026-11-28 00:15 UTC is 08:15 in Shanghai. */
	json_t *alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "rule", "smoke", "severity", "critical", "state",
				  "open", "summary", "kitchen烟感报警", "device", "smoke-1", "opened_at_ms",
				  (json_int_t)1795824900000LL);
	json_t *daughter = json_pack("{s:s, s:s}", "name", "Li", "role", "family");
	json_t *self = json_pack("{s:s, s:s}", "name", "Wang Xiuying", "role", "self");

	(void)state;
	assert_int_equal(ch_templates_load(NULL, &tpl, err, sizeof(err)), 0);
	assert_int_equal(ch_tz_get("Asia/Shanghai", &tz, err, sizeof(err)), 0);
	assert_int_equal(ch_tz_get("Europe/London", &london, err, sizeof(err)), 0);
	/* "kitchen" is 厨房 in a Chinese text: never "kitchen烟感报警". */
	render(tpl, tz, NULL, "zh", alert, daughter, "sms", "sms", text, sizeof(text));
	assert_string_equal(text, "【紧急】Wang Xiuying家厨房烟雾报警，11-28 08:15，地址1 Test Road。"
				  "请立即打电话并尽快赶到；如有火情请拨打119。监护中心021-12345678。"
				  "回复1表示您来处理，回复2请求支援。");
	assert_null(strstr(text, "kitchen"));
	/* English throughout, on the son's own clock in London, with his zone shown. */
	render(tpl, tz, london, "en", alert, daughter, "family-sms", "sms", text, sizeof(text));
	assert_string_equal(text, "[Critical] smoke alarm at Wang Xiuying's home (kitchen), 11-28 00:15 (UTC+0), "
				  "1 Test Road. Call them now and go there; if there is a fire, call 119. "
				  "Centre: 021-12345678. Reply 1 if you are on it, 2 if you need help.");
	render(tpl, tz, NULL, "zh", alert, daughter, "console", "mqtt", text, sizeof(text));
	assert_string_equal(text, "【紧急】烟雾报警：Wang Xiuying（厨房），1 Test Road，11-28 08:15。"
				  "请立即打电话并尽快赶到；如有火情请拨打119。监护中心：021-12345678。");
	/* The call speaks to whoever picks up. */
	render(tpl, tz, NULL, "zh", alert, self, "call", "ai_call", text, sizeof(text));
	assert_non_null(strstr(text, "您好，Wang Xiuying，"));
	render(tpl, tz, NULL, "zh", alert, daughter, "call", "ai_call", text, sizeof(text));
	assert_non_null(strstr(text, "您好，Li，"));
	/* A registry's own names win; a room with no name in the text's script is left out. */
	devices[0].location_names = json_pack("{s:s, s:s}", "zh", "灶台边", "en", "by the stove");
	render(tpl, tz, NULL, "zh", alert, daughter, "sms", "sms", text, sizeof(text));
	assert_non_null(strstr(text, "Wang Xiuying家灶台边烟雾报警"));
	json_decref(devices[0].location_names);
	devices[0].location_names = NULL;
	devices[0].location = (char *)"garage";
	render(tpl, tz, NULL, "zh", alert, daughter, "sms", "sms", text, sizeof(text));
	assert_non_null(strstr(text, "Wang Xiuying家烟雾报警，"));
	devices[0].location = (char *)"kitchen";
	/* Resolved: the all clear, with the outcome in words and the operator's note as written. */
	json_object_set_new(alert, "state", json_string("resolved"));
	json_object_set_new(alert, "outcome", json_string("false_alarm"));
	json_object_set_new(alert, "note", json_string("烤面包烤糊了，老人安好"));
	render(tpl, tz, NULL, "zh", alert, daughter, "sms", "sms", text, sizeof(text));
	assert_string_equal(text, "【已解除】Wang Xiuying家的烟雾报警已处理，结果：误报。说明：烤面包烤糊了，老人安好");
	json_object_del(alert, "note");
	render(tpl, tz, NULL, "en", alert, daughter, "sms", "sms", text, sizeof(text));
	assert_string_equal(text, "[All clear] smoke alarm at Wang Xiuying's home has been dealt with. Outcome: false alarm.");
	ch_templates_free(tpl);
	json_decref(alert);
	json_decref(daughter);
	json_decref(self);
}

/* The time a contact reads: their own clock, the zone named only when it differs. */
static void local_time_names_a_different_zone(void **state)
{
	const struct ch_tz *sh = NULL, *hk = NULL, *ny = NULL, *del = NULL;
	char err[256], out[64];

	(void)state;
	assert_int_equal(ch_tz_get("Asia/Shanghai", &sh, err, sizeof(err)), 0);
	assert_int_equal(ch_tz_get("Asia/Hong_Kong", &hk, err, sizeof(err)), 0);
	assert_int_equal(ch_tz_get("America/New_York", &ny, err, sizeof(err)), 0);
	assert_int_equal(ch_tz_get("Asia/Kolkata", &del, err, sizeof(err)), 0);
	ch_alert_local_time(sh, sh, 1795824900000LL, out, sizeof(out));
	assert_string_equal(out, "11-28 08:15");
	ch_alert_local_time(hk, sh, 1795824900000LL, out, sizeof(out)); /* same offset: no zone */
	assert_string_equal(out, "11-28 08:15");
	ch_alert_local_time(ny, sh, 1795824900000LL, out, sizeof(out));
	assert_string_equal(out, "11-27 19:15 (UTC-5)");
	ch_alert_local_time(del, sh, 1795824900000LL, out, sizeof(out));
	assert_string_equal(out, "11-28 05:45 (UTC+5:30)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(step_jobs_follow_roles_order_and_channels),
		cmocka_unit_test(contact_id_is_stable_and_distinct),
		cmocka_unit_test(notification_document_has_the_spec_shape),
		cmocka_unit_test(policy_schedule_counts_repeats),
		cmocka_unit_test(quiet_hours_hold_below_high_only),
		cmocka_unit_test(message_text_per_channel_language_and_role),
		cmocka_unit_test(local_time_names_a_different_zone),
		cmocka_unit_test(permanent_failure_falls_back_channel_then_contact),
	};
	return cmocka_run_group_tests_name("alerts", tests, NULL, NULL);
}
