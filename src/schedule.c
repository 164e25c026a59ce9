/* schedule.c: schedules, the records and the API of fpq.h over a backend: validation
 * (the trigger is parsed here, so a bad expression is refused before anything is
 * written), ids, the first fire, pause and resume, and the next fire times users ask to
 * see. Firing them is scheduler.c's job; storing them is the backends'.
 *
 * Every "now" here comes from fpq__schedule_now, the one clock of schedules, which tests
 * replace to run a simulated day in seconds. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "backend.h"
#include "clock.h"
#include "job.h"
#include "project.h"
#include "queue_handle.h"
#include "random.h"
#include "schedule.h"

/* ---- the clock ---- */

static double (*schedule_clock)(void);

void fpq__set_schedule_clock(double (*now)(void)) { schedule_clock = now; }

/* The time in FPQ_TEST_CLOCK_FILE. A read that fails (the test is rewriting the file)
 * answers the last good value, so time never jumps back to the real clock. */
static double read_clock_file(const char *path) {
  static _Atomic double last; /* threads with handles of their own may read at once */
  char buf[64];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (fd >= 0) close(fd);
  if (n > 0) {
    buf[n] = '\0';
    char *end;
    errno = 0;
    double t = strtod(buf, &end);
    if (end != buf && errno == 0 && isfinite(t) && t > 0) last = t;
  }
  return last > 0 ? last : fpq__now();
}

int fpq__schedule_clock_is_simulated(void) {
  const char *path = getenv("FPQ_TEST_CLOCK_FILE");
  return schedule_clock == NULL && path != NULL && path[0] != '\0';
}

double fpq__schedule_now(void) {
  if (schedule_clock) return schedule_clock();
  const char *path = getenv("FPQ_TEST_CLOCK_FILE");
  return path && path[0] ? read_clock_file(path) : fpq__now();
}

/* ---- records ---- */

fpq_schedule *fpq_schedule_new(void) {
  fpq_schedule *s = fpq__calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->priority = FPQ_PRIORITY_MEDIUM;
  s->coalesce = 1;
  s->max_retries = -1;
  s->retry_delay = -1;
  s->jitter_factor = -1;
  if (fpq_job_set(&s->run_json, "{}")) {
    fpq__free(s);
    return NULL;
  }
  return s;
}

void fpq_schedule_free(fpq_schedule *s) {
  if (s == NULL) return;
  fpq__free(s->project);
  fpq__free(s->pipeline);
  fpq__free(s->run_json);
  fpq__free(s->trigger);
  fpq__free(s->timezone);
  fpq__free(s);
}

void fpq_schedules_free(fpq_schedule **list, size_t n) {
  if (list == NULL) return;
  for (size_t i = 0; i < n; i++) fpq_schedule_free(list[i]);
  fpq__free(list);
}

fpq_schedule *fpq_schedule_dup(const fpq_schedule *s) {
  fpq_schedule *d = fpq__malloc(sizeof *d);
  if (d == NULL) return NULL;
  *d = *s;
  d->project = d->pipeline = d->run_json = d->trigger = d->timezone = NULL;
  if (fpq_job_set(&d->project, s->project) || fpq_job_set(&d->pipeline, s->pipeline) ||
      fpq_job_set(&d->run_json, s->run_json) || fpq_job_set(&d->trigger, s->trigger) ||
      fpq_job_set(&d->timezone, s->timezone)) {
    fpq_schedule_free(d);
    return NULL;
  }
  return d;
}

void fpq_schedule_job_id(const char *schedule_id, int64_t fire, char out[FPQ_ID_MAX + 1]) {
  snprintf(out, FPQ_ID_MAX + 1, "sched-%s-%lld", schedule_id, (long long)fire);
}

/* ---- validation and triggers ---- */

static int is_id_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

static int validate_schedule_id(const char *id, char *msg, size_t len) {
  char q[80];
  size_t n = strlen(id);
  fpq__quote(id, q, sizeof q);
  if (n > FPQ_SCHEDULE_ID_MAX)
    return fpq__invalid(msg, len, "schedule id '%s' is %zu characters long: at most %d allowed",
                        q, n, FPQ_SCHEDULE_ID_MAX);
  for (size_t i = 0; i < n; i++)
    if (!is_id_char((unsigned char)id[i]))
      return fpq__invalid(msg, len,
                          "schedule id '%s' has '%c' at position %zu: only A-Z a-z 0-9 _ - are "
                          "allowed", q, (id[i] >= 0x20 && id[i] < 0x7f) ? id[i] : '?', i + 1);
  return 0;
}

int fpq_trigger_validate(const char *trigger, const char *timezone, char *msg, size_t msglen) {
  fpq__trigger *t = NULL;
  int rc = fpq__trigger_parse(trigger ? trigger : "", timezone, &t, msg, msglen);
  fpq__trigger_free(t);
  return rc;
}

int fpq__schedule_trigger(const fpq_schedule *s, fpq__trigger **out, char *msg, size_t msglen) {
  int rc = fpq__trigger_parse(s->trigger ? s->trigger : "", s->timezone, out, msg, msglen);
  if (rc == 0) fpq__trigger_set_anchor(*out, (int64_t)floor(s->created_at));
  return rc;
}

int fpq_next_fires(const char *trigger, const char *timezone, int64_t anchor, int64_t after,
                   int64_t *out, size_t n, size_t *count, char *msg, size_t msglen) {
  *count = 0;
  fpq__trigger *t = NULL;
  int rc = fpq__trigger_parse(trigger ? trigger : "", timezone, &t, msg, msglen);
  if (rc) return rc;
  fpq__trigger_set_anchor(t, anchor);
  /* Walked by the trigger's own "no more" answer, not by 0: a fire at the epoch is one. */
  for (int64_t at = after; *count < n && fpq__trigger_next(t, at, &at) == 0;)
    out[(*count)++] = at;
  fpq__trigger_free(t);
  return 0;
}

int fpq__schedule_validate(const fpq_schedule *s, char *msg, size_t msglen) {
  int rc;
  if (s->id[0] && (rc = validate_schedule_id(s->id, msg, msglen))) return rc;
  if ((rc = fpq_validate_pipeline(s->pipeline, msg, msglen))) return rc;
  if ((rc = fpq_validate_run_json(s->run_json, msg, msglen))) return rc;
  if ((rc = fpq__validate_project_name(s->project, msg, msglen))) return rc;
  if ((unsigned)s->priority >= FPQ_PRIORITY_COUNT)
    return fpq__invalid(msg, msglen, "priority %d is not known: expected high, medium or low",
                        (int)s->priority);
  /* The job fields are checked as the first fire's job would be, now, where the person
   * who typed them can be told. */
  fpq_job job = {.pipeline = s->pipeline, .run_json = s->run_json, .project = s->project,
                 .priority = s->priority, .max_retries = s->max_retries,
                 .retry_delay = s->retry_delay, .jitter_factor = s->jitter_factor,
                 .timeout = s->timeout};
  if ((rc = fpq_job_validate(&job, msg, msglen))) return rc;
  if (!(s->misfire_grace >= 0 && s->misfire_grace <= 86400.0 * 3650))
    return fpq__invalid(msg, msglen, "misfire grace %g is out of range: expected 0 (no limit) "
                        "to 3650 days in seconds", s->misfire_grace);
  if (s->timezone && strlen(s->timezone) > FPQ_TIMEZONE_MAX) {
    char q[80];
    fpq__quote(s->timezone, q, sizeof q);
    return fpq__invalid(msg, msglen, "time zone '%s' is longer than %d characters", q,
                        FPQ_TIMEZONE_MAX);
  }
  char why[400];
  if (fpq_trigger_validate(s->trigger, s->timezone, why, sizeof why)) {
    char q[80];
    fpq__quote(s->trigger ? s->trigger : "", q, sizeof q);
    return fpq__invalid(msg, msglen, "schedule '%s': %s", q, why);
  }
  return 0;
}

/* ---- JSON form ---- */

static int set_new(json_t *o, const char *key, json_t *v) {
  return v == NULL || json_object_set_new(o, key, v) != 0;
}

static int set_fire(json_t *o, const char *key, double t) {
  char text[FPQ_TIME_TEXT_MAX];
  fpq_format_time(t, text, sizeof text);
  return set_new(o, key, t != 0 && text[0] ? json_string(text) : json_null());
}

json_t *fpq__schedule_to_object(const fpq_schedule *s) {
  json_t *o = json_object();
  if (o == NULL) return NULL;
  json_t *run = json_loads(s->run_json ? s->run_json : "{}", 0, NULL);
  const char *state = s->paused ? "paused" : s->next_fire == 0 ? "done" : "active";
  int bad = set_new(o, "id", json_string(s->id)) |
            set_new(o, "project", s->project ? json_string(s->project) : json_null()) |
            set_new(o, "pipeline", s->pipeline ? json_string(s->pipeline) : json_null()) |
            set_new(o, "run", run ? run : json_string(s->run_json ? s->run_json : "")) |
            set_new(o, "priority", json_string(fpq_priority_name(s->priority))) |
            set_new(o, "trigger", json_string(s->trigger ? s->trigger : "")) |
            set_new(o, "timezone", json_string(s->timezone && s->timezone[0] ? s->timezone
                                                                             : "UTC")) |
            set_new(o, "state", json_string(state)) |
            set_new(o, "paused", json_boolean(s->paused)) |
            set_new(o, "coalesce", json_boolean(s->coalesce)) |
            set_new(o, "misfire_grace", json_real(s->misfire_grace)) |
            set_fire(o, "next_fire", (double)s->next_fire) |
            set_fire(o, "last_fire", (double)s->last_fire) |
            set_fire(o, "created_at", s->created_at) |
            set_new(o, "fired", json_integer(s->fired)) |
            set_new(o, "skipped", json_integer(s->skipped)) |
            set_new(o, "max_retries", json_integer(s->max_retries)) |
            set_new(o, "retry_delay", json_real(s->retry_delay)) |
            set_new(o, "jitter_factor", json_real(s->jitter_factor)) |
            set_new(o, "timeout", json_real(s->timeout));
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

char *fpq_schedule_to_json(const fpq_schedule *s) {
  json_t *o = fpq__schedule_to_object(s);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* Applies run options to a schedule through a job that shares its fields (the job's
 * rules, once); copies the outcome back. */
static int apply_as_job(fpq_schedule *s, const char *json_text,
                        int (*apply)(fpq_job *, const char *, char *, size_t), char *msg,
                        size_t msglen) {
  fpq_job job = {.run_json = s->run_json, .priority = s->priority,
                 .max_retries = s->max_retries, .retry_delay = s->retry_delay,
                 .jitter_factor = s->jitter_factor, .timeout = s->timeout};
  int rc = apply(&job, json_text, msg, msglen);
  /* fpq_job_set replaced (and freed) the schedule's run_json string in place, if at all. */
  s->run_json = job.run_json;
  if (rc == 0) {
    s->priority = job.priority;
    s->max_retries = job.max_retries;
    s->retry_delay = job.retry_delay;
    s->jitter_factor = job.jitter_factor;
  }
  fpq__free(job.queue); /* apply only ever clears it; never ours to keep */
  return rc;
}

int fpq_schedule_apply_run_config(fpq_schedule *s, const char *json_text, char *msg,
                                  size_t msglen) {
  json_t *cfg = json_loads(json_text, JSON_REJECT_DUPLICATES, NULL);
  json_t *trigger = json_is_object(cfg) ? json_object_get(cfg, "schedule") : NULL;
  int rc = 0;
  if (trigger && !json_is_null(trigger)) {
    if (!json_is_string(trigger)) {
      rc = fpq__invalid(msg, msglen, "run config 'schedule' must be a string like \"0 2 * * *\"");
    } else if (s->trigger == NULL && fpq_job_set(&s->trigger, json_string_value(trigger))) {
      rc = FPQ_ENOMEM;
    }
  }
  char *rest = NULL;
  if (rc == 0 && cfg && json_is_object(cfg)) {
    /* The schedule belongs to the schedule, not to each fire's run options. */
    json_object_del(cfg, "schedule");
    rest = json_dumps(cfg, JSON_COMPACT);
    if (rest == NULL) rc = FPQ_ENOMEM;
  }
  json_decref(cfg);
  if (rc) {
    if (rc == FPQ_ENOMEM && msg && msglen) snprintf(msg, msglen, "out of memory");
    return rc;
  }
  /* Malformed JSON falls through to the job's parser, which says what is wrong. */
  rc = apply_as_job(s, rest ? rest : json_text, fpq_job_apply_run_config, msg, msglen);
  free(rest);
  return rc;
}

int fpq_schedule_apply_run_kwargs(fpq_schedule *s, const char *json_text, char *msg,
                                  size_t msglen) {
  return apply_as_job(s, json_text, fpq_job_apply_run_kwargs, msg, msglen);
}

/* ---- the API over a backend ---- */

static int check_id(fpq_queue *q, const char *id) {
  char msg[256];
  if (id == NULL || id[0] == '\0')
    return fpq__fail(q, FPQ_EINVAL, "schedule id is empty: expected the id `fpq schedules list` shows");
  if (validate_schedule_id(id, msg, sizeof msg)) return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  return 0;
}

static int get_one(fpq_queue *q, const char *id, fpq_schedule **out) {
  int rc = fpq__backend_schedule_get(q->b, id, out);
  if (rc == FPQ_ENOTFOUND) return fpq__fail(q, rc, "schedule '%s' not found", id);
  return fpq__from_backend(q, rc);
}

/* When a schedule fires next, seen from now: strictly after now and after its last fire,
 * so a fire already handled never comes again. 0 (the stored "no more fires") when the
 * trigger has ended; a fire after now is after the epoch, so 0 is never a real one. */
static int64_t first_fire_after_now(const fpq__trigger *t, const fpq_schedule *s, double now) {
  int64_t after = (int64_t)floor(now);
  if (s->last_fire > after) after = s->last_fire;
  int64_t next = 0;
  return fpq__trigger_next(t, after, &next) == 0 ? next : 0;
}

int fpq_schedule_put(fpq_queue *q, fpq_schedule *s) {
  NEED_BACKEND(q);
  /* A schedule names its project as its jobs do (issue 12): by name, this handle's. */
  if (!fpq__config_serves(&q->cfg, s->project))
    return fpq__fail(q, FPQ_EINVAL, "schedule names project '%.200s', but this queue serves "
                     "project '%s' (%.300s): add it from that project's directory", s->project,
                     q->cfg.project_name, q->cfg.project_dir);
  if (fpq_job_set(&s->project, q->cfg.project_name))
    return fpq__fail(q, FPQ_ENOMEM, "out of memory");
  char msg[512];
  if (fpq__schedule_validate(s, msg, sizeof msg)) return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  if (fpq__pipeline_check(q->cfg.project_dir, s->pipeline, msg, sizeof msg))
    return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  if (s->id[0] == '\0') {
    char id[FPQ_ID_MAX + 1];
    if (fpq_job_new_id(id)) /* a UUID: 36 characters */
      return fpq__fail(q, FPQ_EIO, "cannot make a schedule id: %s", FPQ__RANDOM_FAILED);
    snprintf(s->id, sizeof s->id, "%.36s", id);
  }
  const double now = fpq__schedule_now();
  fpq_schedule *old = NULL;
  int rc = fpq__backend_schedule_get(q->b, s->id, &old);
  if (rc != 0 && rc != FPQ_ENOTFOUND) return fpq__from_backend(q, rc);
  /* Schedule ids are one namespace per store: another project's schedule of that id is
   * refused, not silently taken over (issue 12). */
  if (old && !fpq__config_serves(&q->cfg, old->project)) {
    rc = fpq__fail(q, FPQ_EEXIST, "schedule '%s' belongs to project '%.200s' on this backend: "
                   "choose another --id", s->id, old->project);
    fpq_schedule_free(old);
    return rc;
  }
  s->created_at = old ? old->created_at : now;
  s->last_fire = old ? old->last_fire : 0;
  s->fired = old ? old->fired : 0;
  s->skipped = old ? old->skipped : 0;
  /* The same trigger again (a deploy script re-running) keeps the pending fire, even one
   * that is due right now and not handled yet. */
  int same = old && old->next_fire != 0 && old->trigger && strcmp(old->trigger, s->trigger) == 0 &&
             strcmp(old->timezone ? old->timezone : "", s->timezone ? s->timezone : "") == 0;
  fpq__trigger *t = NULL;
  if (fpq__schedule_trigger(s, &t, msg, sizeof msg)) {
    fpq_schedule_free(old);
    return fpq__fail(q, FPQ_EINVAL, "%s", msg);
  }
  s->next_fire = same ? old->next_fire : first_fire_after_now(t, s, now);
  fpq__trigger_free(t);
  fpq_schedule_free(old);
  if (s->next_fire == 0)
    return fpq__fail(q, FPQ_EINVAL, "schedule '%s' never fires again after now: a one-shot time "
                "must lie in the future", s->trigger);
  return fpq__from_backend(q, fpq__backend_schedule_put(q->b, s));
}

int fpq_schedule_get(fpq_queue *q, const char *id, fpq_schedule **out) {
  *out = NULL;
  NEED_BACKEND(q);
  if (check_id(q, id)) return q->err;
  return get_one(q, id, out);
}

int fpq_schedule_list(fpq_queue *q, const char *project, fpq_schedule ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_schedule_list(q->b, project ? project : q->cfg.project_name,
                                                    0, 0, out, n));
}

int fpq_schedule_remove(fpq_queue *q, const char *id) {
  NEED_BACKEND(q);
  if (check_id(q, id)) return q->err;
  int rc = fpq__backend_schedule_remove(q->b, id);
  if (rc == FPQ_ENOTFOUND) return fpq__fail(q, rc, "schedule '%s' not found", id);
  return fpq__from_backend(q, rc);
}

int fpq_schedule_pause(fpq_queue *q, const char *id) {
  NEED_BACKEND(q);
  if (check_id(q, id)) return q->err;
  int rc = fpq__backend_schedule_set_paused(q->b, id, 1, -1);
  if (rc == FPQ_ENOTFOUND) return fpq__fail(q, rc, "schedule '%s' not found", id);
  return fpq__from_backend(q, rc);
}

int fpq_schedule_resume(fpq_queue *q, const char *id) {
  NEED_BACKEND(q);
  if (check_id(q, id)) return q->err;
  fpq_schedule *s = NULL;
  int rc = get_one(q, id, &s);
  if (rc) return rc;
  fpq__trigger *t = NULL;
  char msg[512];
  rc = fpq__schedule_trigger(s, &t, msg, sizeof msg);
  if (rc == 0) {
    int64_t next = s->paused ? first_fire_after_now(t, s, fpq__schedule_now()) : -1;
    rc = fpq__backend_schedule_set_paused(q->b, id, 0, next);
    rc = rc == FPQ_ENOTFOUND ? fpq__fail(q, rc, "schedule '%s' not found", id) : fpq__from_backend(q, rc);
  } else {
    rc = fpq__fail(q, FPQ_EFORMAT, "schedule '%s' has a trigger that no longer parses: %s", id, msg);
  }
  fpq__trigger_free(t);
  fpq_schedule_free(s);
  return rc;
}

/* ---- for the scheduler (queue.h) ---- */

int fpq__schedules_due(fpq_queue *q, int64_t due, int limit, fpq_schedule ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  NEED_BACKEND(q);
  /* Only this project's schedules (issue 12): a scheduler fires into its own project's
   * queues. Schedules stored before names carry this project's directory instead: read
   * as well, after the named ones. */
  int rc = fpq__backend_schedule_list(q->b, q->cfg.project_name, due, limit, out, n);
  fpq_schedule **old = NULL;
  size_t nold = 0;
  if (rc == 0 && (int)*n < limit)
    rc = fpq__backend_schedule_list(q->b, q->cfg.project_dir, due, limit - (int)*n, &old, &nold);
  if (rc == 0 && nold > 0) {
    fpq_schedule **all = fpq__realloc(*out, (*n + nold) * sizeof *all);
    if (all == NULL) {
      rc = FPQ_ENOMEM;
    } else {
      memcpy(all + *n, old, nold * sizeof *old);
      *out = all;
      *n += nold;
      nold = 0;
    }
  }
  if (rc) {
    fpq_schedules_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  fpq_schedules_free(old, nold);
  if (rc == FPQ_ENOMEM) return fpq__fail(q, rc, "out of memory");
  return fpq__from_backend(q, rc);
}

int fpq__schedule_advance(fpq_queue *q, const fpq_schedule_advance_args *a) {
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_schedule_advance(q->b, a));
}

int fpq__lease_acquire(fpq_queue *q, const char *name, const char *owner, double now,
                       double ttl, char *holder, size_t holder_len) {
  if (holder_len) holder[0] = '\0';
  NEED_BACKEND(q);
  return fpq__from_backend(
      q, fpq__backend_lease_acquire(q->b, name, owner, now, ttl, holder, holder_len));
}

int fpq__lease_release(fpq_queue *q, const char *name, const char *owner) {
  NEED_BACKEND(q);
  return fpq__from_backend(q, fpq__backend_lease_release(q->b, name, owner));
}

int fpq_schedule_next_fires(fpq_queue *q, const char *id, int64_t *out, size_t n,
                            size_t *count) {
  *count = 0;
  NEED_BACKEND(q);
  if (check_id(q, id)) return q->err;
  fpq_schedule *s = NULL;
  int rc = get_one(q, id, &s);
  if (rc) return rc;
  fpq__trigger *t = NULL;
  char msg[512];
  if (fpq__schedule_trigger(s, &t, msg, sizeof msg)) {
    rc = fpq__fail(q, FPQ_EFORMAT, "schedule '%s' has a trigger that no longer parses: %s", id, msg);
    fpq_schedule_free(s);
    return rc;
  }
  /* A paused schedule's stored next fire is stale: show what resuming now would give. */
  int64_t at = s->paused ? first_fire_after_now(t, s, fpq__schedule_now()) : s->next_fire;
  /* at == 0 is the stored "no more fires"; after it, the trigger's own answer decides. */
  for (int more = at != 0; *count < n && more; more = fpq__trigger_next(t, at, &at) == 0)
    out[(*count)++] = at;
  fpq__trigger_free(t);
  fpq_schedule_free(s);
  return fpq__from_backend(q, 0);
}
