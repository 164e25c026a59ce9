/* watch.c (rq): waiting without polling, and worker commands.
 *
 * An idle take must notice a new job within milliseconds without hammering Redis, and
 * must notice jobs that ANY client enqueues: our producers, Python rq's, rq's scheduler.
 * Redis 6+ client-side tracking in broadcast mode does exactly that: a connection that
 * runs `CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX rq:queue: PREFIX
 * rq:scheduled:` and subscribes to __redis__:invalidate receives, at the end of the
 * server's event-loop turn, the name of every key under those prefixes that any client
 * (or script) wrote. So a waiting take is one poll() on that socket; each write to a
 * queue costs every idle worker one wake-up and one take script. Without tracking
 * (Redis < 6, or an ACL that forbids it) the caller polls instead.
 *
 * The command channel is plain pub/sub on a connection of its own, subscribed from the
 * worker's first heartbeat (so a command sent after `fpq worker start` returns is never
 * published to nobody). Pub/sub does not queue: a command published while the worker is
 * disconnected is lost, and PUBLISH's count of receivers (0) tells the sender so. */
#include "watch.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "fpq.h"

/* ---- the tracking connection ---- */

static void watch_broken(fpq__rq_watch *w) {
  fpq__rq_link_lost(&w->link);
  w->armed = 0;
}

/* Runs one setup command; returns the reply when it is not an error, else NULL. */
static redisReply *setup(redisContext *c, int argc, const char **argv) {
  redisReply *r = fpq__rq_command(c, argc, argv, NULL);
  if (r && r->type == REDIS_REPLY_ERROR) {
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

int fpq__rq_watch_arm(fpq__rq_watch *w, const fpq__rq_target *t) {
  if (w->unsupported) return 0;
  if (w->armed && w->link.c && !w->link.c->err) return 1;
  if (w->link.c) watch_broken(w);
  char err[256];
  if (fpq__rq_link_open(&w->link, t, err, sizeof err) != 0) return 0;
  redisContext *c = w->link.c;
  const char *id_cmd[] = {"CLIENT", "ID"};
  redisReply *r = setup(c, 2, id_cmd);
  if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
    if (r) freeReplyObject(r);
    if (!c->err) w->unsupported = 1; /* CLIENT ID: Redis >= 5 */
    watch_broken(w);
    return 0;
  }
  char id[32];
  snprintf(id, sizeof id, "%lld", r->integer);
  freeReplyObject(r);
  const char *track[] = {"CLIENT", "TRACKING", "on", "REDIRECT", id, "BCAST",
                         "PREFIX", "rq:queue:", "PREFIX", "rq:scheduled:",
                         "PREFIX", "rq:suspended"};
  r = setup(c, 12, track);
  if (r == NULL) {
    if (!c->err) w->unsupported = 1;
    watch_broken(w);
    return 0;
  }
  freeReplyObject(r);
  const char *sub[] = {"SUBSCRIBE", "__redis__:invalidate"};
  r = setup(c, 2, sub);
  if (r == NULL) {
    watch_broken(w);
    return 0;
  }
  freeReplyObject(r);
  w->armed = 1;
  w->epoch++;
  return 1;
}

/* Frees every complete message already read; returns -1 when the stream is broken. */
static int consume(fpq__rq_watch *w, int *got) {
  void *reply = NULL;
  for (;;) {
    if (redisGetReplyFromReader(w->link.c, &reply) != REDIS_OK) return -1;
    if (reply == NULL) return 0;
    freeReplyObject(reply);
    *got = 1;
  }
}

int fpq__rq_watch_drain(fpq__rq_watch *w) {
  if (!w->armed) return 1;
  int got = 0;
  for (;;) {
    if (consume(w, &got) < 0) {
      watch_broken(w);
      return 1;
    }
    if (fpq__rq_wait_readable(w->link.c, 0) <= 0) return got;
    got = 1; /* even a partial message means a write happened */
    if (redisBufferRead(w->link.c) != REDIS_OK) {
      watch_broken(w);
      return 1;
    }
  }
}

int fpq__rq_watch_wait(fpq__rq_watch *w, double timeout) {
  if (!w->armed) return -1;
  int got = 0;
  if (consume(w, &got) < 0) {
    watch_broken(w);
    return -1;
  }
  if (got) return 1;
  int rd = fpq__rq_wait_readable(w->link.c, timeout);
  if (rd <= 0) return 0;
  if (redisBufferRead(w->link.c) != REDIS_OK || consume(w, &got) < 0) {
    watch_broken(w);
    return -1;
  }
  return 1; /* a partly read message is a wake-up too; the rest comes with the next */
}

void fpq__rq_watch_close(fpq__rq_watch *w) {
  fpq__rq_link_close(&w->link);
  w->armed = 0;
}

/* ---- the command channel ---- */

static void sub_broken(fpq__rq_sub *s) {
  fpq__rq_link_lost(&s->link);
  s->subscribed = 0;
}

int fpq__rq_sub_open(fpq__rq_sub *s, const fpq__rq_target *t, const char *channel, char *err,
                     size_t errlen) {
  if (s->subscribed && s->link.c && !s->link.c->err && strcmp(s->channel, channel) == 0)
    return 0;
  if (channel != s->channel) snprintf(s->channel, sizeof s->channel, "%s", channel);
  if (s->link.c) sub_broken(s);
  int rc = fpq__rq_link_open(&s->link, t, err, errlen);
  if (rc) return rc;
  const char *sub[] = {"SUBSCRIBE", s->channel};
  redisReply *r = fpq__rq_command(s->link.c, 2, sub, NULL);
  if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
    snprintf(err, errlen, "Redis at %s did not subscribe to %s: %s", t->display, s->channel,
             r && r->type == REDIS_REPLY_ERROR ? r->str : s->link.c->errstr);
    rc = r && r->type == REDIS_REPLY_ERROR ? fpq__rq_error_code(r->str) : FPQ_EUNAVAIL;
    if (r) freeReplyObject(r);
    sub_broken(s);
    return rc;
  }
  freeReplyObject(r);
  s->subscribed = 1;
  return 0;
}

static void keep(fpq__rq_sub *s, const redisReply *payload) {
  if (s->npending == FPQ_RQ_SUB_PENDING || payload->type != REDIS_REPLY_STRING) return;
  char *copy = fpq__strndup(payload->str, payload->len);
  if (copy) s->pending[s->npending++] = copy;
}

int fpq__rq_sub_poll(fpq__rq_sub *s, const fpq__rq_target *t, char *err, size_t errlen) {
  if (s->channel[0] == '\0') return 0;
  if (!s->subscribed || s->link.c == NULL || s->link.c->err) {
    int rc = fpq__rq_sub_open(s, t, s->channel, err, errlen);
    if (rc) return rc;
  }
  redisContext *c = s->link.c;
  if (redisAppendCommand(c, "PING") != REDIS_OK) goto broken;
  for (;;) {
    void *reply = NULL;
    if (fpq__rq_get_reply(c, &reply) != REDIS_OK || reply == NULL) goto broken;
    redisReply *r = reply;
    int pong = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
      const char *kind = r->element[0]->str;
      if (strcmp(kind, "message") == 0 && r->elements == 3) keep(s, r->element[2]);
      else if (strcmp(kind, "pong") == 0) pong = 1;
    } else if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) {
      pong = 1;
    }
    freeReplyObject(r);
    if (pong) return 0;
  }
broken:
  snprintf(err, errlen, "lost the command subscription to Redis at %s: %s", t->display,
           c->errstr[0] ? c->errstr : "connection closed");
  sub_broken(s);
  return FPQ_EUNAVAIL;
}

char *fpq__rq_sub_pop(fpq__rq_sub *s) {
  if (s->npending == 0) return NULL;
  char *first = s->pending[0];
  memmove(s->pending, s->pending + 1, (s->npending - 1) * sizeof *s->pending);
  s->npending--;
  return first;
}

void fpq__rq_sub_close(fpq__rq_sub *s) {
  fpq__rq_link_close(&s->link);
  s->subscribed = 0;
  for (size_t i = 0; i < s->npending; i++) fpq__free(s->pending[i]);
  s->npending = 0;
}
