/* scheduler.c: turns due schedules into jobs, exactly once per fire time, however many
 * schedulers run.
 *
 * Two mechanisms, one for efficiency and one for correctness:
 * - A leader lease in the backend (lease_acquire, FPQ__SCHEDULER_LEASE): each tick a
 *   scheduler renews it or, when it has expired, takes it; only the holder fires. A dead
 *   leader's lease runs out after lease_ttl, and the next tick of any other scheduler
 *   takes it: failover within lease_ttl + tick (11 s by default). A leader that stops
 *   cleanly gives the lease up, so the next tick anywhere takes over.
 * - Idempotent fires. The job of a fire has the id "sched-<schedule>-<fire epoch>" and
 *   enqueue refuses a taken id atomically in every backend, so even two schedulers that
 *   both believe they lead (a paused process waking up after its lease passed to another)
 *   cannot enqueue one fire twice. After its fires, a schedule is moved on with a
 *   compare-and-set on next_fire, so a fire is only ever handled by whoever read it, and
 *   a scheduler that dies between enqueue and move-on leaves a fire the next leader
 *   finds already enqueued (counted as fired, not enqueued again).
 *
 * Late fires: a fire handled more than misfire_grace seconds after its time is skipped
 * and counted (0 = no limit). After downtime, a coalescing schedule runs once for all the
 * fires it missed (the latest one, if it is within the grace) and counts the rest as
 * skipped; otherwise every missed fire becomes a job, up to max_fires per tick.
 *
 * Time is fpq__schedule_now(), which tests replace to run a simulated day in seconds. */
#include "scheduler.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "log_line.h"
#include "config.h"
#include "queue.h"
#include "schedule.h"

#define DUE_BATCH 500 /* schedules read per tick; more wait for the next tick */
/* Fires that become no job (coalesced, too late) cost only a trigger step, so a tick may
 * pass this many times more of them than max_fires: a week-long outage of a per-second
 * schedule is caught up in a few ticks. */
#define WALK_PER_JOB 100

struct fpq__scheduler {
  fpq_scheduler_options opt;
  fpq_queue *q;
  char name[128];
  /* The leader lease's name: FPQ__SCHEDULER_LEASE, or "scheduler.<project>" when queues
   * are namespaced (issue 12): projects sharing a database each fire their own
   * schedules, so each needs its own leader. */
  char lease[FPQ_PROJECT_NAME_MAX + 16];
  double leased_at; /* scheduler clock: when the lease was last renewed */
  fpq__scheduler_stats totals;
  char complaint[400]; /* the last backend problem logged: said once, not every tick */
};

static void slog(const fpq__scheduler *s, int important, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(const fpq__scheduler *s, int important, const char *fmt, ...) {
  if (s->opt.quiet && !important) return;
  va_list ap;
  va_start(ap, fmt);
  fpq__log_line("scheduler", s->name, fmt, ap);
  va_end(ap);
}

/* Logs a backend problem once, until it changes or the backend answers again. */
static void complain(fpq__scheduler *s, const char *what) {
  char line[sizeof s->complaint];
  snprintf(line, sizeof line, "%.100s: %.256s", what, fpq_errmsg(s->q));
  if (strcmp(line, s->complaint) == 0) return;
  snprintf(s->complaint, sizeof s->complaint, "%s", line);
  slog(s, 1, "%s (trying again each tick)", line);
}

static int exit_code_of(int rc) {
  return rc == FPQ_EUNAVAIL || rc == FPQ_EIO ? 3 : (rc == FPQ_EINVAL || rc == FPQ_ECONFIG) ? 2 : 1;
}

/* The options every caller gets checked the same (fpq scheduler, worker
 * --with-scheduler, the Python API's run_scheduler): 0, or 1 with the reason in err. */
static int bad_options(const fpq_scheduler_options *o, char *err, size_t errlen) {
  double tick = o->tick > 0 ? o->tick : FPQ_SCHEDULER_TICK;
  double ttl = o->lease_ttl > 0 ? o->lease_ttl : FPQ_SCHEDULER_LEASE_TTL;
  if (o->tick < 0 || (o->tick > 0 && o->tick < 0.01) || o->tick != o->tick) {
    snprintf(err, errlen, "--tick %gs is too short: expected at least 10ms", o->tick);
    return 1;
  }
  if (o->lease_ttl < 0 || o->lease_ttl != o->lease_ttl || ttl < 2 * tick) {
    snprintf(err, errlen, "--lease-ttl %gs must be at least two ticks (%gs): the leader "
             "renews its lease once a tick", ttl, 2 * tick);
    return 1;
  }
  if (o->name && (strlen(o->name) > 100 || !o->name[0] ||
                  strspn(o->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789_.-") != strlen(o->name))) {
    snprintf(err, errlen, "--name '%.100s%s' is not valid: use 1-100 of letters, digits, "
             "'_', '-' and '.'", o->name, strlen(o->name) > 100 ? "..." : "");
    return 1;
  }
  return 0;
}

fpq__scheduler *fpq__scheduler_new(const fpq_scheduler_options *o, char *err, size_t errlen,
                                   int *code) {
  if (bad_options(o, err, errlen)) {
    if (code) *code = 2;
    return NULL;
  }
  fpq__scheduler *s = fpq__calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    if (code) *code = 1;
    return NULL;
  }
  s->opt = *o;
  if (!(s->opt.tick > 0)) s->opt.tick = FPQ_SCHEDULER_TICK;
  if (!(s->opt.lease_ttl > 0)) s->opt.lease_ttl = FPQ_SCHEDULER_LEASE_TTL;
  if (s->opt.max_fires <= 0) s->opt.max_fires = 1000;
  if (o->name) {
    snprintf(s->name, sizeof s->name, "%s", o->name);
  } else {
    char host[100] = "";
    gethostname(host, sizeof host - 1);
    snprintf(s->name, sizeof s->name, "%s.%d", host, (int)getpid());
  }
  s->opt.name = NULL; /* borrowed: do not keep */
  snprintf(s->lease, sizeof s->lease, "%s", FPQ__SCHEDULER_LEASE);
  fpq_options open = o->open;
  open.create = 1;
  int rc = fpq_open(&s->q, &open);
  if (rc) {
    snprintf(err, errlen, "%s", fpq_errmsg(s->q));
    if (code) *code = exit_code_of(rc);
    fpq_close(s->q);
    fpq__free(s);
    return NULL;
  }
  if (strcmp(fpq_queue_for(s->q, FPQ_PRIORITY_MEDIUM), fpq_priority_queue(FPQ_PRIORITY_MEDIUM)))
    snprintf(s->lease, sizeof s->lease, "%s.%s", FPQ__SCHEDULER_LEASE, fpq_project_name(s->q));
  return s;
}

void fpq__scheduler_resign(fpq__scheduler *s) {
  if (s == NULL || !s->totals.leader) return;
  s->totals.leader = 0;
  if (fpq__lease_release(s->q, s->lease, s->name) == 0)
    slog(s, 1, "gave up the leader lease");
}

void fpq__scheduler_free(fpq__scheduler *s) {
  if (s == NULL) return;
  fpq__scheduler_resign(s);
  fpq_close(s->q);
  fpq__free(s);
}

const fpq__scheduler_stats *fpq__scheduler_totals(const fpq__scheduler *s) { return &s->totals; }

/* Takes or renews the lease. 1 when we lead, 0 when another does, < 0 on error. */
static int lead(fpq__scheduler *s, double now) {
  char holder[128];
  int rc = fpq__lease_acquire(s->q, s->lease, s->name, now, s->opt.lease_ttl,
                              holder, sizeof holder);
  int was = s->totals.leader;
  if (rc != FPQ_EUNAVAIL && rc != FPQ_EIO && rc != FPQ_EBACKEND) s->complaint[0] = '\0';
  if (rc == 0) {
    s->leased_at = now;
    s->totals.leader = 1;
    if (!was) slog(s, 1, "leading: firing schedules (lease %g s)", s->opt.lease_ttl);
    return 1;
  }
  s->totals.leader = 0;
  if (rc == FPQ_ELEASE) {
    if (was) slog(s, 1, "no longer leading: '%s' holds the lease", holder);
    return 0;
  }
  complain(s, "cannot take the leader lease");
  return rc;
}

/* Enqueues the job of one fire. */
static int enqueue_fire(fpq__scheduler *s, const fpq_schedule *sch, int64_t fire) {
  fpq_job *job = fpq_job_new();
  if (job == NULL) return FPQ_ENOMEM;
  int rc = FPQ_ENOMEM;
  if (fpq_job_set(&job->pipeline, sch->pipeline) == 0 &&
      fpq_job_set(&job->project, sch->project) == 0 &&
      fpq_job_set(&job->run_json, sch->run_json ? sch->run_json : "{}") == 0) {
    job->priority = sch->priority;
    job->max_retries = sch->max_retries;
    job->retry_delay = sch->retry_delay;
    job->jitter_factor = sch->jitter_factor;
    job->timeout = sch->timeout;
    fpq_schedule_job_id(sch->id, fire, job->id);
    rc = fpq_enqueue(s->q, job);
  }
  fpq_job_free(job);
  return rc;
}

static int transient(int rc) {
  return rc == FPQ_EUNAVAIL || rc == FPQ_EIO || rc == FPQ_EBACKEND || rc == FPQ_ENOMEM;
}

/* Handles one fire: a job, a refused duplicate, or a skip. Returns 0, or a transient
 * error (the fire stays pending for the next tick). */
static int handle_fire(fpq__scheduler *s, const fpq_schedule *sch, int64_t fire, double now,
                       fpq__scheduler_stats *st, int64_t *fired, int64_t *skipped) {
  if (sch->misfire_grace > 0 && now - (double)fire > sch->misfire_grace) {
    slog(s, 0, "schedule %s: skipped the fire of %lld, %.0f s late (misfire grace %g s)",
         sch->id, (long long)fire, now - (double)fire, sch->misfire_grace);
    (*skipped)++;
    st->skipped++;
    return 0;
  }
  int rc = enqueue_fire(s, sch, fire);
  if (rc == 0) {
    char id[FPQ_ID_MAX + 1];
    fpq_schedule_job_id(sch->id, fire, id);
    slog(s, 0, "schedule %s fired: job %s (%s)", sch->id, id, sch->pipeline);
    (*fired)++;
    st->enqueued++;
  } else if (rc == FPQ_EEXIST) { /* another scheduler enqueued this fire already */
    (*fired)++;
    st->duplicates++;
  } else if (transient(rc)) {
    slog(s, 1, "schedule %s: cannot enqueue the fire of %lld yet: %s", sch->id,
         (long long)fire, fpq_errmsg(s->q));
    return rc;
  } else { /* it will not work next time either (the pipeline is gone): skip it */
    slog(s, 1, "schedule %s: skipped the fire of %lld: %s", sch->id, (long long)fire,
         fpq_errmsg(s->q));
    (*skipped)++;
    st->skipped++;
    st->errors++;
  }
  return 0;
}

/* The fire after `after`: 1 and *next, or 0 when the trigger has no more (a fire at the
 * epoch, 0, is a fire like any other; only the stored next_fire uses 0 for "done", and a
 * stored schedule's fires all lie after its creation). */
static int next_fire(const fpq__trigger *t, int64_t after, int64_t *next) {
  return fpq__trigger_next(t, after, next) == 0;
}

/* Fires later than this were missed while no scheduler ran (downtime), and coalescing
 * may merge them; fires a leader reaches later than their time by less, because a tick
 * ran behind or a new leader is taking over (at most lease TTL + tick after the last
 * renewal), are each enqueued, whatever the coalescing. */
static double catch_up_window(const fpq__scheduler *s) { return s->opt.lease_ttl + s->opt.tick; }

/* Handles the due fires of one schedule and moves it on. */
static int fire_schedule(fpq__scheduler *s, const fpq_schedule *sch, double now,
                         fpq__scheduler_stats *st) {
  fpq__trigger *t = NULL;
  char msg[512];
  if (fpq__schedule_trigger(sch, &t, msg, sizeof msg)) {
    slog(s, 1, "schedule %s: its trigger no longer parses (%s); not firing it", sch->id, msg);
    st->errors++;
    return 0;
  }
  const int64_t due = (int64_t)floor(now);
  const double window = catch_up_window(s);
  const int64_t walk_max = (int64_t)s->opt.max_fires * WALK_PER_JOB;
  int64_t at = sch->next_fire, last = 0, fired = 0, skipped = 0, walked = 0;
  int has_at = 1, rc = 0;
  if (sch->coalesce && now - (double)at > window) {
    /* Fires missed in downtime: walk to the latest of them. If a recent fire follows,
     * they are all coalesced into it (it runs below); otherwise the latest runs. */
    int64_t latest = at, count = 1, next = 0;
    int has_next;
    while ((has_next = next_fire(t, latest, &next)) && next <= due &&
           now - (double)next > window && count < walk_max) {
      latest = next;
      count++;
    }
    walked = count;
    const int more_old = has_next && next <= due && now - (double)next > window;
    const int recent = has_next && next <= due && !more_old;
    if (!more_old && !recent) rc = handle_fire(s, sch, latest, now, st, &fired, &skipped);
    if (rc == 0) {
      /* Still further behind than one tick may walk: skip this batch without a run; the
       * last batch runs its latest fire. Bounded work per tick, however long the
       * downtime. */
      int64_t coalesced = more_old || recent ? count : count - 1;
      skipped += coalesced;
      st->skipped += coalesced;
      last = latest;
      at = next;
      has_at = has_next;
    }
    if (more_old) walked = walk_max; /* this tick is done with this schedule */
  }
  for (int64_t jobs = 0; rc == 0 && has_at && at <= due && jobs < s->opt.max_fires &&
                         walked < walk_max;
       walked++) {
    if (!(sch->misfire_grace > 0 && now - (double)at > sch->misfire_grace)) jobs++;
    if ((rc = handle_fire(s, sch, at, now, st, &fired, &skipped))) break;
    last = at;
    has_at = next_fire(t, at, &at);
  }
  fpq__trigger_free(t);
  if (fired == 0 && skipped == 0) return rc; /* nothing handled */
  const int64_t stored_next = has_at ? at : 0;
  fpq_schedule_advance_args a = {.id = sch->id, .expect_next = sch->next_fire,
                                 .next_fire = stored_next, .last_fire = last, .fired = fired,
                                 .skipped = skipped};
  int moved = fpq__schedule_advance(s->q, &a);
  if (moved == FPQ_ESTATE || moved == FPQ_ENOTFOUND) return rc; /* someone else, or removed */
  if (moved) slog(s, 1, "schedule %s: cannot record its fires: %s", sch->id, fpq_errmsg(s->q));
  else if (stored_next == 0) slog(s, 0, "schedule %s has no more fires", sch->id);
  return rc ? rc : moved;
}

int fpq__scheduler_fire_due(fpq__scheduler *s, double now, fpq__scheduler_stats *tick) {
  fpq__scheduler_stats st = {0};
  fpq_schedule **due = NULL;
  size_t n = 0;
  int rc = fpq__schedules_due(s->q, (int64_t)floor(now), DUE_BATCH, &due, &n);
  if (rc) complain(s, "cannot read the due schedules");
  for (size_t i = 0; i < n && rc == 0; i++) {
    /* A long tick keeps its lease: renew it when a third of its time has gone. */
    if (s->totals.leader && fpq__schedule_now() - s->leased_at > s->opt.lease_ttl / 3 &&
        lead(s, fpq__schedule_now()) != 1)
      break;
    rc = fire_schedule(s, due[i], now, &st);
  }
  fpq_schedules_free(due, n);
  s->totals.enqueued += st.enqueued;
  s->totals.duplicates += st.duplicates;
  s->totals.skipped += st.skipped;
  s->totals.errors += st.errors;
  if (tick) {
    st.leader = s->totals.leader;
    *tick = st;
  }
  return rc;
}

int fpq__scheduler_tick(fpq__scheduler *s, fpq__scheduler_stats *tick) {
  double now = fpq__schedule_now();
  s->totals.ticks++;
  if (tick) memset(tick, 0, sizeof *tick);
  int rc = lead(s, now);
  if (rc != 1) {
    if (tick) tick->leader = 0;
    return rc < 0 ? rc : 0;
  }
  return fpq__scheduler_fire_due(s, now, tick);
}

/* ---- `fpq scheduler` ---- */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void print_tick(const fpq__scheduler *s, double now, const fpq__scheduler_stats *t) {
  printf("{\"event\":\"tick\",\"name\":\"%s\",\"now\":%.6f,\"leader\":%s,\"enqueued\":%lld,"
         "\"duplicates\":%lld,\"skipped\":%lld,\"errors\":%lld}\n",
         s->name, now, t->leader ? "true" : "false", (long long)t->enqueued,
         (long long)t->duplicates, (long long)t->skipped, (long long)t->errors);
  fflush(stdout);
}

static void print_totals(const fpq__scheduler *s) {
  const fpq__scheduler_stats *t = &s->totals;
  printf("{\"event\":\"stopped\",\"name\":\"%s\",\"ticks\":%lld,\"enqueued\":%lld,"
         "\"duplicates\":%lld,\"skipped\":%lld,\"errors\":%lld}\n",
         s->name, (long long)t->ticks, (long long)t->enqueued, (long long)t->duplicates,
         (long long)t->skipped, (long long)t->errors);
  fflush(stdout);
}


int fpq_scheduler_run(const fpq_scheduler_options *o, int once) {
  char err[768];
  int code = 1;
  fpq__scheduler *s = fpq__scheduler_new(o, err, sizeof err, &code);
  if (s == NULL) {
    fprintf(stderr, "fpq: %s\n", err);
    return code;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  char url[512];
  fpq__redact_url(fpq_url(s->q), url, sizeof url);
  const int simulated = fpq__schedule_clock_is_simulated();
  slog(s, 1, "started: tick %g s, lease %g s, backend %s (%s)%s", s->opt.tick,
       s->opt.lease_ttl, fpq_backend_name(s->q), url,
       simulated ? ", clock from FPQ_TEST_CLOCK_FILE" : "");
  double next_at = -INFINITY, last_now = -INFINITY;
  code = 0;
  while (!stop_requested) {
    double now = fpq__schedule_now();
    /* A simulated clock is stepped by a test: tick once per step, whatever its size, so
     * the test can run schedulers in lock-step with its clock. */
    if (simulated ? now != last_now : now >= next_at) {
      fpq__scheduler_stats t;
      int rc = fpq__scheduler_tick(s, &t);
      if (s->opt.json) print_tick(s, now, &t);
      if (once) {
        code = rc == 0 ? 0 : exit_code_of(rc);
        break;
      }
      last_now = now;
      /* Absolute deadlines on the tick grid (whole seconds for the default 1 s tick), so
       * ticks do not drift: a tick that ran late does not push the next one later, and
       * a fire at second S is handled just after S, not up to a tick later. */
      next_at = (floor(now / s->opt.tick) + 1) * s->opt.tick;
      continue;
    }
    fpq__sleep(simulated ? 0.001 : fmin(s->opt.tick, next_at - now));
  }
  if (!once) slog(s, 1, "stopping (%s)", stop_requested ? "signal" : "done");
  if (s->opt.json && !once) print_totals(s);
  fpq__scheduler_free(s);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  stop_requested = 0;
  return code;
}
