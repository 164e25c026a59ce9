/* Tests for src/tz.c, the TZif reader behind cron triggers.
 *
 * glibc is the reference: it reads the same /usr/share/zoneinfo files and
 * parses POSIX TZ strings, so for a few hundred thousand instants across odd
 * zones (half-hour DST, negative DST, +14, skipped days, rule times past 24h)
 * our offset must equal localtime_r's tm_gmtoff.  Driving glibc means
 * setenv("TZ") + tzset(), which is exactly what the library must never do;
 * it is fine here because these tests are single-threaded until
 * test_threads, which does not touch TZ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tz.h"

static const char *const odd_zones[] = {
    "Europe/Berlin",        "America/New_York",
    "Australia/Sydney",     "Australia/Lord_Howe",
    "Pacific/Apia",         "Pacific/Kiritimati",
    "America/St_Johns",     "Asia/Kathmandu",
    "Africa/Casablanca",    "Europe/Dublin",
    "America/Sao_Paulo",    "Antarctica/Troll",
    "America/Nuuk",         "Asia/Tehran",
    "America/Santiago",     "Asia/Gaza",
    "Asia/Jerusalem",       "Europe/Moscow",
    "America/Havana",       "Pacific/Chatham",
    "America/Scoresbysund", "EST5EDT",
    "Asia/Kolkata",         "Europe/London",
    "America/Los_Angeles",  "Pacific/Auckland",
    "Asia/Tokyo",           "America/Asuncion",
};
#define N_ODD (sizeof odd_zones / sizeof odd_zones[0])

static long glibc_offset(const char *tzval, int64_t t, int *isdst) {
  time_t tt = (time_t)t;
  struct tm tm;
  setenv("TZ", tzval, 1);
  tzset();
  localtime_r(&tt, &tm);
  if (isdst) *isdst = tm.tm_isdst > 0;
  return tm.tm_gmtoff;
}

static fpq__tz *must_acquire(const char *name) {
  fpq__tz *z = NULL;
  char err[256] = "";
  int rc = fpq__tz_acquire(name, &z, err, sizeof err);
  if (rc != 0) fail_msg("acquire %s: %d %s", name, rc, err);
  return z;
}

/* A minimal version-2 TZif file: no transitions, one type, the given footer. */
static size_t build_tzif(uint8_t *buf, const char *footer, int32_t off, int isdst,
                         uint32_t leapcnt) {
  uint8_t *p = buf;
  for (int part = 0; part < 2; part++) {
    memcpy(p, "TZif2", 5);
    memset(p + 5, 0, 15);
    uint32_t counts[6] = {0, 0, leapcnt, 0, 1, 4};
    for (int i = 0; i < 6; i++) {
      p[20 + 4 * i] = (uint8_t)(counts[i] >> 24);
      p[21 + 4 * i] = (uint8_t)(counts[i] >> 16);
      p[22 + 4 * i] = (uint8_t)(counts[i] >> 8);
      p[23 + 4 * i] = (uint8_t)counts[i];
    }
    p += 44;
    uint32_t u = (uint32_t)off;
    *p++ = (uint8_t)(u >> 24);
    *p++ = (uint8_t)(u >> 16);
    *p++ = (uint8_t)(u >> 8);
    *p++ = (uint8_t)u;
    *p++ = (uint8_t)isdst;
    *p++ = 0;
    memcpy(p, "XYZ", 4);
    p += 4;
    size_t leap_bytes = leapcnt * (part == 0 ? 8 : 12);
    memset(p, 0, leap_bytes);
    p += leap_bytes;
  }
  *p++ = '\n';
  memcpy(p, footer, strlen(footer));
  p += strlen(footer);
  *p++ = '\n';
  return (size_t)(p - buf);
}

static int from_footer(const char *footer, fpq__tz **out) {
  uint8_t buf[512];
  char err[256];
  size_t len = build_tzif(buf, footer, 0, 0, 0);
  return fpq__tz_from_tzif("Test/Footer", buf, len, out, err, sizeof err);
}

static void test_civil(void **state) {
  (void)state;
  int64_t y;
  int m, d;
  assert_int_equal(fpq__days_from_civil(1970, 1, 1), 0);
  assert_int_equal(fpq__days_from_civil(2000, 3, 1), 11017);
  assert_int_equal(fpq__days_from_civil(1, 1, 1), -719162);
  for (int64_t days = -800000; days < 3000000; days += 37) {
    fpq__civil_from_days(days, &y, &m, &d);
    assert_int_equal(fpq__days_from_civil(y, m, d), days);
    assert_true(d >= 1 && d <= fpq__days_in_month(y, m));
  }
  assert_int_equal(fpq__weekday(0), 4);                                 /* Thursday */
  assert_int_equal(fpq__weekday(fpq__days_from_civil(2032, 2, 29)), 0); /* Sunday */
  assert_int_equal(fpq__weekday(-1), 3);
  assert_true(fpq__is_leap(2000) && !fpq__is_leap(2100) && fpq__is_leap(2024));
}

static void test_utc_builtin(void **state) {
  (void)state;
  const char *names[] = {NULL, "", "UTC", "Etc/UTC"};
  fpq__tz_transition tr;
  fpq__tz_local r;
  for (size_t i = 0; i < 4; i++) {
    fpq__tz *z = must_acquire(names[i]);
    assert_true(fpq__tz_is_utc(z));
    assert_string_equal(fpq__tz_name(z), "UTC");
    assert_int_equal(fpq__tz_offset(z, 1711846800, NULL), 0);
    assert_int_equal(fpq__tz_next_transition(z, 0, &tr), FPQ_ENOTFOUND);
    fpq__tz_resolve_local(z, 12345, &r);
    assert_int_equal(r.kind, FPQ__TZ_UNIQUE);
    assert_int_equal(r.first, 12345);
    fpq__tz_release(z);
  }
}

static void test_known_offsets(void **state) {
  (void)state;
  static const struct {
    const char *zone;
    int64_t t;
    int32_t off;
    int dst;
  } cases[] = {
      {"Europe/Berlin", 1705276800, 3600, 0},
      {"Europe/Berlin", 1721001600, 7200, 1},
      {"Europe/Berlin", 5681491200, 3600, 0},
      {"Europe/Berlin", 5697129600, 7200, 1},
      {"America/New_York", 1705276800, -18000, 0},
      {"America/New_York", 5697129600, -14400, 1},
      {"Australia/Sydney", 1705276800, 39600, 1},
      {"Australia/Sydney", 1721001600, 36000, 0},
      {"Australia/Sydney", 5681491200, 39600, 1},
      {"Australia/Sydney", 5697129600, 36000, 0},
      /* one second either side of Berlin's 2024 spring-forward */
      {"Europe/Berlin", 1711846799, 3600, 0},
      {"Europe/Berlin", 1711846800, 7200, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fpq__tz *z = must_acquire(cases[i].zone);
    int dst = -1;
    int32_t off = fpq__tz_offset(z, cases[i].t, &dst);
    if (off != cases[i].off || dst != cases[i].dst)
      fail_msg("%s at %lld: got %d/%d, want %d/%d", cases[i].zone, (long long)cases[i].t, off, dst,
               cases[i].off, cases[i].dst);
    fpq__tz_release(z);
  }
}

static void test_matches_glibc(void **state) {
  (void)state;
  /* 1901-2199: the table part and, after 2037, the footer rule. */
  for (size_t i = 0; i < N_ODD; i++) {
    fpq__tz *z = must_acquire(odd_zones[i]);
    uint64_t rnd = 0x9e3779b97f4a7c15u * (i + 1);
    for (int64_t t = -2145916800; t < INT64_C(7258118400); t += 86400 * 5 + 3607) {
      rnd = rnd * 6364136223846793005u + 1442695040888963407u;
      int64_t probe = t + (int64_t)(rnd >> 40) % 86400;
      int gdst, dst;
      long want = glibc_offset(odd_zones[i], probe, &gdst);
      int32_t got = fpq__tz_offset(z, probe, &dst);
      if (got != want || dst != gdst)
        fail_msg("%s at %lld: ours %d dst %d, glibc %ld dst %d", odd_zones[i], (long long)probe,
                 got, dst, want, gdst);
    }
    fpq__tz_release(z);
  }
}

static void test_transitions_match_glibc(void **state) {
  (void)state;
  fpq__tz_transition tr;
  for (size_t i = 0; i < N_ODD; i++) {
    fpq__tz *z = must_acquire(odd_zones[i]);
    int64_t from = 946684800, to = 2840140800; /* 2000-2060 */
    int64_t prev_at = from;
    int n = 0;
    while (fpq__tz_next_transition(z, prev_at, &tr) == 0 && tr.at < to) {
      assert_true(tr.at > prev_at);
      long before = glibc_offset(odd_zones[i], tr.at - 1, NULL);
      long after = glibc_offset(odd_zones[i], tr.at, NULL);
      if (before != tr.off_before || after != tr.off_after)
        fail_msg("%s transition at %lld: ours %d->%d, glibc %ld->%ld", odd_zones[i],
                 (long long)tr.at, tr.off_before, tr.off_after, before, after);
      /* no change of offset or DST flag is missed between transitions */
      for (int64_t t = prev_at + 6 * 3600; t < tr.at - 1; t += 6 * 3600)
        assert_int_equal(fpq__tz_offset(z, t, NULL), tr.off_before);
      prev_at = tr.at;
      n++;
    }
    fpq__tz_transition buf[4];
    size_t total = fpq__tz_transitions(z, from, to - 1, buf, 4);
    assert_int_equal(total, (size_t)n);
    fpq__tz_release(z);
  }
}

static void test_resolve_local(void **state) {
  (void)state;
  fpq__tz_local r;
  fpq__tz *berlin = must_acquire("Europe/Berlin");
  /* 2024-03-31 02:30 does not exist in Berlin: fire when the gap ends. */
  fpq__tz_resolve_local(berlin, 1711852200, &r);
  assert_int_equal(r.kind, FPQ__TZ_GAP);
  assert_int_equal(r.first, 1711846800);
  assert_int_equal(r.span_end, 1711846800 + 7200);
  /* 2024-10-27 02:30 happens twice: 00:30Z (CEST) and 01:30Z (CET). */
  fpq__tz_resolve_local(berlin, 1729996200, &r);
  assert_int_equal(r.kind, FPQ__TZ_AMBIGUOUS);
  assert_int_equal(r.first, 1729989000);
  assert_int_equal(r.second, 1729992600);
  assert_int_equal(r.span_end, 1729990800 + 7200);
  /* an ordinary time */
  fpq__tz_resolve_local(berlin, 1729996200 + 86400, &r);
  assert_int_equal(r.kind, FPQ__TZ_UNIQUE);
  assert_int_equal(r.first, 1729996200 + 86400 - 3600);
  /* far past the table: 2100-03-28 02:30 is in the footer rule's gap */
  fpq__tz_resolve_local(berlin, 4109878800 + 3600 + 1800, &r);
  assert_int_equal(r.kind, FPQ__TZ_GAP);
  assert_int_equal(r.first, 4109878800);
  fpq__tz_release(berlin);

  /* Every local time of a year round-trips through the rule in odd zones:
   * unique times map back to themselves, gaps to the instant they end. */
  for (size_t i = 0; i < N_ODD; i++) {
    fpq__tz *z = must_acquire(odd_zones[i]);
    for (int64_t local = 1704067200; local < 1735689600; local += 900) {
      fpq__tz_resolve_local(z, local, &r);
      int32_t off = fpq__tz_offset(z, r.first, NULL);
      switch (r.kind) {
        case FPQ__TZ_UNIQUE:
          assert_int_equal(r.first + off, local);
          break;
        case FPQ__TZ_AMBIGUOUS:
          assert_int_equal(r.first + off, local);
          assert_int_equal(r.second + fpq__tz_offset(z, r.second, NULL), local);
          assert_true(r.first < r.second && r.span_end > local);
          break;
        default:
          assert_true(r.first + off > local); /* the gap's end is later on the clock */
          assert_true(r.first - 1 + fpq__tz_offset(z, r.first - 1, NULL) < local);
          assert_int_equal(r.span_end, r.first + off);
      }
    }
    fpq__tz_release(z);
  }
}

static void test_posix_footers_match_glibc(void **state) {
  (void)state;
  static const char *const rules[] = {
      "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", /* Nuuk: negative rule time */
      "AEST-10AEDT,M10.1.0,M4.1.0/3",    /* southern hemisphere */
      "IST-2IDT,M3.4.4/26,M10.5.0",      /* rule time past 24 h */
      "<-04>4<-03>,M9.1.6/24,M4.1.6/24", /* Santiago */
      "XXX3YYY,J60/2,J300/2",            /* Julian, no Feb 29 */
      "XXX3YYY,59/2,299/2",              /* zero-based, counts Feb 29 */
      "<+0545>-5:45",                    /* no DST */
      "NZST-12NZDT,M9.5.0,M4.1.0/3",
      "GMT0IST,M10.5.0,M3.5.0/1", /* Dublin's negative DST spelled positive */
      "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
  };
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    fpq__tz *z = NULL;
    assert_int_equal(from_footer(rules[i], &z), 0);
    for (int64_t t = 0; t < INT64_C(4102444800); t += 86400 + 3599) {
      int gdst, dst;
      long want = glibc_offset(rules[i], t, &gdst);
      int32_t got = fpq__tz_offset(z, t, &dst);
      if (got != want || dst != gdst)
        fail_msg("'%s' at %lld: ours %d/%d, glibc %ld/%d", rules[i], (long long)t, got, dst, want,
                 gdst);
    }
    fpq__tz_release(z);
  }
}

static void test_all_year_dst(void **state) {
  (void)state;
  fpq__tz *z = NULL;
  fpq__tz_transition tr;
  assert_int_equal(from_footer("EST5EDT,0/0,J365/25", &z), 0);
  for (int64_t t = 0; t < INT64_C(4102444800); t += 86400 * 7 + 1) {
    int dst;
    assert_int_equal(fpq__tz_offset(z, t, &dst), -4 * 3600);
    assert_int_equal(dst, 1);
  }
  assert_int_equal(fpq__tz_next_transition(z, 0, &tr), FPQ_ENOTFOUND);
  fpq__tz_release(z);

  /* A DST zone without a rule falls back to the US rule. */
  assert_int_equal(from_footer("EST5EDT", &z), 0);
  assert_int_equal(fpq__tz_offset(z, 1721001600, NULL), -4 * 3600);
  assert_int_equal(fpq__tz_offset(z, 1705276800, NULL), -5 * 3600);
  fpq__tz_release(z);
}

static void test_bad_data(void **state) {
  (void)state;
  static const char *const bad_footers[] = {
      "ABC",
      "AB5",
      "EST5EDT,M13.1.0,M11.1.0",
      "EST5EDT,M3.2.0",
      "<A>5",
      "EST25",
      "EST5EDT,M3.2.0,M11.1.0,x",
      "EST5EDT,J0,J100",
      "EST5:60",
      "EST5EDT,M3.6.0,M11.1.0",
      "EST5:0000000000000000000000000000", /* found by fuzz_cron: overflowed */
  };
  fpq__tz *z = NULL;
  char err[256];
  for (size_t i = 0; i < sizeof bad_footers / sizeof bad_footers[0]; i++) {
    int rc = from_footer(bad_footers[i], &z);
    if (rc != FPQ_EINVAL) fail_msg("footer '%s' accepted (%d)", bad_footers[i], rc);
  }

  uint8_t buf[512];
  size_t len = build_tzif(buf, "UTC0", 0, 0, 1); /* leap seconds: refused */
  assert_int_equal(fpq__tz_from_tzif("right/UTC", buf, len, &z, err, sizeof err), FPQ_EINVAL);
  assert_non_null(strstr(err, "leap-second"));
  len = build_tzif(buf, "UTC0", 0, 0, 0);
  buf[0] = 'X';
  assert_int_equal(fpq__tz_from_tzif("bad", buf, len, &z, err, sizeof err), FPQ_EINVAL);

  /* Every truncation of a real zone file is refused without a crash. */
  FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
  assert_non_null(f);
  uint8_t file[8192];
  size_t flen = fread(file, 1, sizeof file, f);
  fclose(f);
  assert_int_equal(fpq__tz_from_tzif("Europe/Berlin", file, flen, &z, err, sizeof err), 0);
  fpq__tz_release(z);
  for (size_t cut = 0; cut < flen; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, file, cut);
    assert_int_not_equal(fpq__tz_from_tzif("cut", copy, cut, &z, err, sizeof err), 0);
    free(copy);
  }
}

static void test_names(void **state) {
  (void)state;
  static const struct {
    const char *name, *msg;
  } bad[] = {
      {"../etc/passwd", "invalid name"},  {"/etc/localtime", "invalid name"},
      {"Europe//Berlin", "invalid name"}, {"Europe/", "invalid name"},
      {"Europe/.Berlin", "invalid name"}, {"Europe/Ber lin", "invalid name"},
      {"Mars/Base", "unknown"},           {"America", "unknown"},
      {"europe/berlin", "unknown"},
  };
  fpq__tz *z;
  char err[256];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    z = (fpq__tz *)1;
    assert_int_equal(fpq__tz_acquire(bad[i].name, &z, err, sizeof err), FPQ_EINVAL);
    if (!strstr(err, bad[i].msg) || !strstr(err, "time zone '"))
      fail_msg("'%s': message '%s' lacks '%s'", bad[i].name, err, bad[i].msg);
  }
}

static void test_tzdir(void **state) {
  (void)state;
  char dir[] = "/tmp/fpq_tz_XXXXXX", path[256];
  uint8_t buf[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/Test_Zone", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  size_t len = build_tzif(buf, "<+0530>-5:30", 19800, 0, 0);
  assert_int_equal(fwrite(buf, 1, len, f), len);
  fclose(f);
  setenv("TZDIR", dir, 1);
  fpq__tz *z = must_acquire("Test_Zone");
  assert_int_equal(fpq__tz_offset(z, 0, NULL), 19800);
  fpq__tz_release(z);
  unsetenv("TZDIR");
  fpq__tz_cache_clear(); /* drop Test_Zone so later lookups see the real dir */
  unlink(path);
  rmdir(dir);
}

static void test_cache(void **state) {
  (void)state;
  /* Same name, same zone object while cached. */
  fpq__tz *a = must_acquire("Europe/Berlin"), *b = must_acquire("Europe/Berlin");
  assert_ptr_equal(a, b);
  fpq__tz_release(a);
  fpq__tz_release(b);

  /* More zones held at once than the cache has slots: the extras work and
   * are freed by their last release (LeakSanitizer checks). */
  static const char *const many[] = {
      "Africa/Abidjan",    "Africa/Cairo",      "Africa/Lagos",        "Africa/Nairobi",
      "America/Anchorage", "America/Bogota",    "America/Chicago",     "America/Denver",
      "America/Halifax",   "America/Lima",      "America/Mexico_City", "America/Phoenix",
      "America/Toronto",   "America/Vancouver", "Asia/Baghdad",        "Asia/Bangkok",
      "Asia/Dhaka",        "Asia/Dubai",        "Asia/Hong_Kong",      "Asia/Jakarta",
      "Asia/Karachi",      "Asia/Manila",       "Asia/Seoul",          "Asia/Shanghai",
      "Asia/Singapore",    "Asia/Taipei",       "Atlantic/Azores",     "Atlantic/Reykjavik",
      "Europe/Athens",     "Europe/Helsinki",   "Europe/Istanbul",     "Europe/Lisbon",
      "Europe/Madrid",     "Europe/Paris",      "Europe/Rome",         "Europe/Warsaw",
      "Pacific/Fiji",      "Pacific/Guam",      "Pacific/Honolulu",    "Pacific/Tongatapu",
  };
  enum { MANY = sizeof many / sizeof many[0] };
  fpq__tz *held[MANY];
  for (size_t i = 0; i < MANY; i++) {
    held[i] = must_acquire(many[i]);
    assert_int_equal(fpq__tz_offset(held[i], 0, NULL), (int32_t)glibc_offset(many[i], 0, NULL));
  }
  for (size_t i = 0; i < MANY; i++)
    fpq__tz_release(held[i]);
  for (size_t i = 0; i < MANY; i++) { /* now evicting unreferenced entries */
    fpq__tz *z = must_acquire(many[MANY - 1 - i]);
    fpq__tz_release(z);
  }
  fpq__tz_cache_clear();
}

struct thread_arg {
  int64_t expect[4][64];
  int failures;
};

static const char *const thread_zones[4] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                                            "Asia/Kathmandu"};

static void *thread_main(void *p) {
  struct thread_arg *arg = p;
  char err[256];
  for (int iter = 0; iter < 300; iter++) {
    int zi = iter % 4;
    fpq__tz *z;
    if (fpq__tz_acquire(thread_zones[zi], &z, err, sizeof err) != 0) {
      arg->failures++;
      continue;
    }
    for (int k = 0; k < 64; k++)
      if (fpq__tz_offset(z, INT64_C(1600000000) + k * INT64_C(7776000), NULL) != arg->expect[zi][k])
        arg->failures++;
    fpq__tz_release(z);
    if (iter % 50 == 0) fpq__tz_cache_clear();
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  struct thread_arg args[4];
  pthread_t th[4];
  for (int zi = 0; zi < 4; zi++)
    for (int k = 0; k < 64; k++)
      args[0].expect[zi][k] =
          glibc_offset(thread_zones[zi], INT64_C(1600000000) + k * INT64_C(7776000), NULL);
  for (int i = 0; i < 4; i++) {
    memcpy(args[i].expect, args[0].expect, sizeof args[0].expect);
    args[i].failures = 0;
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(args[i].failures, 0);
  }
}

static int teardown_all(void **state) {
  (void)state;
  fpq__tz_cache_clear();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_civil),
      cmocka_unit_test(test_utc_builtin),
      cmocka_unit_test(test_known_offsets),
      cmocka_unit_test(test_matches_glibc),
      cmocka_unit_test(test_transitions_match_glibc),
      cmocka_unit_test(test_resolve_local),
      cmocka_unit_test(test_posix_footers_match_glibc),
      cmocka_unit_test(test_all_year_dst),
      cmocka_unit_test(test_bad_data),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_tzdir),
      cmocka_unit_test(test_cache),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, teardown_all);
}
