/*
 * auth.c - passwords (libargon2, argon2id), service tokens, the session
 * cookie, CSRF and origin checks, and login bodies.  See auth.h.
 *
 * Why libargon2: a well-kept reference implementation of the winner of the
 * Password Hashing Competition, packaged in Debian; it is memory-hard, so a
 * stolen copy of the operators' hashes is slow to attack even on GPUs.
 */
#include "auth.h"
#include "http.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define ARGON_T 2
#define ARGON_M_KIB 19456
#define ARGON_P 1
#define SALT_LEN 16
#define HASH_LEN 32

static const char *const role_names[] = {[CH_ROLE_NONE] = "none",
					 [CH_ROLE_VIEWER] = "viewer",
					 [CH_ROLE_OPERATOR] = "operator",
					 [CH_ROLE_ADMIN] = "admin"};

const char *ch_role_name(enum ch_role r)
{
	return (size_t)r < CH_ARRAY_LEN(role_names) ? role_names[r] : "none";
}

int ch_role_parse(const char *s, enum ch_role *out)
{
	for (int r = CH_ROLE_VIEWER; s && r <= CH_ROLE_ADMIN; r++) {
		if (strcmp(s, role_names[r]) == 0) {
			*out = (enum ch_role)r;
			return 0;
		}
	}
	return CH_EINVAL;
}

bool ch_auth_name_ok(const char *name)
{
	size_t n = 0;

	for (; name && name[n]; n++) {
		char c = name[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '-'))
			return false;
	}
	return n >= 1 && n <= CH_AUTH_NAME_MAX;
}

/* ---------------------------------------------------------------- passwords */

static int password_ok(const char *pw, char *err, size_t errlen)
{
	size_t n = pw ? strlen(pw) : 0;

	if (n < CH_AUTH_PW_MIN || n > CH_AUTH_PW_MAX) {
		ch_fmt(err, errlen, "a password is %d to %d bytes", CH_AUTH_PW_MIN, CH_AUTH_PW_MAX);
		return CH_EINVAL;
	}
	return 0;
}

int ch_auth_hash_password(const char *password, char *out, size_t len, char *err, size_t errlen)
{
	uint8_t salt[SALT_LEN];
	int rc;

	if ((rc = password_ok(password, err, errlen)))
		return rc;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt)) {
		ch_fmt(err, errlen, "no randomness for a salt: %s", strerror(errno));
		return CH_EIO;
	}
	if (argon2_encodedlen(ARGON_T, ARGON_M_KIB, ARGON_P, SALT_LEN, HASH_LEN, Argon2_id) > len) {
		ch_fmt(err, errlen, "no room for the hash");
		return CH_EINVAL;
	}
	rc = argon2id_hash_encoded(ARGON_T, ARGON_M_KIB, ARGON_P, password, strlen(password), salt, sizeof(salt),
				   HASH_LEN, out, len);
	if (rc != ARGON2_OK) {
		ch_fmt(err, errlen, "argon2: %s", argon2_error_message(rc));
		return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? CH_ENOMEM : CH_EINVAL;
	}
	return 0;
}

int ch_auth_verify_password(const char *encoded, const char *password)
{
	int rc;

	if (!encoded || !password || strncmp(encoded, "$argon2id$", 10) != 0)
		return CH_EINVAL;
	rc = argon2id_verify(encoded, password, strlen(password));
	return rc == ARGON2_OK ? 0 : rc == ARGON2_VERIFY_MISMATCH ? CH_EPROTO : CH_EINVAL;
}

static char dummy_hash[CH_AUTH_HASH_MAX];

/* A hash of a random password nobody knows, made once. */
static void dummy_init(void)
{
	char pw[CH_AUTH_SECRET_HEX + 1], err[64];

	if (ch_auth_random_hex(pw) == 0 && ch_auth_hash_password(pw, dummy_hash, sizeof(dummy_hash), err, sizeof(err)))
		dummy_hash[0] = '\0';
	explicit_bzero(pw, sizeof(pw));
}

void ch_auth_verify_dummy(const char *password)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, dummy_init);
	if (dummy_hash[0])
		(void)ch_auth_verify_password(dummy_hash, password ? password : "");
}

/* ---------------------------------------------------------------- secrets */

int ch_auth_random_hex(char out[CH_AUTH_SECRET_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[CH_AUTH_SECRET_HEX / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return CH_EIO;
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[CH_AUTH_SECRET_HEX] = '\0';
	explicit_bzero(b, sizeof(b));
	return 0;
}

void ch_auth_digest_hex(const char *s, char out[CH_AUTH_SECRET_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[32];

	ch_http_sha256(s, strlen(s), d);
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[CH_AUTH_SECRET_HEX] = '\0';
}

bool ch_auth_equal(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	unsigned char diff = (unsigned char)(n != m);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i < m ? i : 0]);
	return diff == 0 && m > 0;
}

/* ---------------------------------------------------------------- cookies */

int ch_auth_cookie(const char *header, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (len)
		out[0] = '\0';
	while (p && *p) {
		const char *end;
		size_t vlen;

		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = (size_t)(end - p);
			while (vlen && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= len)
				return CH_EINVAL;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return 0;
		}
		p = end;
	}
	return CH_ENOTFOUND;
}

void ch_auth_set_cookie(const char *value, int64_t ttl_s, bool secure, char *out, size_t len)
{
	/* HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it. */
	ch_fmt(out, len, "%s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", CH_AUTH_COOKIE, ttl_s > 0 ? value : "",
	       (long long)(ttl_s > 0 ? ttl_s : 0), secure ? "; Secure" : "");
}

bool ch_auth_csrf_ok(const struct ch_principal *p, const char *method, const char *header)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return true;
	if (!p->session)
		return true;
	return header && p->csrf[0] && ch_auth_equal(header, p->csrf);
}

bool ch_auth_origin_ok(const char *origin, const char *host)
{
	const char *o;

	if (!origin)
		return true;
	if (!host || !*host)
		return false;
	/* "null" (a sandboxed frame, a file: page) is never this server. */
	if (strncmp(origin, "http://", 7) == 0)
		o = origin + 7;
	else if (strncmp(origin, "https://", 8) == 0)
		o = origin + 8;
	else
		return false;
	return strcasecmp(o, host) == 0;
}

/* ---------------------------------------------------------------- login bodies */

int ch_auth_parse_login(const char *body, size_t len, char *name, size_t namelen, char *password, size_t pwlen,
			char *err, size_t errlen)
{
	json_t *o, *n, *p;
	const char *k;
	json_t *v;
	int rc = CH_EINVAL;

	if (len > 4096 || !ch_utf8_valid(body, len)) {
		ch_fmt(err, errlen, "expected {\"name\": NAME, \"password\": TEXT}");
		return CH_EINVAL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	n = json_object_get(o, "name");
	p = json_object_get(o, "password");
	if (!json_is_object(o) || !json_is_string(n) || !json_is_string(p)) {
		ch_fmt(err, errlen, "expected {\"name\": NAME, \"password\": TEXT}");
		goto out;
	}
	json_object_foreach(o, k, v) {
		if (strcmp(k, "name") != 0 && strcmp(k, "password") != 0) {
			ch_fmt(err, errlen, "unknown key in a login; expected only \"name\" and \"password\"");
			goto out;
		}
	}
	if (!ch_auth_name_ok(json_string_value(n)) || json_string_length(p) == 0 ||
	    json_string_length(p) > CH_AUTH_PW_MAX || memchr(json_string_value(p), '\0', json_string_length(p))) {
		ch_fmt(err, errlen, "wrong name or password");
		goto out;
	}
	if (ch_strlcpy(name, json_string_value(n), namelen) || ch_strlcpy(password, json_string_value(p), pwlen)) {
		ch_fmt(err, errlen, "wrong name or password");
		goto out;
	}
	rc = 0;
out:
	/* The password's copy inside jansson is freed with o; jansson does not wipe it. */
	json_decref(o);
	return rc;
}

/* ---------------------------------------------------------------- tokens */

struct token {
	char name[CH_AUTH_NAME_MAX + 1];
	enum ch_role role;
	uint8_t digest[32];
};

struct ch_auth_tokens {
	struct token *v;
	size_t n;
};

struct ch_auth_tokens *ch_auth_tokens_new(void)
{
	return calloc(1, sizeof(struct ch_auth_tokens));
}

void ch_auth_tokens_free(struct ch_auth_tokens *t)
{
	if (!t)
		return;
	if (t->v)
		explicit_bzero(t->v, t->n * sizeof(*t->v));
	free(t->v);
	free(t);
}

int ch_auth_tokens_add(struct ch_auth_tokens *t, const char *name, enum ch_role role, const char *token)
{
	struct token *v;

	if (!token || !*token || !ch_auth_name_ok(name) || role == CH_ROLE_NONE)
		return CH_EINVAL;
	if (!(v = realloc(t->v, (t->n + 1) * sizeof(*v))))
		return CH_ENOMEM;
	t->v = v;
	memset(&v[t->n], 0, sizeof(v[t->n]));
	ch_strlcpy(v[t->n].name, name, sizeof(v[t->n].name));
	v[t->n].role = role;
	ch_http_sha256(token, strlen(token), v[t->n].digest);
	t->n++;
	return 0;
}

size_t ch_auth_tokens_count(const struct ch_auth_tokens *t)
{
	return t ? t->n : 0;
}

static bool digest_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;

	for (size_t i = 0; i < 32; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}

int ch_auth_token_find(const struct ch_auth_tokens *t, const char *token, struct ch_principal *out)
{
	uint8_t d[32];
	const struct token *hit = NULL;

	if (!t || !token || !*token)
		return CH_ENOTFOUND;
	/* Digest to digest: neither the token's bytes nor its length show in the timing. */
	ch_http_sha256(token, strlen(token), d);
	for (size_t i = 0; i < t->n; i++)
		if (digest_equal(d, t->v[i].digest))
			hit = &t->v[i];
	if (!hit)
		return CH_ENOTFOUND;
	memset(out, 0, sizeof(*out));
	ch_strlcpy(out->name, hit->name, sizeof(out->name));
	out->role = hit->role;
	return 0;
}

/* ---------------------------------------------------------------- operator records */

int ch_auth_operator_new(const char *name, enum ch_role role, const char *password, int64_t now_ms, json_t **out,
			 char *err, size_t errlen)
{
	char hash[CH_AUTH_HASH_MAX];
	int rc;

	*out = NULL;
	if (!ch_auth_name_ok(name)) {
		ch_fmt(err, errlen, "an operator's name is 1-64 of A-Z a-z 0-9 . _ @ -");
		return CH_EINVAL;
	}
	if (role == CH_ROLE_NONE) {
		ch_fmt(err, errlen, "role must be viewer, operator or admin");
		return CH_EINVAL;
	}
	if ((rc = ch_auth_hash_password(password, hash, sizeof(hash), err, errlen)))
		return rc;
	*out = json_pack("{s:s, s:s, s:s, s:b, s:i, s:I}", "name", name, "role", ch_role_name(role), "hash", hash,
			 "disabled", 0, "pwgen", 1, "created_ms", (json_int_t)now_ms);
	explicit_bzero(hash, sizeof(hash));
	return *out ? 0 : CH_ENOMEM;
}

json_t *ch_auth_operator_public(json_t *rec)
{
	json_t *o = json_deep_copy(rec);

	json_object_del(o, "hash");
	json_object_del(o, "pwgen");
	return o;
}
