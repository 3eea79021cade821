/*
 * runtime.c - reference-counted swap of the hub's configuration.
 */
#include "runtime.h"
#include "adapters.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ch_metrics ch_metrics;

static pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ch_runtime *current;

void ch_runtime_free(struct ch_runtime *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->nchannels; i++)
		ch_channel_close(rt->channels[i]);
	free(rt->channels);
	ch_adapters_free(rt->adapters);
	ch_registry_free(rt->reg);
	ch_rules_free(rt->rules);
	ch_config_free(rt->cfg);
	free(rt);
}

void ch_runtime_publish(struct ch_runtime *rt)
{
	struct ch_runtime *old;

	atomic_store(&rt->refs, 1);
	pthread_mutex_lock(&rt_mu);
	old = current;
	rt->generation = old ? old->generation + 1 : 1;
	current = rt;
	pthread_mutex_unlock(&rt_mu);
	ch_runtime_release(old);
}

struct ch_runtime *ch_runtime_acquire(void)
{
	struct ch_runtime *rt;

	pthread_mutex_lock(&rt_mu);
	rt = current;
	if (rt)
		atomic_fetch_add(&rt->refs, 1);
	pthread_mutex_unlock(&rt_mu);
	return rt;
}

void ch_runtime_release(struct ch_runtime *rt)
{
	if (rt && atomic_fetch_sub(&rt->refs, 1) == 1)
		ch_runtime_free(rt);
}

void ch_runtime_shutdown(void)
{
	struct ch_runtime *old;

	pthread_mutex_lock(&rt_mu);
	old = current;
	current = NULL;
	pthread_mutex_unlock(&rt_mu);
	ch_runtime_release(old);
}

const char *ch_runtime_zone(const struct ch_runtime *rt, const struct ch_subject *subj)
{
	return subj && subj->timezone ? subj->timezone : rt->cfg->timezone;
}

struct ch_channel *ch_runtime_channel(const struct ch_runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->nchannels; i++) {
		if (strcmp(rt->channels[i]->name, name) == 0)
			return rt->channels[i];
	}
	return NULL;
}

static struct {
	pthread_mutex_t mu;
	uint64_t count;
	bool ok;
	char msg[1024];
} reloads = {.mu = PTHREAD_MUTEX_INITIALIZER};

void ch_runtime_reload_done(bool ok, const char *msg)
{
	pthread_mutex_lock(&reloads.mu);
	reloads.count++;
	reloads.ok = ok;
	ch_strlcpy(reloads.msg, msg ? msg : "", sizeof(reloads.msg));
	pthread_mutex_unlock(&reloads.mu);
}

uint64_t ch_runtime_reload_status(bool *ok, char *msg, size_t len)
{
	uint64_t n;

	pthread_mutex_lock(&reloads.mu);
	n = reloads.count;
	if (ok)
		*ok = reloads.ok;
	if (msg && len)
		ch_strlcpy(msg, reloads.msg, len);
	pthread_mutex_unlock(&reloads.mu);
	return n;
}
