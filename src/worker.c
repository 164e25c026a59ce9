/* worker.c: the supervisor behind `fpq worker start`: one libuv loop, N slots, one warm
 * Python executor per slot.
 *
 * Data flow: a take runs on libuv's thread pool with its own queue handle (it may block
 * up to TAKE_WAIT waiting for work) and hands a job to an idle slot; the slot sends it to
 * its executor as a run frame; the done frame (or the executor's death) becomes an
 * outcome, recorded with the next job's take in one step where it can (worker_record.c).
 * A 1 s tick renews the leases of running jobs, registers the worker, reads its commands,
 * runs queue maintenance (due retries, jobs of dead workers) and, with --with-scheduler,
 * a scheduler tick (scheduler.c).
 *
 * Nothing is lost on the way: a job is started in the backend before it is sent, so if
 * this process dies the lease runs out and maintenance retries or fails it; an outcome
 * the backend could not take is kept and tried again each tick; a job taken while
 * stopping goes back without counting an attempt. */
#include "fpq_worker.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "alloc.h"
#include "clock.h"
#include "log_line.h"
#include "random.h"
#include "config.h"
#include "executor.h"
#include "job.h"
#include "lease_keeper.h"
#include "metrics.h"
#include "queue.h"
#include "scheduler.h"
#include "worker_state.h"

#define TAKE_WAIT 0.5          /* seconds a take may block: bounds stop latency */
#define MAX_FAILED_STARTS 3    /* executors dying before hello: give up, it will not work */
#define MAINTAIN_EVERY_TICKS 2
#define MAX_TIMER_MS 2000000000.0
#define TAKE_AHEAD_BELOW 0.05 /* take ahead while jobs run shorter than this, seconds */
/* A stopping worker tries this long to record outcomes the backend refused (a full disk,
 * Redis away), then exits without them: their jobs are retried when the leases end. */
#define STOP_RECORD_GRACE 10.0

static void start_job(struct slot *s, fpq_job *job);
static void give_back(worker *w, fpq_job *job);
static void start_executor(slot *s);
static void begin_stop(worker *w, int level, const char *why);

/* ---- logging ---- */

void fpq__worker_log(const worker *w, int important, const char *fmt, ...) {
  if (w->opt.quiet && !important) return;
  va_list ap;
  va_start(ap, fmt);
  fpq__log_line("worker", w->name, fmt, ap);
  va_end(ap);
}

/* ---- a job ends ---- */

static int busy_slots(const worker *w) {
  int n = 0;
  for (int i = 0; i < w->nslots; i++) n += w->slots[i].state == SLOT_BUSY;
  return n;
}

/* Starts the job taken ahead, if any, on this idle slot; returns whether there was one. */
static int run_ahead(slot *s) {
  fpq_job *next = s->w->ahead;
  if (next == NULL) return 0;
  s->w->ahead = NULL;
  start_job(s, next);
  return 1;
}

/* The job in a slot ended one way or another: free the slot (unless stopping, it starts
 * the job taken ahead, if any) and hand the outcome to worker_record.c, which records it
 * together with the next job's take where it can, so the executor waits for one backend
 * round trip between jobs, not two. */
static void end_job_logged(slot *s, fpq_outcome_kind kind, char *result, char *error,
                           double duration, char *log, int64_t log_omitted) {
  worker *w = s->w;
  uv_timer_stop(&s->timer);
  w->busy_seconds += duration;
  s->killing = KILL_NONE;
  unrecorded *u = fpq__calloc(1, sizeof *u);
  if (u == NULL) { /* cannot keep it: the lease runs out and the job is retried */
    fpq__worker_log(w, 1, "out of memory: the outcome of job %s is lost; it will be retried",
                    s->job->id);
    fpq__worker_let_go(w, s->job);
    free(result);
    free(error);
    fpq__free(log);
  } else {
    *u = (unrecorded){.job = s->job, .result = result, .error = error, .log = log,
                      .outcome = {.kind = kind, .duration = duration, .result_json = result,
                                  .error_json = error, .log = log,
                                  .log_omitted = log_omitted}};
  }
  if (u) fpq__lease_keeper_set_group(w->keeper, u->job, 0); /* no process runs it now */
  s->job = NULL;
  if (kind == FPQ_OUTCOME_SUCCESS || kind == FPQ_OUTCOME_FAILURE)
    w->recent_run = w->recent_run > 0 ? 0.8 * w->recent_run + 0.2 * duration : duration;
  if (s->state == SLOT_BUSY) s->state = s->exec ? SLOT_IDLE : SLOT_DOWN;
  if (s->state == SLOT_IDLE && !w->stopping) run_ahead(s);
  fpq__worker_record(w, u);
}

/* An outcome without output to keep (killed, timed out, crashed, returned). */
static void end_job(slot *s, fpq_outcome_kind kind, char *result, char *error, double duration) {
  end_job_logged(s, kind, result, error, duration, NULL, 0);
}

static void on_done(slot *s, json_t *msg, char *result_text) {
  const char *id = json_string_value(json_object_get(msg, "id"));
  if (s->state != SLOT_BUSY || s->job == NULL || id == NULL ||
      strcmp(id, s->job->id) != 0 || s->killing == KILL_LEASE_LOST) {
    /* a late frame for a job already ended (e.g. killed at its timeout), or a job that
     * is someone else's now */
    free(result_text);
    return;
  }
  double duration = json_number_value(json_object_get(msg, "duration"));
  if (!(duration >= 0)) duration = fpq__monotonic() - s->job_started;
  /* What the run wrote (the executor captured it); fpq_finish cuts it to FPQ_LOG_MAX. */
  const char *output = json_string_value(json_object_get(msg, "log"));
  char *log = output && output[0] ? fpq__strdup(output) : NULL;
  json_int_t omitted = json_integer_value(json_object_get(msg, "log_omitted"));
  if (json_is_true(json_object_get(msg, "ok"))) {
    json_t *result = json_object_get(msg, "result");
    char *text = result_text ? result_text
                             : json_dumps(result ? result : json_null(),
                                          JSON_COMPACT | JSON_ENCODE_ANY);
    end_job_logged(s, FPQ_OUTCOME_SUCCESS, text, NULL, duration, log, omitted);
  } else {
    free(result_text);
    json_t *err = json_object_get(msg, "error");
    char *text = json_is_object(err)
                     ? json_dumps(err, JSON_COMPACT)
                     : fpq__error_json("ExecutorError",
                                       "the executor reported a failure without details");
    end_job_logged(s, FPQ_OUTCOME_FAILURE, NULL, text, duration, log, omitted);
  }
}

/* ---- executors ---- */

/* Once, when the last slot's first executor said hello: the time to first job a user
 * waits for (executors start in parallel, so this is the slowest one's start). */
static void announce_ready(worker *w) {
  if (w->announced_ready) return;
  for (int i = 0; i < w->nslots; i++)
    if (w->slots[i].state == SLOT_STARTING || w->slots[i].state == SLOT_DOWN) return;
  w->announced_ready = 1;
  fpq__worker_log(w, 1, "ready: %d executor(s) started in %.2fs", w->nslots, fpq__now() - w->birth);
}

static void on_message(fpq__executor *e, json_t *msg, char *result_text) {
  slot *s = fpq__executor_data(e);
  const char *type = json_string_value(json_object_get(msg, "type"));
  if (strcmp(type, "done") != 0) free(result_text); /* only a done frame has one */
  if (strcmp(type, "hello") == 0 && s->state == SLOT_STARTING) {
    s->state = SLOT_IDLE;
    s->failed_starts = 0;
    announce_ready(s->w);
    if (s->w->stopping) {
      fpq__worker_check_stopped(s->w);
    } else if (!run_ahead(s)) { /* a fresh executor (after a crash) runs the job held */
      fpq__worker_maybe_take(s->w);
    }
  } else if (strcmp(type, "done") == 0) {
    on_done(s, msg, result_text);
  }
}

static void describe_death(char *buf, size_t len, int64_t status, int term_signal,
                           const char *reason) {
  if (term_signal)
    snprintf(buf, len, "the executor died with signal %d (%s)", term_signal,
             strsignal(term_signal));
  else
    snprintf(buf, len, "the executor exited with status %lld", (long long)status);
  if (reason) {
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, ": %s", reason);
  }
}

static void on_restart_timer(uv_timer_t *t) { start_executor(t->data); }

static void on_gone(fpq__executor *e, int64_t status, int term_signal, const char *reason) {
  slot *s = fpq__executor_data(e);
  worker *w = s->w;
  s->exec = NULL;
  int was_starting = s->state == SLOT_STARTING;
  /* The keeper stopped it (its lease could not be renewed in time, or the backend gave
   * the job to another run): nothing of this run is recorded. */
  if (s->state == SLOT_BUSY && s->job && fpq__lease_keeper_lost(w->keeper, s->job))
    s->killing = KILL_LEASE_LOST;
  if (s->state == SLOT_BUSY && s->job) {
    double duration = fpq__monotonic() - s->job_started;
    char why[400], msg[600];
    describe_death(why, sizeof why, status, term_signal, reason);
    switch (s->killing) {
      case KILL_TIMEOUT:
        snprintf(msg, sizeof msg, "Task exceeded maximum timeout value (%g seconds)",
                 s->job->timeout > 0 ? s->job->timeout : w->opt.default_timeout);
        end_job(s, FPQ_OUTCOME_FAILURE, NULL, fpq__error_json("JobTimeoutException", msg),
                duration);
        break;
      case KILL_STOP_JOB:
        end_job(s, FPQ_OUTCOME_STOPPED, NULL,
                fpq__error_json("JobStopped", "Job stopped by user, work-horse terminated."),
                duration);
        break;
      case KILL_HORSE:
        end_job(s, FPQ_OUTCOME_FAILURE, NULL,
                fpq__error_json("JobKilled", "Work-horse killed by a kill-horse command."),
                duration);
        break;
      case KILL_SHUTDOWN:
        end_job(s, FPQ_OUTCOME_RETURN, NULL, NULL, 0);
        break;
      case KILL_LEASE_LOST:
        fpq__worker_let_go(w, s->job);
        s->job = NULL;
        break;
      case KILL_NONE:
        snprintf(msg, sizeof msg, "%s while running the job", why);
        end_job(s, FPQ_OUTCOME_FAILURE, NULL, fpq__error_json("ExecutorCrashed", msg), duration);
        break;
    }
  } else if (!w->stopping || was_starting) {
    char why[400];
    describe_death(why, sizeof why, status, term_signal, reason);
    if (!w->stopping) fpq__worker_log(w, 1, "slot %d: %s", s->index, why);
  }
  if (s->job == NULL) s->state = SLOT_DOWN;
  uv_timer_stop(&s->timer);
  s->killing = KILL_NONE;
  if (w->stopping) {
    fpq__worker_check_stopped(w);
    return;
  }
  if (was_starting && ++s->failed_starts >= MAX_FAILED_STARTS) {
    fpq__worker_log(w, 1, "slot %d: the executor (%s -m flowerpower_job_queue.executor) "
                    "failed to start %d times in a row; is flowerpower-job-queue installed for "
                    "that Python? Set FPQ_PYTHON to choose the interpreter.", s->index,
                    w->python, s->failed_starts);
    w->exit_code = 1;
    begin_stop(w, 1, "executors cannot start");
    return;
  }
  /* Back off a little after crashes so a broken project cannot make a tight loop. */
  uv_timer_start(&s->timer, on_restart_timer, (uint64_t)(s->failed_starts * 1000), 0);
}

static void start_executor(slot *s) {
  worker *w = s->w;
  if (w->stopping) return;
  static const fpq__executor_events events = {.on_message = on_message, .on_gone = on_gone};
  char err[512];
  s->exec = fpq__executor_start(&w->loop, w->python, w->opt.isolation, w->pipeline_cache,
                                &events, s, err, sizeof err);
  if (s->exec == NULL) {
    fpq__worker_log(w, 1, "slot %d: %s", s->index, err);
    w->exit_code = 1;
    begin_stop(w, 1, "executors cannot start");
    return;
  }
  s->state = s->job ? SLOT_BUSY : SLOT_STARTING;
}

/* ---- running a job ---- */

static void on_job_timer(uv_timer_t *t) {
  slot *s = t->data;
  if (s->exec == NULL || s->state != SLOT_BUSY) return;
  if (s->killing == KILL_NONE) {
    s->killing = KILL_TIMEOUT;
    fpq__worker_log(s->w, 1, "job %s passed its timeout; stopping it", s->job->id);
  }
  /* First SIGTERM so the pipeline can clean up, then SIGKILL after the grace. */
  if (!s->term_sent) {
    s->term_sent = 1;
    fpq__executor_signal(s->exec, SIGTERM);
    double grace = s->w->opt.kill_grace > 0 ? s->w->opt.kill_grace : 5;
    uv_timer_start(t, on_job_timer, (uint64_t)(grace * 1000), 0);
  } else {
    fpq__executor_signal(s->exec, SIGKILL);
  }
}

/* Kills a running job now, for a reason that decides its outcome in on_gone. */
static void kill_job(slot *s, kill_reason why) {
  if (s->exec == NULL || s->state != SLOT_BUSY) return;
  s->killing = why;
  uv_timer_stop(&s->timer);
  fpq__executor_signal(s->exec, SIGKILL);
}

static int send_run(slot *s) {
  fpq_job *job = s->job;
  /* A run row over the enqueue limit was written behind the engine's back: refused
   * before the loop spends seconds parsing it (50-300 MB rows stalled the worker). */
  if (job->run_json && strlen(job->run_json) > FPQ_RUN_MAX) return FPQ_ETOOBIG;
  json_t *run = json_loads(job->run_json ? job->run_json : "{}", 0, NULL);
  if (!json_is_object(run)) { /* a record written behind the engine's back */
    json_decref(run);
    return FPQ_EFORMAT;
  }
  /* The executor runs every job in this worker's own project directory (--project), never
   * in a path the job names: start_job refused jobs of other projects already. */
  json_t *msg = json_pack("{s:s, s:s, s:s?, s:s?, s:o, s:i, s:s?}", "type", "run", "id",
                          job->id, "project", fpq_project_dir(s->w->q), "pipeline",
                          job->pipeline, "run", run ? run : json_object(), "attempt",
                          job->attempts, "func",
                          /* unset means run_pipeline (fpq.h), also in a foreign record */
                          job->func ? job->func : FPQ_TASK_FUNC);
  int rc = msg ? fpq__executor_send(s->exec, msg) : FPQ_ENOMEM;
  json_decref(msg);
  return rc;
}

static void start_job(slot *s, fpq_job *job) {
  worker *w = s->w;
  s->job = job;
  s->state = SLOT_BUSY;
  s->killing = KILL_NONE;
  s->term_sent = 0;
  s->job_started = fpq__monotonic();
  fpq__lease_keeper_set_group(w->keeper, job, fpq__executor_pid(s->exec));
  /* Project identity (issue 12): a job of another project (its name, or a path that is
   * not this worker's directory) reached one of our queues, written there behind the
   * engine's back or by a producer with the wrong --queues. It is never run and never
   * opened: it fails once, as retrying cannot make it ours. A job naming another function
   * is the executor's to refuse (UnsupportedFunction): its arguments are not ours to read
   * as a project. */
  const int ours = job->func == NULL || strcmp(job->func, FPQ_TASK_FUNC) == 0;
  if (ours && !fpq__project_serves(w->q, job->project)) {
    char why[1024];
    snprintf(why, sizeof why, "job %s belongs to project '%.200s'; this worker serves '%s' "
             "(%.200s): it was not run", job->id, job->project, fpq_project_name(w->q),
             fpq_project_dir(w->q));
    job->max_retries = 0;
    /* Its callbacks are the foreign writer's choice, not this project's: none runs. */
    fpq_job_set(&job->on_success, NULL);
    fpq_job_set(&job->on_failure, NULL);
    fpq_job_set(&job->on_stopped, NULL);
    end_job(s, FPQ_OUTCOME_FAILURE, NULL, fpq__error_json("WrongProject", why), 0);
    return;
  }
  int rc = send_run(s);
  if (rc != 0) {
    end_job(s, FPQ_OUTCOME_FAILURE, NULL,
            rc == FPQ_EFORMAT
                ? fpq__error_json("InvalidJob", "the job's stored run options are not a JSON "
                                  "object (the record was not written by fpq); it was not run")
                : rc == FPQ_ETOOBIG
                    ? fpq__error_json("InvalidJob", "the job's stored run options are larger "
                                      "than fpq accepts at enqueue (1 MiB; the record was not "
                                      "written by fpq); it was not run")
                    : fpq__error_json("ExecutorError", "the job could not be sent"),
            0);
    return;
  }
  double timeout = job->timeout > 0 ? job->timeout : w->opt.default_timeout;
  if (timeout > 0) {
    double ms = fmin(timeout * 1000, MAX_TIMER_MS);
    uv_timer_start(&s->timer, on_job_timer, (uint64_t)ms, 0);
  }
}

/* ---- taking jobs ---- */

/* Thread pool, after a take (alone or in the step) answered rc with w->taken: the job is
 * held from here, on this thread (the loop may be busy when the take completes); a
 * failure's message (why) is kept for after_take. */
void fpq__worker_took(worker *w, int rc, const char *why) {
  w->take_rc = rc;
  if (rc == 0 && fpq__lease_keeper_hold(w->keeper, w->taken) != 0) {
    w->take_rc = FPQ_ENOMEM; /* after_take gives the job back */
    snprintf(w->take_err, sizeof w->take_err, "out of memory");
  } else if (rc != 0 && rc != FPQ_EEMPTY) {
    snprintf(w->take_err, sizeof w->take_err, "%s", why);
  }
}

static void take_work(uv_work_t *req) {
  worker *w = req->data;
  double wait = w->opt.burst ? 0.05 : TAKE_WAIT;
  int rc = fpq_take(w->take_q, w->name, w->queues, w->nqueues, w->opt.lease, wait, &w->taken);
  fpq__worker_took(w, rc, fpq_errmsg(w->take_q));
}

/* Burst mode ends when nothing is queued, nothing runs here, and every retry this worker
 * scheduled has been run (by it or another worker). */
static int burst_done(worker *w) {
  if (busy_slots(w) > 0 || w->unrecorded || w->ahead) return 0;
  size_t keep = 0;
  for (size_t i = 0; i < w->nretrying; i++) {
    fpq_job *job = NULL;
    int rc = fpq_get(w->q, w->retrying[i], &job);
    int pending = rc == 0 && !fpq_status_is_terminal(job->status);
    if (rc != 0 && rc != FPQ_ENOTFOUND) pending = 1;
    fpq_job_free(job);
    if (pending) w->retrying[keep++] = w->retrying[i];
    else fpq__free(w->retrying[i]);
  }
  w->nretrying = keep;
  return keep == 0;
}

static void on_take_retry(uv_timer_t *t) { fpq__worker_maybe_take(t->data); }

void fpq__worker_after_take(uv_work_t *req, int status) {
  worker *w = req->data;
  (void)status;
  w->taking = 0;
  fpq_job *job = w->taken;
  w->taken = NULL;
  if (w->take_rc == 0) {
    slot *idle = NULL;
    for (int i = 0; i < w->nslots && !idle; i++)
      if (w->slots[i].state == SLOT_IDLE) idle = &w->slots[i];
    if (idle && !w->stopping) {
      start_job(idle, job);
    } else if (!w->stopping && w->ahead == NULL && busy_slots(w) == w->nslots) {
      w->ahead = job; /* the first slot to free runs it */
    } else { /* stopping, or the slot died meanwhile: give the job back untouched */
      give_back(w, job);
    }
  } else if (w->take_rc == FPQ_EEMPTY) {
    if (w->opt.burst && !w->stopping && burst_done(w)) {
      begin_stop(w, 1, "burst: the queues are empty");
      return;
    }
  } else {
    if (job) give_back(w, job);
    fpq__worker_log(w, 1, "cannot take jobs: %s; trying again in 1 s", w->take_err);
    uv_timer_start(&w->take_retry, on_take_retry, 1000, 0);
    return;
  }
  if (w->stopping) fpq__worker_check_stopped(w);
  else fpq__worker_maybe_take(w);
}

/* Puts a job we took but will not run back at the front of its queue, uncounted. */
static void give_back(worker *w, fpq_job *job) {
  fpq_outcome back = {.kind = FPQ_OUTCOME_RETURN};
  if (fpq_finish(w->q, job, w->name, &back, NULL) != 0)
    fpq__worker_log(w, 1, "could not return job %s: %s (its lease will expire and it will "
                    "be retried)", job->id, fpq_errmsg(w->q));
  fpq__worker_let_go(w, job);
}

/* A slot is idle, or every slot is busy with short jobs and none is taken ahead yet. */
int fpq__worker_want_take(const worker *w) {
  int idle = 0;
  for (int i = 0; i < w->nslots; i++) idle += w->slots[i].state == SLOT_IDLE;
  int take_ahead = idle == 0 && w->ahead == NULL && busy_slots(w) == w->nslots &&
                   w->recent_run > 0 && w->recent_run < TAKE_AHEAD_BELOW;
  return idle > 0 || take_ahead;
}

void fpq__worker_maybe_take(worker *w) {
  if (w->stopping || w->taking || uv_is_active((uv_handle_t *)&w->take_retry)) return;
  if (!fpq__worker_want_take(w)) return;
  w->taking = 1;
  w->take_req.data = w;
  uv_queue_work(&w->loop, &w->take_req, take_work, fpq__worker_after_take);
}

/* ---- the tick: leases, registration, commands, maintenance ---- */

static void beat(worker *w) {
  fpq_worker_info info = {.pid = (int)getpid(),
                          .birth = w->birth,
                          .successful = w->successful,
                          .failed = w->failed,
                          .busy_seconds = w->busy_seconds};
  snprintf(info.name, sizeof info.name, "%s", w->name);
  snprintf(info.hostname, sizeof info.hostname, "%s", w->hostname);
  /* Cut only for project names near FPQ_PROJECT_NAME_MAX: three of those pass 255. */
  snprintf(info.queues, sizeof info.queues, "%.*s", (int)sizeof info.queues - 1, w->queues_text);
  snprintf(info.state, sizeof info.state, "%s", busy_slots(w) ? "busy" : "idle");
  for (int i = 0; i < w->nslots; i++) {
    if (w->slots[i].state == SLOT_BUSY && w->slots[i].job) {
      snprintf(info.current_job, sizeof info.current_job, "%s", w->slots[i].job->id);
      break;
    }
  }
  if (fpq_worker_beat(w->q, &info, w->opt.lease * 2) != 0)
    fpq__worker_log(w, 1, "cannot register: %s", fpq_errmsg(w->q));
}

static void run_command(worker *w, const char *cmd) {
  fpq__worker_log(w, 0, "command: %s", cmd);
  if (strcmp(cmd, "shutdown") == 0) {
    begin_stop(w, 1, "shutdown command");
  } else if (strcmp(cmd, "shutdown-now") == 0) {
    begin_stop(w, 2, "shutdown command");
  } else if (strcmp(cmd, "kill-horse") == 0) {
    for (int i = 0; i < w->nslots; i++) kill_job(&w->slots[i], KILL_HORSE);
  } else if (strncmp(cmd, "stop-job:", 9) == 0) {
    for (int i = 0; i < w->nslots; i++) {
      slot *s = &w->slots[i];
      if (s->job && strcmp(s->job->id, cmd + 9) == 0) kill_job(s, KILL_STOP_JOB);
    }
  }
}

static void on_tick(uv_timer_t *t) {
  worker *w = t->data;
  w->ticks++;
  fpq__worker_record_unrecorded(w);
  char cmd[256];
  for (int i = 0; i < 8 && fpq_worker_next_command(w->q, w->name, cmd, sizeof cmd) == 0; i++)
    run_command(w, cmd);
  /* Leases are the keeper's (lease_keeper.c), on its own thread and clock. */
  unsigned long every = (unsigned long)fmax(1, floor(w->opt.lease / 3));
  if (w->ticks % every == 0) beat(w);
  if (w->ticks % MAINTAIN_EVERY_TICKS == 0) {
    int moved = 0;
    int rc = fpq_maintain(w->q, &moved);
    if (rc == 0 && moved > 0)
      fpq__worker_log(w, 0, "maintenance moved %d job(s) (due retries, jobs of lost workers)",
                      moved);
    else if (rc != 0) /* e.g. the queue database was replaced and reopened */
      fpq__worker_log(w, 1, "maintenance: %s", fpq_errmsg(w->q));
  }
  /* --with-scheduler: schedules fire from this tick; a stopping worker hands the leader
   * lease on at once instead of letting it run out. */
  if (w->sched && !w->stopping) fpq__scheduler_tick(w->sched, NULL);
  else if (w->sched) fpq__scheduler_resign(w->sched);
  if (w->stopping == 1 && w->opt.stop_grace > 0 &&
      fpq__monotonic() - w->stop_started > w->opt.stop_grace)
    begin_stop(w, 2, "stop grace passed");
  if (w->stopping) fpq__worker_check_stopped(w);
}

/* ---- stopping ---- */

static void on_signal(uv_signal_t *h, int signum) {
  worker *w = h->data;
  begin_stop(w, w->stopping ? 2 : 1, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Ctrl-Z: executors run in sessions of their own (setsid), so the terminal's SIGTSTP
 * reaches only this process; stop them first, then ourselves, so no job runs on while
 * the worker that holds its lease cannot renew it. */
static void on_stop_signal(uv_signal_t *h, int signum) {
  worker *w = h->data;
  (void)signum;
  for (int i = 0; i < w->nslots; i++)
    if (w->slots[i].exec) fpq__executor_signal(w->slots[i].exec, SIGSTOP);
  fpq__worker_log(w, 1, "stopped (SIGTSTP), with its executors; leases are not renewed meanwhile");
  raise(SIGSTOP);
}

/* Continued: runs whose lease may have ended meanwhile are killed before anything
 * continues; the others are renewed at once and continue. */
static void on_continue(uv_signal_t *h, int signum) {
  worker *w = h->data;
  (void)signum;
  int killed = fpq__lease_keeper_after_stop(w->keeper);
  for (int i = 0; i < w->nslots; i++)
    if (w->slots[i].exec) fpq__executor_signal(w->slots[i].exec, SIGCONT);
  fpq__worker_log(w, 1, "continued (SIGCONT)%s",
                  killed ? "; runs past their lease were killed" : "");
}

static void begin_stop(worker *w, int level, const char *why) {
  if (level <= w->stopping) return;
  if (w->stopping == 0) w->stop_started = fpq__monotonic();
  w->stopping = level;
  int busy = busy_slots(w);
  if (level == 1)
    fpq__worker_log(w, 1, "stopping (%s): taking no new jobs%s", why,
                    busy ? ", letting running jobs finish (signal again to stop them now)" : "");
  else
    fpq__worker_log(w, 1, "stopping now (%s): %d running job(s) go back to the queue", why, busy);
  uv_timer_stop(&w->take_retry);
  if (level == 2)
    for (int i = 0; i < w->nslots; i++) kill_job(&w->slots[i], KILL_SHUTDOWN);
  fpq__worker_check_stopped(w);
}

static void on_closed(uv_handle_t *h) { (void)h; }

/* Once nothing runs and no take is in flight: stop the executors, then the loop. */
void fpq__worker_check_stopped(worker *w) {
  /* Callbacks finish first (each within its time limit): a burst's last job's callback
   * runs before the worker exits. */
  if (!w->stopping || w->taking || w->recording || w->closing || w->callbacks) return;
  if (w->ahead) { /* taken ahead but not started: back to the front of its queue */
    fpq_job *job = w->ahead;
    w->ahead = NULL;
    give_back(w, job);
  }
  if (w->unrecorded) {
    /* The tick records them, then comes back here; not forever. */
    if (w->stopping == 1 && fpq__monotonic() - w->stop_started < STOP_RECORD_GRACE) return;
    fpq__worker_log(w, 1, "%d outcome(s) could not be recorded; those jobs are retried when their "
                    "leases run out", fpq__worker_drop_unrecorded(w));
  }
  int alive = 0;
  for (int i = 0; i < w->nslots; i++) {
    slot *s = &w->slots[i];
    if (s->state == SLOT_BUSY) return;
    if (s->exec) {
      fpq__executor_shutdown(s->exec);
      alive++;
    }
  }
  if (alive) return; /* on_gone calls back here */
  w->closing = 1;
  fpq__metrics_server_close(w->metrics);
  w->metrics = NULL;
  uv_close((uv_handle_t *)&w->tick, on_closed);
  uv_close((uv_handle_t *)&w->take_retry, on_closed);
  uv_close((uv_handle_t *)&w->sigterm, on_closed);
  uv_close((uv_handle_t *)&w->sigint, on_closed);
  uv_close((uv_handle_t *)&w->sigtstp, on_closed);
  uv_close((uv_handle_t *)&w->sigcont, on_closed);
  for (int i = 0; i < w->nslots; i++) uv_close((uv_handle_t *)&w->slots[i].timer, on_closed);
}

/* ---- set-up ---- */


static void free_worker(worker *w) {
  for (int i = 0; w->slots && i < w->nslots; i++) {
    fpq_job_free(w->slots[i].job);
  }
  fpq__free(w->slots);
  fpq_job_free(w->ahead);
  fpq__worker_drop_unrecorded(w);
  for (size_t i = 0; i < w->nretrying; i++) fpq__free(w->retrying[i]);
  fpq__free(w->retrying);
  fpq__scheduler_free(w->sched);
  fpq__lease_keeper_stop(w->keeper);
  fpq_close(w->q);
  fpq_close(w->take_q);
  fpq_close(w->record_q);
}



int fpq_worker_run(const fpq_worker_options *opts) {
  worker wk;
  worker *w = &wk;
  memset(w, 0, sizeof *w);
  /* Checked here, not by each caller: fpq worker start and the Python API alike. */
  if (opts->lease < 0 || opts->lease != opts->lease || (opts->lease > 0 && opts->lease < 3)) {
    fprintf(stderr, "fpq: --lease %gs is too short: expected at least 3 s (it is renewed "
            "every third of it)\n", opts->lease);
    return 2;
  }
  w->opt = *opts;
  if (w->opt.count < 1) w->opt.count = 1;
  if (!(w->opt.lease > 0)) w->opt.lease = 15;
  if (!w->opt.isolation) w->opt.isolation = "fork";
  gethostname(w->hostname, sizeof w->hostname - 1);
  if (w->opt.name) {
    snprintf(w->name, sizeof w->name, "%s", w->opt.name);
  } else {
    /* HOSTNAME.PID alone collides across containers (separate PID namespaces, often
     * the same pid 1 or 7): a random suffix makes the default unique. */
    unsigned char r[3] = {0};
    fpq__random(r, sizeof r); /* without random bytes: still HOSTNAME.PID.000000 */
    snprintf(w->name, sizeof w->name, "%.100s.%d.%02x%02x%02x", w->hostname, (int)getpid(),
             r[0], r[1], r[2]);
  }
  if (w->opt.python) snprintf(w->python, sizeof w->python, "%s", w->opt.python);
  else fpq__executor_find_python(w->python, sizeof w->python);
  /* Queues are exact RQ queue names, strict order. */
  char queues[512] = "high,default,low"; /* unresolved settings: fpq_open says why below */
  if (fpq__worker_read_executor_settings(w, queues, sizeof queues) != 0) return 2;
  if (w->opt.queues) snprintf(queues, sizeof queues, "%s", w->opt.queues);
  if (fpq__worker_parse_queues(w, queues) != 0) {
    fprintf(stderr, "fpq: --queues '%s' is not valid: expected names separated by commas\n",
            queues);
    return 2;
  }
  fpq_options open = w->opt.open;
  open.create = 1;
  int rc = fpq_open(&w->q, &open);
  if (rc == 0) rc = fpq_open(&w->take_q, &open);
  if (rc == 0) rc = fpq_open(&w->record_q, &open);
  if (rc != 0) {
    fprintf(stderr, "fpq: %s\n",
            fpq_errmsg(w->record_q ? w->record_q : w->take_q ? w->take_q : w->q));
    free_worker(w);
    int bad_input = rc == FPQ_EINVAL || rc == FPQ_ECONFIG;
    return rc == FPQ_EUNAVAIL || rc == FPQ_EIO ? 3 : bad_input ? 2 : 1;
  }
  if ((rc = fpq__worker_refuse_a_taken_name(w)) != 0) {
    free_worker(w);
    return rc;
  }
  char kerr[512];
  if ((w->keeper = fpq__lease_keeper_start(&open, w->name, w->opt.lease, kerr, sizeof kerr)) ==
      NULL) {
    fprintf(stderr, "fpq: %s\n", kerr);
    free_worker(w);
    return 1;
  }
  /* A write to an executor that just died must be an error, not the end of the worker. */
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&w->loop);
  w->birth = fpq__now();
  w->nslots = w->opt.count;
  w->slots = fpq__calloc((size_t)w->nslots, sizeof *w->slots);
  if (w->slots == NULL) {
    free_worker(w);
    return 1;
  }
  uv_timer_init(&w->loop, &w->tick);
  uv_timer_init(&w->loop, &w->take_retry);
  w->tick.data = w->take_retry.data = w;
  uv_signal_init(&w->loop, &w->sigterm);
  uv_signal_init(&w->loop, &w->sigint);
  w->sigterm.data = w->sigint.data = w;
  uv_signal_start(&w->sigterm, on_signal, SIGTERM);
  uv_signal_start(&w->sigint, on_signal, SIGINT);
  uv_signal_init(&w->loop, &w->sigtstp);
  uv_signal_init(&w->loop, &w->sigcont);
  w->sigtstp.data = w->sigcont.data = w;
  uv_signal_start(&w->sigtstp, on_stop_signal, SIGTSTP);
  uv_signal_start(&w->sigcont, on_continue, SIGCONT);
  char url[512];
  fpq__redact_url(fpq_url(w->q), url, sizeof url);
  fpq__worker_log(w, 1, "started: %d slot(s), isolation %s, queues %s, backend %s (%s)", w->nslots,
                  w->opt.isolation, w->queues_text, fpq_backend_name(w->q), url);
  beat(w);
  for (int i = 0; i < w->nslots; i++) {
    slot *s = &w->slots[i];
    s->w = w;
    s->index = i;
    s->state = SLOT_DOWN;
    uv_timer_init(&w->loop, &s->timer);
    s->timer.data = s;
  }
  /* After every handle exists: a failure here stops the worker, which closes them all. */
  if (w->opt.metrics_port > 0) {
    const char *host = w->opt.metrics_host ? w->opt.metrics_host : "127.0.0.1";
    char err[256];
    w->metrics = fpq__metrics_server_start(&w->loop, host, w->opt.metrics_port, w->q, err,
                                           sizeof err);
    if (w->metrics == NULL) {
      fpq__worker_log(w, 1, "%s", err);
      w->exit_code = 2;
      begin_stop(w, 1, "the metrics port cannot be served");
    } else {
      fpq__worker_log(w, 1, "serving Prometheus metrics on http://%s:%d/metrics", host,
                      w->opt.metrics_port);
    }
  }
  if (w->opt.with_scheduler) {
    fpq_scheduler_options so = {.open = open, .name = w->name, .quiet = w->opt.quiet};
    char err[768];
    if ((w->sched = fpq__scheduler_new(&so, err, sizeof err, NULL)) == NULL) {
      fpq__worker_log(w, 1, "cannot start the scheduler: %s", err);
      w->exit_code = 1;
      begin_stop(w, 1, "the scheduler cannot start");
    }
  }
  for (int i = 0; i < w->nslots && !w->stopping; i++) start_executor(&w->slots[i]);
  uv_timer_start(&w->tick, on_tick, 1000, 1000);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  if (fpq_worker_gone(w->q, w->name) != 0)
    fpq__worker_log(w, 1, "could not unregister: %s", fpq_errmsg(w->q));
  fpq__worker_log(w, 1, "stopped: %lld job(s) finished, %lld failed", (long long)w->successful,
                  (long long)w->failed);
  uv_loop_close(&w->loop);
  int code = w->exit_code;
  free_worker(w);
  return code;
}
