/* scripts.c (rq): every state change of the rq backend is one Lua script, run atomically
 * by Redis. That is what lets the backend promise what RQ cannot: a job is always in
 * exactly one place (a queue list, rq:scheduled, rq:wip or a terminal registry), because
 * no client crash, SIGKILL or dropped connection can fall between two of its commands:
 * Redis runs a script to its end, or (if the server itself dies) not at all. A reply lost
 * on the way back is harmless too: the job is then in rq:wip under our name with a lease,
 * and maintenance retries or fails it when the lease runs out.
 *
 * Keys are built inside the scripts from ids and queue names (not passed as KEYS): fine
 * for a single Redis server, which is what RQ supports; Redis Cluster would refuse it.
 * Scores and timestamps are as RQ writes them (see shared/reference/rq-wire.md), except
 * rq:scheduled, which keeps our sub-second due time (RQ reads any float score).
 *
 * Writing rules shared by all scripts: the job hash keeps RQ's fields plus ours prefixed
 * fpq_ (fpq_attempts, fpq_exec = the current execution id, fpq_error = our error JSON,
 * fpq_run_at, fpq_max_retries ...); retries_left counts down per retry exactly as RQ's
 * Job.retry does, so a Python rq worker (or rq's abandoned-job cleanup) makes the same
 * retry-or-fail decision we do. */
#include "scripts.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "conn.h"
#include "format.h"

/* A number macro as a string literal, for the scripts' constants. */
#define LITERAL(x) LITERAL_(x)
#define LITERAL_(x) #x

/* Helpers every script may use. */
#define PRELUDE                                                                           \
  "local FAILURE_TTL = '" LITERAL(FPQ_RQ_FAILURE_TTL) "'\n"                               \
  /* Adds values to the end of a list (a command being built). */                        \
  "local function append(list, ...)\n"                                                   \
  "  for _, v in ipairs({...}) do list[#list + 1] = v end\n"                             \
  "end\n"                                                                                 \
  /* Moves a due scheduled job to the back of its queue, as RQ's scheduler does. An id   \
   * without a hash is left alone for a minute: Python rq's enqueue_at writes the        \
   * ZADD before the hash (outside its MULTI), and dropping it early would lose it. */   \
  /* RQ's scheduler holds rq:scheduler-lock:Q while it serves queue Q, and moves due    \
   * jobs in two round trips (read the due ids, then enqueue them): moving them here as  \
   * well would run each twice. So a queue whose lock another scheduler holds is left to \
   * it; a script cannot interleave with RQ's own SET NX, so checking is taking. */      \
  /* The lock is looked at only when something is due: most takes find nothing due,   \
   * and the lock cannot matter then. */                                                 \
  "local function promote(q, now, now_text, limit)\n"                                    \
  "  local sched = 'rq:scheduled:' .. q\n"                                                \
  "  local n = 0\n"                                                                       \
  "  local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'WITHSCORES',\n"       \
  "                         'LIMIT', 0, limit)\n"                                          \
  "  if #due == 0 or redis.call('EXISTS', 'rq:scheduler-lock:' .. q) == 1 then\n"       \
  "    return 0\n"                                                                        \
  "  end\n"                                                                               \
  "  for i = 1, #due, 2 do\n"                                                             \
  "    local id = due[i]\n"                                                               \
  "    local job = 'rq:job:' .. id\n"                                                     \
  "    local st = redis.call('HGET', job, 'status')\n"                                    \
  "    if st == 'scheduled' then\n"                                                       \
  "      redis.call('HSET', job, 'status', 'queued', 'enqueued_at', now_text)\n"          \
  "      redis.call('HDEL', job, 'fpq_run_at')\n"                                         \
  "      redis.call('RPUSH', 'rq:queue:' .. q, id)\n"                                     \
  "      redis.call('ZREM', sched, id)\n"                                                 \
  "      n = n + 1\n"                                                                     \
  "    elseif st or tonumber(due[i + 1]) < now - 60 then\n"                               \
  "      redis.call('ZREM', sched, id)\n"                                                 \
  "    end\n"                                                                             \
  "  end\n"                                                                               \
  "  return n\n"                                                                          \
  "end\n"                                                                                 \
  /* Ends one execution: out of rq:wip, its hash, rq:executions:ID and the index RQ 3  \
   * reads a worker's running jobs from (rq:worker:NAME:executions). w: the worker that   \
   * ran it when the caller knows (finish checked it holds the job), else nil. */         \
  "local function end_execution(q, id, ex, w)\n"                                          \
  "  if not ex then return end\n"                                                         \
  "  if not w then\n"                                                                     \
  "    w = redis.call('HGET', 'rq:execution:' .. id .. ':' .. ex, 'worker_name')\n"       \
  "  end\n"                                                                               \
  "  if w then redis.call('SREM', 'rq:worker:' .. w .. ':executions', id .. ':' .. ex) end\n" \
  "  redis.call('ZREM', 'rq:wip:' .. q, id .. ':' .. ex)\n"                               \
  "  redis.call('DEL', 'rq:execution:' .. id .. ':' .. ex)\n"                             \
  "  redis.call('ZREM', 'rq:executions:' .. id, ex)\n"                                    \
  "end\n"                                                                                 \
  /* The record of ended runs that metrics read (throughput, run-time percentiles): one \
   * member per run, scored by its end, kept for an hour and at most 100,000 runs; the    \
   * trims are maintenance's (every 2 s), not each finish's, and readers ask by time. */  \
  "local function record_end(id, pipeline, q, st, started, ended)\n"                     \
  "  redis.call('ZADD', 'fpq:ended', ended, cjson.encode({id = id, p = pipeline, q = q,\n" \
  "             s = st, b = tonumber(started) or 0, e = tonumber(ended)}))\n"            \
  "end\n"                                                                                 \
  "local function result_entry(id, rtype, worker, ex, started, ended)\n"                  \
  "  local x = {'XADD', 'rq:results:' .. id, 'MAXLEN', '~', '10', '*', 'type', rtype,\n"  \
  "             'worker_name', worker}\n"                                                 \
  "  if ex then x[#x + 1] = 'execution_id'; x[#x + 1] = ex end\n"                         \
  "  if started then x[#x + 1] = 'execution_started_at'; x[#x + 1] = started end\n"       \
  "  x[#x + 1] = 'execution_ended_at'; x[#x + 1] = ended\n"                               \
  "  return x\n"                                                                          \
  "end\n"                                                                                 \
  /* Keeps an ended job (its hash and result stream) for ttl seconds in registry reg, as \
   * RQ does: -1 forever (score +inf, no expiry), 0 not at all (both deleted, as RQ's     \
   * Job.cleanup(0) does), else EXPIRE and score now + ttl. ttl_text is whole seconds as \
   * C's %lld writes them (every caller's ARGV, FAILURE_TTL): EXPIRE takes that text as  \
   * it is, where a Lua number would be formatted again. */                             \
  "local function keep(id, reg, now, ttl_text)\n"                                         \
  "  local job, res = 'rq:job:' .. id, 'rq:results:' .. id\n"                             \
  "  local ttl = tonumber(ttl_text)\n"                                                    \
  "  if ttl == 0 then\n"                                                                  \
  "    redis.call('DEL', job, res)\n"                                                     \
  "  elseif ttl < 0 then\n"                                                               \
  "    redis.call('PERSIST', job)\n"                                                      \
  "    redis.call('PERSIST', res)\n"                                                      \
  "    redis.call('ZADD', reg, '+inf', id)\n"                                             \
  "  else\n"                                                                              \
  "    redis.call('EXPIRE', job, ttl_text)\n"                                             \
  "    redis.call('EXPIRE', res, ttl_text)\n"                                             \
  "    redis.call('ZADD', reg, math.floor(now) + ttl, id)\n"                              \
  "  end\n"                                                                               \
  "end\n"                                                                                 \
  /* RQ's _handle_failure: failed (or stopped) registry, result type 2 with exc_string,   \
   * kept for the job's failure_ttl (ttl; nil: RQ's default). The stream gets it too (RQ  \
   * leaves it forever unless failure_ttl is set; no reader can tell, and it does not    \
   * leak). */                                                                            \
  "local function to_failed(id, q, st, now, now_text, worker, ex, started, err, exc, dur,\n" \
  "                         ttl)\n"                                                       \
  "  local job = 'rq:job:' .. id\n"                                                       \
  "  redis.call('HSET', job, 'status', st, 'ended_at', now_text, 'fpq_error', err,\n"     \
  "             'fpq_duration', dur)\n"                                                   \
  "  local x = result_entry(id, '2', worker, ex, started, now)\n"                         \
  "  x[#x + 1] = 'exc_string'; x[#x + 1] = exc\n"                                         \
  "  redis.call(unpack(x))\n"                                                             \
  "  keep(id, 'rq:failed:' .. q, now, tonumber(ttl) and ttl or FAILURE_TTL)\n"            \
  "end\n"                                                                                 \
  /* RQ's Job.dependencies_are_met: every parent named in the child's dependency_ids    \
   * (JSON list; older RQ wrote only dependency_id) is finished, or failed when the child \
   * allows failures. A parent whose hash is gone does not hold a child back (as RQ). */  \
  "local function deps_met(cid, allow)\n"                                                 \
  "  local h = redis.call('HMGET', 'rq:job:' .. cid, 'dependency_ids', 'dependency_id')\n" \
  "  local ids = nil\n"                                                                   \
  "  if h[1] and h[1] ~= '' then\n"                                                       \
  "    local ok, v = pcall(cjson.decode, h[1])\n"                                         \
  "    if ok and type(v) == 'table' then ids = v end\n"                                   \
  "  end\n"                                                                               \
  "  if not ids then ids = (h[2] and h[2] ~= '') and {h[2]} or {} end\n"                   \
  "  for _, d in ipairs(ids) do\n"                                                        \
  "    local st = redis.call('HGET', 'rq:job:' .. tostring(d), 'status')\n"               \
  "    if st and st ~= 'finished' and not (allow and st == 'failed') then return false end\n" \
  "  end\n"                                                                               \
  "  return true\n"                                                                       \
  "end\n"                                                                                 \
  /* RQ's Queue.enqueue_dependents, called once a parent's outcome is stored: each       \
   * deferred child in rq:job:PARENT:dependents whose parents are all done leaves         \
   * rq:deferred:Q for its queue (the front when enqueue_at_front); the rest stay, as in  \
   * RQ (a failed parent keeps a child that does not allow failures deferred for good).   \
   * The set goes when no child is left waiting. */                                       \
  "local function release_dependents(pid, now_text)\n"                                    \
  "  local key = 'rq:job:' .. pid .. ':dependents'\n"                                     \
  "  if redis.call('EXISTS', key) == 0 then return end\n"                                 \
  "  local waiting = 0\n"                                                                 \
  "  for _, cid in ipairs(redis.call('SMEMBERS', key)) do\n"                              \
  "    local job = 'rq:job:' .. cid\n"                                                    \
  "    local h = redis.call('HMGET', job, 'status', 'origin', 'allow_dependency_failures',\n" \
  "                         'enqueue_at_front')\n"                                        \
  "    if h[1] == 'deferred' and deps_met(cid, h[3] == '1') then\n"                        \
  "      local q = (h[2] and h[2] ~= '') and h[2] or 'default'\n"                          \
  "      redis.call('ZREM', 'rq:deferred:' .. q, cid)\n"                                   \
  "      redis.call('HSET', job, 'status', 'queued', 'enqueued_at', now_text)\n"           \
  "      redis.call(h[4] == '1' and 'LPUSH' or 'RPUSH', 'rq:queue:' .. q, cid)\n"          \
  "      redis.call('SADD', 'rq:queues', 'rq:queue:' .. q)\n"                              \
  "      redis.call('SREM', key, cid)\n"                                                   \
  "    elseif h[1] then\n"                                                                \
  "      waiting = waiting + 1\n"                                                         \
  "    else\n"                                                                            \
  "      redis.call('SREM', key, cid)\n"                                                   \
  "    end\n"                                                                             \
  "  end\n"                                                                               \
  "  if waiting == 0 then redis.call('DEL', key) end\n"                                    \
  "end\n"                                                                                 \
  /* RQ's Job.retry: retries_left counts down; scheduled when there is a delay. */        \
  "local function to_retry(id, q, st, run_at, now_text, err)\n"                           \
  "  local job = 'rq:job:' .. id\n"                                                       \
  "  local left = tonumber(redis.call('HGET', job, 'retries_left'))\n"                    \
  "  if left and left > 0 then redis.call('HSET', job, 'retries_left', left - 1) end\n"   \
  "  redis.call('HSET', job, 'fpq_error', err)\n"                                         \
  "  if st == 'scheduled' then\n"                                                         \
  "    redis.call('HSET', job, 'status', 'scheduled', 'fpq_run_at', run_at)\n"            \
  "    redis.call('ZADD', 'rq:scheduled:' .. q, run_at, id)\n"                            \
  "  else\n"                                                                              \
  "    redis.call('HSET', job, 'status', 'queued', 'enqueued_at', now_text)\n"            \
  "    redis.call('RPUSH', 'rq:queue:' .. q, id)\n"                                       \
  "  end\n"                                                                               \
  "  redis.call('SADD', 'rq:queues', 'rq:queue:' .. q)\n"                                 \
  "end\n"

/* ARGV: id, queue, status, run_at, created (index score), pipeline index key, then the
 * hash's field/value pairs. Returns 1, or 0 when the id is taken.
 * A script rather than a bare MULTI/EXEC: it is the same single round trip, and it can
 * refuse a taken id atomically (MULTI cannot branch on EXISTS without a WATCH round
 * trip first). */
/* One job's writes, from A (enqueue's ARGV below); shared by enqueue and enqueue_many so
 * a batch writes exactly what single enqueues write. The caller checked the id is free.
 * The hash (and a dependency's bookkeeping, which reads parents' hashes) is written at
 * once; the pushes onto queues, the index entries and the two name sets are gathered in
 * `out` and written by enqueue_flush, one command per queue or index for the whole call:
 * within one script no reader can tell, and a batch of 256 jobs pays 4 commands, not 1,024.
 * Invariant: ids reach each queue in the order of the call's jobs. */
#define ENQUEUE_ONE \
    "local function gather(out, key, ...)\n" \
    "  local list = out[key]\n" \
    "  if not list then list = {}; out[key] = list; out[#out + 1] = key end\n" \
    "  append(list, ...)\n" \
    "end\n" \
    "local function enqueue_one(A, o, n, queued, indexed)\n" \
    "local id, q = A[o + 1], A[o + 2]\n" \
    "local job = 'rq:job:' .. id\n" \
    "redis.call('HSET', job, unpack(A, o + 7, o + n))\n" \
    /* A job with parents (RQ's register_dependency): in each parent's dependents set and \
    * its own dependencies set (RQ's key, with its double colon); queued at once when the \
    * parents are all finished, which no finish can slip between, else deferred. */ \
    "local st = A[o + 3]\n" \
    "if st == 'deferred' and deps_met(id, false) then\n" \
    "  st = 'queued'\n" \
    "  redis.call('HSET', job, 'status', st, 'enqueued_at', redis.call('HGET', job, 'created_at'))\n" \
    "elseif st == 'deferred' then\n" \
    "  for _, p in ipairs(cjson.decode(redis.call('HGET', job, 'dependency_ids'))) do\n" \
    "    redis.call('SADD', 'rq:job:' .. p .. ':dependents', id)\n" \
    "    redis.call('SADD', 'rq:job::' .. id .. ':dependencies', p)\n" \
    "  end\n" \
    "  redis.call('ZADD', 'rq:deferred:' .. q, A[o + 5], id)\n" \
    "end\n" \
    "if st == 'scheduled' then redis.call('ZADD', 'rq:scheduled:' .. q, A[o + 4], id) end\n" \
    /* Every job's queue is named in rq:queues, whatever its state (as RQ's enqueue). */ \
    "if st == 'queued' then gather(queued, 'rq:queue:' .. q, id)\n" \
    "else gather(queued, 'rq:queue:' .. q) end\n" \
    "gather(indexed, A[o + 6], A[o + 5], id)\n" \
    "end\n" \
    "local function enqueue_flush(queued, indexed)\n" \
    "  for _, key in ipairs(queued) do\n" \
    "    if #queued[key] > 0 then redis.call('RPUSH', key, unpack(queued[key])) end\n" \
    "  end\n" \
    "  for _, key in ipairs(indexed) do redis.call('ZADD', key, unpack(indexed[key])) end\n" \
    "  redis.call('SADD', 'rq:queues', unpack(queued))\n" \
    "  redis.call('SADD', 'fpq:indexes', unpack(indexed))\n" \
    "end\n"

static const char enqueue_lua[] = PRELUDE ENQUEUE_ONE
    "if redis.call('EXISTS', 'rq:job:' .. ARGV[1]) == 1 then return 0 end\n"
    "local queued, indexed = {}, {}\n"
    "enqueue_one(ARGV, 0, #ARGV, queued, indexed)\n"
    "enqueue_flush(queued, indexed)\n"
    "return 1\n";

/* ARGV: the number of jobs k, then for each job its argument count and enqueue's ARGV.
 * Returns 0 when all k are stored, or the 1-based position of a job whose id is taken
 * (then nothing is written). One call carries many jobs: Redis's per-call cost of a
 * script is paid once per batch, not once per job, and so are the queue pushes and index
 * writes (enqueue_flush). k is at most 256, so no unpack passes Lua's stack limit. */
static const char enqueue_many_lua[] = PRELUDE ENQUEUE_ONE
    "local k, p, at, count = tonumber(ARGV[1]), 2, {}, {}\n"
    "for j = 1, k do\n"
    "  at[j], count[j] = p, tonumber(ARGV[p])\n"
    "  if redis.call('EXISTS', 'rq:job:' .. ARGV[p + 1]) == 1 then return j end\n"
    "  p = p + count[j] + 1\n"
    "end\n"
    "local queued, indexed = {}, {}\n"
    "for j = 1, k do enqueue_one(ARGV, at[j], count[j], queued, indexed) end\n"
    "enqueue_flush(queued, indexed)\n"
    "return 0\n";

/* ARGV: now, now_text, lease score, lease ttl, worker, execution id, nqueues, queues...
 * Returns {1, origin, id, HGETALL of the job} for a job now started by this worker;
 * {2} when it dropped many dead ids and should be called again; {0, next due score or
 * ''} when nothing is takeable.
 *
 * The invariant: the LPOP and the ZADD into rq:wip:Q (with the execution and the job's
 * `started` status) happen in this one script, so there is no instant at which a popped
 * job is in no list and no registry. RQ's multi-queue worker (BLPOP, then ZADD in a
 * later round trip) loses the job if it dies in between. Strict priority: queues are
 * tried in the order given, each emptied of dead ids before the next is looked at. */
#define TAKE_FN \
    "local function take(A)\n" \
    /* `rq suspend` sets rq:suspended: no worker, RQ's or ours, takes a job until \
     * `rq resume` deletes it (the watch tracks the key, so resuming wakes us). */ \
    "if redis.call('EXISTS', 'rq:suspended') == 1 then return {0, ''} end\n" \
    "local now, now_text = tonumber(A[1]), A[2]\n" \
    "local worker, ex = A[5], A[6]\n" \
    "local nq = tonumber(A[7])\n" \
    /* One EXISTS over the queues' scheduled sets: most takes find none, and then need \
     * neither promote nor look for the next due time below. */ \
    "local sched = {}\n" \
    "for i = 1, nq do sched[i] = 'rq:scheduled:' .. A[7 + i] end\n" \
    "local any_scheduled = nq > 0 and redis.call('EXISTS', unpack(sched)) > 0\n" \
    "if any_scheduled then\n" \
    "  for i = 1, nq do promote(A[7 + i], now, now_text, 100) end\n" \
    "end\n" \
    "local dropped = 0\n" \
    "for i = 1, nq do\n" \
    "  local q = A[7 + i]\n" \
    "  while true do\n" \
    "    local id = redis.call('LPOP', 'rq:queue:' .. q)\n" \
    "    if not id then break end\n" \
    "    local job = 'rq:job:' .. id\n" \
    "    local h = redis.call('HMGET', job, 'status', 'data', 'fpq_attempts',\n" \
    "                         'fpq_max_retries', 'retries_left', 'origin')\n" \
    "    local st = h[1]\n" \
    /* A popped id whose hash expired or was deleted is dropped, as RQ does; so is an id \
     * of a job that is not waiting (a duplicate left in the list). */ \
    "    if h[2] and st ~= 'started' and st ~= 'finished' and st ~= 'failed'\n" \
    "       and st ~= 'stopped' and st ~= 'canceled' then\n" \
    "      local origin = h[6]\n" \
    "      if not origin or origin == '' then\n" \
    "        origin = q\n" \
    "        redis.call('HSET', job, 'origin', q)\n" \
    "      end\n" \
    /* Attempts so far: ours, or what RQ's retries_left says if a Python worker ran it. */ \
    /* A status RQ never writes ('bogus') is not taken for queued: the job is failed with \
     * the reason by the caller (fpq_bad_status), like an unreadable payload. */ \
    "      local known = {queued = 1, scheduled = 1, deferred = 1, created = 1,\n" \
    "                     ready_to_enqueue = 1}\n" \
    "      if st and st ~= '' and not known[st] then\n" \
    "        redis.call('HSET', job, 'fpq_bad_status', st)\n" \
    "      end\n" \
    "      local att = tonumber(h[3]) or 0\n" \
    "      local mx, left = tonumber(h[4]), tonumber(h[5])\n" \
    "      if mx and left and mx - left > att then att = mx - left end\n" \
    "      att = att + 1\n" \
    "      local member = id .. ':' .. ex\n" \
    "      redis.call('ZADD', 'rq:wip:' .. origin, A[3], member)\n" \
    "      local exkey = 'rq:execution:' .. member\n" \
    "      redis.call('HSET', exkey, 'id', ex, 'job_id', id, 'created_at', A[1],\n" \
    "                 'last_heartbeat', A[1], 'worker_name', worker)\n" \
    "      redis.call('EXPIRE', exkey, A[4])\n" \
    "      local wex = 'rq:worker:' .. worker .. ':executions'\n" \
    "      redis.call('SADD', wex, member)\n" \
    "      redis.call('EXPIRE', wex, tonumber(A[4]) + 60)\n" \
    "      redis.call('ZADD', 'rq:executions:' .. id, tonumber(A[3]) + 60, ex)\n" \
    "      redis.call('EXPIRE', 'rq:executions:' .. id, tonumber(A[4]) + 60)\n" \
    "      redis.call('HSET', job, 'status', 'started', 'started_at', now_text, 'ended_at', '',\n" \
    "                 'worker_name', worker, 'last_heartbeat', now_text, 'fpq_attempts', att,\n" \
    "                 'fpq_exec', ex)\n" \
    "      redis.call('PERSIST', job)\n" \
    "      local wkey = 'rq:worker:' .. worker\n" \
    "      if redis.call('EXISTS', wkey) == 1 then\n" \
    "        redis.call('HSET', wkey, 'state', 'busy', 'current_job', id)\n" \
    "      end\n" \
    "      return {1, origin, id, redis.call('HGETALL', job)}\n" \
    "    end\n" \
    "    dropped = dropped + 1\n" \
    "    if dropped >= 1000 then return {2} end\n" \
    "  end\n" \
    "end\n" \
    "local due = ''\n" \
    "for i = 1, any_scheduled and nq or 0 do\n" \
    "  local first = redis.call('ZRANGE', sched[i], 0, 0, 'WITHSCORES')\n" \
    "  if first[2] and (due == '' or tonumber(first[2]) < tonumber(due)) then due = first[2] end\n" \
    "end\n" \
    "return {0, due}\n" \
    "end\n"

static const char take_lua[] = PRELUDE TAKE_FN "return take(ARGV)\n";

/* ARGV: id, worker, lease score, lease ttl, now, now_text, execution ('' = any). Returns
 * 1, or 0 when the job is no longer held by this run (finished elsewhere, reaped after
 * its lease ran out, or started again under another execution id, whatever the name of
 * the worker that holds it now).
 * The lease is the rq:wip score: RQ's StartedJobRegistry.cleanup (run by `rq info` and
 * every Python worker) fails entries whose score is below now, so a live worker renews
 * it well before it passes (the worker does so every lease/3). */
static const char extend_lua[] =
    "local id = ARGV[1]\n"
    "local job = 'rq:job:' .. id\n"
    "local h = redis.call('HMGET', job, 'status', 'worker_name', 'fpq_exec', 'origin')\n"
    "if h[1] ~= 'started' or h[2] ~= ARGV[2] or not h[3] then return 0 end\n"
    "if ARGV[7] ~= '' and h[3] ~= ARGV[7] then return 0 end\n"
    "local member = id .. ':' .. h[3]\n"
    "local wip = 'rq:wip:' .. h[4]\n"
    "if not redis.call('ZSCORE', wip, member) then return 0 end\n"
    "redis.call('ZADD', wip, 'XX', ARGV[3], member)\n"
    "local exkey = 'rq:execution:' .. member\n"
    "redis.call('HSET', exkey, 'last_heartbeat', ARGV[5])\n"
    "redis.call('EXPIRE', exkey, ARGV[4])\n"
    "redis.call('ZADD', 'rq:executions:' .. id, tonumber(ARGV[3]) + 60, h[3])\n"
    "redis.call('EXPIRE', 'rq:executions:' .. id, tonumber(ARGV[4]) + 60)\n"
    "redis.call('HSET', job, 'last_heartbeat', ARGV[6])\n"
    "local wex = 'rq:worker:' .. ARGV[2] .. ':executions'\n"
    "redis.call('SADD', wex, member)\n"
    "redis.call('EXPIRE', wex, tonumber(ARGV[4]) + 60)\n"
    "return 1\n";

/* ARGV: id, worker, status, now, now_text, ttl (result_ttl when finished, failure_ttl
 * when failed or stopped: -1 forever, 0 none, else seconds), run_at, uncount, error JSON,
 * exc_string (base64 zlib), has return value, return_value (base64), duration, pipeline,
 * started_at (epoch seconds: the take's time; '' unknown), execution ('' = any), the
 * run's log ('' none: fpq_log is the last run's output).
 * Returns 1, or 0 when the job is no longer held by this run (fpq_exec is the fence). */
#define FINISH_FN \
    /* RQ's worker hash says idle once its job is done (when the hash still names it). */ \
    "local function worker_idle(worker, id)\n" \
    "  local wkey = 'rq:worker:' .. worker\n" \
    "  if redis.call('HGET', wkey, 'current_job') == id then\n" \
    "    redis.call('HDEL', wkey, 'current_job')\n" \
    "    redis.call('HSET', wkey, 'state', 'idle')\n" \
    "  end\n" \
    "end\n" \
    /* An HSET or HDEL built up as a list: sent when it names a field. */ \
    "local function hash_write(cmd)\n" \
    "  if #cmd > 2 then redis.call(unpack(cmd)) end\n" \
    "end\n" \
    /* keep_busy: the caller takes the next job at once and sets the worker hash itself. */ \
    "local function finish(A, keep_busy)\n" \
    "local id, worker, st = A[1], A[2], A[3]\n" \
    "local now, now_text = tonumber(A[4]), A[5]\n" \
    "local job = 'rq:job:' .. id\n" \
    "local h = redis.call('HMGET', job, 'status', 'worker_name', 'fpq_exec', 'origin',\n" \
    "                     'fpq_attempts')\n" \
    "if h[1] ~= 'started' or h[2] ~= worker then return 0 end\n" \
    "if A[16] ~= '' and h[3] ~= A[16] then return 0 end\n" \
    "local ex, q = h[3] or nil, h[4] or 'default'\n" \
    /* The execution's start: the take's own time, which the worker passes back (A[15])  \
     * when it names the execution it ran; else what the execution hash says. */          \
    "local started = nil\n" \
    "if A[16] ~= '' and A[15] ~= '' then started = A[15]\n" \
    "elseif ex then\n" \
    "  started = redis.call('HGET', 'rq:execution:' .. id .. ':' .. ex, 'created_at') or nil\n" \
    "end\n" \
    "end_execution(q, id, ex, worker)\n" \
    "if not keep_busy then worker_idle(worker, id) end\n" \
    /* The run's log rides on the outcome's own HSET and HDEL of the job's hash: one      \
     * write of each per finish, whatever the outcome. */                                  \
    "local set, del = {'HSET', job}, {'HDEL', job}\n" \
    "if A[8] ~= '1' then\n" \
    "  if A[17] and A[17] ~= '' then set[3], set[4] = 'fpq_log', A[17]\n" \
    "  else del[3] = 'fpq_log' end\n" \
    "end\n" \
    /* A finished job has no error: an earlier attempt's (a WorkerLost) is not its own. */ \
    "if st == 'finished' then\n" \
    "  append(set, 'status', 'finished', 'ended_at', now_text, 'fpq_duration', A[13])\n" \
    "  append(del, 'fpq_error')\n" \
    "end\n" \
    "hash_write(set)\n" \
    "hash_write(del)\n" \
    "if st == 'finished' then\n" \
    "  local x = result_entry(id, '1', worker, ex, started, A[4])\n" \
    "  if A[11] == '1' then x[#x + 1] = 'return_value'; x[#x + 1] = A[12] end\n" \
    "  redis.call(unpack(x))\n" \
    "  keep(id, 'rq:finished:' .. q, now, A[6])\n" \
    "elseif st == 'failed' or st == 'stopped' then\n" \
    "  to_failed(id, q, st, now, now_text, worker, ex, started, A[9], A[10], A[13],\n" \
    "            A[6])\n" \
    "elseif st == 'scheduled' or A[8] == '0' then\n" \
    "  to_retry(id, q, st, A[7], now_text, A[9])\n" \
    "else\n" \
    /* Given back untouched (the worker is stopping): the attempt does not count and the \
     * job goes back to the head of its queue, where it was when it was taken. */ \
    "  local att = (tonumber(h[5]) or 1) - 1\n" \
    "  if att < 0 then att = 0 end\n" \
    "  redis.call('HSET', job, 'status', 'queued', 'enqueued_at', now_text, 'fpq_attempts', att)\n" \
    "  redis.call('LPUSH', 'rq:queue:' .. q, id)\n" \
    "  redis.call('SADD', 'rq:queues', 'rq:queue:' .. q)\n" \
    "end\n" \
    "if st == 'finished' or st == 'failed' or st == 'stopped' then\n" \
    "  record_end(id, A[14], q, st, A[15], A[4])\n" \
    "  release_dependents(id, now_text)\n" \
    "end\n" \
    "return 1\n" \
    "end\n"

static const char finish_lua[] = PRELUDE FINISH_FN "return finish(ARGV, false)\n";

/* ARGV: finish's 17 arguments, then take's. Returns {finish's answer, take's answer}:
 * the worker's step between two jobs in one call (one round trip, one script's cost),
 * the outcome recorded before the next job is looked for, as two calls would. The take
 * runs whether or not the finish found the job still held (a fenced outcome is dropped,
 * the worker goes on). */
/* A script's writes before an error stay (Redis has no rollback), so the take runs under
 * pcall: an error there (another client's key of the wrong type) comes back as {-1, why}
 * beside the finish's answer, and the recorded outcome is never retried as unrecorded.
 * The worker hash goes from the ended job to the next one directly (busy, current_job):
 * it says idle only when no job was taken, as finish then take would leave it. */
static const char finish_take_lua[] = PRELUDE FINISH_FN TAKE_FN
    "local held = finish({unpack(ARGV, 1, 17)}, true)\n"
    "local ok, taken = pcall(take, {unpack(ARGV, 18, #ARGV)})\n"
    "if not ok then taken = {-1, tostring(taken)} end\n"
    "if held == 1 and taken[1] ~= 1 then worker_idle(ARGV[2], ARGV[1]) end\n"
    "return {held, taken}\n";

/* ARGV: since, limit. Returns the members of fpq:ended (JSON) at or after since, newest
 * first. */
static const char ended_lua[] =
    "return redis.call('ZREVRANGEBYSCORE', 'fpq:ended', '+inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n";

/* ARGV: now, now_text. Returns {promoted, queue, member, queue, member, ...}: the
 * rq:wip entries whose lease has passed, for the caller to decide (the retry rule and
 * its jitter live in C, fpq_retry_decision) and hand to REAP one by one. */
static const char maintain_lua[] = PRELUDE
    "local now, now_text = tonumber(ARGV[1]), ARGV[2]\n"
    "local out = {0}\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rq:queues')) do\n"
    "  if string.sub(key, 1, 9) == 'rq:queue:' then\n"
    "    local q = string.sub(key, 10)\n"
    "    out[1] = out[1] + promote(q, now, now_text, 1000)\n"
    "    redis.call('ZREMRANGEBYSCORE', 'rq:finished:' .. q, 0, now)\n"
    "    redis.call('ZREMRANGEBYSCORE', 'rq:failed:' .. q, 0, now)\n"
    "    local gone = redis.call('ZRANGEBYSCORE', 'rq:wip:' .. q, '-inf', '(' .. ARGV[1],\n"
    "                            'LIMIT', 0, 100)\n"
    "    for _, m in ipairs(gone) do out[#out + 1] = q; out[#out + 1] = m end\n"
    "  end\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', 'fpq:ended', '-inf', now - 3600)\n"
    "redis.call('ZREMRANGEBYRANK', 'fpq:ended', 0, -100001)\n"
    "return out\n";

/* ARGV: queue, member (ID:EXECID), now, now_text, decision (failed, queued, scheduled),
 * run_at, error JSON, exc_string, failure_ttl (as finish's ttl). Returns 1 when the job moved, 0 when there was nothing
 * to do. Re-checks everything the caller saw, so a lease renewed (or a job finished)
 * between MAINTAIN and here is left alone: a live worker's job is never reaped. */
static const char reap_lua[] = PRELUDE
    "local q, member = ARGV[1], ARGV[2]\n"
    "local now = tonumber(ARGV[3])\n"
    "local wip = 'rq:wip:' .. q\n"
    "local score = redis.call('ZSCORE', wip, member)\n"
    "if not score or tonumber(score) >= now then return 0 end\n"
    "local id, ex = string.match(member, '^(.*):([^:]*)$')\n"
    "if not id then id = member end\n"
    "redis.call('ZREM', wip, member)\n"
    "end_execution(q, id, ex)\n"
    "local job = 'rq:job:' .. id\n"
    "local h = redis.call('HMGET', job, 'status', 'worker_name')\n"
    "if h[1] ~= 'started' then return 0 end\n"
    /* A newer execution of the same job that is alive means this entry was stale. */
    "for _, e in ipairs(redis.call('ZRANGE', 'rq:executions:' .. id, 0, -1)) do\n"
    "  local s = redis.call('ZSCORE', wip, id .. ':' .. e)\n"
    "  if s and tonumber(s) >= now then return 0 end\n"
    "end\n"
    "local wkey = 'rq:worker:' .. (h[2] or '')\n"
    "if redis.call('HGET', wkey, 'current_job') == id then\n"
    "  redis.call('HDEL', wkey, 'current_job')\n"
    "end\n"
    "if ARGV[5] == 'failed' then\n"
    "  to_failed(id, q, 'failed', now, ARGV[4], h[2] or '', ex, nil, ARGV[7], ARGV[8], '',\n"
    "            ARGV[9])\n"
    "  release_dependents(id, ARGV[4])\n"
    "else\n"
    "  to_retry(id, q, ARGV[5], ARGV[6], ARGV[4], ARGV[7])\n"
    "end\n"
    "return 1\n";

/* ARGV: id, now, now_text. Returns 1, 0 (wrong state) or -1 (no such job). Like RQ's
 * job.cancel: out of its queue (LREM), status canceled, into rq:canceled:Q. */
static const char cancel_lua[] =
    "local id = ARGV[1]\n"
    "local job = 'rq:job:' .. id\n"
    "if redis.call('EXISTS', job) == 0 then return -1 end\n"
    "local h = redis.call('HMGET', job, 'status', 'origin')\n"
    "local st = h[1]\n"
    "if st == 'started' or st == 'finished' or st == 'failed' or st == 'stopped'\n"
    "   or st == 'canceled' then return 0 end\n"
    "local q = h[2] or 'default'\n"
    "redis.call('LREM', 'rq:queue:' .. q, 0, id)\n"
    "redis.call('ZREM', 'rq:scheduled:' .. q, id)\n"
    "redis.call('ZREM', 'rq:deferred:' .. q, id)\n"
    "redis.call('HSET', job, 'status', 'canceled', 'ended_at', ARGV[3])\n"
    "redis.call('HDEL', job, 'fpq_run_at')\n"
    "redis.call('ZADD', 'rq:canceled:' .. q, math.floor(tonumber(ARGV[2])), id)\n"
    "return 1\n";

/* ARGV: id, now, now_text. Returns 1, 0 (wrong state) or -1 (no such job). Like RQ's
 * registry requeue, plus our attempts reset; the job no longer expires. */
static const char requeue_lua[] =
    "local id = ARGV[1]\n"
    "local job = 'rq:job:' .. id\n"
    "if redis.call('EXISTS', job) == 0 then return -1 end\n"
    "local h = redis.call('HMGET', job, 'status', 'origin', 'fpq_max_retries')\n"
    "local st = h[1]\n"
    "if st ~= 'failed' and st ~= 'stopped' and st ~= 'canceled' then return 0 end\n"
    "local q = h[2] or 'default'\n"
    "redis.call('ZREM', 'rq:failed:' .. q, id)\n"
    "redis.call('ZREM', 'rq:canceled:' .. q, id)\n"
    /* fpq_attempts 0, not absent: a job Python rq enqueued would count its old runs in
     * rq:results:ID again (read_jobs). */
    "redis.call('HSET', job, 'status', 'queued', 'enqueued_at', ARGV[3], 'fpq_attempts', 0)\n"
    "if tonumber(h[3]) and tonumber(h[3]) > 0 then\n"
    "  redis.call('HSET', job, 'retries_left', h[3])\n"
    "end\n"
    /* Unset as at enqueue (RQ reads a missing field as unset). */
    "redis.call('HDEL', job, 'started_at', 'ended_at', 'worker_name', 'fpq_error',\n"
    "           'fpq_run_at', 'fpq_duration', 'fpq_exec')\n"
    "redis.call('PERSIST', job)\n"
    "redis.call('RPUSH', 'rq:queue:' .. q, id)\n"
    "redis.call('SADD', 'rq:queues', 'rq:queue:' .. q)\n"
    "return 1\n";

/* ARGV: now. Returns per queue {name, queued, started, finished, failed, scheduled,
 * canceled, deferred, enqueued_at of the head}: what `rq info` and the dashboard count
 * (finished: entries not yet expired). */
static const char counts_lua[] =
    "local out = {}\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rq:queues')) do\n"
    "  if string.sub(key, 1, 9) == 'rq:queue:' then\n"
    "    local q = string.sub(key, 10)\n"
    "    local head = redis.call('LINDEX', key, 0)\n"
    "    local oldest = head and redis.call('HGET', 'rq:job:' .. head, 'enqueued_at') or ''\n"
    "    out[#out + 1] = {q, redis.call('LLEN', key), redis.call('ZCARD', 'rq:wip:' .. q),\n"
    "      redis.call('ZCOUNT', 'rq:finished:' .. q, '(' .. ARGV[1], '+inf'),\n"
    "      redis.call('ZCARD', 'rq:failed:' .. q), redis.call('ZCARD', 'rq:scheduled:' .. q),\n"
    "      redis.call('ZCARD', 'rq:canceled:' .. q), redis.call('ZCARD', 'rq:deferred:' .. q),\n"
    "      oldest or ''}\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Returns {name, HGETALL, ...} of the workers in rq:workers that are alive; names whose
 * hash expired (the worker died) are removed from rq:workers and rq:workers:Q as RQ's
 * clean_worker_registry does. */
static const char workers_lua[] =
    "local out = {}\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rq:workers')) do\n"
    "  local h = redis.call('HGETALL', key)\n"
    "  if #h == 0 then\n"
    "    redis.call('SREM', 'rq:workers', key)\n"
    "    for _, q in ipairs(redis.call('SMEMBERS', 'rq:queues')) do\n"
    "      redis.call('SREM', 'rq:workers:' .. string.sub(q, 10), key)\n"
    "    end\n"
    "  elseif redis.call('HEXISTS', key, 'death') == 0 then\n"
    "    out[#out + 1] = string.sub(key, 11)\n"
    "    out[#out + 1] = h\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ARGV: name, now_text. As RQ's register_death: out of the worker sets, `death` set,
 * the hash kept 60 s for anyone looking. */
static const char worker_gone_lua[] =
    "local key = 'rq:worker:' .. ARGV[1]\n"
    "local queues = redis.call('HGET', key, 'queues')\n"
    "if queues then\n"
    "  for q in string.gmatch(queues, '[^,]+') do redis.call('SREM', 'rq:workers:' .. q, key) end\n"
    "end\n"
    "redis.call('SREM', 'rq:workers', key)\n"
    "if redis.call('EXISTS', key) == 1 then\n"
    "  redis.call('HSET', key, 'death', ARGV[2])\n"
    "  redis.call('HDEL', key, 'current_job')\n"
    "  redis.call('EXPIRE', key, 60)\n"
    "end\n"
    "return 1\n";

/* Prunes the oldest entries of a few find indexes whose job hash has expired, so the
 * indexes do not grow without bound when nobody runs find. Bounded work per call. */
static const char sweep_lua[] =
    "local pruned = 0\n"
    "for _, idx in ipairs(redis.call('SRANDMEMBER', 'fpq:indexes', 20)) do\n"
    "  local ids = redis.call('ZRANGE', idx, 0, 199)\n"
    "  for _, id in ipairs(ids) do\n"
    "    if redis.call('EXISTS', 'rq:job:' .. id) == 0 then\n"
    "      redis.call('ZREM', idx, id)\n"
    "      pruned = pruned + 1\n"
    "    end\n"
    "  end\n"
    "  if redis.call('ZCARD', idx) == 0 then redis.call('SREM', 'fpq:indexes', idx) end\n"
    "end\n"
    "return pruned\n";

/* ARGV: now. Removes registry entries of ended jobs whose retention passed (Redis
 * expired their hashes already; RQ's own registry cleanup does the same) and then sweeps
 * the find indexes. Returns the number of registry entries removed: the jobs pruned. */
static const char prune_lua[] =
    "local now = tonumber(ARGV[1])\n"
    "local removed = 0\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rq:queues')) do\n"
    "  if string.sub(key, 1, 9) == 'rq:queue:' then\n"
    "    local q = string.sub(key, 10)\n"
    "    removed = removed + redis.call('ZREMRANGEBYSCORE', 'rq:finished:' .. q, 0, now)\n"
    "    removed = removed + redis.call('ZREMRANGEBYSCORE', 'rq:failed:' .. q, 0, now)\n"
    "  end\n"
    "end\n"
    "return removed\n";

/* ARGV: now, sample size. Returns {kept, sampled, bytes of the sample}: ended jobs whose
 * retention has not passed (finished, failed and canceled registries), and MEMORY USAGE
 * of the hash and result stream of up to `sample` of them, which the caller scales up:
 * exact below the sample size, an estimate above it, and bounded work either way. */
static const char retention_lua[] =
    "local now, want = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local kept, sampled, bytes = 0, 0, 0\n"
    "local function usage(key)\n"
    "  return tonumber(redis.call('MEMORY', 'USAGE', key)) or 0\n"
    "end\n"
    "for _, key in ipairs(redis.call('SMEMBERS', 'rq:queues')) do\n"
    "  if string.sub(key, 1, 9) == 'rq:queue:' then\n"
    "    local q = string.sub(key, 10)\n"
    "    for _, reg in ipairs({'rq:finished:' .. q, 'rq:failed:' .. q, 'rq:canceled:' .. q}) do\n"
    "      local live = reg == 'rq:canceled:' .. q and redis.call('ZCARD', reg)\n"
    "                   or redis.call('ZCOUNT', reg, '(' .. ARGV[1], '+inf')\n"
    "      kept = kept + live\n"
    "      if sampled < want and live > 0 then\n"
    "        local ids = redis.call('ZREVRANGE', reg, 0, want - sampled - 1)\n"
    "        for _, id in ipairs(ids) do\n"
    "          if redis.call('EXISTS', 'rq:job:' .. id) == 1 then\n"
    "            bytes = bytes + usage('rq:job:' .. id) + usage('rq:results:' .. id)\n"
    "            sampled = sampled + 1\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {kept, sampled, bytes}\n";

static const struct {
  const char *name;
  const char *source;
} scripts[FPQ_RQ_SCRIPT_COUNT] = {
    [FPQ_RQ_ENQUEUE] = {"enqueue", enqueue_lua},
    [FPQ_RQ_TAKE] = {"take", take_lua},
    [FPQ_RQ_EXTEND] = {"extend", extend_lua},
    [FPQ_RQ_FINISH] = {"finish", finish_lua},
    [FPQ_RQ_MAINTAIN] = {"maintain", maintain_lua},
    [FPQ_RQ_REAP] = {"reap", reap_lua},
    [FPQ_RQ_CANCEL] = {"cancel", cancel_lua},
    [FPQ_RQ_REQUEUE] = {"requeue", requeue_lua},
    [FPQ_RQ_COUNTS] = {"counts", counts_lua},
    [FPQ_RQ_WORKERS] = {"workers", workers_lua},
    [FPQ_RQ_WORKER_GONE] = {"worker_gone", worker_gone_lua},
    [FPQ_RQ_SWEEP] = {"sweep", sweep_lua},
    [FPQ_RQ_SCHEDULE_PUT] = {"schedule_put", fpq__rq_schedule_put_lua},
    [FPQ_RQ_SCHEDULE_GET] = {"schedule_get", fpq__rq_schedule_get_lua},
    [FPQ_RQ_SCHEDULE_LIST] = {"schedule_list", fpq__rq_schedule_list_lua},
    [FPQ_RQ_SCHEDULE_REMOVE] = {"schedule_remove", fpq__rq_schedule_remove_lua},
    [FPQ_RQ_SCHEDULE_PAUSE] = {"schedule_pause", fpq__rq_schedule_pause_lua},
    [FPQ_RQ_SCHEDULE_ADVANCE] = {"schedule_advance", fpq__rq_schedule_advance_lua},
    [FPQ_RQ_LEASE_ACQUIRE] = {"lease_acquire", fpq__rq_lease_acquire_lua},
    [FPQ_RQ_LEASE_RELEASE] = {"lease_release", fpq__rq_lease_release_lua},
    [FPQ_RQ_ENDED] = {"ended", ended_lua},
    [FPQ_RQ_PRUNE] = {"prune", prune_lua},
    [FPQ_RQ_RETENTION] = {"retention", retention_lua},
    [FPQ_RQ_ENQUEUE_MANY] = {"enqueue_many", enqueue_many_lua},
    [FPQ_RQ_FINISH_TAKE] = {"finish_take", finish_take_lua},
};

const char *fpq__rq_script_name(fpq__rq_script which) { return scripts[which].name; }

/* SCRIPT LOAD; returns NULL and the reply stays with the caller on failure. */
static redisReply *load(redisContext *c, fpq__rq_shas *shas, fpq__rq_script which) {
  const char *argv[] = {"SCRIPT", "LOAD", scripts[which].source};
  redisReply *r = fpq__rq_command(c, 3, argv, NULL);
  if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
    memcpy(shas->sha[which], r->str, 40);
    shas->sha[which][40] = '\0';
    freeReplyObject(r);
    return NULL;
  }
  return r ? r : (redisReply *)-1; /* an error reply, or -1: the connection failed */
}

const char *fpq__rq_script_sha(redisContext *c, fpq__rq_shas *shas, fpq__rq_script which) {
  if (shas->sha[which][0] == '\0') {
    redisReply *err = load(c, shas, which);
    if (err == (redisReply *)-1) return NULL;
    if (err) {
      freeReplyObject(err);
      return NULL;
    }
  }
  return shas->sha[which];
}

/* Appends EVALSHA sha 0 argv... to c's output buffer; REDIS_OK or REDIS_ERR. */
static int append_evalsha(redisContext *c, const char *sha, int argc, const char *const *argv,
                          const size_t *lens) {
  const char **args = fpq__malloc((size_t)(argc + 3) * sizeof *args);
  size_t *alens = fpq__malloc((size_t)(argc + 3) * sizeof *alens);
  int rc = REDIS_ERR;
  if (args && alens) {
    args[0] = "EVALSHA";
    args[1] = sha;
    args[2] = "0";
    alens[0] = 7;
    alens[1] = 40;
    alens[2] = 1;
    for (int i = 0; i < argc; i++) {
      args[i + 3] = argv[i];
      alens[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    rc = redisAppendCommandArgv(c, argc + 3, args, alens);
  }
  fpq__free(args);
  fpq__free(alens);
  return rc;
}

redisReply *fpq__rq_eval(redisContext *c, fpq__rq_shas *shas, fpq__rq_script which, int argc,
                         const char *const *argv, const size_t *lens) {
  redisReply *r = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (shas->sha[which][0] == '\0') {
      redisReply *err = load(c, shas, which);
      if (err == (redisReply *)-1) return NULL;
      if (err) return err;
    }
    void *reply = NULL;
    if (append_evalsha(c, shas->sha[which], argc, argv, lens) != REDIS_OK ||
        fpq__rq_get_reply(c, &reply) != REDIS_OK)
      return NULL;
    r = reply;
    if (r == NULL || !fpq__rq_noscript(r)) break;
    /* The server forgot it (restart, SCRIPT FLUSH): load it again, once. */
    freeReplyObject(r);
    r = NULL;
    shas->sha[which][0] = '\0';
  }
  return r;
}

int fpq__rq_eval_send(redisContext *c, const fpq__rq_shas *shas, fpq__rq_script which, int argc,
                      const char *const *argv, const size_t *lens) {
  if (shas->sha[which][0] == '\0') return 1;
  if (append_evalsha(c, shas->sha[which], argc, argv, lens) != REDIS_OK) return -1;
  return fpq__rq_flush(c) == REDIS_OK ? 0 : -1;
}

int fpq__rq_noscript(const redisReply *r) {
  return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}
