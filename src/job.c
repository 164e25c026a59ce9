/* job.c: the job record: its statuses and priorities, life cycle, validation of what
 * users give us, and its JSON form (what `fpq status --json` prints and the tests and
 * fuzzers read back). Backends store jobs in their own formats; this is the one shape
 * every other part of the engine sees. */
#include "job.h"
#include "fpq_backend.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "random.h"

/* ---- statuses and priorities ---- */

static const char *const status_names[FPQ_STATUS_COUNT] = {
#define FPQ_STATUS_TEXT(name, text) text,
    FPQ_STATUS_MAP(FPQ_STATUS_TEXT)
#undef FPQ_STATUS_TEXT
};

const char *fpq_status_name(fpq_status s) {
  return (unsigned)s < FPQ_STATUS_COUNT ? status_names[s] : "unknown";
}

int fpq_status_parse(const char *name, fpq_status *out) {
  for (int i = 0; name && i < FPQ_STATUS_COUNT; i++) {
    if (strcmp(name, status_names[i]) == 0) {
      *out = (fpq_status)i;
      return 0;
    }
  }
  return FPQ_EINVAL;
}

int fpq_status_is_terminal(fpq_status s) {
  return s == FPQ_STATUS_FINISHED || s == FPQ_STATUS_FAILED || s == FPQ_STATUS_STOPPED ||
         s == FPQ_STATUS_CANCELED;
}

static const char *const priority_names[FPQ_PRIORITY_COUNT] = {"high", "medium", "low"};
static const char *const priority_queues[FPQ_PRIORITY_COUNT] = {"high", "default", "low"};

const char *fpq_priority_name(fpq_priority p) {
  return (unsigned)p < FPQ_PRIORITY_COUNT ? priority_names[p] : "medium";
}

const char *fpq_priority_queue(fpq_priority p) {
  return (unsigned)p < FPQ_PRIORITY_COUNT ? priority_queues[p] : "default";
}

int fpq_priority_parse(const char *name, fpq_priority *out) {
  for (int i = 0; name && i < FPQ_PRIORITY_COUNT; i++) {
    if (strcmp(name, priority_names[i]) == 0 || strcmp(name, priority_queues[i]) == 0) {
      *out = (fpq_priority)i;
      return 0;
    }
  }
  return FPQ_EINVAL;
}

int fpq__queue_priority(const char *queue) {
  fpq_priority p;
  /* A project's namespaced queue ("etl.high", config.c) ranks as its last part: a project
   * name may hold '.', a priority's queue name never does. */
  const char *dot = queue ? strrchr(queue, '.') : NULL;
  if (dot) queue = dot + 1;
  return fpq_priority_parse(queue, &p) == 0 ? (int)p : FPQ_PRIORITY_LOW + 1;
}

int fpq__validate_project_name(const char *name, char *msg, size_t msglen) {
  char q[80];
  fpq__quote(name, q, sizeof q);
  size_t n = name ? strlen(name) : 0;
  int ok = n > 0 && n <= FPQ_PROJECT_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
  for (size_t i = 0; ok && i < n; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
         (name[i] >= '0' && name[i] <= '9') || strchr("_-.", name[i]) != NULL;
  if (ok) return 0;
  return fpq__invalid(msg, msglen, "project name '%s' is not valid: expected 1-%d of A-Z a-z "
                      "0-9 _ - . (not '.' or '..')", q, FPQ_PROJECT_NAME_MAX);
}

/* ---- life cycle ---- */

fpq_job *fpq_job_new(void) {
  fpq_job *job = fpq__calloc(1, sizeof *job);
  if (job == NULL) return NULL;
  job->status = FPQ_STATUS_QUEUED;
  job->priority = FPQ_PRIORITY_MEDIUM;
  job->max_retries = -1;
  job->retry_delay = -1;
  job->jitter_factor = -1;
  job->result_ttl = FPQ_TTL_DEFAULT;
  job->failure_ttl = FPQ_TTL_DEFAULT;
  job->run_json = fpq__strdup("{}");
  if (job->run_json == NULL) {
    fpq__free(job);
    return NULL;
  }
  return job;
}

/* The owned strings of a job, for free and dup to walk in one place. */
#define JOB_STRINGS(XX)                                                                \
  XX(project) XX(pipeline) XX(run_json) XX(queue) XX(description) XX(worker) \
  XX(result_json) XX(error_json) XX(func) XX(execution) XX(log) XX(depends_on)   \
  XX(on_success) XX(on_failure) XX(on_stopped)

void fpq_job_free(fpq_job *job) {
  if (job == NULL) return;
#define FREE_FIELD(f) fpq__free(job->f);
  JOB_STRINGS(FREE_FIELD)
#undef FREE_FIELD
  fpq__free(job);
}

void fpq_jobs_free(fpq_job **jobs, size_t n) {
  if (jobs == NULL) return;
  for (size_t i = 0; i < n; i++) fpq_job_free(jobs[i]);
  fpq__free(jobs);
}

fpq_job *fpq_job_dup(const fpq_job *job) {
  fpq_job *copy = fpq__malloc(sizeof *copy);
  if (copy == NULL) return NULL;
  *copy = *job;
#define NULL_FIELD(f) copy->f = NULL;
  JOB_STRINGS(NULL_FIELD)
#undef NULL_FIELD
#define DUP_FIELD(f) \
  if (fpq_job_set(&copy->f, job->f)) goto oom;
  JOB_STRINGS(DUP_FIELD)
#undef DUP_FIELD
  return copy;
oom:
  fpq_job_free(copy);
  return NULL;
}

int fpq_job_set(char **field, const char *value) {
  char *copy = NULL;
  if (value != NULL && (copy = fpq__strdup(value)) == NULL) return FPQ_ENOMEM;
  fpq__free(*field);
  *field = copy;
  return 0;
}

int fpq_job_new_id(char id[FPQ_ID_MAX + 1]) {
  unsigned char b[16];
  id[0] = '\0';
  int rc = fpq__random(b, sizeof b);
  if (rc) return rc;
  fpq__job_id_format(id, b);
  return 0;
}

/* A UUID version 7 (RFC 9562): the first 48 bits are the Unix time in milliseconds, the
 * other 74 (past version and variant) random. Time-ordered ids land each insert at the
 * right edge of the SQLite backend's id index instead of at a random page: a batch of a
 * thousand jobs dirties a few index pages rather than hundreds, and the WAL writes only
 * those. Still a standard UUID (RQ takes any id), and 74 random bits keep ids of the same
 * millisecond apart. */
char *fpq__hex(char *out, const unsigned char *bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    *out++ = digits[bytes[i] >> 4];
    *out++ = digits[bytes[i] & 0x0f];
  }
  *out = '\0';
  return out;
}

void fpq__job_id_format(char id[FPQ_ID_MAX + 1], unsigned char b[16]) {
  double now = fpq__now();
  uint64_t ms = now > 0 ? (uint64_t)(now * 1000.0) : 0;
  for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (8 * (5 - i)));
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
  static const int group[] = {4, 2, 2, 2, 6}; /* bytes: 8-4-4-4-12 hex digits */
  char *o = id;
  for (int g = 0, at = 0; g < 5; at += group[g++]) {
    if (g) *o++ = '-';
    o = fpq__hex(o, b + at, (size_t)group[g]);
  }
}

/* ---- validation ---- */

int fpq__invalid(char *msg, size_t msglen, const char *fmt, ...) {
  if (msg && msglen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
  }
  return FPQ_EINVAL;
}

json_t *fpq__json_load(const char *text, size_t len, size_t flags, const char *what, char *msg,
                       size_t msglen) {
  json_error_t e;
  json_t *v = json_loadb(text, len, flags, &e);
  if (v == NULL) {
    char why[256];
    fpq__one_line(e.text, why, sizeof why);
    fpq__invalid(msg, msglen, "%s not valid JSON: %s at position %d", what, why, e.position);
  }
  return v;
}

/* Quotes a user's value for a message: printable ASCII kept, the rest escaped, long values
 * cut, so one bad byte cannot break the one-line message. */
void fpq__quote(const char *value, char *buf, size_t len) {
  if (len == 0) return;
  size_t o = 0, i = 0;
  const size_t keep = len > 70 ? 60 : len / 2;
  /* Each step needs room for its longest piece ("\xNN") plus the "..." and NUL that may
   * follow it, so a value cut for room is marked as cut, like one cut for length. */
  for (; value && value[i] && i < keep && o + 8 <= len; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c >= 0x20 && c < 0x7f && c != '\'') buf[o++] = (char)c;
    else o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
  }
  if (value && value[i] && o + 4 <= len) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
}

void fpq__one_line(const char *text, char *buf, size_t len) {
  if (len == 0) return;
  size_t o = 0;
  for (size_t i = 0; text && text[i] && o + 5 <= len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x20 && c < 0x7f) buf[o++] = (char)c;
    else o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
  }
  buf[o] = '\0';
}

static int is_id_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

int fpq_validate_id(const char *id, char *msg, size_t msglen) {
  char q[80];
  size_t n = id ? strlen(id) : 0;
  fpq__quote(id, q, sizeof q);
  if (n == 0) return fpq__invalid(msg, msglen, "job id is empty: expected 1-128 of A-Z a-z 0-9 _ -");
  if (n > FPQ_ID_MAX)
    return fpq__invalid(msg, msglen, "job id '%s' is %zu characters long: at most 128 allowed", q, n);
  for (size_t i = 0; i < n; i++) {
    if (!is_id_char((unsigned char)id[i]))
      return fpq__invalid(msg, msglen,
                     "job id '%s' has '%c' at position %zu: only A-Z a-z 0-9 _ - are allowed", q,
                     (id[i] >= 0x20 && id[i] < 0x7f) ? id[i] : '?', i + 1);
  }
  return 0;
}

int fpq_validate_pipeline(const char *name, char *msg, size_t msglen) {
  char q[80];
  size_t n = name ? strlen(name) : 0;
  fpq__quote(name, q, sizeof q);
  static const char rule[] =
      "expected letters, digits, '_' and '-', with '.' between sub-package names";
  if (n == 0) return fpq__invalid(msg, msglen, "pipeline name is empty: %s", rule);
  if (n > FPQ_PIPELINE_MAX)
    return fpq__invalid(msg, msglen, "pipeline name '%s' is %zu characters long: at most %d allowed",
                   q, n, FPQ_PIPELINE_MAX);
  if (strchr(name, '/') || strchr(name, '\\'))
    return fpq__invalid(msg, msglen, "pipeline name '%s' contains a path separator: %s", q, rule);
  if (strstr(name, "..") || name[0] == '.' || name[n - 1] == '.')
    return fpq__invalid(msg, msglen, "pipeline name '%s' has an empty part around '.': %s", q, rule);
  if (name[0] == '-') /* fpq.h's rule; it would also read as an option on a command line */
    return fpq__invalid(msg, msglen, "pipeline name '%s' starts with '-': %s", q, rule);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!is_id_char(c) && c != '.')
      return fpq__invalid(msg, msglen, "pipeline name '%s' has a character not allowed at position "
                     "%zu: %s", q, i + 1, rule);
  }
  return 0;
}

/* The keyword arguments FlowerPower's run() accepts (flowerpower/utils/config.py).
 * Anything else it silently ignores, which would hide a user's typo, so we refuse it. */
static const char *const run_keys[] = {
    "inputs", "final_vars", "config", "cache", "executor_cfg", "with_adapter_cfg",
    "pipeline_adapter_cfg", "project_adapter_cfg", "adapter", "retry", "additional_modules",
    "async_driver", "reload", "log_level", "max_retries", "retry_delay", "jitter_factor",
    "retry_exceptions", NULL};

const char *const *fpq__run_keys(void) { return run_keys; }

/* Levels of arrays and objects in v (a scalar is 0). jansson's own parser stops at 2048
 * levels, which bounds this recursion. */
static int json_depth(const json_t *v) {
  int deepest = 0;
  if (json_is_object(v)) {
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item) {
      int d = json_depth(item);
      if (d > deepest) deepest = d;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      int d = json_depth(item);
      if (d > deepest) deepest = d;
    }
  } else {
    return 0;
  }
  return deepest + 1;
}

int fpq_validate_run_json(const char *json, char *msg, size_t msglen) {
  if (json == NULL) return 0;
  size_t n = strlen(json);
  if (n > FPQ_RUN_MAX)
    return fpq__invalid(msg, msglen, "run options are %zu bytes of JSON: at most %d allowed", n,
                   FPQ_RUN_MAX);
  /* DECODE_ANY: a scalar is valid JSON, just not an object, and the message says so. */
  json_t *root = fpq__json_load(json, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                "run options are", msg, msglen);
  if (root == NULL) return FPQ_EINVAL;
  int rc = 0;
  if (!json_is_object(root)) {
    rc = fpq__invalid(msg, msglen, "run options must be a JSON object, got %s",
                 json_is_array(root) ? "an array" : "a scalar");
    goto done;
  }
  int depth = json_depth(root);
  if (depth > FPQ_JSON_DEPTH_MAX) {
    rc = fpq__invalid(msg, msglen, "run options are nested %d levels deep: at most %d allowed",
                      depth, FPQ_JSON_DEPTH_MAX);
    goto done;
  }
  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    int known = 0;
    for (size_t i = 0; run_keys[i]; i++) known |= strcmp(key, run_keys[i]) == 0;
    if (!known) {
      char q[80];
      fpq__quote(key, q, sizeof q);
      rc = fpq__invalid(msg, msglen,
                   "run option '%s' is not one of the options FlowerPower's run() accepts: expected one of "
                   "inputs, final_vars, config, cache, executor_cfg, with_adapter_cfg, "
                   "pipeline_adapter_cfg, project_adapter_cfg, adapter, retry, "
                   "async_driver, reload, log_level", q);
      goto done;
    }
    /* A job's payload must not name code to import (an enqueuer could otherwise make a
     * worker import any module on its path): the modules a pipeline needs come only
     * from the project's own conf, which the executor's FlowerPower reads itself. */
    if (strcmp(key, "additional_modules") == 0) {
      rc = fpq__invalid(msg, msglen,
                        "run option 'additional_modules' is refused: a job may not name modules "
                        "to import; list them in the project's conf "
                        "(conf/pipelines/NAME.yml, run: additional_modules)");
      goto done;
    }
    if (strcmp(key, "inputs") == 0 || strcmp(key, "config") == 0) {
      if (!json_is_object(value) && !json_is_null(value)) {
        rc = fpq__invalid(msg, msglen, "run option '%s' must be a JSON object", key);
        goto done;
      }
    }
    if (strcmp(key, "final_vars") == 0 && !json_is_array(value) && !json_is_null(value)) {
      rc = fpq__invalid(msg, msglen, "run option 'final_vars' must be a JSON array of names");
      goto done;
    }
  }
done:
  json_decref(root);
  return rc;
}

/* A retention is -1 (forever), 0 (none), seconds up to FPQ_TTL_MAX, or FPQ_TTL_DEFAULT
 * (resolved at enqueue). */
static int check_ttl(const char *name, double ttl, char *msg, size_t msglen) {
  if (ttl == FPQ_TTL_DEFAULT || ttl == FPQ_TTL_FOREVER || (ttl >= 0 && ttl <= FPQ_TTL_MAX))
    return 0;
  return fpq__invalid(msg, msglen,
                      "%s %g is out of range: expected -1 (keep forever), 0 (keep none) or "
                      "seconds up to %.0f", name, ttl, FPQ_TTL_MAX);
}

/* depends_on is a JSON array of 1 to FPQ_DEPENDS_MAX distinct valid ids, none the job's
 * own (a job waiting for itself would wait for good). */
static int validate_depends(const fpq_job *job, char *msg, size_t msglen) {
  if (job->depends_on == NULL) return 0;
  json_t *a = json_loads(job->depends_on, 0, NULL);
  int rc = 0;
  size_t n = json_is_array(a) ? json_array_size(a) : 0;
  if (n == 0 || n > FPQ_DEPENDS_MAX) {
    rc = fpq__invalid(msg, msglen, "depends_on is not a list of 1 to %d job ids",
                      FPQ_DEPENDS_MAX);
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *id = json_string_value(json_array_get(a, i));
    char why[200];
    if (id == NULL) {
      rc = fpq__invalid(msg, msglen, "depends_on item %zu is not a job id string", i + 1);
    } else if (fpq_validate_id(id, why, sizeof why)) {
      rc = fpq__invalid(msg, msglen, "depends_on: %s", why);
    } else if (strcmp(id, job->id) == 0) {
      rc = fpq__invalid(msg, msglen, "job '%s' cannot depend on itself", id);
    }
  }
  json_decref(a);
  return rc;
}

int fpq_job_add_dependency(fpq_job *job, const char *id, char *msg, size_t msglen) {
  char why[200];
  if (fpq_validate_id(id, why, sizeof why)) return fpq__invalid(msg, msglen, "after: %s", why);
  json_t *a = job->depends_on ? json_loads(job->depends_on, 0, NULL) : json_array();
  if (!json_is_array(a)) {
    json_decref(a);
    a = json_array();
  }
  if (a == NULL) return FPQ_ENOMEM;
  int rc = 0, seen = 0;
  for (size_t i = 0; i < json_array_size(a) && !seen; i++) {
    const char *have = json_string_value(json_array_get(a, i));
    seen = have != NULL && strcmp(have, id) == 0;
  }
  if (!seen && json_array_size(a) >= FPQ_DEPENDS_MAX)
    rc = fpq__invalid(msg, msglen, "after: more than %d jobs to wait for", FPQ_DEPENDS_MAX);
  else if (!seen && json_array_append_new(a, json_string(id)) != 0)
    rc = FPQ_ENOMEM;
  char *text = rc == 0 ? json_dumps(a, JSON_COMPACT) : NULL;
  if (rc == 0) rc = text ? fpq_job_set(&job->depends_on, text) : FPQ_ENOMEM;
  free(text);
  json_decref(a);
  return rc;
}

static int is_ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* ASCII identifiers only: a reference is a Python import path, written in code. */
int fpq_validate_callback(const char *what, const char *ref, char *msg, size_t msglen) {
  static const char rule[] = "expected an importable reference like 'package.module:function'";
  char q[80];
  fpq__quote(ref, q, sizeof q);
  size_t n = ref ? strlen(ref) : 0;
  if (n == 0) return fpq__invalid(msg, msglen, "%s is empty: %s", what, rule);
  if (n > FPQ_CALLBACK_MAX)
    return fpq__invalid(msg, msglen, "%s '%s' is %zu characters long: at most %d allowed", what,
                        q, n, FPQ_CALLBACK_MAX);
  int colons = 0, dots = 0;
  size_t part = 0; /* length of the identifier being read */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)ref[i];
    if (c == ':' || c == '.') {
      if (part == 0) break; /* an empty part: refused below */
      colons += c == ':';
      dots += c == '.';
      part = 0;
    } else if (is_ident_start(c) || (part > 0 && c >= '0' && c <= '9')) {
      part++;
    } else {
      return fpq__invalid(msg, msglen, "%s '%s' has a character not allowed at position %zu: %s",
                          what, q, i + 1, rule);
    }
  }
  if (part == 0 || colons > 1 || (colons == 0 && dots == 0))
    return fpq__invalid(msg, msglen, "%s '%s' is not a reference: %s", what, q, rule);
  return 0;
}

int fpq_job_validate(const fpq_job *job, char *msg, size_t msglen) {
  int rc;
  if ((rc = validate_depends(job, msg, msglen))) return rc;
  const char *const hooks[][2] = {{"on_success", job->on_success},
                                  {"on_failure", job->on_failure},
                                  {"on_stopped", job->on_stopped}};
  for (size_t i = 0; i < 3; i++)
    if (hooks[i][1] && (rc = fpq_validate_callback(hooks[i][0], hooks[i][1], msg, msglen)))
      return rc;
  if (job->id[0] && (rc = fpq_validate_id(job->id, msg, msglen))) return rc;
  if ((rc = fpq_validate_pipeline(job->pipeline, msg, msglen))) return rc;
  if ((rc = fpq_validate_run_json(job->run_json, msg, msglen))) return rc;
  if ((rc = fpq__validate_project_name(job->project, msg, msglen))) return rc;
  if ((unsigned)job->priority >= FPQ_PRIORITY_COUNT)
    return fpq__invalid(msg, msglen, "priority %d is not known: expected high, medium or low",
                   (int)job->priority);
  /* -1 in the retry fields means "take it from the pipeline's YAML". */
  if (job->max_retries < -1 || job->max_retries > 1000)
    return fpq__invalid(msg, msglen, "max retries %d is out of range: expected 0 to 1000",
                   job->max_retries);
  if (!(job->retry_delay == -1 || (job->retry_delay >= 0 && job->retry_delay <= 86400 * 30)))
    return fpq__invalid(msg, msglen, "retry delay %g is out of range: expected 0 to 2592000 seconds",
                   job->retry_delay);
  if (!(job->jitter_factor == -1 || (job->jitter_factor >= 0 && job->jitter_factor <= 1)))
    return fpq__invalid(msg, msglen, "jitter factor %g is out of range: expected 0 to 1",
                   job->jitter_factor);
  if (!(job->timeout >= 0 && job->timeout <= 86400 * 365))
    return fpq__invalid(msg, msglen, "timeout %g is out of range: expected 0 to 31536000 seconds",
                   job->timeout);
  if (!(job->run_at >= 0 && isfinite(job->run_at)))
    return fpq__invalid(msg, msglen, "run time %g is not a valid time", job->run_at);
  if ((rc = check_ttl("result_ttl", job->result_ttl, msg, msglen)) ||
      (rc = check_ttl("failure_ttl", job->failure_ttl, msg, msglen)))
    return rc;
  return 0;
}

int fpq_parse_ttl(const char *text, double *seconds, char *msg, size_t msglen) {
  char q[80];
  fpq__quote(text, q, sizeof q);
  char *end = NULL;
  /* -1 however a number is written ("-1", "-1.0" from a float, "-1s"): RQ's "forever". */
  if (text && text[0] == '-' && strtod(text, &end) == -1.0 && end != text &&
      (*end == '\0' || strcmp(end, "s") == 0)) {
    *seconds = FPQ_TTL_FOREVER;
    return 0;
  }
  double s = 0;
  if (text == NULL || fpq_parse_duration(text, &s, NULL, 0) || !(s <= FPQ_TTL_MAX))
    return fpq__invalid(msg, msglen,
                        "'%s' is not a retention: expected a duration like 7d, 0 (keep none) "
                        "or -1 (keep forever), at most 3650d", q);
  *seconds = s;
  return 0;
}

/* ---- JSON form ---- */

static int set_new(json_t *obj, const char *key, json_t *value) {
  return value == NULL || json_object_set_new(obj, key, value) != 0;
}

static int set_string(json_t *obj, const char *key, const char *value) {
  return set_new(obj, key, value ? json_string(value) : json_null());
}

static int set_time(json_t *obj, const char *key, double t) {
  char text[FPQ_TIME_TEXT_MAX];
  fpq_format_time(t, text, sizeof text);
  return set_new(obj, key, t > 0 ? json_string(text) : json_null());
}

/* Embeds stored JSON text as a value; text that does not parse is kept as a string so
 * nothing a backend holds is hidden, with bytes that are not UTF-8 (a record someone else
 * wrote) escaped as \xNN, or the whole job would have no JSON form. */
static int set_raw(json_t *obj, const char *key, const char *text) {
  if (text == NULL) return set_new(obj, key, json_null());
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (v == NULL) v = json_string(text);
  if (v == NULL) {
    size_t len = 4 * strlen(text) + 1;
    char *safe = fpq__malloc(len);
    if (safe) fpq__one_line(text, safe, len);
    v = safe ? json_string(safe) : NULL;
    fpq__free(safe);
  }
  return set_new(obj, key, v);
}

json_t *fpq__job_to_object(const fpq_job *job) {
  json_t *o = json_object();
  if (o == NULL) return NULL;
  int bad = set_string(o, "id", job->id) | set_string(o, "project", job->project) |
            set_string(o, "pipeline", job->pipeline) | set_raw(o, "run", job->run_json) |
            set_string(o, "status", fpq_status_name(job->status)) |
            set_string(o, "priority", fpq_priority_name(job->priority)) |
            set_string(o, "queue", job->queue ? job->queue : fpq_priority_queue(job->priority)) |
            set_string(o, "description", job->description) |
            set_time(o, "created_at", job->created_at) |
            set_time(o, "enqueued_at", job->enqueued_at) |
            set_time(o, "started_at", job->started_at) | set_time(o, "ended_at", job->ended_at) |
            set_time(o, "run_at", job->run_at) |
            set_new(o, "attempts", json_integer(job->attempts)) |
            set_new(o, "max_retries", json_integer(job->max_retries)) |
            set_new(o, "retry_delay", json_real(job->retry_delay)) |
            set_new(o, "jitter_factor", json_real(job->jitter_factor)) |
            set_new(o, "timeout", json_real(job->timeout)) |
            set_new(o, "result_ttl", json_real(job->result_ttl)) |
            set_new(o, "failure_ttl", json_real(job->failure_ttl)) |
            set_string(o, "log", job->log) |
            set_string(o, "worker", job->worker) | set_raw(o, "result", job->result_json) |
            set_raw(o, "error", job->error_json) | set_string(o, "func", job->func) |
            set_string(o, "execution", job->execution) |
            set_raw(o, "depends_on", job->depends_on) |
            set_string(o, "on_success", job->on_success) |
            set_string(o, "on_failure", job->on_failure) |
            set_string(o, "on_stopped", job->on_stopped);
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* The fewest significant digits, 15 to 17, that give back every real in v exactly
 * (jansson's default, 17, shows 0.1 as 0.10000000000000001): the JSON people read stays
 * short and no value changes. */
static int digits_needed(json_t *v) {
  int most = 15;
  if (json_is_real(v)) {
    double d = json_real_value(v);
    char text[40];
    for (most = 15; most < 17; most++) {
      snprintf(text, sizeof text, "%.*g", most, d);
      if (strtod(text, NULL) == d) break;
    }
  } else if (json_is_object(v)) {
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item) {
      int n = digits_needed(item);
      if (n > most) most = n;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      int n = digits_needed(item);
      if (n > most) most = n;
    }
  }
  return most;
}

static char *dump_readable(json_t *o) {
  return json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
                           JSON_REAL_PRECISION(digits_needed(o)));
}

char *fpq_job_to_json(const fpq_job *job) {
  json_t *o = fpq__job_to_object(job);
  if (o == NULL) return NULL;
  char *text = dump_readable(o);
  json_decref(o);
  return text;
}

char *fpq_job_outcome_json(const fpq_job *job) {
  static const char *const keys[] = {"id", "pipeline", "status", "ended_at", "result", "error"};
  json_t *all = fpq__job_to_object(job), *out = json_object();
  int bad = all == NULL || out == NULL;
  for (size_t i = 0; !bad && i < sizeof keys / sizeof keys[0]; i++)
    bad = json_object_set(out, keys[i], json_object_get(all, keys[i])) != 0;
  char *text = bad ? NULL : dump_readable(out);
  json_decref(out);
  json_decref(all);
  return text;
}

/* Reads one optional field of the JSON form; returns 0 or -1 with msg set. */
static int get_string(json_t *o, const char *key, char **field, char *msg, size_t msglen) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_string(v)) return fpq__invalid(msg, msglen, "job field '%s' must be a string", key);
  return fpq_job_set(field, json_string_value(v)) ? FPQ_ENOMEM : 0;
}

static int get_raw(json_t *o, const char *key, char **field) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v)) return 0;
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (text == NULL) return FPQ_ENOMEM;
  int rc = fpq_job_set(field, text);
  free(text);
  return rc;
}

static int get_number(json_t *o, const char *key, double *out, char *msg, size_t msglen) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v)) return 0;
  if (!json_is_number(v)) return fpq__invalid(msg, msglen, "job field '%s' must be a number", key);
  *out = json_number_value(v);
  return 0;
}

static int get_time(json_t *o, const char *key, double *out, char *msg, size_t msglen) {
  json_t *v = json_object_get(o, key);
  if (v == NULL || json_is_null(v)) return 0;
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  if (!json_is_string(v) || fpq__parse_rq_time(json_string_value(v), out)) {
    char q[80];
    fpq__quote(json_is_string(v) ? json_string_value(v) : "(not a string)", q, sizeof q);
    return fpq__invalid(msg, msglen, "job field '%s' is '%s': expected a time like "
                   "2026-01-31T12:00:00.000000Z", key, q);
  }
  return 0;
}

int fpq_job_from_json(const char *text, size_t len, fpq_job **out, char *msg, size_t msglen) {
  *out = NULL;
  json_error_t e;
  json_t *o = json_loadb(text, len, 0, &e);
  if (o == NULL) {
    char why[256];
    fpq__one_line(e.text, why, sizeof why);
    return fpq__invalid(msg, msglen, "job JSON does not parse: %s at position %d", why,
                   e.position);
  }
  fpq_job *job = fpq_job_new();
  int rc = FPQ_ENOMEM;
  if (job == NULL) goto fail;
  rc = FPQ_EFORMAT;
  if (!json_is_object(o)) {
    fpq__invalid(msg, msglen, "job JSON must be an object");
    goto fail;
  }
  json_t *id = json_object_get(o, "id");
  if (!json_is_string(id) || fpq_validate_id(json_string_value(id), msg, msglen)) {
    if (!json_is_string(id)) fpq__invalid(msg, msglen, "job field 'id' must be a string");
    goto fail;
  }
  snprintf(job->id, sizeof job->id, "%s", json_string_value(id));
  /* max_retries -1 is a job's "from the pipeline's YAML", which fpq_job_to_json writes. */
  double attempts = 0, max_retries = job->max_retries;
  json_t *status = json_object_get(o, "status"), *priority = json_object_get(o, "priority");
  if (status && !json_is_null(status) &&
      (!json_is_string(status) || fpq_status_parse(json_string_value(status), &job->status))) {
    char q[80];
    fpq__quote(json_is_string(status) ? json_string_value(status) : "(not a string)", q,
               sizeof q);
    fpq__invalid(msg, msglen, "job field 'status' is '%s': expected one of queued, started, "
            "finished, failed, deferred, scheduled, stopped, canceled, created", q);
    goto fail;
  }
  if (priority && !json_is_null(priority) &&
      (!json_is_string(priority) ||
       fpq_priority_parse(json_string_value(priority), &job->priority))) {
    char q[80];
    fpq__quote(json_is_string(priority) ? json_string_value(priority) : "(not a string)", q,
               sizeof q);
    fpq__invalid(msg, msglen, "job field 'priority' is '%s': expected high, medium or low", q);
    goto fail;
  }
  /* Each reader returns 0, FPQ_EINVAL with msg set, or FPQ_ENOMEM. */
  if ((rc = get_string(o, "project", &job->project, msg, msglen)) ||
      (rc = get_string(o, "pipeline", &job->pipeline, msg, msglen)) ||
      (rc = get_raw(o, "run", &job->run_json)) ||
      (rc = get_string(o, "queue", &job->queue, msg, msglen)) ||
      (rc = get_string(o, "description", &job->description, msg, msglen)) ||
      (rc = get_time(o, "created_at", &job->created_at, msg, msglen)) ||
      (rc = get_time(o, "enqueued_at", &job->enqueued_at, msg, msglen)) ||
      (rc = get_time(o, "started_at", &job->started_at, msg, msglen)) ||
      (rc = get_time(o, "ended_at", &job->ended_at, msg, msglen)) ||
      (rc = get_time(o, "run_at", &job->run_at, msg, msglen)) ||
      (rc = get_number(o, "attempts", &attempts, msg, msglen)) ||
      (rc = get_number(o, "max_retries", &max_retries, msg, msglen)) ||
      (rc = get_number(o, "retry_delay", &job->retry_delay, msg, msglen)) ||
      (rc = get_number(o, "jitter_factor", &job->jitter_factor, msg, msglen)) ||
      (rc = get_number(o, "timeout", &job->timeout, msg, msglen)) ||
      (rc = get_number(o, "result_ttl", &job->result_ttl, msg, msglen)) ||
      (rc = get_number(o, "failure_ttl", &job->failure_ttl, msg, msglen)) ||
      (rc = get_string(o, "log", &job->log, msg, msglen)) ||
      (rc = get_string(o, "worker", &job->worker, msg, msglen)) ||
      (rc = get_raw(o, "result", &job->result_json)) ||
      (rc = get_raw(o, "error", &job->error_json)) ||
      (rc = get_string(o, "func", &job->func, msg, msglen)) ||
      (rc = get_string(o, "execution", &job->execution, msg, msglen)) ||
      (rc = get_raw(o, "depends_on", &job->depends_on)) ||
      (rc = get_string(o, "on_success", &job->on_success, msg, msglen)) ||
      (rc = get_string(o, "on_failure", &job->on_failure, msg, msglen)) ||
      (rc = get_string(o, "on_stopped", &job->on_stopped, msg, msglen))) {
    if (rc != FPQ_ENOMEM) rc = FPQ_EFORMAT;
    goto fail;
  }
  rc = FPQ_EFORMAT;
  if (!(attempts >= 0 && attempts <= 1e6)) {
    fpq__invalid(msg, msglen, "job field 'attempts' is %g: expected a count from 0 to 1000000",
            attempts);
    goto fail;
  }
  if (!(max_retries >= -1 && max_retries <= 1e6)) {
    fpq__invalid(msg, msglen, "job field 'max_retries' is %g: expected -1 (from the pipeline's "
            "YAML) or a count up to 1000000", max_retries);
    goto fail;
  }
  job->attempts = (int)attempts;
  job->max_retries = (int)max_retries;
  json_decref(o);
  *out = job;
  return 0;
fail:
  if (rc == FPQ_ENOMEM && msg && msglen) snprintf(msg, msglen, "out of memory");
  json_decref(o);
  fpq_job_free(job);
  return rc;
}

char *fpq__error_json(const char *type, const char *message) {
  json_t *e = json_pack("{s:s, s:s, s:s}", "type", type, "message", message, "traceback", "");
  char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
  json_decref(e);
  return text;
}

int fpq__not_held(struct fpq_backend *b, const char *id, const char *worker,
                  const char *execution) {
  if (execution && *execution)
    return fpq_backend_fail(b, FPQ_ELEASE,
                            "job '%s' is no longer held by this run (execution %.64s) of "
                            "worker '%.100s'", id, execution, worker);
  return fpq_backend_fail(b, FPQ_ELEASE, "job '%s' is no longer held by worker '%.100s'", id,
                          worker);
}
