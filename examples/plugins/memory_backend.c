/* memory_backend.c: an example storage backend plugin for flowerpower-job-queue.
 *
 * It keeps jobs in the memory of one process (stores are named by the URL, memory://NAME)
 * and shows everything a backend owes the core: atomic take with a lease, strict
 * priority and FIFO, conditional finish, retries of jobs whose lease expired through the
 * core's rule, workers and their commands. Useful for tests and single-process programs;
 * a real plugin would put the same logic over its own store.
 *
 * Build it as a shared object and name it in the project's conf/job_queue.yml:
 *
 *   cc -shared -fPIC -I include examples/plugins/memory_backend.c -o memory_backend.so
 *   backends:
 *     memory:
 *       library: /abs/path/memory_backend.so
 *   backend: memory
 *   url: memory://demo
 *
 * A plugin links against nothing of flowerpower-job-queue: the engine functions it needs
 * come through the fpq_host_api table given to fpq_backend_register. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fpq_backend.h"

static const fpq_host_api *host;

typedef struct entry {
  fpq_job *job;
  long long seq;      /* FIFO order within a queue */
  double lease_until; /* started: the lease */
} entry;

typedef struct worker_rec {
  fpq_worker_info info;
  double expires_at;
  char commands[8][256];
  int ncommands;
} worker_rec;

typedef struct store {
  char name[128];
  pthread_mutex_t lock;
  pthread_cond_t changed; /* signalled when a job may have become takeable */
  entry *jobs;
  size_t njobs, cap;
  long long next_seq, first_seq;
  worker_rec workers[64];
  size_t nworkers;
  struct store *next;
} store;

static store *stores;
static pthread_mutex_t stores_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct memory_backend {
  fpq_backend base; /* first: the core casts */
  store *s;
} memory_backend;

static store *as_store(fpq_backend *b) { return ((memory_backend *)b)->s; }

/* ---- opening: stores live as long as the process ---- */

static int memory_open(fpq_backend *b, const char *url, const fpq_backend_settings *settings) {
  (void)settings;
  if (url == NULL || strncmp(url, "memory://", 9) != 0 || url[9] == '\0')
    return fpq_backend_fail(b, FPQ_ECONFIG, "memory URL '%.100s' is not valid: expected memory://NAME",
                            url ? url : "");
  pthread_mutex_lock(&stores_lock);
  store *s = stores;
  while (s && strcmp(s->name, url + 9) != 0) s = s->next;
  if (s == NULL && (s = host->alloc(sizeof *s)) != NULL) {
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", url + 9);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);
    s->next = stores;
    stores = s;
  }
  pthread_mutex_unlock(&stores_lock);
  if (s == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  ((memory_backend *)b)->s = s;
  return 0;
}

static void memory_close(fpq_backend *b) { (void)b; }

static entry *find_entry(store *s, const char *id) {
  for (size_t i = 0; i < s->njobs; i++)
    if (strcmp(s->jobs[i].job->id, id) == 0) return &s->jobs[i];
  return NULL;
}

/* Copies a stored job for the caller (who owns the copy). */
static int copy_out(fpq_backend *b, const fpq_job *job, fpq_job **out) {
  *out = host->job_dup(job);
  return *out ? 0 : fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
}

/* ---- producer side ---- */

static int memory_enqueue(fpq_backend *b, const fpq_job *job) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  int rc = 0;
  if (find_entry(s, job->id)) {
    rc = fpq_backend_fail(b, FPQ_EEXIST, "job id '%s' is already taken", job->id);
  } else if (s->njobs == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    entry *grown = host->realloc(s->jobs, cap * sizeof *grown);
    if (grown == NULL) rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
    else s->jobs = grown, s->cap = cap;
  }
  if (rc == 0) {
    fpq_job *copy = host->job_dup(job);
    if (copy == NULL) rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
    else s->jobs[s->njobs++] = (entry){.job = copy, .seq = ++s->next_seq};
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int memory_get(fpq_backend *b, const char *id, fpq_job **out) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  entry *e = find_entry(s, id);
  int rc = e ? copy_out(b, e->job, out) : fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int newest_first(const void *a, const void *b) {
  const fpq_job *x = *(fpq_job *const *)a, *y = *(fpq_job *const *)b;
  return (x->created_at < y->created_at) - (x->created_at > y->created_at);
}

static int memory_find(fpq_backend *b, const char *project, const char *pipeline, int limit,
                       fpq_job ***out, size_t *n) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  fpq_job **jobs = host->alloc((s->njobs + 1) * sizeof *jobs);
  size_t k = 0;
  for (size_t i = 0; jobs && i < s->njobs; i++) {
    const fpq_job *j = s->jobs[i].job;
    if (strcmp(j->project, project) != 0) continue;
    if (pipeline && strcmp(j->pipeline, pipeline) != 0) continue;
    if ((jobs[k] = host->job_dup(j)) != NULL) k++;
  }
  pthread_mutex_unlock(&s->lock);
  if (jobs == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  /* Stable order for jobs made in the same microsecond: insertion order, newest first. */
  for (size_t i = 0; i < k / 2; i++) {
    fpq_job *t = jobs[i];
    jobs[i] = jobs[k - 1 - i];
    jobs[k - 1 - i] = t;
  }
  qsort(jobs, k, sizeof *jobs, newest_first);
  while (k > (size_t)limit) host->job_free(jobs[--k]);
  *out = jobs;
  *n = k;
  return 0;
}

static int change_state(fpq_backend *b, const char *id, double now, int requeue) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  entry *e = find_entry(s, id);
  int rc = 0;
  if (e == NULL) {
    rc = fpq_backend_fail(b, FPQ_ENOTFOUND, "job '%s' not found", id);
  } else if (!requeue) {
    fpq_status st = e->job->status;
    if (st != FPQ_STATUS_QUEUED && st != FPQ_STATUS_SCHEDULED && st != FPQ_STATUS_DEFERRED)
      rc = fpq_backend_fail(b, FPQ_ESTATE, "job '%s' cannot be canceled now", id);
    else e->job->status = FPQ_STATUS_CANCELED, e->job->ended_at = now, e->job->run_at = 0;
  } else {
    fpq_status st = e->job->status;
    if (st != FPQ_STATUS_FAILED && st != FPQ_STATUS_STOPPED && st != FPQ_STATUS_CANCELED) {
      rc = fpq_backend_fail(b, FPQ_ESTATE, "job '%s' cannot be requeued now", id);
    } else {
      fpq_job *j = e->job;
      j->status = FPQ_STATUS_QUEUED;
      j->attempts = 0;
      j->enqueued_at = now;
      j->started_at = j->ended_at = j->run_at = 0;
      host->job_set(&j->worker, NULL);
      host->job_set(&j->result_json, NULL);
      host->job_set(&j->error_json, NULL);
      e->seq = ++s->next_seq;
      pthread_cond_broadcast(&s->changed);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int memory_cancel(fpq_backend *b, const char *id, double now) { return change_state(b, id, now, 0); }
static int memory_requeue(fpq_backend *b, const char *id, double now) { return change_state(b, id, now, 1); }

static int memory_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  fpq_queue_counts *c = host->alloc((s->njobs + 1) * sizeof *c);
  size_t k = 0;
  for (size_t i = 0; c && i < s->njobs; i++) {
    const fpq_job *j = s->jobs[i].job;
    size_t q = 0;
    while (q < k && strcmp(c[q].queue, j->queue) != 0) q++;
    if (q == k) {
      memset(&c[k], 0, sizeof c[k]);
      snprintf(c[k].queue, sizeof c[k].queue, "%s", j->queue);
      k++;
    }
    c[q].count[j->status]++;
    if (j->status == FPQ_STATUS_QUEUED &&
        (c[q].oldest_queued_at == 0 || j->enqueued_at < c[q].oldest_queued_at))
      c[q].oldest_queued_at = j->enqueued_at;
  }
  pthread_mutex_unlock(&s->lock);
  if (c == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  *out = c;
  *n = k;
  return 0;
}

/* ---- worker side ---- */

static void promote_due(store *s, double now, int *moved) {
  for (size_t i = 0; i < s->njobs; i++) {
    fpq_job *j = s->jobs[i].job;
    if (j->status == FPQ_STATUS_SCHEDULED && j->run_at <= now) {
      j->status = FPQ_STATUS_QUEUED;
      j->enqueued_at = now;
      j->run_at = 0;
      s->jobs[i].seq = ++s->next_seq;
      if (moved) (*moved)++;
    }
  }
}

/* The first queued job of the first queue that has one. */
static entry *first_ready(store *s, const fpq_take_args *a) {
  for (size_t q = 0; q < a->nqueues; q++) {
    entry *best = NULL;
    for (size_t i = 0; i < s->njobs; i++) {
      entry *e = &s->jobs[i];
      if (e->job->status == FPQ_STATUS_QUEUED && strcmp(e->job->queue, a->queues[q]) == 0 &&
          (best == NULL || e->seq < best->seq))
        best = e;
    }
    if (best) return best;
  }
  return NULL;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int memory_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
  store *s = as_store(b);
  const double deadline = mono_now() + a->wait_seconds;
  pthread_mutex_lock(&s->lock);
  int rc = FPQ_EEMPTY;
  for (;;) {
    double now = wall_now();
    promote_due(s, now, NULL);
    entry *e = first_ready(s, a);
    if (e) {
      fpq_job *j = e->job;
      j->status = FPQ_STATUS_STARTED;
      j->attempts++;
      j->started_at = now;
      j->ended_at = 0;
      e->lease_until = now + a->lease_seconds;
      rc = host->job_set(&j->worker, a->worker) ? FPQ_ENOMEM : copy_out(b, j, out);
      break;
    }
    double left = deadline - mono_now();
    if (left <= 0) break;
    /* Woken by an enqueue or a job put back; every 50 ms at most for due scheduled jobs. */
    double until = mono_now() + (left < 0.05 ? left : 0.05);
    struct timespec ts = {.tv_sec = (time_t)until,
                          .tv_nsec = (long)((until - floor(until)) * 1e9)};
    pthread_cond_timedwait(&s->changed, &s->lock, &ts);
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* The job if worker still holds it, else NULL. */
static entry *held(store *s, const char *id, const char *worker) {
  entry *e = find_entry(s, id);
  if (e && e->job->status == FPQ_STATUS_STARTED && e->job->worker &&
      strcmp(e->job->worker, worker) == 0)
    return e;
  return NULL;
}

static int memory_extend(fpq_backend *b, const char *id, const char *worker, double until) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  entry *e = held(s, id, worker);
  if (e) e->lease_until = until;
  pthread_mutex_unlock(&s->lock);
  return e ? 0 : fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is no longer held by '%.100s'", id, worker);
}

static int memory_finish(fpq_backend *b, const fpq_finish_args *a) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  entry *e = held(s, a->id, a->worker);
  int rc = 0;
  if (e == NULL) {
    rc = fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is no longer held by '%.100s'", a->id, a->worker);
  } else {
    fpq_job *j = e->job;
    j->status = a->status;
    j->run_at = a->status == FPQ_STATUS_SCHEDULED ? a->run_at : 0;
    j->attempts -= a->uncount_attempt ? 1 : 0;
    int terminal = a->status == FPQ_STATUS_FINISHED || a->status == FPQ_STATUS_FAILED ||
                   a->status == FPQ_STATUS_STOPPED;
    j->ended_at = terminal ? a->now : 0;
    if (a->status == FPQ_STATUS_QUEUED) {
      j->enqueued_at = a->now;
      e->seq = a->uncount_attempt ? --s->first_seq : ++s->next_seq; /* returned: to the front */
      pthread_cond_broadcast(&s->changed);
    }
    if (host->job_set(&j->result_json, a->result_json) ||
        (a->error_json && host->job_set(&j->error_json, a->error_json)))
      rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int memory_maintain(fpq_backend *b, double now, int *moved) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  promote_due(s, now, moved);
  for (size_t i = 0; i < s->njobs; i++) {
    entry *e = &s->jobs[i];
    fpq_job *j = e->job;
    if (j->status != FPQ_STATUS_STARTED || e->lease_until >= now) continue;
    double run_at = 0;
    fpq_status next = host->retry_decision(j, now, &run_at);
    j->status = next;
    j->run_at = next == FPQ_STATUS_SCHEDULED ? run_at : 0;
    j->ended_at = next == FPQ_STATUS_FAILED ? now : 0;
    if (next == FPQ_STATUS_QUEUED) e->seq = ++s->next_seq, j->enqueued_at = now;
    host->job_set(&j->error_json, "{\"type\": \"WorkerLost\", \"message\": \"the worker stopped "
                                  "renewing its lease\", \"traceback\": \"\"}");
    (*moved)++;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  return 0;
}

/* ---- workers and commands ---- */

static worker_rec *find_worker(store *s, const char *name) {
  for (size_t i = 0; i < s->nworkers; i++)
    if (strcmp(s->workers[i].info.name, name) == 0) return &s->workers[i];
  return NULL;
}

static int memory_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  worker_rec *r = find_worker(s, w->name);
  if (r == NULL && s->nworkers < sizeof s->workers / sizeof s->workers[0])
    r = &s->workers[s->nworkers++], memset(r, 0, sizeof *r);
  if (r) {
    r->info = *w;
    r->info.last_heartbeat = now;
    r->expires_at = now + ttl;
  }
  pthread_mutex_unlock(&s->lock);
  return r ? 0 : fpq_backend_fail(b, FPQ_ENOMEM, "too many workers for the memory backend");
}

static int memory_worker_gone(fpq_backend *b, const char *name, double now) {
  (void)now;
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  worker_rec *r = find_worker(s, name);
  if (r) *r = s->workers[--s->nworkers];
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static int memory_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  fpq_worker_info *list = host->alloc((s->nworkers + 1) * sizeof *list);
  size_t k = 0;
  for (size_t i = 0; list && i < s->nworkers; i++)
    if (s->workers[i].expires_at >= now) list[k++] = s->workers[i].info;
  pthread_mutex_unlock(&s->lock);
  if (list == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  *out = list;
  *n = k;
  return 0;
}

static int memory_worker_command(fpq_backend *b, const char *name, const char *command) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  worker_rec *r = find_worker(s, name);
  int rc = 0;
  if (r == NULL || r->expires_at < wall_now())
    rc = fpq_backend_fail(b, FPQ_ENOTFOUND, "no live worker named '%.100s'", name);
  else if (r->ncommands == 8)
    rc = fpq_backend_fail(b, FPQ_EUNAVAIL, "worker '%.100s' has 8 commands waiting", name);
  else snprintf(r->commands[r->ncommands++], sizeof r->commands[0], "%s", command);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int memory_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  store *s = as_store(b);
  pthread_mutex_lock(&s->lock);
  worker_rec *r = find_worker(s, name);
  int rc = FPQ_EEMPTY;
  if (r && r->ncommands > 0) {
    snprintf(buf, len, "%s", r->commands[0]);
    memmove(r->commands[0], r->commands[1], sizeof r->commands[0] * (size_t)--r->ncommands);
    rc = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static const struct fpq_backend_methods memory_methods = {
    .version = 1, /* written against the version-1 methods: schedules are not supported */
    .name = "memory",
    .handle_size = sizeof(memory_backend),
    .open = memory_open,
    .close = memory_close,
    .enqueue = memory_enqueue,
    .get = memory_get,
    .find = memory_find,
    .cancel = memory_cancel,
    .requeue = memory_requeue,
    .counts = memory_counts,
    .take = memory_take,
    .extend = memory_extend,
    .finish = memory_finish,
    .maintain = memory_maintain,
    .worker_beat = memory_worker_beat,
    .worker_gone = memory_worker_gone,
    .workers = memory_workers,
    .worker_command = memory_worker_command,
    .worker_next_command = memory_worker_next_command,
};

__attribute__((visibility("default"))) const struct fpq_backend_methods *
fpq_backend_register(const fpq_host_api *h) {
  if (h == NULL || h->version < 1 || h->backend_version < 1) return NULL;
  host = h;
  return &memory_methods;
}
