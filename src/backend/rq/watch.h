/* watch.h (rq): the rq backend's two subscribed connections: the one an idle take sleeps on
 * until a queue changes (client-side tracking broadcasts), and a worker's command channel
 * rq:pubsub:NAME. */
#ifndef FPQ_RQ_WATCH_H
#define FPQ_RQ_WATCH_H

#include <stddef.h>

#include "conn.h"

/* ---- waking takes ---- */

typedef struct fpq__rq_watch {
  fpq__rq_link link;
  int armed;       /* tracking and subscription confirmed on link.c */
  int unsupported; /* the server has no CLIENT TRACKING (Redis < 6): poll instead */
  unsigned epoch;  /* counts successful arms: a new connection may have missed writes */
} fpq__rq_watch;

/* Makes sure the tracking connection is up. Returns 1 when armed, 0 when the caller must
 * poll (Redis down, backing off, or too old). Cheap when already armed. */
int fpq__rq_watch_arm(fpq__rq_watch *w, const fpq__rq_target *t);
/* Discards notifications that have already arrived, without blocking. Call it right
 * before looking at the queues: any write after the look then wakes the next wait.
 * Returns 1 when there were any (or the connection broke), 0 when nothing was written
 * under the watched prefixes since the previous drain. */
int fpq__rq_watch_drain(fpq__rq_watch *w);
/* Sleeps until a write to a queue or scheduled set arrives or timeout seconds pass.
 * Returns 1 woken, 0 timed out, -1 the connection broke (closed; re-arm later). */
int fpq__rq_watch_wait(fpq__rq_watch *w, double timeout);
void fpq__rq_watch_close(fpq__rq_watch *w);

/* ---- worker commands ---- */

#define FPQ_RQ_SUB_PENDING 16

typedef struct fpq__rq_sub {
  fpq__rq_link link;
  char channel[160]; /* rq:pubsub:NAME; "" until subscribed once */
  int subscribed;    /* confirmed on link.c */
  char *pending[FPQ_RQ_SUB_PENDING]; /* payloads received, oldest first (owned) */
  size_t npending;
} fpq__rq_sub;

/* Subscribes to channel (again, after a reconnect). Returns 0, or an FPQ_E* code with
 * one line in err. */
int fpq__rq_sub_open(fpq__rq_sub *s, const fpq__rq_target *t, const char *channel, char *err,
                     size_t errlen);
/* Collects every message published before this call: sends PING on the subscribed
 * connection and reads up to its pong, so a PUBLISH that returned before we were called
 * is never missed for lack of waiting. Returns 0, or an FPQ_E* code with err. */
int fpq__rq_sub_poll(fpq__rq_sub *s, const fpq__rq_target *t, char *err, size_t errlen);
/* Pops the oldest pending payload (caller frees with fpq__free), or NULL. */
char *fpq__rq_sub_pop(fpq__rq_sub *s);
void fpq__rq_sub_close(fpq__rq_sub *s);

#endif /* FPQ_RQ_WATCH_H */
