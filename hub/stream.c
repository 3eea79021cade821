/*
 * stream.c - the live feed of alert changes: one reader of the Redis stream
 * Pchanges, a ring of SSE frames, and a cursor per client.  See stream.h.
 *
 * Clients never touch Redis: a hundred consoles cost one XREAD, and a frozen
 * Redis stalls the feed (keepalives go on) but no client thread.
 */
#include "stream.h"
#include "backoff.h"
#include "clock.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_BATCH 256
#define BLOCK_MS 1000
#define PENDING_MAX (64 * 1024) /* frames handed to one client per wake-up */
#define ID_MAX 48

struct slot {
	char id[ID_MAX];
	char *frame;
};

struct ch_stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started;
	atomic_bool running;
	bool primed; /* the ring holds the stream's tail */
	struct slot *ring;
	size_t cap, head, n; /* oldest at head */
	size_t clients, max_clients;
	int keepalive_ms;
	struct ch_store *store;
	char *(*render)(void *arg, const struct ch_change *c, const char *doc);
	void *arg;
};

struct ch_stream_client {
	struct ch_stream *s;
	char cursor[ID_MAX];
	char *want;    /* the Last-Event-ID it came with, until the ring can judge it */
	bool resolved; /* cursor set against a primed ring */
	char *pending; /* bytes to hand out */
	size_t off, len;
	int64_t last_sent; /* monotonic ms */
};

/* ---------------------------------------------------------------- pure */

bool ch_stream_id_ok(const char *s)
{
	size_t a = strspn(s, "0123456789");

	return a > 0 && a < 21 && s[a] == '-' && strspn(s + a + 1, "0123456789") == strlen(s + a + 1) &&
	       strlen(s + a + 1) > 0 && strlen(s + a + 1) < 21;
}

static void id_parts(const char *s, unsigned long long *ms, unsigned long long *seq)
{
	char *end;

	*ms = strtoull(s, &end, 10);
	*seq = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
}

int ch_stream_id_cmp(const char *a, const char *b)
{
	bool oa = ch_stream_id_ok(a), ob = ch_stream_id_ok(b);
	unsigned long long am, as, bm, bs;

	if (!oa || !ob)
		return oa - ob;
	id_parts(a, &am, &as);
	id_parts(b, &bm, &bs);
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

char *ch_sse_frame(const char *id, const char *event, const char *data)
{
	size_t n = (id ? strlen(id) + 5 : 0) + (event ? strlen(event) + 8 : 0) + strlen(data) + 9;
	char *f = malloc(n);

	if (!f)
		return NULL;
	/* data must be one line: the JSON writers here never emit a newline. */
	ch_fmt(f, n, "%s%s%s%s%s%sdata: %s\n\n", id ? "id: " : "", id ? id : "", id ? "\n" : "", event ? "event: " : "",
	       event ? event : "", event ? "\n" : "", data);
	return f;
}

/* ---------------------------------------------------------------- the ring */

static struct slot *ring_at(struct ch_stream *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

/* Takes frame; the oldest one goes when the ring is full. */
static void ring_push(struct ch_stream *s, const char *id, char *frame)
{
	struct slot *x;

	if (s->n == s->cap) {
		x = ring_at(s, 0);
		free(x->frame);
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
	x = ring_at(s, s->n++);
	ch_strlcpy(x->id, id, sizeof(x->id));
	x->frame = frame;
}

/* Renders a change into the ring (reader thread; the lock is taken here). */
static void take_change(struct ch_stream *s, const struct ch_change *c)
{
	char *doc = NULL, err[256], *data, *frame;

	if (!c->doc[0] && c->alert[0] && ch_store_alert_get(s->store, c->alert, &doc, err, sizeof(err)))
		doc = NULL;
	data = s->render ? s->render(s->arg, c, doc ? doc : c->doc) : NULL;
	free(doc);
	if (!data)
		return;
	frame = ch_sse_frame(c->id, "alert", data);
	free(data);
	if (!frame)
		return;
	pthread_mutex_lock(&s->mu);
	ring_push(s, c->id, frame);
	pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- the reader */

static void nap(struct ch_stream *s, int *attempt, uint64_t *rnd)
{
	int64_t ms = ch_backoff_full_jitter(200, 2000, ++*attempt, ch_rand64(rnd));

	pthread_mutex_lock(&s->mu);
	if (atomic_load(&s->running)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
}

static void *reader(void *arg)
{
	struct ch_stream *s = arg;
	char last[ID_MAX] = "0-0", err[256];
	uint64_t rnd = (uint64_t)ch_clock_now_ms() ^ (uint64_t)(uintptr_t)s;
	int attempt = 0;

	while (atomic_load(&s->running)) {
		struct ch_change *c = NULL;
		size_t n = 0;
		int rc;

		if (!s->primed) {
			/* After a start: the tail, so a browser can resume across a restart. */
			rc = ch_store_changes_tail(s->store, s->cap, &c, &n, err, sizeof(err));
		} else {
			rc = ch_store_changes_read(s->store, last, READ_BATCH, BLOCK_MS, &c, &n, err, sizeof(err));
		}
		if (rc) {
			ch_log_rl("stream-redis", 10000, CH_LOG_WARN, "stream: %s", err);
			nap(s, &attempt, &rnd);
			continue;
		}
		attempt = 0;
		for (size_t i = 0; i < n; i++) {
			take_change(s, &c[i]);
			ch_strlcpy(last, c[i].id, sizeof(last));
		}
		ch_changes_free(c, n);
		pthread_mutex_lock(&s->mu);
		s->primed = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

int ch_stream_start(const struct ch_stream_opts *o, struct ch_stream **out, char *err, size_t errlen)
{
	struct ch_stream *s = calloc(1, sizeof(*s));
	struct ch_store_opts so = *o->store;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!s)
		return CH_ENOMEM;
	s->cap = o->ring ? o->ring : 1024;
	s->max_clients = o->max_clients ? o->max_clients : 64;
	s->keepalive_ms = o->keepalive_ms > 0 ? o->keepalive_ms : 15000;
	s->render = o->render;
	s->arg = o->arg;
	if (!(s->ring = calloc(s->cap, sizeof(*s->ring)))) {
		free(s);
		return CH_ENOMEM;
	}
	/* XREAD blocks for a second at most: a command timeout well above it. */
	if (so.timeout_ms < 3 * BLOCK_MS)
		so.timeout_ms = 3 * BLOCK_MS;
	rc = ch_store_open(&so, &s->store, err, errlen);
	if (rc && rc != CH_EAGAIN) {
		free(s->ring);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&s->running, true);
	if (pthread_create(&s->thread, NULL, reader, s)) {
		ch_fmt(err, errlen, "stream: cannot start the reader thread");
		ch_stream_stop(s);
		return CH_ENOMEM;
	}
	s->started = true;
	*out = s;
	return 0;
}

void ch_stream_stop(struct ch_stream *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->running, false);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thread, NULL);
	/* The HTTP server, stopped first, has closed every client. */
	for (size_t i = 0; i < s->n; i++)
		free(ring_at(s, i)->frame);
	free(s->ring);
	ch_store_close(s->store);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---------------------------------------------------------------- clients */

int ch_stream_open(struct ch_stream *s, const char *last_id, struct ch_stream_client **out)
{
	struct ch_stream_client *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return CH_ENOMEM;
	if (last_id && *last_id && !(c->want = ch_strdup(last_id))) {
		free(c);
		return CH_ENOMEM;
	}
	pthread_mutex_lock(&s->mu);
	if (s->clients >= s->max_clients) {
		pthread_mutex_unlock(&s->mu);
		free(c->want);
		free(c);
		return CH_EFULL;
	}
	s->clients++;
	pthread_mutex_unlock(&s->mu);
	c->s = s;
	c->last_sent = ch_clock_mono_ms();
	/* Reconnect after 2 s; said first, before anything else. */
	c->pending = ch_strdup("retry: 2000\n\n");
	c->len = c->pending ? strlen(c->pending) : 0;
	*out = c;
	return 0;
}

void ch_stream_close(struct ch_stream_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->s->mu);
	c->s->clients--;
	pthread_mutex_unlock(&c->s->mu);
	free(c->want);
	free(c->pending);
	free(c);
}

size_t ch_stream_clients(struct ch_stream *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->clients;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Appends text to the client's pending bytes. */
static bool pend(struct ch_stream_client *c, const char *text)
{
	size_t m = strlen(text);
	char *p = realloc(c->pending, c->len + m + 1);

	if (!p)
		return false;
	memcpy(p + c->len, text, m + 1);
	c->pending = p;
	c->len += m;
	return true;
}

/*
 * Sets the cursor against the primed ring (lock held): resume after the id
 * it came with when the ring still reaches back to it, else say "reset" and
 * go on from now.
 */
static void resolve(struct ch_stream_client *c)
{
	struct ch_stream *s = c->s;
	const char *newest = s->n ? ring_at(s, s->n - 1)->id : "0-0";
	bool reset = false;

	if (c->want) {
		if (!ch_stream_id_ok(c->want) || (s->n && ch_stream_id_cmp(c->want, ring_at(s, 0)->id) < 0) ||
		    ch_stream_id_cmp(c->want, newest) > 0)
			reset = true; /* too old for the ring, or from a stream this Redis never had */
		else
			ch_strlcpy(c->cursor, c->want, sizeof(c->cursor));
	}
	if (!c->want || reset)
		ch_strlcpy(c->cursor, newest, sizeof(c->cursor));
	if (reset) {
		char *f = ch_sse_frame(s->n ? newest : NULL, "reset", "{}");
		if (f)
			pend(c, f);
		free(f);
	}
	free(c->want);
	c->want = NULL;
	c->resolved = true;
}

/* Frames after the cursor into pending (lock held); true when there were any. */
static bool collect(struct ch_stream_client *c)
{
	struct ch_stream *s = c->s;
	size_t i = s->n;
	bool any = false;

	/* The ring is in id order: find the first newer than the cursor from the back. */
	while (i > 0 && ch_stream_id_cmp(ring_at(s, i - 1)->id, c->cursor) > 0)
		i--;
	for (; i < s->n && c->len < PENDING_MAX; i++) {
		if (!pend(c, ring_at(s, i)->frame))
			break;
		ch_strlcpy(c->cursor, ring_at(s, i)->id, sizeof(c->cursor));
		any = true;
	}
	return any;
}

long ch_stream_next(struct ch_stream_client *c, char *buf, size_t max)
{
	struct ch_stream *s = c->s;
	size_t take;

	if (c->off >= c->len) {
		int64_t now = ch_clock_mono_ms(), wait;
		struct timespec ts;

		free(c->pending);
		c->pending = NULL;
		c->off = c->len = 0;
		pthread_mutex_lock(&s->mu);
		if (!atomic_load(&s->running)) {
			pthread_mutex_unlock(&s->mu);
			return -1;
		}
		if (s->primed && !c->resolved)
			resolve(c);
		if (!(c->resolved && collect(c)) && c->len == 0) {
			wait = c->last_sent + s->keepalive_ms - now;
			wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (wait > 0)
				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			if (s->primed && !c->resolved)
				resolve(c);
			if (!(c->resolved && collect(c)) && c->len == 0 &&
			    ch_clock_mono_ms() - c->last_sent >= s->keepalive_ms)
				pend(c, ": keepalive\n\n");
		}
		pthread_mutex_unlock(&s->mu);
		if (c->len == 0)
			return atomic_load(&s->running) ? 0 : -1;
	}
	take = c->len - c->off < max ? c->len - c->off : max;
	memcpy(buf, c->pending + c->off, take);
	c->off += take;
	c->last_sent = ch_clock_mono_ms();
	return (long)take;
}
