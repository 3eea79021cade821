/*
 * test_http.c - the HTTP server answers each route with the right status and
 * body over a real loopback socket (libcurl as the client), bounds bodies,
 * hands /v1 to the API hook with its headers and streams, serves a slow hook
 * without holding up /healthz (a thread per connection), and the HMAC helpers
 * match the published SHA-256 and HMAC-SHA256 vectors and refuse what they
 * should.
 */
#include "http.h"
#include "runtime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* ---- what the hooks saw, and what they answer ---- */

static struct {
	bool healthy;
	int calls;
	char channel[64];
	char body[256];
	size_t len;
	char sig[128];
	bool saw_header_line;
	int status; /* what the callback hook answers */
} hook;

static bool health(void *arg, char *detail, size_t len)
{
	(void)arg;
	snprintf(detail, len, "{\"mqtt\":%s,\"redis\":true}", hook.healthy ? "true" : "false");
	return hook.healthy;
}

static void callback(void *arg, const char *channel, const struct ch_http_incoming *rq, int *status, char *reply,
		     size_t replylen)
{
	const char *sig = rq->header(rq, "x-signature"); /* sent as X-Signature */

	(void)arg;
	hook.calls++;
	snprintf(hook.channel, sizeof(hook.channel), "%s", channel);
	snprintf(hook.body, sizeof(hook.body), "%.*s", (int)rq->len, rq->body);
	hook.len = rq->len;
	snprintf(hook.sig, sizeof(hook.sig), "%s", sig ? sig : "(none)");
	for (const char *const *hl = rq->headers; *hl; hl++)
		if (strcmp(*hl, "X-Signature: abc123") == 0)
			hook.saw_header_line = true;
	*status = hook.status;
	snprintf(reply, replylen, "{\"accepted\":%s}", hook.status == 200 ? "true" : "false");
}

/* The API hook: echoes what it saw; /v1/slow sleeps; /v1/stream streams three chunks. */
static atomic_int slow_inside, stream_freed;

static long chunks(void *arg, char *buf, size_t max)
{
	int *n = arg;

	if (*n >= 3)
		return -1;
	if (*n == 1 && max > 0) {
		/* "nothing yet" once: the server asks again */
		(*n)++;
		return 0;
	}
	return snprintf(buf, max, "data: %d\n\n", (*n)++);
}

static void chunks_free(void *arg)
{
	free(arg);
	atomic_fetch_add(&stream_freed, 1);
}

static void api(void *arg, const struct ch_http_incoming *rq, struct ch_http_reply *out)
{
	const char *auth = rq->header(rq, "Authorization");

	(void)arg;
	if (strcmp(rq->path, "/v1/slow") == 0) {
		struct timespec ts = {1, 500 * 1000000L};
		atomic_store(&slow_inside, 1);
		nanosleep(&ts, NULL);
		out->status = 200;
		return;
	}
	if (strcmp(rq->path, "/v1/stream") == 0) {
		int *n = calloc(1, sizeof(*n));
		out->status = 200;
		out->read = chunks;
		out->free_arg = chunks_free;
		out->arg = n;
		return;
	}
	out->status = auth ? 200 : 401;
	ch_http_reply_header(out, "Set-Cookie", "a=b; HttpOnly");
	out->body = malloc(256);
	snprintf(out->body, 256, "{\"method\":\"%s\",\"path\":\"%s\",\"auth\":\"%s\",\"len\":%zu}", rq->method,
		 rq->path, auth ? auth : "", rq->len);
}

static void metrics_extra(void *arg, char *buf, size_t len)
{
	(void)arg;
	snprintf(buf, len, "carehub_ingest_queue_depth 7\n");
}

/* ---- a small libcurl client ---- */

struct resp {
	long status;
	char body[16384];
	size_t len;
	char ctype[128];
	char allow[64];
	char cookie[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;
	size_t take = len < room ? len : room;

	memcpy(r->body + r->len, p, take);
	r->len += take;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n;

	if (len > 6 && strncasecmp(p, "Allow:", 6) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 6), p + 6);
	if (len > 11 && strncasecmp(p, "Set-Cookie:", 11) == 0)
		snprintf(r->cookie, sizeof(r->cookie), "%.*s", (int)strcspn(p + 12, "\r\n"), p + 12);
	return len;
}

struct upload {
	const char *p;
	size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t take = size * n < u->left ? size * n : u->left;

	if (take > 1000)
		take = 1000; /* several chunks */
	memcpy(buf, u->p, take);
	u->p += take;
	u->left -= take;
	return take;
}

enum body_mode { PLAIN, CHUNKED };

/* method, path; body may be NULL; headers a NULL-terminated list or NULL.  Returns the CURLcode. */
static int http(int port, const char *method, const char *path, const char *body, size_t len, enum body_mode mode,
		const char *const *headers, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct upload up = {body, len};
	char url[256];
	char *ct = NULL;
	CURLcode rc;

	assert_non_null(c);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body && mode == PLAIN) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	hl = curl_slist_append(hl, "Expect:");
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(r->ctype, sizeof(r->ctype), "%s", ct);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return (int)rc;
}

/* ---- fixtures ---- */

struct fx {
	struct ch_http *h;
	int port;
};

static int start(void **state, bool with_api, size_t max_body)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ch_http_opts o = {
		.port = 0,
		.max_body = max_body,
		.callback = callback,
		.health = health,
		.metrics_extra = metrics_extra,
		.api = with_api ? api : NULL,
	};
	char err[256] = "";

	memset(&hook, 0, sizeof(hook));
	hook.healthy = true;
	hook.status = 200;
	assert_non_null(f);
	assert_int_equal(ch_http_start(&o, &f->h, err, sizeof(err)), 0);
	f->port = ch_http_port(f->h);
	assert_true(f->port > 0 && f->port < 65536);
	*state = f;
	return 0;
}

static int setup_api(void **state)
{
	return start(state, true, 0);
}

static int setup_no_api(void **state)
{
	return start(state, false, 0);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ch_http_stop(f->h);
	free(f);
	return 0;
}

/* ---- server ---- */

static void test_healthz(void **state)
{
	struct fx *f = *state;
	struct resp r;

	assert_int_equal(http(f->port, "GET", "/healthz", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"status\":\"ok\",\"mqtt\":true,\"redis\":true}");
	assert_non_null(strstr(r.ctype, "application/json"));

	hook.healthy = false;
	assert_int_equal(http(f->port, "GET", "/healthz", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "{\"status\":\"degraded\",\"mqtt\":false,\"redis\":true}");

	assert_int_equal(http(f->port, "POST", "/healthz", "x", 1, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.allow, "GET"));
}

static void test_metrics(void **state)
{
	struct fx *f = *state;
	struct resp r;

	atomic_store(&ch_metrics.events_in, 42);
	atomic_store(&ch_metrics.rejected[CH_REJ_NOT_JSON], 3);
	assert_int_equal(http(f->port, "GET", "/metrics", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r.body, "# TYPE carehub_events_in_total counter\n"));
	assert_non_null(strstr(r.body, "\ncarehub_events_in_total 42\n"));
	assert_non_null(strstr(r.body, "# HELP carehub_rejected_total "));
	assert_non_null(strstr(r.body, "carehub_rejected_total{reason=\"not_json\"} 3\n"));
	assert_non_null(strstr(r.body, "carehub_rejected_total{reason=\"oversize\"} 0\n"));
	assert_null(strstr(r.body, "reason=\"none\""));
	assert_non_null(strstr(r.body, "carehub_redis_errors_total 0\n"));
	assert_non_null(strstr(r.body, "carehub_ingest_queue_depth 7\n"));
}

static void test_render_metrics_pure(void **state)
{
	char small[64], big[16384];
	size_t need, got;

	(void)state;
	atomic_store(&ch_metrics.jobs_queued, 5);
	need = ch_http_render_metrics(small, sizeof(small));
	assert_true(need >= sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	got = ch_http_render_metrics(big, sizeof(big));
	assert_int_equal(got, need);
	assert_int_equal(strlen(big), got);
	assert_non_null(strstr(big, "\ncarehub_jobs_queued_total 5\n"));
	/* One series for one fact: the labelled families carry alerts, sends and callbacks. */
	assert_null(strstr(big, "carehub_sends_ok_total"));
	assert_null(strstr(big, "carehub_alerts_opened_total"));
	/* every line is a comment or "name value" */
	for (char *line = big; *line;) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		if (*line != '#')
			assert_non_null(memchr(line, ' ', (size_t)(nl - line)));
		line = nl + 1;
	}
}

static void test_callback(void **state)
{
	struct fx *f = *state;
	const char *hdrs[] = {"X-Signature: abc123", "Content-Type: application/json", NULL};
	const char body[] = "{\"ref\":\"p-1\",\"status\":\"delivered\"}";
	struct resp r;

	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", body, strlen(body), PLAIN, hdrs, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"accepted\":true}");
	assert_int_equal(hook.calls, 1);
	assert_string_equal(hook.channel, "sms");
	assert_string_equal(hook.body, body);
	assert_int_equal(hook.len, strlen(body));
	assert_string_equal(hook.sig, "abc123");
	assert_true(hook.saw_header_line);

	/* the hook refuses: its status and reply come back (and it is logged) */
	hook.status = 401;
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/ai_call-2", body, strlen(body), CHUNKED, hdrs, &r),
			 CURLE_OK);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.body, "{\"accepted\":false}");
	assert_string_equal(hook.channel, "ai_call-2");
	assert_string_equal(hook.body, body);

	/* an empty body reaches the hook as "" */
	hook.status = 202;
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", "", 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 202);
	assert_int_equal(hook.len, 0);
	assert_int_equal(hook.calls, 3);
}

static void test_callback_refusals(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char long_name[128];

	memset(long_name, 0, sizeof(long_name));
	memcpy(long_name, "/v1/callbacks/", 14);
	memset(long_name + 14, 'a', 64);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/bad.name", "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sm%20s", "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/", "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/a/b", "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(http(f->port, "POST", long_name, "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	long_name[14 + 63] = '\0'; /* 63 is still fine */
	assert_int_equal(http(f->port, "POST", long_name, "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(hook.calls, 1);

	assert_int_equal(http(f->port, "GET", "/v1/callbacks/sms", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.allow, "POST"));
	assert_non_null(strstr(r.body, "method not allowed"));
	assert_int_equal(hook.calls, 1);

	assert_int_equal(http(f->port, "GET", "/nowhere", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.ctype, "application/json"));
}

static void test_body_limit(void **state)
{
	struct fx *f = *state;
	size_t n = CH_HTTP_DEFAULT_MAX_BODY + 1;
	char *big = malloc(n);
	struct resp r;

	assert_non_null(big);
	memset(big, 'x', n);
	/* declared length: refused before the body is read */
	http(f->port, "POST", "/v1/callbacks/sms", big, n, PLAIN, NULL, &r);
	assert_int_equal(r.status, 413);
	/* chunked: read to the end, then refused */
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", big, n, CHUNKED, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 413);
	assert_int_equal(hook.calls, 0);
	/* exactly max_body is fine, both ways */
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", big, n - 1, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", big, n - 1, CHUNKED, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(hook.calls, 2);
	assert_int_equal(hook.len, n - 1);
	free(big);

	/* the server still answers */
	assert_int_equal(http(f->port, "GET", "/healthz", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
}

/* /v1 goes to the API hook with its headers; the hook's status, headers and body come back. */
static void test_api_hook(void **state)
{
	struct fx *f = *state;
	const char *none[] = {NULL};
	const char *right[] = {"Authorization: Bearer s3cret-token", NULL};
	struct resp r;

	assert_int_equal(http(f->port, "GET", "/v1/alerts", NULL, 0, PLAIN, none, &r), CURLE_OK);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.ctype, "application/json"));
	assert_int_equal(http(f->port, "POST", "/v1/alerts/a-1/ack", "{}", 2, PLAIN, right, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"method\":\"POST\",\"path\":\"/v1/alerts/a-1/ack\",\"auth\":\"Bearer s3cret-token\","
				    "\"len\":2}");
	assert_string_equal(r.cookie, "a=b; HttpOnly");
	/* the callback path is not the API's */
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", "{}", 2, PLAIN, none, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "accepted"));
}

static void test_no_api(void **state)
{
	struct fx *f = *state;
	struct resp r;

	assert_int_equal(http(f->port, "GET", "/v1/alerts", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 404);
	assert_int_equal(http(f->port, "POST", "/v1/callbacks/sms", "{}", 2, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
}

/* A stream: chunks as the hook gives them (a 0 is "not yet"), closed when it says so, freed once. */
static void test_stream(void **state)
{
	struct fx *f = *state;
	struct resp r;

	atomic_store(&stream_freed, 0);
	assert_int_equal(http(f->port, "GET", "/v1/stream", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/event-stream"));
	assert_string_equal(r.body, "data: 0\n\ndata: 2\n\n");
	for (int i = 0; i < 200 && atomic_load(&stream_freed) == 0; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(atomic_load(&stream_freed), 1);
}

struct slow_call {
	int port;
	struct resp r;
};

static void *call_slow(void *arg)
{
	struct slow_call *c = arg;

	http(c->port, "GET", "/v1/slow", NULL, 0, PLAIN, NULL, &c->r);
	return NULL;
}

/* A hook that takes its time (Redis frozen behind it) holds up only its own connection. */
static void test_slow_hook_holds_nobody(void **state)
{
	struct fx *f = *state;
	struct slow_call c = {.port = f->port};
	struct timespec t0, t1;
	pthread_t th;
	struct resp r;

	atomic_store(&slow_inside, 0);
	assert_int_equal(pthread_create(&th, NULL, call_slow, &c), 0);
	while (!atomic_load(&slow_inside)) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(http(f->port, "GET", "/healthz", NULL, 0, PLAIN, NULL, &r), CURLE_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(r.status, 200);
	/* answered while the slow one (1.5 s) is still inside its hook */
	assert_true(atomic_load(&slow_inside));
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	pthread_join(th, NULL);
	assert_int_equal(c.r.status, 200);
}

static void test_start_errors(void **state)
{
	struct ch_http_opts o = {.listen = "not-an-address"};
	struct ch_http *h = (struct ch_http *)1, *h2 = NULL;
	char err[256];

	(void)state;
	assert_int_equal(ch_http_start(&o, &h, err, sizeof(err)), CH_EINVAL);
	assert_null(h);
	assert_non_null(strstr(err, "not-an-address"));
	o.listen = NULL;
	o.port = 70000;
	assert_int_equal(ch_http_start(&o, &h, err, sizeof(err)), CH_EINVAL);

	/* a port in use is refused with a reason */
	o.port = 0;
	assert_int_equal(ch_http_start(&o, &h, err, sizeof(err)), 0);
	o.port = ch_http_port(h);
	assert_int_equal(ch_http_start(&o, &h2, err, sizeof(err)), CH_EIO);
	assert_null(h2);
	ch_http_stop(h);
	ch_http_stop(NULL);
	assert_int_equal(ch_http_port(NULL), -1);
}

static void test_channel_names(void **state)
{
	(void)state;
	assert_true(ch_http_channel_valid("sms"));
	assert_true(ch_http_channel_valid("AI_call-2"));
	assert_false(ch_http_channel_valid(""));
	assert_false(ch_http_channel_valid("a.b"));
	assert_false(ch_http_channel_valid("a/b"));
	assert_false(ch_http_channel_valid("é"));
}

/* ---- SHA-256, HMAC-SHA256 ---- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void test_sha256_vectors(void **state)
{
	uint8_t d[32];
	char h[65];
	char *million = malloc(1000000);

	(void)state;
	ch_http_sha256("", 0, d);
	hex(d, 32, h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ch_http_sha256("abc", 3, d);
	hex(d, 32, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ch_http_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, 32, h);
	assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_non_null(million);
	memset(million, 'a', 1000000);
	ch_http_sha256(million, 1000000, d);
	hex(d, 32, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_hmac_rfc4231(void **state)
{
	uint8_t key[131], d[32];
	char h[65];
	const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";

	(void)state;
	/* case 1 */
	memset(key, 0x0b, 20);
	ch_http_hmac_sha256(key, 20, "Hi There", 8, d);
	hex(d, 32, h);
	assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	/* case 2 */
	ch_http_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex(d, 32, h);
	assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* case 6: a key longer than the block */
	memset(key, 0xaa, 131);
	ch_http_hmac_sha256(key, 131, msg6, strlen(msg6), d);
	hex(d, 32, h);
	assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_sign_matches_hmac(void **state)
{
	uint8_t d[32];
	char h[65], s[65];

	(void)state;
	ch_http_hmac_sha256("k3y", 3, "1700000000.{\"a\":1}", 18, d);
	hex(d, 32, h);
	ch_http_sign_hmac("k3y", "1700000000", "{\"a\":1}", 7, s);
	assert_string_equal(s, h);
}

/* One signed text, one digest: the spelling of its headers does not matter, its timestamp and body do. */
static void test_callback_digest(void **state)
{
	const char *const a[] = {"Content-Type: application/json", "X-Carehub-Timestamp: 1700000000",
				 "X-Carehub-Signature: abc", NULL};
	const char *const b[] = {"x-carehub-timestamp:1700000000", "X-Carehub-Signature: sha256=ABC", NULL};
	const char *const c[] = {"X-Carehub-Timestamp: 1700000001", NULL};
	char da[65], db[65], dc[65], dd[65], de[65];

	(void)state;
	ch_http_callback_digest("call", a, "{\"id\":1}", 8, da);
	ch_http_callback_digest("call", b, "{\"id\":1}", 8, db);
	ch_http_callback_digest("call", c, "{\"id\":1}", 8, dc);
	ch_http_callback_digest("sms", a, "{\"id\":1}", 8, dd);
	ch_http_callback_digest("call", a, "{\"id\":2}", 8, de);
	assert_int_equal(strlen(da), 64);
	assert_string_equal(da, db);
	assert_string_not_equal(da, dc);
	assert_string_not_equal(da, dd);
	assert_string_not_equal(da, de);
}

static void test_verify(void **state)
{
	const char *key = "whsec_test";
	const char *body = "{\"ref\":\"p-1\",\"status\":\"answered\"}";
	size_t len = strlen(body);
	char sig[65], upper[65], bad[65];
	int64_t now = 1700000000;

	(void)state;
	ch_http_sign_hmac(key, "1700000000", body, len, sig);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now, 300), 0);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now + 300, 300), 0);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now - 300, 300), 0);
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32 : sig[i]);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, upper, now, 300), 0);

	/* tampered body, timestamp, key or signature */
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", "{\"ref\":\"p-1\",\"status\":\"answereD\"}", len, sig,
					     now, 300),
			 CH_EPROTO);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len - 1, sig, now, 300), CH_EPROTO);
	assert_int_equal(ch_http_verify_hmac(key, "1700000001", body, len, sig, now, 300), CH_EPROTO);
	assert_int_equal(ch_http_verify_hmac("whsec_tesT", "1700000000", body, len, sig, now, 300), CH_EPROTO);
	memcpy(bad, sig, 65);
	bad[63] = bad[63] == '0' ? '1' : '0';
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, bad, now, 300), CH_EPROTO);

	/* a good signature outside the window: replayed or from a skewed clock */
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now + 301, 300), CH_ETIMEOUT);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now - 301, 300), CH_ETIMEOUT);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, INT64_MIN, 300), CH_ETIMEOUT);

	/* malformed */
	memcpy(bad, sig, 65);
	bad[10] = 'g';
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, bad, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, "abcd", now, 300), CH_EINVAL);
	memcpy(bad, sig, 65);
	bad[63] = '\0';
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, bad, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "17000x0000", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "-1700000000", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "9999999999999999999999", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac("", "1700000000", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(NULL, "1700000000", body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, NULL, body, len, sig, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, NULL, now, 300), CH_EINVAL);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", body, len, sig, now, -1), CH_EINVAL);

	/* an empty body signs and verifies */
	ch_http_sign_hmac(key, "1700000000", NULL, 0, sig);
	assert_int_equal(ch_http_verify_hmac(key, "1700000000", "", 0, sig, now, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_healthz, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup_api, teardown),
		cmocka_unit_test(test_render_metrics_pure),
		cmocka_unit_test_setup_teardown(test_callback, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_callback_refusals, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_body_limit, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_api_hook, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_no_api, setup_no_api, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup_api, teardown),
		cmocka_unit_test_setup_teardown(test_slow_hook_holds_nobody, setup_api, teardown),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_channel_names),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_sign_matches_hmac),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_callback_digest),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
