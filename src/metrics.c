/* metrics.c: one JSON document of what an operator watches: per queue the jobs in each
 * status and the age of the oldest waiting one; per worker its state and counters;
 * throughput over the last 1, 5 and 15 minutes; run-time percentiles per pipeline over
 * the last 15 minutes; the ended jobs kept (their retention not passed) and their size.
 * The CLI prints it as a table or JSON; Prometheus text
 * (prometheus.c) is derived from the same document. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "fpq.h"
#include "queue.h"

static json_t *queue_object(const fpq_queue_counts *c, double now) {
  json_t *o = json_object();
  if (o == NULL) return NULL;
  json_object_set_new(o, "name", json_string(c->queue));
  for (int s = 0; s < FPQ_STATUS_COUNT; s++)
    json_object_set_new(o, fpq_status_name((fpq_status)s), json_integer(c->count[s]));
  json_object_set_new(o, "oldest_queued_age_seconds",
                      c->oldest_queued_at > 0 ? json_real(now - c->oldest_queued_at)
                                              : json_null());
  return o;
}

static json_t *worker_object(const fpq_worker_info *w, double now) {
  double age = now - w->birth;
  return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s?, s:I, s:I, s:f, s:f, s:f}", "name", w->name,
                   "hostname", w->hostname, "pid", w->pid, "state", w->state, "queues",
                   w->queues, "current_job", w->current_job[0] ? w->current_job : NULL,
                   "successful", (json_int_t)w->successful, "failed", (json_int_t)w->failed,
                   "busy_seconds", w->busy_seconds, "busy_ratio",
                   age > 0 ? (w->busy_seconds / age > 1 ? 1.0 : w->busy_seconds / age) : 0.0,
                   "last_heartbeat_age_seconds", now - w->last_heartbeat);
}

#define RUN_WINDOW 900.0   /* percentiles over the last 15 minutes */
#define RUN_LIMIT 100000   /* the newest runs of that window, at most */

static int by_pipeline_then_duration(const void *a, const void *b) {
  const fpq_run_record *x = a, *y = b;
  int c = strcmp(x->pipeline, y->pipeline);
  if (c) return c;
  double dx = x->ended_at - x->started_at, dy = y->ended_at - y->started_at;
  return (dx > dy) - (dx < dy);
}

/* The value below which share q of n sorted durations lie (nearest rank). */
static double quantile(const fpq_run_record *runs, size_t n, double q) {
  size_t i = (size_t)(q * (double)n);
  if (i >= n) i = n - 1;
  return runs[i].ended_at - runs[i].started_at;
}

/* Adds "throughput" and "pipelines" from the backend's record of ended runs; leaves them
 * out when the backend keeps none (a version-1 plugin) or cannot be read now. */
static void add_runs(fpq_queue *q, json_t *root, double now) {
  fpq_run_record *runs = NULL;
  size_t n = 0;
  if (fpq__ended_since(q, now - RUN_WINDOW, RUN_LIMIT, &runs, &n) != 0) return;
  static const struct {
    const char *name;
    double seconds;
  } windows[] = {{"1m", 60}, {"5m", 300}, {"15m", 900}};
  json_t *throughput = json_object();
  for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++) {
    size_t ended = 0;
    for (size_t i = 0; i < n; i++) ended += runs[i].ended_at >= now - windows[w].seconds;
    json_object_set_new(throughput, windows[w].name,
                        json_real((double)ended / (windows[w].seconds / 60)));
  }
  json_object_set_new(root, "throughput", throughput);
  /* Run time is measured on finished runs; failures are counted beside them. */
  size_t finished = 0;
  for (size_t i = 0; i < n; i++)
    if (runs[i].status == FPQ_STATUS_FINISHED) runs[finished++] = runs[i];
  if (finished > 1) qsort(runs, finished, sizeof *runs, by_pipeline_then_duration);
  json_t *pipelines = json_array();
  for (size_t i = 0; i < finished;) {
    size_t j = i;
    double sum = 0;
    while (j < finished && strcmp(runs[j].pipeline, runs[i].pipeline) == 0) {
      sum += runs[j].ended_at - runs[j].started_at;
      j++;
    }
    size_t count = j - i;
    json_array_append_new(
        pipelines, json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f}", "pipeline",
                             runs[i].pipeline, "count", (json_int_t)count, "sum", sum, "p50",
                             quantile(runs + i, count, 0.5), "p90", quantile(runs + i, count, 0.9),
                             "p99", quantile(runs + i, count, 0.99), "max",
                             runs[j - 1].ended_at - runs[j - 1].started_at));
    i = j;
  }
  json_object_set_new(root, "pipelines", pipelines);
  free(runs);
}

int fpq_metrics_json(fpq_queue *q, char **out) {
  *out = NULL;
  fpq_queue_counts *counts = NULL;
  size_t ncounts = 0;
  int rc = fpq_counts(q, &counts, &ncounts);
  if (rc) return rc;
  fpq_worker_info *workers = NULL;
  size_t nworkers = 0;
  rc = fpq_workers(q, &workers, &nworkers);
  if (rc) {
    free(counts);
    return rc;
  }
  double now = fpq__now();
  json_t *root = json_object(), *queues = json_array(), *ws = json_array();
  json_object_set_new(root, "backend", json_string(fpq_backend_name(q)));
  for (size_t i = 0; i < ncounts; i++) json_array_append_new(queues, queue_object(&counts[i], now));
  for (size_t i = 0; i < nworkers; i++) json_array_append_new(ws, worker_object(&workers[i], now));
  json_object_set_new(root, "queues", queues);
  json_object_set_new(root, "workers", ws);
  add_runs(q, root, now);
  /* Left out for a backend that cannot say (an older plugin, a Python adapter). */
  fpq_retention kept;
  if (fpq__retention(q, &kept) == 0)
    json_object_set_new(root, "results", json_pack("{s:I, s:I}", "kept", (json_int_t)kept.kept,
                                                   "bytes", (json_int_t)kept.bytes));
  *out = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  free(counts);
  free(workers);
  return *out ? 0 : FPQ_ENOMEM;
}
