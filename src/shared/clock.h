/* clock.h: time at the edges. Deadlines and leases inside one process use the monotonic
 * clock (uv_now/uv_hrtime); only stored timestamps use the wall clock, in RQ's text form
 * (fpq_format_time in fpq.h). The public parsers and formatters of durations and times
 * are in fpq.h; this is what the engine adds for itself. */
#ifndef FPQ_CLOCK_H
#define FPQ_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* UTC epoch seconds with microseconds. */
double fpq__now(void);
/* Seconds from an arbitrary start, never going backwards. */
double fpq__monotonic(void);
/* Sleeps this many seconds (nothing for <= 0 or NaN); a signal ends it early, which is
 * what a stopping process wants. */
void fpq__sleep(double seconds);

/* Parses RQ's stored form "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (any time fpq__scan_iso8601
 * reads that ends in Z) and "" or NULL (0, unset). Returns 0 or FPQ_EINVAL. */
int fpq__parse_rq_time(const char *text, double *out);

/* An ISO 8601 date-time as written, before a zone is applied (the rule is in clock.c). */
typedef struct fpq__iso_time {
  int64_t local;   /* the written date and time as seconds since 1970-01-01T00:00 */
  double fraction; /* the written fraction of a second, 0 <= fraction <= 1 */
  char zone;       /* 0: none written (the caller picks the zone), 'Z': Z, '+': an offset */
  int offset;      /* seconds east of UTC written ('+'); 0 otherwise */
} fpq__iso_time;

/* Why a text is not an ISO 8601 time, from the first problem found: syntax first (in
 * reading order), then ranges; every syntax reason is below FPQ__ISO_DATE. */
enum {
  FPQ__ISO_MALFORMED = 1, /* the date, 'T' or HH:MM are not there */
  FPQ__ISO_SECONDS,       /* ':' without two digits of seconds */
  FPQ__ISO_FRACTION,      /* '.' without digits, or after minutes */
  FPQ__ISO_OFFSET,        /* '+'/'-' without HH, HH:MM or HHMM */
  FPQ__ISO_TRAILING,      /* text after the time or its zone */
  FPQ__ISO_DATE,          /* no such day (or year 0000) */
  FPQ__ISO_TIME,          /* hour, minute or second out of range */
  FPQ__ISO_OFFSET_RANGE   /* offset beyond 23:59 */
};

/* Reads text as a whole. Returns 0 and fills out, or one of the FPQ__ISO_* reasons with
 * *stop (may be NULL) at the text the problem starts at (its start for range errors). */
int fpq__scan_iso8601(const char *text, fpq__iso_time *out, const char **stop);
/* A reason's words for a message, e.g. "no such date". Static. */
const char *fpq__iso_error(int why);

#endif /* FPQ_CLOCK_H */
