/* enqueue_many: bulk producer for the Python stress tests (tests/python/test_rq_chaos.py),
 * which need thousands of jobs faster than one `fpq enqueue` process per job allows.
 * Usage: enqueue_many BACKEND URL PROJECT PIPELINE COUNT RUN_TEMPLATE [FIRST]
 * RUN_TEMPLATE is the run JSON with one %d, replaced by the job's number FIRST..FIRST+COUNT-1
 * (FIRST defaults to 0), e.g. '{"inputs": {"i": %d}}'. Prints each job id on its own line
 * as soon as fpq_enqueue has returned (line-buffered: a printed id is an acknowledged job,
 * even if this process is killed the next instant, which the chaos tests do); exits 0, or
 * 1 with the error on stderr. Goes through the public API, exactly as `fpq enqueue` does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fpq.h"

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: enqueue_many BACKEND URL PROJECT PIPELINE COUNT RUN_TEMPLATE [FIRST]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  fpq_options o = {.backend = argv[1], .url = argv[2], .project_dir = argv[3], .create = 1};
  fpq_queue *q = NULL;
  if (fpq_open(&q, &o) != 0) {
    fprintf(stderr, "enqueue_many: %s\n", fpq_errmsg(q));
    fpq_close(q);
    return 1;
  }
  int count = atoi(argv[5]), first = argc == 8 ? atoi(argv[7]) : 0;
  const char *tmpl = argv[6], *hole = strstr(tmpl, "%d");
  char run[4096];
  for (int i = first; i < first + count; i++) {
    fpq_job *job = fpq_job_new();
    if (hole)
      snprintf(run, sizeof run, "%.*s%d%s", (int)(hole - tmpl), tmpl, i, hole + 2);
    else
      snprintf(run, sizeof run, "%s", tmpl);
    fpq_job_set(&job->pipeline, argv[4]);
    fpq_job_set(&job->run_json, run);
    if (fpq_enqueue(q, job) != 0) {
      fprintf(stderr, "enqueue_many: job %d: %s\n", i, fpq_errmsg(q));
      fpq_job_free(job);
      fpq_close(q);
      return 1;
    }
    printf("%s\n", job->id);
    fpq_job_free(job);
  }
  fpq_close(q);
  return 0;
}
