/*
 * auth.h - who is asking the API, and what they may do: operator accounts
 * (argon2id password hashes, sessions), scoped service tokens, roles, the
 * session cookie and its CSRF token.
 *
 * The pieces here are pure or nearly (hashing, parsing, comparing); the
 * records live in Redis (store.h: operators, sessions, failed logins) and
 * api.c puts them together per request.  Only auth.c includes <argon2.h>.
 *
 * Roles, each including the one before:
 *   viewer    reads everything under /v1
 *   operator  + acknowledges, resolves, notes, escalates, silences
 *   admin     + operator accounts and the audit log
 */
#ifndef CH_AUTH_H
#define CH_AUTH_H

#include "ch.h"

#include <jansson.h>

enum ch_role { CH_ROLE_NONE = 0, CH_ROLE_VIEWER, CH_ROLE_OPERATOR, CH_ROLE_ADMIN };

const char *ch_role_name(enum ch_role r);
/* "viewer", "operator" or "admin"; CH_EINVAL otherwise. */
int ch_role_parse(const char *s, enum ch_role *out);

#define CH_AUTH_NAME_MAX 64
#define CH_AUTH_SECRET_HEX 64 /* 256-bit cookies and CSRF tokens, hex */
#define CH_AUTH_PW_MIN 8
#define CH_AUTH_PW_MAX 256
#define CH_AUTH_HASH_MAX 160 /* an encoded argon2id hash */
#define CH_AUTH_COOKIE "ch_session"

/* Who a request comes from. */
struct ch_principal {
	char name[CH_AUTH_NAME_MAX + 1];
	enum ch_role role;
	bool session;                         /* signed in with the cookie: writes need X-CSRF-Token */
	char csrf[CH_AUTH_SECRET_HEX + 1];    /* the session's CSRF token */
	char key[CH_AUTH_SECRET_HEX + 1];     /* the session's key in Redis (digest of the cookie) */
};

/* An account or token name: 1-64 of A-Z a-z 0-9 . _ @ - (it goes into timelines and logs). */
bool ch_auth_name_ok(const char *name);

/*
 * Password hashing with libargon2: argon2id, 2 passes over 19 MiB, one lane
 * (OWASP's minimum for argon2id), a 16-byte random salt; the encoded string
 * carries its parameters, so they can be raised later without breaking old
 * hashes.  The password is 8-256 bytes.
 */
int ch_auth_hash_password(const char *password, char *out, size_t len, char *err, size_t errlen);
/* 0 when password matches encoded; CH_EPROTO when it does not; CH_EINVAL for a malformed hash. */
int ch_auth_verify_password(const char *encoded, const char *password);
/* Spends the time of one verification against nothing: an unknown name costs what a known one does. */
void ch_auth_verify_dummy(const char *password);

/* 32 random bytes as 64 hex digits (getrandom); 0 or CH_EIO. */
int ch_auth_random_hex(char out[CH_AUTH_SECRET_HEX + 1]);
/* hex SHA-256 of s: what Redis keeps of a session cookie. */
void ch_auth_digest_hex(const char *s, char out[CH_AUTH_SECRET_HEX + 1]);

/*
 * The value of cookie `name` in a Cookie header ("a=1; ch_session=abc"), into
 * out; CH_ENOTFOUND when absent, CH_EINVAL when too long for out.
 */
int ch_auth_cookie(const char *header, const char *name, char *out, size_t len);
/* The Set-Cookie value that signs in (ttl_s > 0) or out (ttl_s == 0); secure adds Secure (HTTPS). */
void ch_auth_set_cookie(const char *value, int64_t ttl_s, bool secure, char *out, size_t len);

/* Equal strings, in time that depends only on their lengths. */
bool ch_auth_equal(const char *a, const char *b);

/*
 * A login body {"name": NAME, "password": TEXT}: untrusted input (fuzzed).
 * 0, or CH_EINVAL with err naming what is wrong (never the password).
 */
int ch_auth_parse_login(const char *body, size_t len, char *name, size_t namelen, char *password, size_t pwlen,
			char *err, size_t errlen);

/*
 * May a request with this method from principal p go ahead, given its
 * X-CSRF-Token header (NULL if none)?  Reads never need it; a write by a
 * session needs its own token; a bearer token needs none (no browser sends
 * it by itself).
 */
bool ch_auth_csrf_ok(const struct ch_principal *p, const char *method, const char *header);

/*
 * Same-origin check for writes from a browser: when an Origin header is
 * present its host[:port] must be the Host header's.  Requests without Origin
 * (carehubctl, curl, integrations) pass.
 */
bool ch_auth_origin_ok(const char *origin, const char *host);

/* ---- service tokens ---- */

struct ch_auth_tokens;
/* An empty set; add each with its name and role. */
struct ch_auth_tokens *ch_auth_tokens_new(void);
void ch_auth_tokens_free(struct ch_auth_tokens *t);
/* Keeps only the SHA-256 of token; CH_EINVAL for an empty token or bad name. */
int ch_auth_tokens_add(struct ch_auth_tokens *t, const char *name, enum ch_role role, const char *token);
size_t ch_auth_tokens_count(const struct ch_auth_tokens *t);
/*
 * The principal a bearer token stands for; CH_ENOTFOUND when it is none.
 * Compares digests in constant time against every token.
 */
int ch_auth_token_find(const struct ch_auth_tokens *t, const char *token, struct ch_principal *out);

/* ---- operator records ---- */

/*
 * A new operator record {"name","role","hash","disabled":false,"pwgen":1,
 * "created_ms"} for name with password hashed; CH_EINVAL (bad name, role or
 * password) with err.  New reference.
 */
int ch_auth_operator_new(const char *name, enum ch_role role, const char *password, int64_t now_ms, json_t **out,
			 char *err, size_t errlen);
/* The record without its hash, for GET /v1/operators. New reference. */
json_t *ch_auth_operator_public(json_t *rec);

#endif
