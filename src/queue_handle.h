/* queue_handle.h: the queue handle's insides, for the files that implement the API over
 * a backend (queue.c, schedule.c) and nothing else: the rest of the engine asks a queue
 * through fpq.h and queue.h, so only this layer reaches a backend. */
#ifndef FPQ_QUEUE_HANDLE_H
#define FPQ_QUEUE_HANDLE_H

#include "config.h"
#include "fpq_backend.h"
#include "queue.h"

struct fpq_queue {
  fpq__config cfg;
  fpq_backend *b; /* NULL when open failed */
  int err;
  char errmsg[768];
  char errfield[64]; /* what errmsg is about, when known ("backend", "url", ...) */
};

/* Sets the handle's error (code and message); returns code. */
int fpq__fail(fpq_queue *q, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies the backend's error detail to the handle (or clears it for rc 0); returns rc. */
int fpq__from_backend(fpq_queue *q, int rc);

/* A handle whose open failed has no backend; every call then repeats why. */
#define NEED_BACKEND(q)                                            \
  do {                                                             \
    if ((q)->b == NULL) return (q)->err ? (q)->err : FPQ_EUNAVAIL; \
  } while (0)

#endif /* FPQ_QUEUE_HANDLE_H */
