/* clock.c: wall-clock and monotonic time, RQ's timestamp text, and the duration and
 * ISO 8601 forms people type (fpq.h's fpq_parse_duration, fpq_parse_time and the
 * formatters). The one ISO 8601 reader of the engine lives here: `--at`, RQ's stored
 * timestamps and the `at` trigger of cron.c all go through fpq__scan_iso8601, so they
 * can never disagree about what a time is.
 *
 * The rule (RFC 3339's profile of ISO 8601, with two of ISO's conveniences):
 *   YYYY-MM-DD, then 'T', 't' or one space, then HH:MM with optional :SS and, after
 *   seconds only, a fraction of one or more digits after '.'; then nothing, 'Z'/'z', or
 *   an offset +HH:MM, +HHMM or +HH (or '-'). RFC 3339 allows the lower-case 't' and 'z'
 *   (section 5.6), and `at` triggers people stored with them keep parsing; seconds and
 *   the offset's colon may be left out as ISO 8601 allows. Years 0001-9999, real dates,
 *   00:00:00-23:59:59 (no leap second: POSIX time has none, and 24:00 is the next day's
 *   00:00, which can be written so), offsets up to 23:59. Digits are ASCII 0-9 only: the
 *   bytes of other scripts' digits (Arabic-Indic, full-width) are never digits here,
 *   whatever the locale, and no ',' as the decimal sign. A time without an offset is read
 *   by the caller: UTC for fpq_parse_time, the trigger's zone for `at`. */
#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpq.h"
#include "job.h"
#include "tz.h"

double fpq__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double fpq__monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fpq__sleep(double seconds) {
  if (!(seconds > 0)) return;
  struct timespec ts = {.tv_sec = (time_t)seconds,
                        .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
  nanosleep(&ts, NULL);
}

/* ---- writing times ---- */

/* Local (or UTC) seconds since 1970 as date and time of day. */
static void civil_time(int64_t secs, int64_t *y, int *mo, int *d, int *h, int *mi, int *s) {
  int64_t days = secs / 86400, rest = secs % 86400;
  if (rest < 0) {
    rest += 86400;
    days--;
  }
  fpq__civil_from_days(days, y, mo, d);
  *h = (int)(rest / 3600);
  *mi = (int)(rest / 60 % 60);
  *s = (int)(rest % 60);
}

/* Writes v (>= 0) as exactly `width` decimal digits, zero-padded; returns the end. */
static char *put_digits(char *out, long v, int width) {
  for (int i = width - 1; i >= 0; i--) {
    out[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return out + width;
}

int fpq_format_time(double t, char *buf, size_t len) {
  if (len > 0) buf[0] = '\0';
  if (len < FPQ_TIME_TEXT_MAX) return FPQ_EINVAL;
  /* Year 10000 does not fit the form; checked before converting, as a double past
   * int64's range does not convert. */
  if (!(t > 0) || t >= (double)FPQ__TIME_MAX + 1) return FPQ_EINVAL;
  int64_t secs = (int64_t)floor(t);
  long micros = lround((t - (double)secs) * 1e6);
  if (micros >= 1000000) {
    secs += 1;
    micros -= 1000000;
  }
  if (secs > FPQ__TIME_MAX) return FPQ_EINVAL;
  int64_t y;
  int mo, d, h, mi, s;
  civil_time(secs, &y, &mo, &d, &h, &mi, &s);
  /* By hand, not snprintf: every enqueue writes two of these, and the fields are known
   * to fit (1970 <= y <= 9999, checked above). */
  char *o = buf;
  o = put_digits(o, (long)y, 4);
  *o++ = '-';
  o = put_digits(o, mo, 2);
  *o++ = '-';
  o = put_digits(o, d, 2);
  *o++ = 'T';
  o = put_digits(o, h, 2);
  *o++ = ':';
  o = put_digits(o, mi, 2);
  *o++ = ':';
  o = put_digits(o, s, 2);
  *o++ = '.';
  o = put_digits(o, micros, 6);
  *o++ = 'Z';
  *o = '\0';
  return 0;
}

int fpq_format_zoned_time(int64_t t, const char *zone, char *buf, size_t len) {
  if (len > 0) buf[0] = '\0';
  fpq__tz *z = NULL;
  char err[160];
  if (t < FPQ__TIME_MIN || t > FPQ__TIME_MAX || fpq__tz_acquire(zone, &z, err, sizeof err))
    return FPQ_EINVAL;
  int32_t off = fpq__tz_offset(z, t, NULL);
  fpq__tz_release(z);
  int64_t y;
  int mo, d, h, mi, s, a = off < 0 ? -off : off;
  civil_time(t + off, &y, &mo, &d, &h, &mi, &s);
  int n = snprintf(buf, len, "%04lld-%02d-%02d %02d:%02d:%02d %c%02d:%02d", (long long)y, mo, d,
                   h, mi, s, off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  if (n < 0 || (size_t)n >= len) {
    if (len > 0) buf[0] = '\0';
    return FPQ_EINVAL;
  }
  return 0;
}

/* ---- reading ISO 8601 ---- */

/* ASCII digits only: isdigit() follows the locale, which an embedding program (Python
 * sets LC_CTYPE from the environment) may have changed. */
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads exactly n digits at *p into *out and advances *p; -1 when they are not there. */
static int read_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit((*p)[i])) return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int expect(const char **p, char c) {
  if (**p != c) return -1;
  (*p)++;
  return 0;
}

static int scan_fail(const char **stop, const char *p, int why) {
  if (stop) *stop = p;
  return why;
}

int fpq__scan_iso8601(const char *text, fpq__iso_time *out, const char **stop) {
  const char *p = text ? text : "";
  int Y, M, D, h, m, s = 0;
  memset(out, 0, sizeof *out);
  if (read_digits(&p, 4, &Y) || expect(&p, '-') || read_digits(&p, 2, &M) ||
      expect(&p, '-') || read_digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
    return scan_fail(stop, p, FPQ__ISO_MALFORMED);
  p++;
  if (read_digits(&p, 2, &h) || expect(&p, ':') || read_digits(&p, 2, &m))
    return scan_fail(stop, p, FPQ__ISO_MALFORMED);
  int has_seconds = *p == ':';
  if (has_seconds && (p++, read_digits(&p, 2, &s))) return scan_fail(stop, p, FPQ__ISO_SECONDS);
  if (*p == '.') {
    /* "HH:MM.f" would be a fraction of a minute in ISO 8601: not ours to guess. */
    if (!has_seconds || !is_digit(p[1])) return scan_fail(stop, p, FPQ__ISO_FRACTION);
    double scale = 0.1;
    for (p++; is_digit(*p); p++, scale /= 10) out->fraction += (*p - '0') * scale;
  }
  int oh = 0, om = 0;
  if (*p == 'Z' || *p == 'z') {
    out->zone = 'Z';
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    if (read_digits(&p, 2, &oh)) return scan_fail(stop, p, FPQ__ISO_OFFSET);
    int colon = *p == ':';
    if (colon) p++;
    if ((colon || is_digit(*p)) && read_digits(&p, 2, &om)) /* "+05:", "+053": cut short */
      return scan_fail(stop, p, FPQ__ISO_OFFSET);
    out->zone = '+';
    out->offset = sign * (oh * 3600 + om * 60);
  }
  if (*p) return scan_fail(stop, p, FPQ__ISO_TRAILING);
  if (Y < 1 || M < 1 || M > 12 || D < 1 || D > fpq__days_in_month(Y, M))
    return scan_fail(stop, text, FPQ__ISO_DATE);
  if (h > 23 || m > 59 || s > 59) return scan_fail(stop, text, FPQ__ISO_TIME);
  if (oh > 23 || om > 59) return scan_fail(stop, text, FPQ__ISO_OFFSET_RANGE);
  out->local = fpq__days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + s;
  if (stop) *stop = p;
  return 0;
}

const char *fpq__iso_error(int why) {
  switch (why) {
    case FPQ__ISO_MALFORMED: return "malformed date-time";
    case FPQ__ISO_SECONDS: return "malformed seconds";
    case FPQ__ISO_FRACTION: return "malformed fraction of a second";
    case FPQ__ISO_OFFSET: return "malformed UTC offset";
    case FPQ__ISO_TRAILING: return "unexpected text";
    case FPQ__ISO_DATE: return "no such date";
    case FPQ__ISO_TIME: return "time out of range (00:00:00-23:59:59)";
    case FPQ__ISO_OFFSET_RANGE: return "UTC offset out of range (-23:59 to +23:59)";
  }
  return "not a time";
}

int fpq_parse_time(const char *text, double *epoch, char *msg, size_t msglen) {
  fpq__iso_time t;
  if (fpq__scan_iso8601(text, &t, NULL) != 0) {
    char q[80];
    fpq__quote(text, q, sizeof q);
    return fpq__invalid(msg, msglen, "'%s' is not an ISO 8601 time: expected e.g. "
                        "2026-12-01T02:00:00Z", q);
  }
  *epoch = (double)(t.local - t.offset) + t.fraction; /* no offset: UTC */
  return 0;
}

int fpq__parse_rq_time(const char *text, double *out) {
  if (text == NULL || text[0] == '\0') {
    *out = 0;
    return 0;
  }
  fpq__iso_time t;
  if (fpq__scan_iso8601(text, &t, NULL) != 0 || t.zone != 'Z') return FPQ_EINVAL;
  *out = (double)t.local + t.fraction;
  return 0;
}

/* ---- durations ---- */

int fpq_parse_duration(const char *text, double *seconds, char *msg, size_t msglen) {
  const char *p = text ? text : "";
  double total = 0;
  int parts = 0;
  while (*p) {
    /* strtod alone would also take "1e3" and "0x10": only digits and '.' are a number. */
    size_t span = strspn(p, "0123456789.");
    if (span == 0) break;
    char *end;
    double v = strtod(p, &end);
    if (end != p + span || !isfinite(v) || v < 0) break;
    double unit;
    if (strncmp(end, "ms", 2) == 0) unit = 0.001, end += 2;
    else if (*end == 's') unit = 1, end++;
    else if (*end == 'm') unit = 60, end++;
    else if (*end == 'h') unit = 3600, end++;
    else if (*end == 'd') unit = 86400, end++;
    else if (*end == '\0' && parts == 0) unit = 1; /* a bare number is seconds */
    else break;
    p = end;
    total += v * unit;
    parts++;
  }
  if (*p || parts == 0 || !isfinite(total)) {
    char q[80];
    fpq__quote(text, q, sizeof q);
    return fpq__invalid(msg, msglen, "'%s' is not a duration: expected e.g. 30s, 10m, 2h", q);
  }
  *seconds = total;
  return 0;
}
