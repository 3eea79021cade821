/*
 * test_auth.c - the pieces of accounts that need no server: argon2id hashes
 * (round trip, a wrong password, a malformed hash, lengths), roles and names,
 * the session cookie (parsing what browsers send, the flags we set), CSRF and
 * origin checks, login bodies (untrusted input), service tokens by digest,
 * operator records without their hash.
 */
#include "auth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void passwords_hash_with_argon2id(void **state)
{
	char h1[CH_AUTH_HASH_MAX], h2[CH_AUTH_HASH_MAX], err[256];

	(void)state;
	assert_int_equal(ch_auth_hash_password("correct horse battery", h1, sizeof(h1), err, sizeof(err)), 0);
	assert_int_equal(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
	assert_int_equal(ch_auth_verify_password(h1, "correct horse battery"), 0);
	assert_int_equal(ch_auth_verify_password(h1, "correct horse batterY"), CH_EPROTO);
	assert_int_equal(ch_auth_verify_password(h1, ""), CH_EPROTO);
	/* A fresh salt each time: the same password, two hashes. */
	assert_int_equal(ch_auth_hash_password("correct horse battery", h2, sizeof(h2), err, sizeof(err)), 0);
	assert_string_not_equal(h1, h2);
	/* Lengths, and hashes that are not argon2id. */
	assert_int_equal(ch_auth_hash_password("short", h2, sizeof(h2), err, sizeof(err)), CH_EINVAL);
	assert_non_null(strstr(err, "8 to 256"));
	char longpw[300];
	memset(longpw, 'x', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	assert_int_equal(ch_auth_hash_password(longpw, h2, sizeof(h2), err, sizeof(err)), CH_EINVAL);
	assert_int_equal(ch_auth_hash_password("long enough", h2, 20, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(ch_auth_verify_password("$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "x"), CH_EINVAL);
	assert_int_equal(ch_auth_verify_password("$argon2id$garbage", "x"), CH_EINVAL);
	assert_int_equal(ch_auth_verify_password(NULL, "x"), CH_EINVAL);
	/* The dummy check for an unknown name runs and decides nothing. */
	ch_auth_verify_dummy("anything");
}

static void roles_and_names(void **state)
{
	enum ch_role r;

	(void)state;
	assert_int_equal(ch_role_parse("viewer", &r), 0);
	assert_int_equal(r, CH_ROLE_VIEWER);
	assert_int_equal(ch_role_parse("admin", &r), 0);
	assert_int_equal(r, CH_ROLE_ADMIN);
	assert_int_equal(ch_role_parse("Admin", &r), CH_EINVAL);
	assert_int_equal(ch_role_parse("none", &r), CH_EINVAL);
	assert_int_equal(ch_role_parse(NULL, &r), CH_EINVAL);
	/* Each role includes the one before. */
	assert_true(CH_ROLE_VIEWER < CH_ROLE_OPERATOR && CH_ROLE_OPERATOR < CH_ROLE_ADMIN);
	assert_string_equal(ch_role_name(CH_ROLE_OPERATOR), "operator");
	assert_true(ch_auth_name_ok("op7"));
	assert_true(ch_auth_name_ok("chen.li@centre-1"));
	assert_false(ch_auth_name_ok(""));
	assert_false(ch_auth_name_ok("two words"));
	assert_false(ch_auth_name_ok("王"));
	assert_false(ch_auth_name_ok("a\nb"));
	char longname[70];
	memset(longname, 'a', 65);
	longname[65] = '\0';
	assert_false(ch_auth_name_ok(longname));
}

static void cookies(void **state)
{
	char v[80], set[256];

	(void)state;
	assert_int_equal(ch_auth_cookie("ch_session=abc", "ch_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(ch_auth_cookie("theme=dark; ch_session=abc123 ; lang=zh", "ch_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc123");
	/* Another cookie whose name ends the same is not ours. */
	assert_int_equal(ch_auth_cookie("xch_session=evil; a=b", "ch_session", v, sizeof(v)), CH_ENOTFOUND);
	assert_int_equal(ch_auth_cookie("ch_sessionx=evil", "ch_session", v, sizeof(v)), CH_ENOTFOUND);
	assert_int_equal(ch_auth_cookie("", "ch_session", v, sizeof(v)), CH_ENOTFOUND);
	assert_int_equal(ch_auth_cookie(NULL, "ch_session", v, sizeof(v)), CH_ENOTFOUND);
	assert_int_equal(ch_auth_cookie("ch_session=0123456789", "ch_session", v, 5), CH_EINVAL);
	/* What we set: HttpOnly, SameSite=Strict, the whole site, an expiry; Secure under HTTPS. */
	ch_auth_set_cookie("abc", 3600, false, set, sizeof(set));
	assert_string_equal(set, "ch_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict");
	ch_auth_set_cookie("abc", 3600, true, set, sizeof(set));
	assert_non_null(strstr(set, "; Secure"));
	ch_auth_set_cookie("abc", 0, false, set, sizeof(set));
	assert_string_equal(set, "ch_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}

static void csrf_and_origin(void **state)
{
	struct ch_principal s = {.role = CH_ROLE_OPERATOR, .session = true}, t = {.role = CH_ROLE_ADMIN};
	char tok[CH_AUTH_SECRET_HEX + 1], other[CH_AUTH_SECRET_HEX + 1];

	(void)state;
	assert_int_equal(ch_auth_random_hex(tok), 0);
	assert_int_equal(ch_auth_random_hex(other), 0);
	assert_int_equal(strlen(tok), 64);
	assert_string_not_equal(tok, other);
	memcpy(s.csrf, tok, sizeof(tok));
	/* Reads never need it. */
	assert_true(ch_auth_csrf_ok(&s, "GET", NULL));
	assert_true(ch_auth_csrf_ok(&s, "HEAD", NULL));
	/* A session's write needs its own token. */
	assert_false(ch_auth_csrf_ok(&s, "POST", NULL));
	assert_false(ch_auth_csrf_ok(&s, "POST", ""));
	assert_false(ch_auth_csrf_ok(&s, "DELETE", other));
	assert_false(ch_auth_csrf_ok(&s, "POST", "abc"));
	assert_true(ch_auth_csrf_ok(&s, "POST", tok));
	assert_true(ch_auth_csrf_ok(&s, "DELETE", tok));
	/* A bearer token is never sent by a browser by itself. */
	assert_true(ch_auth_csrf_ok(&t, "POST", NULL));
	/* A session without a token on record writes nothing. */
	struct ch_principal empty = {.session = true};
	assert_false(ch_auth_csrf_ok(&empty, "POST", ""));
	/* Origins. */
	assert_true(ch_auth_origin_ok(NULL, "127.0.0.1:8370"));
	assert_true(ch_auth_origin_ok("http://127.0.0.1:8370", "127.0.0.1:8370"));
	assert_true(ch_auth_origin_ok("https://hub.example", "HUB.example"));
	assert_false(ch_auth_origin_ok("http://evil.example", "127.0.0.1:8370"));
	assert_false(ch_auth_origin_ok("http://127.0.0.1:8371", "127.0.0.1:8370"));
	assert_false(ch_auth_origin_ok("null", "127.0.0.1:8370"));
	assert_false(ch_auth_origin_ok("http://127.0.0.1:8370", NULL));
	/* Equal in constant time, and never for empty. */
	assert_true(ch_auth_equal("abc", "abc"));
	assert_false(ch_auth_equal("abc", "abd"));
	assert_false(ch_auth_equal("abc", "abcd"));
	assert_false(ch_auth_equal("", ""));
}

static void login_bodies(void **state)
{
	char name[CH_AUTH_NAME_MAX + 1], pw[CH_AUTH_PW_MAX + 1], err[256];
	const char *ok = "{\"name\":\"op7\",\"password\":\"s3cret pass\"}";

	(void)state;
	assert_int_equal(ch_auth_parse_login(ok, strlen(ok), name, sizeof(name), pw, sizeof(pw), err, sizeof(err)), 0);
	assert_string_equal(name, "op7");
	assert_string_equal(pw, "s3cret pass");
	static const char *const bad[] = {
		"", "[]", "null", "{}", "{\"name\":\"op7\"}", "{\"password\":\"x\"}", "{\"name\":7,\"password\":\"x\"}",
		"{\"name\":\"op7\",\"password\":null}", "{\"name\":\"op7\",\"password\":\"x\",\"role\":\"admin\"}",
		"{\"name\":\"op7\",\"name\":\"root\",\"password\":\"x\"}", "{\"name\":\"a b\",\"password\":\"x\"}",
		"{\"name\":\"op7\",\"password\":\"\"}", "{\"name\":\"op7\",\"password\":\"a\\u0000b\"}", "{\"name\":\"op7\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ch_auth_parse_login(bad[i], strlen(bad[i]), name, sizeof(name), pw, sizeof(pw), err,
						     sizeof(err)),
				 CH_EINVAL);
	/* Not UTF-8, or too big: refused before parsing. */
	const char latin[] = "{\"name\":\"op7\",\"password\":\"caf\xe9\"}";
	assert_int_equal(ch_auth_parse_login(latin, strlen(latin), name, sizeof(name), pw, sizeof(pw), err, sizeof(err)),
			 CH_EINVAL);
	char *big = calloc(1, 8000);
	memset(big, ' ', 7999);
	assert_int_equal(ch_auth_parse_login(big, 7999, name, sizeof(name), pw, sizeof(pw), err, sizeof(err)), CH_EINVAL);
	free(big);
	/* The message never repeats the password. */
	const char *wrong = "{\"name\":\"bad name\",\"password\":\"hunter22\"}";
	ch_auth_parse_login(wrong, strlen(wrong), name, sizeof(name), pw, sizeof(pw), err, sizeof(err));
	assert_null(strstr(err, "hunter22"));
}

static void service_tokens(void **state)
{
	struct ch_auth_tokens *t = ch_auth_tokens_new();
	struct ch_principal p;

	(void)state;
	assert_int_equal(ch_auth_tokens_add(t, "service", CH_ROLE_ADMIN, "admin-token"), 0);
	assert_int_equal(ch_auth_tokens_add(t, "dashboard", CH_ROLE_VIEWER, "viewer-token"), 0);
	assert_int_equal(ch_auth_tokens_add(t, "x", CH_ROLE_VIEWER, ""), CH_EINVAL);
	assert_int_equal(ch_auth_tokens_add(t, "bad name", CH_ROLE_VIEWER, "t"), CH_EINVAL);
	assert_int_equal(ch_auth_tokens_add(t, "none", CH_ROLE_NONE, "t"), CH_EINVAL);
	assert_int_equal(ch_auth_tokens_count(t), 2);
	assert_int_equal(ch_auth_token_find(t, "viewer-token", &p), 0);
	assert_string_equal(p.name, "dashboard");
	assert_int_equal(p.role, CH_ROLE_VIEWER);
	assert_false(p.session);
	assert_int_equal(ch_auth_token_find(t, "admin-token", &p), 0);
	assert_int_equal(p.role, CH_ROLE_ADMIN);
	assert_int_equal(ch_auth_token_find(t, "admin-toke", &p), CH_ENOTFOUND);
	assert_int_equal(ch_auth_token_find(t, "admin-token ", &p), CH_ENOTFOUND);
	assert_int_equal(ch_auth_token_find(t, "", &p), CH_ENOTFOUND);
	assert_int_equal(ch_auth_token_find(NULL, "admin-token", &p), CH_ENOTFOUND);
	ch_auth_tokens_free(t);
}

static void operator_records(void **state)
{
	json_t *rec = NULL, *pub;
	char err[256], digest[CH_AUTH_SECRET_HEX + 1];

	(void)state;
	assert_int_equal(ch_auth_operator_new("op7", CH_ROLE_OPERATOR, "long enough pw", 1000, &rec, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "role")), "operator");
	assert_int_equal(ch_auth_verify_password(json_string_value(json_object_get(rec, "hash")), "long enough pw"), 0);
	assert_false(json_is_true(json_object_get(rec, "disabled")));
	pub = ch_auth_operator_public(rec);
	assert_null(json_object_get(pub, "hash"));
	assert_null(json_object_get(pub, "pwgen"));
	assert_string_equal(json_string_value(json_object_get(pub, "name")), "op7");
	json_decref(pub);
	json_decref(rec);
	assert_int_equal(ch_auth_operator_new("op 7", CH_ROLE_OPERATOR, "long enough pw", 0, &rec, err, sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(ch_auth_operator_new("op7", CH_ROLE_NONE, "long enough pw", 0, &rec, err, sizeof(err)), CH_EINVAL);
	assert_int_equal(ch_auth_operator_new("op7", CH_ROLE_ADMIN, "short", 0, &rec, err, sizeof(err)), CH_EINVAL);
	/* What Redis keeps of a cookie: its SHA-256, never the cookie. */
	ch_auth_digest_hex("abc", digest);
	assert_string_equal(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passwords_hash_with_argon2id), cmocka_unit_test(roles_and_names),
		cmocka_unit_test(cookies),			  cmocka_unit_test(csrf_and_origin),
		cmocka_unit_test(login_bodies),			  cmocka_unit_test(service_tokens),
		cmocka_unit_test(operator_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
