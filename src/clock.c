/* clock.c: wall-clock and monotonic time, RQ's timestamp text, and the duration and
 * ISO 8601 forms people type on the command line. */
#include "clock.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpq.h"

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

void fpq__format_time(double t, char buf[FPQ_TIME_TEXT_MAX]) {
  /* Year 10000 does not fit the form; checked before converting, as a double past
   * time_t's range does not convert. */
  if (!(t > 0) || t >= 253402300800.0) {
    buf[0] = '\0';
    return;
  }
  time_t secs = (time_t)floor(t);
  long micros = lround((t - (double)secs) * 1e6);
  if (micros >= 1000000) {
    secs += 1;
    micros -= 1000000;
  }
  struct tm tm;
  if (gmtime_r(&secs, &tm) == NULL || tm.tm_year > 9999 - 1900) {
    buf[0] = '\0';
    return;
  }
  size_t n = strftime(buf, FPQ_TIME_TEXT_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, FPQ_TIME_TEXT_MAX - n, ".%06uZ", (unsigned)micros % 1000000u);
}

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i])) return -1;
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

static int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return days[m - 1];
}

/* Parses "YYYY-MM-DDTHH:MM:SS[.f+]" (space allowed for T) at *p; advances *p. */
static int parse_datetime(const char **p, double *out) {
  int Y, M, D, h, m, s;
  if (read_digits(p, 4, &Y) || expect(p, '-') || read_digits(p, 2, &M) || expect(p, '-') ||
      read_digits(p, 2, &D))
    return -1;
  if (**p != 'T' && **p != ' ') return -1;
  (*p)++;
  if (read_digits(p, 2, &h) || expect(p, ':') || read_digits(p, 2, &m)) return -1;
  s = 0;
  int has_seconds = **p == ':';
  if (has_seconds && (++(*p), read_digits(p, 2, &s))) return -1;
  if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || s > 60)
    return -1;
  double frac = 0, scale = 0.1;
  if (**p == '.') {
    if (!has_seconds) return -1; /* "HH:MM.f" would be a fraction of a minute in ISO 8601 */
    (*p)++;
    if (!isdigit((unsigned char)**p)) return -1;
    while (isdigit((unsigned char)**p)) {
      frac += (**p - '0') * scale;
      scale /= 10;
      (*p)++;
    }
  }
  /* timegm reads no time zone, so the result is the UTC instant of these fields. */
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                  .tm_hour = h, .tm_min = m, .tm_sec = s};
  *out = (double)timegm(&tm) + frac;
  return 0;
}

int fpq__parse_time(const char *text, double *out) {
  if (text == NULL || text[0] == '\0') {
    *out = 0;
    return 0;
  }
  const char *p = text;
  if (parse_datetime(&p, out) || strcmp(p, "Z") != 0) return FPQ_EINVAL;
  return 0;
}

int fpq__parse_iso8601(const char *text, double *out) {
  if (text == NULL) return FPQ_EINVAL;
  const char *p = text;
  if (parse_datetime(&p, out)) return FPQ_EINVAL;
  if (*p == '\0' || strcmp(p, "Z") == 0) return 0;
  if (*p != '+' && *p != '-') return FPQ_EINVAL;
  int sign = *p == '-' ? -1 : 1, oh, om = 0;
  p++;
  if (read_digits(&p, 2, &oh)) return FPQ_EINVAL;
  if (*p == ':') {
    p++;
    if (read_digits(&p, 2, &om)) return FPQ_EINVAL; /* "+05:" is cut short */
  } else if (*p && read_digits(&p, 2, &om)) {
    return FPQ_EINVAL;
  }
  if (*p != '\0' || oh > 23 || om > 59) return FPQ_EINVAL;
  *out -= sign * (oh * 3600 + om * 60);
  return 0;
}

int fpq__parse_duration(const char *text, double *seconds) {
  if (text == NULL || *text == '\0') return FPQ_EINVAL;
  const char *p = text;
  double total = 0;
  int parts = 0;
  while (*p) {
    /* strtod alone would also take "1e3" and "0x10": only digits and '.' are a number. */
    size_t span = strspn(p, "0123456789.");
    if (span == 0) return FPQ_EINVAL;
    char *end;
    double v = strtod(p, &end);
    if (end != p + span || !isfinite(v) || v < 0) return FPQ_EINVAL;
    p = end;
    double unit;
    if (strncmp(p, "ms", 2) == 0) unit = 0.001, p += 2;
    else if (*p == 's') unit = 1, p++;
    else if (*p == 'm') unit = 60, p++;
    else if (*p == 'h') unit = 3600, p++;
    else if (*p == 'd') unit = 86400, p++;
    else if (*p == '\0' && parts == 0) unit = 1; /* a bare number is seconds */
    else return FPQ_EINVAL;
    total += v * unit;
    parts++;
  }
  *seconds = total;
  return 0;
}

void fpq__sleep(double seconds) {
  if (!(seconds > 0)) return;
  struct timespec ts = {.tv_sec = (time_t)seconds,
                        .tv_nsec = (long)((seconds - floor(seconds)) * 1e9)};
  nanosleep(&ts, NULL);
}
