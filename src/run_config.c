/* run_config.c: turns a FlowerPower RunConfig, as JSON, into a job: the sparse run()
 * keyword arguments the caller gave, plus the queue's own fields (retry policy,
 * priority), and merges a caller's pipeline inputs into them. One implementation for the
 * CLI's --run-config and --inputs and the Python API's QueueRunConfig and inputs=, so
 * both accept exactly the same things.
 *
 * RunConfig field names differ from run()'s keyword names in two places (executor ->
 * executor_cfg, with_adapter -> with_adapter_cfg); both spellings are accepted. The
 * retry block is taken out of the run kwargs: retries are the queue's, and the executor
 * turns FlowerPower's own off so attempts do not multiply. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "fpq.h"
#include "job.h"

/* RunConfig field -> run() keyword. Fields mapping to NULL are the queue's own. */
static const struct {
  const char *field;
  const char *kwarg;
} renames[] = {{"executor", "executor_cfg"}, {"with_adapter", "with_adapter_cfg"}};

/* A JSON value as a short one-line quote for a message. */
static void quote_value(json_t *v, char *q, size_t qlen) {
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
  fpq__quote(text ? text : "?", q, qlen);
  free(text);
}

static int read_number(json_t *v, const char *prefix, const char *key, double lo, double hi,
                       int whole, double *out, char *msg, size_t len) {
  if (v == NULL || json_is_null(v)) return 0; /* absent or null: keep the current value */
  double d = json_is_number(v) ? json_number_value(v) : NAN;
  if (!(d >= lo && d <= hi) || (whole && d != floor(d))) {
    char q[80];
    quote_value(v, q, sizeof q);
    return fpq__invalid(msg, len, "run config '%s%s' is %s: expected a %s from %g to %g", prefix,
                   key, q, whole ? "whole number" : "number", lo, hi);
  }
  *out = d;
  return 0;
}

/* Takes the retry policy out of a RunConfig's retry block (prefix "retry.") or its legacy
 * flat keys (prefix ""), so a message names the field as the caller wrote it. */
static int apply_retry(fpq_job *job, json_t *retry, const char *prefix, char *msg, size_t len) {
  double max = job->max_retries;
  int rc = read_number(json_object_get(retry, "max_retries"), prefix, "max_retries", 0, 1000,
                       1, &max, msg, len);
  if (rc == 0)
    rc = read_number(json_object_get(retry, "retry_delay"), prefix, "retry_delay", 0,
                     86400 * 30, 0, &job->retry_delay, msg, len);
  if (rc == 0)
    rc = read_number(json_object_get(retry, "jitter_factor"), prefix, "jitter_factor", 0, 1, 0,
                     &job->jitter_factor, msg, len);
  if (rc) return rc;
  job->max_retries = (int)max;
  /* Retrying only on some exception types needs the executor to classify failures; until
   * it does, refuse rather than retry on everything silently. */
  json_t *exc = json_object_get(retry, "retry_exceptions");
  if (exc && !json_is_null(exc)) {
    int all = json_is_array(exc) && json_array_size(exc) == 1 &&
              json_is_string(json_array_get(exc, 0)) &&
              strcmp(json_string_value(json_array_get(exc, 0)), "Exception") == 0;
    if (!all) {
      char q[80];
      quote_value(exc, q, sizeof q);
      return fpq__invalid(msg, len, "run config '%sretry_exceptions' is %s: only [\"Exception\"] is "
                     "supported, the queue retries every failure", prefix, q);
    }
  }
  return 0;
}

/* A retention from a run config: seconds as a number (-1 forever, 0 none) or text as
 * fpq_parse_ttl reads it ("7d"). */
static int apply_ttl(const char *key, json_t *value, double *ttl, char *msg, size_t len) {
  char text[64], why[256];
  if (json_is_number(value)) snprintf(text, sizeof text, "%.17g", json_number_value(value));
  else if (json_is_string(value)) snprintf(text, sizeof text, "%s", json_string_value(value));
  else text[0] = '\0';
  if (text[0] && fpq_parse_ttl(text, ttl, why, sizeof why) == 0) return 0;
  char q[80];
  quote_value(value, q, sizeof q);
  return fpq__invalid(msg, len, "run config '%s' is %s: expected seconds or a duration like "
                      "\"7d\", 0 (keep none) or -1 (keep forever)", key, q);
}

/* run() options whose dict values FlowerPower merges key by key when run() keyword
 * arguments meet a RunConfig (by run()'s names: executor and with_adapter are renamed
 * first); the other options replace. `retry` merges too: each of its keys sets one field
 * of the queue's policy. */
static const char *const merged_kwargs[] = {"inputs", "config", "adapter", "executor_cfg",
                                            "with_adapter_cfg", "pipeline_adapter_cfg",
                                            "project_adapter_cfg"};

static int is_merged(const char *kwarg) {
  for (size_t i = 0; i < sizeof merged_kwargs / sizeof *merged_kwargs; i++)
    if (strcmp(kwarg, merged_kwargs[i]) == 0) return 1;
  return 0;
}

/* Sets one run() option in run: over a dict already there, merged key by key when merge
 * is set and the option is one FlowerPower merges; else replaced. */
static int set_option(json_t *run, const char *kwarg, json_t *value, int merge) {
  json_t *current = json_object_get(run, kwarg);
  /* run is this call's own copy (dropped on any error), so current is updated in place. */
  if (merge && is_merged(kwarg) && json_is_object(current) && json_is_object(value))
    return json_object_update(current, value) ? FPQ_ENOMEM : 0;
  return json_object_set(run, kwarg, value) ? FPQ_ENOMEM : 0;
}

/* A RunConfig (merge 0) or run() keyword arguments over it (merge 1), as JSON. */
static int apply_options(fpq_job *job, const char *json_text, int merge, char *msg,
                         size_t len) {
  json_t *cfg = fpq__json_load(json_text ? json_text : "", json_text ? strlen(json_text) : 0,
                               JSON_REJECT_DUPLICATES,
                               merge ? "run() arguments are" : "run config is", msg, len);
  if (cfg == NULL) return FPQ_EINVAL;
  int rc = 0;
  json_t *run = json_loads(job->run_json ? job->run_json : "{}", 0, NULL);
  if (!json_is_object(cfg)) {
    rc = fpq__invalid(msg, len, "run config must be a JSON object of RunConfig fields");
    goto done;
  }
  if (!json_is_object(run)) {
    json_decref(run);
    run = json_object();
  }
  const char *key;
  json_t *value;
  json_object_foreach(cfg, key, value) {
    if (json_is_null(value)) continue;
    if (strcmp(key, "retry") == 0) {
      if (!json_is_object(value)) {
        char q[80];
        quote_value(value, q, sizeof q);
        rc = fpq__invalid(msg, len, "run config 'retry' is %s: expected an object like "
                     "{\"max_retries\": 2}", q);
        goto done;
      }
      if ((rc = apply_retry(job, value, "retry.", msg, len))) goto done;
      continue;
    }
    if (strcmp(key, "max_retries") == 0 || strcmp(key, "retry_delay") == 0 ||
        strcmp(key, "jitter_factor") == 0 || strcmp(key, "retry_exceptions") == 0) {
      json_t *one = json_pack("{s:O}", key, value);
      rc = one ? apply_retry(job, one, "", msg, len) : FPQ_ENOMEM;
      json_decref(one);
      if (rc) goto done;
      continue;
    }
    if (strcmp(key, "priority") == 0) {
      if (!json_is_string(value) || fpq_priority_parse(json_string_value(value), &job->priority)) {
        char q[80];
        quote_value(value, q, sizeof q);
        rc = fpq__invalid(msg, len, "run config 'priority' is %s: expected \"high\", \"medium\" or "
                     "\"low\"", q);
        goto done;
      }
      fpq__free(job->queue);
      job->queue = NULL;
      continue;
    }
    if (strcmp(key, "result_ttl") == 0 || strcmp(key, "failure_ttl") == 0) {
      double *ttl = key[0] == 'r' ? &job->result_ttl : &job->failure_ttl;
      if ((rc = apply_ttl(key, value, ttl, msg, len))) goto done;
      continue;
    }
    if (strcmp(key, "backend") == 0) continue; /* chose the queue already; not a run option */
    if (strcmp(key, "schedule") == 0) {
      rc = fpq__invalid(msg, len, "run config has a 'schedule': use schedule (fpq schedule), not "
                   "enqueue, for recurring runs");
      goto done;
    }
    const char *kwarg = key;
    for (size_t i = 0; i < sizeof renames / sizeof renames[0]; i++)
      if (strcmp(key, renames[i].field) == 0) kwarg = renames[i].kwarg;
    if ((rc = set_option(run, kwarg, value, merge))) goto done;
  }
  char *text = json_dumps(run, JSON_COMPACT);
  if (text == NULL) {
    rc = FPQ_ENOMEM;
    goto done;
  }
  rc = fpq_validate_run_json(text, msg, len);
  if (rc == 0) rc = fpq_job_set(&job->run_json, text);
  free(text);
done:
  if (rc == FPQ_ENOMEM && msg && len) snprintf(msg, len, "out of memory");
  json_decref(run);
  json_decref(cfg);
  return rc;
}

int fpq_job_apply_run_config(fpq_job *job, const char *json_text, char *msg, size_t len) {
  return apply_options(job, json_text, 0, msg, len);
}

int fpq_job_apply_run_kwargs(fpq_job *job, const char *json_text, char *msg, size_t len) {
  return apply_options(job, json_text, 1, msg, len);
}

/* Merges an inputs object into the run kwargs' "inputs", key by key over what a run
 * config put there; run kwargs that are not an object (never stored so) start afresh. */
static int merge_inputs(char **run_json, const char *inputs, char *msg, size_t len) {
  json_t *in = fpq__json_load(inputs ? inputs : "", inputs ? strlen(inputs) : 0,
                              JSON_REJECT_DUPLICATES, "inputs is", msg, len);
  if (in == NULL) return FPQ_EINVAL;
  int rc = 0;
  json_t *run = NULL;
  if (!json_is_object(in)) {
    rc = fpq__invalid(msg, len, "inputs must be a JSON object like '{\"x\": 1}'");
    goto done;
  }
  run = json_loads(*run_json ? *run_json : "{}", 0, NULL);
  if (!json_is_object(run)) {
    json_decref(run);
    run = json_object();
  }
  json_t *cur = json_object_get(run, "inputs");
  if (run == NULL || (json_is_object(cur) ? json_object_update(cur, in)
                                          : json_object_set(run, "inputs", in))) {
    rc = FPQ_ENOMEM;
    goto done;
  }
  char *text = json_dumps(run, JSON_COMPACT);
  rc = text ? fpq_job_set(run_json, text) : FPQ_ENOMEM;
  free(text);
done:
  if (rc == FPQ_ENOMEM && msg && len) snprintf(msg, len, "out of memory");
  json_decref(run);
  json_decref(in);
  return rc;
}

int fpq_job_merge_inputs(fpq_job *job, const char *inputs_json, char *msg, size_t msglen) {
  return merge_inputs(&job->run_json, inputs_json, msg, msglen);
}

int fpq_schedule_merge_inputs(fpq_schedule *s, const char *inputs_json, char *msg,
                              size_t msglen) {
  return merge_inputs(&s->run_json, inputs_json, msg, msglen);
}
