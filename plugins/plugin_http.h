/*
 * plugin_http.h - what the HTTP channel plugins (webhook, sms, ai_call,
 * caseworker) share: header hygiene, secrets from the environment, freeing a
 * request, how an HTTP answer becomes OK / RETRY / FAIL, and the signature
 * check of a provider's callback.  Header-only (static inline) so each plugin
 * stays one self-contained shared object.
 *
 * Signed callbacks: the provider sends
 *   X-Carehub-Timestamp: <unix seconds>
 *   X-Carehub-Signature: <hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * (a "sha256=" prefix is accepted), and the plugin refuses anything else.
 */
#ifndef CH_PLUGIN_HTTP_H
#define CH_PLUGIN_HTTP_H

#include "carehub_plugin.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How much of an error response's body goes into the reason: enough to read, not a page. */
#define CH_PH_SNIPPET_MAX 120

/* A malloc'ed "<prefix><value>"; NULL when out of memory. */
static inline char *ph_join(const char *prefix, const char *value)
{
	size_t a = strlen(prefix), b = strlen(value);
	char *s = malloc(a + b + 1);

	if (!s)
		return NULL;
	memcpy(s, prefix, a);
	memcpy(s + a, value, b + 1);
	return s;
}

/* Header values must not carry CR/LF or other controls: that would inject headers. */
static inline int ph_header_safe(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * The secret in the variable env, else in the systemd credential of that
 * name ($CREDENTIALS_DIRECTORY/<env>, LoadCredential= in the unit; one
 * trailing newline dropped): malloc'ed, NULL when neither holds one.  The
 * hub reads its own secrets the same way (hub/secret.c).
 */
static inline char *ph_env_secret(const char *env)
{
	const char *v = getenv(env), *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], *buf;
	size_t n;
	FILE *f;

	if (v && *v)
		return strdup(v);
	if (!dir || !*dir || snprintf(path, sizeof(path), "%s/%s", dir, env) >= (int)sizeof(path) ||
	    !(f = fopen(path, "re")))
		return NULL;
	buf = calloc(1, 4097);
	n = buf ? fread(buf, 1, 4096, f) : 0;
	fclose(f);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!buf || n == 0 || strlen(buf) != n) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Frees a secret without leaving it in freed heap memory (core dumps). */
static inline void ph_wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/*
 * "Authorization: Bearer <token>" from the variable the auth_env option names,
 * or NULL in *out when the option is absent.  -1 with err when the variable is
 * unset or unsafe: without its token every request would be refused.
 */
static inline int ph_auth_header(const struct ch_host *host, const struct ch_plugin_config *cfg, char **out,
				 char *err, size_t errlen)
{
	const char *env = host->opt_string(cfg, "auth_env");
	char *token;
	int rc = 0;

	*out = NULL;
	if (!env)
		return 0;
	token = ph_env_secret(env);
	if (!token) {
		snprintf(err, errlen, "auth_env names %s, which is not set in the environment%s", env,
			 getenv("CREDENTIALS_DIRECTORY") ? " nor as a credential" : "");
		return -1;
	}
	if (!ph_header_safe(token)) {
		snprintf(err, errlen, "the token in %s contains control characters", env);
		rc = -1;
	} else if (!(*out = ph_join("Authorization: Bearer ", token))) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	ph_wipe_free(token);
	return rc;
}

/*
 * Copies provider text (a name, a note) into a fixed field: control
 * characters become spaces (it ends up in logs and timelines) and a cut never
 * falls inside a UTF-8 character.  Returns the bytes written.
 */
static inline size_t ph_copy_text(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (!len)
		return 0;
	if (n >= len) {
		n = len - 1;
		/* src[n] is the first byte left out; if it continues a character, leave that whole character out. */
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : src[i];
	}
	dst[n] = '\0';
	return n;
}

/*
 * The secret the option `name` names (an environment variable), copied to
 * *out; NULL when the option is absent.  -1 with err when the variable is
 * unset or empty: a channel that cannot check signatures must not start.
 */
static inline int ph_secret(const struct ch_host *host, const struct ch_plugin_config *cfg, const char *name,
			    char **out, char *err, size_t errlen)
{
	const char *env = host->opt_string(cfg, name);

	*out = NULL;
	if (!env)
		return 0;
	if (!(*out = ph_env_secret(env))) {
		snprintf(err, errlen, "%s names %s, which is not set in the environment%s", name, env,
			 getenv("CREDENTIALS_DIRECTORY") ? " nor as a credential" : "");
		return -1;
	}
	return 0;
}

/* The value of header `name` (case-insensitive) in a NULL-terminated "Name: value" list, or NULL. */
static inline const char *ph_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers && *headers; headers++) {
		const char *h = *headers;
		if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
			h += n + 1;
			while (*h == ' ' || *h == '\t')
				h++;
			return h;
		}
	}
	return NULL;
}

/*
 * Checks a callback's signature headers against secret, window_s seconds
 * either side of now.  0, or -1 with the reason in err (never the secret).
 */
static inline int ph_verify_callback(const struct ch_host *host, const char *secret, int64_t window_s,
				     const struct ch_callback_request *req, char *err, size_t errlen)
{
	const char *ts = ph_header(req->headers, "X-Carehub-Timestamp");
	const char *sig = ph_header(req->headers, "X-Carehub-Signature");

	if (!secret) {
		snprintf(err, errlen, "no secret configured for callbacks");
		return -1;
	}
	if (!host->verify_hmac) {
		snprintf(err, errlen, "the host cannot verify signatures (older than ABI 1.1)");
		return -1;
	}
	if (!ts || !sig) {
		snprintf(err, errlen, "unsigned callback (X-Carehub-Timestamp and X-Carehub-Signature expected)");
		return -1;
	}
	if (strncmp(sig, "sha256=", 7) == 0)
		sig += 7;
	switch (host->verify_hmac(secret, ts, req->body, req->body_len, sig, req->now_ms / 1000, window_s)) {
	case 0:
		return 0;
	case CH_HMAC_STALE: /* a good signature, but old or from the future */
		snprintf(err, errlen, "timestamp outside the %lld s window (replayed?)", (long long)window_s);
		return -1;
	case CH_HMAC_MALFORMED:
		snprintf(err, errlen, "malformed timestamp or signature");
		return -1;
	default:
		snprintf(err, errlen, "bad signature");
		return -1;
	}
}

/* A copy of option name (or def when absent); *oom set when out of memory. */
static inline char *ph_opt_dup(const struct ch_host *host, const struct ch_plugin_config *cfg, const char *name,
			       const char *def, int *oom)
{
	const char *v = host->opt_string(cfg, name);
	char *s;

	if (!v)
		v = def;
	if (!v)
		return NULL;
	if (!(s = strdup(v)))
		*oom = 1;
	return s;
}

/* The option table entries every provider channel shares (ph_channel_init reads them). */
#define PH_PROVIDER_OPTIONS(provider)                                                                      \
	{.name = "url", .type = CH_OPT_URL, .required = 1, .help = "the " provider "'s endpoint"},               \
	{.name = "auth_env", .type = CH_OPT_ENV, .help = "environment variable holding the " provider "'s bearer token"}, \
	{.name = "secret_env", .type = CH_OPT_ENV, .help = "environment variable holding the callback signing secret"}, \
	{.name = "callback_url", .type = CH_OPT_URL, .help = "where the " provider " posts callbacks (/v1/callbacks/<channel>)"}, \
	{.name = "callback_window", .type = CH_OPT_INT, .help = "seconds a signed callback stays valid (default 300)"}

/* What a provider channel holds: where to send, its token, and how to check its callbacks. */
struct ph_channel {
	const struct ch_host *host; /* borrowed for the instance's lifetime */
	char *url;
	char *callback_url;
	char *auth_header; /* "Authorization: Bearer ..." or NULL: a secret */
	char *secret;      /* callback signing secret or NULL */
	int64_t window_s;  /* a signed callback's time window, either side of now */
};

static inline void ph_channel_fini(struct ph_channel *c)
{
	free(c->url);
	free(c->callback_url);
	ph_wipe_free(c->auth_header);
	ph_wipe_free(c->secret);
	memset(c, 0, sizeof(*c));
}

/*
 * Reads the options every provider channel shares: url (required),
 * callback_url, auth_env, secret_env and callback_window (300 s, 10..86400).
 * A callback_url without secret_env is refused: reports nobody could check
 * would let anyone act on an alert.  0, or -1 with err (c left empty).
 */
static inline int ph_channel_init(struct ph_channel *c, const struct ch_host *host, const struct ch_plugin_config *cfg,
				  char *err, size_t errlen)
{
	int oom = 0;

	memset(c, 0, sizeof(*c));
	c->host = host;
	c->url = ph_opt_dup(host, cfg, "url", NULL, &oom);
	c->callback_url = ph_opt_dup(host, cfg, "callback_url", NULL, &oom);
	c->window_s = host->opt_int(cfg, "callback_window", 300);
	if (oom || !c->url)
		snprintf(err, errlen, oom ? "out of memory" : "option \"url\" is missing");
	else if (c->window_s < 10 || c->window_s > 86400)
		snprintf(err, errlen, "callback_window must be 10..86400 seconds, not %lld", (long long)c->window_s);
	else if (ph_auth_header(host, cfg, &c->auth_header, err, errlen) ||
		 ph_secret(host, cfg, "secret_env", &c->secret, err, errlen))
		;
	else if (c->callback_url && !c->secret)
		snprintf(err, errlen, "callback_url needs secret_env: callbacks are signed");
	else
		return 0;
	ph_channel_fini(c);
	return -1;
}

/*
 * The start of every callback(): the signature (CH_CB_UNAUTHORIZED), a JSON
 * object body, and the notification's key in key_field (CH_CB_BAD_REQUEST
 * with err), copied to out->idempotency_key; the provider's reference in
 * ref_field is kept whole or not at all (cut short it would name another).
 * 0 with *doc (the caller decrefs it), else *doc is NULL.
 */
static inline int ph_callback_open(const struct ph_channel *c, const struct ch_callback_request *req,
				   const char *key_field, const char *ref_field, json_t **doc,
				   struct ch_callback_result *out, char *err, size_t errlen)
{
	const char *key, *ref;

	*doc = NULL;
	if (ph_verify_callback(c->host, c->secret, c->window_s, req, err, errlen))
		return CH_CB_UNAUTHORIZED;
	*doc = json_loadb(req->body, req->body_len, 0, NULL);
	if (!json_is_object(*doc)) {
		snprintf(err, errlen, "body is not a JSON object");
		goto bad;
	}
	key = json_string_value(json_object_get(*doc, key_field));
	/* A notification's key never starts like a reply's (CH_CB_REPLY_TO): the host would take it for one. */
	if (!key || !*key || strlen(key) >= sizeof(out->idempotency_key) ||
	    strncmp(key, CH_CB_REPLY_TO, strlen(CH_CB_REPLY_TO)) == 0) {
		snprintf(err, errlen, "\"%s\" (the notification's idempotency key) missing or too long", key_field);
		goto bad;
	}
	snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s", key);
	ref = json_string_value(json_object_get(*doc, ref_field));
	if (ref && strlen(ref) < sizeof(out->provider_ref))
		snprintf(out->provider_ref, sizeof(out->provider_ref), "%s", ref);
	return 0;
bad:
	json_decref(*doc);
	*doc = NULL;
	return CH_CB_BAD_REQUEST;
}

/* "<head>" or "<head>: <text>" into a reason field, the provider's text made one safe line. */
static inline void ph_reason(char *dst, size_t len, const char *head, const char *text)
{
	size_t off;

	snprintf(dst, len, "%s", head);
	off = strlen(dst);
	if (text && *text && off + 2 < len) {
		memcpy(dst + off, ": ", 3);
		ph_copy_text(dst + off + 2, len - off - 2, text);
	}
}

static inline void ph_free_request(struct ch_http_request *r)
{
	if (r->headers) {
		for (char **h = r->headers; *h; h++)
			free(*h);
		free(r->headers);
	}
	free(r->url);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * A JSON POST with Content-Type, Idempotency-Key and (if any) Authorization;
 * takes body.  CH_SEND_HTTP, or CH_SEND_RETRY when out of memory.
 */
static inline void ph_post_json(const char *url, const char *key, const char *auth, char *body,
				struct ch_send_result *res)
{
	struct ch_http_request *r = &res->http;
	size_t h = 0;

	memset(r, 0, sizeof(*r));
	r->method = "POST";
	r->free_fn = free;
	r->headers = calloc(4, sizeof(*r->headers));
	r->url = strdup(url);
	r->body = body;
	if (!r->headers || !r->url || !r->body || !(r->headers[h++] = strdup("Content-Type: application/json")) ||
	    !(r->headers[h++] = ph_join("Idempotency-Key: ", key)) || (auth && !(r->headers[h++] = strdup(auth)))) {
		/* Memory pressure passes; the host retries with backoff. */
		ph_free_request(r);
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "out of memory building the request");
		return;
	}
	r->body_len = strlen(r->body);
	res->status = CH_SEND_HTTP;
}

/* The receiver's own id for the delivery, when it answers {"id":"..."}: helps tracing. */
static inline void ph_take_provider_ref(const struct ch_http_response *resp, struct ch_send_result *res)
{
	json_t *doc, *id;

	if (!resp->body || !resp->body_len)
		return;
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	id = json_object_get(doc, "id");
	/* A reference cut short would point at the wrong thing; keep it whole or not at all. */
	if (json_is_string(id) && strlen(json_string_value(id)) < sizeof(res->provider_ref))
		snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", json_string_value(id));
	json_decref(doc);
}

/*
 * OK on 2xx; RETRY on no answer, 408, 429 and 5xx (with Retry-After); FAIL on
 * other answers, which would come again.  The reason is "HTTP 503: <start of
 * body>", one line, phone numbers masked (receivers echo input).
 */
static inline void ph_classify(const struct ch_host *host, const struct ch_http_response *resp,
			       struct ch_send_result *res)
{
	char snippet[CH_PH_SNIPPET_MAX + 1], masked[CH_PH_SNIPPET_MAX + 1];
	long st = resp->status;
	size_t n = 0;

	res->retry_after_ms = 0;
	res->provider_ref[0] = '\0';
	if (resp->transport_error || st == 0) {
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "transport error: %s",
			 resp->transport_msg ? resp->transport_msg : "no HTTP answer");
		return;
	}
	if (st >= 200 && st < 300) {
		res->status = CH_SEND_OK;
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", st);
		ph_take_provider_ref(resp, res);
		return;
	}
	for (; resp->body && n < resp->body_len && n < CH_PH_SNIPPET_MAX && resp->body[n]; n++) {
		unsigned char c = (unsigned char)resp->body[n];
		snippet[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	snippet[n] = '\0';
	if (n) {
		host->mask(snippet, masked, sizeof(masked));
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", st, masked);
	} else {
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", st);
	}
	if (st == 408 || st == 429 || (st >= 500 && st < 600)) {
		res->status = CH_SEND_RETRY;
		res->retry_after_ms = resp->retry_after_ms > 0 ? resp->retry_after_ms : 0;
		return;
	}
	res->status = CH_SEND_FAIL;
}

#endif
