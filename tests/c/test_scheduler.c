/* test_scheduler.c: the scheduler on a fake clock (fpq__set_schedule_clock) over the
 * SQLite backend: fire times become jobs exactly once, misfire grace, coalescing,
 * pause/resume, one-shots and intervals, the leader lease and failover, and a version-1
 * backend refusing schedules. Nothing sleeps: the clock is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "fpq.h"
#include "queue_handle.h"
#include "schedule.h"
#include "scheduler.h"
#include "testutil.h"

static const char *const pipelines[] = {"alpha", "beta", NULL};

static double clock_now;
static double fake_clock(void) { return clock_now; }

#define T0 1711800000 /* 2024-03-30T12:00:00Z: a whole hour */

typedef struct fixture {
  char *project;
  fpq_queue *q;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->project = test_project(pipelines);
  fpq_options o = {.project_dir = f->project, .create = 1};
  if (fpq_open(&f->q, &o)) fail_msg("open: %s", fpq_errmsg(f->q));
  fpq__set_schedule_clock(fake_clock);
  clock_now = T0;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  fpq__set_schedule_clock(NULL);
  fpq_close(f->q);
  test_rmdir(f->project);
  free(f);
  return 0;
}

static fpq__scheduler *scheduler(fixture *f, const char *name) {
  fpq_scheduler_options o = {.open = {.project_dir = f->project}, .name = name, .quiet = 1};
  char err[256];
  fpq__scheduler *s = fpq__scheduler_new(&o, err, sizeof err, NULL);
  if (s == NULL) fail_msg("scheduler: %s", err);
  return s;
}

static void add(fixture *f, const char *id, const char *trigger, int coalesce, double grace) {
  fpq_schedule *s = fpq_schedule_new();
  snprintf(s->id, sizeof s->id, "%s", id);
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->trigger, trigger);
  fpq_job_set(&s->run_json, "{\"inputs\":{\"x\":7}}");
  s->coalesce = coalesce;
  s->misfire_grace = grace;
  s->priority = FPQ_PRIORITY_LOW;
  if (fpq_schedule_put(f->q, s)) fail_msg("put %s: %s", id, fpq_errmsg(f->q));
  fpq_schedule_free(s);
}

static fpq__scheduler_stats tick(fpq__scheduler *s) {
  fpq__scheduler_stats st;
  int rc = fpq__scheduler_tick(s, &st);
  if (rc) fail_msg("tick: %s", fpq_err_name(rc));
  return st;
}

/* The jobs in the project, and whether one has the id of (schedule, fire). */
static size_t job_count(fixture *f) {
  fpq_job **jobs = NULL;
  size_t n = 0;
  if (fpq_find(f->q, NULL, NULL, 100000, &jobs, &n)) fail_msg("find: %s", fpq_errmsg(f->q));
  fpq_jobs_free(jobs, n);
  return n;
}

static int has_fire(fixture *f, const char *schedule, int64_t fire) {
  char id[FPQ_ID_MAX + 1];
  fpq_schedule_job_id(schedule, fire, id);
  fpq_job *job = NULL;
  int rc = fpq_get(f->q, id, &job);
  fpq_job_free(job);
  return rc == 0;
}

static fpq_schedule *get(fixture *f, const char *id) {
  fpq_schedule *s = NULL;
  if (fpq_schedule_get(f->q, id, &s)) fail_msg("get %s: %s", id, fpq_errmsg(f->q));
  return s;
}

/* ---- tests ---- */

static void each_fire_time_becomes_one_job(void **state) {
  fixture *f = *state;
  add(f, "five", "*/5 * * * *", 1, 0);
  fpq__scheduler *s = scheduler(f, "s1");
  clock_now = T0 + 299.9;
  assert_int_equal(tick(s).enqueued, 0);
  clock_now = T0 + 300;
  fpq__scheduler_stats st = tick(s);
  assert_true(st.leader);
  assert_int_equal(st.enqueued, 1);
  assert_int_equal(tick(s).enqueued, 0); /* the same instant again: nothing new */
  clock_now = T0 + 900.5;
  st = tick(s); /* two fires passed (600, 900): coalesced into the latest */
  assert_int_equal(st.enqueued, 1);
  assert_int_equal(st.skipped, 1);
  assert_true(has_fire(f, "five", T0 + 300));
  assert_true(has_fire(f, "five", T0 + 900));
  assert_false(has_fire(f, "five", T0 + 600));
  assert_int_equal(job_count(f), 2);
  fpq_job *job = NULL;
  char id[FPQ_ID_MAX + 1];
  fpq_schedule_job_id("five", T0 + 300, id);
  assert_string_equal(id, "sched-five-1711800300");
  assert_int_equal(fpq_get(f->q, id, &job), 0);
  assert_string_equal(job->pipeline, "alpha");
  assert_string_equal(job->run_json, "{\"inputs\":{\"x\":7}}");
  assert_int_equal(job->priority, FPQ_PRIORITY_LOW);
  fpq_job_free(job);
  fpq_schedule *sch = get(f, "five");
  assert_int_equal(sch->fired, 2);
  assert_int_equal(sch->skipped, 1);
  assert_int_equal(sch->last_fire, T0 + 900);
  assert_int_equal(sch->next_fire, T0 + 1200);
  fpq_schedule_free(sch);
  fpq__scheduler_free(s);
}

static void without_coalescing_every_missed_fire_runs(void **state) {
  fixture *f = *state;
  add(f, "minutely", "* * * * *", 0, 0);
  fpq__scheduler *s = scheduler(f, "s1");
  clock_now = T0 + 600.5; /* ten fires missed */
  fpq__scheduler_stats st = tick(s);
  assert_int_equal(st.enqueued, 10);
  assert_int_equal(st.skipped, 0);
  for (int i = 1; i <= 10; i++) assert_true(has_fire(f, "minutely", T0 + 60 * i));
  fpq__scheduler_free(s);
}

static void fires_later_than_the_grace_are_skipped_and_counted(void **state) {
  fixture *f = *state;
  add(f, "graced", "* * * * *", 0, 60);
  add(f, "graced-coalesced", "* * * * *", 1, 60);
  add(f, "too-late", "0 * * * *", 1, 60);
  fpq__scheduler *s = scheduler(f, "s1");
  clock_now = T0 + 600.5;
  fpq__scheduler_stats st = tick(s);
  /* graced: 60..540 are more than 60 s late, 600 is not. graced-coalesced: the nine
   * earlier fires coalesce into 600, which runs. too-late: not due yet. */
  assert_int_equal(st.enqueued, 2);
  assert_int_equal(st.skipped, 9 + 9);
  assert_true(has_fire(f, "graced", T0 + 600));
  assert_false(has_fire(f, "graced", T0 + 540));
  assert_true(has_fire(f, "graced-coalesced", T0 + 600));
  fpq_schedule *sch = get(f, "graced");
  assert_int_equal(sch->fired, 1);
  assert_int_equal(sch->skipped, 9);
  fpq_schedule_free(sch);
  /* The hourly fire at T0 + 3600, seen 2 minutes late: skipped, even coalesced. */
  clock_now = T0 + 3600 + 120;
  st = tick(s);
  assert_false(has_fire(f, "too-late", T0 + 3600));
  sch = get(f, "too-late");
  assert_int_equal(sch->fired, 0);
  assert_int_equal(sch->skipped, 1);
  assert_int_equal(sch->next_fire, T0 + 7200);
  fpq_schedule_free(sch);
  fpq__scheduler_free(s);
}

static void a_long_downtime_is_caught_up_in_bounded_ticks(void **state) {
  fixture *f = *state;
  add(f, "every-second", "every 1s", 1, 0);
  /* One job per tick may walk past 100 fires that make none. */
  fpq_scheduler_options o = {.open = {.project_dir = f->project}, .name = "s1", .quiet = 1,
                              .max_fires = 1};
  char err[256];
  fpq__scheduler *s = fpq__scheduler_new(&o, err, sizeof err, NULL);
  assert_non_null(s);
  /* 450 fires missed. The default lease (10 s) and tick (1 s) make the catch-up window
   * 11 s: the 438 fires older than that were missed in downtime and are coalesced (at most
   * 100 walked per tick), the 12 inside it each become a job (one per tick here). */
  clock_now = T0 + 450;
  int64_t enqueued = 0, skipped = 0, ticks = 0;
  for (;;) {
    fpq__scheduler_stats st = tick(s);
    assert_true(st.skipped <= 100);
    assert_true(st.enqueued <= 1);
    if (st.enqueued == 0 && st.skipped == 0) break;
    enqueued += st.enqueued;
    skipped += st.skipped;
    ticks++;
    assert_true(ticks < 50);
  }
  assert_int_equal(ticks, 4 + 12);
  assert_int_equal(enqueued, 12);
  assert_int_equal(skipped, 438);
  for (int64_t fire = T0 + 439; fire <= T0 + 450; fire++) assert_true(has_fire(f, "every-second", fire));
  assert_false(has_fire(f, "every-second", T0 + 438));
  fpq__scheduler_free(s);
}

/* A healthy leader whose ticks drift (1.09 s apart, as `now + tick` scheduling made them:
 * now and then two fires are due in one tick) and a new leader taking over (9.8 s
 * behind, inside lease + tick) enqueue every fire, coalescing or not: coalescing merges
 * only fires missed in downtime. */
static void late_ticks_and_takeovers_merge_no_fires(void **state) {
  fixture *f = *state;
  add(f, "per-second", "* * * * * *", 1, 0);
  fpq_scheduler_options o = {.open = {.project_dir = f->project}, .name = "s1", .quiet = 1};
  char err[256];
  fpq__scheduler *s = fpq__scheduler_new(&o, err, sizeof err, NULL);
  assert_non_null(s);
  int64_t enqueued = 0;
  for (int i = 1; i <= 30; i++) {
    clock_now = T0 + 1.09 * i;
    enqueued += tick(s).enqueued;
  }
  clock_now = T0 + 42.5; /* a takeover, 9.8 s after the last tick */
  enqueued += tick(s).enqueued;
  assert_int_equal(enqueued, 42);
  for (int64_t fire = T0 + 1; fire <= T0 + 42; fire++) assert_true(has_fire(f, "per-second", fire));
  fpq_schedule *sch = get(f, "per-second");
  assert_int_equal(sch->skipped, 0);
  assert_int_equal(sch->fired, 42);
  fpq_schedule_free(sch);
  fpq__scheduler_free(s);
}

static void two_leaders_cannot_enqueue_one_fire_twice(void **state) {
  fixture *f = *state;
  add(f, "five", "*/5 * * * *", 0, 0);
  fpq__scheduler *a = scheduler(f, "a"), *b = scheduler(f, "b");
  clock_now = T0 + 900;
  /* Both act as leader at the same instant (a lease bypassed, as after a long pause). */
  fpq__scheduler_stats sa, sb;
  assert_int_equal(fpq__scheduler_fire_due(a, clock_now, &sa), 0);
  assert_int_equal(fpq__scheduler_fire_due(b, clock_now, &sb), 0);
  assert_int_equal(sa.enqueued + sb.enqueued, 3);
  assert_int_equal(job_count(f), 3);
  /* Now make b believe it is behind: it reads the schedule before a moves it on. */
  clock_now = T0 + 1200;
  fpq_schedule *stale = get(f, "five");
  assert_int_equal(fpq__scheduler_fire_due(a, clock_now, &sa), 0);
  assert_int_equal(sa.enqueued, 1);
  /* b, with the stale record, enqueues through the API: the fire's id is taken. */
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  fpq_schedule_job_id("five", stale->next_fire, job->id);
  assert_int_equal(fpq_enqueue(f->q, job), FPQ_EEXIST);
  fpq_job_free(job);
  fpq_schedule_advance_args adv = {.id = "five", .expect_next = stale->next_fire,
                                   .next_fire = stale->next_fire + 300,
                                   .last_fire = stale->next_fire, .fired = 1};
  /* ... and its move-on loses the compare-and-set: the fire is counted once. */
  assert_int_equal(fpq__backend_schedule_advance(f->q->b, &adv), FPQ_ESTATE);
  fpq_schedule *now_ = get(f, "five");
  assert_int_equal(now_->fired, 4);
  fpq_schedule_free(now_);
  /* Even a schedule rolled back to the stale state (b writing what it read) cannot make
   * b enqueue the fire a already enqueued: the job id is taken. */
  assert_int_equal(fpq__backend_schedule_put(f->q->b, stale), 0);
  assert_int_equal(fpq__scheduler_fire_due(b, clock_now, &sb), 0);
  assert_int_equal(sb.enqueued, 0);
  assert_int_equal(sb.duplicates, 1);
  assert_int_equal(job_count(f), 4);
  fpq_schedule_free(stale);
  fpq__scheduler_free(a);
  fpq__scheduler_free(b);
}

static void only_the_leader_fires_and_a_dead_leader_is_replaced(void **state) {
  fixture *f = *state;
  add(f, "minutely", "* * * * *", 0, 0);
  fpq__scheduler *a = scheduler(f, "a"), *b = scheduler(f, "b");
  clock_now = T0 + 60;
  assert_true(tick(a).leader);
  fpq__scheduler_stats st = tick(b);
  assert_false(st.leader);
  assert_int_equal(st.enqueued, 0);
  assert_int_equal(fpq__scheduler_totals(a)->enqueued, 1);
  /* a stops ticking (dies) right after renewing at T0 + 60: its lease lasts 10 s. */
  clock_now = T0 + 69.9;
  assert_false(tick(b).leader);
  clock_now = T0 + 70;
  st = tick(b);
  assert_true(st.leader); /* within lease_ttl + one tick of a's last renewal */
  clock_now = T0 + 120;
  st = tick(b);
  assert_int_equal(st.enqueued, 1);
  /* a comes back: it is a follower now. */
  assert_false(tick(a).leader);
  assert_int_equal(job_count(f), 2);
  fpq__scheduler_free(a);
  fpq__scheduler_free(b);
}

static void a_clean_stop_hands_the_lease_over_at_once(void **state) {
  fixture *f = *state;
  fpq__scheduler *a = scheduler(f, "a"), *b = scheduler(f, "b");
  assert_true(tick(a).leader);
  assert_false(tick(b).leader);
  fpq__scheduler_free(a); /* gives the lease up */
  assert_true(tick(b).leader);
  fpq__scheduler_free(b);
}

static void a_paused_schedule_does_not_fire_and_resumes_from_now(void **state) {
  fixture *f = *state;
  add(f, "five", "*/5 * * * *", 0, 0);
  fpq__scheduler *s = scheduler(f, "s1");
  assert_int_equal(fpq_schedule_pause(f->q, "five"), 0);
  clock_now = T0 + 3600;
  assert_int_equal(tick(s).enqueued, 0);
  clock_now = T0 + 3601;
  assert_int_equal(fpq_schedule_resume(f->q, "five"), 0);
  assert_int_equal(tick(s).enqueued, 0); /* the twelve fires while paused are not made up */
  clock_now = T0 + 3900;
  assert_int_equal(tick(s).enqueued, 1);
  assert_true(has_fire(f, "five", T0 + 3900));
  assert_int_equal(job_count(f), 1);
  fpq__scheduler_free(s);
}

static void a_one_shot_fires_once_and_an_interval_keeps_its_phase(void **state) {
  fixture *f = *state;
  add(f, "once", "at 2024-03-30T12:30:00Z", 1, 0);
  clock_now = T0 + 7; /* the interval's phase: its creation */
  add(f, "every7m", "every 7m", 0, 0);
  fpq__scheduler *s = scheduler(f, "s1");
  clock_now = T0 + 3600;
  fpq__scheduler_stats st = tick(s);
  assert_int_equal(st.enqueued, 1 + 8); /* 12:30, and 8 intervals of 420 s */
  assert_true(has_fire(f, "once", T0 + 1800));
  assert_true(has_fire(f, "every7m", T0 + 7 + 420));
  assert_true(has_fire(f, "every7m", T0 + 7 + 8 * 420));
  fpq_schedule *sch = get(f, "once");
  assert_int_equal(sch->next_fire, 0);
  fpq_schedule_free(sch);
  clock_now = T0 + 86400;
  st = tick(s);
  assert_false(has_fire(f, "once", T0 + 1800 + 86400)); /* once is once */
  fpq__scheduler_free(s);
}

static void a_fire_whose_pipeline_is_gone_is_skipped(void **state) {
  fixture *f = *state;
  fpq_schedule *sch = fpq_schedule_new();
  snprintf(sch->id, sizeof sch->id, "orphan");
  fpq_job_set(&sch->pipeline, "beta");
  fpq_job_set(&sch->trigger, "* * * * *");
  assert_int_equal(fpq_schedule_put(f->q, sch), 0);
  fpq_schedule_free(sch);
  char path[4096];
  snprintf(path, sizeof path, "%s/pipelines/beta.py", f->project);
  assert_int_equal(remove(path), 0);
  fpq__scheduler *s = scheduler(f, "s1");
  clock_now = T0 + 60;
  fpq__scheduler_stats st = tick(s);
  assert_int_equal(st.enqueued, 0);
  assert_int_equal(st.errors, 1);
  sch = get(f, "orphan");
  assert_int_equal(sch->skipped, 1);
  assert_int_equal(sch->next_fire, T0 + 120); /* moved on: it does not block the tick */
  fpq_schedule_free(sch);
  fpq__scheduler_free(s);
}

/* A plugin written against version 1 has no schedule methods: calls answer ENOTSUP,
 * and nothing reads past the end of its shorter methods struct. */
typedef struct v1_methods {
  int version;
  const char *name;
  size_t handle_size;
  int (*open)(fpq_backend *b, const char *url, const fpq_backend_settings *s);
  void (*close)(fpq_backend *b);
} v1_methods;

static int v1_open(fpq_backend *b, const char *url, const fpq_backend_settings *s) {
  (void)b, (void)url, (void)s;
  return 0;
}
static void v1_close(fpq_backend *b) { (void)b; }
static const v1_methods v1 = {.version = 1, .name = "v1only", .handle_size = sizeof(fpq_backend),
                              .open = v1_open, .close = v1_close};

static void a_version_1_backend_does_not_support_schedules(void **state) {
  (void)state;
  /* The registry reads a version-1 plugin only up to its version's last method. */
  assert_int_equal(fpq__backend_add((const struct fpq_backend_methods *)(const void *)&v1), 0);
  fpq_backend *b = NULL;
  fpq_backend_settings set = {.project_dir = "/"};
  assert_int_equal(fpq__backend_open((const struct fpq_backend_methods *)(const void *)&v1,
                                     "v1only://", &set, &b), 0);
  fpq_schedule **list = NULL;
  size_t n = 0;
  assert_int_equal(fpq__backend_schedule_list(b, NULL, 0, 0, &list, &n), FPQ_ENOTSUP);
  assert_contains(b->errstr, "version 1");
  char holder[32];
  assert_int_equal(fpq__backend_lease_acquire(b, "scheduler", "me", 1, 10, holder, sizeof holder),
                   FPQ_ENOTSUP);
  fpq__backend_close(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(each_fire_time_becomes_one_job, setup, teardown),
      cmocka_unit_test_setup_teardown(without_coalescing_every_missed_fire_runs, setup, teardown),
      cmocka_unit_test_setup_teardown(fires_later_than_the_grace_are_skipped_and_counted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(late_ticks_and_takeovers_merge_no_fires, setup, teardown),
      cmocka_unit_test_setup_teardown(a_long_downtime_is_caught_up_in_bounded_ticks, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(two_leaders_cannot_enqueue_one_fire_twice, setup, teardown),
      cmocka_unit_test_setup_teardown(only_the_leader_fires_and_a_dead_leader_is_replaced, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_clean_stop_hands_the_lease_over_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(a_paused_schedule_does_not_fire_and_resumes_from_now, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_one_shot_fires_once_and_an_interval_keeps_its_phase,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_fire_whose_pipeline_is_gone_is_skipped, setup, teardown),
      cmocka_unit_test(a_version_1_backend_does_not_support_schedules),
  };
  return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
