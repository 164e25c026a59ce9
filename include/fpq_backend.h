/* fpq_backend.h: what a storage backend implements.
 *
 * A backend is a struct fpq_backend_methods: `int version` first, then function
 * pointers that are only ever appended to (SQLite's sqlite3_io_methods is the model).
 * The core allocates handle_size zeroed bytes, whose first member is a struct
 * fpq_backend, and calls open() on it; every later call passes that handle. The core
 * validates arguments, stamps times and decides retries before it calls a backend, so a
 * backend only stores and moves records, atomically.
 *
 * Ownership: jobs a backend returns are allocated with fpq_job_new()/fpq_job_set() and
 * owned by the caller. Strings in argument structs are borrowed for the call. */
#ifndef FPQ_BACKEND_H
#define FPQ_BACKEND_H

#include <stdarg.h>
#include <stdio.h>

#include "fpq.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FPQ_BACKEND_VERSION 6

/* The base every backend handle starts with. */
typedef struct fpq_backend {
  const struct fpq_backend_methods *methods;
  int err;           /* last FPQ_E* code */
  char errstr[256];  /* its detail in the backend's own words */
} fpq_backend;

/* Sets the handle's error and returns code, so `return fpq_backend_fail(b, ...)`. */
static inline int fpq_backend_fail(fpq_backend *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int fpq_backend_fail(fpq_backend *b, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->errstr, sizeof b->errstr, fmt, ap);
  va_end(ap);
  b->err = code;
  return code;
}

/* What open() is given besides the URL. */
typedef struct fpq_backend_settings {
  const char *project_dir; /* absolute */
  int create;              /* create storage that does not exist yet */
  double connect_timeout;  /* seconds */
  /* The backend's own section of conf/job_queue.yml (backends.NAME.KEY: VALUE, each
   * overridden by FPQ_BACKENDS_NAME_KEY), as NULL-terminated pairs: options[0] a key
   * without the "backends.NAME." prefix, options[1] its value, ... The keys `library`
   * and `adapter`, which say where the backend comes from, are left out. Never NULL.
   * Borrowed for the call to open(). */
  const char *const *options;
} fpq_backend_settings;

typedef struct fpq_take_args {
  const char *worker;
  const char *const *queues; /* strict priority order */
  size_t nqueues;
  double lease_seconds;      /* the job's lease ends at now + lease_seconds */
  double wait_seconds;       /* block up to this long for a job; 0 = do not wait */
  double now;
  /* Version 3: the fencing token of this take (hex, at most 64 characters), made by the
   * core. The backend stores it with the started job and returns it in job->execution;
   * extend_execution and finish then refuse any other token. */
  const char *execution;
} fpq_take_args;

/* One state change decided by the core for a job a worker holds. */
typedef struct fpq_finish_args {
  const char *id;
  const char *worker;        /* must still own the job, else FPQ_ELEASE */
  const char *queue;
  fpq_status status;         /* finished, failed, stopped, scheduled or queued (retry/return) */
  double run_at;             /* when scheduled: due time */
  int uncount_attempt;       /* 1: the run did not happen (worker returned it) */
  const char *result_json;   /* finished */
  const char *error_json;    /* failed, stopped, or the retried attempt's error */
  double duration;
  double now;
  double result_ttl;         /* finished: seconds to keep the job; -1 forever, 0 none */
  const char *pipeline;      /* for the record of ended runs (metrics) */
  double started_at;
  /* Version 3: the run's fencing token (job->execution); when set, the job must still be
   * started under it, else FPQ_ELEASE. NULL: the worker name alone is checked. */
  const char *execution;
  double failure_ttl;        /* failed or stopped: as result_ttl. The core resolves both
                              * (never FPQ_TTL_DEFAULT here). */
  const char *log;           /* the run's output, at most FPQ_LOG_MAX bytes, or NULL:
                              * replaces the job's log (the last run's is kept) */
} fpq_finish_args;

/* Ended jobs kept (finished, failed, stopped, canceled) and the bytes their results and
 * errors take, for `fpq metrics`. */
typedef struct fpq_retention {
  int64_t kept;
  int64_t bytes;
} fpq_retention;

/* One ended run, for throughput and run-time percentiles. */
typedef struct fpq_run_record {
  char pipeline[FPQ_PIPELINE_MAX + 1];
  char queue[64];
  fpq_status status; /* finished, failed or stopped */
  double started_at;
  double ended_at;
} fpq_run_record;

/* A scheduler handled the fires of a schedule up to last_fire: move the schedule on, but
 * only if nobody else did meanwhile (its next_fire still equals expect_next). */
typedef struct fpq_schedule_advance_args {
  const char *id;
  int64_t expect_next; /* the next_fire the scheduler read */
  int64_t next_fire;   /* the new one; 0 = never again */
  int64_t last_fire;
  int64_t fired;       /* added to the schedule's counters */
  int64_t skipped;
} fpq_schedule_advance_args;

struct fpq_backend_methods {
  int version;      /* FPQ_BACKEND_VERSION the backend was written against */
  const char *name; /* "sqlite", "rq", ... */
  size_t handle_size;

  /* --- version 1 --- */
  int (*open)(fpq_backend *b, const char *url, const fpq_backend_settings *s);
  void (*close)(fpq_backend *b); /* frees what open allocated, not the handle */
  /* Stores a validated job (id set, status queued or scheduled). FPQ_EEXIST on a taken id. */
  int (*enqueue)(fpq_backend *b, const fpq_job *job);
  int (*get)(fpq_backend *b, const char *id, fpq_job **out);
  int (*find)(fpq_backend *b, const char *project, const char *pipeline, int limit,
              fpq_job ***out, size_t *n);
  int (*cancel)(fpq_backend *b, const char *id, double now);
  int (*requeue)(fpq_backend *b, const char *id, double now);
  int (*counts)(fpq_backend *b, fpq_queue_counts **out, size_t *n);
  int (*take)(fpq_backend *b, const fpq_take_args *a, fpq_job **out);
  int (*extend)(fpq_backend *b, const char *id, const char *worker, double lease_until);
  int (*finish)(fpq_backend *b, const fpq_finish_args *a);
  /* Due scheduled -> queued; started jobs whose lease expired (dead worker) -> retried or
   * failed as fpq_retry_decision says, so every backend applies one retry rule. */
  int (*maintain)(fpq_backend *b, double now, int *moved);
  int (*worker_beat)(fpq_backend *b, const fpq_worker_info *info, double ttl, double now);
  int (*worker_gone)(fpq_backend *b, const char *name, double now);
  int (*workers)(fpq_backend *b, double now, fpq_worker_info **out, size_t *n);
  int (*worker_command)(fpq_backend *b, const char *name, const char *command);
  int (*worker_next_command)(fpq_backend *b, const char *name, char *buf, size_t len);

  /* --- version 2: schedules and the scheduler's leader lease --- */
  /* Stores a validated schedule, replacing any with its id (the core merged the two). */
  int (*schedule_put)(fpq_backend *b, const fpq_schedule *s);
  int (*schedule_get)(fpq_backend *b, const char *id, fpq_schedule **out);
  /* project NULL: every project's. due > 0: only unpaused ones with 0 < next_fire <= due,
   * soonest first, at most limit (> 0); due 0: all of them, by id. */
  int (*schedule_list)(fpq_backend *b, const char *project, int64_t due, int limit,
                       fpq_schedule ***out, size_t *n);
  int (*schedule_remove)(fpq_backend *b, const char *id); /* FPQ_ENOTFOUND when absent */
  /* Sets the paused flag, and next_fire when it is >= 0. FPQ_ENOTFOUND when absent. */
  int (*schedule_set_paused)(fpq_backend *b, const char *id, int paused, int64_t next_fire);
  /* Atomic compare-and-set on next_fire: FPQ_ESTATE when it no longer equals
   * a->expect_next (another scheduler got there first), FPQ_ENOTFOUND when absent. */
  int (*schedule_advance)(fpq_backend *b, const fpq_schedule_advance_args *a);
  /* A named lease with a time to live, e.g. the scheduler's leader lease. Atomically
   * takes it for owner until now + ttl when it is free, expired (expires_at <= now) or
   * owner's already (a renewal). Returns 0 when owner holds it, or FPQ_ELEASE with the
   * holder's name in holder. Times are the caller's clock. */
  int (*lease_acquire)(fpq_backend *b, const char *name, const char *owner, double now,
                       double ttl, char *holder, size_t holder_len);
  /* Gives the lease up if owner holds it (a clean stop hands over at once). */
  int (*lease_release)(fpq_backend *b, const char *name, const char *owner);
  /* Runs that ended (finished, failed, stopped) at or after since, newest first, at most
   * limit; *out freed by the caller with free(). Backends keep at least the last 15
   * minutes' worth. */
  int (*ended_since)(fpq_backend *b, double since, int limit, fpq_run_record **out,
                     size_t *n);

  /* --- version 3: fencing by execution --- */
  /* extend, but only while the job is started under this execution token (what take
   * stored): FPQ_ELEASE otherwise. NULL: the core calls extend (worker name only). */
  int (*extend_execution)(fpq_backend *b, const char *id, const char *worker,
                          const char *execution, double lease_until);
  /* --- version 3, too: retention --- */
  /* Removes ended jobs whose result_ttl / failure_ttl passed before now; sets *removed.
   * maintain() should do the same (a worker relies on it). */
  int (*prune)(fpq_backend *b, double now, int64_t *removed);
  /* Counts what is kept (a backend may estimate bytes from a sample; say so in its docs). */
  int (*retention)(fpq_backend *b, double now, fpq_retention *out);
  /* --- version 3, too: dependencies; no new methods, a promise about enqueue and finish ---
   * enqueue stores fpq_job.depends_on; a job given as deferred becomes queued (at the
   * back of its queue) once every parent it names is finished or has no record, checked
   * at enqueue and at each parent's finish atomically with it, so no release is missed.
   * The core refuses depends_on (FPQ_ENOTSUP) on a backend of an older version. */
  /* --- version 4: batch enqueue --- */
  /* Stores n validated jobs, each as enqueue would, in as few round trips as the store
   * allows (fpq_enqueue_many). On error *failed is the index of the job at fault (or n
   * when no one job is). A store with transactions writes all or nothing; one without
   * (rq) says in the message how many of the others it stored. NULL: the core calls
   * enqueue once per job. */
  int (*enqueue_many)(fpq_backend *b, const fpq_job *const *jobs, size_t n, size_t *failed);
  /* --- version 5: the worker's step between two jobs --- */
  /* finish(a), then take(t) with t->wait_seconds 0, in one step where the store allows
   * (one transaction, one script), with the effects of the two calls in that order.
   * Returns finish's result: 0, FPQ_ELEASE (the job is no longer held: the outcome is
   * dropped and the take still runs), or another error, when nothing was done. When the
   * take ran, *take_rc is its result (0 with *out, FPQ_EEMPTY, or an error); errstr says
   * why finish failed, else why take did. NULL: the core calls finish, then take. */
  int (*finish_take)(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                     int *take_rc, fpq_job **out);
  /* --- version 6: the step on a thread that must not wait --- */
  /* finish_take for a caller that cannot wait (the worker's event loop, which also keeps
   * job timeouts and signals). Returns 1 when the step cannot complete at once: another
   * writer holds the store's lock, no connection is open, the server has not answered
   * within a few milliseconds. The caller then calls finish_take with the same job and
   * outcome on a thread that may wait, and that call completes the step: a backend that
   * did nothing does all of it; one that sent the step reads the answer (whose job
   * carries the first call's execution token). Else as finish_take. NULL: never called. */
  int (*finish_take_nowait)(fpq_backend *b, const fpq_finish_args *a, const fpq_take_args *t,
                            int *take_rc, fpq_job **out);
};

/* Adds a backend to the core's registry at run time (built-in backends are there
 * already; C plugins named in the conf file are loaded on first use). The name must be
 * 1-63 of A-Z a-z 0-9 _ - and free. Returns 0, FPQ_EEXIST when the name is taken,
 * FPQ_EINVAL for a bad name, a version newer than this core or a missing open/close.
 * The methods must stay valid for the life of the process. */
FPQ_EXPORT int fpq_backend_add(const struct fpq_backend_methods *m);

/* Comma-separated names of the registered backends ("sqlite, rq, ..."), into buf. */
FPQ_EXPORT void fpq_backend_names(char *buf, size_t len);

/* Backends written in another language. The conf file may name a backend's code as
 * `backends.NAME.adapter: "package.module:Class"` (a Python QueueAdapter). A host that
 * can run such code (the Python package's extension) installs a loader; the core calls
 * it the first time NAME is asked for, and the loader registers a backend called NAME
 * (fpq_backend_add) and returns 0, or returns an FPQ_E* code with one line in err.
 * Without a loader (the fpq program) such a backend is refused with a message that says
 * where it can be used. NULL removes the loader. */
typedef int (*fpq_adapter_loader_fn)(const char *name, const char *spec, char *err,
                                     size_t errlen);
FPQ_EXPORT void fpq_set_adapter_loader(fpq_adapter_loader_fn loader);

/* The retry rule every backend applies to a job whose worker died: returns the status it
 * moves to (scheduled, queued or failed) and sets *run_at for scheduled. */
FPQ_EXPORT fpq_status fpq_retry_decision(const fpq_job *job, double now, double *run_at);

/* What the core lends a plugin. A plugin links against nothing of ours: the Python
 * extension holds libfpq privately (loaded RTLD_LOCAL), where a plugin's references
 * could not be resolved, so every engine function a plugin needs reaches it through this
 * table (SQLite's loadable extensions work the same way). Appended to, never reordered;
 * `version` says how much of it there is. */
#define FPQ_HOST_API_VERSION 1
typedef struct fpq_host_api {
  int version;         /* FPQ_HOST_API_VERSION of the core */
  int backend_version; /* FPQ_BACKEND_VERSION of the core */
  fpq_job *(*job_new)(void);
  void (*job_free)(fpq_job *job);
  fpq_job *(*job_dup)(const fpq_job *job);
  int (*job_set)(char **field, const char *value);
  const char *(*status_name)(fpq_status s);
  int (*status_parse)(const char *name, fpq_status *out);
  /* The retry rule (fpq_retry_decision) for jobs whose lease expired. */
  fpq_status (*retry_decision)(const fpq_job *job, double now, double *run_at);
  /* Memory for what the core frees: job arrays, counts, worker lists. */
  void *(*alloc)(size_t size);
  void *(*realloc)(void *ptr, size_t size);
  void (*free)(void *ptr);
} fpq_host_api;

/* A plugin is a shared object exporting
 *   const struct fpq_backend_methods *fpq_backend_register(const fpq_host_api *host);
 * named in conf/job_queue.yml (backends.NAME.library: /path/plugin.so). It keeps the host
 * table for its calls and returns its methods, or NULL when it cannot work with this
 * core (host->version or host->backend_version too old). Built-in backends are
 * registered by the core itself. See examples/plugins/. */
typedef const struct fpq_backend_methods *(*fpq_backend_register_fn)(const fpq_host_api *host);

#ifdef __cplusplus
}
#endif
#endif /* FPQ_BACKEND_H */
