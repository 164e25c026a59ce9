/* _native_backend.c: storage backends written in Python, plugged into the engine.
 *
 * A Python backend is a class (flowerpower_job_queue.backends.QueueAdapter) whose
 * methods mirror struct fpq_backend_methods one for one. Registering it adds a backend of
 * that name to the engine's registry whose methods, written here, take the GIL, turn
 * their arguments into Python values (_native_records.c), call the adapter, and turn the
 * answer back. So everything the engine decides (validation, ids, times, the retry rule
 * with its jitter, waiting, schedules and their leader lease, metrics) applies to a
 * Python backend exactly as to the built-in ones, and the adapter only stores records.
 *
 * The engine calls backends from any thread (the worker takes jobs on libuv's thread
 * pool), so every method takes the GIL itself (PyGILState_Ensure) and never assumes the
 * caller holds it. Callers that hold it release it around engine calls (WITH_HANDLE).
 * Registered classes live in a small table guarded by the GIL; an entry is never
 * removed, because the registry keeps a pointer to its methods for the life of the
 * process, as with C plugins. Registering a name again replaces its class.
 *
 * Errors: a method raising one of the package's exceptions gives the engine its code
 * (the exception's `code` attribute, e.g. "ENOTFOUND", "ESTATE", "ELEASE", "EEXIST") and
 * its message; any other exception is FPQ_EBACKEND with "backend 'NAME': Type: message";
 * a record of the wrong shape is FPQ_EFORMAT naming the field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_native.h"

#define MAX_PYTHON_BACKENDS 32

typedef struct py_handle {
  fpq_backend base; /* first: the engine allocates and casts */
  PyObject *adapter;
} py_handle;

typedef struct py_entry {
  struct fpq_backend_methods methods;
  char name[64];
  PyObject *cls; /* strong reference */
} py_entry;

static py_entry table[MAX_PYTHON_BACKENDS];
static size_t table_len; /* guarded by the GIL */

static py_entry *entry_named(const char *name) {
  for (size_t i = 0; i < table_len; i++)
    if (strcmp(table[i].name, name) == 0) return &table[i];
  return NULL;
}

/* ---- errors ------------------------------------------------------------------------- */

/* The FPQ_E* code named by an exception's `code` attribute, or 0. */
static int code_of(PyObject *exc) {
  PyObject *code = PyObject_GetAttrString(exc, "code");
  if (code == NULL) {
    PyErr_Clear();
    return 0;
  }
  int found = 0;
  const char *name = PyUnicode_Check(code) ? PyUnicode_AsUTF8AndSize(code, NULL) : NULL;
  if (name == NULL) PyErr_Clear();
#define FPQ_CODE_NAMED(n, value, text) \
  if (name && strcmp(name, #n) == 0) found = (value);
  FPQ_ERRNO_MAP(FPQ_CODE_NAMED)
#undef FPQ_CODE_NAMED
  Py_DECREF(code);
  return found;
}

/* Turns the raised exception into the handle's error; returns the code. GIL held. */
static int fail_from_exception(fpq_backend *b, int fallback) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  int code = value ? code_of(value) : 0;
  PyObject *text = value ? PyObject_Str(value) : NULL;
  const char *msg = text ? PyUnicode_AsUTF8AndSize(text, NULL) : NULL;
  if (msg == NULL) {
    PyErr_Clear();
    msg = "(the error could not be shown)";
  }
  PyObject *tname = type ? PyType_GetName((PyTypeObject *)type) : NULL;
  const char *type_name = tname ? PyUnicode_AsUTF8AndSize(tname, NULL) : NULL;
  if (type_name == NULL) {
    PyErr_Clear();
    type_name = "Error";
  }
  if (code == FPQ_ENOMEM || (type && PyErr_GivenExceptionMatches(type, PyExc_MemoryError)))
    code = FPQ_ENOMEM;
  if (code) {
    fpq_backend_fail(b, code, "%s", msg);
  } else {
    code = fallback;
    fpq_backend_fail(b, code, "backend '%s': %s: %s", b->methods->name, type_name, msg);
  }
  Py_XDECREF(tname);
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return code;
}

/* ---- calling the adapter -------------------------------------------------------------- */

/* adapter.method(*args) (args: a new tuple, stolen; NULL means building it failed). Returns
 * a new reference, or NULL with the backend's error set (FPQ_EBACKEND unless the exception
 * names its code). GIL held. */
static PyObject *call(fpq_backend *b, const char *method, PyObject *args) {
  py_handle *h = (py_handle *)b;
  if (args == NULL) {
    fail_from_exception(b, FPQ_ENOMEM);
    return NULL;
  }
  PyObject *fn = PyObject_GetAttrString(h->adapter, method);
  PyObject *out = fn ? PyObject_Call(fn, args, NULL) : NULL;
  Py_XDECREF(fn);
  Py_DECREF(args);
  if (out == NULL) fail_from_exception(b, FPQ_EBACKEND);
  return out;
}

/* Calls a method whose answer is not used. */
static int call_none(fpq_backend *b, const char *method, PyObject *args) {
  PyObject *out = call(b, method, args);
  if (out == NULL) return b->err;
  Py_DECREF(out);
  return 0;
}

/* A record that did not convert (a ValueError/TypeError naming the field is set): the
 * stored data has the wrong shape. */
static int bad_record(fpq_backend *b, const char *method) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type && PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) {
    PyErr_Restore(type, value, tb);
    return fail_from_exception(b, FPQ_ENOMEM);
  }
  PyObject *text = value ? PyObject_Str(value) : NULL;
  const char *msg = text ? PyUnicode_AsUTF8AndSize(text, NULL) : NULL;
  if (msg == NULL) PyErr_Clear();
  fpq_backend_fail(b, FPQ_EFORMAT, "backend '%s' %s() returned a bad record: %s",
                   b->methods->name, method, msg ? msg : "(no detail)");
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return FPQ_EFORMAT;
}

/* A Python list (or tuple) answer, as a new list; NULL with the error set otherwise. */
static PyObject *as_list(fpq_backend *b, const char *method, PyObject *out) {
  if (out == NULL) return NULL;
  PyObject *list = PySequence_List(out);
  Py_DECREF(out);
  if (list == NULL) bad_record(b, method);
  return list;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define GIL_CALL(expr)                            \
  do {                                            \
    PyGILState_STATE gil_ = PyGILState_Ensure(); \
    int rc_ = (expr);                             \
    PyGILState_Release(gil_);                     \
    return rc_;                                   \
  } while (0)

/* ---- open and close -------------------------------------------------------------------- */

static int open_locked(fpq_backend *b, const char *url, const fpq_backend_settings *s) {
  py_handle *h = (py_handle *)b;
  py_entry *e = entry_named(b->methods->name);
  if (e == NULL)
    return fpq_backend_fail(b, FPQ_EINVAL, "backend '%s' has no Python class", b->methods->name);
  PyObject *kwargs = PyDict_New();
  PyObject *args = Py_BuildValue("(ss)", s->project_dir ? s->project_dir : "", url ? url : "");
  if (kwargs == NULL || args == NULL || put(kwargs, "create", PyBool_FromLong(s->create)) < 0)
    goto error;
  for (const char *const *o = s->options; o && o[0]; o += 2)
    if (put(kwargs, o[0], PyUnicode_DecodeUTF8(o[1], (Py_ssize_t)strlen(o[1]), "replace")) < 0)
      goto error;
  h->adapter = PyObject_Call(e->cls, args, kwargs);
  Py_DECREF(args);
  Py_DECREF(kwargs);
  if (h->adapter == NULL) return fail_from_exception(b, FPQ_EBACKEND);
  return 0;
error:
  Py_XDECREF(args);
  Py_XDECREF(kwargs);
  return fail_from_exception(b, FPQ_ENOMEM);
}

static int py_open(fpq_backend *b, const char *url, const fpq_backend_settings *s) {
  GIL_CALL(open_locked(b, url, s));
}

static void py_close(fpq_backend *b) {
  py_handle *h = (py_handle *)b;
  if (h->adapter == NULL) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  PyObject *out = PyObject_CallMethod(h->adapter, "close", NULL);
  if (out == NULL) PyErr_Clear(); /* closing has no one to report to */
  Py_XDECREF(out);
  Py_CLEAR(h->adapter);
  PyGILState_Release(gil);
}

/* ---- jobs ------------------------------------------------------------------------------- */

static int enqueue_locked(fpq_backend *b, const fpq_job *job) {
  return call_none(b, "enqueue", Py_BuildValue("(N)", job_to_dict(job)));
}
static int py_enqueue(fpq_backend *b, const fpq_job *job) { GIL_CALL(enqueue_locked(b, job)); }

/* A job answer (dict, or None: not found). */
static int job_answer(fpq_backend *b, const char *method, PyObject *out, fpq_job **job,
                      int none_code) {
  if (out == NULL) return b->err;
  if (out == Py_None) {
    Py_DECREF(out);
    return none_code;
  }
  *job = dict_to_job(out);
  Py_DECREF(out);
  return *job ? 0 : bad_record(b, method);
}

static int get_locked(fpq_backend *b, const char *id, fpq_job **out) {
  return job_answer(b, "get", call(b, "get", Py_BuildValue("(s)", id)), out, FPQ_ENOTFOUND);
}
static int py_get(fpq_backend *b, const char *id, fpq_job **out) {
  GIL_CALL(get_locked(b, id, out));
}

static int find_locked(fpq_backend *b, const char *project, const char *pipeline, int limit,
                       fpq_job ***out, size_t *n) {
  PyObject *list = as_list(b, "find",
                           call(b, "find", Py_BuildValue("(zzi)", project, pipeline, limit)));
  if (list == NULL) return b->err;
  Py_ssize_t len = PyList_Size(list);
  fpq_job **jobs = calloc((size_t)len + 1, sizeof *jobs);
  if (jobs == NULL) {
    Py_DECREF(list);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  for (Py_ssize_t i = 0; i < len; i++) {
    jobs[i] = dict_to_job(PyList_GetItem(list, i));
    if (jobs[i] == NULL) {
      fpq_jobs_free(jobs, (size_t)i);
      Py_DECREF(list);
      return bad_record(b, "find");
    }
  }
  Py_DECREF(list);
  *out = jobs;
  *n = (size_t)len;
  return 0;
}
static int py_find(fpq_backend *b, const char *project, const char *pipeline, int limit,
                   fpq_job ***out, size_t *n) {
  GIL_CALL(find_locked(b, project, pipeline, limit, out, n));
}

static int py_cancel(fpq_backend *b, const char *id, double now) {
  GIL_CALL(call_none(b, "cancel", Py_BuildValue("(sd)", id, now)));
}

static int py_requeue(fpq_backend *b, const char *id, double now) {
  GIL_CALL(call_none(b, "requeue", Py_BuildValue("(sd)", id, now)));
}

static int counts_locked(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  PyObject *list = as_list(b, "counts", call(b, "counts", PyTuple_New(0)));
  if (list == NULL) return b->err;
  Py_ssize_t len = PyList_Size(list);
  fpq_queue_counts *counts = calloc((size_t)len + 1, sizeof *counts);
  int rc = counts ? 0 : fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  for (Py_ssize_t i = 0; rc == 0 && i < len; i++)
    if (dict_to_counts(PyList_GetItem(list, i), &counts[i])) rc = bad_record(b, "counts");
  Py_DECREF(list);
  if (rc) {
    free(counts);
    return rc;
  }
  *out = counts;
  *n = (size_t)len;
  return 0;
}
static int py_counts(fpq_backend *b, fpq_queue_counts **out, size_t *n) {
  GIL_CALL(counts_locked(b, out, n));
}

static PyObject *queue_list(const char *const *queues, size_t n) {
  PyObject *list = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; list && i < n; i++) {
    PyObject *q = PyUnicode_FromString(queues[i]);
    if (q == NULL || PyList_SetItem(list, (Py_ssize_t)i, q) < 0) Py_CLEAR(list); /* steals q */
  }
  return list;
}

/* One look: 0 and a job, FPQ_EEMPTY, or an error. GIL held. */
static int take_once(fpq_backend *b, const fpq_take_args *a, double now, fpq_job **out) {
  PyObject *args = Py_BuildValue("(sNdd)", a->worker, queue_list(a->queues, a->nqueues),
                                 a->lease_seconds, now);
  return job_answer(b, "take", call(b, "take", args), out, FPQ_EEMPTY);
}

/* A Python backend only looks; waiting for a job is done here, by looking again with the
 * GIL released in between: every few milliseconds at first, then at most 10 times a
 * second, as fpq_wait does. */
static int py_take(fpq_backend *b, const fpq_take_args *a, fpq_job **out) {
  const double deadline = monotonic_now() + a->wait_seconds;
  double pause = 0.002, now = a->now;
  for (;;) {
    PyGILState_STATE gil = PyGILState_Ensure();
    int rc = take_once(b, a, now, out);
    PyGILState_Release(gil);
    double left = deadline - monotonic_now();
    if (rc != FPQ_EEMPTY || left <= 0) return rc;
    double nap = pause < left ? pause : left;
    struct timespec ts = {.tv_sec = (time_t)nap, .tv_nsec = (long)((nap - floor(nap)) * 1e9)};
    nanosleep(&ts, NULL);
    pause = pause * 2 < 0.1 ? pause * 2 : 0.1;
    now = wall_now();
  }
}

static int py_extend(fpq_backend *b, const char *id, const char *worker, double lease_until) {
  GIL_CALL(call_none(b, "extend", Py_BuildValue("(ssd)", id, worker, lease_until)));
}

static PyObject *finish_to_dict(const fpq_finish_args *a) {
  PyObject *d = PyDict_New();
  if (d == NULL || put(d, "id", PyUnicode_FromString(a->id)) < 0 ||
      put(d, "worker", str_or_none(a->worker)) < 0 || put(d, "queue", str_or_none(a->queue)) < 0 ||
      put(d, "status", PyUnicode_FromString(fpq_status_name(a->status))) < 0 ||
      put(d, "run_at", time_or_none(a->run_at)) < 0 ||
      put(d, "uncount_attempt", PyBool_FromLong(a->uncount_attempt)) < 0 ||
      put(d, "result_json", str_or_none(a->result_json)) < 0 ||
      put(d, "error_json", str_or_none(a->error_json)) < 0 ||
      put(d, "duration", PyFloat_FromDouble(a->duration)) < 0 ||
      put(d, "now", PyFloat_FromDouble(a->now)) < 0 ||
      put(d, "result_ttl", PyFloat_FromDouble(a->result_ttl)) < 0 ||
      put(d, "pipeline", str_or_none(a->pipeline)) < 0 ||
      put(d, "started_at", time_or_none(a->started_at)) < 0 ||
      put(d, "failure_ttl", PyFloat_FromDouble(a->failure_ttl)) < 0 ||
      put(d, "log", str_or_none(a->log)) < 0) {
    Py_XDECREF(d);
    return NULL;
  }
  return d;
}

static int py_finish(fpq_backend *b, const fpq_finish_args *a) {
  GIL_CALL(call_none(b, "finish", Py_BuildValue("(N)", finish_to_dict(a))));
}

/* An int answer (maintain's count of moved jobs). */
static int int_answer(fpq_backend *b, const char *method, PyObject *out, int *value) {
  if (out == NULL) return b->err;
  long v = out == Py_None ? 0 : PyLong_AsLong(out);
  Py_DECREF(out);
  if (v == -1 && PyErr_Occurred()) return bad_record(b, method);
  *value = (int)v;
  return 0;
}

static int py_maintain(fpq_backend *b, double now, int *moved) {
  GIL_CALL(int_answer(b, "maintain", call(b, "maintain", Py_BuildValue("(d)", now)), moved));
}

/* ---- workers ------------------------------------------------------------------------------ */

static int py_worker_beat(fpq_backend *b, const fpq_worker_info *w, double ttl, double now) {
  GIL_CALL(call_none(b, "worker_beat", Py_BuildValue("(Ndd)", worker_to_dict(w), ttl, now)));
}

static int py_worker_gone(fpq_backend *b, const char *name, double now) {
  GIL_CALL(call_none(b, "worker_gone", Py_BuildValue("(sd)", name, now)));
}

static int workers_locked(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  PyObject *list = as_list(b, "workers", call(b, "workers", Py_BuildValue("(d)", now)));
  if (list == NULL) return b->err;
  Py_ssize_t len = PyList_Size(list);
  fpq_worker_info *workers = calloc((size_t)len + 1, sizeof *workers);
  int rc = workers ? 0 : fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  for (Py_ssize_t i = 0; rc == 0 && i < len; i++)
    if (dict_to_worker(PyList_GetItem(list, i), &workers[i])) rc = bad_record(b, "workers");
  Py_DECREF(list);
  if (rc) {
    free(workers);
    return rc;
  }
  *out = workers;
  *n = (size_t)len;
  return 0;
}
static int py_workers(fpq_backend *b, double now, fpq_worker_info **out, size_t *n) {
  GIL_CALL(workers_locked(b, now, out, n));
}

static int py_worker_command(fpq_backend *b, const char *name, const char *command) {
  GIL_CALL(call_none(b, "worker_command", Py_BuildValue("(ss)", name, command)));
}

/* A str-or-None answer into buf: 0, or none_code for None. */
static int text_answer(fpq_backend *b, const char *method, PyObject *out, char *buf, size_t len,
                       int none_code) {
  if (out == NULL) return b->err;
  if (out == Py_None) {
    Py_DECREF(out);
    return none_code;
  }
  const char *s = PyUnicode_Check(out) ? PyUnicode_AsUTF8AndSize(out, NULL) : NULL;
  if (s == NULL) {
    if (!PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "%R, not a str", (PyObject *)Py_TYPE(out));
    Py_DECREF(out);
    return bad_record(b, method);
  }
  snprintf(buf, len, "%s", s);
  Py_DECREF(out);
  return 0;
}

static int py_worker_next_command(fpq_backend *b, const char *name, char *buf, size_t len) {
  GIL_CALL(text_answer(b, "worker_next_command",
                       call(b, "worker_next_command", Py_BuildValue("(s)", name)), buf, len,
                       FPQ_EEMPTY));
}

/* ---- schedules and leases ----------------------------------------------------------------- */

static int py_schedule_put(fpq_backend *b, const fpq_schedule *s) {
  GIL_CALL(call_none(b, "schedule_put", Py_BuildValue("(N)", schedule_to_dict(s))));
}

static int schedule_get_locked(fpq_backend *b, const char *id, fpq_schedule **out) {
  PyObject *d = call(b, "schedule_get", Py_BuildValue("(s)", id));
  if (d == NULL) return b->err;
  if (d == Py_None) {
    Py_DECREF(d);
    return fpq_backend_fail(b, FPQ_ENOTFOUND, "schedule '%s' not found", id);
  }
  *out = dict_to_schedule(d);
  Py_DECREF(d);
  return *out ? 0 : bad_record(b, "schedule_get");
}
static int py_schedule_get(fpq_backend *b, const char *id, fpq_schedule **out) {
  GIL_CALL(schedule_get_locked(b, id, out));
}

static int schedule_list_locked(fpq_backend *b, const char *project, int64_t due, int limit,
                                fpq_schedule ***out, size_t *n) {
  PyObject *list = as_list(b, "schedule_list",
                           call(b, "schedule_list",
                                Py_BuildValue("(zLi)", project, (long long)due, limit)));
  if (list == NULL) return b->err;
  Py_ssize_t len = PyList_Size(list);
  fpq_schedule **items = calloc((size_t)len + 1, sizeof *items);
  if (items == NULL) {
    Py_DECREF(list);
    return fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  }
  for (Py_ssize_t i = 0; i < len; i++) {
    items[i] = dict_to_schedule(PyList_GetItem(list, i));
    if (items[i] == NULL) {
      fpq_schedules_free(items, (size_t)i);
      Py_DECREF(list);
      return bad_record(b, "schedule_list");
    }
  }
  Py_DECREF(list);
  *out = items;
  *n = (size_t)len;
  return 0;
}
static int py_schedule_list(fpq_backend *b, const char *project, int64_t due, int limit,
                            fpq_schedule ***out, size_t *n) {
  GIL_CALL(schedule_list_locked(b, project, due, limit, out, n));
}

static int py_schedule_remove(fpq_backend *b, const char *id) {
  GIL_CALL(call_none(b, "schedule_remove", Py_BuildValue("(s)", id)));
}

static int py_schedule_set_paused(fpq_backend *b, const char *id, int paused, int64_t next_fire) {
  GIL_CALL(call_none(b, "schedule_set_paused",
                     Py_BuildValue("(sNL)", id, PyBool_FromLong(paused), (long long)next_fire)));
}

static int py_schedule_advance(fpq_backend *b, const fpq_schedule_advance_args *a) {
  GIL_CALL(call_none(b, "schedule_advance",
                     Py_BuildValue("({s:s,s:L,s:L,s:L,s:L,s:L})", "id", a->id, "expect_next",
                                   (long long)a->expect_next, "next_fire",
                                   (long long)a->next_fire, "last_fire",
                                   (long long)a->last_fire, "fired", (long long)a->fired,
                                   "skipped", (long long)a->skipped)));
}

static int lease_acquire_locked(fpq_backend *b, const char *name, const char *owner, double now,
                                double ttl, char *holder, size_t holder_len) {
  char who[256];
  int rc = text_answer(b, "lease_acquire",
                       call(b, "lease_acquire", Py_BuildValue("(ssdd)", name, owner, now, ttl)),
                       who, sizeof who, FPQ_EFORMAT);
  if (rc == FPQ_EFORMAT && b->err == 0)
    return fpq_backend_fail(b, rc, "backend '%s' lease_acquire returned None: expected the "
                            "holder's name", b->methods->name);
  if (rc) return rc;
  if (holder_len) snprintf(holder, holder_len, "%s", who);
  return strcmp(who, owner) == 0 ? 0 : FPQ_ELEASE;
}
static int py_lease_acquire(fpq_backend *b, const char *name, const char *owner, double now,
                            double ttl, char *holder, size_t holder_len) {
  GIL_CALL(lease_acquire_locked(b, name, owner, now, ttl, holder, holder_len));
}

static int py_lease_release(fpq_backend *b, const char *name, const char *owner) {
  GIL_CALL(call_none(b, "lease_release", Py_BuildValue("(ss)", name, owner)));
}

static int ended_since_locked(fpq_backend *b, double since, int limit, fpq_run_record **out,
                              size_t *n) {
  PyObject *list = as_list(b, "ended_since",
                           call(b, "ended_since", Py_BuildValue("(di)", since, limit)));
  if (list == NULL) return b->err;
  Py_ssize_t len = PyList_Size(list);
  fpq_run_record *runs = calloc((size_t)len + 1, sizeof *runs);
  int rc = runs ? 0 : fpq_backend_fail(b, FPQ_ENOMEM, "out of memory");
  for (Py_ssize_t i = 0; rc == 0 && i < len; i++)
    if (dict_to_run_record(PyList_GetItem(list, i), &runs[i])) rc = bad_record(b, "ended_since");
  Py_DECREF(list);
  if (rc) {
    free(runs);
    return rc;
  }
  *out = runs;
  *n = (size_t)len;
  return 0;
}
static int py_ended_since(fpq_backend *b, double since, int limit, fpq_run_record **out,
                          size_t *n) {
  GIL_CALL(ended_since_locked(b, since, limit, out, n));
}

/* ---- registration -------------------------------------------------------------------------- */

static const struct fpq_backend_methods proxy = {
    .version = 2, /* no dependencies (version 3): adapters store records, not rules */
    .handle_size = sizeof(py_handle),
    .open = py_open,
    .close = py_close,
    .enqueue = py_enqueue,
    .get = py_get,
    .find = py_find,
    .cancel = py_cancel,
    .requeue = py_requeue,
    .counts = py_counts,
    .take = py_take,
    .extend = py_extend,
    .finish = py_finish,
    .maintain = py_maintain,
    .worker_beat = py_worker_beat,
    .worker_gone = py_worker_gone,
    .workers = py_workers,
    .worker_command = py_worker_command,
    .worker_next_command = py_worker_next_command,
    .schedule_put = py_schedule_put,
    .schedule_get = py_schedule_get,
    .schedule_list = py_schedule_list,
    .schedule_remove = py_schedule_remove,
    .schedule_set_paused = py_schedule_set_paused,
    .schedule_advance = py_schedule_advance,
    .lease_acquire = py_lease_acquire,
    .lease_release = py_lease_release,
    .ended_since = py_ended_since,
};

int python_backend_register(const char *name, PyObject *cls, char *err, size_t errlen) {
  py_entry *e = entry_named(name);
  if (e != NULL) { /* a name registered again gets the new class */
    PyObject *old = e->cls;
    e->cls = Py_NewRef(cls);
    Py_DECREF(old);
    return 0;
  }
  if (table_len == MAX_PYTHON_BACKENDS) {
    snprintf(err, errlen, "backend '%s' cannot be added: at most %d Python backends", name,
             MAX_PYTHON_BACKENDS);
    return FPQ_ENOMEM;
  }
  e = &table[table_len];
  snprintf(e->name, sizeof e->name, "%s", name);
  e->methods = proxy;
  e->methods.name = e->name;
  e->cls = Py_NewRef(cls);
  int rc = strlen(name) < sizeof e->name ? fpq_backend_add(&e->methods) : FPQ_EINVAL;
  if (rc == 0) {
    table_len++;
    return 0;
  }
  Py_CLEAR(e->cls);
  if (rc == FPQ_EEXIST)
    snprintf(err, errlen, "backend '%s' is a built-in or C plugin backend: register the "
             "adapter under another name", name);
  else
    snprintf(err, errlen, "backend name '%.80s' is not valid: use 1-63 of A-Z a-z 0-9 _ -", name);
  return rc;
}

PyObject *python_backend_class(const char *name) {
  py_entry *e = entry_named(name);
  return e ? e->cls : NULL;
}

/* The engine's loader for `backends.NAME.adapter: "pkg.module:Class"`: Python code
 * (flowerpower_job_queue.backends.load_adapter) imports the class and registers it. Called
 * from fpq_open, which the extension calls with the GIL released. */
static int load_adapter(const char *name, const char *spec, char *err, size_t errlen) {
  PyGILState_STATE gil = PyGILState_Ensure();
  int rc = 0;
  PyObject *module = PyImport_ImportModule("flowerpower_job_queue.backends");
  PyObject *out = module ? PyObject_CallMethod(module, "load_adapter", "ss", name, spec) : NULL;
  if (out == NULL) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    rc = value ? code_of(value) : 0;
    if (rc == 0) rc = FPQ_EINVAL;
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *msg = text ? PyUnicode_AsUTF8AndSize(text, NULL) : NULL;
    snprintf(err, errlen, "%s", msg ? msg : "the adapter could not be loaded");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
  Py_XDECREF(out);
  Py_XDECREF(module);
  PyGILState_Release(gil);
  return rc;
}

void python_backend_install_loader(void) { fpq_set_adapter_loader(load_adapter); }
