/*
 * http.c - the hub's HTTP server on libmicrohttpd (the signatures of provider
 * callbacks are in http_sig.c).
 *
 * The only file that sees <microhttpd.h>.  A thread per connection (MHD's
 * thread-per-connection mode, bounded in total and per address, idle ones
 * closed): a slow or hostile client costs one thread and holds up nobody, a
 * hook waiting on Redis holds up only its own request, and a live stream
 * (server-sent events) simply keeps its thread.  /healthz answers from the
 * health hook's cached flags.
 *
 * Security: bound to loopback unless configured otherwise; bodies capped at
 * max_body; bodies, tokens and headers never reach the log.  Who may use /v1
 * is the API hook's business (api.c).
 */
#include "http.h"
#include "http_int.h"

#include "event.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

/*
 * Every counter of struct ch_metrics but rejected[], in order.  The static
 * assertion below fails when a counter is added to runtime.h and not here.
 */
#define M(field, help) {#field, help, offsetof(struct ch_metrics, field)}
static const struct {
	const char *name;
	const char *help;
	size_t off;
} counters[] = {
	M(events_in, "Events taken from MQTT (canonical and adapter topics)."),
	M(events_processed, "Events applied to subject state."),
	M(duplicates, "Events dropped because their id was seen within 24 h."),
	M(timers_fired, "Subjects whose timer deadline was evaluated."),
	M(state_conflicts, "Compare-and-set updates lost to another instance."),
	M(redis_round_trips, "Round trips to Redis."),
	M(jobs_queued, "Dispatch jobs queued in the outbox."),
	M(batches, "Ingest batches processed."),
	M(redis_errors, "Redis errors."),
};
#undef M

_Static_assert(sizeof(struct ch_metrics) ==
		       (CH_ARRAY_LEN(counters) + CH_REJ_COUNT) * sizeof(atomic_uint_fast64_t),
	       "struct ch_metrics changed: name the new counter in http.c counters[]");

size_t ch_http_render_metrics(char *buf, size_t len)
{
	size_t pos = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < CH_ARRAY_LEN(counters); i++) {
		const atomic_uint_fast64_t *c = (const atomic_uint_fast64_t *)((const char *)&ch_metrics + counters[i].off);
		ch_fmt_append(buf, len, &pos, "# HELP carehub_%s_total %s\n# TYPE carehub_%s_total counter\ncarehub_%s_total %llu\n",
		    counters[i].name, counters[i].help, counters[i].name, counters[i].name,
		    (unsigned long long)atomic_load_explicit(c, memory_order_relaxed));
	}
	ch_fmt_append(buf, len, &pos,
	    "# HELP carehub_rejected_total Events refused, by reason (kept as dead letters).\n"
	    "# TYPE carehub_rejected_total counter\n");
	for (int r = CH_REJ_NONE + 1; r < CH_REJ_COUNT; r++)
		ch_fmt_append(buf, len, &pos, "carehub_rejected_total{reason=\"%s\"} %llu\n", ch_reject_name((enum ch_reject)r),
		    (unsigned long long)atomic_load_explicit(&ch_metrics.rejected[r], memory_order_relaxed));
	ch_metrics_render(buf, len, &pos);
	return pos;
}

/* ------------------------------------------------------------------ */
/* Server                                                              */
/* ------------------------------------------------------------------ */

#define REPLY_MAX 4096
#define HEALTH_MAX 1024
#define METRICS_EXTRA_MAX (16 * 1024)

struct ch_http {
	struct MHD_Daemon *d;
	int port;
	bool have_metrics_token;
	uint8_t metrics_digest[32];
	size_t max_body;
	ch_http_callback_fn callback;
	ch_http_api_fn api;
	ch_http_health_fn health;
	ch_http_metrics_fn metrics_extra;
	void *arg;
	atomic_bool stopping; /* streams end at their next read */
};

/* Per request (MHD's con_cls): the body as it arrives. */
struct req {
	char *body;
	size_t len, cap;
	bool too_large;
	bool answered; /* a 413 went out before the body */
};

bool ch_http_channel_valid(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++) {
		char c = name[n];
		if (n >= 63 || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
				 c == '-'))
			return false;
	}
	return n > 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
			     size_t len, const char *extra_name, const char *extra_value)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (extra_name)
		MHD_add_response_header(r, extra_name, extra_value);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *json)
{
	return reply(c, status, "application/json", json, strlen(json), NULL, NULL);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg); /* msg: our own literals, no escaping needed */
	return reply_json(c, status, body);
}

static enum MHD_Result reply_405(struct MHD_Connection *c, const char *allow)
{
	return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", "{\"error\":\"method not allowed\"}",
		     strlen("{\"error\":\"method not allowed\"}"), MHD_HTTP_HEADER_ALLOW, allow);
}

/* 413 by number: its MHD name changed between releases. */
static enum MHD_Result reply_413(struct MHD_Connection *c)
{
	static const char body[] = "{\"error\":\"body too large\"}";

	return reply(c, 413, "application/json", body, sizeof(body) - 1, MHD_HTTP_HEADER_CONNECTION, "close");
}

static void remote_addr(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	ch_strlcpy(buf, "?", len);
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)len);
}

static bool is_get(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* ---- /healthz and /metrics ---- */

static enum MHD_Result serve_health(struct ch_http *h, struct MHD_Connection *c)
{
	char detail[HEALTH_MAX] = "", body[HEALTH_MAX + 64];
	bool ok = h->health ? h->health(h->arg, detail, sizeof(detail)) : true;
	const char *status = ok ? "ok" : "degraded";
	size_t n;

	detail[sizeof(detail) - 1] = '\0';
	n = strlen(detail);
	/* Merge the members of a {...} detail after "status"; anything else is dropped. */
	if (n >= 2 && detail[0] == '{' && detail[n - 1] == '}') {
		const char *inner = detail + 1;
		size_t ilen = n - 2;
		while (ilen && (*inner == ' ' || *inner == '\n' || *inner == '\t'))
			inner++, ilen--;
		if (ilen)
			snprintf(body, sizeof(body), "{\"status\":\"%s\",%.*s}", status, (int)ilen, inner);
		else
			snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
	} else {
		snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
	}
	return reply_json(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result serve_metrics(struct ch_http *h, struct MHD_Connection *c)
{
	size_t cap = 8192, n;
	char *buf = NULL;
	enum MHD_Result ret;

	for (;;) {
		char *nb = realloc(buf, cap + METRICS_EXTRA_MAX);
		if (!nb) {
			free(buf);
			return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		}
		buf = nb;
		n = ch_http_render_metrics(buf, cap);
		if (n < cap)
			break;
		cap = n + 1;
	}
	if (h->metrics_extra) {
		buf[n] = '\0';
		h->metrics_extra(h->arg, buf + n, METRICS_EXTRA_MAX);
		buf[n + METRICS_EXTRA_MAX - 1] = '\0';
		n += strlen(buf + n);
	}
	ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, n, NULL, NULL);
	free(buf);
	return ret;
}

/* ---- /v1/callbacks/{channel} ---- */

struct hdr_list {
	char **v;
	size_t n, cap;
	bool failed;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_list *l = cls;
	size_t klen = strlen(key), vlen = value ? strlen(value) : 0;
	char *line;

	(void)kind;
	if (l->n + 1 >= l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		char **nv = realloc(l->v, ncap * sizeof(*nv));
		if (!nv) {
			l->failed = true;
			return MHD_NO;
		}
		l->v = nv;
		l->cap = ncap;
	}
	line = malloc(klen + vlen + 3);
	if (!line) {
		l->failed = true;
		return MHD_NO;
	}
	memcpy(line, key, klen);
	memcpy(line + klen, ": ", 2);
	if (vlen)
		memcpy(line + klen + 2, value, vlen);
	line[klen + 2 + vlen] = '\0';
	l->v[l->n++] = line;
	l->v[l->n] = NULL;
	return MHD_YES;
}

static void free_headers(struct hdr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static const char *lookup_header(const struct ch_http_incoming *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->impl, MHD_HEADER_KIND, name);
}

static const char *lookup_query(const struct ch_http_incoming *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->impl, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result serve_callback(struct ch_http *h, struct MHD_Connection *c, const char *path,
				      const char *channel, const char *method, struct req *rs)
{
	static const char *const no_headers[1] = {NULL};
	struct hdr_list hl = {0};
	char addr[INET6_ADDRSTRLEN] = "?";
	char *out;
	int status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	enum MHD_Result ret;

	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hl);
	if (hl.failed || !(out = malloc(REPLY_MAX))) {
		free_headers(&hl);
		return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	out[0] = '\0';
	remote_addr(c, addr, sizeof(addr));

	struct ch_http_incoming rq = {
		.method = method,
		.path = path,
		.body = rs->body ? rs->body : "",
		.len = rs->len,
		.remote = addr,
		.headers = hl.v ? (const char *const *)hl.v : no_headers,
		.header = lookup_header,
		.query = lookup_query,
		.impl = c,
	};
	h->callback(h->arg, channel, &rq, &status, out, REPLY_MAX);
	out[REPLY_MAX - 1] = '\0';
	free_headers(&hl);

	if (status < 100 || status > 599)
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (status == MHD_HTTP_UNAUTHORIZED)
		ch_log_rl("http.callback_refused", 10000, CH_LOG_WARN, "http: callback for channel %s from %s refused",
			  channel, addr);
	ret = reply_json(c, (unsigned)status, out[0] ? out : "{}");
	free(out);
	return ret;
}

/* ---- /v1 API and the console ---- */

int ch_http_reply_header(struct ch_http_reply *r, const char *name, const char *value)
{
	size_t n = strlen(name), m = strlen(value);
	char *line;

	if (r->nheaders >= CH_HTTP_MAX_HEADERS)
		return CH_EFULL;
	if (!(line = malloc(n + m + 3)))
		return CH_ENOMEM;
	memcpy(line, name, n);
	memcpy(line + n, ": ", 2);
	memcpy(line + n + 2, value, m + 1);
	r->headers[r->nheaders++] = line;
	return 0;
}

static void reply_clear(struct ch_http_reply *r)
{
	free(r->body);
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	if (r->free_arg)
		r->free_arg(r->arg);
	memset(r, 0, sizeof(*r));
}

/* A stream handed to MHD: the hook's reader, and the server to ask whether it is stopping. */
struct stream {
	struct ch_http *h;
	long (*read)(void *arg, char *buf, size_t max);
	void (*free_arg)(void *arg);
	void *arg;
};

/* Called from the connection's own thread; blocking here holds up nobody else. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	long n;

	(void)pos;
	for (;;) {
		if (atomic_load(&s->h->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		n = s->read(s->arg, buf, max);
		if (n < 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n > 0)
			return (ssize_t)(n > (long)max ? (long)max : n);
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	if (s->free_arg)
		s->free_arg(s->arg);
	free(s);
}

static void add_headers(struct MHD_Response *r, const struct ch_http_reply *out)
{
	for (size_t i = 0; i < out->nheaders; i++) {
		char *colon = strchr(out->headers[i], ':');
		if (!colon)
			continue;
		*colon = '\0';
		MHD_add_response_header(r, out->headers[i], colon + 2);
		*colon = ':';
	}
}

/* A stream (the API's live feed): MHD pulls from stream_read, in this connection's thread, with no idle timeout. */
static enum MHD_Result queue_stream(struct ch_http *h, struct MHD_Connection *c, struct ch_http_reply *out)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!s)
		return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	*s = (struct stream){h, out->read, out->free_arg, out->arg};
	out->free_arg = NULL; /* the stream owns arg now */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, out->ctype ? out->ctype : "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* a reverse proxy must pass it on at once */
	add_headers(r, out);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
	ret = MHD_queue_response(c, (unsigned)out->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_api(struct ch_http *h, struct MHD_Connection *c, const char *path, const char *method,
				 struct req *rs)
{
	static const char *const no_headers[1] = {NULL};
	char addr[INET6_ADDRSTRLEN] = "?";
	struct ch_http_reply out = {.status = MHD_HTTP_INTERNAL_SERVER_ERROR};
	struct MHD_Response *r;
	enum MHD_Result ret;

	remote_addr(c, addr, sizeof(addr));
	struct ch_http_incoming rq = {
		.method = method,
		.path = path,
		.body = rs->body ? rs->body : "",
		.len = rs->len,
		.remote = addr,
		.headers = no_headers,
		.header = lookup_header,
		.query = lookup_query,
		.impl = c,
	};
	h->api(h->arg, &rq, &out);
	if (out.status < 100 || out.status > 599)
		out.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	if (out.read && out.status == MHD_HTTP_OK) {
		ret = queue_stream(h, c, &out);
		reply_clear(&out);
		return ret;
	}
	const char *body = out.body ? out.body : "{}";
	r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!r) {
		reply_clear(&out);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, out.ctype ? out.ctype : "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	add_headers(r, &out);
	ret = MHD_queue_response(c, (unsigned)out.status, r);
	MHD_destroy_response(r);
	reply_clear(&out);
	return ret;
}

#include "console.html.h"

static enum MHD_Result serve_console(struct MHD_Connection *c)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(console_html) - 1, (void *)(uintptr_t)console_html,
								 MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* Everything the page needs is in it; it talks only to this server. */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
				"connect-src 'self'; media-src blob:; form-action 'none'; frame-ancestors 'none'");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- the bearer-token gate of /metrics (the /v1 API authenticates in auth.c) ---- */

static bool token_ok(const uint8_t want[32], struct MHD_Connection *c)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	uint8_t digest[32];
	size_t n;

	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	while (*auth == ' ')
		auth++;
	n = strlen(auth);
	while (n && (auth[n - 1] == ' ' || auth[n - 1] == '\t'))
		n--;
	if (!n)
		return false;
	ch_http_sha256(auth, n, digest);
	return ch_http_ct_equal(digest, want, 32);
}

/* ---- routing ---- */

static enum MHD_Result route(struct ch_http *h, struct MHD_Connection *c, const char *url, const char *method,
			     struct req *rs)
{
	static const char cb_prefix[] = "/v1/callbacks/";

	if (strcmp(url, "/healthz") == 0)
		return is_get(method) ? serve_health(h, c) : reply_405(c, "GET, HEAD");
	if (strcmp(url, "/metrics") == 0) {
		if (!is_get(method))
			return reply_405(c, "GET, HEAD");
		if (h->have_metrics_token && !token_ok(h->metrics_digest, c))
			return reply(c, MHD_HTTP_UNAUTHORIZED, "application/json", "{\"error\":\"unauthorized\"}",
				     strlen("{\"error\":\"unauthorized\"}"), MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		return serve_metrics(h, c);
	}
	if (strncmp(url, cb_prefix, sizeof(cb_prefix) - 1) == 0) {
		const char *channel = url + sizeof(cb_prefix) - 1;
		if (!ch_http_channel_valid(channel) || !h->callback)
			return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_405(c, "POST");
		return serve_callback(h, c, url, channel, method, rs);
	}
	if (strcmp(url, "/v1") == 0 || strncmp(url, "/v1/", 4) == 0) {
		if (!h->api)
			return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
		return serve_api(h, c, url, method, rs);
	}
	if (strcmp(url, "/") == 0)
		return is_get(method) ? serve_console(c) : reply_405(c, "GET, HEAD");
	return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * MHD calls this once with the headers, then once per piece of body, then once
 * more with nothing: the answer goes out on that last call.  A declared
 * Content-Length over max_body is refused at once; a chunked body that grows
 * past it is read to the end and thrown away.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct ch_http *h = cls;
	struct req *rs = *con_cls;

	(void)version;
	if (!rs) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		long long declared;
		char *end;

		rs = calloc(1, sizeof(*rs));
		if (!rs)
			return MHD_NO;
		*con_cls = rs;
		if (cl) {
			errno = 0;
			declared = strtoll(cl, &end, 10);
			if (errno || end == cl || declared < 0 || (unsigned long long)declared > h->max_body) {
				rs->too_large = rs->answered = true;
				return reply_413(c);
			}
		}
		return MHD_YES;
	}
	if (rs->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (rs->too_large || n > h->max_body - rs->len) {
			rs->too_large = true;
			free(rs->body);
			rs->body = NULL;
			rs->len = rs->cap = 0;
			return MHD_YES;
		}
		if (rs->len + n + 1 > rs->cap) {
			size_t ncap = rs->cap ? rs->cap : 1024;
			while (ncap < rs->len + n + 1)
				ncap *= 2;
			if (ncap > h->max_body + 1)
				ncap = h->max_body + 1;
			char *nb = realloc(rs->body, ncap);
			if (!nb)
				return MHD_NO;
			rs->body = nb;
			rs->cap = ncap;
		}
		memcpy(rs->body + rs->len, upload_data, n);
		rs->len += n;
		rs->body[rs->len] = '\0';
		return MHD_YES;
	}
	if (rs->too_large)
		return reply_413(c);
	return route(h, c, url, method, rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *rs = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rs) {
		free(rs->body);
		free(rs);
		*con_cls = NULL;
	}
}

static void CH_PRINTF(2, 0) on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	ch_log_rl("http.mhd", 10000, CH_LOG_WARN, "http: %s", msg);
}

/*
 * HTTPS: the daemon flag and the key and certificate as option items (for
 * MHD_OPTION_ARRAY), or nothing for plain HTTP.  A libmicrohttpd built
 * without GnuTLS is refused here rather than serving plain text by surprise.
 */
static int tls_options(const struct ch_http_opts *o, unsigned *flags, struct MHD_OptionItem items[3], char *err,
		       size_t errlen)
{
	size_t n = 0;

	if (!o->tls_cert && !o->tls_key) {
		items[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
		return 0;
	}
	if (!o->tls_cert || !o->tls_key || !*o->tls_cert || !*o->tls_key) {
		ch_fmt(err, errlen, "https needs both a certificate and a key");
		return CH_EINVAL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		ch_fmt(err, errlen, "this libmicrohttpd was built without TLS; cannot serve https");
		return CH_EINVAL;
	}
	*flags |= MHD_USE_TLS;
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)(uintptr_t)o->tls_key};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)(uintptr_t)o->tls_cert};
	items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return 0;
}

int ch_http_start(const struct ch_http_opts *o, struct ch_http **out, char *err, size_t errlen)
{
	struct MHD_OptionItem tls[3];
	const char *listen = o->listen && *o->listen ? o->listen : "127.0.0.1";
	struct sockaddr_in sin = {0};
	struct sockaddr_in6 sin6 = {0};
	struct sockaddr *sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_AUTO |
			 MHD_USE_ERROR_LOG;
	struct ch_http *h;
	const union MHD_DaemonInfo *di;

	*out = NULL;
	if (o->port < 0 || o->port > 65535) {
		ch_fmt(err, errlen, "http.port %d: expected 0..65535", o->port);
		return CH_EINVAL;
	}
	if (strcmp(listen, "localhost") == 0)
		listen = "127.0.0.1";
	if (inet_pton(AF_INET, listen, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)o->port);
		sa = (struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, listen, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)o->port);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		ch_fmt(err, errlen, "http.listen \"%s\": expected a numeric IPv4 or IPv6 address or localhost", listen);
		return CH_EINVAL;
	}
	if (o->max_body > (size_t)1 << 30) {
		ch_fmt(err, errlen, "http max_body %zu: expected at most 1 GiB", o->max_body);
		return CH_EINVAL;
	}

	if (tls_options(o, &flags, tls, err, errlen))
		return CH_EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		ch_fmt(err, errlen, "out of memory");
		return CH_ENOMEM;
	}
	h->max_body = o->max_body ? o->max_body : CH_HTTP_DEFAULT_MAX_BODY;
	h->callback = o->callback;
	h->api = o->api;
	h->health = o->health;
	h->metrics_extra = o->metrics_extra;
	h->arg = o->arg;
	if (o->metrics_token && *o->metrics_token) {
		h->have_metrics_token = true;
		ch_http_sha256(o->metrics_token, strlen(o->metrics_token), h->metrics_digest);
	}

	h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, sa,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections : 512u,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip ? o->max_per_ip : 128u,
				MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s ? o->timeout_s : 10u,
				/* A thread per connection: keep each one's reserved stack modest. */
				MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
				MHD_OPTION_ARRAY, tls,
				MHD_OPTION_END);
	if (!h->d) {
		ch_fmt(err, errlen, "http: cannot serve on %s port %d (address in use or not local?)", listen, o->port);
		free(h);
		return CH_EIO;
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di && di->port ? (int)di->port : o->port;
	ch_log(CH_LOG_INFO, "http: serving %s on %s port %d", (flags & MHD_USE_TLS) ? "https" : "http", listen, h->port);
	*out = h;
	return 0;
}

int ch_http_port(const struct ch_http *h)
{
	return h ? h->port : -1;
}

void ch_http_stop(struct ch_http *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, true);
	MHD_stop_daemon(h->d);
	explicit_bzero(h->metrics_digest, sizeof(h->metrics_digest));
	free(h);
}
