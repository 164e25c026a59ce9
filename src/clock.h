/* clock.h: time at the edges. Deadlines and leases inside one process use the monotonic
 * clock (uv_now/uv_hrtime); only stored timestamps use the wall clock, in RQ's text form. */
#ifndef FPQ_CLOCK_H
#define FPQ_CLOCK_H

#include <stddef.h>

/* UTC epoch seconds with microseconds. */
double fpq__now(void);
/* Seconds from an arbitrary start, never going backwards. */
double fpq__monotonic(void);
/* Sleeps this many seconds (nothing for <= 0 or NaN); a signal ends it early, which is
 * what a stopping process wants. */
void fpq__sleep(double seconds);
/* RQ's timestamp form "YYYY-MM-DDTHH:MM:SS.ffffffZ" (27 chars + NUL); "" for t <= 0. */
#define FPQ_TIME_TEXT_MAX 32
void fpq__format_time(double t, char buf[FPQ_TIME_TEXT_MAX]);
/* Parses RQ's two forms (with or without .ffffff) and "" (0). Returns 0 or FPQ_EINVAL. */
int fpq__parse_time(const char *text, double *out);
/* Parses a duration: "90", "90s", "10m", "2h", "1d", "1h30m", "250ms". Returns 0 or
 * FPQ_EINVAL. */
int fpq__parse_duration(const char *text, double *seconds);
/* Parses ISO 8601 "2026-12-01T02:00:00Z", with optional fraction and ±HH:MM offset; a
 * value without zone is UTC. Returns 0 or FPQ_EINVAL. */
int fpq__parse_iso8601(const char *text, double *out);

#endif /* FPQ_CLOCK_H */
