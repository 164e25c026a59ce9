/* workers.c (rq): the registry of live workers in RQ's own format (rq:workers,
 * rq:worker:NAME hashes, so `rq info` and rq-dashboard list ours) and the commands sent to
 * them over RQ's pubsub channel: `fpq worker list`, `worker stop`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "format.h"

static void channel_of(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "rq:pubsub:%s", name);
}

/* Our address as Redis sees it (RQ's ip_address, from CLIENT LIST in Python). */
static void learn_ip(rq_backend *r) {
  if (r->ip_known) return;
  r->ip_known = 1;
  const char *info[] = {"CLIENT", "INFO"};
  redisReply *reply = fpq__rq_command(r->link.c, 2, info, NULL);
  if (reply && reply->type == REDIS_REPLY_STRING) {
    const char *addr = strstr(reply->str, "addr=");
    if (addr) snprintf(r->ip, sizeof r->ip, "%.*s", (int)strcspn(addr + 5, " \n"), addr + 5);
  }
  if (reply) freeReplyObject(reply);
}

int fpq__rq_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  rq_backend *r = as_rq(b);
  int rc = fpq__rq_ready(r);
  if (rc) return rc;
  learn_ip(r);
  char *key = fpq__rq_key_of("rq:worker:", w->name, NULL);
  if (key == NULL) return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  char birth[FPQ_TIME_TEXT_MAX], beat[FPQ_TIME_TEXT_MAX], pid[16], ok[24], failed[24], busy[40],
      expire[24], version[64];
  fpq_format_time(w->birth > 0 ? w->birth : now, birth, sizeof birth);
  fpq_format_time(now, beat, sizeof beat);
  snprintf(pid, sizeof pid, "%d", w->pid);
  snprintf(ok, sizeof ok, "%lld", (long long)w->successful);
  snprintf(failed, sizeof failed, "%lld", (long long)w->failed);
  snprintf(busy, sizeof busy, "%.6f", w->busy_seconds);
  snprintf(expire, sizeof expire, "%lld", (long long)fmax(1, ceil(ttl)));
  snprintf(version, sizeof version, "fpq-%s", fpq_version());
  batch *bt = fpq__calloc(1, sizeof *bt);
  char queues[sizeof w->queues];
  char *qkeys[MAX_QUEUES] = {0};
  size_t nq = 0;
  if (bt == NULL) {
    fpq__free(key);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  const char *multi[] = {"MULTI"};
  fpq__rq_batch_add(bt, 1, multi, NULL);
  const char *hset[] = {"HSET", key, "birth", birth, "last_heartbeat", beat, "queues", w->queues,
                        "pid", pid, "hostname", w->hostname, "ip_address", r->ip, "version",
                        version, "python_version", "fpq", "state", w->state,
                        "successful_job_count", ok, "failed_job_count", failed,
                        "total_working_time", busy, "current_job", w->current_job};
  fpq__rq_batch_add(bt, w->current_job[0] ? 24 : 22, hset, NULL);
  const char *hdel[] = {"HDEL", key, "death", "shutdown_requested_date", "current_job"};
  fpq__rq_batch_add(bt, w->current_job[0] ? 4 : 5, hdel, NULL);
  const char *exp[] = {"EXPIRE", key, expire};
  fpq__rq_batch_add(bt, 3, exp, NULL);
  const char *all[] = {"SADD", "rq:workers", key};
  fpq__rq_batch_add(bt, 3, all, NULL);
  /* rq info lists a worker only under rq:workers:QUEUE, so it must be in each. */
  snprintf(queues, sizeof queues, "%s", w->queues);
  for (char *save = NULL, *q = strtok_r(queues, ",", &save); q && nq < MAX_QUEUES;
       q = strtok_r(NULL, ",", &save)) {
    if ((qkeys[nq] = fpq__rq_key_of("rq:workers:", q, NULL)) == NULL) continue;
    const char *per[] = {"SADD", qkeys[nq++], key};
    fpq__rq_batch_add(bt, 3, per, NULL);
  }
  const char *exec[] = {"EXEC"};
  fpq__rq_batch_add(bt, 1, exec, NULL);
  redisReply *replies[64];
  rc = fpq__rq_run_batch(r, bt, replies, "registering the worker", 0);
  if (rc == 0)
    for (int i = 0; i < bt->n; i++) freeReplyObject(replies[i]);
  for (size_t i = 0; i < nq; i++) fpq__free(qkeys[i]);
  fpq__free(bt);
  fpq__free(key);
  if (rc) return rc;
  /* Subscribe from the first heartbeat on, so commands sent to a started worker reach
   * it; later beats re-subscribe after a reconnect. */
  char channel[160], err[256];
  channel_of(w->name, channel, sizeof channel);
  rc = fpq__rq_sub_open(&r->sub, &r->t, channel, err, sizeof err);
  return rc ? fpq_backend_fail(b, rc, "%s", err) : 0;
}

int fpq__rq_worker_gone(fpq_backend *b, const char *name, double now) {
  rq_backend *r = as_rq(b);
  char now_text[FPQ_TIME_TEXT_MAX], channel[160];
  fpq_format_time(now, now_text, sizeof now_text);
  channel_of(name, channel, sizeof channel);
  if (strcmp(r->sub.channel, channel) == 0) {
    fpq__rq_sub_close(&r->sub);
    r->sub.channel[0] = '\0';
  }
  const char *argv[] = {name, now_text};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_WORKER_GONE, 2, argv, NULL, 0, &rc);
  if (reply) freeReplyObject(reply);
  return reply ? 0 : rc;
}

int fpq__rq_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  rq_backend *r = as_rq(b);
  (void)now;
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_WORKERS, 0, NULL, NULL, 1, &rc);
  if (reply == NULL) return rc;
  size_t count = reply->elements / 2;
  fpq_worker_info *list = fpq__calloc(count ? count : 1, sizeof *list);
  if (list == NULL) {
    freeReplyObject(reply);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < count; i++)
    fpq__rq_worker_from_reply(reply->element[2 * i]->str, reply->element[2 * i + 1], &list[i]);
  freeReplyObject(reply);
  *out = list;
  *n = count;
  return 0;
}

int fpq__rq_worker_command(fpq_backend *b, const char *name, const char *command) {
  rq_backend *r = as_rq(b);
  char *payload = fpq__rq_command_encode(command);
  if (payload == NULL) return fpq_backend_fail(b, FPQ_EINVAL, "unknown command '%s'", command);
  char channel[160];
  channel_of(name, channel, sizeof channel);
  batch bt = {0};
  const char *pub[] = {"PUBLISH", channel, payload};
  fpq__rq_batch_add(&bt, 3, pub, NULL);
  redisReply *reply = NULL;
  int rc = fpq__rq_run_batch(r, &bt, &reply, "sending the command", 0);
  fpq__free(payload);
  if (rc) return rc;
  long long receivers = fpq__rq_int_of(reply);
  freeReplyObject(reply);
  if (receivers == 0)
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "no live worker named '%.100s' is listening on %s",
                            name, channel);
  return 0;
}

int fpq__rq_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  rq_backend *r = as_rq(b);
  char channel[160], err[256];
  channel_of(name, channel, sizeof channel);
  int rc = strcmp(r->sub.channel, channel) == 0
               ? fpq__rq_sub_poll(&r->sub, &r->t, err, sizeof err)
               : fpq__rq_sub_open(&r->sub, &r->t, channel, err, sizeof err);
  if (rc) return fpq_backend_fail(b, rc, "%s", err);
  for (char *payload; (payload = fpq__rq_sub_pop(&r->sub)) != NULL;) {
    int known = fpq__rq_command_decode(payload, strlen(payload), buf, len) == 0;
    fpq__free(payload);
    if (known) return 0;
  }
  return FPQ_EEMPTY;
}

