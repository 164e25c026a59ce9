/* metrics.c: one JSON document of what an operator watches: per queue the jobs in each
 * status and the age of the oldest waiting one, and per worker its state and counters.
 * The CLI prints it as a table or JSON; Prometheus text is derived from the same data. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "fpq.h"

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
  *out = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  free(counts);
  free(workers);
  return *out ? 0 : FPQ_ENOMEM;
}
