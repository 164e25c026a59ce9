/* Time zones for cron triggers: a reader of IANA TZif files that answers "what
 * is the UTC offset at this instant", "when does the offset next change" and
 * "which instant(s) does this local wall-clock time name", for any zone at
 * once and from any thread.  glibc only offers this through the process-wide
 * TZ variable (setenv + tzset + localtime_r), which races with every other
 * thread that touches local time, so the zone data is parsed here by hand.
 *
 * Zones are immutable once loaded and shared through a small mutex-protected
 * cache; a caller holds a reference from fpq__tz_acquire until fpq__tz_release.
 * Civil-date helpers live here too because cron.c needs the same arithmetic. */
#ifndef FPQ_TZ_H
#define FPQ_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "fpq.h" /* FPQ_E* result codes */

/* Seconds of the proleptic Gregorian years 1..9999, the range the civil
 * helpers and the cron search are defined on. */
#define FPQ__TIME_MIN INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define FPQ__TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

typedef struct fpq__tz fpq__tz;

typedef struct fpq__tz_transition {
  int64_t at;         /* UTC instant from which off_after applies */
  int32_t off_before; /* seconds east of UTC just before `at` */
  int32_t off_after;  /* seconds east of UTC from `at` on */
  int is_dst_after;
} fpq__tz_transition;

enum {
  FPQ__TZ_UNIQUE = 0,    /* the wall time names one instant */
  FPQ__TZ_AMBIGUOUS = 1, /* repeated by a fall-back: two instants */
  FPQ__TZ_GAP = 2        /* skipped by a spring-forward: no instant */
};

typedef struct fpq__tz_local {
  int kind;
  /* UNIQUE: the instant.  AMBIGUOUS: the earlier instant.  GAP: the
   * transition instant that ends the gap (first real instant after it). */
  int64_t first;
  /* AMBIGUOUS: the later instant; otherwise equal to `first`. */
  int64_t second;
  /* AMBIGUOUS: first local time after the repeated stretch.  GAP: local
   * time at which the gap ends.  UNIQUE: the queried local time + 1. */
  int64_t span_end;
} fpq__tz_local;

/* Look up a zone by IANA name ("Europe/Berlin"); NULL, "", "UTC" and "Etc/UTC"
 * give built-in UTC without touching the disk.  Files come from $TZDIR or
 * /usr/share/zoneinfo.  On success *out holds a reference the caller must
 * give back with fpq__tz_release.  On failure returns FPQ_EINVAL (bad or
 * unknown name, malformed file) or FPQ_ENOMEM and writes one line to err. */
int fpq__tz_acquire(const char *name, fpq__tz **out, char *err, size_t errlen);
/* Build an uncached zone from the bytes of a TZif file (tests, fuzzing, zone
 * data that does not live in the tz directory).  Same result codes as
 * fpq__tz_acquire; release the zone with fpq__tz_release. */
int fpq__tz_from_tzif(const char *name, const void *buf, size_t len, fpq__tz **out, char *err,
                      size_t errlen);
/* Drop a reference; NULL is fine.  The zone may stay cached for later lookups. */
void fpq__tz_release(fpq__tz *z);
/* Free every cached zone nobody holds (tests and library shutdown). */
void fpq__tz_cache_clear(void);

/* The name the zone was acquired with ("UTC" for the built-in one); owned by z. */
const char *fpq__tz_name(const fpq__tz *z);
int fpq__tz_is_utc(const fpq__tz *z);
/* UTC offset in seconds east of UTC at instant t; *is_dst if non-NULL. */
int32_t fpq__tz_offset(const fpq__tz *z, int64_t t, int *is_dst);
/* The first change of offset or DST flag strictly after `after`, from the
 * file's table and then from its POSIX TZ footer.  Returns 0, or
 * FPQ_ENOTFOUND when the zone never changes again. */
int fpq__tz_next_transition(const fpq__tz *z, int64_t after, fpq__tz_transition *out);
/* Transitions with from < at <= to, at most cap of them written to out;
 * returns how many there are in the window (may exceed cap). */
size_t fpq__tz_transitions(const fpq__tz *z, int64_t from, int64_t to, fpq__tz_transition *out,
                           size_t cap);
/* Map a local wall-clock time (seconds since 1970-01-01T00:00 local) to UTC.
 * Defined for FPQ__TIME_MIN..FPQ__TIME_MAX; times outside are clamped to it. */
void fpq__tz_resolve_local(const fpq__tz *z, int64_t local, fpq__tz_local *out);

/* Proleptic Gregorian calendar arithmetic; days are counted from 1970-01-01. */
int64_t fpq__days_from_civil(int64_t y, int m, int d);
void fpq__civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int fpq__is_leap(int64_t y);
int fpq__days_in_month(int64_t y, int m);
int fpq__weekday(int64_t days); /* 0 = Sunday */

#endif
