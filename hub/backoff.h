/*
 * backoff.h - capped exponential backoff with full jitter, for dispatch retries
 * and MQTT/Redis reconnects.  delay = random(0, min(cap, base * 2^(attempt-1))).
 * The random source is passed in so tests are deterministic.
 */
#ifndef CH_BACKOFF_H
#define CH_BACKOFF_H

#include <stdint.h>

/* attempt >= 1; rnd is a uniform 64-bit random number. */
int64_t ch_backoff_full_jitter(int64_t base_ms, int64_t cap_ms, int attempt, uint64_t rnd);

/* The ceiling for that attempt without jitter: min(cap, base * 2^(attempt-1)). */
int64_t ch_backoff_ceiling(int64_t base_ms, int64_t cap_ms, int attempt);

/* A small fast PRNG (splitmix64) seeded per thread; good enough for jitter. */
uint64_t ch_rand64(uint64_t *state);

#endif
