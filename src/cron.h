/* Triggers: when a scheduled job fires.  A trigger is parsed once from text
 * and then asked, again and again, for its next fire time after an instant;
 * it is pure computation (the only I/O is loading a time zone file through
 * tz.h when the trigger is parsed).  Four spellings are accepted:
 *
 *   cron      "30 9-17 * * MON-FRI", or 6 fields with leading seconds
 *   macro     @yearly @annually @monthly @weekly @daily @midnight @hourly
 *   interval  "every 15m", "every 1h30m" (units d h m s, real elapsed time)
 *   one-shot  "at 2026-12-01T02:00:00Z" (fpq_parse_time's ISO 8601; without an
 *             offset, the trigger's zone; a fraction fires at the next whole second)
 *
 * Cron fields are matched against local wall-clock time in the trigger's zone;
 * the DST rule (a skipped wall time fires once when the gap ends, a repeated
 * one fires once at its first occurrence) is spelled out in cron.c and
 * docs/cron.md.  A trigger is immutable after parse except for the interval
 * anchor, so fpq__trigger_next may be called from many threads at once. */
#ifndef FPQ_CRON_H
#define FPQ_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "fpq.h" /* FPQ_E* result codes */
#include "tz.h"

/* Longest trigger text accepted; longer input is refused, not truncated. */
#define FPQ__TRIGGER_MAX_TEXT 1024

enum fpq__trigger_kind {
  FPQ__TRIGGER_CRON = 1,     /* cron expression or @macro */
  FPQ__TRIGGER_INTERVAL = 2, /* "every ..." */
  FPQ__TRIGGER_ONCE = 3      /* "at ..." */
};

typedef struct fpq__trigger fpq__trigger; /* opaque, heap-allocated */

/* Parse `text` for time zone `tz` (IANA name; NULL or "" for UTC).  On success
 * returns 0 and *out owns a new trigger the caller frees with
 * fpq__trigger_free.  On failure returns FPQ_EINVAL (bad text, unknown
 * zone) or FPQ_ENOMEM, leaves *out NULL, and writes one line to err
 * (if errlen > 0) naming the bad field and what was expected, e.g.
 * "minute field '60': value out of range 0-59". */
int fpq__trigger_parse(const char *text, const char *tz, fpq__trigger **out, char *err,
                       size_t errlen);
void fpq__trigger_free(fpq__trigger *t);

/* Next fire time strictly after `after` (UTC epoch seconds).  Returns 0 and
 * sets *next, or FPQ_ENOTFOUND when there is no further fire: a one-shot
 * at or before `after`, or nothing before the year 9999. */
int fpq__trigger_next(const fpq__trigger *t, int64_t after, int64_t *next);

/* Intervals fire at anchor + k * interval for every integer k, so the anchor
 * sets the phase; callers pass the schedule's creation time.  Defaults to 0
 * (the Unix epoch).  No effect on other kinds.  Not thread-safe against
 * concurrent fpq__trigger_next on the same trigger. */
void fpq__trigger_set_anchor(fpq__trigger *t, int64_t anchor);

/* One of enum fpq__trigger_kind. */
int fpq__trigger_kind(const fpq__trigger *t);
/* Interval length in seconds for FPQ__TRIGGER_INTERVAL, else 0. */
int64_t fpq__trigger_interval(const fpq__trigger *t);
/* Zone name the trigger was parsed with ("UTC" by default); owned by t. */
const char *fpq__trigger_tz(const fpq__trigger *t);

#endif
