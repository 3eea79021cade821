/*
 * fuzz_login.c - libFuzzer target for what a stranger sends before signing
 * in: the login body (POST /v1/session), the Cookie header, the Origin and
 * CSRF headers (auth.c).  The first byte picks the parser.  Invariants: an
 * accepted login has a valid name and a password of 1-256 bytes with no NUL;
 * an extracted cookie fits its buffer; nothing crashes or reads out of bounds.
 */
#include "auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[CH_AUTH_NAME_MAX + 1], pw[CH_AUTH_PW_MAX + 1], err[256], v[CH_AUTH_SECRET_HEX + 2];
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		if (ch_auth_parse_login(s, size - 1, name, sizeof(name), pw, sizeof(pw), err, sizeof(err)) == 0 &&
		    (!ch_auth_name_ok(name) || strlen(pw) == 0 || strlen(pw) > CH_AUTH_PW_MAX))
			abort();
		break;
	case 1:
		if (ch_auth_cookie(s, CH_AUTH_COOKIE, v, sizeof(v)) == 0 && strlen(v) >= sizeof(v))
			abort();
		break;
	default: {
		struct ch_principal p = {.role = CH_ROLE_OPERATOR, .session = true};
		const char *half = s + strlen(s) / 2;
		(void)ch_auth_origin_ok(s, half);
		ch_strlcpy(p.csrf, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", sizeof(p.csrf));
		if (ch_auth_csrf_ok(&p, "POST", s) && strcmp(s, p.csrf) != 0)
			abort();
		break;
	}
	}
	free(s);
	return 0;
}
