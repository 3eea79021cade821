/*
 * clock.c - wall and monotonic time with a switchable fake for tests.
 */
#include "clock.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static atomic_bool fake_on;
static _Atomic int64_t fake_ms;

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ch_clock_now_ms(void)
{
	if (atomic_load(&fake_on))
		return atomic_load(&fake_ms);
	return read_clock(CLOCK_REALTIME);
}

int64_t ch_clock_mono_ms(void)
{
	if (atomic_load(&fake_on))
		return atomic_load(&fake_ms);
	return read_clock(CLOCK_MONOTONIC);
}

int64_t ch_clock_cpu_ms(void)
{
	return read_clock(CLOCK_PROCESS_CPUTIME_ID);
}

void ch_clock_fake_set(int64_t epoch_ms)
{
	atomic_store(&fake_ms, epoch_ms);
	atomic_store(&fake_on, true);
}

void ch_clock_fake_advance(int64_t delta_ms)
{
	atomic_fetch_add(&fake_ms, delta_ms);
}

void ch_clock_fake_off(void)
{
	atomic_store(&fake_on, false);
}

void ch_clock_format(int64_t epoch_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
	int ms = (int)(epoch_ms - (int64_t)secs * 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}
