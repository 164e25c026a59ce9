/* worker_record.c: the worker's outcomes on their way into the backend. A job's outcome
 * (worker.c's end_job_logged) is recorded together with the next job's take in one
 * backend call (the step) when nothing else is being recorded or taken; on the loop
 * thread when the backend can do it at once, else on the thread pool. Otherwise it waits on the
 * unrecorded list, oldest first, and is recorded alone on the thread pool; an outcome the
 * backend refused (Redis away, a full disk) is asked for again each tick. A final
 * outcome starts the job's callback.
 *
 * Invariant: at most one recording (alone or in a step) is in flight (w->recording), and
 * it is always of the head of w->unrecorded; outcomes are recorded in the order their
 * jobs ended. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "alloc.h"
#include "callback.h"
#include "job.h"
#include "queue.h"
#include "worker_state.h"

/* Outcomes up to this size (result, error and log) may be written from the loop thread. */
#define STEP_ON_LOOP_MAX (64 * 1024)

/* The worker is done with a job it held: the keeper stops renewing it. */
void fpq__worker_let_go(worker *w, fpq_job *job) {
  if (job && w->keeper) fpq__lease_keeper_release(w->keeper, job);
  fpq_job_free(job);
}

static void free_unrecorded(worker *w, unrecorded *u) {
  fpq__worker_let_go(w, u->job);
  free(u->result);
  free(u->error);
  fpq__free(u->log);
  fpq__free(u);
}

static void remember_retry(worker *w, const char *id) {
  char **grown = fpq__realloc(w->retrying, (w->nretrying + 1) * sizeof *grown);
  if (grown == NULL) return;
  w->retrying = grown;
  if ((w->retrying[w->nretrying] = fpq__strdup(id)) != NULL) w->nretrying++;
}

static void callback_done(void *data, const char *job_id, const char *which, const char *ref,
                          const char *failure) {
  worker *w = data;
  w->callbacks--;
  if (failure)
    fpq__worker_log(w, 1, "job %s: callback %s %s %s; the job's outcome stands", job_id,
                    which, ref, failure);
  if (w->stopping) fpq__worker_check_stopped(w);
}

/* A final outcome is recorded: run the job's callback for it, if it names one. Only here,
 * after fpq_finish, so a retried attempt (final queued or scheduled) runs none and the
 * last one runs on_failure once. */
static void start_callback(worker *w, const unrecorded *u, fpq_status final) {
  char err[512];
  int rc = fpq__callback_start(&w->loop, w->python, fpq_project_dir(w->q), u->job, final,
                               u->result, u->error, w->callback_timeout, callback_done, w, err,
                               sizeof err);
  if (rc > 0) w->callbacks++;
  else if (rc < 0)
    fpq__worker_log(w, 1, "job %s: its callback was not run: %s", u->job->id, err);
}

/* What recording an outcome came to (rc, final, err from record_work or the step).
 * Returns 0 when done with it (recorded, or the job is no longer this run's), or the
 * error when the backend should be asked again later. */
static int recorded(worker *w, unrecorded *u, int rc, fpq_status final, const char *err) {
  if (rc == FPQ_EUNAVAIL || rc == FPQ_EIO || rc == FPQ_EBACKEND) {
    fpq__worker_log(w, 1, "cannot record the outcome of job %s yet (%s); will retry",
                    u->job->id, err);
    return rc;
  }
  if (rc == FPQ_ELEASE) {
    fpq__worker_log(w, 1, "job %s: %s; its outcome here is dropped", u->job->id, err);
  } else if (rc != 0) {
    fpq__worker_log(w, 1, "job %s: recording its outcome failed: %s", u->job->id, err);
  } else {
    const char *what = fpq_status_name(final);
    if (final == FPQ_STATUS_FINISHED) w->successful++;
    else if (u->outcome.kind != FPQ_OUTCOME_RETURN) w->failed++;
    if (final == FPQ_STATUS_SCHEDULED || (final == FPQ_STATUS_QUEUED &&
                                          u->outcome.kind == FPQ_OUTCOME_FAILURE)) {
      what = "retrying";
      if (w->opt.burst) remember_retry(w, u->job->id);
    }
    /* One line per job, when it ends (none with --quiet): what the run wrote is the job's
     * log (fpq logs ID), and its error is on the job. */
    fpq__worker_log(w, 0, "job %s (%s) %s after %.3f s, attempt %d of %d", u->job->id,
                    u->job->pipeline ? u->job->pipeline : "?",
                    u->outcome.kind == FPQ_OUTCOME_RETURN ? "returned to the queue" : what,
                    u->outcome.duration, u->job->attempts, u->job->max_retries + 1);
    start_callback(w, u, final);
  }
  return 0;
}

/* Thread pool: records the oldest outcome on record_q. The loop leaves the head of
 * unrecorded alone while recording is set. */
static void record_work(uv_work_t *req) {
  worker *w = req->data;
  unrecorded *u = w->unrecorded;
  w->record_final = FPQ_STATUS_QUEUED;
  w->record_rc = fpq_finish(w->record_q, u->job, w->name, &u->outcome, &w->record_final);
  snprintf(w->record_err, sizeof w->record_err, "%s",
           w->record_rc ? fpq_errmsg(w->record_q) : "");
}

static void pump_records(worker *w);

static void after_record(uv_work_t *req, int status) {
  worker *w = req->data;
  (void)status;
  w->recording = 0;
  unrecorded *u = w->unrecorded;
  if (recorded(w, u, w->record_rc, w->record_final, w->record_err) == 0) {
    w->unrecorded = u->next;
    free_unrecorded(w, u);
  } else {
    w->record_wait = 1; /* the tick asks again */
  }
  pump_records(w);
  if (w->stopping) fpq__worker_check_stopped(w);
}

/* Records outcomes, oldest first, one at a time, off the loop thread. */
static void pump_records(worker *w) {
  if (w->recording || w->record_wait || w->unrecorded == NULL) return;
  w->recording = 1;
  w->record_req.data = w;
  uv_queue_work(&w->loop, &w->record_req, record_work, after_record);
}

/* Tries the outcomes the backend could not take before, oldest first. */
void fpq__worker_record_unrecorded(worker *w) {
  w->record_wait = 0;
  pump_records(w);
}

/* Frees every outcome still waiting to be recorded; returns how many there were. */
int fpq__worker_drop_unrecorded(worker *w) {
  int n = 0;
  while (w->unrecorded) {
    unrecorded *u = w->unrecorded;
    w->unrecorded = u->next;
    free_unrecorded(w, u);
    n++;
  }
  return n;
}

/* Records the outcome at the head of unrecorded (its only one) and takes the next job,
 * in one backend call (fpq__finish_take): one round trip, one transaction where
 * recording and taking apart make two of each. nowait (the loop thread): returns 1,
 * having set nothing, when the backend could not do it at once. */
static int step(worker *w, int nowait) {
  unrecorded *u = w->unrecorded;
  fpq_status final = FPQ_STATUS_QUEUED;
  int take_rc = FPQ_EEMPTY;
  int rc = fpq__finish_take(w->record_q, u->job, w->name, &u->outcome, &final, w->queues,
                            w->nqueues, w->opt.lease, nowait, &w->taken, &take_rc);
  if (rc == 1) return 1;
  w->record_rc = rc;
  w->record_final = final;
  snprintf(w->record_err, sizeof w->record_err, "%s", rc ? fpq_errmsg(w->record_q) : "");
  fpq__worker_took(w, take_rc, rc ? fpq_strerror(take_rc) : fpq_errmsg(w->record_q));
  return 0;
}

/* Thread pool: the step, waiting as long as the backend needs. */
static void finish_take_work(uv_work_t *req) { step(req->data, 0); }

static void after_finish_take(uv_work_t *req, int status) {
  worker *w = req->data;
  after_record(req, status);
  if (w->take_rc == FPQ_EEMPTY) {
    /* Nothing was due at that instant: the usual take waits for one (and decides, in
     * burst mode, whether the queues are done). */
    w->taking = 0;
    if (w->stopping) fpq__worker_check_stopped(w);
    else fpq__worker_maybe_take(w);
    return;
  }
  fpq__worker_after_take(&w->take_req, status);
}

/* Whether an outcome is small enough to be written from the loop thread: a large result
 * or log is written from the thread pool, where the time it takes holds up nothing. */
static int small_outcome(const unrecorded *u) {
  size_t n = 0;
  const char *parts[] = {u->outcome.result_json, u->outcome.error_json, u->outcome.log};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    n += parts[i] ? strlen(parts[i]) : 0;
  return n <= STEP_ON_LOOP_MAX;
}

/* When nothing else is being recorded or taken and a take is wanted, records u and takes
 * the next job in one call. Returns 1 when it did (u is queued for recording), 0 to
 * record and take apart.
 *
 * The step runs here, on the loop thread, when the backend can do it at once (no futex
 * and eventfd hand-offs to the thread pool and back: a third of the supervisor's CPU
 * per job); the backend answers "not at once" rather than wait for a lock or a slow
 * server, and then the thread pool does it, so timeouts, signals and the other slots'
 * frames are never held up for longer than the backend's short bound. Not while a step
 * is being finished here (in_step): a job refused at start ends inside after_take, and
 * its step goes to the thread pool rather than nest. */
static int finish_and_take(worker *w, unrecorded *u) {
  if (w->stopping || w->recording || w->record_wait || w->unrecorded || w->taking ||
      uv_is_active((uv_handle_t *)&w->take_retry) || !fpq__worker_want_take(w))
    return 0;
  w->unrecorded = u;
  w->recording = 1;
  w->taking = 1;
  w->record_req.data = w;
  w->take_req.data = w;
  if (!w->in_step && small_outcome(u)) {
    w->in_step = 1;
    int later = step(w, 1);
    if (!later) after_finish_take(&w->record_req, 0);
    w->in_step = 0;
    if (!later) return 1;
  }
  uv_queue_work(&w->loop, &w->record_req, finish_take_work, after_finish_take);
  return 1;
}

void fpq__worker_record(worker *w, unrecorded *u) {
  if (u && finish_and_take(w, u)) return;
  if (!w->stopping) fpq__worker_maybe_take(w);
  if (u) {
    unrecorded **tail = &w->unrecorded; /* behind older ones: outcomes keep their order */
    while (*tail) tail = &(*tail)->next;
    *tail = u;
    pump_records(w);
  }
  if (w->stopping) fpq__worker_check_stopped(w);
}
