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

#define FPQ_BACKEND_VERSION 1

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
} fpq_backend_settings;

typedef struct fpq_take_args {
  const char *worker;
  const char *const *queues; /* strict priority order */
  size_t nqueues;
  double lease_seconds;      /* the job's lease ends at now + lease_seconds */
  double wait_seconds;       /* block up to this long for a job; 0 = do not wait */
  double now;
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
  double result_ttl;         /* seconds to keep a finished job's result; 0 = default */
} fpq_finish_args;

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
};

/* The retry rule every backend applies to a job whose worker died: returns the status it
 * moves to (scheduled, queued or failed) and sets *run_at for scheduled. */
FPQ_EXPORT fpq_status fpq_retry_decision(const fpq_job *job, double now, double *run_at);

/* A plugin is a shared object exporting
 *   const struct fpq_backend_methods *fpq_backend_register(int core_version);
 * named in conf/job_queue.yml; it returns its methods, or NULL when it cannot work with
 * that core version. Built-in backends are registered by the core itself. */
typedef const struct fpq_backend_methods *(*fpq_backend_register_fn)(int core_version);

#ifdef __cplusplus
}
#endif
#endif /* FPQ_BACKEND_H */
