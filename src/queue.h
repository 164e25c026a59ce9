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
/* Copies the backend's error detail to the handle (or clears it for rc 0); returns rc. */
int fpq__from_backend(fpq_queue *q, int rc);

/* A handle whose open failed has no backend; every call then repeats why. */
#define NEED_BACKEND(q)                                            \
  do {                                                             \
    if ((q)->b == NULL) return (q)->err ? (q)->err : FPQ_EUNAVAIL; \
  } while (0)

#endif /* FPQ_QUEUE_H */
