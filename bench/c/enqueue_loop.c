/* enqueue_loop.c: enqueue latency of the C API, measured in a loop.
 *
 *   enqueue_loop PROJECT_DIR PIPELINE COUNT [BACKEND URL [BATCH]]
 *
 * Prints one JSON object: count, p50/p90/p99/max in microseconds, jobs/s and this
 * process's CPU per job. Uses one handle, as a producer program would. BATCH > 0: the
 * jobs go in fpq_enqueue_many calls of BATCH jobs each, and the latencies are per call
 * (BACKEND or URL "" means the default). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fpq.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Prints the figures of `calls` timed calls that enqueued `count` jobs; frees and closes. */
static int report(fpq_queue *q, int count, int calls, double *lat, double start, double cpu0) {
  double total = now_us() - start, cpu = cpu_us() - cpu0;
  qsort(lat, (size_t)calls, sizeof *lat, by_value);
#define PCT(p) lat[(size_t)((calls - 1) * (p))]
  printf("{\"count\": %d, \"calls\": %d, \"p50_us\": %.1f, \"p90_us\": %.1f, "
         "\"p99_us\": %.1f, \"max_us\": %.1f, \"jobs_per_s\": %.0f, "
         "\"cpu_us_per_job\": %.2f}\n",
         count, calls, PCT(0.50), PCT(0.90), PCT(0.99), lat[calls - 1],
         count / (total / 1e6), cpu / count);
  free(lat);
  fpq_close(q);
  return 0;
}

/* fpq_enqueue_many in calls of `batch` jobs; a job is made and freed as a producer would. */
static int run_batches(fpq_queue *q, const char *pipeline, int count, int batch, double *lat,
                       double start, double cpu0) {
  fpq_job **jobs = calloc((size_t)batch, sizeof *jobs);
  int calls = 0;
  for (int done = 0; done < count; calls++) {
    int n = count - done < batch ? count - done : batch;
    for (int i = 0; i < n; i++) {
      jobs[i] = fpq_job_new();
      fpq_job_set(&jobs[i]->pipeline, pipeline);
    }
    size_t failed;
    double t0 = now_us();
    int rc = fpq_enqueue_many(q, jobs, (size_t)n, &failed);
    lat[calls] = now_us() - t0;
    for (int i = 0; i < n; i++) fpq_job_free(jobs[i]);
    if (rc) {
      fprintf(stderr, "enqueue_loop: %s\n", fpq_errmsg(q));
      return 1;
    }
    done += n;
  }
  free(jobs);
  return report(q, count, calls, lat, start, cpu0);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: enqueue_loop PROJECT_DIR PIPELINE COUNT [BACKEND URL]\n");
    return 2;
  }
  int count = atoi(argv[3]);
  if (count < 1) return 2;
  fpq_options o = {.project_dir = argv[1], .create = 1,
                   .backend = argc > 4 && argv[4][0] ? argv[4] : NULL,
                   .url = argc > 5 && argv[5][0] ? argv[5] : NULL};
  int batch = argc > 6 ? atoi(argv[6]) : 0;
  fpq_queue *q = NULL;
  if (fpq_open(&q, &o) != 0) {
    fprintf(stderr, "enqueue_loop: %s\n", fpq_errmsg(q));
    return 3;
  }
  double *lat = calloc((size_t)count, sizeof *lat);
  double start = now_us(), cpu0 = cpu_us();
  if (batch > 0) return run_batches(q, argv[2], count, batch, lat, start, cpu0);
  for (int i = 0; i < count; i++) {
    fpq_job *job = fpq_job_new();
    fpq_job_set(&job->pipeline, argv[2]);
    double t0 = now_us();
    int rc = fpq_enqueue(q, job);
    lat[i] = now_us() - t0;
    fpq_job_free(job);
    if (rc) {
      fprintf(stderr, "enqueue_loop: %s\n", fpq_errmsg(q));
      return 1;
    }
  }
  return report(q, count, count, lat, start, cpu0);
}
