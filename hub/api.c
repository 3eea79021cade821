/*
 * api.c - the /v1 API's front door: the route table, who is asking (a
 * session cookie or a bearer token), what they may do (roles, CSRF, origin),
 * sign-in and sign-out with failed-login limits, operator accounts and the
 * audit log.  The alert, subject and silence routes are in api_alerts.c; the
 * fleet view and reloads in api_fleet.c.
 *
 * Threads: the HTTP server calls in from a thread per connection, so nothing
 * here is shared but the connection pool (a mutex) and the account records
 * in Redis.  Passwords are checked with argon2id (auth.c), at most two at a
 * time, after the failed-login counters say it is allowed.
 */
#include "api_int.h"
#include "clock.h"
#include "ingest.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_WAIT_MS 3000
#define API_REDIS_TIMEOUT_MS 2000
#define HASH_WAIT_MS 5000
/* Failed logins per 15 minutes: from one address for one name, from one address, for one name (anywhere). */
#define LOGIN_WINDOW_MS (15 * 60 * 1000)
#define LOGIN_MAX_PAIR 5
#define LOGIN_MAX_IP 20
#define LOGIN_MAX_NAME 50
#define DEFAULT_SESSION_TTL_MS (12LL * 3600 * 1000)

/* ---------------------------------------------------------------- setup */

int ch_api_open(const struct ch_api_opts *o, struct ch_api **out, char *err, size_t errlen)
{
	struct ch_api *api = calloc(1, sizeof(*api));
	struct ch_store_opts so = *o->store;
	int rc;

	*out = NULL;
	if (!api) {
		ch_auth_tokens_free(o->tokens);
		return CH_ENOMEM;
	}
	/* A frozen Redis answers 503 within two seconds rather than holding a request. */
	so.timeout_ms = API_REDIS_TIMEOUT_MS;
	for (size_t i = 0; i < API_POOL; i++) {
		rc = ch_store_open(&so, &api->pool[i], err, errlen);
		if (rc && rc != CH_EAGAIN) {
			api->tokens = o->tokens;
			ch_api_close(api);
			return rc;
		}
	}
	pthread_mutex_init(&api->mu, NULL);
	pthread_cond_init(&api->cv, NULL);
	sem_init(&api->hashing, 0, 2);
	api->inited = true;
	api->inject = o->inject;
	api->arg = o->arg;
	api->tokens = o->tokens;
	api->session_ttl_ms = o->session_ttl_ms > 0 ? o->session_ttl_ms : DEFAULT_SESSION_TTL_MS;
	api->secure_cookies = o->secure_cookies;
	api->stream = o->stream;
	*out = api;
	return 0;
}

void ch_api_close(struct ch_api *api)
{
	if (!api)
		return;
	for (size_t i = 0; i < API_POOL; i++)
		ch_store_close(api->pool[i]);
	ch_auth_tokens_free(api->tokens);
	if (api->inited) {
		pthread_mutex_destroy(&api->mu);
		pthread_cond_destroy(&api->cv);
		sem_destroy(&api->hashing);
	}
	free(api);
}

/* ---------------------------------------------------------------- helpers */

struct ch_store *api_store(struct api_req *r)
{
	struct ch_api *api = r->api;
	struct timespec ts;

	if (r->st)
		return r->st;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += POOL_WAIT_MS / 1000;
	pthread_mutex_lock(&api->mu);
	for (;;) {
		for (size_t i = 0; i < API_POOL; i++) {
			if (!api->busy[i]) {
				api->busy[i] = true;
				r->st = api->pool[i];
				pthread_mutex_unlock(&api->mu);
				return r->st;
			}
		}
		if (pthread_cond_timedwait(&api->cv, &api->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&api->mu);
	api_error(r, 503, "unavailable", "every Redis connection is busy (is Redis slow?); try again");
	return NULL;
}

static void store_release(struct api_req *r)
{
	struct ch_api *api = r->api;

	if (!r->st)
		return;
	pthread_mutex_lock(&api->mu);
	for (size_t i = 0; i < API_POOL; i++)
		if (api->pool[i] == r->st)
			api->busy[i] = false;
	pthread_cond_signal(&api->cv);
	pthread_mutex_unlock(&api->mu);
	r->st = NULL;
}

void api_json(struct api_req *r, int status, json_t *j)
{
	free(r->out->body);
	r->out->status = status;
	r->out->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!r->out->body && status < 300) {
		r->out->status = 500;
		r->out->body = ch_strdup("{\"error\":\"internal\",\"message\":\"out of memory\"}");
	}
}

void api_error(struct api_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_json(r, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void api_store_error(struct api_req *r, int rc, const char *err)
{
	ch_log_rl("api-store", 10000, CH_LOG_WARN, "api: %s", err);
	if (rc == CH_EAGAIN)
		api_error(r, 503, "unavailable", "Redis is not reachable; try again");
	else
		api_error(r, 500, "internal", "cannot read the store");
}

json_t *api_body(struct api_req *r)
{
	json_t *j = json_loadb(r->rq->body, r->rq->len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(j)) {
		json_decref(j);
		api_error(r, 400, "bad_request", "expected a JSON object");
		return NULL;
	}
	return j;
}

int api_inject(struct api_req *r, const char *topic, json_t *msg)
{
	char *text;
	int rc;

	json_object_set_new(msg, "account", json_string(r->who.name));
	json_object_set_new(msg, "role", json_string(ch_role_name(r->who.role)));
	text = json_dumps(msg, JSON_COMPACT);
	if (!text) {
		api_error(r, 500, "internal", "out of memory");
		return CH_ENOMEM;
	}
	rc = r->api->inject ? r->api->inject(r->api->arg, topic, text, strlen(text)) : CH_EINVAL;
	free(text);
	if (rc)
		api_error(r, 503, "unavailable", "the hub is busy (a backlog, or Redis away); try again");
	return rc;
}

void api_audit(struct api_req *r, const char *action, const char *target, const char *detail)
{
	struct ch_store *st = api_store(r);
	char err[256];

	if (st && ch_store_audit_add(st, ch_clock_now_ms(), r->who.name[0] ? r->who.name : "-",
				     ch_role_name(r->who.role), action, target, detail, err, sizeof(err)))
		ch_log_rl("api-audit", 10000, CH_LOG_WARN, "api: audit entry lost: %s", err);
}

/* ---------------------------------------------------------------- who is asking */

/* The session behind the cookie: 0 (r->who filled), 401, or 503 (answered). */
static int session_principal(struct api_req *r, const char *cookie)
{
	struct ch_store *st;
	json_t *s = NULL, *op = NULL;
	char key[CH_AUTH_SECRET_HEX + 1], err[256];
	enum ch_role role;
	int rc;

	ch_auth_digest_hex(cookie, key);
	if (!(st = api_store(r)))
		return 503;
	rc = ch_store_session_get(st, key, r->api->session_ttl_ms, &s, err, sizeof(err));
	if (rc == 0)
		rc = ch_store_operator_get(st, json_string_value(json_object_get(s, "name")), &op, err, sizeof(err));
	if (rc && rc != CH_ENOTFOUND) {
		json_decref(s);
		api_store_error(r, rc, err);
		return 503;
	}
	/* Disabled, or the password changed since: the session is over. */
	if (rc || json_is_true(json_object_get(op, "disabled")) ||
	    json_integer_value(json_object_get(op, "pwgen")) != json_integer_value(json_object_get(s, "pwgen")) ||
	    ch_role_parse(json_string_value(json_object_get(op, "role")), &role)) {
		if (rc == 0)
			ch_store_session_del(st, key, err, sizeof(err));
		json_decref(s);
		json_decref(op);
		return 401;
	}
	memset(&r->who, 0, sizeof(r->who));
	ch_strlcpy(r->who.name, json_string_value(json_object_get(op, "name")), sizeof(r->who.name));
	r->who.role = role;
	r->who.session = true;
	ch_strlcpy(r->who.csrf, json_string_value(json_object_get(s, "csrf")) ? json_string_value(json_object_get(s, "csrf"))
									      : "",
		   sizeof(r->who.csrf));
	ch_strlcpy(r->who.key, key, sizeof(r->who.key));
	json_decref(s);
	json_decref(op);
	return 0;
}

/* Fills r->who from a bearer token or the session cookie; 0, or the answer given (401/503). */
static int authenticate(struct api_req *r)
{
	const char *auth = r->rq->header(r->rq, "Authorization"), *cookies = r->rq->header(r->rq, "Cookie");
	char cookie[CH_AUTH_SECRET_HEX + 2];
	int rc;

	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		char tok[512];
		const char *t = auth + 7;
		size_t n;
		while (*t == ' ')
			t++;
		n = strlen(t);
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			n--;
		if (n && n < sizeof(tok)) {
			memcpy(tok, t, n);
			tok[n] = '\0';
			rc = ch_auth_token_find(r->api->tokens, tok, &r->who);
			explicit_bzero(tok, sizeof(tok));
			if (rc == 0)
				return 0;
		}
		ch_http_reply_header(r->out, "WWW-Authenticate", "Bearer");
		api_error(r, 401, "unauthorized", "the token is not one of this hub's");
		return 401;
	}
	if (cookies && ch_auth_cookie(cookies, CH_AUTH_COOKIE, cookie, sizeof(cookie)) == 0 &&
	    strlen(cookie) == CH_AUTH_SECRET_HEX) {
		rc = session_principal(r, cookie);
		if (rc == 0 || rc == 503)
			return rc;
	}
	ch_http_reply_header(r->out, "WWW-Authenticate", "Bearer");
	api_error(r, 401, "unauthorized", "sign in (POST /v1/session) or send a bearer token");
	return 401;
}

/* ---------------------------------------------------------------- sessions */

/* Who is signed in, their CSRF token, and the centre's zone (the console shows times in it). */
static void session_answer(struct api_req *r, int status)
{
	api_json(r, status,
		 json_pack("{s:s, s:s, s:s?, s:s, s:s}", "name", r->who.name, "role", ch_role_name(r->who.role), "csrf",
			   r->who.session ? r->who.csrf : NULL, "via", r->who.session ? "session" : "token", "timezone",
			   r->rt->cfg->timezone ? r->rt->cfg->timezone : ""));
}

/* Are more failed logins allowed for this name from this address?  Fills the counter names. */
static int login_allowed(struct api_req *r, struct ch_store *st, const char *name, char who[3][160], bool *ok,
			 int64_t *retry_ms)
{
	const char *keys[3] = {who[0], who[1], who[2]};
	long long n[3];
	char err[256];
	int rc;

	ch_fmt(who[0], 160, "pair:%s|%s", name, r->rq->remote);
	ch_fmt(who[1], 160, "ip:%s", r->rq->remote);
	ch_fmt(who[2], 160, "name:%s", name);
	if ((rc = ch_store_login_failures(st, keys, 3, false, LOGIN_WINDOW_MS, n, retry_ms, err, sizeof(err)))) {
		api_store_error(r, rc, err);
		return rc;
	}
	*ok = n[0] < LOGIN_MAX_PAIR && n[1] < LOGIN_MAX_IP && n[2] < LOGIN_MAX_NAME;
	return 0;
}

/* A failed login: counted, audited, one message for a wrong name and a wrong password. */
static void login_failed(struct api_req *r, struct ch_store *st, char who[3][160], const char *name)
{
	const char *keys[3] = {who[0], who[1], who[2]};
	long long n[3];
	int64_t ttl;
	char err[256];

	if (ch_store_login_failures(st, keys, 3, true, LOGIN_WINDOW_MS, n, &ttl, err, sizeof(err)))
		ch_log_rl("api-login", 10000, CH_LOG_WARN, "api: cannot count a failed login: %s", err);
	ch_strlcpy(r->who.name, name, sizeof(r->who.name));
	api_audit(r, "login_failed", name, r->rq->remote);
	ch_log_rl("api-login-failed", 5000, CH_LOG_WARN, "api: failed login for %s from %s", name, r->rq->remote);
	api_error(r, 401, "unauthorized", "wrong name or password");
}

/* Checks the password (at most two argon2 runs at once); 0 match, CH_EPROTO no, CH_EAGAIN too busy. */
static int check_password(struct api_req *r, json_t *op, const char *password)
{
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HASH_WAIT_MS / 1000;
	if (sem_timedwait(&r->api->hashing, &ts))
		return CH_EAGAIN;
	if (op && !json_is_true(json_object_get(op, "disabled"))) {
		rc = ch_auth_verify_password(json_string_value(json_object_get(op, "hash")), password);
	} else {
		ch_auth_verify_dummy(password); /* the same time for a name that does not exist */
		rc = CH_EPROTO;
	}
	sem_post(&r->api->hashing);
	return rc ? (rc == CH_EAGAIN ? rc : CH_EPROTO) : 0;
}

static void login(struct api_req *r)
{
	char name[CH_AUTH_NAME_MAX + 1], pw[CH_AUTH_PW_MAX + 1], err[256], who[3][160], cookie[CH_AUTH_SECRET_HEX + 1],
		setc[256];
	const char *ctype = r->rq->header(r->rq, "Content-Type");
	struct ch_store *st;
	json_t *op = NULL, *sess;
	enum ch_role role;
	int64_t retry_ms = 0;
	bool ok;
	int rc;

	/* A form another site posts cannot be JSON without a preflight this server never answers. */
	if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
		api_error(r, 415, "bad_request", "a login is application/json");
		return;
	}
	if (ch_auth_parse_login(r->rq->body, r->rq->len, name, sizeof(name), pw, sizeof(pw), err, sizeof(err))) {
		api_error(r, 400, "bad_request", "%s", err);
		return;
	}
	if (!(st = api_store(r)) || login_allowed(r, st, name, who, &ok, &retry_ms))
		goto out;
	if (!ok) {
		char secs[24];
		ch_fmt(secs, sizeof(secs), "%lld", (long long)(retry_ms + 999) / 1000);
		ch_http_reply_header(r->out, "Retry-After", secs);
		api_error(r, 429, "too_many_attempts", "too many failed logins; try again in %s s", secs);
		goto out;
	}
	rc = ch_store_operator_get(st, name, &op, err, sizeof(err));
	if (rc && rc != CH_ENOTFOUND) {
		api_store_error(r, rc, err);
		goto out;
	}
	rc = check_password(r, op, pw);
	if (rc == CH_EAGAIN) {
		api_error(r, 503, "unavailable", "too many logins at once; try again");
		goto out;
	}
	if (rc || ch_role_parse(json_string_value(json_object_get(op, "role")), &role)) {
		login_failed(r, st, who, name);
		goto out;
	}
	memset(&r->who, 0, sizeof(r->who));
	ch_strlcpy(r->who.name, name, sizeof(r->who.name));
	r->who.role = role;
	r->who.session = true;
	if (ch_auth_random_hex(cookie) || ch_auth_random_hex(r->who.csrf)) {
		api_error(r, 500, "internal", "no randomness");
		goto out;
	}
	ch_auth_digest_hex(cookie, r->who.key);
	sess = json_pack("{s:s, s:s, s:O, s:I, s:s}", "name", name, "csrf", r->who.csrf, "pwgen",
			 json_object_get(op, "pwgen"), "created_ms", (json_int_t)ch_clock_now_ms(), "remote", r->rq->remote);
	rc = sess ? ch_store_session_put(st, r->who.key, sess, r->api->session_ttl_ms, err, sizeof(err)) : CH_ENOMEM;
	json_decref(sess);
	if (rc) {
		api_store_error(r, rc, err);
		goto out;
	}
	{
		const char *clear[1] = {who[0]};
		ch_store_login_clear(st, clear, 1, err, sizeof(err));
	}
	ch_auth_set_cookie(cookie, r->api->session_ttl_ms / 1000, r->api->secure_cookies, setc, sizeof(setc));
	ch_http_reply_header(r->out, "Set-Cookie", setc);
	api_audit(r, "login", name, r->rq->remote);
	ch_log(CH_LOG_INFO, "api: %s (%s) signed in from %s", name, ch_role_name(role), r->rq->remote);
	session_answer(r, 200);
out:
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(cookie, sizeof(cookie));
	explicit_bzero(setc, sizeof(setc));
	json_decref(op);
}

static void session_get(struct api_req *r, const char *arg)
{
	(void)arg;
	session_answer(r, 200);
}

static void logout(struct api_req *r, const char *arg)
{
	char setc[160], err[256];
	struct ch_store *st;

	(void)arg;
	if (r->who.session) {
		if (!(st = api_store(r)))
			return;
		if (ch_store_session_del(st, r->who.key, err, sizeof(err))) {
			api_store_error(r, CH_EAGAIN, err);
			return;
		}
		api_audit(r, "logout", r->who.name, r->rq->remote);
	}
	ch_auth_set_cookie("", 0, r->api->secure_cookies, setc, sizeof(setc));
	ch_http_reply_header(r->out, "Set-Cookie", setc);
	r->out->status = 204;
	free(r->out->body);
	r->out->body = ch_strdup("");
}

/* ---------------------------------------------------------------- operators */

static void operators_list(struct api_req *r, const char *arg)
{
	struct ch_store *st = api_store(r);
	json_t *all, *out, *o;
	char err[256];
	size_t i;
	int rc;

	(void)arg;
	if (!st)
		return;
	if ((rc = ch_store_operators_list(st, &all, err, sizeof(err)))) {
		api_store_error(r, rc, err);
		return;
	}
	out = json_array();
	json_array_foreach(all, i, o)
		json_array_append_new(out, ch_auth_operator_public(o));
	json_decref(all);
	api_json(r, 200, json_pack("{s:o}", "operators", out));
}

static void operator_add(struct api_req *r, const char *arg)
{
	json_t *b = api_body(r), *rec = NULL;
	const char *name, *pw;
	struct ch_store *st;
	enum ch_role role;
	char err[256];
	int rc;

	(void)arg;
	if (!b)
		return;
	name = json_string_value(json_object_get(b, "name"));
	pw = json_string_value(json_object_get(b, "password"));
	if (ch_role_parse(json_string_value(json_object_get(b, "role")), &role)) {
		api_error(r, 400, "bad_request", "\"role\" must be viewer, operator or admin");
		goto out;
	}
	if ((rc = ch_auth_operator_new(name, role, pw, ch_clock_now_ms(), &rec, err, sizeof(err)))) {
		api_error(r, 400, "bad_request", "%s", err);
		goto out;
	}
	if (!(st = api_store(r)))
		goto out;
	rc = ch_store_operator_put(st, name, rec, true, err, sizeof(err));
	if (rc == CH_EDUP) {
		api_error(r, 409, "conflict", "an operator named %s exists (to change the password: POST "
					      "/v1/operators/%s/password)",
			  name, name);
		goto out;
	}
	if (rc) {
		api_store_error(r, rc, err);
		goto out;
	}
	api_audit(r, "operator_add", name, ch_role_name(role));
	ch_log(CH_LOG_INFO, "api: %s added operator %s (%s)", r->who.name, name, ch_role_name(role));
	api_json(r, 201, ch_auth_operator_public(rec));
out:
	json_decref(rec);
	json_decref(b);
}

/* POST /v1/operators/{name}/password|disable: changes one record. */
static void operator_change(struct api_req *r, const char *name, bool disable)
{
	json_t *b = disable ? NULL : api_body(r), *rec = NULL;
	char hash[CH_AUTH_HASH_MAX], err[256];
	struct ch_store *st;
	int rc;

	if (!disable && !b)
		return;
	/* An operator may change their own password; anything else is an admin's. */
	if (r->who.role != CH_ROLE_ADMIN && (disable || !r->who.session || strcmp(name, r->who.name) != 0)) {
		api_error(r, 403, "forbidden", "only an admin may change another account");
		goto out;
	}
	if (!(st = api_store(r)))
		goto out;
	rc = ch_store_operator_get(st, name, &rec, err, sizeof(err));
	if (rc == CH_ENOTFOUND) {
		api_error(r, 404, "not_found", "no operator named %s", name);
		goto out;
	}
	if (rc) {
		api_store_error(r, rc, err);
		goto out;
	}
	if (disable) {
		json_object_set_new(rec, "disabled", json_true());
	} else {
		if ((rc = ch_auth_hash_password(json_string_value(json_object_get(b, "password")), hash, sizeof(hash), err,
						sizeof(err)))) {
			api_error(r, 400, "bad_request", "%s", err);
			goto out;
		}
		json_object_set_new(rec, "hash", json_string(hash));
		json_object_set_new(rec, "disabled", json_false()); /* a new password brings an account back */
		explicit_bzero(hash, sizeof(hash));
	}
	/* Every session of the account ends: they carry the old generation. */
	json_object_set_new(rec, "pwgen", json_integer(json_integer_value(json_object_get(rec, "pwgen")) + 1));
	if ((rc = ch_store_operator_put(st, name, rec, false, err, sizeof(err)))) {
		api_store_error(r, rc, err);
		goto out;
	}
	api_audit(r, disable ? "operator_disable" : "operator_password", name, "");
	ch_log(CH_LOG_INFO, "api: %s %s operator %s", r->who.name, disable ? "disabled" : "set the password of", name);
	api_json(r, 200, ch_auth_operator_public(rec));
out:
	json_decref(rec);
	json_decref(b);
}

static void operator_password(struct api_req *r, const char *name)
{
	operator_change(r, name, false);
}

static void operator_disable(struct api_req *r, const char *name)
{
	operator_change(r, name, true);
}

static void audit_list(struct api_req *r, const char *arg)
{
	const char *lim = r->rq->query(r->rq, "limit");
	struct ch_store *st;
	json_t *out;
	char err[256];
	long n = 100;
	int rc;

	(void)arg;
	if (lim && ch_parse_long(lim, 1, 1000, &n)) {
		api_error(r, 400, "bad_request", "limit must be 1..1000");
		return;
	}
	if (!(st = api_store(r)))
		return;
	if ((rc = ch_store_audit_list(st, (size_t)n, &out, err, sizeof(err)))) {
		api_store_error(r, rc, err);
		return;
	}
	api_json(r, 200, json_pack("{s:o}", "audit", out));
}

/* ---------------------------------------------------------------- replies */

int ch_api_reply_key(struct ch_api *api, const char *channel, const char *phone, char *key, size_t keylen)
{
	struct ch_http_reply out = {0};
	struct api_req r = {.api = api, .out = &out};
	struct ch_store *st = api_store(&r);
	char err[256];
	int rc = st ? ch_store_reply_find(st, channel, phone, key, keylen, err, sizeof(err)) : CH_EAGAIN;

	if (rc && rc != CH_ENOTFOUND)
		ch_log_rl("api-reply", 10000, CH_LOG_WARN, "api: %s", st ? err : "no Redis connection free");
	store_release(&r);
	free(out.body);
	for (size_t i = 0; i < out.nheaders; i++)
		free(out.headers[i]);
	return rc == CH_ENOTFOUND ? rc : rc ? CH_EAGAIN : 0;
}

/* ---------------------------------------------------------------- routing */

typedef void (*handler_fn)(struct api_req *r, const char *arg);

struct route {
	const char *method;
	const char *pattern; /* '*' is one path segment, handed to the handler */
	enum ch_role need;   /* CH_ROLE_NONE: no sign-in (the login itself) */
	handler_fn fn;
};

static void login_route(struct api_req *r, const char *arg)
{
	(void)arg;
	login(r);
}

static const struct route routes[] = {
	{"POST", "/v1/session", CH_ROLE_NONE, login_route},
	{"GET", "/v1/session", CH_ROLE_VIEWER, session_get},
	{"DELETE", "/v1/session", CH_ROLE_VIEWER, logout},
	{"GET", "/v1/alerts", CH_ROLE_VIEWER, api_alerts_list},
	{"GET", "/v1/alerts/*", CH_ROLE_VIEWER, api_alert_get},
	{"POST", "/v1/alerts/*/ack", CH_ROLE_OPERATOR, api_alert_ack},
	{"POST", "/v1/alerts/*/resolve", CH_ROLE_OPERATOR, api_alert_resolve},
	{"POST", "/v1/alerts/*/note", CH_ROLE_OPERATOR, api_alert_note},
	{"POST", "/v1/alerts/*/escalate", CH_ROLE_OPERATOR, api_alert_escalate},
	{"GET", "/v1/stream", CH_ROLE_VIEWER, api_stream},
	{"GET", "/v1/subjects", CH_ROLE_VIEWER, api_subjects_list},
	{"GET", "/v1/subjects/*", CH_ROLE_VIEWER, api_subject_get},
	{"GET", "/v1/subjects/*/report", CH_ROLE_VIEWER, api_subject_report},
	{"GET", "/v1/devices", CH_ROLE_VIEWER, api_devices_route}, /* ?unmapped=1: api_fleet.c */
	{"GET", "/v1/silences", CH_ROLE_VIEWER, api_silences_list},
	{"POST", "/v1/silences", CH_ROLE_OPERATOR, api_silence_add},
	{"DELETE", "/v1/silences/*", CH_ROLE_OPERATOR, api_silence_lift},
	{"GET", "/v1/operators", CH_ROLE_ADMIN, operators_list},
	{"POST", "/v1/operators", CH_ROLE_ADMIN, operator_add},
	{"POST", "/v1/operators/*/password", CH_ROLE_VIEWER, operator_password}, /* self or admin: checked inside */
	{"POST", "/v1/operators/*/disable", CH_ROLE_ADMIN, operator_disable},
	{"GET", "/v1/audit", CH_ROLE_ADMIN, audit_list},
	{"POST", "/v1/reload", CH_ROLE_ADMIN, api_reload},
};

/* Does path match pattern?  The '*' segment is copied to arg. */
static bool match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	arg[0] = '\0';
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || n >= arglen)
				return false;
			memcpy(arg, path, n);
			arg[n] = '\0';
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return !*pattern && !*path;
}

/* The route for the request; NULL with *path_known when only the method is wrong (Allow in allow). */
static const struct route *find_route(const char *method, const char *path, char *arg, size_t arglen, bool *path_known,
				      char *allow, size_t allowlen)
{
	bool head = strcmp(method, "HEAD") == 0;
	size_t pos = 0;

	*path_known = false;
	allow[0] = '\0';
	for (size_t i = 0; i < CH_ARRAY_LEN(routes); i++) {
		if (!match(routes[i].pattern, path, arg, arglen))
			continue;
		if (strcmp(routes[i].method, method) == 0 || (head && strcmp(routes[i].method, "GET") == 0))
			return &routes[i];
		*path_known = true;
		ch_fmt_append(allow, allowlen, &pos, "%s%s", pos ? ", " : "", routes[i].method);
	}
	return NULL;
}

void ch_api_handle(void *arg, const struct ch_http_incoming *rq, struct ch_http_reply *out)
{
	struct api_req r = {.api = arg, .rq = rq, .out = out};
	char a[256], allow[64];
	const struct route *rt;
	bool known;

	out->status = 500;
	rt = find_route(rq->method, rq->path, a, sizeof(a), &known, allow, sizeof(allow));
	if (!(r.rt = ch_runtime_acquire())) {
		api_error(&r, 503, "unavailable", "starting");
		return;
	}
	/* Sign in first, so a stranger learns nothing about which paths exist. */
	if ((!rt || rt->need != CH_ROLE_NONE) && authenticate(&r))
		goto out;
	if (!rt) {
		if (known) {
			ch_http_reply_header(out, "Allow", allow);
			api_error(&r, 405, "method_not_allowed", "use %s", allow);
		} else {
			api_error(&r, 404, "not_found", "no such route");
		}
		goto out;
	}
	/* A browser's write: from this server's own page, with the session's CSRF token. */
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0 &&
	    (!ch_auth_origin_ok(rq->header(rq, "Origin"), rq->header(rq, "Host")) ||
	     !ch_auth_csrf_ok(&r.who, rq->method, rq->header(rq, "X-CSRF-Token")))) {
		api_error(&r, 403, "csrf", "a signed-in browser's write needs the X-CSRF-Token the session gave");
		goto out;
	}
	if (rt->need != CH_ROLE_NONE && r.who.role < rt->need) {
		api_error(&r, 403, "forbidden", "%s may not do this (needs %s)", ch_role_name(r.who.role),
			  ch_role_name(rt->need));
		goto out;
	}
	rt->fn(&r, a);
out:
	store_release(&r);
	ch_runtime_release(r.rt);
}
