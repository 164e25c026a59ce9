/* worker_setup.c: what `fpq worker start` settles before its loop runs: the queues it
 * takes from, a name no live worker holds, and the executors' settings from the conf. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "job.h"
#include "queue.h"
#include "worker_state.h"

int fpq__worker_parse_queues(worker *w, const char *text) {
  snprintf(w->queues_text, sizeof w->queues_text, "%s", text);
  snprintf(w->queue_names, sizeof w->queue_names, "%s", text);
  char *p = w->queue_names;
  while (p && w->nqueues < sizeof w->queues / sizeof w->queues[0]) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (*p == '\0') return -1;
    w->queues[w->nqueues++] = p;
    p = comma ? comma + 1 : NULL;
  }
  return p ? -1 : 0;
}

/* Two live workers under one name would hold each other's leases and read each other's
 * commands: a name held by a live worker (its registration has not expired) is refused.
 * Returns 0, or the exit code. Not atomic (two starting in the same instant both pass);
 * the default names are unique, and fencing by execution keeps even that case safe. */
int fpq__worker_refuse_a_taken_name(worker *w) {
  fpq_worker_info *list = NULL;
  size_t n = 0;
  if (fpq_workers(w->q, &list, &n) != 0) return 0; /* the first beat reports the problem */
  int code = 0;
  for (size_t i = 0; i < n && code == 0; i++) {
    if (strcmp(list[i].name, w->name) != 0) continue;
    fprintf(stderr,
            "fpq: --name '%s' is held by a live worker (pid %d on host '%s', seen %.0f s "
            "ago): choose another name, or stop that worker first\n",
            w->name, list[i].pid, list[i].hostname, fmax(0, fpq__now() - list[i].last_heartbeat));
    code = 2;
  }
  free(list);
  return code;
}

/* The executors' settings from conf/job_queue.yml and the environment; a bad value stops
 * the worker before it takes a job (exit 2). A config that does not resolve at all is
 * left for fpq_open to report. */
int fpq__worker_read_executor_settings(worker *w, char *queues, size_t queues_len) {
  fpq__config cfg;
  char err[512];
  int rc = fpq__config_resolve(&cfg, &w->opt.open);
  /* Without --queues: this project's three queues in priority order, as fpq_enqueue
   * names them (config.c: "NAME.high,NAME.default,NAME.low" when namespaced). */
  if (rc == 0)
    snprintf(queues, queues_len, "%s,%s,%s", cfg.queue_names[FPQ_PRIORITY_HIGH],
             cfg.queue_names[FPQ_PRIORITY_MEDIUM], cfg.queue_names[FPQ_PRIORITY_LOW]);
  w->pipeline_cache = FPQ_PIPELINE_CACHE_DEFAULT;
  w->callback_timeout = FPQ_CALLBACK_TIMEOUT;
  if (rc == 0 && fpq__config_pipeline_cache(&cfg, &w->pipeline_cache, err, sizeof err) != 0) {
    fprintf(stderr, "fpq: %s\n", err);
    fpq__config_free(&cfg);
    return -1;
  }
  const char *limit = rc == 0 ? fpq__config_get(&cfg, "executor.callback_timeout") : NULL;
  if (limit && (fpq_parse_duration(limit, &w->callback_timeout, NULL, 0) != 0 ||
                !(w->callback_timeout > 0 && w->callback_timeout <= 86400))) {
    char q[80];
    fpq__quote(limit, q, sizeof q);
    fprintf(stderr, "fpq: executor.callback_timeout '%s' is not valid: expected a duration "
            "above 0 and up to 1d, like 60s\n", q);
    fpq__config_free(&cfg);
    return -1;
  }
  fpq__config_free(&cfg);
  return 0;
}
