/* queue.h: the queue handle's insides, shared by queue.c, schedule.c and metrics.c. */
#ifndef FPQ_QUEUE_H
#define FPQ_QUEUE_H

#include "config.h"
#include "fpq_backend.h"

struct fpq_queue {
  fpq__config cfg;
  fpq_backend *b; /* NULL when open failed */
  int err;
  char errmsg[768];
};

/* Seconds to wait before the next attempt of a job that failed its attempts-th run:
 * retry_delay * 2^(attempts-1), scaled by a random factor in [1-jitter, 1+jitter]. */
double fpq__backoff(const fpq_job *job);

/* Sets the handle's error (code and message); returns code. */
int fpq__fail(fpq_queue *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* FPQ_QUEUE_H */
