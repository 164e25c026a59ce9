/* worker.h: the worker supervisor behind `fpq worker start`. */
#ifndef FPQ_WORKER_H
#define FPQ_WORKER_H

#include "fpq.h"

typedef struct fpq__worker_options {
  fpq_options open;        /* where the queue is */
  int count;               /* slots, each with its own executor; >= 1 */
  const char *queues;      /* comma-joined, strict order; NULL = "high,default,low" */
  int burst;               /* exit when nothing is left to do */
  const char *isolation;   /* "fork" (default) or "none" */
  const char *name;        /* NULL = "<hostname>.<pid>" */
  double lease;            /* seconds a taken job is ours without a heartbeat; 0 = 15 */
  double default_timeout;  /* seconds for jobs without their own; 0 = none */
  double kill_grace;       /* seconds between SIGTERM and SIGKILL; 0 = 5 */
  double stop_grace;       /* graceful stop: seconds to let running jobs finish; 0 = no limit */
  const char *python;      /* NULL = fpq__executor_find_python */
  int quiet;               /* log only warnings and errors */
  int metrics_port;        /* > 0: serve GET /metrics (Prometheus) on this port */
  const char *metrics_host;/* address to listen on; NULL = 127.0.0.1 */
  int with_scheduler;      /* also fire schedules (scheduler.c) from this worker's tick */
} fpq__worker_options;

/* Runs a worker until it is stopped (signal, `fpq worker stop`, or --burst running dry).
 * Logs to stderr. Returns the process exit code: 0 after a requested stop, 1 when it could
 * not work (bad settings, executors that cannot start), 3 when the backend is
 * unreachable at start. */
int fpq__worker_run(const fpq__worker_options *opts);

#endif /* FPQ_WORKER_H */
