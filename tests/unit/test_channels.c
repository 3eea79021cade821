/*
 * test_channels.c - the HTTP channel plugins that talk to people (ai_call,
 * caseworker, sms) driven through the real plugin host: the request each
 * builds, how each classifies the provider's answer, and how each verifies
 * and reads a signed callback.
 *
 * The plugins are the real .so files from $CH_BUILD_DIR/plugins (default
 * "build").  Callbacks are signed here with the hub's own ch_http_sign_hmac,
 * so a test passing means the provider-side recipe in plugin_http.h and the
 * hub's verification agree.  Time is the request's now_ms, never the clock.
 */
#include "http.h"
#include "log.h"
#include "plugin_host.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "cb-secret-42"
#define TOKEN "tok-abc"
#define NOW_S 1764289000LL
#define NOW_MS (NOW_S * 1000)
#define OPENED_MS 1764288900000LL

static char plug_dir[512];
static FILE *log_capture;

static const char PHONE[] = "+8613912345678";
static const char KEY[] = "s1-7:1:0a1b2c3d:chan";

static struct ch_notification make_notification(void)
{
	return (struct ch_notification){
		.idempotency_key = KEY,
		.channel = "chan",
		.document = "{}",
		.alert_id = "s1-7",
		.rule = "inactivity",
		.severity = "high",
		.state = "open",
		.summary = "no movement for 8h",
		.opened_at_ms = OPENED_MS,
		.subject_id = "s1",
		.subject_name = "Wang",
		.subject_address = "Room 101",
		.contact_name = "Li",
		.contact_phone = PHONE,
		.contact_role = "caseworker",
		.text = "Wang: no movement for 8h",
		.step = 1,
		.attempt = 1,
	};
}

/* ------------------------------------------------------------------------ */
/* Fixtures and helpers                                                       */
/* ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	const char *b = getenv("CH_BUILD_DIR");

	(void)state;
	if (!b || !*b)
		b = "build";
	if (ch_fmt(plug_dir, sizeof(plug_dir), "%s/plugins", b))
		return -1;
	setenv("CH_TEST_CB_SECRET", SECRET, 1);
	setenv("CH_TEST_CB_TOKEN", TOKEN, 1);
	unsetenv("CH_TEST_CB_UNSET");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unsetenv("CH_TEST_CB_SECRET");
	unsetenv("CH_TEST_CB_TOKEN");
	return 0;
}

static int capture_setup(void **state)
{
	(void)state;
	log_capture = tmpfile();
	if (!log_capture)
		return -1;
	ch_log_set_stream(log_capture);
	ch_log_set_level(CH_LOG_DEBUG);
	return 0;
}

/* Whatever a test did, neither secret may have reached the log. */
static int capture_teardown(void **state)
{
	char buf[8192];
	size_t n;
	int rc = 0;

	(void)state;
	fflush(log_capture);
	rewind(log_capture);
	n = fread(buf, 1, sizeof(buf) - 1, log_capture);
	buf[n] = '\0';
	if (strstr(buf, SECRET) || strstr(buf, TOKEN)) {
		fprintf(stderr, "a secret reached the log:\n%s\n", buf);
		rc = -1;
	}
	ch_log_set_stream(NULL);
	ch_log_set_level(CH_LOG_INFO);
	fclose(log_capture);
	log_capture = NULL;
	return rc;
}

static struct ch_channel *open_ok(const char *plugin, const char *opts)
{
	json_t *o = json_loads(opts, 0, NULL);
	struct ch_channel *ch = NULL;
	char err[1024] = "";
	int rc;

	assert_non_null(o);
	rc = ch_channel_open(plug_dir, "chan", plugin, o, NULL, &ch, err, sizeof(err));
	json_decref(o);
	if (rc)
		fail_msg("cannot open %s: %s", plugin, err);
	return ch;
}

/* Opening is refused; err gets the host's whole reason. */
static void open_refused(const char *plugin, const char *opts, char *err, size_t errlen)
{
	json_t *o = json_loads(opts, 0, NULL);
	struct ch_channel *ch = NULL;

	assert_non_null(o);
	assert_int_equal(ch_channel_open(plug_dir, "chan", plugin, o, NULL, &ch, err, errlen), CH_EPLUGIN);
	assert_null(ch);
	json_decref(o);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("\"%s\" lacks \"%s\"", hay ? hay : "(null)", needle);
}

/* The value of header `name` in a request's list, or NULL. */
static const char *header_of(char **headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers && *headers; headers++) {
		if (strncmp(*headers, name, n) == 0 && (*headers)[n] == ':' && (*headers)[n + 1] == ' ')
			return *headers + n + 2;
	}
	return NULL;
}

/* Frees a request the way the host does: with the plugin's own free_fn. */
static void free_request(struct ch_http_request *r)
{
	assert_non_null(r->free_fn);
	for (char **h = r->headers; h && *h; h++)
		r->free_fn(*h);
	r->free_fn(r->headers);
	r->free_fn(r->url);
	r->free_fn(r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * Sends n on ch, checks the common shape of the POST (url, JSON content type,
 * Idempotency-Key, bearer token, body length) and returns the parsed body;
 * the request is freed.
 */
static json_t *send_and_parse(struct ch_channel *ch, const struct ch_notification *n, const char *url)
{
	struct ch_send_result res = {0};
	struct ch_http_request *r = &res.http;
	json_error_t jerr;
	json_t *body;

	ch_channel_send(ch, n, &res);
	assert_int_equal(res.status, CH_SEND_HTTP);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->url, url);
	assert_string_equal(header_of(r->headers, "Content-Type"), "application/json");
	assert_string_equal(header_of(r->headers, "Idempotency-Key"), n->idempotency_key);
	assert_string_equal(header_of(r->headers, "Authorization"), "Bearer " TOKEN);
	assert_non_null(r->body);
	assert_int_equal(r->body_len, strlen(r->body));
	body = json_loadb(r->body, r->body_len, 0, &jerr);
	if (!body)
		fail_msg("request body is not JSON (%s): %s", jerr.text, r->body);
	free_request(r);
	return body;
}

static const char *str_at(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static json_int_t int_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* http_done with a given answer; the result comes back in res (zeroed first). */
static void answer(struct ch_channel *ch, long status, const char *body, int transport_error, int64_t retry_after_ms,
		   struct ch_send_result *res)
{
	struct ch_notification n = make_notification();
	struct ch_http_response resp = {
		.status = status,
		.body = body ? body : "",
		.body_len = body ? strlen(body) : 0,
		.transport_error = transport_error,
		.transport_msg = transport_error ? "Connection refused" : NULL,
		.retry_after_ms = retry_after_ms,
	};

	memset(res, 0, sizeof(*res));
	ch_channel_http_done(ch, &n, &resp, res);
}

/* What every HTTP channel does with the common answers (the ref field differs). */
static void check_common_answers(struct ch_channel *ch)
{
	struct ch_send_result res;

	answer(ch, 200, "{\"id\":\"ref-1\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "ref-1");
	assert_string_equal(res.reason, "HTTP 200");

	answer(ch, 202, "", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "");

	answer(ch, 500, "internal error", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_string_equal(res.reason, "HTTP 500: internal error");

	answer(ch, 503, "", 0, 30000, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_int_equal(res.retry_after_ms, 30000);

	answer(ch, 429, "slow down", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);

	/* Receivers echo input: a number in the error comes back masked. */
	answer(ch, 400, "{\"error\":\"bad number +8613912345678\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	assert_contains(res.reason, "HTTP 400: ");
	assert_contains(res.reason, "+861********78");
	assert_null(strstr(res.reason, PHONE));

	answer(ch, 0, NULL, 1, 0, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_string_equal(res.reason, "transport error: Connection refused");
}

/* ---- signed callbacks ---- */

struct signed_req {
	char ts_hdr[64];
	char sig_hdr[128];
	const char *headers[3];
	struct ch_callback_request req;
};

/*
 * A callback carrying body, signed with secret at ts_s (secret NULL: no
 * signature headers at all), arriving at NOW_MS.
 */
static void make_request(struct signed_req *s, const char *body, const char *secret, long long ts_s)
{
	char ts[32], hex[65];

	memset(s, 0, sizeof(*s));
	s->req.body = body;
	s->req.body_len = strlen(body);
	s->req.now_ms = NOW_MS;
	s->req.headers = s->headers;
	if (!secret)
		return;
	assert_int_equal(ch_fmt(ts, sizeof(ts), "%lld", ts_s), 0);
	ch_http_sign_hmac(secret, ts, body, strlen(body), hex);
	assert_int_equal(ch_fmt(s->ts_hdr, sizeof(s->ts_hdr), "X-Carehub-Timestamp: %s", ts), 0);
	assert_int_equal(ch_fmt(s->sig_hdr, sizeof(s->sig_hdr), "X-Carehub-Signature: %s", hex), 0);
	s->headers[0] = s->ts_hdr;
	s->headers[1] = s->sig_hdr;
}

/* A well-signed callback with body; returns what the host answers. */
static int callback(struct ch_channel *ch, const char *body, struct ch_callback_result *out, char *err,
		    size_t errlen)
{
	struct signed_req s;

	make_request(&s, body, SECRET, NOW_S);
	return ch_channel_callback(ch, &s.req, out, err, errlen);
}

static void expect_outcome(struct ch_channel *ch, const char *body, enum ch_callback_outcome outcome)
{
	struct ch_callback_result out;
	char err[256];
	int rc = callback(ch, body, &out, err, sizeof(err));

	if (rc)
		fail_msg("callback %s refused (%d): %s", body, rc, err);
	assert_int_equal(out.outcome, outcome);
	assert_string_equal(out.idempotency_key, KEY);
}

static void expect_bad_request(struct ch_channel *ch, const char *body, const char *why)
{
	struct ch_callback_result out;
	char err[256];

	assert_int_equal(callback(ch, body, &out, err, sizeof(err)), CH_EINVAL);
	assert_contains(err, why);
}

/* What every signed channel refuses, with a body that would be accepted if signed right. */
static void check_signature_refusals(struct ch_channel *ch, const char *good_body)
{
	struct ch_callback_result out;
	struct signed_req s;
	char err[256];

	/* The reference: the same body signed right is taken. */
	make_request(&s, good_body, SECRET, NOW_S);
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), 0);

	/* "sha256=" before the hex is accepted (GitHub-style senders). */
	{
		char hex[65], ts[32];
		assert_int_equal(ch_fmt(ts, sizeof(ts), "%lld", NOW_S), 0);
		ch_http_sign_hmac(SECRET, ts, good_body, strlen(good_body), hex);
		assert_int_equal(ch_fmt(s.sig_hdr, sizeof(s.sig_hdr), "X-Carehub-Signature: sha256=%s", hex), 0);
		assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), 0);
	}

	/* Forged: signed with another secret. */
	make_request(&s, good_body, "not-the-secret", NOW_S);
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);
	assert_string_equal(err, "bad signature");

	/* Tampered: the body changed after signing. */
	make_request(&s, good_body, SECRET, NOW_S);
	s.req.body_len--;
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);
	assert_string_equal(err, "bad signature");

	/* Replayed: a good signature ten minutes old. */
	make_request(&s, good_body, SECRET, NOW_S - 600);
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);
	assert_contains(err, "timestamp outside the 300 s window");

	/* Unsigned. */
	make_request(&s, good_body, NULL, 0);
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);
	assert_contains(err, "unsigned callback");

	/* A signature without its timestamp. */
	make_request(&s, good_body, SECRET, NOW_S);
	s.headers[0] = s.sig_hdr;
	s.headers[1] = NULL;
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);

	/* Malformed signature. */
	make_request(&s, good_body, SECRET, NOW_S);
	assert_int_equal(ch_fmt(s.sig_hdr, sizeof(s.sig_hdr), "X-Carehub-Signature: zz"), 0);
	assert_int_equal(ch_channel_callback(ch, &s.req, &out, err, sizeof(err)), CH_EPROTO);
	assert_string_equal(err, "malformed timestamp or signature");

	/* Signed, but garbage: the signature holds, the body says nothing. */
	expect_bad_request(ch, "this is not json", "not a JSON object");
	expect_bad_request(ch, "[1,2]", "not a JSON object");
	expect_bad_request(ch, "", "not a JSON object");
}

/* ------------------------------------------------------------------------ */
/* ai_call                                                                    */
/* ------------------------------------------------------------------------ */

#define AI_OPTS                                                                                            \
	"{\"url\":\"https://voice.test/calls\",\"auth_env\":\"CH_TEST_CB_TOKEN\",\"secret_env\":"            \
	"\"CH_TEST_CB_SECRET\",\"callback_url\":\"https://hub.test/v1/callbacks/chan\",\"caller_id\":\"carehub\"}"

static void test_ai_call_request(void **state)
{
	struct ch_channel *ch = open_ok("ai_call", AI_OPTS);
	struct ch_notification n = make_notification();
	json_t *b, *answers;

	(void)state;
	b = send_and_parse(ch, &n, "https://voice.test/calls");
	assert_string_equal(str_at(b, "id"), KEY);
	assert_string_equal(str_at(b, "to"), PHONE);
	assert_string_equal(str_at(b, "caller_id"), "carehub");
	assert_string_equal(str_at(b, "language"), "zh-CN");
	assert_string_equal(str_at(b, "script"), "Wang: no movement for 8h");
	assert_string_equal(str_at(b, "callback_url"), "https://hub.test/v1/callbacks/chan");
	assert_string_equal(str_at(b, "alert"), "s1-7");
	assert_string_equal(str_at(b, "role"), "caseworker");
	answers = json_object_get(b, "answers");
	assert_string_equal(str_at(answers, "1"), "confirmed_safe");
	assert_string_equal(str_at(answers, "2"), "needs_help");
	json_decref(b);
	ch_channel_close(ch);
}

static void test_ai_call_http_done(void **state)
{
	struct ch_channel *ch = open_ok("ai_call", AI_OPTS);
	struct ch_send_result res;

	(void)state;
	check_common_answers(ch);
	answer(ch, 201, "{\"call_id\":\"call-9\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "call-9");
	/* A voice platform has no notion of "exists": 409 is a plain refusal. */
	answer(ch, 409, "conflict", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	ch_channel_close(ch);
}

static void test_ai_call_callbacks(void **state)
{
	struct ch_channel *ch = open_ok("ai_call", AI_OPTS);
	struct ch_callback_result out;
	char err[256];

	(void)state;
	expect_outcome(ch,
		       "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"call_id\":\"call-9\",\"status\":\"answered\","
		       "\"answer\":\"confirmed_safe\",\"detail\":\"pressed 1\"}",
		       CH_CB_CONFIRMED_SAFE);
	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"answered\",\"answer\":\"needs_help\"}",
		       CH_CB_NEEDS_HELP);
	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"answered\",\"answer\":\"none\"}",
		       CH_CB_ANSWERED);
	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"no_answer\"}", CH_CB_NO_ANSWER);
	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"busy\"}", CH_CB_BUSY);
	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"failed\",\"detail\":\"SIP 503\"}",
		       CH_CB_FAILED);

	assert_int_equal(callback(ch,
				  "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"call_id\":\"call-9\",\"status\":\"answered\","
				  "\"answer\":\"confirmed_safe\",\"detail\":\"pressed 1\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_string_equal(out.provider_ref, "call-9");
	assert_string_equal(out.reason, "call answered, answer confirmed_safe: pressed 1");

	expect_bad_request(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"hung_up\"}", "\"status\" must be");
	expect_bad_request(ch, "{\"status\":\"busy\"}", "\"id\"");
	check_signature_refusals(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"busy\"}");
	ch_channel_close(ch);
}

static void test_ai_call_refusals(void **state)
{
	char err[1024];

	(void)state;
	open_refused("ai_call", "{\"url\":\"https://voice.test/calls\",\"callback_url\":\"https://hub.test/cb\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin ai_call init failed: callback_url needs secret_env: callbacks "
				 "are signed");
	open_refused("ai_call", "{\"url\":\"https://voice.test/calls\",\"secret_env\":\"CH_TEST_CB_UNSET\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin ai_call init failed: secret_env names CH_TEST_CB_UNSET, which "
				 "is not set in the environment");
}

/* ------------------------------------------------------------------------ */
/* caseworker                                                                 */
/* ------------------------------------------------------------------------ */

#define CW_OPTS                                                                                            \
	"{\"url\":\"https://cases.test/api/tasks\",\"auth_env\":\"CH_TEST_CB_TOKEN\",\"secret_env\":"        \
	"\"CH_TEST_CB_SECRET\",\"callback_url\":\"https://hub.test/v1/callbacks/chan\"}"

static void test_caseworker_request(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", CW_OPTS);
	struct ch_notification n = make_notification();
	json_t *b, *o;
	char *enc;

	(void)state;
	b = send_and_parse(ch, &n, "https://cases.test/api/tasks");
	assert_string_equal(str_at(b, "external_id"), KEY);
	o = json_object_get(b, "alert");
	assert_string_equal(str_at(o, "id"), "s1-7");
	assert_string_equal(str_at(o, "rule"), "inactivity");
	assert_string_equal(str_at(o, "severity"), "high");
	assert_string_equal(str_at(o, "summary"), "no movement for 8h");
	assert_int_equal(int_at(o, "opened_at_ms"), OPENED_MS);
	o = json_object_get(b, "subject");
	assert_string_equal(str_at(o, "id"), "s1");
	assert_string_equal(str_at(o, "name"), "Wang");
	assert_string_equal(str_at(o, "address"), "Room 101");
	assert_string_equal(str_at(b, "summary"), "Wang: no movement for 8h");
	assert_int_equal(int_at(b, "due_at_ms"), OPENED_MS + 3600 * 1000);
	o = json_object_get(b, "assignee");
	assert_string_equal(str_at(o, "name"), "Li");
	assert_string_equal(str_at(o, "role"), "caseworker");
	assert_string_equal(str_at(b, "callback_url"), "https://hub.test/v1/callbacks/chan");
	/* The case system has the subject's record: no phone number leaves the hub. */
	enc = json_dumps(b, JSON_COMPACT);
	assert_non_null(enc);
	assert_null(strstr(enc, "13912345678"));
	free(enc);
	json_decref(b);
	ch_channel_close(ch);
}

static void test_caseworker_request_options(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", "{\"url\":\"http://127.0.0.1:9/tasks\",\"auth_env\":"
						      "\"CH_TEST_CB_TOKEN\",\"due\":900}");
	struct ch_notification n = make_notification();
	json_t *b;

	(void)state;
	/* Fields the notification lacks are left out, not sent as null. */
	n.subject_address = NULL;
	n.contact_name = NULL;
	b = send_and_parse(ch, &n, "http://127.0.0.1:9/tasks");
	assert_int_equal(int_at(b, "due_at_ms"), OPENED_MS + 900 * 1000);
	assert_null(json_object_get(b, "callback_url"));
	assert_null(json_object_get(json_object_get(b, "subject"), "address"));
	assert_null(json_object_get(json_object_get(b, "assignee"), "name"));
	assert_string_equal(str_at(json_object_get(b, "assignee"), "role"), "caseworker");
	json_decref(b);
	ch_channel_close(ch);
}

static void test_caseworker_send_refusals(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", CW_OPTS);
	struct ch_notification n = make_notification();
	struct ch_send_result res;
	const char *bad_keys[] = {NULL, "", "s1-7:1\r\nX-Evil: 1"};

	(void)state;
	/* Without a key every retry would open one more task. */
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		memset(&res, 0, sizeof(res));
		n.idempotency_key = bad_keys[i];
		ch_channel_send(ch, &n, &res);
		assert_int_equal(res.status, CH_SEND_FAIL);
		assert_contains(res.reason, "idempotency key");
		assert_null(res.http.url);
		assert_null(res.http.headers);
	}
	n = make_notification();
	n.opened_at_ms = 0;
	memset(&res, 0, sizeof(res));
	ch_channel_send(ch, &n, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);

	/* Text that is not UTF-8 would fail the same way forever: no retries. */
	n = make_notification();
	n.text = "cut \xe5\x8c";
	memset(&res, 0, sizeof(res));
	ch_channel_send(ch, &n, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	assert_contains(res.reason, "cannot encode the task");
	ch_channel_close(ch);
}

static void test_caseworker_http_done(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", CW_OPTS);
	struct ch_send_result res;

	(void)state;
	check_common_answers(ch);
	answer(ch, 201, "{\"task_id\":\"T-77\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "T-77");
	/* task_id is the system's own name for it; it wins over a generic id. */
	answer(ch, 201, "{\"id\":\"rec-1\",\"task_id\":\"T-78\"}", 0, 0, &res);
	assert_string_equal(res.provider_ref, "T-78");

	/* The task exists: the answer to an earlier try was lost. */
	answer(ch, 409, "{\"error\":\"duplicate external_id\",\"task_id\":\"T-77\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.reason, "task exists");
	assert_string_equal(res.provider_ref, "T-77");
	assert_int_equal(res.retry_after_ms, 0);
	answer(ch, 409, "", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "");
	answer(ch, 409, "not json", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_OK);

	answer(ch, 422, "{\"error\":\"unknown subject\"}", 0, 0, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	/* A task id that does not fit is dropped, not cut into another task's id. */
	{
		char body[300];
		char id[200];
		memset(id, 'x', sizeof(id) - 1);
		id[sizeof(id) - 1] = '\0';
		assert_int_equal(ch_fmt(body, sizeof(body), "{\"task_id\":\"%s\"}", id), 0);
		answer(ch, 200, body, 0, 0, &res);
		assert_int_equal(res.status, CH_SEND_OK);
		assert_string_equal(res.provider_ref, "");
	}
	ch_channel_close(ch);
}

static void test_caseworker_callbacks(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", CW_OPTS);
	struct ch_callback_result out;
	char err[256];

	(void)state;
	assert_int_equal(callback(ch,
				  "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"task_id\":\"T-77\",\"status\":"
				  "\"accepted\",\"by\":\"Zhang Min\",\"note\":\"on my way\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_ACCEPTED);
	assert_string_equal(out.idempotency_key, KEY);
	assert_string_equal(out.provider_ref, "T-77");
	assert_string_equal(out.by, "Zhang Min");
	assert_string_equal(out.reason, "task accepted: on my way");
	assert_string_equal(out.resolution, "");

	assert_int_equal(callback(ch,
				  "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"task_id\":\"T-77\",\"status\":\"closed\","
				  "\"by\":\"Zhang Min\",\"outcome\":\"false_alarm\",\"note\":\"visited, all fine\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_CLOSED);
	assert_string_equal(out.resolution, "false_alarm");
	assert_string_equal(out.reason, "task closed (false_alarm): visited, all fine");

	for (const char *const *r = (const char *const[]){"genuine", "accidental", "no_response", "activity_resumed",
							   NULL};
	     *r; r++) {
		char body[256];
		assert_int_equal(ch_fmt(body, sizeof(body),
					"{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"closed\",\"outcome\":\"%s\"}",
					*r),
				 0);
		assert_int_equal(callback(ch, body, &out, err, sizeof(err)), 0);
		assert_string_equal(out.resolution, *r);
	}

	/* Closed without an outcome: somebody needed the visit. */
	assert_int_equal(callback(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"closed\"}", &out, err,
				  sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_CLOSED);
	assert_string_equal(out.resolution, "genuine");
	assert_string_equal(out.reason, "task closed (genuine)");
	assert_string_equal(out.by, "");
	assert_string_equal(out.provider_ref, "");
	assert_int_equal(callback(ch,
				  "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"closed\",\"outcome\":null}",
				  &out, err, sizeof(err)),
			 0);
	assert_string_equal(out.resolution, "genuine");

	assert_int_equal(callback(ch,
				  "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"rejected\",\"by\":\"Zhang "
				  "Min\",\"note\":\"on leave\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_FAILED);
	assert_string_equal(out.reason, "task rejected: on leave");

	expect_bad_request(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"closed\",\"outcome\":\"fixed\"}",
			   "\"outcome\" of a closed task must be");
	expect_bad_request(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"closed\",\"outcome\":3}",
			   "\"outcome\" of a closed task must be");
	expect_bad_request(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"done\"}",
			   "\"status\" must be accepted, closed or rejected");
	expect_bad_request(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\"}", "\"status\" must be");
	expect_bad_request(ch, "{\"status\":\"accepted\"}", "\"external_id\"");
	expect_bad_request(ch, "{\"external_id\":\"\",\"status\":\"accepted\"}", "\"external_id\"");
	expect_bad_request(ch, "{\"external_id\":7,\"status\":\"accepted\"}", "\"external_id\"");
	{
		char key[300], body[400];
		memset(key, 'k', sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		assert_int_equal(ch_fmt(body, sizeof(body), "{\"external_id\":\"%s\",\"status\":\"accepted\"}", key), 0);
		expect_bad_request(ch, body, "too long");
	}
	check_signature_refusals(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"accepted\"}");
	ch_channel_close(ch);
}

/* by and reason go into JSON documents: a cut must not split a character, a note must stay one line. */
static void test_caseworker_callback_text(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", CW_OPTS);
	struct ch_callback_result out;
	char name[200], note[1200], body[1600], err[256];
	json_t *s;
	size_t off = 0;

	(void)state;
	/* 40 x "张" (3 bytes each) is 120 bytes: more than by's 100. */
	for (int i = 0; i < 40; i++, off += 3)
		memcpy(name + off, "\xe5\xbc\xa0", 3);
	name[off] = '\0';
	off = 0;
	for (int i = 0; i < 300; i++, off += 3)
		memcpy(note + off, "\xe5\xbc\xa0", 3);
	note[off] = '\0';
	assert_int_equal(ch_fmt(body, sizeof(body),
				"{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"accepted\",\"by\":\"%s\","
				"\"note\":\"%s\"}",
				name, note),
			 0);
	assert_int_equal(callback(ch, body, &out, err, sizeof(err)), 0);
	assert_int_equal(strlen(out.by), 99); /* 33 whole characters */
	s = json_string(out.by);              /* NULL if not valid UTF-8 */
	assert_non_null(s);
	json_decref(s);
	assert_true(strlen(out.reason) <= sizeof(out.reason) - 1);
	assert_true(strlen(out.reason) > sizeof(out.reason) - 4);
	s = json_string(out.reason);
	assert_non_null(s);
	json_decref(s);

	assert_int_equal(callback(ch,
				  "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"accepted\",\"by\":\"A\\tB\","
				  "\"note\":\"line one\\nline two\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_string_equal(out.by, "A B");
	assert_string_equal(out.reason, "task accepted: line one line two");
	ch_channel_close(ch);
}

static void test_caseworker_refusals(void **state)
{
	char err[1024];

	(void)state;
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"callback_url\":\"https://hub.test/cb\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin caseworker init failed: callback_url needs secret_env: "
				 "callbacks are signed");
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"secret_env\":\"CH_TEST_CB_UNSET\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin caseworker init failed: secret_env names CH_TEST_CB_UNSET, "
				 "which is not set in the environment");
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"auth_env\":\"CH_TEST_CB_UNSET\"}", err,
		     sizeof(err));
	assert_contains(err, "auth_env names CH_TEST_CB_UNSET");
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"due\":-1}", err, sizeof(err));
	assert_contains(err, "due must be 0..2592000 seconds, not -1");
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"due\":\"1h\"}", err, sizeof(err));
	assert_contains(err, "option \"due\" for plugin caseworker must be an integer");
	open_refused("caseworker", "{\"url\":\"https://cases.test/t\",\"callback_window\":5}", err, sizeof(err));
	assert_contains(err, "callback_window must be 10..86400 seconds, not 5");
	open_refused("caseworker", "{\"callback_url\":\"https://hub.test/cb\"}", err, sizeof(err));
	assert_contains(err, "missing required option \"url\"");
}

/* Without a secret the channel still sends; every callback is refused as unauthenticated. */
static void test_caseworker_without_secret(void **state)
{
	struct ch_channel *ch = open_ok("caseworker", "{\"url\":\"https://cases.test/t\"}");
	struct ch_callback_result out;
	char err[256];

	(void)state;
	assert_int_equal(callback(ch, "{\"external_id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"accepted\"}", &out, err,
				  sizeof(err)),
			 CH_EPROTO);
	assert_string_equal(err, "no secret configured for callbacks");
	ch_channel_close(ch);
}

/* ------------------------------------------------------------------------ */
/* sms                                                                        */
/* ------------------------------------------------------------------------ */

#define SMS_OPTS                                                                                           \
	"{\"url\":\"https://sms.test/send\",\"auth_env\":\"CH_TEST_CB_TOKEN\",\"secret_env\":"               \
	"\"CH_TEST_CB_SECRET\",\"callback_url\":\"https://hub.test/v1/callbacks/chan\",\"sender\":\"carehub\"}"

static void test_sms_request(void **state)
{
	struct ch_channel *ch = open_ok("sms", SMS_OPTS);
	struct ch_notification n = make_notification();
	json_t *b;

	(void)state;
	b = send_and_parse(ch, &n, "https://sms.test/send");
	assert_string_equal(str_at(b, "id"), KEY);
	assert_string_equal(str_at(b, "to"), PHONE);
	assert_string_equal(str_at(b, "sender"), "carehub");
	assert_string_equal(str_at(b, "text"), "Wang: no movement for 8h");
	assert_int_equal(json_array_size(json_object_get(b, "parts")), 1);
	assert_int_equal(int_at(b, "units"), (json_int_t)strlen(n.text)); /* GSM-7 characters */
	assert_string_equal(str_at(b, "callback_url"), "https://hub.test/v1/callbacks/chan");
	json_decref(b);
	ch_channel_close(ch);
}

static void test_sms_http_done(void **state)
{
	struct ch_channel *ch = open_ok("sms", SMS_OPTS);

	(void)state;
	check_common_answers(ch);
	ch_channel_close(ch);
}

static void test_sms_callbacks(void **state)
{
	struct ch_channel *ch = open_ok("sms", SMS_OPTS);
	struct ch_callback_result out;
	char err[256];

	(void)state;
	assert_int_equal(callback(ch,
				  "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"message_id\":\"m-5\",\"status\":\"delivered\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_DELIVERED);
	assert_string_equal(out.idempotency_key, KEY);
	assert_string_equal(out.provider_ref, "m-5");
	assert_string_equal(out.reason, "sms delivered");
	assert_string_equal(out.by, "");

	/* Gateways echo the number in errors: the reason carries it masked. */
	assert_int_equal(callback(ch,
				  "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"message_id\":\"m-5\",\"status\":\"failed\","
				  "\"error\":\"+8613912345678 switched off\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_FAILED);
	assert_string_equal(out.reason, "sms failed: +861********78 switched off");

	assert_int_equal(callback(ch,
				  "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"undeliverable\",\"error\":\"no such "
				  "number\\r\\n\"}",
				  &out, err, sizeof(err)),
			 0);
	assert_int_equal(out.outcome, CH_CB_FAILED);
	assert_string_equal(out.reason, "sms undeliverable: no such number  ");
	assert_string_equal(out.provider_ref, "");

	expect_outcome(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"failed\"}", CH_CB_FAILED);
	expect_bad_request(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"queued\"}",
			   "\"status\" must be delivered, failed or undeliverable");
	expect_bad_request(ch, "{\"message_id\":\"m-5\",\"status\":\"delivered\"}", "\"id\"");
	check_signature_refusals(ch, "{\"id\":\"s1-7:1:0a1b2c3d:chan\",\"status\":\"delivered\"}");
	ch_channel_close(ch);
}

/* An SMS sent back: "1" on it, "2" help (full-width too), anything else their words; signed or refused. */
static void test_sms_replies(void **state)
{
	struct ch_channel *ch = open_ok("sms", SMS_OPTS);
	struct ch_callback_result out;
	struct signed_req unsigned_req;
	char err[256];
	static const struct {
		const char *text;
		enum ch_callback_outcome outcome;
	} cases[] = {
		{"1", CH_CB_CONFIRMED_SAFE}, {" 1 ", CH_CB_CONFIRMED_SAFE}, {"1.", CH_CB_CONFIRMED_SAFE},
		{"\uff11", CH_CB_CONFIRMED_SAFE}, {"2", CH_CB_NEEDS_HELP}, {"\uff12\\n", CH_CB_NEEDS_HELP},
		{"12", CH_CB_ANSWERED}, {"好的我马上去", CH_CB_ANSWERED}, {"", CH_CB_ANSWERED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[256];
		snprintf(body, sizeof(body), "{\"type\":\"inbound\",\"from\":\"+8613800000011\",\"text\":\"%s\","
					     "\"message_id\":\"in-9\"}",
			 cases[i].text);
		if (callback(ch, body, &out, err, sizeof(err)))
			fail_msg("reply %s refused: %s", cases[i].text, err);
		assert_int_equal(out.outcome, cases[i].outcome);
		/* No notification named: the host finds the latest one sent to the number. */
		assert_string_equal(out.idempotency_key, CH_CB_REPLY_TO "+8613800000011");
		assert_string_equal(out.provider_ref, "in-9");
	}
	assert_int_equal(callback(ch, "{\"type\":\"inbound\",\"from\":\"+8613800000011\",\"text\":\"好的\"}", &out,
				  err, sizeof(err)),
			 0);
	assert_string_equal(out.reason, "sms reply, not 1 or 2: 好的");
	expect_bad_request(ch, "{\"type\":\"inbound\",\"from\":\"not a number\",\"text\":\"1\"}", "\"from\"");
	expect_bad_request(ch, "{\"type\":\"inbound\",\"from\":\"+8613800000011\"}", "\"text\"");
	/* A receipt cannot pass itself off as a reply (the fuzzer found this one). */
	expect_bad_request(ch, "{\"id\":\"reply-to:+8613800000011\",\"status\":\"delivered\"}", "\"id\"");
	make_request(&unsigned_req, "{\"type\":\"inbound\",\"from\":\"+8613800000011\",\"text\":\"1\"}", NULL, 0);
	assert_int_equal(ch_channel_callback(ch, &unsigned_req.req, &out, err, sizeof(err)), CH_EPROTO);
	ch_channel_close(ch);
}

static void test_sms_refusals(void **state)
{
	struct ch_channel *ch;
	char err[1024];

	(void)state;
	open_refused("sms", "{\"url\":\"https://sms.test/send\",\"callback_url\":\"https://hub.test/cb\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin sms init failed: callback_url needs secret_env: callbacks "
				 "are signed");
	open_refused("sms", "{\"url\":\"https://sms.test/send\",\"secret_env\":\"CH_TEST_CB_UNSET\"}", err,
		     sizeof(err));
	assert_string_equal(err, "channel chan: plugin sms init failed: secret_env names CH_TEST_CB_UNSET, which is "
				 "not set in the environment");
	open_refused("sms", "{\"url\":\"https://sms.test/send\",\"secret_env\":\"CH_TEST_CB_SECRET\","
			    "\"callback_window\":100000}",
		     err, sizeof(err));
	assert_contains(err, "callback_window must be 10..86400 seconds, not 100000");
	/* Without receipts the channel needs no secret, as before. */
	ch = open_ok("sms", "{\"url\":\"https://sms.test/send\"}");
	ch_channel_close(ch);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, capture_setup, capture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_ai_call_request),
		T(test_ai_call_http_done),
		T(test_ai_call_callbacks),
		T(test_ai_call_refusals),
		T(test_caseworker_request),
		T(test_caseworker_request_options),
		T(test_caseworker_send_refusals),
		T(test_caseworker_http_done),
		T(test_caseworker_callbacks),
		T(test_caseworker_callback_text),
		T(test_caseworker_refusals),
		T(test_caseworker_without_secret),
		T(test_sms_request),
		T(test_sms_http_done),
		T(test_sms_callbacks),
		T(test_sms_replies),
		T(test_sms_refusals),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
