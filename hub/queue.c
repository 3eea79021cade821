/*
 * queue.c - a ring buffer under one mutex with two condition variables.
 * Contention is low: the producer pushes one message at a time, the consumer
 * takes a whole batch per lock.
 */
#include "queue.h"
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ch_queue {
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	pthread_cond_t room;
	struct ch_msg *ring;
	size_t cap;      /* soft capacity */
	size_t hard;     /* ring size */
	size_t head, n;
};

int ch_queue_new(size_t capacity, size_t headroom, struct ch_queue **out)
{
	struct ch_queue *q = calloc(1, sizeof(*q));

	if (!q || capacity == 0)
		goto fail;
	q->cap = capacity;
	q->hard = capacity + headroom;
	q->ring = calloc(q->hard, sizeof(*q->ring));
	if (!q->ring)
		goto fail;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->room, NULL);
	*out = q;
	return 0;
fail:
	if (q)
		free(q->ring);
	free(q);
	return CH_ENOMEM;
}

void ch_msg_clear(struct ch_msg *m)
{
	free(m->topic);
	free(m->payload);
	memset(m, 0, sizeof(*m));
}

void ch_queue_free(struct ch_queue *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		ch_msg_clear(&q->ring[(q->head + i) % q->hard]);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->room);
	free(q->ring);
	free(q);
}

int ch_queue_push(struct ch_queue *q, struct ch_msg *m)
{
	pthread_mutex_lock(&q->mu);
	if (q->n >= q->hard) {
		pthread_mutex_unlock(&q->mu);
		return CH_EFULL;
	}
	q->ring[(q->head + q->n) % q->hard] = *m;
	q->n++;
	memset(m, 0, sizeof(*m));
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static void deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

size_t ch_queue_pop(struct ch_queue *q, struct ch_msg *out, size_t max, int wait_ms)
{
	struct timespec ts;
	size_t k = 0;

	pthread_mutex_lock(&q->mu);
	if (q->n == 0 && wait_ms > 0) {
		deadline_in(&ts, wait_ms);
		while (q->n == 0) {
			if (pthread_cond_timedwait(&q->nonempty, &q->mu, &ts) == ETIMEDOUT)
				break;
			/* A wake with nothing queued is a shutdown nudge. */
			if (q->n == 0)
				break;
		}
	}
	while (k < max && q->n > 0) {
		out[k++] = q->ring[q->head];
		memset(&q->ring[q->head], 0, sizeof(q->ring[q->head]));
		q->head = (q->head + 1) % q->hard;
		q->n--;
	}
	if (k)
		pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->mu);
	return k;
}

bool ch_queue_has_room(struct ch_queue *q)
{
	bool room;

	pthread_mutex_lock(&q->mu);
	room = q->n < q->cap;
	pthread_mutex_unlock(&q->mu);
	return room;
}

void ch_queue_wait_room(struct ch_queue *q, int wait_ms)
{
	struct timespec ts;

	deadline_in(&ts, wait_ms);
	pthread_mutex_lock(&q->mu);
	while (q->n >= q->cap) {
		if (pthread_cond_timedwait(&q->room, &q->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&q->mu);
}

size_t ch_queue_depth(struct ch_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->n;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void ch_queue_wake(struct ch_queue *q)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->nonempty);
	pthread_cond_broadcast(&q->room);
	pthread_mutex_unlock(&q->mu);
}
