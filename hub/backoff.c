/*
 * backoff.c - full-jitter backoff: spreading retries evenly over [0, ceiling]
 * keeps many clients that failed together from retrying together.
 */
#include "backoff.h"

#include <stdint.h>

int64_t ch_backoff_ceiling(int64_t base_ms, int64_t cap_ms, int attempt)
{
	int64_t c = base_ms > 0 ? base_ms : 1;

	if (attempt < 1)
		attempt = 1;
	for (int i = 1; i < attempt && c < cap_ms; i++)
		c = c > INT64_MAX / 2 ? INT64_MAX : c * 2;
	return c < cap_ms ? c : cap_ms;
}

int64_t ch_backoff_full_jitter(int64_t base_ms, int64_t cap_ms, int attempt, uint64_t rnd)
{
	int64_t ceil = ch_backoff_ceiling(base_ms, cap_ms, attempt);

	if (ceil <= 0)
		return 0;
	return (int64_t)(rnd % ((uint64_t)ceil + 1));
}

uint64_t ch_rand64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
