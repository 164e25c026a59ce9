/* enqueue_loop.c: enqueue latency of the C API, measured in a loop.
 *
 *   enqueue_loop PROJECT_DIR PIPELINE COUNT [BACKEND URL]
 *
 * Prints one JSON object: count, p50/p90/p99/max in microseconds, and jobs/s. Uses one
 * handle, as a producer program would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: enqueue_loop PROJECT_DIR PIPELINE COUNT [BACKEND URL]\n");
    return 2;
  }
  int count = atoi(argv[3]);
  if (count < 1) return 2;
  fpq_options o = {.project_dir = argv[1], .create = 1,
                   .backend = argc > 4 ? argv[4] : NULL, .url = argc > 5 ? argv[5] : NULL};
  fpq_queue *q = NULL;
  if (fpq_open(&q, &o) != 0) {
    fprintf(stderr, "enqueue_loop: %s\n", fpq_errmsg(q));
    return 3;
  }
  double *lat = calloc((size_t)count, sizeof *lat);
  double start = now_us();
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
  double total = now_us() - start;
  qsort(lat, (size_t)count, sizeof *lat, by_value);
#define PCT(p) lat[(size_t)((count - 1) * (p))]
  printf("{\"count\": %d, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
         "\"max_us\": %.1f, \"jobs_per_s\": %.0f}\n",
         count, PCT(0.50), PCT(0.90), PCT(0.99), lat[count - 1], count / (total / 1e6));
  free(lat);
  fpq_close(q);
  return 0;
}
