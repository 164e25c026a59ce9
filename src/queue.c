/* queue.c: the API of fpq.h over a backend. Everything that must be the same whatever
 * stores the jobs lives here: validation, ids, timestamps, descriptions, the retry rule
 * and its backoff, and waiting for a result. Backends only store and move records. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "backend.h"
#include "clock.h"
#include "config.h"
#include "job.h"
#include "project.h"
#include "queue.h"
#include "queue_handle.h"
#include "random.h"


int fpq__fail(fpq_queue *q, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q->errmsg, sizeof q->errmsg, fmt, ap);
  va_end(ap);
  q->err = code;
  q->errfield[0] = '\0';
  return code;
}

static void ok(fpq_queue *q) {
  q->err = 0;
  q->errmsg[0] = '\0';
  q->errfield[0] = '\0';
}

int fpq__from_backend(fpq_queue *q, int rc) {
  if (rc == 0) {
    ok(q);
    return 0;
  }
  return fpq__fail(q, rc, "%s", q->b && q->b->errstr[0] ? q->b->errstr : fpq_strerror(rc));
}

int fpq_open(fpq_queue **out, const fpq_options *opts) {
  fpq_queue *q = fpq__calloc(1, sizeof *q);
  *out = q;
  if (q == NULL) return FPQ_ENOMEM;
  fpq_options none = {0};
  int rc = fpq__config_resolve(&q->cfg, opts ? opts : &none);
  if (rc) {
    fpq__fail(q, rc, "%s", q->cfg.errmsg);
    snprintf(q->errfield, sizeof q->errfield, "%s", q->cfg.errfield);
    return rc;
  }
  char why[512];
  const char *chosen = opts && opts->backend && *opts->backend ? opts->backend : getenv("FPQ_BACKEND");
  if (opts && opts->read_only && fpq__backend_needs_loading(q->cfg.backend) &&
      !(chosen && strcmp(chosen, q->cfg.backend) == 0)) {
    char name[80];
    fpq__quote(q->cfg.backend, name, sizeof name);
    fpq__fail(q, FPQ_EINVAL, "backend '%s' is loaded from code the project's conf names "
              "(backends.%s in conf/job_queue.yml): a read-only command does not load it; "
              "pass --backend %s to trust it", name, name, name);
    snprintf(q->errfield, sizeof q->errfield, "backend");
    return FPQ_EINVAL;
  }
  const struct fpq_backend_methods *m = fpq__backend_find(&q->cfg, q->cfg.backend, why, sizeof why);
  if (m == NULL) {
    fpq__fail(q, FPQ_EINVAL, "%s", why);
    snprintf(q->errfield, sizeof q->errfield, "backend");
    return FPQ_EINVAL;
  }
  double timeout = 5;
  const char *t = fpq__config_get(&q->cfg, "connect_timeout");
  if (t && fpq_parse_duration(t, &timeout, NULL, 0)) {
    char quoted[80];
    fpq__quote(t, quoted, sizeof quoted);
    fpq__fail(q, FPQ_ECONFIG, "connect_timeout '%s' is not a duration like 5s", quoted);
    snprintf(q->errfield, sizeof q->errfield, "connect_timeout");
    return FPQ_ECONFIG;
  }
  char prefix[96];
  snprintf(prefix, sizeof prefix, "backends.%s.", q->cfg.backend);
  static const char *const where_from[] = {"library", "adapter", NULL};
  const char **options = NULL;
  if (fpq__config_section(&q->cfg, prefix, where_from, &options))
    return fpq__fail(q, FPQ_ENOMEM, "out of memory");
  /* The backend gets these from the core (an adapter class as its constructor's own
   * arguments): a section key of the same name would collide with them. */
  static const char *const reserved[] = {"project_dir", "url", "create", NULL};
  for (const char **o = options; o[0]; o += 2)
    for (const char *const *r = reserved; *r; r++)
      if (strcmp(o[0], *r) == 0) {
        fpq__fail(q, FPQ_ECONFIG,
                  "backends.%s.%s (conf/job_queue.yml or the environment) is not a "
                  "backend option: expected another name (project_dir, url and create are "
                  "passed by the engine itself)", q->cfg.backend, *r);
        snprintf(q->errfield, sizeof q->errfield, "backends.%.32s.%s", q->cfg.backend, *r);
        fpq__free(options);
        return FPQ_ECONFIG;
      }
  fpq_backend_settings s = {.project_dir = q->cfg.project_dir,
                            .create = opts ? opts->create : 0,
                            .connect_timeout = timeout,
                            .options = options};
  rc = fpq__backend_open(m, q->cfg.url, &s, &q->b);
  fpq__free(options);
  if (rc) {
    rc = fpq__from_backend(q, rc);
    fpq__backend_close(q->b);
    q->b = NULL;
    return rc;
  }
  ok(q);
  return 0;
}

void fpq_close(fpq_queue *q) {
  if (q == NULL) return;
  fpq__backend_close(q->b);
  fpq__config_free(&q->cfg);
  fpq__free(q);
}

const char *fpq_errmsg(const fpq_queue *q) { return q ? q->errmsg : "out of memory"; }
int fpq_errcode(const fpq_queue *q) { return q ? q->err : FPQ_ENOMEM; }
const char *fpq_errfield(const fpq_queue *q) { return q ? q->errfield : ""; }
const char *fpq_backend_name(const fpq_queue *q) { return q->cfg.backend; }
const char *fpq_url(const fpq_queue *q) { return q->cfg.url ? q->cfg.url : ""; }
const char *fpq_project_dir(const fpq_queue *q) { return q->cfg.project_dir; }
const char *fpq_project_name(const fpq_queue *q) { return q->cfg.project_name; }
int fpq__project_serves(const fpq_queue *q, const char *project) {
  return fpq__config_serves(&q->cfg, project);
}
const char *fpq_queue_for(const fpq_queue *q, fpq_priority p) {
  return q->cfg.queue_names[(unsigned)p < FPQ_PRIORITY_COUNT ? p : FPQ_PRIORITY_MEDIUM];
}

int fpq_worker_is_ours(const fpq_queue *q, const fpq_worker_info *w) {
  for (const char *p = w->queues; *p;) {
    size_t len = strcspn(p, ",");
    for (int i = 0; i < FPQ_PRIORITY_COUNT; i++) {
      const char *mine = fpq_queue_for(q, (fpq_priority)i);
      if (strlen(mine) == len && strncmp(p, mine, len) == 0) return 1;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

const char *fpq_setting(const fpq_queue *q, const char *key) {
  const char *v = fpq__config_get(&q->cfg, key);
  return v ? v : "";
}

/* RQ shows descriptions in `rq info` and the dashboard: make it say what will run. */
static int describe(fpq_job *job) {
  char text[FPQ_PIPELINE_MAX + 64];
  snprintf(text, sizeof text, "run_pipeline(pipeline='%s')", job->pipeline);
  return fpq_job_set(&job->description, text);
}

/* The project's retention for key ("result_ttl" or "failure_ttl"): FPQ_<KEY> or the conf
 * file, else FPQ_TTL_DEFAULT_SECONDS. A bad setting is refused where it is read, naming
 * it, rather than silently kept forever or not at all. */
static int default_ttl(fpq_queue *q, const char *key, double *ttl) {
  const char *text = fpq__config_get(&q->cfg, key);
  *ttl = FPQ_TTL_DEFAULT_SECONDS;
  if (text == NULL || text[0] == '\0') return 0;
  char msg[256];
  if (fpq_parse_ttl(text, ttl, msg, sizeof msg)) {
    fpq__fail(q, FPQ_ECONFIG, "%s (conf/job_queue.yml or FPQ_%s): %s", key,
              key[0] == 'r' ? "RESULT_TTL" : "FAILURE_TTL", msg);
    snprintf(q->errfield, sizeof q->errfield, "%s", key);
    return FPQ_ECONFIG;
  }
  return 0;
}

/* Replaces FPQ_TTL_DEFAULT in a job's retention with the project's setting. */
static int resolve_ttls(fpq_queue *q, double *result_ttl, double *failure_ttl) {
  double d;
  int rc;
  if (*result_ttl == FPQ_TTL_DEFAULT) {
    if ((rc = default_ttl(q, "result_ttl", &d))) return rc;
    *result_ttl = d;
  }
  if (*failure_ttl == FPQ_TTL_DEFAULT) {
    if ((rc = default_ttl(q, "failure_ttl", &d))) return rc;
    *failure_ttl = d;
  }
  return 0;
}

/* A parent id that names no job is a typo, refused as not found (nothing is written): the
 * child would otherwise wait for nothing and run at once. A parent whose record expires
 * later no longer holds the child back, as in RQ. */
static int parents_exist(fpq_queue *q, const fpq_job *job, fpq_job *const *earlier,
                         size_t nearlier) {
  if (job->depends_on == NULL) return 0;
  json_t *a = json_loads(job->depends_on, 0, NULL);
  int rc = a ? 0 : fpq__fail(q, FPQ_ENOMEM, "out of memory");
  for (size_t i = 0; i < json_array_size(a) && rc == 0; i++) {
    const char *id = json_string_value(json_array_get(a, i));
    /* A parent earlier in the same batch is stored before this job (in order, within
     * the batch's transaction or script call), so it counts as existing. */
    size_t e = 0;
    while (e < nearlier && strcmp(earlier[e]->id, id) != 0) e++;
    if (e < nearlier) continue;
    fpq_job *parent = NULL;
    rc = fpq__backend_get(q->b, id, &parent);
    fpq_job_free(parent);
    if (rc == FPQ_ENOTFOUND)
      rc = fpq__fail(q, rc, "job '%s' to wait for (--after) not found", id);
    else if (rc)
      rc = fpq__from_backend(q, rc);
  }
  json_decref(a);
  return rc;
}

/* A batch's last pipeline checked and its retry policy (the YAML's, clamped), so a run of
 * jobs of one pipeline costs the file system one look, not several stats per job. It
 * borrows project and pipeline from a job of the batch, which outlives it. */
typedef struct pipeline_memo {
  const char *project, *pipeline; /* NULL: nothing remembered */
  int max_retries;
  double retry_delay, jitter_factor;
} pipeline_memo;

/* The pipeline exists and its retry policy fills what the job left unset (-1). */
static int pipeline_policy(fpq_queue *q, fpq_job *job, pipeline_memo *memo) {
  pipeline_memo local = {0}; /* for one job: lives as long as this call */
  char msg[512];
  /* The code and conf are read from the handle's directory: the job's project is its name. */
  const char *dir = q->cfg.project_dir;
  if (memo == NULL || memo->project == NULL || strcmp(memo->project, dir) != 0 ||
      strcmp(memo->pipeline, job->pipeline) != 0) {
    pipeline_memo m = {dir, job->pipeline, -1, -1, -1};
    if (fpq__pipeline_check(dir, job->pipeline, msg, sizeof msg))
      return fpq__fail(q, FPQ_EINVAL, "%s", msg);
    int rc = fpq__pipeline_retry_policy(dir, job->pipeline, &m.max_retries,
                                        &m.retry_delay, &m.jitter_factor, msg, sizeof msg);
    if (rc) return fpq__fail(q, rc == FPQ_ENOMEM ? rc : FPQ_EINVAL, "%s", msg);
    if (memo == NULL) memo = &local;
    *memo = m;
  }
  /* What fpq__pipeline_retry_policy does to a field left at -1, from its answer for -1. */
  if (job->max_retries < 0) job->max_retries = memo->max_retries;
  if (job->retry_delay < 0) job->retry_delay = memo->retry_delay;
  if (job->jitter_factor < 0) job->jitter_factor = memo->jitter_factor;
  return 0;
}

/* Everything fpq_enqueue decides about a job before it is stored: validation, the
 * pipeline's retry policy, retention, id, queue, status and times. One function for one
 * job and for a batch, so the two can never disagree. memo: a batch's (NULL: none). */
static int prepare(fpq_queue *q, fpq_job *job, double now, pipeline_memo *memo,
                   fpq_job *const *earlier, size_t nearlier) {
  /* Project identity: a job names its project by name, never by a path, and only the
   * handle's own project (a scheduler's fire of an older schedule may still carry this
   * project's directory). Another project's job would land in this project's queues:
   * refused. */
  if (!fpq__config_serves(&q->cfg, job->project))
    return fpq__fail(q, FPQ_EINVAL, "job names project '%.200s', but this queue serves project "
                     "'%s' (%.300s): enqueue from that project's directory", job->project,
                     q->cfg.project_name, q->cfg.project_dir);
  if (fpq_job_set(&job->project, q->cfg.project_name))
    return fpq__fail(q, FPQ_ENOMEM, "out of memory");
  char msg[512];
  if (fpq_job_validate(job, msg, sizeof msg)) return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  int rc = pipeline_policy(q, job, memo);
  if (rc) return rc;
  if ((rc = resolve_ttls(q, &job->result_ttl, &job->failure_ttl))) return rc;
  if (job->id[0] == '\0' && fpq_job_new_id(job->id))
    return fpq__fail(q, FPQ_EIO, "cannot make a job id: %s", FPQ__RANDOM_FAILED);
  if ((job->queue == NULL && fpq_job_set(&job->queue, fpq_queue_for(q, job->priority))) ||
      (job->description == NULL && describe(job)) ||
      (job->func == NULL && fpq_job_set(&job->func, FPQ_TASK_FUNC)))
    return fpq__fail(q, FPQ_ENOMEM, "out of memory");
  job->created_at = now;
  job->attempts = 0;
  if (job->depends_on && q->b->methods->version < 3)
    return fpq__fail(q, FPQ_ENOTSUP,
                     "backend '%s' does not support depends_on (--after): it needs a "
                     "version 3 backend such as sqlite or rq", q->b->methods->name);
  if ((rc = parents_exist(q, job, earlier, nearlier))) return rc;
  if (job->depends_on) {
    /* Waits for its parents; the backend queues it at once when they are all finished,
     * atomically with their finishing, so it cannot be missed between the two. */
    job->status = FPQ_STATUS_DEFERRED;
    job->enqueued_at = 0;
    job->run_at = 0;
  } else if (job->run_at > now) {
    job->status = FPQ_STATUS_SCHEDULED;
    job->enqueued_at = 0;
  } else {
    job->status = FPQ_STATUS_QUEUED;
    job->enqueued_at = now;
    job->run_at = 0;
  }
  return 0;
}

int fpq_enqueue(fpq_queue *q, fpq_job *job) {
  NEED_BACKEND(q);
  int rc = prepare(q, job, fpq__now(), NULL, NULL, 0);
  if (rc) return rc;
  return fpq__from_backend(q, fpq__backend_enqueue(q->b, job));
}

static int compare_ids(const void *a, const void *b) {
  return strcmp((*(fpq_job *const *)a)->id, (*(fpq_job *const *)b)->id);
}

/* Two jobs of one batch asking for the same id: the second would be refused by the store
 * after the first was written, so refuse the batch before anything is. Only caller-given
 * ids can repeat (a new UUID does not), and those are checked here, before ids are made. */
static int repeated_id(fpq_queue *q, fpq_job **jobs, size_t n, size_t *failed) {
  size_t given = 0;
  for (size_t i = 0; i < n; i++) given += jobs[i]->id[0] != '\0';
  if (given < 2) return 0;
  fpq_job **sorted = fpq__malloc(given * sizeof *sorted);
  if (sorted == NULL) return fpq__fail(q, FPQ_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (jobs[i]->id[0]) sorted[k++] = jobs[i];
  qsort(sorted, given, sizeof *sorted, compare_ids);
  const char *dup = NULL;
  for (size_t i = 1; i < given && dup == NULL; i++)
    if (strcmp(sorted[i - 1]->id, sorted[i]->id) == 0) dup = sorted[i]->id;
  fpq__free(sorted);
  if (dup == NULL) return 0;
  /* Name the later of the two, in batch order, as the one at fault. */
  size_t first = n;
  for (size_t i = 0; i < n; i++)
    if (strcmp(jobs[i]->id, dup) == 0) {
      if (first == n) {
        first = i;
        continue;
      }
      *failed = i;
      return fpq__fail(q, FPQ_EINVAL, "jobs[%zu]: job id '%s' is already given to jobs[%zu]"
                       " of this batch: expected each id once", i, dup, first);
    }
  return 0;
}

/* Ids for the jobs that have none, from one read of the random source per 256 jobs
 * rather than one per job (prepare keeps an id it finds). */
static int new_ids(fpq_queue *q, fpq_job **jobs, size_t n) {
  unsigned char bytes[256][16];
  size_t used = 256;
  for (size_t i = 0; i < n; i++) {
    if (jobs[i]->id[0]) continue;
    if (used == 256) {
      if (fpq__random(bytes, sizeof bytes))
        return fpq__fail(q, FPQ_EIO, "cannot make a job id: %s", FPQ__RANDOM_FAILED);
      used = 0;
    }
    fpq__job_id_format(jobs[i]->id, bytes[used++]);
  }
  return 0;
}

int fpq_enqueue_many(fpq_queue *q, fpq_job **jobs, size_t n, size_t *failed) {
  *failed = n;
  NEED_BACKEND(q);
  if (n == 0) {
    ok(q);
    return 0;
  }
  int rc = repeated_id(q, jobs, n, failed);
  if (rc) return rc;
  /* Every job is checked before any is stored: a bad one refuses the batch, nothing
   * written, and the message says which (its index) and why. */
  if ((rc = new_ids(q, jobs, n))) return rc;
  pipeline_memo memo = {0};
  for (size_t i = 0; i < n; i++) {
    /* Each its own clock reading, so created_at orders the batch as given (find's newest
     * first) exactly as n single enqueues would. */
    if ((rc = prepare(q, jobs[i], fpq__now(), &memo, jobs, i))) {
      char why[sizeof q->errmsg];
      snprintf(why, sizeof why, "%s", q->errmsg);
      *failed = i;
      return fpq__fail(q, rc, "jobs[%zu]: %s", i, why);
    }
  }
  rc = fpq__backend_enqueue_many(q->b, (const fpq_job *const *)jobs, n, failed);
  if (rc == 0) return fpq__from_backend(q, 0);
  fpq__from_backend(q, rc);
  if (*failed < n) {
    char why[sizeof q->errmsg];
    snprintf(why, sizeof why, "%s", q->errmsg);
    fpq__fail(q, rc, "jobs[%zu]: %s", *failed, why);
  }
  return rc;
}

/* A finished job has no error: one a backend still keeps is an earlier attempt's (the
 * WorkerLost of a lost worker), not the job's. Applied to every read, so a plugin that
 * keeps the field (an error of NULL at finish means "unchanged") reads the same. */
static void without_stale_error(fpq_job *job) {
  if (job && job->status == FPQ_STATUS_FINISHED && job->error_json) {
    fpq__free(job->error_json);
    job->error_json = NULL;
  }
}

int fpq_get(fpq_queue *q, const char *id, fpq_job **out) {
  *out = NULL;
  NEED_BACKEND(q);
  char msg[256];
  if (fpq_validate_id(id, msg, sizeof msg)) return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  int rc = fpq__backend_get(q->b, id, out);
  if (rc == FPQ_ENOTFOUND) return fpq__fail(q, rc, "job '%s' not found", id);
  if (rc == 0) without_stale_error(*out);
  return fpq__from_backend(q, rc);
}

int fpq_find(fpq_queue *q, const char *project, const char *pipeline, int limit,
             fpq_job ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  char msg[256];
  if (pipeline && fpq_validate_pipeline(pipeline, msg, sizeof msg))
    return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  if (limit <= 0) limit = 100;
  int rc = fpq__backend_find_jobs(q->b, project ? project : q->cfg.project_name, pipeline, limit,
                                  out, n);
  for (size_t i = 0; rc == 0 && i < *n; i++) without_stale_error((*out)[i]);
  return fpq__from_backend(q, rc);
}

#define LATEST_WINDOW 1000

int fpq_latest(fpq_queue *q, const char *pipeline, int finished, fpq_job **out) {
  *out = NULL;
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc = fpq_find(q, NULL, pipeline, finished ? LATEST_WINDOW : 1, &jobs, &n);
  if (rc) return rc;
  size_t pick = 0; /* none finished: the newest, which says why there is no result */
  for (size_t i = 0; finished && i < n; i++)
    if (jobs[i]->status == FPQ_STATUS_FINISHED) {
      pick = i;
      break;
    }
  if (n > 0) {
    *out = jobs[pick];
    jobs[pick] = NULL;
  }
  fpq_jobs_free(jobs, n);
  if (*out) return 0;
  return fpq__fail(q, FPQ_ENOTFOUND, "pipeline '%s' has no jobs in this project", pipeline);
}

/* Cancel and requeue: a missing job and a job in the wrong state get messages that say
 * which, because the backend's answer alone cannot. */
static int change_state(fpq_queue *q, const char *id,
                        int (*change)(fpq_backend *, const char *, double), const char *verb) {
  NEED_BACKEND(q);
  char msg[256];
  if (fpq_validate_id(id, msg, sizeof msg)) return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  int rc = change(q->b, id, fpq__now());
  if (rc == FPQ_ENOTFOUND) return fpq__fail(q, rc, "job '%s' not found", id);
  if (rc == FPQ_ESTATE) {
    fpq_job *job = NULL;
    if (fpq__backend_get(q->b, id, &job) == 0) {
      fpq__fail(q, rc, "job '%s' is %s and cannot be %s", id, fpq_status_name(job->status), verb);
      fpq_job_free(job);
      return rc;
    }
  }
  return fpq__from_backend(q, rc);
}

int fpq_cancel(fpq_queue *q, const char *id) {
  return change_state(q, id, fpq__backend_cancel, "canceled");
}

int fpq_requeue(fpq_queue *q, const char *id) {
  return change_state(q, id, fpq__backend_requeue, "requeued");
}


int fpq_wait(fpq_queue *q, const char *id, double timeout, fpq_job **out) {
  *out = NULL;
  const double deadline = timeout < 0 ? INFINITY : fpq__monotonic() + timeout;
  /* Grows to 100 ms: quick for short jobs, cheap for long ones. It starts at 0.25 ms, not
   * 2 ms: a short pipeline job's round trip (enqueue, run, wait) measured 5.6 ms p50 with
   * the first looks at 2 and 5 ms, most of it spent asleep after the job had ended
   * (bench/compare, issue 6); a look costs one get (~20-50 us). */
  double pause = 0.00025;
  for (;;) {
    fpq_job *job = NULL;
    int rc = fpq_get(q, id, &job);
    if (rc) return rc;
    if (fpq_status_is_terminal(job->status)) {
      *out = job;
      return 0;
    }
    fpq_status status = job->status;
    fpq_job_free(job);
    double left = deadline - fpq__monotonic();
    if (left <= 0)
      return fpq__fail(q, FPQ_ETIMEDOUT, "job '%s' is still %s after %g seconds", id,
                  fpq_status_name(status), timeout);
    fpq__sleep(pause < left ? pause : left);
    pause = pause * 1.5 < 0.1 ? pause * 1.5 : 0.1;
  }
}

int fpq__ended_since(fpq_queue *q, double since, int limit, fpq_run_record **out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  return fpq__backend_ended_since(q->b, since, limit, out, n);
}

int fpq_counts(fpq_queue *q, fpq_queue_counts **out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_counts(q->b, out, n));
}

/* ---- worker side ---- */

/* A take's arguments, with its fencing token made into execution (33 bytes). Returns 0
 * or the error set on q. */
static int take_args(fpq_queue *q, const char *worker, const char *const *queues,
                     size_t nqueues, double lease_seconds, double wait_seconds,
                     char *execution, fpq_take_args *a) {
  if (worker == NULL || !*worker || nqueues == 0 || !(lease_seconds > 0))
    return fpq__fail(q, FPQ_EINVAL, "take needs a worker name, queues and a positive lease");
  /* The fencing token of this take: 128 random bits, so two runs of one job (a stale one
   * and its retry, whatever their workers are called) never share one. */
  unsigned char bytes[16];
  if (fpq__random(bytes, sizeof bytes))
    return fpq__fail(q, FPQ_EIO, "cannot make an execution id: %s", FPQ__RANDOM_FAILED);
  fpq__hex(execution, bytes, sizeof bytes);
  *a = (fpq_take_args){.worker = worker,
                       .queues = queues,
                       .nqueues = nqueues,
                       .lease_seconds = lease_seconds,
                       .wait_seconds = wait_seconds > 0 ? wait_seconds : 0,
                       .now = fpq__now(),
                       .execution = execution};
  return 0;
}

int fpq_take(fpq_queue *q, const char *worker, const char *const *queues, size_t nqueues,
             double lease_seconds, double wait_seconds, fpq_job **out) {
  *out = NULL;
  NEED_BACKEND(q);
  char execution[33];
  fpq_take_args a;
  int rc = take_args(q, worker, queues, nqueues, lease_seconds, wait_seconds, execution, &a);
  if (rc) return rc;
  rc = fpq__backend_take(q->b, &a, out);
  if (rc == FPQ_EEMPTY) return fpq__fail(q, rc, "no job is due");
  return fpq__from_backend(q, rc);
}

int fpq_extend(fpq_queue *q, const fpq_job *job, const char *worker, double lease_seconds) {
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_extend(q->b, job->id, worker, job->execution,
                                                  fpq__now() + lease_seconds));
}

/* A uniform random number in [0, 1); jitter needs no cryptographic quality, but the
 * system's source avoids seeding a shared generator across forked workers. Without one,
 * 0.5: the delay without jitter, which is still a correct retry. */
static double unit_random(void) {
  uint32_t r = 0;
  if (fpq__random(&r, sizeof r)) return 0.5;
  return (double)r / 4294967296.0;
}

double fpq__backoff(const fpq_job *job) {
  int attempt = job->attempts > 0 ? job->attempts : 1;
  double delay = job->retry_delay * pow(2.0, attempt - 1);
  double j = job->jitter_factor;
  if (j > 0) delay *= 1 - j + 2 * j * unit_random();
  return delay > 0 ? delay : 0;
}

fpq_status fpq_retry_decision(const fpq_job *job, double now, double *run_at) {
  *run_at = 0;
  if (job->attempts > job->max_retries) return FPQ_STATUS_FAILED;
  double delay = fpq__backoff(job);
  if (delay <= 0) return FPQ_STATUS_QUEUED;
  *run_at = now + delay;
  return FPQ_STATUS_SCHEDULED;
}

#define LOG_TAIL 4096

/* A run's output cut to FPQ_LOG_MAX: its head and its last LOG_TAIL bytes (where the
 * error usually is) around a marker saying how much went, omitted bytes the sender left
 * out already included (they lie between its head and tail, inside the part cut here).
 * Cuts fall on UTF-8 character boundaries so the stored text stays valid. Returns a
 * string the caller frees with fpq__free, or NULL when out of memory; *cut says whether
 * anything went. */
static char *cut_log(const char *log, int64_t omitted, int *cut) {
  size_t len = strlen(log);
  *cut = len > FPQ_LOG_MAX || omitted > 0;
  if (!*cut) return fpq__strdup(log);
  if (len <= LOG_TAIL * 2) { /* only what was left out elsewhere: mark it at the middle */
    char marker[128];
    size_t half = len / 2;
    while (half > 0 && ((unsigned char)log[half] & 0xC0) == 0x80) half--;
    int m = snprintf(marker, sizeof marker, FPQ_LOG_CUT, (long long)omitted);
    char *out = fpq__malloc(len + (size_t)m + 1);
    if (out == NULL) return NULL;
    memcpy(out, log, half);
    memcpy(out + half, marker, (size_t)m);
    memcpy(out + half + (size_t)m, log + half, len - half + 1);
    return out;
  }
  char marker[128];
  int mlen = snprintf(marker, sizeof marker, FPQ_LOG_CUT, 0LL);
  size_t head = FPQ_LOG_MAX - LOG_TAIL - (size_t)mlen - 16, tail_at = len - LOG_TAIL;
  if (head > tail_at) head = tail_at; /* short, but with bytes left out by the sender */
  while (head > 0 && ((unsigned char)log[head] & 0xC0) == 0x80) head--;
  while (tail_at < len && ((unsigned char)log[tail_at] & 0xC0) == 0x80) tail_at++;
  mlen = snprintf(marker, sizeof marker, FPQ_LOG_CUT,
                  (long long)(tail_at - head) + (long long)(omitted > 0 ? omitted : 0));
  char *out = fpq__malloc(head + (size_t)mlen + (len - tail_at) + 1);
  if (out == NULL) return NULL;
  memcpy(out, log, head);
  memcpy(out + head, marker, (size_t)mlen);
  memcpy(out + head + (size_t)mlen, log + tail_at, len - tail_at + 1);
  return out;
}

/* A finish's arguments: the outcome's status decided here (the retry rule), the
 * retention resolved, the log cut (*log, freed by the caller). Returns 0 or the error set
 * on q. */
static int finish_args(fpq_queue *q, const fpq_job *job, const char *worker,
                       const fpq_outcome *outcome, fpq_finish_args *out, char **log) {
  double now = fpq__now();
  *log = NULL;
  fpq_finish_args a = {.id = job->id,
                       .worker = worker,
                       .queue = job->queue ? job->queue : fpq_queue_for(q, job->priority),
                       .duration = outcome->duration,
                       .now = now,
                       .result_ttl = job->result_ttl,
                       .pipeline = job->pipeline,
                       .started_at = job->started_at,
                       .execution = job->execution,
                       .failure_ttl = job->failure_ttl};
  /* Jobs another program enqueued (rq without result_ttl, an older fpq) get the
   * project's retention now; a bad setting must not lose the outcome, so it falls back
   * to the built-in default. */
  if (resolve_ttls(q, &a.result_ttl, &a.failure_ttl)) {
    if (a.result_ttl == FPQ_TTL_DEFAULT) a.result_ttl = FPQ_TTL_DEFAULT_SECONDS;
    if (a.failure_ttl == FPQ_TTL_DEFAULT) a.failure_ttl = FPQ_TTL_DEFAULT_SECONDS;
  }
  switch (outcome->kind) {
    case FPQ_OUTCOME_SUCCESS:
      a.status = FPQ_STATUS_FINISHED;
      a.result_json = outcome->result_json ? outcome->result_json : "null";
      break;
    case FPQ_OUTCOME_FAILURE:
      a.status = fpq_retry_decision(job, now, &a.run_at);
      a.error_json = outcome->error_json;
      break;
    case FPQ_OUTCOME_STOPPED:
      a.status = FPQ_STATUS_STOPPED;
      a.error_json = outcome->error_json;
      break;
    case FPQ_OUTCOME_RETURN:
      a.status = FPQ_STATUS_QUEUED;
      a.uncount_attempt = 1;
      break;
  }
  if (a.result_json && strlen(a.result_json) > FPQ_RESULT_MAX)
    return fpq__fail(q, FPQ_ETOOBIG, "result of job '%s' is larger than %d bytes", job->id,
                FPQ_RESULT_MAX);
  if (outcome->log && outcome->log[0]) {
    int cut;
    if ((*log = cut_log(outcome->log, outcome->log_omitted, &cut)) == NULL)
      return fpq__fail(q, FPQ_ENOMEM, "out of memory");
    a.log = *log;
  }
  *out = a;
  return 0;
}

int fpq_finish(fpq_queue *q, const fpq_job *job, const char *worker,
               const fpq_outcome *outcome, fpq_status *final_status) {
  NEED_BACKEND(q);
  fpq_finish_args a;
  char *log = NULL;
  int rc = finish_args(q, job, worker, outcome, &a, &log);
  if (rc) return rc;
  rc = fpq__backend_finish(q->b, &a);
  fpq__free(log);
  if (rc == 0 && final_status) *final_status = a.status;
  return fpq__from_backend(q, rc);
}

int fpq__finish_take(fpq_queue *q, const fpq_job *job, const char *worker,
                     const fpq_outcome *outcome, fpq_status *final_status,
                     const char *const *queues, size_t nqueues, double lease_seconds,
                     int nowait, fpq_job **next, int *take_rc) {
  *next = NULL;
  *take_rc = FPQ_EEMPTY;
  if (nowait && q->b == NULL) return 1; /* opening may wait */
  NEED_BACKEND(q);
  fpq_finish_args a;
  fpq_take_args t;
  char *log = NULL, execution[33];
  int rc = take_args(q, worker, queues, nqueues, lease_seconds, 0, execution, &t);
  if (rc) {
    *take_rc = rc;
    return rc;
  }
  if ((rc = finish_args(q, job, worker, outcome, &a, &log))) {
    if (nowait) return 1; /* the waiting call gives the answer below */
    /* The outcome cannot be recorded (a result over the limit, no memory): that is
     * finish's answer, and the worker still gets its next job. */
    char why[sizeof q->errmsg];
    snprintf(why, sizeof why, "%s", q->errmsg);
    *take_rc = fpq__backend_take(q->b, &t, next);
    fpq__fail(q, rc, "%s", why);
    return rc;
  }
  rc = fpq__backend_finish_take(q->b, &a, &t, nowait, take_rc, next);
  fpq__free(log);
  if (rc == 1 && nowait) return 1;
  if (rc == 0 && final_status) *final_status = a.status;
  fpq__from_backend(q, rc ? rc : *take_rc == FPQ_EEMPTY ? 0 : *take_rc);
  return rc;
}

int fpq_prune(fpq_queue *q, int64_t *removed) {
  int64_t n = 0;
  if (removed) *removed = 0;
  NEED_BACKEND(q);
  int rc = fpq__backend_prune(q->b, fpq__now(), &n);
  if (rc == 0 && removed) *removed = n;
  return fpq__from_backend(q, rc);
}

int fpq__retention(fpq_queue *q, fpq_retention *out) {
  out->kept = out->bytes = 0;
  if (q->b == NULL) return FPQ_EUNAVAIL;
  return fpq__backend_retention(q->b, fpq__now(), out);
}

int fpq_maintain(fpq_queue *q, int *moved) {
  if (moved) *moved = 0;
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_maintain(q->b, fpq__now(), moved));
}

int fpq_worker_beat(fpq_queue *q, const fpq_worker_info *info, double ttl) {
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_worker_beat(q->b, info, ttl, fpq__now()));
}

int fpq_worker_gone(fpq_queue *q, const char *name) {
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_worker_gone(q->b, name, fpq__now()));
}

int fpq_workers(fpq_queue *q, fpq_worker_info **out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_workers(q->b, fpq__now(), out, n));
}

int fpq_worker_command(fpq_queue *q, const char *name, const char *command) {
  NEED_BACKEND(q);
  if (name == NULL || name[0] == '\0')
    return fpq__fail(q, FPQ_EINVAL, "worker name is empty: expected the name `fpq worker list` shows");
  char quoted[80], msg[256];
  fpq__quote(command, quoted, sizeof quoted);
  if (command == NULL ||
      (strcmp(command, "shutdown") != 0 && strcmp(command, "shutdown-now") != 0 &&
       strcmp(command, "kill-horse") != 0 && strncmp(command, "stop-job:", 9) != 0))
    return fpq__fail(q, FPQ_EINVAL,
                "worker command '%s' is not known: expected shutdown, shutdown-now, kill-horse "
                "or stop-job:ID",
                quoted);
  /* The id travels to the worker, which matches it against its jobs: check it here, where
   * the sender can be told. */
  if (strncmp(command, "stop-job:", 9) == 0 && fpq_validate_id(command + 9, msg, sizeof msg))
    return fpq__fail(q, FPQ_EINVAL, "worker command '%s': %s", quoted, msg);
  return fpq__from_backend(q, fpq__backend_worker_command(q->b, name, command));
}

int fpq_worker_next_command(fpq_queue *q, const char *name, char *buf, size_t len) {
  NEED_BACKEND(q);
  int rc = fpq__backend_worker_next_command(q->b, name, buf, len);
  if (rc == FPQ_EEMPTY) {
    ok(q);
    return rc;
  }
  return fpq__from_backend(q, rc);
}
