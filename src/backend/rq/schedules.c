/* schedules.c (rq): schedules and named leases on Redis, for the rq backend.
 *
 * Keys (ours, not RQ's; RQ's tools ignore them):
 *   fpq:schedule:ID      hash of the schedule's fields (numbers as decimal text)
 *   fpq:schedules        set of every schedule id
 *   fpq:schedules:due    zset of the active ones (not paused, not ended) by next_fire
 *   fpq:lease:NAME       hash {owner, expires_at}: e.g. the scheduler's leader lease
 * Each change is one Lua script, so the compare-and-set a scheduler does after a fire
 * and the leader lease are atomic however many schedulers share the server. A lease's
 * expiry is the callers' clock (expires_at, compared with the `now` they pass), so all
 * schedulers must share one time base, as every RQ client already must; the key's Redis
 * TTL is only a clean-up for leases nobody asks for any more. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backend.h"
#include "format.h"
#include "job.h"

/* ---- the scripts (table in scripts.c) ---- */

/* ARGV: id, next_fire, paused, then field/value pairs of the whole record. */
const char fpq__rq_schedule_put_lua[] =
    "local key = 'fpq:schedule:' .. ARGV[1]\n"
    "redis.call('DEL', key)\n"
    "redis.call('HSET', key, unpack(ARGV, 4))\n"
    "redis.call('SADD', 'fpq:schedules', ARGV[1])\n"
    "if ARGV[3] == '0' and ARGV[2] ~= '0' then\n"
    "  redis.call('ZADD', 'fpq:schedules:due', ARGV[2], ARGV[1])\n"
    "else\n"
    "  redis.call('ZREM', 'fpq:schedules:due', ARGV[1])\n"
    "end\n"
    "return 1\n";

const char fpq__rq_schedule_get_lua[] =
    "return redis.call('HGETALL', 'fpq:schedule:' .. ARGV[1])\n";

/* ARGV: due (0: all), limit. Returns id, hash, id, hash, ... */
const char fpq__rq_schedule_list_lua[] =
    "local ids\n"
    "if tonumber(ARGV[1]) ~= 0 then\n"
    "  ids = redis.call('ZRANGEBYSCORE', 'fpq:schedules:due', '-inf', ARGV[1], 'LIMIT', 0,\n"
    "                   tonumber(ARGV[2]))\n"
    "else\n"
    "  ids = redis.call('SMEMBERS', 'fpq:schedules')\n"
    "end\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local h = redis.call('HGETALL', 'fpq:schedule:' .. id)\n"
    "  if #h > 0 then out[#out + 1] = id; out[#out + 1] = h end\n"
    "end\n"
    "return out\n";

const char fpq__rq_schedule_remove_lua[] =
    "local n = redis.call('DEL', 'fpq:schedule:' .. ARGV[1])\n"
    "redis.call('SREM', 'fpq:schedules', ARGV[1])\n"
    "redis.call('ZREM', 'fpq:schedules:due', ARGV[1])\n"
    "return n\n";

/* ARGV: id, paused (0/1), next_fire (-1: keep). -1: no such schedule. */
const char fpq__rq_schedule_pause_lua[] =
    "local key = 'fpq:schedule:' .. ARGV[1]\n"
    "if redis.call('EXISTS', key) == 0 then return -1 end\n"
    "redis.call('HSET', key, 'paused', ARGV[2])\n"
    "if tonumber(ARGV[3]) >= 0 then redis.call('HSET', key, 'next_fire', ARGV[3]) end\n"
    "local next = redis.call('HGET', key, 'next_fire')\n"
    "if ARGV[2] == '0' and next ~= '0' then\n"
    "  redis.call('ZADD', 'fpq:schedules:due', next, ARGV[1])\n"
    "else\n"
    "  redis.call('ZREM', 'fpq:schedules:due', ARGV[1])\n"
    "end\n"
    "return 1\n";

/* ARGV: id, expect_next, next_fire, last_fire, fired, skipped. 1 done, 0 someone else
 * moved it on, -1 no such schedule. */
const char fpq__rq_schedule_advance_lua[] =
    "local key = 'fpq:schedule:' .. ARGV[1]\n"
    "local cur = redis.call('HMGET', key, 'next_fire', 'last_fire', 'paused')\n"
    "if not cur[1] then return -1 end\n"
    "if cur[1] ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', key, 'next_fire', ARGV[3])\n"
    "if tonumber(ARGV[4]) > tonumber(cur[2] or '0') then\n"
    "  redis.call('HSET', key, 'last_fire', ARGV[4])\n"
    "end\n"
    "redis.call('HINCRBY', key, 'fired', ARGV[5])\n"
    "redis.call('HINCRBY', key, 'skipped', ARGV[6])\n"
    "if cur[3] == '0' and ARGV[3] ~= '0' then\n"
    "  redis.call('ZADD', 'fpq:schedules:due', ARGV[3], ARGV[1])\n"
    "else\n"
    "  redis.call('ZREM', 'fpq:schedules:due', ARGV[1])\n"
    "end\n"
    "return 1\n";

/* ARGV: name, owner, now, expires_at, cleanup seconds. Returns {1, owner} when owner
 * holds it now, else {0, holder}. */
const char fpq__rq_lease_acquire_lua[] =
    "local key = 'fpq:lease:' .. ARGV[1]\n"
    "local cur = redis.call('HMGET', key, 'owner', 'expires_at')\n"
    "if cur[1] and cur[1] ~= ARGV[2] and tonumber(cur[2]) > tonumber(ARGV[3]) then\n"
    "  return {0, cur[1]}\n"
    "end\n"
    "redis.call('HSET', key, 'owner', ARGV[2], 'expires_at', ARGV[4])\n"
    "redis.call('EXPIRE', key, ARGV[5])\n"
    "return {1, ARGV[2]}\n";

const char fpq__rq_lease_release_lua[] =
    "local key = 'fpq:lease:' .. ARGV[1]\n"
    "if redis.call('HGET', key, 'owner') == ARGV[2] then return redis.call('DEL', key) end\n"
    "return 0\n";

/* ---- records <-> hashes ---- */

static const char *field(const redisReply *hash, const char *name) {
  const redisReply *v = fpq__rq_hash_field(hash, name);
  return v && v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

static double number(const redisReply *hash, const char *name) {
  const char *v = field(hash, name);
  return v ? strtod(v, NULL) : 0;
}

static long long whole(const redisReply *hash, const char *name) {
  const char *v = field(hash, name);
  return v ? strtoll(v, NULL, 10) : 0;
}

/* Builds a schedule from HGETALL fpq:schedule:ID. */
static int from_hash(rq_backend *r, const char *id, const redisReply *hash, fpq_schedule **out) {
  fpq_schedule *s = fpq_schedule_new();
  if (s == NULL) return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  snprintf(s->id, sizeof s->id, "%s", id);
  const char *priority = field(hash, "priority");
  if (priority == NULL || fpq_priority_parse(priority, &s->priority)) {
    fpq_schedule_free(s);
    return fpq_backend_fail(&r->base, FPQ_EFORMAT, "schedule '%s' has unknown priority '%.40s'",
                            id, priority ? priority : "");
  }
  const char *tz = field(hash, "timezone");
  int oom = fpq_job_set(&s->project, field(hash, "project")) |
            fpq_job_set(&s->pipeline, field(hash, "pipeline")) |
            fpq_job_set(&s->run_json, field(hash, "run") ? field(hash, "run") : "{}") |
            fpq_job_set(&s->trigger, field(hash, "trigger")) |
            fpq_job_set(&s->timezone, tz && tz[0] ? tz : NULL);
  if (oom) {
    fpq_schedule_free(s);
    return fpq_backend_fail(&r->base, FPQ_ENOMEM, "out of memory");
  }
  s->max_retries = (int)whole(hash, "max_retries");
  s->retry_delay = number(hash, "retry_delay");
  s->jitter_factor = number(hash, "jitter_factor");
  s->timeout = number(hash, "timeout");
  s->misfire_grace = number(hash, "misfire_grace");
  s->coalesce = (int)whole(hash, "coalesce");
  s->paused = (int)whole(hash, "paused");
  s->next_fire = whole(hash, "next_fire");
  s->last_fire = whole(hash, "last_fire");
  s->created_at = number(hash, "created_at");
  s->fired = whole(hash, "fired");
  s->skipped = whole(hash, "skipped");
  *out = s;
  return 0;
}

int fpq__rq_schedule_put(fpq_backend *b, const fpq_schedule *s) {
  rq_backend *r = as_rq(b);
  char max_retries[24], retry_delay[40], jitter[40], timeout[40], grace[40], coalesce[4],
      paused[4], next[24], last[24], created[40], fired[24], skipped[24];
  snprintf(max_retries, sizeof max_retries, "%d", s->max_retries);
  snprintf(retry_delay, sizeof retry_delay, "%.17g", s->retry_delay);
  snprintf(jitter, sizeof jitter, "%.17g", s->jitter_factor);
  snprintf(timeout, sizeof timeout, "%.17g", s->timeout);
  snprintf(grace, sizeof grace, "%.17g", s->misfire_grace);
  snprintf(coalesce, sizeof coalesce, "%d", s->coalesce ? 1 : 0);
  snprintf(paused, sizeof paused, "%d", s->paused ? 1 : 0);
  snprintf(next, sizeof next, "%lld", (long long)s->next_fire);
  snprintf(last, sizeof last, "%lld", (long long)s->last_fire);
  snprintf(created, sizeof created, "%.6f", s->created_at);
  snprintf(fired, sizeof fired, "%lld", (long long)s->fired);
  snprintf(skipped, sizeof skipped, "%lld", (long long)s->skipped);
  const char *argv[] = {s->id, next, paused,
                        "project", s->project, "pipeline", s->pipeline,
                        "run", s->run_json ? s->run_json : "{}",
                        "priority", fpq_priority_name(s->priority), "trigger", s->trigger,
                        "timezone", s->timezone ? s->timezone : "",
                        "max_retries", max_retries, "retry_delay", retry_delay,
                        "jitter_factor", jitter, "timeout", timeout, "misfire_grace", grace,
                        "coalesce", coalesce, "paused", paused, "next_fire", next,
                        "last_fire", last, "created_at", created, "fired", fired,
                        "skipped", skipped};
  int rc;
  int argc = (int)(sizeof argv / sizeof *argv);
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_SCHEDULE_PUT, argc, argv, NULL, 1, &rc);
  if (reply) freeReplyObject(reply);
  return reply ? 0 : rc;
}

int fpq__rq_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out) {
  rq_backend *r = as_rq(b);
  const char *argv[] = {id};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_SCHEDULE_GET, 1, argv, NULL, 1, &rc);
  if (reply == NULL) return rc;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
    rc = from_hash(r, id, reply, out);
  else rc = fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  freeReplyObject(reply);
  return rc;
}

static int by_id(const void *a, const void *b) {
  return strcmp((*(fpq_schedule *const *)a)->id, (*(fpq_schedule *const *)b)->id);
}

int fpq__rq_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                          fpq_schedule ***out, size_t *n) {
  rq_backend *r = as_rq(b);
  char due_s[24], limit_s[16];
  snprintf(due_s, sizeof due_s, "%lld", (long long)due);
  /* With a project, the limit applies after scoping below: other projects' due schedules
   * (their scheduler down) must not fill the batch and starve this project's. */
  snprintf(limit_s, sizeof limit_s, "%d", limit > 0 && project == NULL ? limit : -1);
  const char *argv[] = {due_s, limit_s};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_SCHEDULE_LIST, 2, argv, NULL, 1, &rc);
  if (reply == NULL) return rc;
  size_t count = reply->type == REDIS_REPLY_ARRAY ? reply->elements / 2 : 0, len = 0;
  fpq_schedule **list = fpq__calloc(count ? count : 1, sizeof *list);
  if (list == NULL) rc = fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  for (size_t i = 0; i < count && rc == 0; i++) {
    const redisReply *id = reply->element[2 * i];
    fpq_schedule *s = NULL;
    if (id->type != REDIS_REPLY_STRING) continue;
    if ((rc = from_hash(r, id->str, reply->element[2 * i + 1], &s))) break;
    /* Project scoping is ours: schedules are few, a per-project index is not worth it. */
    if ((project && (s->project == NULL || strcmp(s->project, project) != 0)) ||
        (limit > 0 && len >= (size_t)limit))
      fpq_schedule_free(s);
    else
      list[len++] = s;
  }
  freeReplyObject(reply);
  if (rc) {
    fpq_schedules_free(list, len);
    return rc;
  }
  if (due == 0) qsort(list, len, sizeof *list, by_id); /* a set has no order */
  *out = list;
  *n = len;
  return 0;
}

/* Runs a script answering 1 done, 0 someone else's change came first, -1 no such id. */
static int change(rq_backend *r, fpq__rq_script script, int argc, const char *const *argv,
                  const char *id) {
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, script, argc, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  long long v = fpq__rq_int_of(reply);
  freeReplyObject(reply);
  if (v < 0 || (v == 0 && script == FPQ_RQ_SCHEDULE_REMOVE))
    return fpq_backend_fail(&r->base, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  if (v == 0)
    return fpq_backend_fail(&r->base, FPQ_ESTATE, "schedule '%s' was changed meanwhile", id);
  return 0;
}

int fpq__rq_schedule_remove(fpq_backend *b, const char *id) {
  const char *argv[] = {id};
  return change(as_rq(b), FPQ_RQ_SCHEDULE_REMOVE, 1, argv, id);
}

int fpq__rq_schedule_set_paused(fpq_backend *b, const char *id, int paused, int64_t next_fire) {
  char next[24];
  snprintf(next, sizeof next, "%lld", (long long)next_fire);
  const char *argv[] = {id, paused ? "1" : "0", next};
  return change(as_rq(b), FPQ_RQ_SCHEDULE_PAUSE, 3, argv, id);
}

int fpq__rq_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a) {
  char expect[24], next[24], last[24], fired[24], skipped[24];
  snprintf(expect, sizeof expect, "%lld", (long long)a->expect_next);
  snprintf(next, sizeof next, "%lld", (long long)a->next_fire);
  snprintf(last, sizeof last, "%lld", (long long)a->last_fire);
  snprintf(fired, sizeof fired, "%lld", (long long)a->fired);
  snprintf(skipped, sizeof skipped, "%lld", (long long)a->skipped);
  const char *argv[] = {a->id, expect, next, last, fired, skipped};
  return change(as_rq(b), FPQ_RQ_SCHEDULE_ADVANCE, 6, argv, a->id);
}

int fpq__rq_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                          double ttl, char *holder, size_t holder_len) {
  rq_backend *r = as_rq(b);
  char now_s[40], until[40], cleanup[24];
  snprintf(now_s, sizeof now_s, "%.6f", now);
  snprintf(until, sizeof until, "%.6f", now + ttl);
  /* Long after the lease's own expiry in any clock a test might speed up; only there so
   * a lease nobody renews does not stay in Redis for ever. */
  snprintf(cleanup, sizeof cleanup, "%lld", (long long)ceil(ttl) + 3600);
  const char *argv[] = {name, owner, now_s, until, cleanup};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(r, FPQ_RQ_LEASE_ACQUIRE, 5, argv, NULL, 0, &rc);
  if (reply == NULL) return rc;
  int held = 0;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
    held = fpq__rq_int_of(reply->element[0]) == 1;
    if (reply->element[1]->type == REDIS_REPLY_STRING)
      snprintf(holder, holder_len, "%s", reply->element[1]->str);
  }
  freeReplyObject(reply);
  return held ? 0 : fpq_backend_fail(b, FPQ_ELEASE, "lease '%s' is held by '%.100s'", name, holder);
}

int fpq__rq_lease_release(fpq_backend *b, const char *name, const char *owner) {
  const char *argv[] = {name, owner};
  int rc;
  redisReply *reply = fpq__rq_backend_eval(as_rq(b), FPQ_RQ_LEASE_RELEASE, 2, argv, NULL, 0, &rc);
  if (reply) freeReplyObject(reply);
  return reply ? 0 : rc;
}
