/* stats.c (rq): the rq backend's record of ended runs, for metrics. The finish script adds
 * one JSON member per run to the fpq:ended zset (scored by its end; an hour and 100,000
 * runs at most), so reading the last minutes needs no job hash. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"

int fpq__rq_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                        size_t *n) {
  rq_backend *r = as_rq(b);
  char since_s[40], limit_s[16];
  snprintf(since_s, sizeof since_s, "%.6f", since);
  snprintf(limit_s, sizeof limit_s, "%d", limit);
  const char *argv[] = {since_s, limit_s};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_ENDED, 2, argv, NULL, 1, &rc);
  if (reply == NULL) return rc;
  fpq_run_record *list = reply->elements ? fpq__calloc(reply->elements, sizeof *list) : NULL;
  if (reply->elements && list == NULL) {
    freeReplyObject(reply);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  size_t len = 0;
  for (size_t i = 0; i < reply->elements; i++) {
    const redisReply *m = reply->element[i];
    if (m->type != REDIS_REPLY_STRING) continue;
    json_t *o = json_loadb(m->str, m->len, 0, NULL); /* written by our script; skip others */
    const char *status = json_string_value(json_object_get(o, "s"));
    fpq_run_record *rec = &list[len];
    if (o && status && fpq_status_parse(status, &rec->status) == 0) {
      const char *p = json_string_value(json_object_get(o, "p"));
      const char *q = json_string_value(json_object_get(o, "q"));
      snprintf(rec->pipeline, sizeof rec->pipeline, "%s", p ? p : "");
      snprintf(rec->queue, sizeof rec->queue, "%s", q ? q : "");
      rec->started_at = json_number_value(json_object_get(o, "b"));
      rec->ended_at = json_number_value(json_object_get(o, "e"));
      len++;
    }
    json_decref(o);
  }
  freeReplyObject(reply);
  *out = list;
  *n = len;
  return 0;
}
