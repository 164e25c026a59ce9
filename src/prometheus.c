/* prometheus.c: the metrics document (metrics.c) in Prometheus' text exposition format
 * 0.0.4, for `fpq metrics --prometheus` and the worker's /metrics endpoint. One
 * conversion from the JSON form, so the two outputs can never disagree. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fpq.h"
#include "metrics.h"

typedef struct text {
  char *buf;
  size_t len, cap;
  int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->oom = 1;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n + 256;
    char *grown = fpq__realloc(t->buf, cap);
    if (grown == NULL) {
      t->oom = 1;
      return;
    }
    t->buf = grown;
    t->cap = cap;
  }
}

/* Label values escape backslash, double quote and newline, as the format requires. */
static void put_label(text *t, const char *value) {
  for (const char *p = value ? value : ""; *p; p++) {
    if (*p == '\\') put(t, "\\\\");
    else if (*p == '"') put(t, "\\\"");
    else if (*p == '\n') put(t, "\\n");
    else put(t, "%c", *p);
  }
}

static void header(text *t, const char *name, const char *type, const char *help) {
  put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *str(json_t *o, const char *key) {
  const char *v = json_string_value(json_object_get(o, key));
  return v ? v : "";
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void queue_metrics(text *t, json_t *queues) {
  size_t i;
  json_t *q;
  header(t, "fpq_jobs", "gauge", "Jobs per queue and status.");
  json_array_foreach(queues, i, q) {
    for (int s = 0; s < FPQ_STATUS_COUNT; s++) {
      const char *status = fpq_status_name((fpq_status)s);
      json_t *v = json_object_get(q, status);
      if (!json_is_integer(v)) continue;
      put(t, "fpq_jobs{queue=\"");
      put_label(t, str(q, "name"));
      put(t, "\",status=\"%s\"} %lld\n", status, (long long)json_integer_value(v));
    }
  }
  header(t, "fpq_queue_oldest_queued_age_seconds", "gauge",
         "Seconds the oldest queued job of a queue has waited (0 when none waits).");
  json_array_foreach(queues, i, q) {
    put(t, "fpq_queue_oldest_queued_age_seconds{queue=\"");
    put_label(t, str(q, "name"));
    put(t, "\"} %.6f\n", num(q, "oldest_queued_age_seconds"));
  }
}

static void worker_labels(text *t, json_t *w) {
  put(t, "{worker=\"");
  put_label(t, str(w, "name"));
  put(t, "\",hostname=\"");
  put_label(t, str(w, "hostname"));
  put(t, "\"");
}

static void worker_metrics(text *t, json_t *workers) {
  size_t i;
  json_t *w;
  header(t, "fpq_workers", "gauge", "Live workers.");
  put(t, "fpq_workers %zu\n", json_array_size(workers));
  header(t, "fpq_worker_busy", "gauge", "1 while a worker runs a job.");
  json_array_foreach(workers, i, w) {
    put(t, "fpq_worker_busy");
    worker_labels(t, w);
    put(t, "} %d\n", strcmp(str(w, "state"), "busy") == 0);
  }
  header(t, "fpq_worker_jobs_total", "counter", "Jobs a worker ended, by outcome.");
  json_array_foreach(workers, i, w) {
    static const char *const outcomes[] = {"successful", "failed"};
    for (int k = 0; k < 2; k++) {
      put(t, "fpq_worker_jobs_total");
      worker_labels(t, w);
      put(t, ",outcome=\"%s\"} %lld\n", outcomes[k],
          (long long)json_integer_value(json_object_get(w, outcomes[k])));
    }
  }
  header(t, "fpq_worker_busy_ratio", "gauge", "Share of its life a worker spent running jobs.");
  json_array_foreach(workers, i, w) {
    put(t, "fpq_worker_busy_ratio");
    worker_labels(t, w);
    put(t, "} %.6f\n", num(w, "busy_ratio"));
  }
}

/* Optional sections (present once the backend records finished runs). */
static void throughput_metrics(text *t, json_t *throughput) {
  if (!json_is_object(throughput)) return;
  header(t, "fpq_throughput_jobs_per_minute", "gauge",
         "Jobs ended per minute, averaged over a window.");
  const char *window;
  json_t *v;
  json_object_foreach(throughput, window, v) {
    put(t, "fpq_throughput_jobs_per_minute{window=\"");
    put_label(t, window);
    put(t, "\"} %.6f\n", json_number_value(v));
  }
}

static void runtime_metrics(text *t, json_t *pipelines) {
  if (!json_is_array(pipelines) || json_array_size(pipelines) == 0) return;
  header(t, "fpq_pipeline_run_seconds", "summary",
         "Run time of finished jobs per pipeline over the last 15 minutes.");
  size_t i;
  json_t *p;
  json_array_foreach(pipelines, i, p) {
    static const char *const quantiles[][2] = {{"0.5", "p50"}, {"0.9", "p90"}, {"0.99", "p99"}};
    for (int k = 0; k < 3; k++) {
      put(t, "fpq_pipeline_run_seconds{pipeline=\"");
      put_label(t, str(p, "pipeline"));
      put(t, "\",quantile=\"%s\"} %.6f\n", quantiles[k][0], num(p, quantiles[k][1]));
    }
    put(t, "fpq_pipeline_run_seconds_sum{pipeline=\"");
    put_label(t, str(p, "pipeline"));
    put(t, "\"} %.6f\n", num(p, "sum"));
    put(t, "fpq_pipeline_run_seconds_count{pipeline=\"");
    put_label(t, str(p, "pipeline"));
    put(t, "\"} %lld\n", (long long)json_integer_value(json_object_get(p, "count")));
  }
}

/* Ended jobs kept within their retention, and their size: what result_ttl and
 * failure_ttl bound. Left out when the backend cannot say. */
static void retention_metrics(text *t, json_t *results) {
  if (!json_is_object(results)) return;
  header(t, "fpq_results_kept", "gauge", "Ended jobs kept (their retention not passed).");
  put(t, "fpq_results_kept %lld\n", (long long)json_integer_value(json_object_get(results, "kept")));
  header(t, "fpq_results_bytes", "gauge", "Bytes the kept jobs' results and errors take.");
  put(t, "fpq_results_bytes %lld\n",
      (long long)json_integer_value(json_object_get(results, "bytes")));
}

int fpq__metrics_prometheus(const char *json, char **out) {
  *out = NULL;
  json_t *m = json_loads(json, 0, NULL);
  if (m == NULL) return FPQ_EFORMAT;
  text t = {.buf = fpq__malloc(4096), .cap = 4096};
  if (t.buf == NULL) {
    json_decref(m);
    return FPQ_ENOMEM;
  }
  t.buf[0] = '\0';
  queue_metrics(&t, json_object_get(m, "queues"));
  worker_metrics(&t, json_object_get(m, "workers"));
  throughput_metrics(&t, json_object_get(m, "throughput"));
  runtime_metrics(&t, json_object_get(m, "pipelines"));
  retention_metrics(&t, json_object_get(m, "results"));
  json_decref(m);
  if (t.oom) {
    fpq__free(t.buf);
    return FPQ_ENOMEM;
  }
  *out = t.buf;
  return 0;
}

int fpq_metrics_prometheus(fpq_queue *q, char **out) {
  *out = NULL;
  char *json = NULL;
  int rc = fpq_metrics_json(q, &json);
  if (rc == 0) rc = fpq__metrics_prometheus(json, out);
  free(json);
  return rc;
}
