/* Tests for src/cron.c: parsing every trigger spelling, the error messages,
 * next-fire times in UTC, the DST rule in northern, southern and half-hour
 * zones, the Vixie day-of-month/day-of-week rule, and termination on the
 * sparsest expressions.  Expected instants were worked out by hand and
 * checked against Python's zoneinfo; tests/python/test_cron_differential.py
 * covers random expressions against croniter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cron.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
  return fpq__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static fpq__trigger *must_parse(const char *text, const char *tz) {
  fpq__trigger *t = NULL;
  char err[256] = "";
  int rc = fpq__trigger_parse(text, tz, &t, err, sizeof err);
  if (rc != 0) fail_msg("parse '%s' (%s): %d %s", text, tz ? tz : "UTC", rc, err);
  return t;
}

/* Check the next n fires after `start`, each one fed back as `after`. */
static void expect_fires(const char *text, const char *tz, int64_t start, const int64_t *want,
                         size_t n) {
  fpq__trigger *t = must_parse(text, tz);
  int64_t cur = start, next = 0;
  for (size_t i = 0; i < n; i++) {
    int rc = fpq__trigger_next(t, cur, &next);
    if (rc != 0 || next != want[i])
      fail_msg("'%s' in %s, fire %zu after %lld: got rc %d next %lld, want %lld", text,
               tz ? tz : "UTC", i, (long long)cur, rc, (long long)next, (long long)want[i]);
    cur = next;
  }
  fpq__trigger_free(t);
}

#define EXPECT(text, tz, start, ...)                                      \
  do {                                                                    \
    const int64_t want_[] = {__VA_ARGS__};                                \
    expect_fires(text, tz, start, want_, sizeof want_ / sizeof want_[0]); \
  } while (0)

static void test_kinds(void **state) {
  (void)state;
  fpq__trigger *t = must_parse("0 3 * * *", NULL);
  assert_int_equal(fpq__trigger_kind(t), FPQ__TRIGGER_CRON);
  assert_int_equal(fpq__trigger_interval(t), 0);
  assert_string_equal(fpq__trigger_tz(t), "UTC");
  fpq__trigger_free(t);
  t = must_parse("@Daily", "Europe/Berlin");
  assert_int_equal(fpq__trigger_kind(t), FPQ__TRIGGER_CRON);
  assert_string_equal(fpq__trigger_tz(t), "Europe/Berlin");
  fpq__trigger_free(t);
  t = must_parse("every 1h30m", "");
  assert_int_equal(fpq__trigger_kind(t), FPQ__TRIGGER_INTERVAL);
  assert_int_equal(fpq__trigger_interval(t), 5400);
  fpq__trigger_free(t);
  t = must_parse("  EVERY 2d12h5m7s  ", NULL);
  assert_int_equal(fpq__trigger_interval(t), 2 * 86400 + 12 * 3600 + 5 * 60 + 7);
  fpq__trigger_free(t);
  t = must_parse("at 2026-12-01T02:00:00Z", NULL);
  assert_int_equal(fpq__trigger_kind(t), FPQ__TRIGGER_ONCE);
  fpq__trigger_free(t);
  fpq__trigger_free(NULL);
}

static void test_utc_schedules(void **state) {
  (void)state;
  EXPECT("*/15 * * * *", NULL, utc(2024, 1, 1, 0, 7, 30), utc(2024, 1, 1, 0, 15, 0),
         utc(2024, 1, 1, 0, 30, 0), utc(2024, 1, 1, 0, 45, 0), utc(2024, 1, 1, 1, 0, 0));
  /* Friday 10:00 -> Monday 09:00 */
  EXPECT("0 9 * * MON-FRI", NULL, utc(2024, 1, 5, 10, 0, 0), utc(2024, 1, 8, 9, 0, 0),
         utc(2024, 1, 9, 9, 0, 0), utc(2024, 1, 10, 9, 0, 0));
  EXPECT("30 0 1 JAN,jul *", NULL, utc(2024, 1, 1, 0, 30, 0), utc(2024, 7, 1, 0, 30, 0),
         utc(2025, 1, 1, 0, 30, 0));
  EXPECT("0 0 * * 7", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0),
         utc(2024, 1, 14, 0, 0, 0));
  /* SUN ends a range as 7 only after a later start: SUN-SUN and 0-SUN are Sunday. */
  EXPECT("0 0 * * SUN-SUN", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0),
         utc(2024, 1, 14, 0, 0, 0));
  EXPECT("0 0 * * 0-SUN", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
  EXPECT("0 0 * * FRI-SUN", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 5, 0, 0, 0),
         utc(2024, 1, 6, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0), utc(2024, 1, 12, 0, 0, 0));
  EXPECT("*/20 * * * * *", NULL, utc(2024, 1, 1, 0, 0, 5), utc(2024, 1, 1, 0, 0, 20),
         utc(2024, 1, 1, 0, 0, 40), utc(2024, 1, 1, 0, 1, 0));
  EXPECT("5/20 * * * *", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 5, 0),
         utc(2024, 1, 1, 0, 25, 0), utc(2024, 1, 1, 0, 45, 0), utc(2024, 1, 1, 1, 5, 0));
  EXPECT("0 12 31 * *", NULL, utc(2024, 1, 31, 12, 0, 0), utc(2024, 3, 31, 12, 0, 0),
         utc(2024, 5, 31, 12, 0, 0), utc(2024, 7, 31, 12, 0, 0));
  EXPECT("0 0 29 2 *", NULL, utc(2024, 3, 1, 0, 0, 0), utc(2028, 2, 29, 0, 0, 0),
         utc(2032, 2, 29, 0, 0, 0));
  EXPECT("@hourly", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 1, 0, 0));
  EXPECT("@weekly", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
  EXPECT("@yearly", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2025, 1, 1, 0, 0, 0));
  EXPECT("@monthly", NULL, utc(2024, 1, 31, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
  /* 2100 is not a leap year */
  EXPECT("0 0 29 2 *", NULL, utc(2096, 3, 1, 0, 0, 0), utc(2104, 2, 29, 0, 0, 0));
  /* strictly after: a fire time itself is not returned */
  EXPECT("0 0 * * *", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 2, 0, 0, 0));
  EXPECT("0 0 * * *", NULL, utc(2024, 1, 1, 0, 0, 0) - 1, utc(2024, 1, 1, 0, 0, 0));
  /* before 1970 */
  EXPECT("0 0 1 1 *", NULL, utc(1900, 6, 1, 0, 0, 0), utc(1901, 1, 1, 0, 0, 0));
}

static void test_vixie_day_rule(void **state) {
  (void)state;
  /* Both restricted: OR.  2024-01-01 is a Monday. */
  EXPECT("0 0 1,15 * MON", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 8, 0, 0, 0),
         utc(2024, 1, 15, 0, 0, 0), utc(2024, 1, 22, 0, 0, 0), utc(2024, 1, 29, 0, 0, 0),
         utc(2024, 2, 1, 0, 0, 0));
  /* A field beginning with '*' makes it AND: odd days that are Mondays. */
  EXPECT("0 0 */2 * MON", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 15, 0, 0, 0),
         utc(2024, 1, 29, 0, 0, 0), utc(2024, 2, 5, 0, 0, 0));
  EXPECT("0 0 13 * */7", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 10, 13, 0, 0, 0),
         utc(2025, 4, 13, 0, 0, 0));
  /* "1-31" does not begin with '*': OR with Monday, so every day. */
  EXPECT("0 0 1-31 * MON", NULL, utc(2024, 1, 2, 0, 0, 0), utc(2024, 1, 3, 0, 0, 0),
         utc(2024, 1, 4, 0, 0, 0));
  /* An impossible day-of-month still fires through day-of-week under OR. */
  EXPECT("0 0 30 2 MON", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 5, 0, 0, 0),
         utc(2024, 2, 12, 0, 0, 0));
  /* Feb 29 that is a Sunday: 28 years apart, still found quickly. */
  EXPECT("0 0 29 2 */7", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2032, 2, 29, 0, 0, 0),
         utc(2060, 2, 29, 0, 0, 0), utc(2088, 2, 29, 0, 0, 0), utc(2128, 2, 29, 0, 0, 0));
}

static void test_dst_spring_forward(void **state) {
  (void)state;
  const char *berlin = "Europe/Berlin";
  int64_t gap_end = utc(2024, 3, 31, 1, 0, 0); /* 02:00 CET -> 03:00 CEST */
  /* A skipped fixed time fires when the gap ends, then normally again. */
  EXPECT("30 2 * * *", berlin, utc(2024, 3, 30, 12, 0, 0), gap_end, utc(2024, 4, 1, 0, 30, 0));
  /* Hour '*': 02:30 still fires once, at 03:00; 03:30 fires as usual. */
  EXPECT("30 * * * *", berlin, utc(2024, 3, 30, 23, 0, 0), utc(2024, 3, 30, 23, 30, 0),
         utc(2024, 3, 31, 0, 30, 0), gap_end, gap_end + 1800);
  /* 02:00, 02:20, 02:40 coalesce into the single 03:00 fire. */
  EXPECT("*/20 * * * *", berlin, utc(2024, 3, 31, 0, 0, 0), utc(2024, 3, 31, 0, 20, 0),
         utc(2024, 3, 31, 0, 40, 0), gap_end, gap_end + 1200);
  /* With seconds: the first instant after the gap, not 03:00:42. */
  EXPECT("42 52 2 * * *", berlin, utc(2024, 3, 30, 12, 0, 0), gap_end, utc(2024, 4, 1, 0, 52, 42));
  /* Southern hemisphere: Sydney skips 02:00-03:00 on 2024-10-06. */
  EXPECT("30 2 * * *", "Australia/Sydney", utc(2024, 10, 5, 0, 0, 0), 1728144000,
         1728144000 + 86400 - 1800);
  /* Half-hour DST: Lord Howe skips 02:00-02:30 on 2024-10-06. */
  EXPECT("15 2 * * *", "Australia/Lord_Howe", utc(2024, 10, 5, 0, 0, 0), 1728142200);
  /* A one-shot at a skipped local time, too. */
  EXPECT("at 2026-03-29T02:30:00", berlin, 0, 1774746000);
}

static void test_dst_fall_back(void **state) {
  (void)state;
  const char *ny = "America/New_York"; /* 2024-11-03 02:00 EDT -> 01:00 EST */
  /* Hourly (a wildcard hour runs on the new clock, as in cron): 01:00 EDT, 01:00 EST,
   * then 02:00 EST: every real hour. */
  EXPECT("0 * * * *", ny, utc(2024, 11, 3, 4, 0, 0), utc(2024, 11, 3, 5, 0, 0),
         utc(2024, 11, 3, 6, 0, 0), utc(2024, 11, 3, 7, 0, 0), utc(2024, 11, 3, 8, 0, 0));
  EXPECT("19 * * * *", ny, utc(2024, 11, 3, 5, 30, 0), utc(2024, 11, 3, 6, 19, 0),
         utc(2024, 11, 3, 7, 19, 0));
  EXPECT("*/15 * * * *", ny, utc(2024, 11, 3, 5, 50, 0), utc(2024, 11, 3, 6, 0, 0),
         utc(2024, 11, 3, 6, 15, 0));
  /* From inside the second pass (01:30 EST) the next wildcard-hour fire is 01:45 EST. */
  EXPECT("45 * * * *", ny, utc(2024, 11, 3, 6, 30, 0), utc(2024, 11, 3, 6, 45, 0),
         utc(2024, 11, 3, 7, 45, 0));
  /* A fixed hour fires once: "* 1 * * *" runs the 60 minutes of 01:xx EDT only. */
  EXPECT("59 1 * * *", ny, utc(2024, 11, 3, 5, 0, 0), utc(2024, 11, 3, 5, 59, 0),
         utc(2024, 11, 4, 6, 59, 0));
  /* Daily at a repeated time: once, at the first occurrence. */
  EXPECT("30 1 * * *", ny, utc(2024, 11, 2, 12, 0, 0), utc(2024, 11, 3, 5, 30, 0),
         utc(2024, 11, 4, 6, 30, 0));
  /* Starting inside the second pass (01:30 EST): 01:45 already fired. */
  EXPECT("45 1 * * *", ny, utc(2024, 11, 3, 6, 30, 0), utc(2024, 11, 4, 6, 45, 0));
  /* Every second, from the second pass: a wildcard hour goes on each second. */
  EXPECT("* * * * * *", ny, utc(2024, 11, 3, 6, 30, 0), utc(2024, 11, 3, 6, 30, 1),
         utc(2024, 11, 3, 6, 30, 2));
  /* A fixed hour, from the second pass: nothing until 02:00:00 EST. */
  EXPECT("* * 1-2 * * *", ny, utc(2024, 11, 3, 6, 30, 0), utc(2024, 11, 3, 7, 0, 0),
         utc(2024, 11, 3, 7, 0, 1));
  /* Sydney falls back 03:00 -> 02:00 on 2024-04-07. */
  EXPECT("30 2 * * *", "Australia/Sydney", utc(2024, 4, 6, 0, 0, 0), 1712417400, 1712507400);
  EXPECT("at 2026-10-25T02:30:00", "Europe/Berlin", 0, 1792888200);
}

/* A 23-hour day has 1440 - 60 distinct minute fires (the 60 skipped ones
 * coalesce into 03:00, itself a match); on a 25-hour day a wildcard hour runs
 * on the new clock, 1500 fires, and a fixed-hour list of all 24 hours fires
 * each local wall time once, 1440. */
static void count_day_of(const char *expr, const char *tz, int64_t from, int64_t to, int expected) {
  fpq__trigger *t = must_parse(expr, tz);
  int64_t cur = from, next;
  int n = 0;
  while (fpq__trigger_next(t, cur, &next) == 0 && next < to) {
    assert_true(next > cur);
    cur = next;
    n++;
  }
  assert_int_equal(n, expected);
  fpq__trigger_free(t);
}

static void count_day(const char *tz, int64_t from, int64_t to, int expected) {
  count_day_of("* * * * *", tz, from, to, expected);
  count_day_of("* 0-23 * * *", tz, from, to, expected > 1440 ? 1440 : expected);
}

static void test_dst_wall_times_once(void **state) {
  (void)state;
  /* local midnight to local midnight, the first one included */
  count_day("Europe/Berlin", utc(2024, 3, 30, 23, 0, 0) - 1, utc(2024, 3, 31, 22, 0, 0), 1380);
  count_day("Europe/Berlin", utc(2024, 10, 26, 22, 0, 0) - 1, utc(2024, 10, 27, 23, 0, 0), 1500);
  count_day("America/New_York", utc(2024, 11, 3, 4, 0, 0) - 1, utc(2024, 11, 4, 5, 0, 0), 1500);
  count_day("America/New_York", utc(2024, 3, 10, 5, 0, 0) - 1, utc(2024, 3, 11, 4, 0, 0), 1380);
  count_day("Australia/Lord_Howe", utc(2024, 10, 5, 13, 30, 0) - 1, utc(2024, 10, 6, 13, 0, 0),
            1410);
}

static void test_at(void **state) {
  (void)state;
  EXPECT("at 2026-12-01T02:00:00Z", NULL, 0, 1796090400);
  EXPECT("at 2026-12-01T02:00:00Z", "Asia/Tokyo", 0, 1796090400); /* offset wins over zone */
  EXPECT("at 2026-12-01T03:00:00+01:00", NULL, 0, 1796090400);
  EXPECT("at 2026-12-01T07:30:00+0530", NULL, 0, 1796090400);
  EXPECT("at 2026-11-30T21:00-05", NULL, 0, 1796090400);
  EXPECT("at 2026-12-01 03:00:00", "Europe/Berlin", 0, 1796090400);
  EXPECT("at 2026-12-01t02:00:00z", NULL, 0, 1796090400); /* RFC 3339's lower case */
  /* An at trigger fires at whole seconds: a fraction fires at the next one, never early. */
  EXPECT("at 2026-12-01T02:00:00.5Z", NULL, 0, 1796090401);
  EXPECT("at 2026-12-01T01:59:59.000001Z", NULL, 0, 1796090400);
  EXPECT("at 2026-12-01T02:00:00.000Z", NULL, 0, 1796090400);
  EXPECT("at 2026-12-01T03:59:59.5+02:00", NULL, 0, 1796090400);
  /* Rounded on the wall clock, then the zone: 01:59:59.5 on Berlin's spring-forward day
   * rounds into the gap, which ends at 03:00 CEST (01:00Z). */
  EXPECT("at 2026-03-29T01:59:59.5", "Europe/Berlin", 0, 1774746000);
  fpq__trigger *t = must_parse("at 2026-12-01T02:00:00Z", NULL);
  int64_t next;
  assert_int_equal(fpq__trigger_next(t, 1796090400, &next), FPQ_ENOTFOUND);
  assert_int_equal(fpq__trigger_next(t, 1796090399, &next), 0);
  fpq__trigger_free(t);
}

/* `at` and fpq_parse_time (`fpq enqueue --at`) read times with one reader: what one
 * accepts the other does, at the same instant (the trigger's rounded up to a second). */
static void test_at_reads_times_as_fpq_parse_time_does(void **state) {
  (void)state;
  static const char *const texts[] = {
      "2026-12-01T02:00:00Z",      "2026-12-01t02:00:00z",      "2026-12-01 02:00:00",
      "2026-12-01T02:00Z",         "2026-12-01T02:00:00.25Z",   "2026-12-01T03:00:00+01:00",
      "2026-12-01T07:30:00+0530",  "2026-11-30T21:00-05",       "2026-12-01T02:00:00.999999",
      "0001-01-01T00:00:00Z",      "9999-12-31T23:59:59Z",      "2024-02-29T12:00:00-00:00",
      /* refused by both */
      "2026-12-01T02:00:00,5Z",    "2026-12-01T24:00:00Z",      "2026-12-31T23:59:60Z",
      "0000-01-01T00:00:00Z",      "2026-02-29T00:00:00Z",      "2026-12-01T02:00.5",
      "2026-12-01T02:00:00+05:",   "2026-12-01T02:00:00+24:00", "2026-12-01",
      "2026-12-01T02:00:00 Z",     "2026-12-01T02:00:00UTC",    "tomorrow",
      "\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa6-12-01T02:00:00Z", /* Arabic-Indic digits */
      "\xef\xbc\x92" "026-12-01T02:00:00Z",               /* a full-width 2 */
      "2026-12-01T02:00:00\xd9\xa0Z",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    char at[128], err[256] = "", msg[256] = "";
    snprintf(at, sizeof at, "at %s", texts[i]);
    fpq__trigger *t = NULL;
    int trig = fpq__trigger_parse(at, NULL, &t, err, sizeof err);
    double epoch = 0;
    int parsed = fpq_parse_time(texts[i], &epoch, msg, sizeof msg);
    if ((trig == 0) != (parsed == 0))
      fail_msg("'%s': the at trigger says %d (%s), fpq_parse_time %d (%s)", texts[i], trig, err,
               parsed, msg);
    if (trig == 0) {
      int64_t fire = 0;
      assert_int_equal(fpq__trigger_next(t, INT64_MIN, &fire), 0);
      int64_t want = (int64_t)epoch + (epoch > (double)(int64_t)epoch);
      if (fire != want)
        fail_msg("'%s': the at trigger fires at %lld, fpq_parse_time reads %.6f", texts[i],
                 (long long)fire, epoch);
    }
    fpq__trigger_free(t);
  }
}

static void test_interval(void **state) {
  (void)state;
  fpq__trigger *t = must_parse("every 15m", NULL);
  int64_t next;
  fpq__trigger_set_anchor(t, 1000);
  static const int64_t cases[][2] = {
      {1000, 1900}, {1899, 1900}, {1900, 2800}, {0, 100}, {-1000, -800}, {-800, 100},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(fpq__trigger_next(t, cases[i][0], &next), 0);
    assert_int_equal(next, cases[i][1]);
  }
  fpq__trigger_set_anchor(t, INT64_MAX - 10);
  assert_int_equal(fpq__trigger_next(t, INT64_MAX - 5, &next), FPQ_ENOTFOUND);
  /* Fire times stay in the years 1-9999: the first from the dawn of time is in year 1,
   * and none comes after 9999-12-31. */
  assert_int_equal(fpq__trigger_next(t, INT64_MIN, &next), 0);
  assert_true(next >= FPQ__TIME_MIN && next - FPQ__TIME_MIN < 900);
  fpq__trigger_set_anchor(t, 1000);
  assert_int_equal(fpq__trigger_next(t, FPQ__TIME_MAX - 10, &next), FPQ_ENOTFOUND);
  fpq__trigger_free(t);
  t = must_parse("every 3650d", NULL);
  int64_t cur = 0, count = 0;
  while (fpq__trigger_next(t, cur, &next) == 0) {
    assert_true(next > cur && next <= FPQ__TIME_MAX);
    cur = next;
    count++;
  }
  assert_int_equal(count, 803); /* every 3,650 days from 1979 to 9994 */
  /* A fire at the epoch is a fire: it does not end the sequence. */
  fpq__trigger_set_anchor(t, 0);
  assert_int_equal(fpq__trigger_next(t, -1, &next), 0);
  assert_int_equal(next, 0);
  assert_int_equal(fpq__trigger_next(t, next, &next), 0);
  assert_int_equal(next, 3650 * 86400);
  /* ... nor the list of next fires (`fpq schedules next`, next_runs()). */
  int64_t fires[3];
  size_t listed = 0;
  char msg[256];
  assert_int_equal(fpq_next_fires("every 3650d", NULL, 0, -1, fires, 3, &listed, msg, sizeof msg),
                   0);
  assert_int_equal(listed, 3);
  assert_int_equal(fires[0], 0);
  assert_int_equal(fires[1], 3650 * 86400);
  fpq__trigger_free(t);
  /* default anchor is the epoch */
  EXPECT("every 1d", NULL, utc(2024, 5, 5, 13, 0, 0), utc(2024, 5, 6, 0, 0, 0));
}

static void test_errors(void **state) {
  (void)state;
  static const struct {
    const char *text, *tz, *msg;
  } bad[] = {
      {"60 * * * *", NULL, "minute field '60': value out of range 0-59"},
      {"5,61 * * * *", NULL, "minute field '5,61': value '61' out of range 0-59"},
      {"*/0 * * * *", NULL, "minute field '*/0': step 0"},
      {"* * 31 2 *", NULL, "day-of-month field '31': no such day in the allowed months"},
      {"0 0 30 2 *", NULL, "day-of-month field '30'"},
      {"0 0 31 4,6,9,11 *", NULL, "month field '4,6,9,11'"},
      {"0 0 30 FEB */2", NULL, "day-of-month field '30'"},
      {"0 24 * * *", NULL, "hour field '24': value out of range 0-23"},
      {"0 0 0 * *", NULL, "day-of-month field '0': value out of range 1-31"},
      {"0 0 * 13 *", NULL, "month field '13': value out of range 1-12"},
      {"0 0 * * 8", NULL, "day-of-week field '8': value out of range 0-7"},
      {"60 0 0 * * *", NULL, "second field '60': value out of range 0-59"},
      {"0 0 * JANUARY *", NULL, "month field 'JANUARY': unknown name"},
      {"0 0 * * FUNDAY", NULL, "day-of-week field 'FUNDAY': unknown name"},
      {"MON * * * *", NULL, "minute field 'MON': name not allowed here"},
      {"0 0 * * * * *", NULL, "got 7"},
      {"0 0 * *", NULL, "got 4"},
      {"", NULL, "empty expression"},
      {" \t ", NULL, "empty expression"},
      {NULL, NULL, "empty expression"},
      {"30-10 * * * *", NULL, "minute field '30-10': reversed range"},
      {"0 0 * * FRI-MON", NULL, "day-of-week field 'FRI-MON': reversed range"},
      {"5$ * * * *", NULL, "minute field '5$': unexpected character '$'"},
      /* Only spaces and tabs separate fields; other control characters are named by
       * their code, never echoed raw (a log line stays one line). */
      {"0\n3 * * *", NULL, "expression has control character 0x0A at byte 2"},
      {"0 3 * * *\r", NULL, "control character 0x0D at byte 10"},
      {"0\v3 * * * *", NULL, "control character 0x0B"},
      {"0\f3 * * * *", NULL, "control character 0x0C"},
      {"every 1h\x1b[2J", NULL, "control character 0x1B"},
      /* A multibyte character is quoted whole, not as its first byte. */
      {"5\xc3\xa9 * * * *", NULL, "minute field '5\xc3\xa9': unexpected character '\xc3\xa9'"},
      {"5\xe2\x82\xac * * * *", NULL, "unexpected character '\xe2\x82\xac'"},
      {"5\xff * * * *", NULL, "unexpected character byte 0xFF"},
      {"every 5\xc3\xa9", NULL, "unknown unit '\xc3\xa9'"},
      /* A year field is named as such, not blamed on the day of week. */
      {"0 0 1 1 * 2030", NULL, "field 6 '2030' looks like a year: a year field is not supported"},
      /* Fire times lie in the years 1-9999. */
      {"at 9999-12-31T23:30:00-01:00", NULL, "outside the years 1-9999"},
      {"at 0001-01-01T00:30:00+01:00", NULL, "outside the years 1-9999"},
      {"1-5x * * * *", NULL, "unexpected character 'x'"},
      {"-5 * * * *", NULL, "minute field '-5': unexpected character '-'"},
      {"0 0 L * *", NULL, "day-of-month field 'L': name not allowed here"},
      {"0 0 ? * *", NULL, "day-of-month field '?': unexpected character '?'"},
      {"0 0 * * 1#2", NULL, "day-of-week field '1#2': unexpected character '#'"},
      {"0 0 15W * *", NULL, "day-of-month field '15W'"},
      {"1,,2 * * * *", NULL, "minute field '1,,2': empty list item"},
      {"1, * * * *", NULL, "empty list item"},
      {"*/61 * * * *", NULL, "minute field '*/61': step too large"},
      {"*/x * * * *", NULL, "missing step number"},
      {"*5 * * * *", NULL, "unexpected text after '*'"},
      {"5- * * * *", NULL, "missing value"},
      {"99999999999999999999 * * * *", NULL, "out of range 0-59"},
      {"@fortnightly", NULL, "macro '@fortnightly': unknown"},
      {"@daily 5", NULL, "macro '@daily 5': unknown"},
      {"0 0 * * *", "Mars/Olympus_Mons", "time zone 'Mars/Olympus_Mons': unknown"},
      {"0 0 * * *", "../../etc/passwd", "time zone '../../etc/passwd': invalid name"},
      {"every", NULL, "missing duration"},
      {"every 0s", NULL, "interval '0s': must be at least 1s"},
      {"every 5w", NULL, "interval '5w': unknown unit 'w'"},
      {"every 15", NULL, "interval '15': expected <number><unit>"},
      {"every 30m1h", NULL, "unit 'h' repeated or out of order"},
      {"every 1h 30m", NULL, "expected <number><unit>"},
      {"every 3651d", NULL, "longer than 3650 days"},
      {"every 99999999999999999999s", NULL, "longer than 3650 days"},
      {"at 2026-02-29T00:00:00Z", NULL, "at '2026-02-29T00:00:00Z': no such date"},
      {"at 2026-12-01T24:00:00Z", NULL, "time out of range"},
      {"at 2026-12-01T02:00:00,5Z", NULL, "unexpected text ',5Z'"},
      {"at 2026-12-01T02:00.5Z", NULL, "malformed fraction of a second"},
      {"at 2026-12-01T02:00:00.Z", NULL, "malformed fraction of a second"},
      {"at 2026-12-31T23:59:60Z", NULL, "time out of range"},
      {"at 2026-12-01T02:00:00+05:", NULL, "malformed UTC offset"},
      {"at \xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa6-12-01T02:00:00Z", NULL, "malformed date-time"},
      {"at 2026-12-01T02:00:00+25:00", NULL, "UTC offset out of range"},
      {"at 2026-12-01T02:00:00Q", NULL, "unexpected text 'Q'"},
      {"at tomorrow", NULL, "at 'tomorrow': malformed date-time"},
      {"at 0000-01-01T00:00:00Z", NULL, "no such date"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fpq__trigger *t = (fpq__trigger *)&t;
    char err[256] = "";
    int rc = fpq__trigger_parse(bad[i].text, bad[i].tz, &t, err, sizeof err);
    if (rc != FPQ_EINVAL || t != NULL || !strstr(err, bad[i].msg))
      fail_msg("'%s': rc %d, err '%s', want '%s'", bad[i].text ? bad[i].text : "(null)", rc, err,
               bad[i].msg);
  }
  /* No error buffer, or a tiny one, is fine. */
  fpq__trigger *t;
  char small[8];
  assert_int_equal(fpq__trigger_parse("61 * * * *", NULL, &t, NULL, 0), FPQ_EINVAL);
  assert_int_equal(fpq__trigger_parse("61 * * * *", NULL, &t, small, sizeof small), FPQ_EINVAL);
  assert_int_equal(strlen(small), sizeof small - 1);
  /* Over-long input is refused, not truncated into something valid. */
  char longtext[FPQ__TRIGGER_MAX_TEXT + 16];
  memset(longtext, ' ', sizeof longtext);
  memcpy(longtext + sizeof longtext - 11, "0 0 * * *", 10);
  char err[256];
  assert_int_equal(fpq__trigger_parse(longtext, NULL, &t, err, sizeof err), 0);
  fpq__trigger_free(t);
  memset(longtext, '1', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  assert_int_equal(fpq__trigger_parse(longtext, NULL, &t, err, sizeof err), FPQ_EINVAL);
  assert_non_null(strstr(err, "longer than"));
}

static void test_accepted_spellings(void **state) {
  (void)state;
  static const char *const ok[] = {
      "0 0 * * *",
      "  0\t0  * * *  ",
      "0-59/5 * * * *",
      "59/15 * * * *",
      "0 0 1-1 * *",
      "0 0 * jan-DEC/2 *",
      "0 0 * * 0-7",
      "0 0 * * 1-7/2",
      "0 0 * * sun,Mon,TUE",
      "0 0 29 2 *",
      "0 0 * * 7",
      "0,15,30,45 * * * * *",
      "@annually",
      "@MIDNIGHT",
      "every 90s",
      "every 1d",
      "at 2026-12-01T02:00Z",
      "at 2026-12-01t02:00:00z",
      "*/60 * * * *",
      "0 0 1 */12 *",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    fpq__trigger_free(must_parse(ok[i], "Europe/Berlin"));
  /* "59/15" is minute 59 only; "1-1" day one only (not the whole cycle). */
  EXPECT("59/15 * * * *", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 59, 0),
         utc(2024, 1, 1, 1, 59, 0));
  EXPECT("0 0 1-1 * *", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
  /* 1-7/2 is Mon, Wed, Fri, Sun (7). */
  EXPECT("0 0 * * 1-7/2", NULL, utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 3, 0, 0, 0),
         utc(2024, 1, 5, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0), utc(2024, 1, 8, 0, 0, 0));
}

static void test_limits(void **state) {
  (void)state;
  fpq__trigger *t = must_parse("59 23 31 12 *", NULL);
  int64_t next;
  assert_int_equal(fpq__trigger_next(t, utc(9999, 12, 31, 23, 58, 0), &next), 0);
  assert_int_equal(next, utc(9999, 12, 31, 23, 59, 0));
  assert_int_equal(fpq__trigger_next(t, next, &next), FPQ_ENOTFOUND);
  assert_int_equal(fpq__trigger_next(t, INT64_MAX, &next), FPQ_ENOTFOUND);
  assert_int_equal(fpq__trigger_next(t, INT64_MIN, &next), 0);
  assert_int_equal(next, utc(1, 12, 31, 23, 59, 0));
  fpq__trigger_free(t);

  /* Sparse expressions answer quickly: 20,000 calls of a 28-year search. */
  t = must_parse("0 0 29 2 */7", "Australia/Sydney");
  clock_t c0 = clock();
  int64_t cur = utc(2000, 1, 1, 0, 0, 0);
  for (int i = 0; i < 20000; i++) {
    assert_int_equal(fpq__trigger_next(t, cur + i * 86400, &next), 0);
    assert_true(next > cur + i * 86400);
  }
  double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
  print_message("20000 sparse next() calls: %.3f s\n", secs);
  assert_true(secs < 20.0);
  fpq__trigger_free(t);
}

/* Make each allocation in turn fail: parse reports FPQ_ENOMEM (or succeeds
 * once n passes the number of allocations) and leaks nothing. */
static void test_out_of_memory(void **state) {
  (void)state;
  static const char *const texts[] = {"0 3 * * *", "every 15m", "at 2026-03-29T02:30:00"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int succeeded = 0;
    for (long n = 1; n < 50 && !succeeded; n++) {
      fpq__tz_cache_clear(); /* so the zone file is loaded (and allocated) again */
      fpq__alloc_fail_after(n);
      fpq__trigger *t = NULL;
      char err[256] = "";
      int rc = fpq__trigger_parse(texts[i], "Europe/Berlin", &t, err, sizeof err);
      fpq__alloc_fail_after(0);
      if (rc == 0) {
        int64_t next;
        assert_int_equal(fpq__trigger_next(t, 0, &next), 0);
        fpq__trigger_free(t);
        succeeded = 1;
      } else {
        if (rc != FPQ_ENOMEM || t != NULL || !strstr(err, "out of memory"))
          fail_msg("'%s' with allocation %ld failing: rc %d err '%s'", texts[i], n, rc, err);
      }
    }
    assert_true(succeeded);
  }
}

static int teardown_all(void **state) {
  (void)state;
  fpq__tz_cache_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_utc_schedules),
      cmocka_unit_test(test_vixie_day_rule),
      cmocka_unit_test(test_dst_spring_forward),
      cmocka_unit_test(test_dst_fall_back),
      cmocka_unit_test(test_dst_wall_times_once),
      cmocka_unit_test(test_at),
      cmocka_unit_test(test_at_reads_times_as_fpq_parse_time_does),
      cmocka_unit_test(test_interval),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_accepted_spellings),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, teardown_all);
}
