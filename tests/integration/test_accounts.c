/*
 * test_accounts.c - operator accounts on a real carehubd: added with
 * carehubctl (the password on stdin), signing in (the cookie's flags),
 * CSRF refused, a viewer's resolve refused (403) by session and by a scoped
 * token, an operator's false-alarm resolve stored exactly with the account on
 * the alert, the timeline and the audit log, the family's all clear quoting
 * the note, failed logins limited, sign-out, a new password and a disabled
 * account ending their sessions.
 */
#include "api_client.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ADMIN "accounts-admin-token"
#define VIEW "accounts-viewer-token"

static struct t_hub hub;
static int port;
static char out[65536];
static struct t_resp r;

static int setup(void **state)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_ADMIN_TOKEN",
			    "http.service_tokens=[{\"name\":\"dashboard\",\"role\":\"viewer\",\"token_env\":\"CH_TEST_VIEW_TOKEN\"}]",
			    "centre_phone=021-12345678", NULL};

	(void)state;
	setenv("CH_TEST_ADMIN_TOKEN", ADMIN, 1);
	setenv("CH_TEST_VIEW_TOKEN", VIEW, 1);
	t_mqtt_init();
	port = t_free_port();
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	t_hub_config(&hub, "accounts", "{\"sms\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"sms\""), NULL);
	t_hub_start(&hub, ov);
	/* The accounts the tests use, as an administrator would add them. */
	assert_int_equal(t_ctl(port, ADMIN, "op-one-password\n", "operator add op1 --role operator", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "operator op1 added as operator"));
	assert_int_equal(t_ctl(port, ADMIN, "view-one-password\n", "operator add view1 --role viewer", out, sizeof(out)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

/* A new SOS for s-001; its alert id. */
static bool newest_open(void *arg)
{
	char *id = arg;
	json_t *j;
	bool ok = false;

	if (t_api_token(port, ADMIN, "GET", "/v1/alerts?state=open", NULL, &r) == 200) {
		j = json_loads(r.body, 0, NULL);
		const char *a = json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "id"));
		if (a && strcmp(a, id) != 0) {
			snprintf(id, 64, "%s", a);
			ok = true;
		}
		json_decref(j);
	}
	return ok;
}

static void new_sos(char id[64])
{
	id[0] = '\0';
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(newest_open, id, T_DEADLINE_MS));
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
	if (t_api_token(port, ADMIN, "GET", path, NULL, &r) != 200)
		return false;
	j = json_loads(r.body, 0, NULL);
	ok = json_string_value(json_object_get(j, "state")) && strcmp(json_string_value(json_object_get(j, "state")), w->state) == 0;
	json_decref(j);
	return ok;
}

static void signing_in_sets_a_safe_cookie(void **state)
{
	struct t_session s;

	(void)state;
	/* One answer for a wrong password and for nobody. */
	assert_int_equal(t_login(port, "op1", "not-the-password", &s, &r), 401);
	assert_non_null(strstr(r.body, "wrong name or password"));
	assert_int_equal(t_login(port, "nobody", "not-the-password", &s, &r), 401);
	assert_non_null(strstr(r.body, "wrong name or password"));
	/* A form from another site is not JSON: refused before any password is checked. */
	assert_int_equal(t_api(port, "POST", "/v1/session", (const char *[]){"Content-Type: text/plain", NULL},
			       "{\"name\":\"op1\",\"password\":\"op-one-password\"}", &r),
			 415);
	assert_int_equal(t_login(port, "op1", "op-one-password", &s, &r), 200);
	assert_non_null(strstr(r.set_cookie, "ch_session="));
	assert_non_null(strstr(r.set_cookie, "HttpOnly"));
	assert_non_null(strstr(r.set_cookie, "SameSite=Strict"));
	assert_non_null(strstr(r.set_cookie, "Path=/"));
	assert_int_equal(strlen(s.cookie), strlen("ch_session=") + 64);
	assert_int_equal(strlen(s.csrf), 64);
	assert_non_null(strstr(r.body, "\"role\":\"operator\""));
	/* The cookie is who you are. */
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/session", NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"name\":\"op1\""));
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/alerts", NULL, &r), 200);
	/* An operator is not an admin. */
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/operators", NULL, &r), 403);
	assert_non_null(strstr(r.body, "\"error\":\"forbidden\""));
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/audit", NULL, &r), 403);
	/* Nothing without a session or a token. */
	assert_int_equal(t_api(port, "GET", "/v1/alerts", NULL, NULL, &r), 401);
	assert_int_equal(t_api(port, "GET", "/v1/alerts", (const char *[]){"Cookie: ch_session=0123", NULL}, NULL, &r), 401);
}

static void csrf_and_roles(void **state)
{
	struct t_session op, viewer;
	char id[64], path[128];
	char origin[128];
	const char *from_evil[] = {NULL, "Content-Type: application/json", NULL, "Origin: http://evil.example", NULL};

	(void)state;
	new_sos(id);
	assert_int_equal(t_login(port, "op1", "op-one-password", &op, &r), 200);
	assert_int_equal(t_login(port, "view1", "view-one-password", &viewer, &r), 200);
	snprintf(path, sizeof(path), "/v1/alerts/%s/ack", id);
	/* A cookie without its CSRF token does not write. */
	assert_int_equal(t_as(port, &op, false, "POST", path, "{}", &r), 403);
	assert_non_null(strstr(r.body, "\"error\":\"csrf\""));
	struct t_session forged = op;
	snprintf(forged.csrf, sizeof(forged.csrf), "%064d", 0);
	assert_int_equal(t_as(port, &forged, true, "POST", path, "{}", &r), 403);
	/* Nor from another origin, even with it. */
	char cookie[256], csrf[160];
	snprintf(cookie, sizeof(cookie), "Cookie: %s", op.cookie);
	snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", op.csrf);
	from_evil[0] = cookie;
	from_evil[2] = csrf;
	assert_int_equal(t_api(port, "POST", path, from_evil, "{}", &r), 403);
	/* A viewer reads but does not resolve: by session, and by a viewer token. */
	snprintf(path, sizeof(path), "/v1/alerts/%s/resolve", id);
	assert_int_equal(t_as(port, &viewer, true, "POST", path, "{\"outcome\":\"false_alarm\"}", &r), 403);
	assert_non_null(strstr(r.body, "\"error\":\"forbidden\""));
	assert_int_equal(t_api_token(port, VIEW, "POST", path, "{\"outcome\":\"false_alarm\"}", &r), 403);
	assert_int_equal(t_api_token(port, VIEW, "GET", "/v1/alerts", NULL, &r), 200);
	/* The same origin passes. */
	snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%d", port);
	const char *same[] = {cookie, csrf, "Content-Type: application/json", origin, NULL};
	snprintf(path, sizeof(path), "/v1/alerts/%s/ack", id);
	assert_int_equal(t_api(port, "POST", path, same, "{\"note\":\"calling her now\"}", &r), 202);
	struct state_wait w = {id, "acknowledged"};
	assert_true(t_wait(alert_is, &w, T_DEADLINE_MS));
	/* Over, so the next press is a new alert. */
	snprintf(path, sizeof(path), "/v1/alerts/%s/resolve", id);
	assert_int_equal(t_api_token(port, ADMIN, "POST", path, "{\"outcome\":\"accidental\"}", &r), 202);
	w.state = "resolved";
	assert_true(t_wait(alert_is, &w, T_DEADLINE_MS));
}

/* Issue 12 item 1 through a signed-in operator: what is stored is what was chosen. */
struct clear_wait {
	const char *id, *text;
};

static bool all_clear_says(void *arg)
{
	struct clear_wait *w = arg;
	char path[700];
	json_t *all, *n;
	size_t i;
	bool found = false;

	snprintf(path, sizeof(path), "%s/n.jsonl", hub.dir);
	all = t_log_notifications(path, w->id);
	json_array_foreach(all, i, n) {
		const char *text = json_string_value(json_object_get(n, "text"));
		found = found || (text && strstr(text, w->text));
	}
	json_decref(all);
	return found;
}

static void an_operators_resolve_is_kept_exactly(void **state)
{
	struct t_session op;
	char id[64], path[128];
	json_t *j, *tl, *e;
	size_t i;
	bool saw = false;

	(void)state;
	new_sos(id);
	assert_int_equal(t_login(port, "op1", "op-one-password", &op, &r), 200);
	snprintf(path, sizeof(path), "/v1/alerts/%s/resolve", id);
	assert_int_equal(t_as(port, &op, true, "POST", path,
			      "{\"outcome\":\"false_alarm\",\"note\":\"按错了，老人安好\",\"by\":\"someone else\"}", &r),
			 202);
	struct state_wait w = {id, "resolved"};
	assert_true(t_wait(alert_is, &w, T_DEADLINE_MS));
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "outcome")), "false_alarm");
	assert_string_equal(json_string_value(json_object_get(j, "note")), "按错了，老人安好");
	/* The server's account, not the typed name. */
	assert_string_equal(json_string_value(json_object_get(j, "resolved_by")), "op1");
	tl = json_object_get(j, "timeline");
	json_array_foreach(tl, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "kind")), "resolved") == 0) {
			assert_string_equal(json_string_value(json_object_get(e, "actor")), "op1");
			assert_string_equal(json_string_value(json_object_get(e, "actor_role")), "operator");
			assert_string_equal(json_string_value(json_object_get(e, "outcome")), "false_alarm");
			assert_string_equal(json_string_value(json_object_get(e, "note")), "按错了，老人安好");
			saw = true;
		}
	}
	assert_true(saw);
	json_decref(j);
	/* The family's all clear: 误报, the note, nothing else invented. */
	struct clear_wait cw = {id, "结果：误报。说明：按错了，老人安好"};
	assert_true(t_wait(all_clear_says, &cw, T_DEADLINE_MS));
	/* The audit log has it, with the account. */
	assert_int_equal(t_api_token(port, ADMIN, "GET", "/v1/audit?limit=50", NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"actor\":\"op1\""));
	assert_non_null(strstr(r.body, "\"action\":\"resolve\""));
	assert_non_null(strstr(r.body, "false_alarm: 按错了，老人安好"));
	assert_int_equal(t_ctl(port, ADMIN, NULL, "audit --limit 5", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "resolve"));
}

static void failed_logins_are_limited(void **state)
{
	struct t_session s;

	(void)state;
	assert_int_equal(t_ctl(port, ADMIN, "target-password\n", "operator add target --role operator", out, sizeof(out)), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(t_login(port, "target", "guess-number-x", &s, &r), 401);
	/* Now even the right password waits: 429 with Retry-After. */
	assert_int_equal(t_login(port, "target", "target-password", &s, &r), 429);
	assert_non_null(strstr(r.body, "too_many_attempts"));
	assert_true(atoi(r.retry_after) > 0 && atoi(r.retry_after) <= 900);
	/* Others are not locked out by it. */
	assert_int_equal(t_login(port, "op1", "op-one-password", &s, &r), 200);
	assert_int_equal(t_api_token(port, ADMIN, "GET", "/v1/audit?limit=100", NULL, &r), 200);
	assert_non_null(strstr(r.body, "login_failed"));
}

static void sessions_end(void **state)
{
	struct t_session s, s2;

	(void)state;
	/* Sign-out: the session is gone on the server, the cookie cleared. */
	assert_int_equal(t_login(port, "op1", "op-one-password", &s, &r), 200);
	assert_int_equal(t_as(port, &s, false, "DELETE", "/v1/session", NULL, &r), 403); /* CSRF */
	assert_int_equal(t_as(port, &s, true, "DELETE", "/v1/session", NULL, &r), 204);
	assert_non_null(strstr(r.set_cookie, "Max-Age=0"));
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/session", NULL, &r), 401);
	/* A new password ends the other sessions; the new one works. */
	assert_int_equal(t_login(port, "op1", "op-one-password", &s, &r), 200);
	assert_int_equal(t_ctl(port, ADMIN, "op-one-second\n", "operator passwd op1", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "password of op1 changed"));
	assert_int_equal(t_as(port, &s, false, "GET", "/v1/session", NULL, &r), 401);
	assert_int_equal(t_login(port, "op1", "op-one-password", &s, &r), 401);
	assert_int_equal(t_login(port, "op1", "op-one-second", &s2, &r), 200);
	/* An operator may change their own password, not another's. */
	assert_int_equal(t_as(port, &s2, true, "POST", "/v1/operators/view1/password", "{\"password\":\"hijacked-pw\"}", &r),
			 403);
	assert_int_equal(t_as(port, &s2, true, "POST", "/v1/operators/op1/password", "{\"password\":\"op-one-third\"}", &r),
			 200);
	assert_int_equal(t_login(port, "op1", "op-one-third", &s2, &r), 200);
	/* Disabled: no more sign-in, and the session ends. */
	assert_int_equal(t_ctl(port, ADMIN, NULL, "operator disable op1", out, sizeof(out)), 0);
	assert_int_equal(t_as(port, &s2, false, "GET", "/v1/alerts", NULL, &r), 401);
	assert_int_equal(t_login(port, "op1", "op-one-third", &s2, &r), 401);
	/* Accounts as an admin sees them: no hashes. */
	assert_int_equal(t_ctl(port, ADMIN, NULL, "--json operator list", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\"disabled\": true"));
	assert_null(strstr(out, "argon2"));
	/* Usage errors before any request: no password, a bad role, a short password. */
	assert_int_equal(t_ctl(port, ADMIN, "", "operator add nopw --role operator", out, sizeof(out)), 2);
	assert_int_equal(t_ctl(port, ADMIN, "long-enough-pw\n", "operator add x --role boss", out, sizeof(out)), 2);
	assert_int_equal(t_ctl(port, ADMIN, "short\n", "operator add x --role viewer", out, sizeof(out)), 2);
	assert_int_equal(t_ctl(port, ADMIN, "long-enough-pw\n", "operator add view1 --role viewer", out, sizeof(out)), 1);
	assert_non_null(strstr(out, "409"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(signing_in_sets_a_safe_cookie),
		cmocka_unit_test(csrf_and_roles),
		cmocka_unit_test(an_operators_resolve_is_kept_exactly),
		cmocka_unit_test(failed_logins_are_limited),
		cmocka_unit_test(sessions_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
