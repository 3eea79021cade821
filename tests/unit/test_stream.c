/*
 * test_stream.c - the live feed's pure parts and its clients without Redis:
 * SSE framing, stream ids compared as numbers, the retry line first,
 * keepalives while nothing comes (Redis away), the client limit, and every
 * client's stream ending when the feed stops.
 */
#include "stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void frames(void **state)
{
	char *f;

	(void)state;
	f = ch_sse_frame("1700000000000-0", "alert", "{\"id\":\"s-001:1\"}");
	assert_string_equal(f, "id: 1700000000000-0\nevent: alert\ndata: {\"id\":\"s-001:1\"}\n\n");
	free(f);
	f = ch_sse_frame(NULL, "reset", "{}");
	assert_string_equal(f, "event: reset\ndata: {}\n\n");
	free(f);
	f = ch_sse_frame(NULL, NULL, "x");
	assert_string_equal(f, "data: x\n\n");
	free(f);
}

static void ids(void **state)
{
	(void)state;
	assert_true(ch_stream_id_ok("1700000000000-0"));
	assert_true(ch_stream_id_ok("0-0"));
	assert_false(ch_stream_id_ok("1700000000000"));
	assert_false(ch_stream_id_ok("-1"));
	assert_false(ch_stream_id_ok("1-"));
	assert_false(ch_stream_id_ok("1-a"));
	assert_false(ch_stream_id_ok("1-2-3"));
	assert_false(ch_stream_id_ok(""));
	assert_false(ch_stream_id_ok("12345678901234567890123-0"));
	/* Numbers, not strings: 9-0 is older than 10-0. */
	assert_true(ch_stream_id_cmp("9-0", "10-0") < 0);
	assert_true(ch_stream_id_cmp("10-0", "9-0") > 0);
	assert_true(ch_stream_id_cmp("10-2", "10-10") < 0);
	assert_int_equal(ch_stream_id_cmp("10-2", "10-2"), 0);
	/* A malformed id is older than any. */
	assert_true(ch_stream_id_cmp("junk", "0-0") < 0);
	assert_true(ch_stream_id_cmp("1-0", "junk") > 0);
}

/* Reads from the client until its bytes contain needle or n reads pass. */
static bool read_until(struct ch_stream_client *c, const char *needle, int n, char *all, size_t len)
{
	size_t have = strlen(all);

	for (int i = 0; i < n; i++) {
		long got = ch_stream_next(c, all + have, len - 1 - have);
		if (got < 0)
			return false;
		have += (size_t)got;
		all[have] = '\0';
		if (strstr(all, needle))
			return true;
	}
	return false;
}

static void clients_without_redis(void **state)
{
	/* A Redis that is not there: the feed waits for it, clients get keepalives meanwhile. */
	struct ch_store_opts so = {.host = "127.0.0.1", .port = 1, .prefix = "t:", .timeout_ms = 200};
	struct ch_stream_opts o = {.store = &so, .keepalive_ms = 200, .max_clients = 2};
	struct ch_stream *s = NULL;
	struct ch_stream_client *a, *b, *c;
	char err[256], all[4096] = "";

	(void)state;
	assert_int_equal(ch_stream_start(&o, &s, err, sizeof(err)), 0);
	assert_int_equal(ch_stream_open(s, NULL, &a), 0);
	assert_int_equal(ch_stream_open(s, "1-0", &b), 0);
	assert_int_equal(ch_stream_open(s, NULL, &c), CH_EFULL);
	assert_int_equal(ch_stream_clients(s), 2);
	/* First the reconnect delay, then keepalives. */
	assert_true(read_until(a, "retry: 2000\n\n", 3, all, sizeof(all)));
	assert_int_equal(strncmp(all, "retry: 2000\n\n", 13), 0);
	assert_true(read_until(a, ": keepalive\n\n", 10, all, sizeof(all)));
	ch_stream_close(b);
	assert_int_equal(ch_stream_clients(s), 1);
	assert_int_equal(ch_stream_open(s, NULL, &c), 0);
	ch_stream_close(c);
	ch_stream_close(a);
	ch_stream_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames),
		cmocka_unit_test(ids),
		cmocka_unit_test(clients_without_redis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
