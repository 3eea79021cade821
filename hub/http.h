/*
 * http.h - the hub's HTTP server (libmicrohttpd): health, metrics, provider
 * callbacks, the /v1 API hook (api.c: accounts, sessions and tokens live
 * there) and the console; and the HMAC-SHA256 helpers that verify signed
 * provider callbacks.
 *
 * Only http.c includes <microhttpd.h>.  The server owns no hub state: what a
 * route needs (health, callback handling, the API, extra metrics) comes in as
 * hooks, so routing, limits and streaming are testable with no MQTT or Redis
 * behind them.
 *
 * Routes:
 *   GET  /healthz                 200 {"status":"ok",...} / 503 {"status":"degraded",...}
 *   GET  /metrics                 Prometheus text format 0.0.4 (ch_metrics + metrics_extra);
 *                                 with metrics_token, 401 without that bearer token
 *   POST /v1/callbacks/{channel}  the callback hook, no token (the plugin checks a signature);
 *                                 channel is [A-Za-z0-9_-]{1,63}, anything else 404
 *   any  /v1/...                  the api hook, which authenticates (404 without one)
 *   GET  /                        the monitoring console (one page)
 * Unknown paths 404, a known path with the wrong method 405 (with Allow).  Bodies
 * are bounded by max_body (413).
 *
 * Threading: a thread per connection, at most max_connections of them and
 * max_per_ip from one address; a connection idle for timeout_s is closed.  So a
 * slow client (a slowloris, a hook waiting on a frozen Redis, a live stream)
 * holds only its own thread, and /healthz, callbacks and the console answer
 * beside it.  Hooks are therefore called from many threads at once and must be
 * thread-safe; they may block briefly (a Redis round trip), /healthz's hook
 * never.
 */
#ifndef CH_HTTP_H
#define CH_HTTP_H

#include "ch.h"

struct ch_http;

/*
 * What a route handler sees of one incoming request.  Everything is borrowed
 * and valid only during the hook call.  (Not "ch_http_request": that name is
 * the outgoing request of the plugin ABI.)
 */
struct ch_http_incoming {
	const char *method;
	const char *path;   /* percent-decoded, without the query string */
	const char *body;   /* NUL-terminated (the NUL is not counted in len); "" when none */
	size_t len;
	const char *remote; /* peer address, e.g. "127.0.0.1"; for logs */
	/* Every request header as "Name: value", NULL-terminated (the shape of
	 * struct ch_callback_request.headers in the plugin ABI). */
	const char *const *headers;
	/* Header lookup, case-insensitive on the name; NULL if absent. */
	const char *(*header)(const struct ch_http_incoming *rq, const char *name);
	/* Query string argument lookup ("?state=open"), percent-decoded; NULL if absent. */
	const char *(*query)(const struct ch_http_incoming *rq, const char *name);
	void *impl;
};

/*
 * A provider callback for channel `channel` (already validated).  Fills *status
 * (e.g. 200, 400, 401; it starts at 500 so a hook that forgets fails closed) and
 * a JSON reply (NUL-terminated in reply[0..replylen); left empty, "{}" is sent).
 * A 401 is logged, rate-limited, with the channel and the remote address only.
 */
typedef void (*ch_http_callback_fn)(void *arg, const char *channel, const struct ch_http_incoming *rq,
				    int *status, char *reply, size_t replylen);

/*
 * Health: true when healthy; detail (len bytes, starts empty) may be filled
 * with a short JSON object like {"mqtt":true,"redis":true}; its members are
 * merged into the /healthz answer after "status".
 */
typedef bool (*ch_http_health_fn)(void *arg, char *detail, size_t len);

/*
 * What the API hook answers.  The server frees everything in it.  A stream
 * (server-sent events) sets read: the server then calls read(arg, buf, max)
 * from the connection's own thread until it returns a negative number (the
 * end; the connection closes).  read may block for up to about a second and
 * should then return 0 (nothing yet: it is called again); it is never called
 * again once the server is stopping.  free_arg(arg) is called exactly once
 * when the connection is done.  A stream's connection has no idle timeout:
 * read sends keepalives.
 */
#define CH_HTTP_MAX_HEADERS 6
struct ch_http_reply {
	int status;         /* starts 500: a hook that forgets fails closed */
	char *body;         /* malloc'ed; NULL: "{}" */
	const char *ctype;  /* a literal; NULL: application/json */
	char *headers[CH_HTTP_MAX_HEADERS]; /* "Name: value", malloc'ed (ch_http_reply_header) */
	size_t nheaders;
	long (*read)(void *arg, char *buf, size_t max);
	void (*free_arg)(void *arg);
	void *arg;
};

/* Adds a header line to r (dropped when out of room or memory); 0 or CH_EFULL/CH_ENOMEM. */
int ch_http_reply_header(struct ch_http_reply *r, const char *name, const char *value);

/* The /v1 API (everything under /v1 but callbacks), authentication included. */
typedef void (*ch_http_api_fn)(void *arg, const struct ch_http_incoming *rq, struct ch_http_reply *out);

/* Appends text to /metrics (e.g. queue depths): NUL-terminated within len. */
typedef void (*ch_http_metrics_fn)(void *arg, char *buf, size_t len);

struct ch_http_opts {
	const char *listen; /* numeric IPv4/IPv6 address or "localhost"; NULL: "127.0.0.1" */
	int port;           /* 0: any free port (see ch_http_port) */
	size_t max_body;    /* 0: 64 KiB */
	unsigned max_connections; /* 0: 512 */
	unsigned max_per_ip;      /* 0: 128 (loopback and a reverse proxy are one address) */
	unsigned timeout_s;       /* idle connections are closed; 0: 10 */
	ch_http_callback_fn callback; /* NULL: callbacks answer 404 */
	ch_http_health_fn health;     /* NULL: always healthy */
	ch_http_metrics_fn metrics_extra; /* may be NULL */
	ch_http_api_fn api;               /* NULL: /v1 routes answer 404 */
	void *arg;                    /* passed to every hook; borrowed */
	/* Bearer token /metrics requires (copied as a digest); NULL or "": /metrics is open. */
	const char *metrics_token;
	/* PEM certificate (chain) and private key: HTTPS only (GnuTLS); both NULL: plain HTTP.
	 * Borrowed for the call (libmicrohttpd copies them). */
	const char *tls_cert;
	const char *tls_key;
};

#define CH_HTTP_DEFAULT_MAX_BODY (64 * 1024)

/*
 * Binds and starts serving.  On success *out is owned by the caller
 * (ch_http_stop); on failure err says why (bad address, port in use).
 * o and the strings in it are borrowed for the call only.
 */
int ch_http_start(const struct ch_http_opts *o, struct ch_http **out, char *err, size_t errlen);

/* The bound port (the real one when opts.port was 0), or -1. */
int ch_http_port(const struct ch_http *h);

/* Stops serving, waits for the server thread and frees h.  NULL is a no-op. */
void ch_http_stop(struct ch_http *h);

/*
 * Renders the process counters (ch_metrics) in Prometheus text format into
 * buf, NUL-terminated.  Returns the length of the whole text like snprintf:
 * a result >= len means buf was too small and the text is cut.
 */
size_t ch_http_render_metrics(char *buf, size_t len);

/* true when name is a valid channel name in a callback path: [A-Za-z0-9_-]{1,63}. */
bool ch_http_channel_valid(const char *name);

/* ---- signatures of provider callbacks (pure) ---- */

/* SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) of raw bytes. */
void ch_http_sha256(const void *data, size_t len, uint8_t out[32]);
void ch_http_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32]);

/*
 * Verifies sig_hex = hex(HMAC-SHA256(key, "<timestamp>.<body>")).  timestamp is
 * unix seconds in decimal and must lie within window_s of now_s (either side).
 * sig_hex is 64 hex digits (lowercase as signed; uppercase is accepted too).
 * Returns 0, CH_EINVAL (malformed key, timestamp, hex or window), CH_EPROTO
 * (bad signature) or CH_ETIMEOUT (a good signature outside the window).
 * The signature comparison takes the same time wherever the first difference is.
 * All pointers borrowed; body may be NULL when len is 0.
 */
int ch_http_verify_hmac(const char *key, const char *timestamp, const char *body, size_t len, const char *sig_hex,
			int64_t now_s, int64_t window_s);

/*
 * What names one signed callback for replay detection: lowercase hex
 * SHA-256 of the channel, the X-Carehub-Timestamp header (from headers, a
 * NULL-terminated "Name: value" list; "" when absent) and the body.  The same
 * text posted again gives the same digest, however its signature is spelt.
 */
void ch_http_callback_digest(const char *channel, const char *const *headers, const char *body, size_t len,
			     char out_hex[65]);

/* out_hex = lowercase hex(HMAC-SHA256(key, "<timestamp>.<body>")), NUL-terminated. */
void ch_http_sign_hmac(const char *key, const char *timestamp, const char *body, size_t len, char out_hex[65]);

#endif
