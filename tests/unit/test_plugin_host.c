/*
 * test_plugin_host.c - the plugin loader's refusals, option validation, and
 * the built-in webhook, log and mqtt plugins driven through the real loader.
 *
 * Plugins are the real .so files from the build: test-only ones from
 * $CH_BUILD_DIR/test-plugins, the shipped ones from $CH_BUILD_DIR/plugins
 * (CH_BUILD_DIR defaults to "build").  Refusal reasons are compared exactly
 * because operators read them and other tests grep for them.
 */
#include "plugin_host.h"
#include "clock.h"
#include "log.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tplug_dir[512];
static char plug_dir[512];
static FILE *log_capture;

static const char DOC[] =
	"{\"id\":\"a1:1:c1:chan\","
	"\"alert\":{\"id\":\"a1\",\"rule\":\"inactivity\",\"severity\":\"high\",\"state\":\"open\","
	"\"subject\":\"s1\",\"opened_at\":1764288900000,\"summary\":\"no movement for 8h\"},"
	"\"subject\":{\"id\":\"s1\",\"name\":\"Wang\",\"address\":\"Room 101\"},"
	"\"contact\":{\"name\":\"Li\",\"phone\":\"+8613912345678\",\"role\":\"family\"},"
	"\"step\":1,\"attempt\":2,\"text\":\"Please call +8613912345678 now\"}";
static const char PHONE[] = "+8613912345678";

static struct ch_notification make_notification(const char *channel)
{
	return (struct ch_notification){
		.idempotency_key = "a1:1:c1:chan",
		.channel = channel,
		.document = DOC,
		.alert_id = "a1",
		.rule = "inactivity",
		.severity = "high",
		.state = "open",
		.subject_id = "s1",
		.contact_phone = PHONE,
		.step = 1,
		.attempt = 2,
	};
}

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                   */
/* ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	const char *b = getenv("CH_BUILD_DIR");

	(void)state;
	if (!b || !*b)
		b = "build";
	if (ch_fmt(tplug_dir, sizeof(tplug_dir), "%s/test-plugins", b) ||
	    ch_fmt(plug_dir, sizeof(plug_dir), "%s/plugins", b))
		return -1;
	return 0;
}

/* Each test logs into its own temporary stream so it can check what was logged. */
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

static int capture_teardown(void **state)
{
	(void)state;
	ch_log_set_stream(NULL);
	ch_log_set_level(CH_LOG_INFO);
	if (log_capture)
		fclose(log_capture);
	log_capture = NULL;
	return 0;
}

/* Everything logged so far in this test; malloc'ed. */
static char *captured_log(void)
{
	long n;
	char *s;

	fflush(log_capture);
	fseek(log_capture, 0, SEEK_END);
	n = ftell(log_capture);
	assert_true(n >= 0);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	rewind(log_capture);
	assert_int_equal(fread(s, 1, (size_t)n, log_capture), (size_t)n);
	fseek(log_capture, 0, SEEK_END);
	return s;
}

static void assert_logged(const char *needle)
{
	char *s = captured_log();

	if (!strstr(s, needle))
		fail_msg("log lacks \"%s\"; log was:\n%s", needle, s);
	free(s);
}

static void assert_not_logged(const char *needle)
{
	char *s = captured_log();

	if (strstr(s, needle))
		fail_msg("log has \"%s\"; log was:\n%s", needle, s);
	free(s);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" lacks \"%s\"", hay, needle);
}

/* Opens `plugin` from dir expecting a refusal; returns the reason in err. */
static void expect_refusal(const char *dir, const char *plugin, const char *opts, char *err,
			   size_t errlen)
{
	struct ch_channel *ch = (struct ch_channel *)&ch; /* must be reset to NULL */
	json_t *o = opts ? json_loads(opts, 0, NULL) : NULL;

	if (opts)
		assert_non_null(o);
	err[0] = '\0';
	assert_int_equal(ch_channel_open(dir, "c1", plugin, o, NULL, &ch, err, errlen), CH_EPLUGIN);
	assert_null(ch);
	assert_true(err[0] != '\0');
	/* Every refusal is logged, word for word. */
	assert_logged(err);
	json_decref(o);
}

static struct ch_channel *open_ok(const char *dir, const char *name, const char *plugin,
				  const char *opts, const struct ch_host_services *svc)
{
	struct ch_channel *ch = NULL;
	char err[1024] = "";
	json_t *o = json_loads(opts, 0, NULL);
	int rc;

	assert_non_null(o);
	rc = ch_channel_open(dir, name, plugin, o, svc, &ch, err, sizeof(err));
	json_decref(o);
	if (rc)
		fail_msg("open %s failed: %s", plugin, err);
	assert_non_null(ch);
	return ch;
}

/* ------------------------------------------------------------------------ */
/* Loader refusals                                                            */
/* ------------------------------------------------------------------------ */

static void test_refuses_bad_abi(void **state)
{
	char err[1024], want[1024];

	(void)state;
	expect_refusal(tplug_dir, "bad_abi", NULL, err, sizeof(err));
	ch_fmt(want, sizeof(want), "channel c1: %s/bad_abi.so: ABI version 999, host speaks 1",
	       tplug_dir);
	assert_string_equal(err, want);
}

static void test_refuses_small_struct(void **state)
{
	char err[1024], want[1024];

	(void)state;
	expect_refusal(tplug_dir, "small_struct", NULL, err, sizeof(err));
	ch_fmt(want, sizeof(want),
	       "channel c1: %s/small_struct.so: struct size %zu smaller than the host's %zu",
	       tplug_dir, offsetof(struct ch_plugin, init), offsetof(struct ch_plugin, reserved));
	assert_string_equal(err, want);
}

static void test_refuses_no_entry(void **state)
{
	char err[1024], want[1024];

	(void)state;
	expect_refusal(tplug_dir, "no_entry", NULL, err, sizeof(err));
	ch_fmt(want, sizeof(want),
	       "channel c1: %s/no_entry.so has no entry symbol carehub_plugin_entry_v1 (not a "
	       "carehub plugin, or built for another ABI)",
	       tplug_dir);
	assert_string_equal(err, want);
}

static void test_refuses_init_failure(void **state)
{
	char err[1024];

	(void)state;
	expect_refusal(tplug_dir, "init_fails", NULL, err, sizeof(err));
	assert_string_equal(
		err, "channel c1: plugin init_fails init failed: the test wants this to fail");
}

static void test_refuses_missing_send(void **state)
{
	char err[1024], want[1024];

	(void)state;
	expect_refusal(tplug_dir, "missing_send", NULL, err, sizeof(err));
	ch_fmt(want, sizeof(want),
	       "channel c1: %s/missing_send.so: plugin missing_send has no send()", tplug_dir);
	assert_string_equal(err, want);
}

static void test_refuses_missing_file(void **state)
{
	char err[1024], want[1024];

	(void)state;
	expect_refusal(tplug_dir, "no_such_plugin", NULL, err, sizeof(err));
	ch_fmt(want, sizeof(want), "channel c1: cannot load %s/no_such_plugin.so: ", tplug_dir);
	assert_memory_equal(err, want, strlen(want));
}

static void test_refuses_path_tricks(void **state)
{
	static const char *const bad[] = {
		"../test-plugins/ok_sync",
		"/etc/passwd",
		"ok_sync.so",
		"OK_SYNC",
		"ok-sync",
		"",
		"ok sync",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
	};
	char err[1024];

	(void)state;
	for (size_t i = 0; i < CH_ARRAY_LEN(bad); i++) {
		expect_refusal(tplug_dir, bad[i], NULL, err, sizeof(err));
		assert_string_equal(err,
				    "channel c1: plugin name must be 1 to 63 of [a-z0-9_] (a file "
				    "name in the plugin directory, without .so)");
	}
}

static void test_refusal_with_small_err_buffer(void **state)
{
	struct ch_channel *ch = NULL;
	char err[16];

	(void)state;
	assert_int_equal(
		ch_channel_open(tplug_dir, "c1", "bad_abi", NULL, NULL, &ch, err, sizeof(err)),
		CH_EPLUGIN);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	/* The log has the whole reason even when the caller's buffer is small. */
	assert_logged("ABI version 999, host speaks 1");
}

/* ------------------------------------------------------------------------ */
/* A working test plugin                                                      */
/* ------------------------------------------------------------------------ */

static void test_ok_sync_loads_and_sends(void **state)
{
	struct ch_channel *ch;
	struct ch_notification n = make_notification("greet");
	struct ch_send_result res = {0};

	(void)state;
	ch = open_ok(tplug_dir, "greet", "ok_sync", "{\"greeting\":\"hi\",\"count\":3}", NULL);
	assert_string_equal(ch->name, "greet");
	assert_string_equal(ch->plugin->name, "ok_sync");
	assert_logged("[channel greet] ok_sync says hi x3");
	assert_logged("channel greet: plugin ok_sync 1 loaded from");
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "hi:3");
	ch_channel_close(ch);
}

static void test_ok_sync_optional_default(void **state)
{
	struct ch_channel *ch;
	struct ch_notification n = make_notification("greet");
	struct ch_send_result res = {0};

	(void)state;
	ch = open_ok(tplug_dir, "greet", "ok_sync", "{\"greeting\":\"hello\"}", NULL);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_string_equal(res.provider_ref, "hello:1");
	ch_channel_close(ch);
}

/* The phone as the hub's masking shows it: the tests check plugins use it, not how it masks. */
static const char *masked_phone(void)
{
	static char m[64];

	ch_log_mask_phone(PHONE, m, sizeof(m));
	assert_string_not_equal(m, PHONE);
	return m;
}

static void test_host_log_masks_phone(void **state)
{
	struct ch_channel *ch;
	char want[128];

	(void)state;
	/* A careless plugin logging a phone number still leaves the log clean. */
	ch = open_ok(tplug_dir, "greet", "ok_sync", "{\"greeting\":\"+8613912345678\"}", NULL);
	ch_fmt(want, sizeof(want), "[channel greet] ok_sync says %s x1", masked_phone());
	assert_logged(want);
	assert_not_logged(PHONE);
	ch_channel_close(ch);
}

static void test_always_retry(void **state)
{
	struct ch_channel *ch;
	struct ch_notification n = make_notification("r");
	struct ch_send_result res = {0};

	(void)state;
	ch = open_ok(tplug_dir, "r", "always_retry", "{\"retry_after_ms\":250}", NULL);
	for (int i = 1; i <= 3; i++) {
		memset(&res, 0, sizeof(res));
		n.attempt = i;
		ch->plugin->send(ch->ctx, &n, &res);
		assert_int_equal(res.status, CH_SEND_RETRY);
		assert_int_equal(res.retry_after_ms, 250);
	}
	assert_string_equal(res.reason, "always_retry: attempt 3 (send 3)");
	ch_channel_close(ch);
}

/* ------------------------------------------------------------------------ */
/* Option validation                                                          */
/* ------------------------------------------------------------------------ */

static void test_options_unknown_key(void **state)
{
	char err[1024];

	(void)state;
	expect_refusal(tplug_dir, "ok_sync", "{\"greeting\":\"hi\",\"colour\":\"red\"}", err,
		       sizeof(err));
	assert_string_equal(err,
			    "channel c1: unknown option \"colour\" for plugin ok_sync, expected "
			    "one of: greeting, count");
}

static void test_options_missing_required(void **state)
{
	char err[1024];

	(void)state;
	expect_refusal(tplug_dir, "ok_sync", "{\"count\":2}", err, sizeof(err));
	assert_string_equal(err,
			    "channel c1: missing required option \"greeting\" for plugin ok_sync "
			    "(a word to say)");
	/* No options at all is the same as an empty object. */
	expect_refusal(tplug_dir, "ok_sync", NULL, err, sizeof(err));
	assert_contains(err, "missing required option \"greeting\"");
}

static void test_options_wrong_types(void **state)
{
	char err[1024];

	(void)state;
	expect_refusal(tplug_dir, "ok_sync", "{\"greeting\":5}", err, sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"greeting\" for plugin ok_sync must be a string, "
			    "got an integer");
	expect_refusal(tplug_dir, "ok_sync", "{\"greeting\":\"hi\",\"count\":\"3\"}", err,
		       sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"count\" for plugin ok_sync must be an integer, "
			    "got a string");
	expect_refusal(tplug_dir, "ok_sync", "{\"greeting\":\"hi\",\"count\":1.5}", err,
		       sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"count\" for plugin ok_sync must be an integer, "
			    "got a real number");
	expect_refusal(tplug_dir, "ok_sync", "[\"greeting\"]", err, sizeof(err));
	assert_string_equal(
		err, "channel c1: options for plugin ok_sync must be an object, got an array");
}

/* A table with every type, checked without loading anything. */
static const struct ch_plugin_option all_types[] = {
	{.name = "s", .type = CH_OPT_STRING}, {.name = "i", .type = CH_OPT_INT},
	{.name = "b", .type = CH_OPT_BOOL},   {.name = "u", .type = CH_OPT_URL, .required = 1},
	{.name = "e", .type = CH_OPT_ENV},    {.name = NULL},
};

static void noop_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	(void)ctx;
	(void)n;
	res->status = CH_SEND_OK;
}

static const struct ch_plugin all_types_plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "types",
	.options = all_types,
	.send = noop_send,
};

static int validate(const char *opts, char *err, size_t errlen)
{
	json_t *o = json_loads(opts, 0, NULL);
	int rc;

	assert_non_null(o);
	err[0] = '\0';
	rc = ch_plugin_validate_options(&all_types_plugin, o, err, errlen);
	json_decref(o);
	return rc;
}

static void test_options_all_types(void **state)
{
	char err[512];

	(void)state;
	assert_int_equal(
		validate("{\"s\":\"x\",\"i\":-4,\"b\":false,\"u\":\"https://h/p\",\"e\":\"A_1\"}",
			 err, sizeof(err)),
		0);
	assert_int_equal(validate("{\"u\":\"http://h\",\"e\":\"_X\"}", err, sizeof(err)), 0);

	assert_int_equal(validate("{\"u\":\"http://h\",\"b\":\"yes\"}", err, sizeof(err)),
			 CH_EPLUGIN);
	assert_string_equal(err,
			    "option \"b\" for plugin types must be true or false, got a string");
	assert_int_equal(validate("{\"u\":\"http://h\",\"b\":1}", err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err,
			    "option \"b\" for plugin types must be true or false, got an integer");
	assert_int_equal(validate("{\"u\":\"http://h\",\"s\":null}", err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err, "option \"s\" for plugin types must be a string, got null");

	assert_int_equal(validate("{\"u\":\"ftp://h/p\"}", err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err,
			    "option \"u\" for plugin types must be an http:// or https:// URL");
	assert_int_equal(validate("{\"u\":\"https://\"}", err, sizeof(err)), CH_EPLUGIN);
	assert_int_equal(validate("{\"u\":\"HTTP://h\"}", err, sizeof(err)), CH_EPLUGIN);
	assert_int_equal(validate("{\"u\":42}", err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err,
			    "option \"u\" for plugin types must be an http:// or https:// URL, got "
			    "an integer");

	/* A secret pasted where its variable's name belongs must not be echoed. */
	assert_int_equal(validate("{\"u\":\"http://h\",\"e\":\"sk-live-abc\"}", err, sizeof(err)),
			 CH_EPLUGIN);
	assert_string_equal(err, "option \"e\" for plugin types must be the name of an environment "
				 "variable ([A-Z_][A-Z0-9_]*)");
	assert_int_equal(validate("{\"u\":\"http://h\",\"e\":\"1ABC\"}", err, sizeof(err)),
			 CH_EPLUGIN);
	assert_int_equal(validate("{\"u\":\"http://h\",\"e\":\"\"}", err, sizeof(err)), CH_EPLUGIN);
	assert_int_equal(validate("{\"u\":\"http://h\",\"e\":\"lower\"}", err, sizeof(err)),
			 CH_EPLUGIN);

	assert_int_equal(validate("{}", err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err, "missing required option \"u\" for plugin types");
	assert_int_equal(ch_plugin_validate_options(&all_types_plugin, NULL, err, sizeof(err)),
			 CH_EPLUGIN);
	assert_string_equal(err, "missing required option \"u\" for plugin types");
}

static void test_check_option_tables(void **state)
{
	static const struct ch_plugin_option dup[] = {
		{.name = "a", .type = CH_OPT_STRING},
		{.name = "a", .type = CH_OPT_INT},
		{.name = NULL},
	};
	static const struct ch_plugin_option badtype[] = {
		{.name = "a", .type = (enum ch_opt_type)9},
		{.name = NULL},
	};
	struct ch_plugin p = all_types_plugin;
	char err[256];

	(void)state;
	assert_int_equal(ch_plugin_check(&p, err, sizeof(err)), 0);
	p.options = dup;
	assert_int_equal(ch_plugin_check(&p, err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err, "plugin types declares option \"a\" twice");
	p.options = badtype;
	assert_int_equal(ch_plugin_check(&p, err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err, "plugin types declares option \"a\" with unknown type 9");
	p.options = NULL;
	assert_int_equal(ch_plugin_check(&p, err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err,
			    "plugin types has no option table (an empty one ends with {NULL})");
	p = all_types_plugin;
	p.name = "";
	assert_int_equal(ch_plugin_check(&p, err, sizeof(err)), CH_EPLUGIN);
	assert_string_equal(err, "plugin has no name");
	assert_int_equal(ch_plugin_check(NULL, err, sizeof(err)), CH_EPLUGIN);
}

/* ------------------------------------------------------------------------ */
/* webhook                                                                    */
/* ------------------------------------------------------------------------ */

static void free_request(struct ch_http_request *r)
{
	assert_non_null(r->free_fn);
	for (char **h = r->headers; h && *h; h++)
		r->free_fn(*h);
	r->free_fn(r->headers);
	r->free_fn(r->url);
	r->free_fn(r->body);
}

static void test_webhook_request(void **state)
{
	struct ch_channel *ch;
	struct ch_notification n = make_notification("hook");
	struct ch_send_result res = {0};
	struct ch_http_request *r = &res.http;

	(void)state;
	assert_int_equal(setenv("CH_TEST_WEBHOOK_TOKEN", "tok-123", 1), 0);
	ch = open_ok(
		plug_dir, "hook", "webhook",
		"{\"url\":\"https://example.test/notify\",\"auth_env\":\"CH_TEST_WEBHOOK_TOKEN\"}",
		NULL);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_HTTP);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->url, "https://example.test/notify");
	assert_non_null(r->headers);
	assert_string_equal(r->headers[0], "Content-Type: application/json");
	assert_string_equal(r->headers[1], "Idempotency-Key: a1:1:c1:chan");
	assert_string_equal(r->headers[2], "Authorization: Bearer tok-123");
	assert_null(r->headers[3]);
	assert_int_equal(r->body_len, strlen(DOC));
	assert_memory_equal(r->body, DOC, r->body_len);
	assert_int_equal(r->timeout_ms, 0);
	free_request(r);
	/* The token never reaches the log. */
	assert_not_logged("tok-123");
	ch_channel_close(ch);
	unsetenv("CH_TEST_WEBHOOK_TOKEN");
}

static void test_webhook_without_auth(void **state)
{
	struct ch_channel *ch;
	struct ch_notification n = make_notification("hook");
	struct ch_send_result res = {0};

	(void)state;
	ch = open_ok(plug_dir, "hook", "webhook", "{\"url\":\"http://127.0.0.1:9/x\"}", NULL);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_HTTP);
	assert_string_equal(res.http.headers[1], "Idempotency-Key: a1:1:c1:chan");
	assert_null(res.http.headers[2]);
	free_request(&res.http);

	/* A key that could inject a header is refused for good. */
	memset(&res, 0, sizeof(res));
	n.idempotency_key = "a1\r\nX-Evil: 1";
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	ch_channel_close(ch);
}

static void test_webhook_refusals(void **state)
{
	char err[1024];

	(void)state;
	unsetenv("CH_TEST_UNSET_TOKEN");
	expect_refusal(plug_dir, "webhook",
		       "{\"url\":\"https://example.test\",\"auth_env\":\"CH_TEST_UNSET_TOKEN\"}",
		       err, sizeof(err));
	assert_string_equal(err, "channel c1: plugin webhook init failed: auth_env names "
				 "CH_TEST_UNSET_TOKEN, which is not set in the environment");
	expect_refusal(plug_dir, "webhook", "{\"url\":\"ftp://example.test\"}", err, sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"url\" for plugin webhook must be an http:// or "
			    "https:// URL");
	expect_refusal(plug_dir, "webhook", "{\"url\":\"https://example.test\",\"timeout\":5}", err,
		       sizeof(err));
	assert_string_equal(err,
			    "channel c1: unknown option \"timeout\" for plugin webhook, expected "
			    "one of: url, auth_env");
	expect_refusal(plug_dir, "webhook", "{}", err, sizeof(err));
	assert_contains(err, "missing required option \"url\"");
}

struct status_case {
	long status;
	enum ch_send_status want;
};

static void test_webhook_http_done(void **state)
{
	static const struct status_case cases[] = {
		{200, CH_SEND_OK},    {201, CH_SEND_OK},    {202, CH_SEND_OK},
		{204, CH_SEND_OK},    {408, CH_SEND_RETRY}, {429, CH_SEND_RETRY},
		{500, CH_SEND_RETRY}, {502, CH_SEND_RETRY}, {503, CH_SEND_RETRY},
		{599, CH_SEND_RETRY}, {301, CH_SEND_FAIL},  {400, CH_SEND_FAIL},
		{401, CH_SEND_FAIL},  {403, CH_SEND_FAIL},  {404, CH_SEND_FAIL},
		{409, CH_SEND_FAIL},  {410, CH_SEND_FAIL},  {422, CH_SEND_FAIL},
	};
	struct ch_channel *ch;
	struct ch_notification n = make_notification("hook");
	struct ch_send_result res;
	struct ch_http_response resp;
	char want[64];

	(void)state;
	ch = open_ok(plug_dir, "hook", "webhook", "{\"url\":\"https://example.test\"}", NULL);
	for (size_t i = 0; i < CH_ARRAY_LEN(cases); i++) {
		memset(&res, 0, sizeof(res));
		resp = (struct ch_http_response){
			.status = cases[i].status, .body = "", .retry_after_ms = 7000};
		ch->plugin->http_done(ch->ctx, &n, &resp, &res);
		if (res.status != cases[i].want)
			fail_msg("HTTP %ld: got %d, want %d", cases[i].status, res.status,
				 cases[i].want);
		ch_fmt(want, sizeof(want), "HTTP %ld", cases[i].status);
		assert_string_equal(res.reason, want);
		assert_int_equal(res.retry_after_ms, cases[i].want == CH_SEND_RETRY ? 7000 : 0);
	}

	/* No answer at all is transient. */
	memset(&res, 0, sizeof(res));
	resp = (struct ch_http_response){.transport_error = 1,
					 .transport_msg = "Connection refused"};
	ch->plugin->http_done(ch->ctx, &n, &resp, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_string_equal(res.reason, "transport error: Connection refused");

	/* The receiver's id becomes the provider reference. */
	memset(&res, 0, sizeof(res));
	resp = (struct ch_http_response){
		.status = 200, .body = "{\"id\":\"evt_42\"}", .body_len = 15};
	ch->plugin->http_done(ch->ctx, &n, &resp, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(res.provider_ref, "evt_42");
	memset(&res, 0, sizeof(res));
	resp = (struct ch_http_response){.status = 200, .body = "ok", .body_len = 2};
	ch->plugin->http_done(ch->ctx, &n, &resp, &res);
	assert_string_equal(res.provider_ref, "");

	/* An error body is quoted, on one line, with numbers masked. */
	memset(&res, 0, sizeof(res));
	resp = (struct ch_http_response){
		.status = 400, .body = "bad phone\n+8613912345678", .body_len = 24};
	ch->plugin->http_done(ch->ctx, &n, &resp, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	ch_fmt(want, sizeof(want), "HTTP 400: bad phone %s", masked_phone());
	assert_string_equal(res.reason, want);
	ch_channel_close(ch);
}

/* ------------------------------------------------------------------------ */
/* log                                                                        */
/* ------------------------------------------------------------------------ */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

static void test_log_plugin(void **state)
{
	char dir[] = "/tmp/ch-test-log-XXXXXX", path[600], opts[700], masked[64], want[128];
	struct ch_notification n = make_notification("audit");
	struct ch_send_result res = {0};
	struct ch_channel *ch;
	struct stat st;
	char *text, *nl;
	json_t *line;

	(void)state;
	assert_non_null(mkdtemp(dir));
	ch_fmt(path, sizeof(path), "%s/notify.log", dir);
	ch_fmt(opts, sizeof(opts), "{\"path\":\"%s\"}", path);
	ch_clock_fake_set(1764288960000);
	ch = open_ok(plug_dir, "audit", "log", opts, NULL);
	for (int i = 1; i <= 2; i++) {
		memset(&res, 0, sizeof(res));
		n.attempt = i;
		ch->plugin->send(ch->ctx, &n, &res);
		assert_int_equal(res.status, CH_SEND_OK);
	}
	ch_channel_close(ch);
	ch_clock_fake_off();

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = read_file(path);
	/* No unmasked phone number anywhere in the file. */
	assert_null(strstr(text, "13912345678"));
	ch_log_mask_phone(PHONE, masked, sizeof(masked));

	/* Exactly two lines, each one JSON object. */
	nl = strchr(text, '\n');
	assert_non_null(nl);
	assert_non_null(strchr(nl + 1, '\n'));
	assert_int_equal(strchr(nl + 1, '\n')[1], '\0');
	*nl = '\0';
	line = json_loads(text, 0, NULL);
	assert_non_null(line);
	assert_int_equal(json_integer_value(json_object_get(line, "ts")), 1764288960000);
	assert_string_equal(json_string_value(json_object_get(line, "channel")), "audit");
	assert_string_equal(json_string_value(json_object_get(line, "key")), "a1:1:c1:chan");
	assert_int_equal(json_integer_value(json_object_get(line, "step")), 1);
	assert_int_equal(json_integer_value(json_object_get(line, "attempt")), 1);
	{
		json_t *doc = json_object_get(line, "notification");
		json_t *contact = json_object_get(doc, "contact");
		json_t *alert = json_object_get(doc, "alert");

		assert_string_equal(json_string_value(json_object_get(contact, "phone")), masked);
		assert_string_equal(json_string_value(json_object_get(contact, "name")), "Li");
		/* Masking is aimed: long numbers that are not phones stay as they are. */
		assert_int_equal(json_integer_value(json_object_get(alert, "opened_at")),
				 1764288900000);
		ch_fmt(want, sizeof(want), "Please call %s now", masked);
		assert_string_equal(json_string_value(json_object_get(doc, "text")), want);
	}
	json_decref(line);
	line = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(line);
	assert_int_equal(json_integer_value(json_object_get(line, "attempt")), 2);
	json_decref(line);
	free(text);
	unlink(path);
	rmdir(dir);
}

static void test_log_plugin_refusals(void **state)
{
	char err[1024];

	(void)state;
	/* Missing directories are made; a path through a file cannot be. */
	expect_refusal(plug_dir, "log", "{\"path\":\"/dev/null/x/notify.log\"}", err, sizeof(err));
	assert_string_equal(err, "channel c1: plugin log init failed: cannot open "
				 "/dev/null/x/notify.log: Not a directory");
	expect_refusal(plug_dir, "log", "{\"path\":7}", err, sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"path\" for plugin log must be a string, got an "
			    "integer");
}

static void test_log_plugin_bad_document(void **state)
{
	char dir[] = "/tmp/ch-test-log-XXXXXX", path[600], opts[700];
	struct ch_notification n = make_notification("audit");
	struct ch_send_result res = {0};
	struct ch_channel *ch;

	(void)state;
	assert_non_null(mkdtemp(dir));
	ch_fmt(path, sizeof(path), "%s/notify.log", dir);
	ch_fmt(opts, sizeof(opts), "{\"path\":\"%s\"}", path);
	ch = open_ok(plug_dir, "audit", "log", opts, NULL);
	n.document = "not json";
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	ch_channel_close(ch);
	unlink(path);
	rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* mqtt                                                                       */
/* ------------------------------------------------------------------------ */

struct pub_capture {
	int calls;
	int rc;
	char topic[256];
	char *payload;
	size_t len;
	int qos;
	int retain;
};

static int capture_publish(void *arg, const char *topic, const void *payload, size_t len, int qos,
			   int retain)
{
	struct pub_capture *c = arg;

	c->calls++;
	ch_strlcpy(c->topic, topic, sizeof(c->topic));
	free(c->payload);
	c->payload = malloc(len + 1);
	assert_non_null(c->payload);
	memcpy(c->payload, payload, len);
	c->payload[len] = '\0';
	c->len = len;
	c->qos = qos;
	c->retain = retain;
	return c->rc;
}

static void test_mqtt_plugin(void **state)
{
	struct pub_capture cap = {0};
	const struct ch_host_services svc = {.publish = capture_publish, .publish_arg = &cap};
	struct ch_notification n = make_notification("console");
	struct ch_send_result res = {0};
	struct ch_channel *ch;

	(void)state;
	ch = open_ok(plug_dir, "console", "mqtt",
		     "{\"topic\":\"care/{subject}/notify/{subject}\",\"qos\":2,\"retain\":true,\"unmask\":true}",
		     &svc);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_int_equal(cap.calls, 1);
	assert_string_equal(cap.topic, "care/s1/notify/s1");
	assert_int_equal(cap.len, strlen(DOC));
	assert_string_equal(cap.payload, DOC);
	assert_int_equal(cap.qos, 2);
	assert_int_equal(cap.retain, 1);

	/* The hub's connection is away: transient. */
	cap.rc = CH_EAGAIN;
	memset(&res, 0, sizeof(res));
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_string_equal(res.reason, "publish to care/s1/notify/s1 failed (code -9)");

	/* A subject id that would turn the topic into a wildcard is refused for good. */
	cap.rc = 0;
	memset(&res, 0, sizeof(res));
	n.subject_id = "s+1";
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_FAIL);
	assert_int_equal(cap.calls, 2);
	ch_channel_close(ch);
	free(cap.payload);
}

/* By default a console topic carries no name, address or phone number whole, wherever they appear. */
static void test_mqtt_plugin_masks_personal_data(void **state)
{
	struct pub_capture cap = {0};
	const struct ch_host_services svc = {.publish = capture_publish, .publish_arg = &cap};
	struct ch_notification n = make_notification("console");
	struct ch_send_result res = {0};
	struct ch_channel *ch;
	json_t *j;

	(void)state;
	n.document = "{\"alert\":{\"id\":\"a1\",\"summary\":\"王秀英白天8h无活动\"},"
		     "\"subject\":{\"id\":\"s1\",\"name\":\"王秀英\",\"address\":\"上海市宝山区友谊路100弄3号502室\"},"
		     "\"contact\":{\"name\":\"李明（儿子）\",\"phone\":\"+8613800000011\",\"role\":\"family\"},"
		     "\"text\":\"【紧急】王秀英（上海市宝山区友谊路100弄3号502室）需要帮助，请拨 +8613800000011 或 021-55556666\"}";
	n.subject_name = "王秀英";
	n.subject_address = "上海市宝山区友谊路100弄3号502室";
	n.contact_name = "李明（儿子）";
	n.contact_phone = "+8613800000011";
	ch = open_ok(plug_dir, "console", "mqtt", "{\"topic\":\"carehub/v1/console\"}", &svc);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	j = json_loads(cap.payload, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "subject"), "name")), "王**");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "subject"), "address")), "上海市宝山区***");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "contact"), "name")), "李*****");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "contact"), "phone")), "+861********11");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "alert"), "summary")), "王**白天8h无活动");
	assert_string_equal(json_string_value(json_object_get(j, "text")),
			    "【紧急】王**（上海市宝山区***）需要帮助，请拨 +861********11 或 021-******66");
	assert_null(strstr(cap.payload, "秀英"));
	assert_null(strstr(cap.payload, "友谊路"));
	json_decref(j);
	ch_channel_close(ch);
	free(cap.payload);
}

static void test_mqtt_plugin_defaults_and_no_broker(void **state)
{
	struct pub_capture cap = {0};
	const struct ch_host_services svc = {.publish = capture_publish, .publish_arg = &cap};
	struct ch_notification n = make_notification("console");
	struct ch_send_result res = {0};
	struct ch_channel *ch;

	(void)state;
	ch = open_ok(plug_dir, "console", "mqtt", "{\"topic\":\"care/alerts\"}", &svc);
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_OK);
	assert_string_equal(cap.topic, "care/alerts");
	assert_int_equal(cap.qos, 1);
	assert_int_equal(cap.retain, 0);
	ch_channel_close(ch);
	free(cap.payload);

	/* Without host publishing (e.g. --check), the host answers CH_EIO and the send retries. */
	ch = open_ok(plug_dir, "console", "mqtt", "{\"topic\":\"care/alerts\"}", NULL);
	memset(&res, 0, sizeof(res));
	ch->plugin->send(ch->ctx, &n, &res);
	assert_int_equal(res.status, CH_SEND_RETRY);
	assert_string_equal(res.reason, "publish to care/alerts failed (code -3)");
	ch_channel_close(ch);
}

static void test_mqtt_plugin_refusals(void **state)
{
	char err[1024];

	(void)state;
	expect_refusal(plug_dir, "mqtt", "{\"topic\":\"care/x\",\"qos\":3}", err, sizeof(err));
	assert_string_equal(
		err, "channel c1: plugin mqtt init failed: option \"qos\" must be 0, 1 or 2, "
		     "got 3");
	expect_refusal(plug_dir, "mqtt", "{\"topic\":\"care/#\"}", err, sizeof(err));
	assert_string_equal(
		err, "channel c1: plugin mqtt init failed: option \"topic\" must not contain "
		     "the wildcards + or #");
	expect_refusal(plug_dir, "mqtt", "{\"topic\":\"care/x\",\"retain\":\"yes\"}", err,
		       sizeof(err));
	assert_string_equal(err,
			    "channel c1: option \"retain\" for plugin mqtt must be true or false, "
			    "got a string");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, capture_setup, capture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_refuses_bad_abi),
		T(test_refuses_small_struct),
		T(test_refuses_no_entry),
		T(test_refuses_init_failure),
		T(test_refuses_missing_send),
		T(test_refuses_missing_file),
		T(test_refuses_path_tricks),
		T(test_refusal_with_small_err_buffer),
		T(test_ok_sync_loads_and_sends),
		T(test_ok_sync_optional_default),
		T(test_host_log_masks_phone),
		T(test_always_retry),
		T(test_options_unknown_key),
		T(test_options_missing_required),
		T(test_options_wrong_types),
		T(test_options_all_types),
		T(test_check_option_tables),
		T(test_webhook_request),
		T(test_webhook_without_auth),
		T(test_webhook_refusals),
		T(test_webhook_http_done),
		T(test_log_plugin),
		T(test_log_plugin_refusals),
		T(test_log_plugin_bad_document),
		T(test_mqtt_plugin),
		T(test_mqtt_plugin_masks_personal_data),
		T(test_mqtt_plugin_defaults_and_no_broker),
		T(test_mqtt_plugin_refusals),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
