/* _native_records.c: the engine's records as Python dicts and back: jobs, schedules,
 * workers, queue counts and ended runs.
 *
 * One shape each, used everywhere Python sees a record: what _native.Queue returns, and
 * what a Python backend (a QueueAdapter, _native_backend.c) is given and returns. Times
 * are float epoch seconds, None when unset (0 in C); statuses and priorities are their
 * names; run, result and error stay JSON text (result_json, ...), decoded only where a
 * caller wants Python values. Reading a dict back is strict about types, since it may come
 * from a backend's storage: a wrong type is one line naming the field, never a guess. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_native.h"

PyObject *str_or_none(const char *s) {
  if (s == NULL) Py_RETURN_NONE;
  /* Stored text is the engine's JSON or names it validated; "replace" keeps a damaged
   * record readable instead of making it impossible to look at. */
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

PyObject *time_or_none(double t) {
  if (!(t > 0)) Py_RETURN_NONE;
  return PyFloat_FromDouble(t);
}

int put(PyObject *d, const char *key, PyObject *value) {
  if (value == NULL) return -1;
  int rc = PyDict_SetItemString(d, key, value);
  Py_DECREF(value);
  return rc;
}

/* ---- reading fields ------------------------------------------------------------------ */

/* Sets a ValueError naming the record and field; returns -1. */
static int bad_field(const char *record, const char *key, const char *expected, PyObject *v) {
  PyErr_Format(PyExc_ValueError, "%s field '%s' is %.80R: expected %s", record, key, v,
               expected);
  return -1;
}

/* d[key] as a borrowed reference; NULL (no error) when absent. */
static PyObject *field(PyObject *d, const char *key) {
  PyObject *v = PyDict_GetItemString(d, key); /* borrowed; never raises */
  return v;
}

/* A str field into *out (copied with fpq_job_set; None or absent clears it unless
 * required). */
static int read_str(PyObject *d, const char *record, const char *key, int required,
                    char **out) {
  PyObject *v = field(d, key);
  if (v == NULL || v == Py_None) {
    if (required) return bad_field(record, key, "a string", v ? v : Py_None);
    return fpq_job_set(out, NULL) ? (PyErr_NoMemory(), -1) : 0;
  }
  if (!PyUnicode_Check(v)) return bad_field(record, key, "a string", v);
  Py_ssize_t len;
  const char *s = PyUnicode_AsUTF8AndSize(v, &len);
  if (s == NULL) return -1;
  if ((size_t)len != strlen(s)) return bad_field(record, key, "text without NUL", v);
  return fpq_job_set(out, s) ? (PyErr_NoMemory(), -1) : 0;
}

/* A str field into a fixed buffer (too long: an error). */
static int read_buf(PyObject *d, const char *record, const char *key, char *buf, size_t len,
                    int required) {
  PyObject *v = field(d, key);
  buf[0] = '\0';
  if (v == NULL || v == Py_None) return required ? bad_field(record, key, "a string", Py_None) : 0;
  if (!PyUnicode_Check(v)) return bad_field(record, key, "a string", v);
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(v, &n);
  if (s == NULL) return -1;
  if ((size_t)n >= len || (size_t)n != strlen(s)) {
    char what[64];
    snprintf(what, sizeof what, "text of at most %zu characters", len - 1);
    return bad_field(record, key, what, v);
  }
  memcpy(buf, s, (size_t)n + 1);
  return 0;
}

/* A number field (int or float; None or absent: dflt). */
static int read_num(PyObject *d, const char *record, const char *key, double dflt,
                    double *out) {
  PyObject *v = field(d, key);
  if (v == NULL || v == Py_None) {
    *out = dflt;
    return 0;
  }
  if (PyBool_Check(v) || !(PyFloat_Check(v) || PyLong_Check(v)))
    return bad_field(record, key, "a number", v);
  double x = PyFloat_AsDouble(v);
  if (x == -1.0 && PyErr_Occurred()) return -1;
  if (isnan(x)) return bad_field(record, key, "a number", v);
  *out = x;
  return 0;
}

static int read_int64(PyObject *d, const char *record, const char *key, int64_t *out) {
  PyObject *v = field(d, key);
  if (v == NULL || v == Py_None) {
    *out = 0;
    return 0;
  }
  if (PyBool_Check(v) || !PyLong_Check(v)) return bad_field(record, key, "a whole number", v);
  long long x = PyLong_AsLongLong(v);
  if (x == -1 && PyErr_Occurred()) return -1;
  *out = (int64_t)x;
  return 0;
}

static int read_int(PyObject *d, const char *record, const char *key, int dflt, int *out) {
  PyObject *v = field(d, key);
  if (v == NULL || v == Py_None) {
    *out = dflt;
    return 0;
  }
  int64_t x;
  if (read_int64(d, record, key, &x)) return -1;
  if (x < -2147483647 || x > 2147483647) return bad_field(record, key, "a 32-bit number", v);
  *out = (int)x;
  return 0;
}

static int read_bool(PyObject *d, const char *key, int dflt, int *out) {
  PyObject *v = field(d, key);
  if (v == NULL || v == Py_None) {
    *out = dflt;
    return 0;
  }
  int b = PyObject_IsTrue(v);
  if (b < 0) return -1;
  *out = b;
  return 0;
}

int read_status(PyObject *d, const char *record, const char *key, fpq_status *out) {
  char name[32];
  if (read_buf(d, record, key, name, sizeof name, 1)) return -1;
  if (fpq_status_parse(name, out) == 0) return 0;
  return bad_field(record, key, "a status: queued, started, finished, failed, deferred, "
                   "scheduled, stopped, canceled or created", field(d, key));
}

static int read_priority(PyObject *d, const char *record, fpq_priority *out) {
  char name[32];
  PyObject *v = field(d, "priority");
  if (v == NULL || v == Py_None) {
    *out = FPQ_PRIORITY_MEDIUM;
    return 0;
  }
  if (read_buf(d, record, "priority", name, sizeof name, 1)) return -1;
  if (fpq_priority_parse(name, out) == 0) return 0;
  return bad_field(record, "priority", "high, medium or low", v);
}

static int check_dict(PyObject *d, const char *record) {
  if (PyDict_Check(d)) return 0;
  PyErr_Format(PyExc_TypeError, "a %s must be a dict, not %R", record, (PyObject *)Py_TYPE(d));
  return -1;
}

/* ---- jobs ----------------------------------------------------------------------------- */

PyObject *job_to_dict(const fpq_job *job) {
  PyObject *d = PyDict_New();
  if (d == NULL) return NULL;
  const char *queue = job->queue ? job->queue : fpq_priority_queue(job->priority);
  if (put(d, "id", PyUnicode_FromString(job->id)) < 0 ||
      put(d, "project", str_or_none(job->project)) < 0 ||
      put(d, "pipeline", str_or_none(job->pipeline)) < 0 ||
      put(d, "run_json", str_or_none(job->run_json ? job->run_json : "{}")) < 0 ||
      put(d, "queue", str_or_none(queue)) < 0 ||
      put(d, "priority", PyUnicode_FromString(fpq_priority_name(job->priority))) < 0 ||
      put(d, "status", PyUnicode_FromString(fpq_status_name(job->status))) < 0 ||
      put(d, "description", str_or_none(job->description)) < 0 ||
      put(d, "created_at", time_or_none(job->created_at)) < 0 ||
      put(d, "enqueued_at", time_or_none(job->enqueued_at)) < 0 ||
      put(d, "started_at", time_or_none(job->started_at)) < 0 ||
      put(d, "ended_at", time_or_none(job->ended_at)) < 0 ||
      put(d, "run_at", time_or_none(job->run_at)) < 0 ||
      put(d, "attempts", PyLong_FromLong(job->attempts)) < 0 ||
      put(d, "max_retries", PyLong_FromLong(job->max_retries)) < 0 ||
      put(d, "retry_delay", PyFloat_FromDouble(job->retry_delay)) < 0 ||
      put(d, "jitter_factor", PyFloat_FromDouble(job->jitter_factor)) < 0 ||
      put(d, "timeout", PyFloat_FromDouble(job->timeout)) < 0 ||
      put(d, "result_ttl", PyFloat_FromDouble(job->result_ttl)) < 0 ||
      put(d, "failure_ttl", PyFloat_FromDouble(job->failure_ttl)) < 0 ||
      put(d, "log", str_or_none(job->log)) < 0 ||
      put(d, "worker", str_or_none(job->worker)) < 0 ||
      put(d, "result_json", str_or_none(job->result_json)) < 0 ||
      put(d, "error_json", str_or_none(job->error_json)) < 0 ||
      put(d, "func", str_or_none(job->func)) < 0 ||
      put(d, "execution", str_or_none(job->execution)) < 0 ||
      put(d, "depends_on", str_or_none(job->depends_on)) < 0 ||
      put(d, "on_success", str_or_none(job->on_success)) < 0 ||
      put(d, "on_failure", str_or_none(job->on_failure)) < 0 ||
      put(d, "on_stopped", str_or_none(job->on_stopped)) < 0) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}

fpq_job *dict_to_job(PyObject *d) {
  static const char R[] = "job record";
  if (check_dict(d, R)) return NULL;
  fpq_job *job = fpq_job_new();
  if (job == NULL) return (fpq_job *)PyErr_NoMemory();
  if (read_buf(d, R, "id", job->id, sizeof job->id, 1) || read_str(d, R, "project", 0, &job->project) ||
      read_str(d, R, "pipeline", 0, &job->pipeline) || read_str(d, R, "run_json", 0, &job->run_json) ||
      read_str(d, R, "queue", 0, &job->queue) || read_priority(d, R, &job->priority) ||
      read_status(d, R, "status", &job->status) ||
      read_str(d, R, "description", 0, &job->description) ||
      read_num(d, R, "created_at", 0, &job->created_at) ||
      read_num(d, R, "enqueued_at", 0, &job->enqueued_at) ||
      read_num(d, R, "started_at", 0, &job->started_at) ||
      read_num(d, R, "ended_at", 0, &job->ended_at) || read_num(d, R, "run_at", 0, &job->run_at) ||
      read_int(d, R, "attempts", 0, &job->attempts) ||
      read_int(d, R, "max_retries", -1, &job->max_retries) ||
      read_num(d, R, "retry_delay", -1, &job->retry_delay) ||
      read_num(d, R, "jitter_factor", -1, &job->jitter_factor) ||
      read_num(d, R, "timeout", 0, &job->timeout) || read_num(d, R, "result_ttl", FPQ_TTL_DEFAULT, &job->result_ttl) ||
      read_num(d, R, "failure_ttl", FPQ_TTL_DEFAULT, &job->failure_ttl) ||
      read_str(d, R, "log", 0, &job->log) ||
      read_str(d, R, "worker", 0, &job->worker) || read_str(d, R, "result_json", 0, &job->result_json) ||
      read_str(d, R, "error_json", 0, &job->error_json) || read_str(d, R, "func", 0, &job->func) ||
      read_str(d, R, "execution", 0, &job->execution) ||
      read_str(d, R, "depends_on", 0, &job->depends_on) ||
      read_str(d, R, "on_success", 0, &job->on_success) ||
      read_str(d, R, "on_failure", 0, &job->on_failure) ||
      read_str(d, R, "on_stopped", 0, &job->on_stopped)) {
    fpq_job_free(job);
    return NULL;
  }
  if (job->run_json == NULL && fpq_job_set(&job->run_json, "{}")) {
    fpq_job_free(job);
    return (fpq_job *)PyErr_NoMemory();
  }
  return job;
}

PyObject *jobs_to_list(fpq_job *const *jobs, size_t n) {
  PyObject *list = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; list != NULL && i < n; i++) {
    PyObject *d = job_to_dict(jobs[i]);
    if (d == NULL) {
      Py_CLEAR(list);
      break;
    }
    if (PyList_SetItem(list, (Py_ssize_t)i, d) < 0) { /* steals d */
      Py_CLEAR(list);
      break;
    }
  }
  return list;
}

/* ---- schedules ------------------------------------------------------------------------- */

static PyObject *fire_or_none(int64_t t) {
  if (t == 0) Py_RETURN_NONE;
  return PyLong_FromLongLong((long long)t);
}

PyObject *schedule_to_dict(const fpq_schedule *s) {
  PyObject *d = PyDict_New();
  if (d == NULL) return NULL;
  if (put(d, "id", PyUnicode_FromString(s->id)) < 0 ||
      put(d, "project", str_or_none(s->project)) < 0 ||
      put(d, "pipeline", str_or_none(s->pipeline)) < 0 ||
      put(d, "run_json", str_or_none(s->run_json ? s->run_json : "{}")) < 0 ||
      put(d, "priority", PyUnicode_FromString(fpq_priority_name(s->priority))) < 0 ||
      put(d, "trigger", str_or_none(s->trigger)) < 0 ||
      put(d, "timezone", str_or_none(s->timezone && s->timezone[0] ? s->timezone : "UTC")) < 0 ||
      put(d, "max_retries", PyLong_FromLong(s->max_retries)) < 0 ||
      put(d, "retry_delay", PyFloat_FromDouble(s->retry_delay)) < 0 ||
      put(d, "jitter_factor", PyFloat_FromDouble(s->jitter_factor)) < 0 ||
      put(d, "timeout", PyFloat_FromDouble(s->timeout)) < 0 ||
      put(d, "misfire_grace", PyFloat_FromDouble(s->misfire_grace)) < 0 ||
      put(d, "coalesce", PyBool_FromLong(s->coalesce)) < 0 ||
      put(d, "paused", PyBool_FromLong(s->paused)) < 0 ||
      put(d, "next_fire", fire_or_none(s->next_fire)) < 0 ||
      put(d, "last_fire", fire_or_none(s->last_fire)) < 0 ||
      put(d, "created_at", time_or_none(s->created_at)) < 0 ||
      put(d, "fired", PyLong_FromLongLong((long long)s->fired)) < 0 ||
      put(d, "skipped", PyLong_FromLongLong((long long)s->skipped)) < 0) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}

fpq_schedule *dict_to_schedule(PyObject *d) {
  static const char R[] = "schedule record";
  if (check_dict(d, R)) return NULL;
  fpq_schedule *s = fpq_schedule_new();
  if (s == NULL) return (fpq_schedule *)PyErr_NoMemory();
  char zone[FPQ_TIMEZONE_MAX + 1];
  if (read_buf(d, R, "id", s->id, sizeof s->id, 1) || read_str(d, R, "project", 0, &s->project) ||
      read_str(d, R, "pipeline", 0, &s->pipeline) || read_str(d, R, "run_json", 0, &s->run_json) ||
      read_priority(d, R, &s->priority) || read_str(d, R, "trigger", 0, &s->trigger) ||
      read_buf(d, R, "timezone", zone, sizeof zone, 0) ||
      read_int(d, R, "max_retries", -1, &s->max_retries) ||
      read_num(d, R, "retry_delay", -1, &s->retry_delay) ||
      read_num(d, R, "jitter_factor", -1, &s->jitter_factor) ||
      read_num(d, R, "timeout", 0, &s->timeout) ||
      read_num(d, R, "misfire_grace", 0, &s->misfire_grace) ||
      read_bool(d, "coalesce", 1, &s->coalesce) || read_bool(d, "paused", 0, &s->paused) ||
      read_int64(d, R, "next_fire", &s->next_fire) || read_int64(d, R, "last_fire", &s->last_fire) ||
      read_num(d, R, "created_at", 0, &s->created_at) || read_int64(d, R, "fired", &s->fired) ||
      read_int64(d, R, "skipped", &s->skipped)) {
    fpq_schedule_free(s);
    return NULL;
  }
  /* "UTC" is how an unset zone reads (schedule_to_dict); store it unset again. */
  if ((zone[0] && strcmp(zone, "UTC") != 0 && fpq_job_set(&s->timezone, zone)) ||
      (s->run_json == NULL && fpq_job_set(&s->run_json, "{}"))) {
    fpq_schedule_free(s);
    return (fpq_schedule *)PyErr_NoMemory();
  }
  return s;
}

PyObject *schedules_to_list(fpq_schedule *const *list, size_t n) {
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out != NULL && i < n; i++) {
    PyObject *d = schedule_to_dict(list[i]);
    if (d == NULL) {
      Py_CLEAR(out);
      break;
    }
    if (PyList_SetItem(out, (Py_ssize_t)i, d) < 0) {
      Py_CLEAR(out);
      break;
    }
  }
  return out;
}

/* ---- workers ----------------------------------------------------------------------------- */

/* "a,b,c" -> ["a", "b", "c"]; "" -> []. */
static PyObject *split_commas(const char *text) {
  PyObject *list = PyList_New(0);
  if (list == NULL) return NULL;
  const char *p = text;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > 0) {
      PyObject *item = PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "replace");
      if (item == NULL || PyList_Append(list, item) < 0) {
        Py_XDECREF(item);
        Py_DECREF(list);
        return NULL;
      }
      Py_DECREF(item);
    }
    p += n + (end != NULL);
  }
  return list;
}

PyObject *worker_to_dict(const fpq_worker_info *w) {
  PyObject *d = PyDict_New();
  if (d == NULL) return NULL;
  if (put(d, "name", str_or_none(w->name)) < 0 ||
      put(d, "hostname", str_or_none(w->hostname)) < 0 ||
      put(d, "pid", PyLong_FromLong(w->pid)) < 0 ||
      put(d, "state", str_or_none(w->state)) < 0 ||
      put(d, "queues", split_commas(w->queues)) < 0 ||
      put(d, "current_job", str_or_none(w->current_job[0] ? w->current_job : NULL)) < 0 ||
      put(d, "birth", time_or_none(w->birth)) < 0 ||
      put(d, "last_heartbeat", time_or_none(w->last_heartbeat)) < 0 ||
      put(d, "successful", PyLong_FromLongLong(w->successful)) < 0 ||
      put(d, "failed", PyLong_FromLongLong(w->failed)) < 0 ||
      put(d, "busy_seconds", PyFloat_FromDouble(w->busy_seconds)) < 0) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}

int dict_to_worker(PyObject *d, fpq_worker_info *w) {
  static const char R[] = "worker record";
  memset(w, 0, sizeof *w);
  if (check_dict(d, R)) return -1;
  PyObject *queues = field(d, "queues");
  if (queues != NULL && queues != Py_None) {
    if (!PyList_Check(queues) && !PyTuple_Check(queues))
      return bad_field(R, "queues", "a list of queue names", queues);
    PyObject *sep = PyUnicode_FromString(",");
    PyObject *joined = sep ? PyUnicode_Join(sep, queues) : NULL;
    Py_XDECREF(sep);
    if (joined == NULL) return -1;
    const char *s = PyUnicode_AsUTF8AndSize(joined, NULL);
    if (s == NULL || strlen(s) >= sizeof w->queues) {
      Py_DECREF(joined);
      return s ? bad_field(R, "queues", "at most 255 characters joined", queues) : -1;
    }
    snprintf(w->queues, sizeof w->queues, "%s", s);
    Py_DECREF(joined);
  }
  int64_t successful, failed;
  if (read_buf(d, R, "name", w->name, sizeof w->name, 1) ||
      read_buf(d, R, "hostname", w->hostname, sizeof w->hostname, 0) ||
      read_int(d, R, "pid", 0, &w->pid) || read_buf(d, R, "state", w->state, sizeof w->state, 0) ||
      read_buf(d, R, "current_job", w->current_job, sizeof w->current_job, 0) ||
      read_num(d, R, "birth", 0, &w->birth) ||
      read_num(d, R, "last_heartbeat", 0, &w->last_heartbeat) ||
      read_int64(d, R, "successful", &successful) || read_int64(d, R, "failed", &failed) ||
      read_num(d, R, "busy_seconds", 0, &w->busy_seconds))
    return -1;
  w->successful = successful;
  w->failed = failed;
  return 0;
}

/* ---- counts and ended runs ---------------------------------------------------------------- */

PyObject *counts_to_dict(const fpq_queue_counts *c) {
  PyObject *counts = PyDict_New();
  if (counts == NULL) return NULL;
  for (int s = 0; s < FPQ_STATUS_COUNT; s++)
    if (put(counts, fpq_status_name((fpq_status)s), PyLong_FromLongLong(c->count[s])) < 0) {
      Py_DECREF(counts);
      return NULL;
    }
  PyObject *d = PyDict_New();
  if (d == NULL || put(d, "queue", PyUnicode_FromString(c->queue)) < 0 ||
      put(d, "counts", counts) < 0 || put(d, "oldest_queued_at", time_or_none(c->oldest_queued_at)) < 0) {
    Py_XDECREF(d);
    return NULL;
  }
  return d;
}

int dict_to_counts(PyObject *d, fpq_queue_counts *c) {
  static const char R[] = "queue counts";
  memset(c, 0, sizeof *c);
  if (check_dict(d, R) || read_buf(d, R, "queue", c->queue, sizeof c->queue, 1) ||
      read_num(d, R, "oldest_queued_at", 0, &c->oldest_queued_at))
    return -1;
  PyObject *counts = field(d, "counts");
  if (counts == NULL || counts == Py_None) return 0;
  if (!PyDict_Check(counts)) return bad_field(R, "counts", "a dict of status: number", counts);
  for (int s = 0; s < FPQ_STATUS_COUNT; s++) {
    int64_t n;
    if (read_int64(counts, R, fpq_status_name((fpq_status)s), &n)) return -1;
    c->count[s] = n;
  }
  return 0;
}

PyObject *run_record_to_dict(const fpq_run_record *r) {
  PyObject *d = PyDict_New();
  if (d == NULL || put(d, "pipeline", PyUnicode_FromString(r->pipeline)) < 0 ||
      put(d, "queue", PyUnicode_FromString(r->queue)) < 0 ||
      put(d, "status", PyUnicode_FromString(fpq_status_name(r->status))) < 0 ||
      put(d, "started_at", time_or_none(r->started_at)) < 0 ||
      put(d, "ended_at", time_or_none(r->ended_at)) < 0) {
    Py_XDECREF(d);
    return NULL;
  }
  return d;
}

int dict_to_run_record(PyObject *d, fpq_run_record *r) {
  static const char R[] = "run record";
  memset(r, 0, sizeof *r);
  if (check_dict(d, R) || read_buf(d, R, "pipeline", r->pipeline, sizeof r->pipeline, 1) ||
      read_buf(d, R, "queue", r->queue, sizeof r->queue, 0) ||
      read_status(d, R, "status", &r->status) || read_num(d, R, "started_at", 0, &r->started_at) ||
      read_num(d, R, "ended_at", 0, &r->ended_at))
    return -1;
  return 0;
}
