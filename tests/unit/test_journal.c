/*
 * test_journal.c - the journal gives back exactly what was appended before a
 * crash, ignores a torn tail, and forgets what was committed.
 */
#include "journal.h"
#include "queue.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct seen {
	int n;
	char topics[16][64];
	char payloads[16][64];
	uint64_t seqs[16];
};

static void collect(void *arg, uint64_t seq, const char *topic, const char *payload, size_t len, size_t orig_len,
		    int64_t arrival_ms)
{
	struct seen *s = arg;

	(void)orig_len;
	(void)arrival_ms;
	if (s->n < 16) {
		snprintf(s->topics[s->n], 64, "%s", topic);
		snprintf(s->payloads[s->n], 64, "%.*s", (int)len, payload);
		s->seqs[s->n] = seq;
	}
	s->n++;
}

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ch-journal-test-%d", (int)getpid());
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void replays_uncommitted_records(void **state)
{
	struct ch_journal *j;
	struct seen s = {0};
	char err[256];
	uint64_t a, b, c;

	(void)state;
	assert_int_equal(ch_journal_open(dir, collect, &s, &j, err, sizeof(err)), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(ch_journal_append(j, "t/1", "one", 3, 3, 1, &a), 0);
	assert_int_equal(ch_journal_append(j, "t/2", "two", 3, 3, 2, &b), 0);
	assert_int_equal(ch_journal_append(j, "t/3", "three", 5, 5, 3, &c), 0);
	assert_true(a < b && b < c);
	/* "Crash": close without committing. */
	ch_journal_close(j);

	assert_int_equal(ch_journal_open(dir, collect, &s, &j, err, sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.topics[0], "t/1");
	assert_string_equal(s.payloads[2], "three");
	assert_int_equal(s.seqs[1], b);
	/* New records continue past the old numbers: they double as event ids. */
	uint64_t d;
	assert_int_equal(ch_journal_append(j, "t/4", "four", 4, 4, 4, &d), 0);
	assert_true(d > c);
	ch_journal_commit(j, d);
	assert_int_equal(ch_journal_bytes(j), 0);
	ch_journal_close(j);

	memset(&s, 0, sizeof(s));
	assert_int_equal(ch_journal_open(dir, collect, &s, &j, err, sizeof(err)), 0);
	assert_int_equal(s.n, 0);
	ch_journal_close(j);
}

static void torn_tail_is_ignored(void **state)
{
	struct ch_journal *j;
	struct seen s = {0};
	char err[256], path[512] = "";
	uint64_t seq;

	(void)state;
	assert_int_equal(ch_journal_open(dir, collect, &s, &j, err, sizeof(err)), 0);
	assert_int_equal(ch_journal_append(j, "t/a", "alpha", 5, 5, 1, &seq), 0);
	assert_int_equal(ch_journal_append(j, "t/b", "bravo", 5, 5, 2, &seq), 0);
	ch_journal_close(j);

	/* Cut the last record in half, as a kill in the middle of a write would. */
	FILE *p = popen("ls -1 /tmp/ch-journal-test-*/journal-*.log | tail -n 1", "r");
	assert_non_null(p);
	assert_non_null(fgets(path, sizeof(path), p));
	pclose(p);
	path[strcspn(path, "\n")] = '\0';
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(truncate(path, sb.st_size - 3), 0);

	assert_int_equal(ch_journal_open(dir, collect, &s, &j, err, sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.payloads[0], "alpha");
	ch_journal_close(j);
}

static void queue_is_bounded_and_fifo(void **state)
{
	struct ch_queue *q;
	struct ch_msg m = {0}, out[8];

	(void)state;
	assert_int_equal(ch_queue_new(2, 1, &q), 0);
	for (int i = 0; i < 3; i++) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", i);
		m.topic = strdup("t");
		m.payload = strdup(buf);
		m.len = 1;
		assert_int_equal(ch_queue_push(q, &m), 0);
		assert_null(m.topic); /* ownership moved */
	}
	assert_false(ch_queue_has_room(q));
	m.topic = strdup("t");
	m.payload = strdup("x");
	assert_int_equal(ch_queue_push(q, &m), CH_EFULL);
	ch_msg_clear(&m);
	assert_int_equal(ch_queue_pop(q, out, 8, 0), 3);
	assert_string_equal(out[0].payload, "0");
	assert_string_equal(out[2].payload, "2");
	for (int i = 0; i < 3; i++)
		ch_msg_clear(&out[i]);
	assert_true(ch_queue_has_room(q));
	assert_int_equal(ch_queue_pop(q, out, 8, 10), 0);
	ch_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(replays_uncommitted_records, setup, teardown),
		cmocka_unit_test_setup_teardown(torn_tail_is_ignored, setup, teardown),
		cmocka_unit_test(queue_is_bounded_and_fifo),
	};
	return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
