/*
 * test_api.c - the /v1 API and the console of a real carehubd: the token
 * gate, the queue of open alerts with who the subject is, one alert with its
 * timeline, acknowledge and resolve (checked like MQTT acks, applied by the
 * correlator), subjects, devices and silences, and the console page.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#define TOKEN "test-api-token"

static struct t_hub hub;
static int port;
static char out[65536];

static long call(const char *method_body, const char *path, const char *token)
{
	char url[256], auth[128];
	const char *headers[] = {auth, "Content-Type: application/json", NULL};

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	if (!token)
		headers[0] = headers[1], headers[1] = NULL;
	return t_http_call(url, headers, method_body, out, sizeof(out));
}

/* A request with another method (DELETE) and the token; its status. */
static long call_method(const char *method, const char *path)
{
	char cmd[512];
	FILE *p;
	int code = 0;

	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -w '%%{http_code}' -X %s -H 'Authorization: Bearer %s' "
				   "'http://127.0.0.1:%d%s'",
		 method, TOKEN, port, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fscanf(p, "%d", &code) != 1)
		code = 0;
	pclose(p);
	return code;
}

/* GET with the token; the body parsed into *j (caller decrefs). */
static long get(const char *path, json_t **j)
{
	long st = call(NULL, path, TOKEN);

	*j = json_loads(out, 0, NULL);
	return st;
}

static int setup(void **state)
{
	char ov_port[64];
	const char *ov[] = {"http.enabled=true", ov_port, "http.token_env=CH_TEST_API_TOKEN", NULL};

	(void)state;
	setenv("CH_TEST_API_TOKEN", TOKEN, 1);
	t_mqtt_init();
	port = t_free_port();
	snprintf(ov_port, sizeof(ov_port), "http.port=%d", port);
	t_hub_config(&hub, "api", "{\"log\": {\"plugin\": \"log\", \"path\": \"%DIR%/n.jsonl\"}}",
		     T_POLICY_FAMILY("\"log\""), NULL);
	t_hub_start(&hub, ov);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	t_hub_stop(&hub);
	t_mqtt_done();
	return 0;
}

struct state_wait {
	const char *path, *state;
};

static bool alert_state(void *arg)
{
	struct state_wait *w = arg;
	json_t *j;
	bool ok = get(w->path, &j) == 200 &&
		  json_is_string(json_object_get(json_object_get(j, "alert"), "state")) &&
		  strcmp(json_string_value(json_object_get(json_object_get(j, "alert"), "state")), w->state) == 0;

	json_decref(j);
	return ok;
}

struct text_wait {
	const char *alert, *text;
};

/* A notification for the alert whose text contains w->text (the log channel's file). */
static bool notified_with(void *arg)
{
	struct text_wait *w = arg;
	char path[700];
	json_t *all, *n;
	size_t i;
	bool found = false;

	snprintf(path, sizeof(path), "%s/n.jsonl", hub.dir);
	all = t_log_notifications(path, w->alert);
	json_array_foreach(all, i, n) {
		const char *text = json_string_value(json_object_get(n, "text"));
		found = found || (text && strstr(text, w->text));
	}
	json_decref(all);
	return found;
}

static bool queue_has_one(void *arg)
{
	json_t *j;
	bool ok = get("/v1/alerts", &j) == 200 && json_integer_value(json_object_get(j, "count")) >= 1;

	(void)arg;
	json_decref(j);
	return ok;
}

static void the_token_gate(void **state)
{
	(void)state;
	assert_int_equal(call(NULL, "/v1/alerts", NULL), 401);
	assert_int_equal(call(NULL, "/v1/alerts", "wrong"), 401);
	assert_int_equal(call(NULL, "/v1/alerts", TOKEN), 200);
	assert_int_equal(call(NULL, "/v1/nothing", TOKEN), 404);
	/* The console page needs no token (it asks for one); its data does. */
	assert_int_equal(call(NULL, "/", NULL), 200);
	assert_non_null(strstr(out, "carehub 监控台"));
}

static void queue_detail_ack_and_resolve(void **state)
{
	struct state_wait w;
	char path[128], id[64];
	json_t *j, *a;

	(void)state;
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(queue_has_one, NULL, T_DEADLINE_MS));

	/* The queue: the alert with who and where, filterable. */
	assert_int_equal(get("/v1/alerts?severity=critical&state=open", &j), 200);
	a = json_array_get(json_object_get(j, "alerts"), 0);
	assert_non_null(a);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(a, "id")));
	assert_string_equal(json_string_value(json_object_get(a, "subject_name")), "王秀英");
	assert_non_null(json_string_value(json_object_get(a, "address")));
	json_decref(j);
	assert_int_equal(get("/v1/alerts?severity=low", &j), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
	json_decref(j);
	assert_int_equal(get("/v1/alerts?limit=0", &j), 400);
	json_decref(j);

	/* One alert with its timeline. */
	snprintf(path, sizeof(path), "/v1/alerts/%s", id);
	assert_int_equal(get(path, &j), 200);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "alert"), "id")), id);
	assert_true(json_array_size(json_object_get(j, "timeline")) >= 1);
	json_decref(j);
	assert_int_equal(get("/v1/alerts/s-001:999", &j), 404);
	json_decref(j);

	/* Acknowledge, then resolve: checked here, applied by the correlator. */
	snprintf(path, sizeof(path), "/v1/alerts/%s/ack", id);
	assert_int_equal(call("{\"by\":\"centre operator 7\",\"note\":\"calling her\"}", path, TOKEN), 202);
	w = (struct state_wait){NULL, "acknowledged"};
	char detail[128];
	snprintf(detail, sizeof(detail), "/v1/alerts/%s", id);
	w.path = detail;
	assert_true(t_wait(alert_state, &w, T_DEADLINE_MS));
	snprintf(path, sizeof(path), "/v1/alerts/%s/resolve", id);
	assert_int_equal(call("{\"by\":\"centre operator 7\"}", path, TOKEN), 400); /* no outcome */
	assert_int_equal(call("not json", path, TOKEN), 400);
	assert_int_equal(call("{\"by\":\"centre operator 7\",\"outcome\":\"false_alarm\",\"note\":7}", path, TOKEN),
			 400); /* a note that is not text is refused, never dropped */
	assert_int_equal(call("{\"by\":\"centre operator 7\",\"outcome\":\"false_alarm\",\"note\":\"pressed by mistake\"}",
			      path, TOKEN),
			 202);
	w.state = "resolved";
	assert_true(t_wait(alert_state, &w, T_DEADLINE_MS));
	assert_int_equal(get(detail, &j), 200);
	/* Exactly what was sent (issue 12 item 1): the outcome chosen and the note typed. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "alert"), "outcome")), "false_alarm");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "alert"), "note")), "pressed by mistake");
	/* The family's all clear says so: 误报 (false alarm), and the note. */
	struct text_wait tw = {id, "结果：误报。说明：pressed by mistake"};
	assert_true(t_wait(notified_with, &tw, T_DEADLINE_MS));
	/* Who resolved it is the token's account, whatever "by" the body typed. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "alert"), "resolved_by")), "service");
	assert_string_equal(json_string_value(json_object_get(j, "resolved_by")), "service");
	/* A second resolve of a resolved alert is refused, not lost silently. */
	assert_int_equal(call("{\"outcome\":\"genuine\"}", path, TOKEN), 409);
	json_decref(j);
	assert_int_equal(call("{\"by\":\"x\"}", "/v1/alerts/s-001:999/ack", TOKEN), 404);
	assert_int_equal(call(NULL, path, TOKEN), 405);

	/* Gone from the queue; still in the subject's history. */
	assert_int_equal(get("/v1/alerts?state=open", &j), 200);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 0);
	json_decref(j);
	assert_int_equal(get("/v1/alerts?subject=s-001", &j), 200);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "id")), id);
	json_decref(j);
	assert_int_equal(get("/v1/alerts?subject=nobody", &j), 404);
	json_decref(j);
}

static bool silence_listed(void *arg)
{
	json_t *j;
	bool there = get("/v1/silences?subject=s-001", &j) == 200 &&
		     json_is_string(json_object_get(json_array_get(json_object_get(j, "silences"), 0), "id")) &&
		     strcmp(json_string_value(json_object_get(json_array_get(json_object_get(j, "silences"), 0), "id")),
			    "s-001~pir-1") == 0;

	(void)arg;
	json_decref(j);
	return there;
}

static bool silence_gone(void *arg)
{
	json_t *j;
	bool gone = get("/v1/silences?subject=s-001", &j) == 200 && json_array_size(json_object_get(j, "silences")) == 0;

	(void)arg;
	json_decref(j);
	return gone;
}

static void subjects_devices_and_silences(void **state)
{
	json_t *j;

	(void)state;
	assert_int_equal(get("/v1/subjects", &j), 200);
	assert_true(json_integer_value(json_object_get(j, "count")) >= 2);
	json_decref(j);
	assert_int_equal(get("/v1/subjects/s-001", &j), 200);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "王秀英");
	assert_true(json_array_size(json_object_get(j, "contacts")) >= 1);
	json_decref(j);
	assert_int_equal(get("/v1/subjects/nobody", &j), 404);
	json_decref(j);
	assert_int_equal(get("/v1/devices", &j), 200);
	assert_non_null(strstr(out, "\"id\":\"smoke-1\""));
	json_decref(j);

	/* A silence goes the way of carehub/v1/silences: checked, queued, stored. */
	assert_int_equal(call("{\"subject\":\"s-001\",\"device\":\"pir-1\",\"for\":\"2h\",\"reason\":\"sensor moved\","
			      "\"by\":\"caseworker chen\"}",
			      "/v1/silences", TOKEN),
			 202);
	assert_int_equal(call("{\"subject\":\"s-001\",\"for\":\"2h\"}", "/v1/silences", TOKEN), 400);
	assert_true(t_wait(silence_listed, NULL, T_DEADLINE_MS));
	/* Who silenced it is the token's account ("service"), not a typed name. */
	assert_int_equal(get("/v1/silences", &j), 200);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "silences"), 0), "by")),
			    "service");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "silences"), 0), "device")),
			    "pir-1");
	json_decref(j);
	/* Lifted: gone from the list. */
	assert_int_equal(call_method("DELETE", "/v1/silences/s-001~pir-1"), 202);
	assert_true(t_wait(silence_gone, NULL, T_DEADLINE_MS));
	assert_int_equal(call_method("DELETE", "/v1/silences/nonsense"), 404);
}

/* An answer given while Redis is away is kept (journal, queue) and applied when it is back. */
static void an_answer_while_redis_is_away(void **state)
{
	char id[64], path[128], detail[128];
	struct state_wait w;
	json_t *j;

	(void)state;
	t_publish_event("gas-1", "{\"device\":\"gas-1\",\"type\":\"gas\",\"value\":true}");
	assert_true(t_wait(queue_has_one, NULL, T_DEADLINE_MS));
	assert_int_equal(get("/v1/alerts?state=open&severity=critical", &j), 200);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "id")));
	json_decref(j);
	t_services("stop-redis");
	/* Reads say so... */
	assert_int_equal(get("/v1/alerts", &j), 503);
	json_decref(j);
	/* ...an answer is taken all the same. */
	snprintf(path, sizeof(path), "/v1/alerts/%s/ack", id);
	assert_int_equal(call("{\"by\":\"centre operator 9\"}", path, TOKEN), 202);
	t_services("start-redis");
	snprintf(detail, sizeof(detail), "/v1/alerts/%s", id);
	w = (struct state_wait){detail, "acknowledged"};
	assert_true(t_wait(alert_state, &w, T_DEADLINE_MS));
	snprintf(path, sizeof(path), "/v1/alerts/%s/resolve", id);
	assert_int_equal(call("{\"by\":\"centre operator 9\",\"outcome\":\"genuine\"}", path, TOKEN), 202);
	w.state = "resolved";
	assert_true(t_wait(alert_state, &w, T_DEADLINE_MS));
}

/* Runs carehubctl against the hub; its exit status, stdout (and stderr) in out. */
static int ctl(const char *args, const char *token)
{
	char cmd[2048];
	size_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "CAREHUB_API_TOKEN='%s' CAREHUB_URL='http://127.0.0.1:%d' '%s/carehubctl' %s 2>&1",
		 token ? token : "", port, t_build_dir(), args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void carehubctl_is_the_api_on_the_command_line(void **state)
{
	char id[64], args[256], detail[128];
	struct state_wait w;
	json_t *j;

	(void)state;
	t_publish_event("smoke-1", "{\"device\":\"smoke-1\",\"type\":\"smoke\",\"value\":true}");
	assert_true(t_wait(queue_has_one, NULL, T_DEADLINE_MS));
	assert_int_equal(get("/v1/alerts?state=open", &j), 200);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "id")));
	json_decref(j);

	assert_int_equal(ctl("alerts", TOKEN), 0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "critical"));
	assert_non_null(strstr(out, "王秀英"));
	snprintf(args, sizeof(args), "alert %s", id);
	assert_int_equal(ctl(args, TOKEN), 0);
	assert_non_null(strstr(out, "opened"));
	assert_int_equal(ctl("subjects", TOKEN), 0);
	assert_non_null(strstr(out, "s-001"));

	/* A refusal is the hub's reason and exit 1; no token, exit 1; bad usage, exit 2 before any request. */
	snprintf(args, sizeof(args), "resolve %s", id);
	assert_int_equal(ctl(args, TOKEN), 2);
	assert_non_null(strstr(out, "--outcome must be"));
	snprintf(args, sizeof(args), "resolve %s --outcome sorted", id);
	assert_int_equal(ctl(args, TOKEN), 2);
	assert_int_equal(ctl("alerts", NULL), 1);
	assert_non_null(strstr(out, "CAREHUB_API_TOKEN is not set"));
	assert_int_equal(ctl("alerts", "wrong"), 1);
	assert_non_null(strstr(out, "HTTP 401"));
	assert_int_equal(ctl("ack", TOKEN), 2);
	assert_int_equal(ctl("ack s-001:1 --by someone", TOKEN), 2); /* the hub knows who acts: no --by */
	assert_int_equal(ctl("ack s-001:999", TOKEN), 1);
	assert_non_null(strstr(out, "HTTP 404"));

	snprintf(args, sizeof(args), "resolve %s --outcome false_alarm --note 'burnt toast'", id);
	assert_int_equal(ctl(args, TOKEN), 0);
	assert_non_null(strstr(out, "resolved"));
	snprintf(detail, sizeof(detail), "/v1/alerts/%s", id);
	w = (struct state_wait){detail, "resolved"};
	assert_true(t_wait(alert_state, &w, T_DEADLINE_MS));
}

/* carehubctl as a person uses it: options before the command, --help everywhere, usage errors exit 2 with no request. */
static void carehubctl_usage(void **state)
{
	static const char *const cmds[] = {"alerts", "alert", "ack", "resolve", "note", "escalate", "silences", "silence",
					   "subjects", "subject", "operator", "audit", "backtest", "help"};
	static const char *const bad[] = {"", "bogus", "alert", "alert a b", "resolve s-001:1 --outcome sorted",
					  "note s-001:1", "ack s-001:1 --outcome genuine", "silence --subject s-001",
					  "silence --subject s-001 --for 3h --until 2026-12-31T00:00:00Z --reason r",
					  "silence --subject s-001 --for soon --reason r", "silences lift",
					  "alerts --limit 0", "alerts extra", "--url", "alerts --bogus",
					  "operator promote x", "subject"};
	char args[512], dead[64], id[64];
	json_t *j;

	(void)state;
	/* Global options before the command win over the environment. */
	snprintf(args, sizeof(args), "--url http://127.0.0.1:%d --json alerts", port);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "CAREHUB_API_TOKEN='%s' CAREHUB_URL='http://127.0.0.1:1' '%s/carehubctl' %s 2>&1", TOKEN,
		 t_build_dir(), args);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(WEXITSTATUS(pclose(p)), 0);
	assert_non_null(strstr(out, "\"alerts\""));
	assert_int_equal(ctl("--version", TOKEN), 0);
	assert_non_null(strstr(out, "carehubctl "));
	assert_int_equal(ctl("--help", TOKEN), 0);
	/* --help on every command, and help COMMAND. */
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(args, sizeof(args), "%s --help", cmds[i]);
		assert_int_equal(ctl(args, TOKEN), 0);
		assert_non_null(strstr(out, "usage: carehubctl"));
		assert_non_null(strstr(out, cmds[i]));
		snprintf(args, sizeof(args), "help %s", cmds[i]);
		assert_int_equal(ctl(args, TOKEN), 0);
	}
	/* Usage errors exit 2 before any request: against a port where nothing listens they still say 2, not 1. */
	snprintf(dead, sizeof(dead), "--url http://127.0.0.1:%d", t_free_port());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(args, sizeof(args), "%s %s", dead, bad[i]);
		if (ctl(args, TOKEN) != 2)
			fail_msg("carehubctl %s: expected exit 2, got: %s", args, out);
	}
	/* The same dead URL with a good command is the hub's absence: exit 1. */
	snprintf(args, sizeof(args), "%s alerts", dead);
	assert_int_equal(ctl(args, TOKEN), 1);

	/* note, escalate, subject, silences against the hub; writes print one line. */
	t_publish_event("sos-1", "{\"device\":\"sos-1\",\"type\":\"sos\",\"value\":true}");
	assert_true(t_wait(queue_has_one, NULL, T_DEADLINE_MS));
	assert_int_equal(get("/v1/alerts?state=open", &j), 200);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "alerts"), 0), "id")));
	json_decref(j);
	snprintf(args, sizeof(args), "note %s 'called her daughter'", id);
	assert_int_equal(ctl(args, TOKEN), 0);
	assert_non_null(strstr(out, "noted on"));
	snprintf(args, sizeof(args), "escalate %s", id);
	assert_int_equal(ctl(args, TOKEN), 0);
	assert_non_null(strstr(out, "escalated now"));
	assert_int_equal(ctl("subject s-001", TOKEN), 0);
	assert_non_null(strstr(out, "devices:"));
	assert_int_equal(ctl("subjects 王", TOKEN), 0);
	assert_non_null(strstr(out, "s-001"));
	assert_int_equal(ctl("silences", TOKEN), 0);
	snprintf(args, sizeof(args), "resolve %s --outcome genuine", id);
	assert_int_equal(ctl(args, TOKEN), 0);
	/* The note is on the timeline with who wrote it. */
	snprintf(args, sizeof(args), "/v1/alerts/%s", id);
	assert_int_equal(get(args, &j), 200);
	char *tl = json_dumps(json_object_get(j, "timeline"), 0);
	assert_non_null(strstr(tl, "called her daughter"));
	assert_non_null(strstr(tl, "escalated_now"));
	free(tl);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_token_gate),
		cmocka_unit_test(queue_detail_ack_and_resolve),
		cmocka_unit_test(subjects_devices_and_silences),
		cmocka_unit_test(carehubctl_is_the_api_on_the_command_line),
		cmocka_unit_test(carehubctl_usage),
		cmocka_unit_test(an_answer_while_redis_is_away),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
