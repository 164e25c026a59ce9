/* test_clock.c: time at the edges (src/clock.c): RQ's timestamp text both ways, the
 * durations and ISO 8601 instants people type (the one reader's rule, stated in
 * clock.c), times shown in a zone, and the two clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "fpq.h"
#include "testutil.h"

/* 2026-01-01T00:00:00Z */
#define JAN_1_2026 1767225600.0

static void assert_format(double t, const char *want) {
  char buf[FPQ_TIME_TEXT_MAX];
  memset(buf, 'x', sizeof buf);
  fpq_format_time(t, buf, sizeof buf);
  if (strcmp(buf, want) != 0) fail_msg("format(%.9f) is \"%s\", expected \"%s\"", t, buf, want);
}

static void times_are_written_in_rqs_form_with_six_digits(void **state) {
  (void)state;
  assert_format(JAN_1_2026, "2026-01-01T00:00:00.000000Z");
  assert_format(JAN_1_2026 + 0.5, "2026-01-01T00:00:00.500000Z");
  assert_format(JAN_1_2026 + 0.000001, "2026-01-01T00:00:00.000001Z");
  assert_format(JAN_1_2026 + 86399.123456, "2026-01-01T23:59:59.123456Z");
  assert_format(1709164800 + 12 * 3600 + 34 * 60 + 56.789, "2024-02-29T12:34:56.789000Z");
  assert_format(1, "1970-01-01T00:00:01.000000Z");
  char buf[FPQ_TIME_TEXT_MAX];
  fpq_format_time(JAN_1_2026, buf, sizeof buf);
  assert_int_equal(strlen(buf), 27);
}

static void a_fraction_that_rounds_up_carries_into_the_second(void **state) {
  (void)state;
  assert_format(JAN_1_2026 - 0.0000004, "2026-01-01T00:00:00.000000Z");
  assert_format(JAN_1_2026 + 59.9999996, "2026-01-01T00:01:00.000000Z");
}

static void unset_and_unwritable_times_are_empty(void **state) {
  (void)state;
  assert_format(0, "");
  assert_format(-1, "");
  assert_format(NAN, "");
  assert_format(-INFINITY, "");
  assert_format(253402300800.0, ""); /* year 10000 does not fit the form */
  assert_format(253402300799.0, "9999-12-31T23:59:59.000000Z");
  assert_format(253402300799.9999996, ""); /* rounds up into year 10000 */
  assert_format(1.44e50, "");               /* past time_t's range */
  assert_format(INFINITY, "");
}

static void assert_parses_time(const char *text, double want) {
  double got = -42;
  int rc = fpq__parse_rq_time(text, &got);
  if (rc != 0) fail_msg("parse_time(\"%s\") returned %s, expected OK", text, fpq_err_name(rc));
  assert_double_near(got, want, 1e-6);
}

static void rqs_two_forms_are_read(void **state) {
  (void)state;
  assert_parses_time("2026-01-01T00:00:00.000000Z", JAN_1_2026);
  assert_parses_time("2026-01-01T00:00:00Z", JAN_1_2026);
  assert_parses_time("2026-01-01T00:00:00.5Z", JAN_1_2026 + 0.5);
  assert_parses_time("2026-01-01T23:59:59.123456Z", JAN_1_2026 + 86399.123456);
  assert_parses_time("2024-02-29T00:00:00Z", 1709164800);
  assert_parses_time("1970-01-01T00:00:00Z", 0);
  assert_parses_time("", 0);
  assert_parses_time(NULL, 0);
}

static void a_bad_rq_time_is_refused(void **state) {
  (void)state;
  const char *bad[] = {
      "2026-01-01T00:00:00",          /* no Z */
      "2026-01-01T00:00:00+00:00",    /* offsets are not RQ's */
      "2026-01-01T00:00:00.Z",        /* a dot without digits */
      "2026-01-01T00:00:00.000000ZZ", /* trailing text */
      "2026-01-01",                   /* no time */
      "2026-13-01T00:00:00Z",         /* month 13 */
      "2026-00-01T00:00:00Z",         /* month 0 */
      "2026-02-29T00:00:00Z",         /* not a leap year */
      "2100-02-29T00:00:00Z",         /* nor is 2100 */
      "2026-04-31T00:00:00Z",         /* April has 30 days */
      "2026-01-01T24:00:00Z",         /* hour 24 */
      "2026-01-01T00:60:00Z",         /* minute 60 */
      "2026-01-01T00:00:61Z",         /* second 61 */
      "26-01-01T00:00:00Z",           /* two-digit year */
      "2026/01/01T00:00:00Z",         /* wrong separators */
      "2026-1-01T00:00:00Z",          /* one-digit month */
      " 2026-01-01T00:00:00Z",        /* leading space */
      "yesterday",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double t = -42;
    int rc = fpq__parse_rq_time(bad[i], &t);
    if (rc != FPQ_EINVAL)
      fail_msg("parse_time(\"%s\") returned %s, expected EINVAL", bad[i], fpq_err_name(rc));
  }
  assert_parses_time("2000-02-29T00:00:00Z", 951782400); /* 2000 is a leap year */
}

static void times_round_trip_to_the_microsecond(void **state) {
  (void)state;
  /* A spread of instants from 1970 to 2200, each with a fraction. */
  double t = 1.000001;
  for (int i = 0; i < 20000; i++) {
    char buf[FPQ_TIME_TEXT_MAX];
    fpq_format_time(t, buf, sizeof buf);
    double back;
    if (fpq__parse_rq_time(buf, &back) != 0) fail_msg("\"%s\" (from %.6f) does not parse", buf, t);
    if (fabs(back - t) > 1e-6) fail_msg("%.6f -> \"%s\" -> %.6f", t, buf, back);
    char again[FPQ_TIME_TEXT_MAX];
    fpq_format_time(back, again, sizeof again);
    if (strcmp(buf, again) != 0) fail_msg("\"%s\" reads back as \"%s\"", buf, again);
    t += 361234.567891;
  }
}

static void assert_duration(const char *text, double want) {
  double got = -42;
  int rc = fpq_parse_duration(text, &got, NULL, 0);
  if (rc != 0) fail_msg("duration \"%s\" returned %s, expected OK", text, fpq_err_name(rc));
  assert_double_near(got, want, 1e-9);
}

static void durations_take_seconds_units_and_sums(void **state) {
  (void)state;
  assert_duration("90", 90);
  assert_duration("0", 0);
  assert_duration("90s", 90);
  assert_duration("10m", 600);
  assert_duration("2h", 7200);
  assert_duration("1d", 86400);
  assert_duration("1h30m", 5400);
  assert_duration("1d2h3m4s", 93784);
  assert_duration("250ms", 0.25);
  assert_duration("1m30s500ms", 90.5);
  assert_duration("1.5h", 5400);
  assert_duration("0.5", 0.5);
  assert_duration(".5s", 0.5);
}

static void bad_durations_are_refused(void **state) {
  (void)state;
  const char *bad[] = {"",     "s",    "-5",   "+5",  "5 m",  " 5",  "5x",   "1h30",
                       "1e3",  "1e3s", "0x10", "inf", "nan",  "1.2.3s", ".",  "m5",
                       "5M",   "10mins", "1h-30m", "99999999999999999999999999999999999999999999"
                       "9999999999999999999999999999999999999999999999999999999999999999999999"
                       "9999999999999999999999999999999999999999999999999999999999999999999999"
                       "9999999999999999999999999999999999999999999999999999999999999999999999"
                       "9999999999999999999999999999999999999999999999999999999999999999999999s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double d = -42;
    int rc = fpq_parse_duration(bad[i], &d, NULL, 0);
    if (rc != FPQ_EINVAL)
      fail_msg("duration \"%.40s\" returned %s (%g), expected EINVAL", bad[i], fpq_err_name(rc), d);
    assert_double_near(d, -42, 0); /* untouched */
  }
  double d;
  assert_int_equal(fpq_parse_duration(NULL, &d, NULL, 0), FPQ_EINVAL);
}

static void assert_iso(const char *text, double want) {
  double got = -42;
  int rc = fpq_parse_time(text, &got, NULL, 0);
  if (rc != 0) fail_msg("iso8601 \"%s\" returned %s, expected OK", text, fpq_err_name(rc));
  assert_double_near(got, want, 1e-6);
}

static void iso8601_takes_z_offsets_fractions_and_no_zone_as_utc(void **state) {
  (void)state;
  assert_iso("2026-01-01T00:00:00Z", JAN_1_2026);
  assert_iso("2026-01-01T00:00:00z", JAN_1_2026); /* RFC 3339 allows lower case */
  assert_iso("2026-01-01t00:00:00Z", JAN_1_2026);
  assert_iso("2026-01-01t00:00z", JAN_1_2026);
  assert_iso("0001-01-01T00:00:00Z", -62135596800.0);
  assert_iso("9999-12-31T23:59:59.5Z", 253402300799.5);
  assert_iso("1960-01-01T00:00:00Z", -315619200.0);
  assert_iso("2026-01-01T00:00:00", JAN_1_2026);
  assert_iso("2026-01-01 00:00:00", JAN_1_2026);
  assert_iso("2026-01-01T00:00", JAN_1_2026);
  assert_iso("2026-01-01T00:00:00.25Z", JAN_1_2026 + 0.25);
  assert_iso("2026-01-01T00:00:00.123456789", JAN_1_2026 + 0.123456789);
  assert_iso("2026-01-01T02:00:00+02:00", JAN_1_2026);
  assert_iso("2026-01-01T02:00:00+0200", JAN_1_2026);
  assert_iso("2026-01-01T02:00:00+02", JAN_1_2026);
  assert_iso("2025-12-31T19:00:00-05:00", JAN_1_2026);
  assert_iso("2026-01-01T05:30:00.5+05:30", JAN_1_2026 + 0.5);
  assert_iso("2026-01-01T00:00:00-00:00", JAN_1_2026);
  assert_iso("2025-12-31T10:15:00-13:45", JAN_1_2026);
}

static void bad_iso8601_instants_are_refused(void **state) {
  (void)state;
  const char *bad[] = {
      "",
      "2026-01-01",                  /* a date alone */
      "2026-01-01T",                 /* no time */
      "2026-01-01T00",               /* no minutes */
      "2026-01-01T00:00:00,5Z",      /* ',' as the decimal sign: not RFC 3339's */
      "2026-12-31T23:59:60Z",        /* a leap second: POSIX time has none */
      "2026-01-01T24:00:00Z",        /* 24:00: write the next day's 00:00 */
      "0000-01-01T00:00:00Z",        /* year 0 */
      "+2026-01-01T00:00:00Z",       /* ISO's expanded years */
      "2026-01-01T00:00:00ZZ",
      "2026-01-01T00:00:00+05:00Z",
      "2026-01-01T00:00:00.5.5Z",
      "2026-01-01T00:00:00.+05:00",
      "2026-01-01T00:00:00\n",
      "2026-01-01T\xd9\xa0\xd9\xa0:00:00Z",            /* Arabic-Indic zeros */
      "\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa6-12-01T02:00:00Z", /* and a whole year */
      "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-12-01T02:00:00Z", /* full-width */
      "2026-01-01T00:00:00+\xd9\xa0\xd9\xa5:00",       /* in the offset */
      "2026-01-01T00:00:00 Z",       /* space before the zone */
      "2026-01-01T00:00:00+5",       /* one-digit offset */
      "2026-01-01T00:00:00+05:",     /* offset cut short */
      "2026-01-01T00:00:00+05:3",    /* offset cut short */
      "2026-01-01T00:00:00+24:00",   /* offset hour 24 */
      "2026-01-01T00:00:00+05:60",   /* offset minute 60 */
      "2026-01-01T00:00:00+05:00:00", /* offset seconds */
      "2026-01-01T00:00:00UTC",      /* a zone name */
      "2026-01-01T00:00.5",          /* a fraction of a minute */
      "2026-02-30T00:00:00Z",
      "2026-01-01T25:00:00Z",
      "2026-01-01T00:00:00.Z",
      "tomorrow",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double t = -42;
    int rc = fpq_parse_time(bad[i], &t, NULL, 0);
    if (rc != FPQ_EINVAL)
      fail_msg("iso8601 \"%s\" returned %s (%.3f), expected EINVAL", bad[i], fpq_err_name(rc), t);
  }
  double t;
  assert_int_equal(fpq_parse_time(NULL, &t, NULL, 0), FPQ_EINVAL);
}

/* Digits are ASCII whatever the locale says: a program that embeds the engine (Python
 * sets LC_CTYPE from the environment) must not change what a time is. */
static void the_locale_does_not_change_what_a_digit_is(void **state) {
  (void)state;
  const char *old = setlocale(LC_CTYPE, NULL);
  char saved[64];
  snprintf(saved, sizeof saved, "%s", old ? old : "C");
  if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) setlocale(LC_CTYPE, "");
  double t = -42;
  assert_int_equal(fpq_parse_time("\xd9\xa2\xd9\xa0\xd9\xa2\xd9\xa6-12-01T02:00:00Z", &t,
                                  NULL, 0), FPQ_EINVAL);
  assert_int_equal(fpq_parse_time("2026-12-01T02:00:00Z", &t, NULL, 0), 0);
  setlocale(LC_CTYPE, saved);
}

static void a_bad_time_or_duration_is_named_in_one_line(void **state) {
  (void)state;
  char msg[256];
  double v = -42;
  assert_int_equal(fpq_parse_time("tomorrow", &v, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "'tomorrow' is not an ISO 8601 time: expected e.g. "
                           "2026-12-01T02:00:00Z");
  assert_int_equal(fpq_parse_duration("soon", &v, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "'soon' is not a duration: expected e.g. 30s, 10m, 2h");
  assert_double_near(v, -42, 0); /* untouched */
  /* The value is quoted so that nothing in it can break the line. */
  assert_int_equal(fpq_parse_time("2026\n01", &v, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "'2026\\x0a01' is not an ISO 8601 time: expected e.g. "
                           "2026-12-01T02:00:00Z");
  assert_int_equal(fpq_parse_duration(NULL, &v, msg, sizeof msg), FPQ_EINVAL);
  assert_string_equal(msg, "'' is not a duration: expected e.g. 30s, 10m, 2h");
  /* A small buffer is cut, a NULL one skipped. */
  char small[8];
  assert_int_equal(fpq_parse_time("tomorrow", &v, small, sizeof small), FPQ_EINVAL);
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_int_equal(fpq_parse_duration("x", &v, NULL, 0), FPQ_EINVAL);
}

static void format_time_needs_room_for_the_whole_form(void **state) {
  (void)state;
  char buf[FPQ_TIME_TEXT_MAX];
  assert_int_equal(fpq_format_time(JAN_1_2026, buf, sizeof buf), 0);
  assert_string_equal(buf, "2026-01-01T00:00:00.000000Z");
  assert_int_equal(fpq_format_time(JAN_1_2026, buf, FPQ_TIME_TEXT_MAX - 1), FPQ_EINVAL);
  assert_string_equal(buf, "");
  assert_int_equal(fpq_format_time(0, buf, sizeof buf), FPQ_EINVAL);
  assert_int_equal(fpq_format_time(JAN_1_2026, buf, 0), FPQ_EINVAL);
}

static void zoned_times_show_the_wall_clock_and_its_offset(void **state) {
  (void)state;
  char buf[FPQ_TIME_TEXT_MAX];
  /* Berlin's 2026 spring-forward: 01:00Z is 03:00 CEST, a second earlier 01:59:59 CET. */
  assert_int_equal(fpq_format_zoned_time(1774746000, "Europe/Berlin", buf, sizeof buf), 0);
  assert_string_equal(buf, "2026-03-29 03:00:00 +02:00");
  assert_int_equal(fpq_format_zoned_time(1774745999, "Europe/Berlin", buf, sizeof buf), 0);
  assert_string_equal(buf, "2026-03-29 01:59:59 +01:00");
  assert_int_equal(fpq_format_zoned_time(1796090400, "America/St_Johns", buf, sizeof buf), 0);
  assert_string_equal(buf, "2026-11-30 22:30:00 -03:30");
  assert_int_equal(fpq_format_zoned_time(1796090400, NULL, buf, sizeof buf), 0);
  assert_string_equal(buf, "2026-12-01 02:00:00 +00:00");
  assert_int_equal(fpq_format_zoned_time(-62135596800, "", buf, sizeof buf), 0);
  assert_string_equal(buf, "0001-01-01 00:00:00 +00:00");
  assert_int_equal(fpq_format_zoned_time(0, "Mars/Olympus_Mons", buf, sizeof buf), FPQ_EINVAL);
  assert_string_equal(buf, "");
  assert_int_equal(fpq_format_zoned_time(253402300800, NULL, buf, sizeof buf), FPQ_EINVAL);
  assert_int_equal(fpq_format_zoned_time(0, NULL, buf, 26), FPQ_EINVAL);
  assert_string_equal(buf, "");
}

static void the_wall_clock_is_now_and_the_monotonic_clock_never_goes_back(void **state) {
  (void)state;
  double now = fpq__now();
  assert_double_near(now, (double)time(NULL), 2);
  double prev = fpq__monotonic();
  for (int i = 0; i < 100000; i++) {
    double m = fpq__monotonic();
    if (m < prev) fail_msg("monotonic clock went from %.9f back to %.9f", prev, m);
    prev = m;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(times_are_written_in_rqs_form_with_six_digits),
      cmocka_unit_test(a_fraction_that_rounds_up_carries_into_the_second),
      cmocka_unit_test(unset_and_unwritable_times_are_empty),
      cmocka_unit_test(rqs_two_forms_are_read),
      cmocka_unit_test(a_bad_rq_time_is_refused),
      cmocka_unit_test(times_round_trip_to_the_microsecond),
      cmocka_unit_test(durations_take_seconds_units_and_sums),
      cmocka_unit_test(bad_durations_are_refused),
      cmocka_unit_test(iso8601_takes_z_offsets_fractions_and_no_zone_as_utc),
      cmocka_unit_test(bad_iso8601_instants_are_refused),
      cmocka_unit_test(the_locale_does_not_change_what_a_digit_is),
      cmocka_unit_test(a_bad_time_or_duration_is_named_in_one_line),
      cmocka_unit_test(format_time_needs_room_for_the_whole_form),
      cmocka_unit_test(zoned_times_show_the_wall_clock_and_its_offset),
      cmocka_unit_test(the_wall_clock_is_now_and_the_monotonic_clock_never_goes_back),
  };
  return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
