/* fpq.h: the public C API of flowerpower-job-queue.
 *
 * One header a C program includes to enqueue FlowerPower pipeline jobs, read their
 * status and results, and (for worker programs) take jobs and report outcomes. All
 * calls go through an fpq_queue handle, which owns one connection to one backend
 * (the embedded SQLite file or a Redis server speaking RQ's format).
 *
 * Conventions (libuv's): functions return 0 on success or a negative FPQ_E* code;
 * detail is on the handle (fpq_errmsg). Strings are UTF-8 and NUL-terminated. Every
 * function says who owns what it returns. A handle is not thread-safe: use one per
 * thread. */
#ifndef FPQ_H
#define FPQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FPQ_BUILDING)
#define FPQ_EXPORT __attribute__((visibility("default")))
#else
#define FPQ_EXPORT
#endif

/* ---- errors ------------------------------------------------------------------ */

#define FPQ_ERRNO_MAP(XX)                                                  \
  XX(EINVAL, -1, "invalid argument")                                     \
  XX(ENOTFOUND, -2, "not found")                                         \
  XX(EEXIST, -3, "already exists")                                       \
  XX(EUNAVAIL, -4, "backend unavailable")                                \
  XX(EBACKEND, -5, "backend error")                                      \
  XX(ENOMEM, -6, "out of memory")                                        \
  XX(EEMPTY, -7, "nothing to take")                                      \
  XX(ESTATE, -8, "job is in the wrong state")                            \
  XX(ETIMEDOUT, -9, "timed out")                                         \
  XX(EIO, -10, "input/output error")                                     \
  XX(ENOTSUP, -11, "not supported by this backend")                      \
  XX(ECONFIG, -12, "bad configuration")                                  \
  XX(ETOOBIG, -13, "too large")                                          \
  XX(ELEASE, -14, "lease lost: the job belongs to another worker now")   \
  XX(EFORMAT, -15, "stored data has an unexpected format")

typedef enum {
  FPQ_OK = 0,
#define FPQ_ERR_ENUM(name, value, text) FPQ_##name = (value),
  FPQ_ERRNO_MAP(FPQ_ERR_ENUM)
#undef FPQ_ERR_ENUM
} fpq_errno;

/* Static strings; never NULL. */
FPQ_EXPORT const char *fpq_strerror(int err);
FPQ_EXPORT const char *fpq_err_name(int err);

/* ---- limits ------------------------------------------------------------------- */

#define FPQ_ID_MAX 128            /* ids match [A-Za-z0-9_-]{1,128} */
#define FPQ_PIPELINE_MAX 255      /* pipeline names: [A-Za-z0-9_][A-Za-z0-9_.-]* */
#define FPQ_PROJECT_NAME_MAX 100  /* project names: [A-Za-z0-9_.-]{1,100}, not "." or ".." */
#define FPQ_RUN_MAX (1 << 20)     /* run kwargs JSON: 1 MiB */
#define FPQ_RESULT_MAX (256 << 20) /* encoded result or error: 256 MiB */
/* Nesting of run kwargs JSON (inputs included): what every reader decodes with room to
 * spare (the executor's Python, the API's record decoding), where jansson alone would
 * take 2048 levels that then kill the executor on every attempt. */
#define FPQ_JSON_DEPTH_MAX 200

/* ---- durations and times as people type them -------------------------------------- */

/* Parses a duration: "90" (seconds), "90s", "10m", "2h", "1d", "250ms", "1.5h", or a sum
 * largest unit first ("1h30m", "1m30s500ms"). Returns 0 and sets *seconds, or FPQ_EINVAL
 * with one line in msg (may be NULL), e.g. "'soon' is not a duration: expected e.g. 30s,
 * 10m, 2h"; callers put the option's name in front. */
FPQ_EXPORT int fpq_parse_duration(const char *text, double *seconds, char *msg,
                                  size_t msglen);
/* Parses an ISO 8601 instant (RFC 3339, plus ISO's optional seconds and colon-less
 * offsets): "2026-12-01T02:00:00Z", "2026-12-01t02:00z", "2026-12-01 03:00:00.25+01:00",
 * "2026-12-01T07:30:00+0530". No offset means UTC. The date, 'T' (or 't', or a space) and
 * HH:MM are required; years 0001-9999, seconds 00-59, digits ASCII only. Returns 0 and
 * sets *epoch (UTC epoch seconds with the fraction), or FPQ_EINVAL with one line in msg
 * (may be NULL): "'tomorrow' is not an ISO 8601 time: expected e.g. 2026-12-01T02:00:00Z". */
FPQ_EXPORT int fpq_parse_time(const char *text, double *epoch, char *msg, size_t msglen);

/* Bytes fpq_format_time needs: RQ's form is 27 characters and a NUL. */
#define FPQ_TIME_TEXT_MAX 32
/* Writes epoch seconds t in RQ's timestamp form, UTC with microseconds:
 * "2026-07-01T02:00:00.000000Z" (what JSON output and the rq backend hold). Returns 0, or
 * FPQ_EINVAL with buf "" for t <= 0 (unset), NaN, past year 9999, or len below
 * FPQ_TIME_TEXT_MAX. */
FPQ_EXPORT int fpq_format_time(double t, char *buf, size_t len);
/* Writes instant t (epoch seconds) as wall-clock time in an IANA zone with its UTC offset
 * then: "2026-03-29 03:00:00 +02:00" (zone NULL or "": UTC). Returns 0, or FPQ_EINVAL with
 * buf "" for an unknown zone, t outside years 0001-9999 or a buf too short for it
 * (FPQ_TIME_TEXT_MAX bytes are enough). */
FPQ_EXPORT int fpq_format_zoned_time(int64_t t, const char *zone, char *buf, size_t len);

/* ---- statuses and priorities ------------------------------------------------------ */

/* RQ's statuses, in RQ's spelling (fpq_status_name). */
#define FPQ_STATUS_MAP(XX)  \
  XX(QUEUED, "queued")      \
  XX(STARTED, "started")    \
  XX(FINISHED, "finished")  \
  XX(FAILED, "failed")      \
  XX(DEFERRED, "deferred")  \
  XX(SCHEDULED, "scheduled") \
  XX(STOPPED, "stopped")    \
  XX(CANCELED, "canceled")  \
  XX(CREATED, "created")

typedef enum {
#define FPQ_STATUS_ENUM(name, text) FPQ_STATUS_##name,
  FPQ_STATUS_MAP(FPQ_STATUS_ENUM)
#undef FPQ_STATUS_ENUM
  FPQ_STATUS_COUNT
} fpq_status;

/* Returns the status' name, or "unknown". */
FPQ_EXPORT const char *fpq_status_name(fpq_status s);
/* Returns 0 and sets *out, or FPQ_EINVAL for an unknown name. */
FPQ_EXPORT int fpq_status_parse(const char *name, fpq_status *out);
/* 1 for finished, failed, stopped, canceled: states a job leaves only by requeue. */
FPQ_EXPORT int fpq_status_is_terminal(fpq_status s);

/* Priorities are RQ queues, taken in strict order high > medium > low. */
typedef enum { FPQ_PRIORITY_HIGH = 0, FPQ_PRIORITY_MEDIUM = 1, FPQ_PRIORITY_LOW = 2 } fpq_priority;
#define FPQ_PRIORITY_COUNT 3
/* "high", "medium", "low". */
FPQ_EXPORT const char *fpq_priority_name(fpq_priority p);
/* The RQ queue a priority maps to: "high", "default", "low". */
FPQ_EXPORT const char *fpq_priority_queue(fpq_priority p);
/* Accepts "high"/"medium"/"low" and the queue names "default"; FPQ_EINVAL otherwise. */
FPQ_EXPORT int fpq_priority_parse(const char *name, fpq_priority *out);

/* ---- the job record --------------------------------------------------------------- */

/* The one function a job runs (RQ's `func_name`): it runs a FlowerPower pipeline. */
#define FPQ_TASK_FUNC "flowerpower_job_queue.tasks.run_pipeline"

/* One job. Strings are owned by the job (freed by fpq_job_free); NULL means unset.
 * Times are UTC epoch seconds with microseconds; 0 means unset. */
typedef struct fpq_job {
  char id[FPQ_ID_MAX + 1];
  char *project;        /* the project's name (fpq_project_name); older records: its
                           absolute directory, which a worker never opens */
  char *pipeline;       /* pipeline name */
  char *run_json;       /* JSON object of the sparse run kwargs the caller gave ("{}") */
  char *queue;          /* RQ queue name ("NAME.high", "high", ...: fpq_queue_for) */
  fpq_priority priority;
  fpq_status status;
  char *description;    /* human summary, RQ's "description" */
  double created_at;
  double enqueued_at;
  double started_at;
  double ended_at;
  double run_at;        /* scheduled/retry: when it becomes due */
  int attempts;         /* times started so far */
  int max_retries;      /* retries after the first attempt; -1: from the pipeline's YAML */
  double retry_delay;   /* seconds; retry k waits retry_delay * 2^(k-1); -1: from YAML */
  double jitter_factor; /* 0..1: delay scaled by a random factor in [1-j, 1+j]; -1: YAML */
  double timeout;       /* seconds a run may take; 0 = the worker's default */
  double result_ttl;    /* seconds a finished job is kept (FPQ_TTL_* below) */
  char *worker;         /* worker that runs or ran it */
  char *result_json;    /* codec-encoded return value (finished) */
  char *error_json;     /* {"type":..,"message":..,"traceback":..} (failed, retried) */
  char *func;           /* callable; NULL means FPQ_TASK_FUNC */
  /* Started: the id of this run, a fencing token fpq_take makes afresh for every take
   * (RQ's execution id). Lease renewals and outcomes must present it, so a stale run of
   * the job (a worker that lost its lease, even one with the same name) cannot record
   * anything. NULL for a job not started, or from a backend older than version 3. */
  char *execution;
  double failure_ttl;   /* seconds a failed or stopped job is kept (FPQ_TTL_* below) */
  char *log;            /* what its last run wrote (stdout, stderr, FlowerPower's log
                         * lines), at most FPQ_LOG_MAX bytes; NULL: none recorded */
  /* JSON array of the ids of the jobs this one waits for (RQ's depends_on), e.g.
   * ["a", "b"]; NULL: none. Such a job is enqueued deferred and becomes queued once every
   * one of them has finished; a parent that fails, stops or is canceled keeps it deferred
   * (as RQ); release happens at a parent's finish (see docs/dependencies.md). */
  char *depends_on;
  /* Callbacks (RQ's on_success / on_failure / on_stopped): importable references,
   * "package.module:function" or RQ's dotted "package.module.function"; NULL: none.
   * The worker runs the one that matches the job's final outcome (finished, failed after
   * its last attempt, stopped) once that outcome is recorded, in the project's Python,
   * for at most FPQ_CALLBACK_TIMEOUT seconds; a callback's own failure is logged and
   * never changes the job. */
  char *on_success;
  char *on_failure;
  char *on_stopped;
} fpq_job;

/* Seconds a callback may run unless executor.callback_timeout says otherwise (RQ's
 * CALLBACK_TIMEOUT). */
#define FPQ_CALLBACK_TIMEOUT 60
/* Longest callback reference accepted. */
#define FPQ_CALLBACK_MAX 512
/* Checks a callback reference's shape (what names it in the message: "on_failure", ...):
 * dotted Python identifiers, with at most one ':' between the module and the attribute
 * path, and at least one '.' when there is no ':' (RQ's "module.function"). Whether it
 * imports, and is the project's own code, only Python can tell (the Python API checks
 * before it enqueues; the worker's callback runner before it imports). Returns 0, or
 * FPQ_EINVAL with one line in msg naming the value and what was expected. */
FPQ_EXPORT int fpq_validate_callback(const char *what, const char *ref, char *msg,
                                     size_t msglen);

/* A run's log is kept to this many bytes: its first FPQ_LOG_MAX - 4 KiB and its last
 * 4 KiB, with FPQ_LOG_CUT between them saying how much was left out. */
#define FPQ_LOG_MAX (64 * 1024)
#define FPQ_LOG_CUT "\n[... %lld bytes of output cut: the log keeps the first and last ...]\n"

/* Retention (result_ttl, failure_ttl), as RQ spells it: seconds > 0 keep the ended job
 * that long, FPQ_TTL_FOREVER keeps it until removed, 0 keeps nothing (the job is gone
 * once it ends). FPQ_TTL_DEFAULT, which fpq_job_new sets, means "the project's setting"
 * (conf/job_queue.yml's result_ttl / failure_ttl, FPQ_RESULT_TTL / FPQ_FAILURE_TTL,
 * else FPQ_TTL_DEFAULT_SECONDS): fpq_enqueue replaces it with that value, so a stored
 * job carries its own retention. */
#define FPQ_TTL_FOREVER (-1)
#define FPQ_TTL_DEFAULT (-2)
#define FPQ_TTL_DEFAULT_SECONDS (7 * 86400) /* a week: a daily pipeline's runs outlive a weekend */
#define FPQ_TTL_MAX (3650.0 * 86400)         /* ten years */
/* Parses a retention as people type it: a duration ("7d", "90s", "0") or "-1" (forever).
 * Returns 0 and sets *seconds, or FPQ_EINVAL with one line in msg (may be NULL) that
 * starts with the value: "'soon' is not a retention: expected a duration like 7d, 0 (keep
 * none) or -1 (keep forever)". */
FPQ_EXPORT int fpq_parse_ttl(const char *text, double *seconds, char *msg, size_t msglen);

/* Returns a job with status queued, priority medium, run_json "{}" and the retry fields
 * -1 (taken from the pipeline's YAML at enqueue, as project.run() would), or NULL when
 * out of memory. Caller owns it. */
FPQ_EXPORT fpq_job *fpq_job_new(void);
FPQ_EXPORT void fpq_job_free(fpq_job *job);
/* Deep copy; caller owns the result; NULL when out of memory. */
FPQ_EXPORT fpq_job *fpq_job_dup(const fpq_job *job);
FPQ_EXPORT void fpq_jobs_free(fpq_job **jobs, size_t n);
/* Sets a string field (copies value; NULL clears). Returns 0 or FPQ_ENOMEM. */
FPQ_EXPORT int fpq_job_set(char **field, const char *value);
/* Fills id with a fresh time-ordered UUID, version 7 ("tttttttt-tttt-7xxx-yxxx-xxxxxxxxxxxx":
 * the Unix time in milliseconds, then 74 random bits), so ids made later sort later
 * (within a millisecond, in any order). Returns 0, or
 * FPQ_EIO with id "" when the system gives no random bytes (no getrandom and no
 * /dev/urandom): an id that might repeat is never made up. */
FPQ_EXPORT int fpq_job_new_id(char id[FPQ_ID_MAX + 1]);

/* Validation: 0, or FPQ_EINVAL with one line in msg naming the value and what was
 * expected (msg may be NULL). */
FPQ_EXPORT int fpq_validate_id(const char *id, char *msg, size_t msglen);
FPQ_EXPORT int fpq_validate_pipeline(const char *name, char *msg, size_t msglen);
FPQ_EXPORT int fpq_validate_run_json(const char *json, char *msg, size_t msglen);
/* Most parents one job may wait for. */
#define FPQ_DEPENDS_MAX 64
/* Adds a parent id to job->depends_on (`fpq enqueue --after ID`, repeatable). Returns 0,
 * FPQ_EINVAL with one line in msg for a bad id or past FPQ_DEPENDS_MAX parents, or
 * FPQ_ENOMEM. */
FPQ_EXPORT int fpq_job_add_dependency(fpq_job *job, const char *id, char *msg, size_t msglen);
/* Checks every field of a job about to be enqueued. */
FPQ_EXPORT int fpq_job_validate(const fpq_job *job, char *msg, size_t msglen);

/* Applies a FlowerPower RunConfig given as a JSON object: its run() options go into
 * run_json (merged over what is there; `executor` and `with_adapter` become run()'s
 * `executor_cfg` and `with_adapter_cfg`), its `retry` block (or legacy flat retry keys)
 * sets the queue's retry policy, `priority` the priority. Null values are skipped.
 * Returns 0, or FPQ_EINVAL with one line in msg naming the bad field. */
FPQ_EXPORT int fpq_job_apply_run_config(fpq_job *job, const char *json, char *msg,
                                        size_t msglen);

/* Applies run() keyword arguments (a JSON object, by run()'s names or RunConfig's) over
 * what fpq_job_apply_run_config put there, by FlowerPower's rule: dict-valued options
 * (inputs, config, adapter, executor_cfg, with_adapter_cfg, pipeline_adapter_cfg,
 * project_adapter_cfg, retry) merge key by key, the others replace. Otherwise read
 * exactly as a RunConfig. `project.enqueue("etl", rc, inputs={...})` is this over rc.
 * Returns 0, or FPQ_EINVAL with one line in msg naming the bad field; FPQ_ENOMEM. */
FPQ_EXPORT int fpq_job_apply_run_kwargs(fpq_job *job, const char *json, char *msg,
                                        size_t msglen);

/* Merges a JSON object of pipeline inputs into the run kwargs' "inputs", key by key over
 * what is there (e.g. from fpq_job_apply_run_config): `fpq enqueue --inputs`. The result
 * is checked with the rest of the job at enqueue. Returns 0, or FPQ_EINVAL with one line
 * in msg that starts with the argument's name, so a command line can put "--" before it:
 * "inputs is not valid JSON: ... at position 4", "inputs must be a JSON object like
 * '{"x": 1}'"; FPQ_ENOMEM. */
FPQ_EXPORT int fpq_job_merge_inputs(fpq_job *job, const char *inputs_json, char *msg,
                                    size_t msglen);

/* JSON form of a job (the one `fpq status --json` prints). Caller frees with free(). */
FPQ_EXPORT char *fpq_job_to_json(const fpq_job *job);
/* The run's outcome alone, what `fpq result --json` prints: id, pipeline, status,
 * ended_at, result, error of that form. Caller frees with free(). */
FPQ_EXPORT char *fpq_job_outcome_json(const fpq_job *job);
/* Parses that form. Returns 0 and a job the caller owns, or FPQ_EINVAL / FPQ_EFORMAT
 * with one line in msg. */
FPQ_EXPORT int fpq_job_from_json(const char *json, size_t len, fpq_job **out, char *msg,
                                 size_t msglen);

/* ---- configuration ------------------------------------------------------------------ */

/* Where to connect. Settings resolve as flags > environment (FPQ_BACKEND, FPQ_URL,
 * FPQ_REDIS_URL) > <project>/conf/job_queue.yml > defaults (sqlite at
 * <project>/.flowerpower/queue.db). */
typedef struct fpq_options {
  const char *project_dir; /* NULL = current directory */
  const char *backend;     /* flag value or NULL */
  const char *url;         /* flag value or NULL */
  int create;              /* create the SQLite file and its directory if missing */
  /* A read-only command (status, result, lists): never load code that only the project's
   * conf file names (a plugin's backends.NAME.library or a Python adapter), since reading
   * a queue must be safe in a directory one does not trust. The backend given as the
   * flag above or in FPQ_BACKEND is loaded as usual: the caller chose it. */
  int read_only;
} fpq_options;

/* Settings resolved as fpq_open resolves them, without connecting (for tools that need
 * to know where a project's queue is, or read a setting, before or without opening it). */
typedef struct fpq_config fpq_config;
/* Always sets *out (NULL only when out of memory): on error read fpq_config_errmsg(*out)
 * and fpq_config_errfield(*out), then fpq_config_free it. Returns 0, FPQ_ECONFIG or
 * FPQ_EINVAL. */
FPQ_EXPORT int fpq_config_resolve(fpq_config **out, const fpq_options *opts);
FPQ_EXPORT void fpq_config_free(fpq_config *c);
FPQ_EXPORT const char *fpq_config_errmsg(const fpq_config *c);
/* The setting an error is about ("project_dir", "backend", "url", "conf/job_queue.yml"),
 * or "". */
FPQ_EXPORT const char *fpq_config_errfield(const fpq_config *c);
/* Resolved values, owned by c: backend name, URL, absolute project directory. */
FPQ_EXPORT const char *fpq_config_backend(const fpq_config *c);
FPQ_EXPORT const char *fpq_config_url(const fpq_config *c);
FPQ_EXPORT const char *fpq_config_project_dir(const fpq_config *c);
/* Project identity (issue 12), owned by c: the project's name (`project` in
 * conf/job_queue.yml, else `name` in conf/project.yml, else the directory's basename),
 * the queue a priority maps to in this project ("NAME.high" when queue_namespace is on,
 * the default on rq; else "high"), and whether a job naming `project` (a job's project
 * field, NULL allowed) is this project's: its name, no name at all, or (older records)
 * exactly this project's absolute directory. A worker runs only jobs it serves. */
FPQ_EXPORT const char *fpq_config_project_name(const fpq_config *c);
FPQ_EXPORT const char *fpq_config_queue(const fpq_config *c, fpq_priority p);
FPQ_EXPORT int fpq_config_serves(const fpq_config *c, const char *project);
/* A setting by dotted key ("backends.jsonl.path"): the environment's FPQ_<KEY> when set,
 * else conf/job_queue.yml's value, else NULL. Owned by c or the environment. */
FPQ_EXPORT const char *fpq_config_get(const fpq_config *c, const char *key);
/* The i-th key of conf/job_queue.yml in file order (sequences joined with ","), NULL past
 * the end; owned by c. */
FPQ_EXPORT const char *fpq_config_key(const fpq_config *c, size_t i);

/* ---- the queue handle ------------------------------------------------------------------ */

typedef struct fpq_queue fpq_queue;

/* Resolves the configuration and connects. Always sets *out to a handle (NULL only when
 * out of memory), like hiredis: on error read fpq_errmsg(*out), then fpq_close it.
 * Returns FPQ_ECONFIG for bad settings, FPQ_EUNAVAIL when the backend cannot be
 * reached, FPQ_EINVAL for an unknown backend name. */
FPQ_EXPORT int fpq_open(fpq_queue **out, const fpq_options *opts);
FPQ_EXPORT void fpq_close(fpq_queue *q);
/* The last error's detail, in the backend's own words; "" after success. Owned by q. */
FPQ_EXPORT const char *fpq_errmsg(const fpq_queue *q);
FPQ_EXPORT int fpq_errcode(const fpq_queue *q);
/* The setting or field the last error is about ("backend", "url", ...), or "". */
FPQ_EXPORT const char *fpq_errfield(const fpq_queue *q);
/* Resolved settings, owned by q: backend name, URL, absolute project directory. */
FPQ_EXPORT const char *fpq_backend_name(const fpq_queue *q);
FPQ_EXPORT const char *fpq_url(const fpq_queue *q);
FPQ_EXPORT const char *fpq_project_dir(const fpq_queue *q);
/* The project's name and the queue a priority maps to, as fpq_config_project_name and
 * fpq_config_queue say; owned by q. */
FPQ_EXPORT const char *fpq_project_name(const fpq_queue *q);
FPQ_EXPORT const char *fpq_queue_for(const fpq_queue *q, fpq_priority p);
/* A value from conf/job_queue.yml's top level ("" when unset); owned by q. */
FPQ_EXPORT const char *fpq_setting(const fpq_queue *q, const char *key);

/* ---- producer API ------------------------------------------------------------------------ */

/* Validates and stores a job. Empty id: a new one (fpq_job_new_id) is made and written
 * back into job->id.
 * Fills created_at/enqueued_at, status (queued, or scheduled when run_at > now) and the
 * retry fields left at -1. FPQ_EINVAL (nothing written) for bad input, including a
 * pipeline the project does not have; FPQ_EEXIST when the id is taken. */
FPQ_EXPORT int fpq_enqueue(fpq_queue *q, fpq_job *job);
/* Validates and stores n jobs as n calls of fpq_enqueue would, in one go: one transaction
 * on SQLite, one pipelined round trip on rq (RQ's records exactly as fpq_enqueue writes
 * them). Every job is checked first (including two jobs of the batch asking for one id):
 * if any is bad, nothing is written, FPQ_EINVAL is returned and the message begins
 * "jobs[I]: " with the index of the first bad job, then why. Ids are written back into
 * each job (fields may have been filled even when the batch is refused). Returns 0 with
 * *failed == n. On error *failed is the index of the job at fault (n when no one job is,
 * e.g. the backend is unreachable). What a refused batch leaves stored: nothing for bad
 * input and on SQLite; on rq an id taken by another writer between the check and the
 * write refuses that job only, and the message says how many of the others were stored;
 * a backend without batch support (a plugin of version < 4) stores jobs one by one and
 * keeps those before jobs[*failed]. A job's depends_on may name a job earlier in the
 * batch (by its caller-given id): it is stored first. */
FPQ_EXPORT int fpq_enqueue_many(fpq_queue *q, fpq_job **jobs, size_t n, size_t *failed);
/* Batch enqueue from JSON Lines (`fpq enqueue --from-file`): one JSON object per line,
 * with the keys `fpq enqueue` has options for: "pipeline" (required), "inputs" (object),
 * "run_config" (object of RunConfig fields), "priority", "job_id", "at" (ISO 8601) or "in"
 * (a duration), "timeout", "retry_delay", "result_ttl", "failure_ttl" (seconds or text
 * like "10m", "7d"), "max_retries" (0-1000), "after" (a job id or a list of them). Blank
 * lines are skipped. Every line is read and checked before anything is stored (then
 * fpq_enqueue_many); a bad line refuses the file, nothing written, FPQ_EINVAL with a
 * message beginning "line N: " (1-based). Returns 0 and the stored jobs in file order
 * (ids set; free with fpq_jobs_free(*jobs, *n)). */
FPQ_EXPORT int fpq_enqueue_jsonl(fpq_queue *q, const char *text, size_t len, fpq_job ***jobs,
                                 size_t *n);
/* Returns 0 and a job the caller owns, or FPQ_ENOTFOUND. */
FPQ_EXPORT int fpq_get(fpq_queue *q, const char *id, fpq_job **out);
/* Jobs of one project, newest first; pipeline NULL = all pipelines; limit <= 0 = 100.
 * Caller frees with fpq_jobs_free(*out, *n). */
FPQ_EXPORT int fpq_find(fpq_queue *q, const char *project, const char *pipeline, int limit,
                        fpq_job ***out, size_t *n);
/* The newest job of a pipeline in the handle's project. finished != 0: the newest that
 * finished, so a run still queued does not hide yesterday's result (among the newest
 * 1000; when none finished, the newest, whose state says why there is no result).
 * Returns 0 and a job the caller owns, or FPQ_ENOTFOUND when the pipeline has no jobs. */
FPQ_EXPORT int fpq_latest(fpq_queue *q, const char *pipeline, int finished, fpq_job **out);
/* queued/scheduled/deferred -> canceled. FPQ_ESTATE otherwise (message names it). */
FPQ_EXPORT int fpq_cancel(fpq_queue *q, const char *id);
/* failed/stopped/canceled -> queued at the back of its queue, attempts reset. */
FPQ_EXPORT int fpq_requeue(fpq_queue *q, const char *id);
/* Blocks until the job is terminal or timeout (seconds, < 0 = forever) passes; returns 0
 * and the job (caller owns), FPQ_ETIMEDOUT, or FPQ_ENOTFOUND. */
FPQ_EXPORT int fpq_wait(fpq_queue *q, const char *id, double timeout, fpq_job **out);

/* Counts per queue and status. */
typedef struct fpq_queue_counts {
  char queue[64];
  int64_t count[FPQ_STATUS_COUNT];
  double oldest_queued_at; /* enqueued_at of the oldest queued job; 0 when none */
} fpq_queue_counts;
/* Caller frees *out with free(). */
FPQ_EXPORT int fpq_counts(fpq_queue *q, fpq_queue_counts **out, size_t *n);
/* Metrics as one JSON object (counts, workers, throughput, run-time percentiles);
 * caller frees with free(). */
FPQ_EXPORT int fpq_metrics_json(fpq_queue *q, char **out);
/* The same metrics in Prometheus' text exposition format 0.0.4 (what a worker's /metrics
 * serves); caller frees with free(). */
FPQ_EXPORT int fpq_metrics_prometheus(fpq_queue *q, char **out);

/* ---- worker API ------------------------------------------------------------------------- */

/* Takes the next due job from the first non-empty queue in order, atomically marking it
 * started with a lease of lease_seconds owned by worker. Waits up to wait_seconds for one
 * (0 = do not wait). Returns 0 and a job the caller owns, or FPQ_EEMPTY. */
FPQ_EXPORT int fpq_take(fpq_queue *q, const char *worker, const char *const *queues,
                        size_t nqueues, double lease_seconds, double wait_seconds,
                        fpq_job **out);
/* Extends the lease of a started job this worker took (job as fpq_take returned it: its
 * id and execution). FPQ_ELEASE when that run no longer holds it. */
FPQ_EXPORT int fpq_extend(fpq_queue *q, const fpq_job *job, const char *worker,
                          double lease_seconds);

/* How a run ended. */
typedef enum {
  FPQ_OUTCOME_SUCCESS,   /* result_json holds the return value */
  FPQ_OUTCOME_FAILURE,   /* error_json; retried if attempts remain */
  FPQ_OUTCOME_STOPPED,   /* stopped by a user: status stopped, no retry */
  FPQ_OUTCOME_RETURN     /* put back untouched (worker shutting down): attempt not counted */
} fpq_outcome_kind;

typedef struct fpq_outcome {
  fpq_outcome_kind kind;
  const char *result_json;
  const char *error_json;
  double duration; /* seconds the run took */
  const char *log; /* what the run wrote, or NULL; cut to FPQ_LOG_MAX by fpq_finish */
  int64_t log_omitted; /* bytes of it left out of log already, at one place between its
                        * first and last part (the executor sends at most a bounded
                        * head and tail); counted in FPQ_LOG_CUT's number */
} fpq_outcome;

/* Records the outcome of a job this worker took (job as fpq_take returned it). For a
 * failure with retries left the job becomes scheduled at now + backoff
 * (retry_delay * 2^(attempt-1), jittered), or queued when that is 0. Sets *final_status
 * (may be NULL) to where the job went. FPQ_ELEASE when the job is no longer held by this
 * run (job->execution): its lease expired and someone else handled it, even a worker of
 * the same name. */
FPQ_EXPORT int fpq_finish(fpq_queue *q, const fpq_job *job, const char *worker,
                          const fpq_outcome *outcome, fpq_status *final_status);
/* Removes ended jobs whose retention (result_ttl / failure_ttl) has passed, now rather
 * than at the worker's next maintenance: `fpq prune`. Sets *removed (may be NULL) to how
 * many went (on rq, Redis expires job hashes itself; this trims RQ's registries and our
 * indexes of what Redis expired). */
FPQ_EXPORT int fpq_prune(fpq_queue *q, int64_t *removed);
/* Makes due scheduled jobs queued and handles started jobs whose lease expired
 * (dead worker): retried if attempts remain, else failed with the reason. Sets *moved to
 * the number of jobs changed (may be NULL). Any process may call it. */
FPQ_EXPORT int fpq_maintain(fpq_queue *q, int *moved);

/* Workers. */
typedef struct fpq_worker_info {
  char name[128];
  char hostname[256];
  int pid;
  char state[16];      /* started, idle, busy, suspended, stopped */
  char queues[256];    /* comma-joined */
  char current_job[FPQ_ID_MAX + 1];
  double birth;
  double last_heartbeat;
  int64_t successful;
  int64_t failed;
  double busy_seconds;
} fpq_worker_info;
/* 1 when worker w takes from one of this project's queues (fpq_queue_for): on a Redis
 * shared by projects, `worker stop` with no name stops only these. */
FPQ_EXPORT int fpq_worker_is_ours(const fpq_queue *q, const fpq_worker_info *w);

/* Registers (or re-registers) a worker; the record expires ttl seconds after the last
 * call. Call it again as a heartbeat with the fresh state. */
FPQ_EXPORT int fpq_worker_beat(fpq_queue *q, const fpq_worker_info *info, double ttl);
FPQ_EXPORT int fpq_worker_gone(fpq_queue *q, const char *name);
/* Live workers; caller frees *out with free(). */
FPQ_EXPORT int fpq_workers(fpq_queue *q, fpq_worker_info **out, size_t *n);
/* Sends a command to a worker by name: "shutdown" (finish running jobs, then exit),
 * "shutdown-now" (running jobs go back), "kill-horse", "stop-job:<id>". */
FPQ_EXPORT int fpq_worker_command(fpq_queue *q, const char *name, const char *command);
/* Takes the oldest pending command for worker into buf ("" and FPQ_EEMPTY when none). */
FPQ_EXPORT int fpq_worker_next_command(fpq_queue *q, const char *name, char *buf, size_t len);

/* ---- schedules ------------------------------------------------------------------------- */

/* A schedule id leaves room in a job id for the fire time: each fire's job id is
 * "sched-<schedule id>-<fire epoch>", so two schedulers can never enqueue one fire twice. */
#define FPQ_SCHEDULE_ID_MAX 100
#define FPQ_TRIGGER_MAX 1024 /* trigger text: cron, @macro, "every 15m", "at <ISO 8601>" */
#define FPQ_TIMEZONE_MAX 64  /* IANA zone name */

/* A recurring (or one-shot) run of a pipeline. Strings are owned by the record
 * (fpq_schedule_free); NULL means unset. Fire times are whole UTC epoch seconds. */
typedef struct fpq_schedule {
  char id[FPQ_SCHEDULE_ID_MAX + 1];
  char *project;        /* the project's name (older records: its directory) */
  char *pipeline;
  char *run_json;       /* the sparse run kwargs each fire's job gets ("{}") */
  fpq_priority priority;
  char *trigger;        /* cron ("0 2 * * *", or 6 fields with seconds), "@daily", "every 15m", "at ..." */
  char *timezone;       /* IANA name the cron fields are read in; NULL = UTC */
  /* The job each fire makes: as fpq_job's fields (-1: the pipeline's YAML, 0: none). */
  int max_retries;
  double retry_delay;
  double jitter_factor;
  double timeout;
  double misfire_grace; /* seconds a fire may be late and still run; 0 = no limit */
  int coalesce;         /* 1: fires missed while no scheduler ran become one run */
  int paused;
  int64_t next_fire;    /* when it fires next; 0 = never again (a one-shot that fired) */
  int64_t last_fire;    /* the last fire time handled (run or skipped); 0 = none yet */
  double created_at;    /* also the phase of "every" intervals */
  int64_t fired;        /* fires that became jobs */
  int64_t skipped;      /* fires dropped: later than misfire_grace, or coalesced */
} fpq_schedule;

/* Returns a schedule with priority medium, run_json "{}", coalesce on, the retry fields
 * -1, or NULL when out of memory. Caller owns it. */
FPQ_EXPORT fpq_schedule *fpq_schedule_new(void);
FPQ_EXPORT void fpq_schedule_free(fpq_schedule *s);
FPQ_EXPORT void fpq_schedules_free(fpq_schedule **list, size_t n);
/* Deep copy; caller owns it; NULL when out of memory. */
FPQ_EXPORT fpq_schedule *fpq_schedule_dup(const fpq_schedule *s);
/* JSON form (the one `fpq schedules list --json` prints); caller frees with free(). */
FPQ_EXPORT char *fpq_schedule_to_json(const fpq_schedule *s);
/* Applies a FlowerPower RunConfig (JSON object) as fpq_job_apply_run_config does, and
 * takes its `schedule` field as the trigger when s->trigger is still unset. */
FPQ_EXPORT int fpq_schedule_apply_run_config(fpq_schedule *s, const char *json, char *msg,
                                             size_t msglen);
/* fpq_job_apply_run_kwargs for the run options each fire's job gets. */
FPQ_EXPORT int fpq_schedule_apply_run_kwargs(fpq_schedule *s, const char *json, char *msg,
                                             size_t msglen);
/* fpq_job_merge_inputs for the run kwargs each fire's job gets. */
FPQ_EXPORT int fpq_schedule_merge_inputs(fpq_schedule *s, const char *inputs_json, char *msg,
                                         size_t msglen);
/* Checks a trigger and zone: 0, or FPQ_EINVAL with one line in msg naming the bad field
 * ("minute field '60': value out of range 0-59"). */
FPQ_EXPORT int fpq_trigger_validate(const char *trigger, const char *timezone, char *msg,
                                    size_t msglen);
/* The next n fire times strictly after `after` (epoch seconds) into out; anchor is the
 * phase of an "every" interval (a schedule's created_at). Sets *count to how many there
 * are (fewer than n when the trigger ends). FPQ_EINVAL with msg for a bad trigger. */
FPQ_EXPORT int fpq_next_fires(const char *trigger, const char *timezone, int64_t anchor,
                              int64_t after, int64_t *out, size_t n, size_t *count, char *msg,
                              size_t msglen);

/* Validates and stores a schedule (upsert). Empty id: a new one is made and written back.
 * The project defaults to the handle's. Sets created_at and next_fire (the first fire
 * after now); replacing an existing id keeps its created_at, last_fire and counters.
 * FPQ_EINVAL (nothing written) for bad input: the message names the bad field. */
FPQ_EXPORT int fpq_schedule_put(fpq_queue *q, fpq_schedule *s);
/* Returns 0 and a schedule the caller owns, or FPQ_ENOTFOUND. */
FPQ_EXPORT int fpq_schedule_get(fpq_queue *q, const char *id, fpq_schedule **out);
/* Schedules of one project (NULL: the handle's), ordered by id. Caller frees with
 * fpq_schedules_free(*out, *n). */
FPQ_EXPORT int fpq_schedule_list(fpq_queue *q, const char *project, fpq_schedule ***out,
                                 size_t *n);
FPQ_EXPORT int fpq_schedule_remove(fpq_queue *q, const char *id);
/* A paused schedule does not fire. Resuming fires from now on: fires missed while paused
 * are not made up. */
FPQ_EXPORT int fpq_schedule_pause(fpq_queue *q, const char *id);
FPQ_EXPORT int fpq_schedule_resume(fpq_queue *q, const char *id);
/* The schedule's next n fire times (its next_fire first); fewer when it ends. */
FPQ_EXPORT int fpq_schedule_next_fires(fpq_queue *q, const char *id, int64_t *out, size_t n,
                                       size_t *count);
/* The job id of one fire: "sched-<id>-<fire>". */
FPQ_EXPORT void fpq_schedule_job_id(const char *schedule_id, int64_t fire,
                                    char out[FPQ_ID_MAX + 1]);

/* Build version, e.g. "0.1.0". */
FPQ_EXPORT const char *fpq_version(void);

#ifdef __cplusplus
}
#endif
#endif /* FPQ_H */
