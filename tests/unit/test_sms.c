/*
 * test_sms.c - how the sms plugin cuts messages (plugins/sms/sms_split.h):
 * Chinese 70 in one SMS and 67 per part, ASCII 160 and 153, never inside a
 * character or a surrogate pair.
 */
#include "../../plugins/sms/sms_split.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* n copies of a 3-byte Chinese character. */
static size_t chinese(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memcpy(buf + 3 * i, "\xe6\xb0\xb4", 3); /* 水 */
	buf[3 * n] = '\0';
	return 3 * n;
}

static void parts_of(const char *s, size_t len, size_t want_parts, const size_t *want_units)
{
	size_t ends[16], units = 0, n = sms_split(s, len, ends, 16, &units), from = 0;

	assert_int_equal(n, want_parts);
	for (size_t i = 0; i < n; i++) {
		size_t u = 0;
		for (size_t b = from; b < ends[i]; b += sms_seq_len((unsigned char)s[b]))
			u += sms_seq_len((unsigned char)s[b]) == 4 ? 2 : 1;
		assert_int_equal(u, want_units[i]);
		from = ends[i];
	}
	assert_int_equal(from, len);
}

static void chinese_70_71_134_135(void **state)
{
	char buf[3 * 200 + 1];

	(void)state;
	parts_of(buf, chinese(buf, 70), 1, (size_t[]){70});
	parts_of(buf, chinese(buf, 71), 2, (size_t[]){67, 4});
	parts_of(buf, chinese(buf, 134), 2, (size_t[]){67, 67});
	parts_of(buf, chinese(buf, 135), 3, (size_t[]){67, 67, 1});
}

static void ascii_160_161_and_mixed(void **state)
{
	char buf[400];

	(void)state;
	memset(buf, 'a', 161);
	parts_of(buf, 160, 1, (size_t[]){160});
	parts_of(buf, 161, 2, (size_t[]){153, 8});
	/* One Chinese character makes the whole message UCS-2: 60 + 1 + 9 = 70 fits, 71 does not. */
	memcpy(buf + 60, "\xe6\xb0\xb4", 3);
	parts_of(buf, 72, 1, (size_t[]){70});
	parts_of(buf, 73, 2, (size_t[]){67, 4});
}

static void never_inside_a_surrogate_pair(void **state)
{
	char buf[400];
	size_t len = chinese(buf, 66);

	(void)state;
	/* 66 units, then an emoji (2 units, 4 bytes): it cannot fit the first 67-unit part. */
	memcpy(buf + len, "\xf0\x9f\x98\x80", 4);
	len += 4;
	memcpy(buf + len, "\xe6\xb0\xb4\xe6\xb0\xb4\xe6\xb0\xb4", 9);
	len += 9;
	parts_of(buf, len, 2, (size_t[]){66, 5});
	size_t units;
	assert_int_equal(sms_split("", 0, (size_t[1]){0}, 1, &units), 0);
	assert_int_equal(units, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chinese_70_71_134_135),
		cmocka_unit_test(ascii_160_161_and_mixed),
		cmocka_unit_test(never_inside_a_surrogate_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
