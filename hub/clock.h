/*
 * clock.h - the only place carehub logic reads time.
 *
 * Wall time (event time, deadlines stored in Redis) and monotonic time (timeouts,
 * backoff) both come from here so that unit tests and backtests can drive a
 * virtual clock.  A fake clock is process-wide and only moves when told.
 */
#ifndef CH_CLOCK_H
#define CH_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t ch_clock_now_ms(void);

/* Milliseconds on a clock that never jumps (CLOCK_MONOTONIC unless faked). */
int64_t ch_clock_mono_ms(void);

/* CPU time this process has used, in milliseconds (never faked: for measuring, e.g. the backtest's speed). */
int64_t ch_clock_cpu_ms(void);

/* Switches to a fake clock at epoch_ms (wall) and the same value (monotonic). */
void ch_clock_fake_set(int64_t epoch_ms);
void ch_clock_fake_advance(int64_t delta_ms);
/* Back to the system clock. */
void ch_clock_fake_off(void);

/* RFC 3339 in UTC with milliseconds: "2026-11-28T00:15:00.000Z".  buf >= 32 bytes. */
void ch_clock_format(int64_t epoch_ms, char *buf, size_t len);

#endif
