/* batch.c: batch enqueue from JSON Lines (`fpq enqueue --from-file`, the Typer CLI's
 * twin, fpq_enqueue_jsonl). One object per line names a job with the keys `fpq enqueue`
 * has options for; each is read through the same engine calls those options use
 * (fpq_job_apply_run_config, fpq_job_merge_inputs, fpq_parse_*), then the batch goes to
 * fpq_enqueue_many, so a line means exactly what the equivalent command would. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "fpq.h"
#include "queue_handle.h"

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return FPQ_EINVAL;
}

/* A value given as a number of seconds or as text the engine's reader takes ("10m",
 * "7d"): numbers are written as text so one reader decides both. */
static int seconds_text(json_t *v, char *buf, size_t len) {
  if (json_is_string(v)) snprintf(buf, len, "%s", json_string_value(v));
  else if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v)) snprintf(buf, len, "%.17g", json_real_value(v));
  else return -1;
  return 0;
}

/* A JSON object value as compact text for the engine's JSON-taking calls; NULL when v is
 * not an object (or out of memory: then *oom). */
static char *object_text(json_t *v, int *oom) {
  if (!json_is_object(v)) return NULL;
  char *text = json_dumps(v, JSON_COMPACT);
  if (text == NULL) *oom = 1;
  return text;
}

typedef int (*duration_reader)(const char *, double *, char *, size_t);

/* key's value read by reader into *out; EINVAL naming the key otherwise. */
static int read_seconds(json_t *v, const char *key, duration_reader reader, double *out,
                        char *err, size_t len) {
  char text[128], msg[256];
  if (seconds_text(v, text, sizeof text))
    return bad(err, len, "\"%s\" is not a duration: expected seconds or text like \"10m\"",
               key);
  if (reader(text, out, msg, sizeof msg)) return bad(err, len, "\"%s\" %s", key, msg);
  return 0;
}

/* One line's object -> a job ready for fpq_enqueue_many (which checks the rest). */
static int job_from_object(json_t *o, fpq_job *job, char *err, size_t len) {
  static const char *const known[] = {"pipeline", "inputs", "run_config", "priority",
                                      "job_id", "at", "in", "timeout", "max_retries",
                                      "retry_delay", "result_ttl", "failure_ttl", "after",
                                      "on_success", "on_failure", "on_stopped", NULL};
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    const char *const *k = known;
    while (*k && strcmp(*k, key) != 0) k++;
    if (*k == NULL)
      return bad(err, len, "key \"%.64s\" is not known: expected pipeline, inputs, "
                 "run_config, priority, job_id, at, in, timeout, max_retries, retry_delay, "
                 "result_ttl, failure_ttl, after, on_success, on_failure or on_stopped", key);
  }
  char msg[512];
  int oom = 0, rc;
  v = json_object_get(o, "pipeline");
  if (!json_is_string(v)) return bad(err, len, "\"pipeline\" is missing or not a string: "
                                     "expected the pipeline's name, e.g. \"etl\"");
  if (fpq_job_set(&job->pipeline, json_string_value(v))) return FPQ_ENOMEM;
  if ((v = json_object_get(o, "run_config"))) {
    char *text = object_text(v, &oom);
    if (text == NULL)
      return oom ? FPQ_ENOMEM : bad(err, len, "\"run_config\" is not a JSON object of "
                                    "FlowerPower RunConfig fields");
    rc = fpq_job_apply_run_config(job, text, msg, sizeof msg);
    free(text);
    if (rc) return rc == FPQ_ENOMEM ? rc : bad(err, len, "\"run_config\": %s", msg);
  }
  if ((v = json_object_get(o, "inputs"))) {
    char *text = object_text(v, &oom);
    if (text == NULL)
      return oom ? FPQ_ENOMEM : bad(err, len, "\"inputs\" is not a JSON object of pipeline "
                                    "inputs");
    rc = fpq_job_merge_inputs(job, text, msg, sizeof msg);
    free(text);
    if (rc) return rc == FPQ_ENOMEM ? rc : bad(err, len, "\"inputs\": %s", msg);
  }
  if ((v = json_object_get(o, "priority"))) {
    if (!json_is_string(v) || fpq_priority_parse(json_string_value(v), &job->priority))
      return bad(err, len, "\"priority\" is not known: expected \"high\", \"medium\" or "
                 "\"low\"");
    fpq_job_set(&job->queue, NULL); /* enqueue fills in the priority's queue */
  }
  if ((v = json_object_get(o, "job_id"))) {
    if (!json_is_string(v)) return bad(err, len, "\"job_id\" is not a string");
    if (fpq_validate_id(json_string_value(v), msg, sizeof msg))
      return bad(err, len, "\"job_id\": %s", msg);
    snprintf(job->id, sizeof job->id, "%s", json_string_value(v));
  }
  json_t *at = json_object_get(o, "at"), *in = json_object_get(o, "in");
  if (at && in) return bad(err, len, "give \"at\" or \"in\", not both");
  if (at) {
    if (!json_is_string(at)) return bad(err, len, "\"at\" is not an ISO 8601 time string");
    if (fpq_parse_time(json_string_value(at), &job->run_at, msg, sizeof msg))
      return bad(err, len, "\"at\" %s", msg);
  }
  if (in) {
    double delay;
    if ((rc = read_seconds(in, "in", fpq_parse_duration, &delay, err, len))) return rc;
    job->run_at = fpq__now() + delay;
  }
  if ((v = json_object_get(o, "timeout")) &&
      (rc = read_seconds(v, "timeout", fpq_parse_duration, &job->timeout, err, len)))
    return rc;
  if ((v = json_object_get(o, "retry_delay")) &&
      (rc = read_seconds(v, "retry_delay", fpq_parse_duration, &job->retry_delay, err, len)))
    return rc;
  if ((v = json_object_get(o, "result_ttl")) &&
      (rc = read_seconds(v, "result_ttl", fpq_parse_ttl, &job->result_ttl, err, len)))
    return rc;
  if ((v = json_object_get(o, "failure_ttl")) &&
      (rc = read_seconds(v, "failure_ttl", fpq_parse_ttl, &job->failure_ttl, err, len)))
    return rc;
  /* Callbacks, as --on-success etc.: fpq_enqueue_many checks their shape (the C side
   * cannot import Python; the Python API checks importability). */
  static const char *const hooks[] = {"on_success", "on_failure", "on_stopped"};
  char **fields[] = {&job->on_success, &job->on_failure, &job->on_stopped};
  for (int i = 0; i < 3; i++) {
    if ((v = json_object_get(o, hooks[i])) == NULL) continue;
    if (!json_is_string(v))
      return bad(err, len, "\"%s\" is not a reference string like \"alerts:page\"", hooks[i]);
    if (fpq_job_set(fields[i], json_string_value(v))) return FPQ_ENOMEM;
  }
  if ((v = json_object_get(o, "max_retries"))) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000)
      return bad(err, len, "\"max_retries\" is not a whole number from 0 to 1000");
    job->max_retries = (int)json_integer_value(v);
  }
  if ((v = json_object_get(o, "after"))) {
    json_t *one = json_is_string(v) ? v : NULL;
    if (one == NULL && !json_is_array(v))
      return bad(err, len, "\"after\" is not a job id or a list of them");
    size_t n = one ? 1 : json_array_size(v);
    for (size_t i = 0; i < n; i++) {
      json_t *id = one ? one : json_array_get(v, i);
      if (!json_is_string(id)) return bad(err, len, "\"after\" holds something not a job id");
      rc = fpq_job_add_dependency(job, json_string_value(id), msg, sizeof msg);
      if (rc) return rc == FPQ_ENOMEM ? rc : bad(err, len, "\"after\": %s", msg);
    }
  }
  return 0;
}

static int blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}

int fpq_enqueue_jsonl(fpq_queue *q, const char *text, size_t len, fpq_job ***out,
                      size_t *count) {
  *out = NULL;
  *count = 0;
  NEED_BACKEND(q);
  size_t cap = 0, n = 0;
  fpq_job **jobs = NULL;
  size_t *lines = NULL;
  int rc = 0;
  size_t lineno = 0;
  char why[600] = "";
  for (size_t at = 0; at < len && rc == 0;) {
    const char *line = text + at, *nl = memchr(line, '\n', len - at);
    size_t n_line = nl ? (size_t)(nl - line) : len - at;
    at += n_line + (nl != NULL);
    lineno++;
    if (blank(line, n_line)) continue; /* a trailing newline or a spacer line */
    if (n == cap) {
      size_t more = cap ? cap * 2 : 64;
      fpq_job **j = fpq__realloc(jobs, more * sizeof *jobs);
      if (j) jobs = j;
      size_t *l = j ? fpq__realloc(lines, more * sizeof *lines) : NULL;
      if (l) lines = l;
      if (j == NULL || l == NULL) {
        rc = fpq__fail(q, FPQ_ENOMEM, "out of memory");
        break;
      }
      cap = more;
    }
    json_error_t jerr;
    json_t *o = json_loadb(line, n_line, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
      if (o) snprintf(why, sizeof why, "not a JSON object: expected one job per line, e.g. "
                      "{\"pipeline\": \"etl\", \"inputs\": {\"x\": 1}}");
      else snprintf(why, sizeof why, "not JSON (%.200s at column %d)", jerr.text, jerr.column);
      json_decref(o);
      rc = fpq__fail(q, FPQ_EINVAL, "line %zu: %s", lineno, why);
      break;
    }
    fpq_job *job = fpq_job_new();
    if (job == NULL) {
      json_decref(o);
      rc = fpq__fail(q, FPQ_ENOMEM, "out of memory");
      break;
    }
    jobs[n] = job;
    lines[n++] = lineno;
    rc = job_from_object(o, job, why, sizeof why);
    json_decref(o);
    if (rc) rc = fpq__fail(q, rc, "line %zu: %s", lineno, rc == FPQ_ENOMEM ? "out of memory" : why);
  }
  if (rc == 0) {
    size_t failed = n;
    rc = fpq_enqueue_many(q, jobs, n, &failed);
    if (rc && failed < n) {
      /* The engine said "jobs[I]: why"; the user knows the file by its line numbers. */
      const char *msg = fpq_errmsg(q), *colon = strstr(msg, "]: ");
      snprintf(why, sizeof why, "%s", strncmp(msg, "jobs[", 5) == 0 && colon ? colon + 3 : msg);
      fpq__fail(q, rc, "line %zu: %s", lines[failed], why);
    }
  }
  fpq__free(lines);
  if (rc) {
    fpq_jobs_free(jobs, n);
    return rc;
  }
  *out = jobs;
  *count = n;
  return 0;
}
