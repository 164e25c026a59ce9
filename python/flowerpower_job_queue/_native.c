/* _native.c: the CPython extension over libfpq, the engine's C API (include/fpq.h).
 *
 * Thin on purpose: each method converts its arguments, calls one fpq_* function with the
 * GIL released, converts the result, and raises the package's typed exceptions
 * (flowerpower_job_queue.exceptions, looked up once at import and kept in module state).
 * Everything a Python caller wants beyond that (RunConfig conversion, datetimes, result
 * decoding) lives in manager.py.
 *
 * An fpq_queue handle is not thread-safe, so each Queue guards its handle with a lock. A
 * call takes the lock and runs the C function with the GIL released; it copies the
 * handle's error text before letting go of the lock, and builds Python objects only
 * afterwards, so no Python code (a finalizer run by the GC, say) can ever run while the
 * lock is held and come back to the same handle. Long waits run in short slices that let
 * go of the lock in between, so one thread waiting for a result does not block others
 * sharing the handle, and Ctrl-C is answered within a slice.
 *
 * Multi-phase initialisation (PEP 489) with module state and a heap type, after CPython's
 * Modules/_json.c. The schedule methods live in _native_schedules.c (_native.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_native.h"
#include "fpq_worker.h"

/* Longest slice of a wait between checks for signals and other users of the handle. */
#define WAIT_SLICE 0.5

static struct PyModuleDef native_module;

native_state *module_state(PyObject *module) {
  return (native_state *)PyModule_GetState(module);
}

/* The state of the module that defined tp (or a base of it); NULL with an exception.
 * PyType_GetModuleByDef is not in the limited API of 3.11 (the wheel is abi3): Queue
 * itself asks PyType_GetModule, a subclass walks its __mro__ to the first type of ours. */
native_state *type_state(PyTypeObject *tp) {
  PyObject *module = PyType_GetModule(tp); /* borrowed */
  if (module != NULL && PyModule_GetDef(module) == &native_module) return module_state(module);
  PyErr_Clear();
  PyObject *mro = PyObject_GetAttrString((PyObject *)tp, "__mro__");
  Py_ssize_t n = mro != NULL && PyTuple_Check(mro) ? PyTuple_Size(mro) : 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *base = PyTuple_GetItem(mro, i); /* borrowed */
    module = base != NULL && PyType_Check(base) ? PyType_GetModule((PyTypeObject *)base) : NULL;
    if (module != NULL && PyModule_GetDef(module) == &native_module) {
      Py_DECREF(mro);
      return module_state(module);
    }
    PyErr_Clear();
  }
  Py_XDECREF(mro);
  PyErr_SetString(PyExc_TypeError, "not a flowerpower_job_queue._native type");
  return NULL;
}

/* ---- errors ------------------------------------------------------------------------ */

static PyObject *exception_for(const native_state *st, int code) {
  switch (code) {
    case FPQ_EINVAL:
    case FPQ_ECONFIG:
    case FPQ_EEXIST:
    case FPQ_ETOOBIG: return st->InvalidInput;
    case FPQ_ENOTFOUND: return st->JobNotFound;
    case FPQ_EIO: /* storage that cannot be written: a full or read-only disk */
    case FPQ_EUNAVAIL: return st->BackendUnavailable;
    case FPQ_ETIMEDOUT: return st->JobTimeout;
    default: return st->JobQueueError;
  }
}

/* Raises the exception for code with message (a str, stolen; NULL: an error is set).
 * Returns NULL. */
static PyObject *raise_message_field(const native_state *st, int code, PyObject *message,
                                     const char *field) {
  PyObject *args = NULL, *kwargs = NULL, *exc = NULL;
  if (message == NULL) return NULL;
  if (code == FPQ_ENOMEM) {
    Py_DECREF(message);
    return PyErr_NoMemory();
  }
  const char *name = code == CLOSED ? "ECLOSED" : fpq_err_name(code);
  PyObject *type = code == CLOSED ? st->InvalidInput : exception_for(st, code);
  args = PyTuple_Pack(1, message);
  if (args == NULL) goto error;
  kwargs = Py_BuildValue("{s:s}", "code", name);
  if (kwargs == NULL) goto error;
  if (field && field[0] && put(kwargs, "field", PyUnicode_FromString(field)) < 0) goto error;
  exc = PyObject_Call(type, args, kwargs);
  if (exc == NULL) goto error;
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
error:
  Py_XDECREF(exc);
  Py_XDECREF(kwargs);
  Py_XDECREF(args);
  Py_DECREF(message);
  return NULL;
}

static PyObject *raise_message(const native_state *st, int code, PyObject *message) {
  return raise_message_field(st, code, message, NULL);
}

/* Raises the exception for code with the engine's message (UTF-8; "" means the code's
 * generic text) and the setting it is about (NULL or "": none). Returns NULL. */
PyObject *raise_code_field(const native_state *st, int code, const char *msg,
                           const char *field) {
  if (code == CLOSED) msg = "the queue handle is closed";
  else if (msg == NULL || msg[0] == '\0') msg = fpq_strerror(code);
  return raise_message_field(
      st, code, PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace"), field);
}

PyObject *raise_code(const native_state *st, int code, const char *msg) {
  return raise_code_field(st, code, msg, NULL);
}

PyObject *raise_format(const native_state *st, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *message = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  return raise_message(st, code, message);
}

/* ---- conversions ------------------------------------------------------------------- */

/* O& converter: None -> NULL, str/bytes/os.PathLike -> bytes (a new reference in *out,
 * released by the caller). */
int path_or_none(PyObject *obj, void *out) {
  PyObject **result = out;
  if (obj == NULL) { /* cleanup call (Py_CLEANUP_SUPPORTED) */
    Py_CLEAR(*result);
    return 1;
  }
  if (obj == Py_None) {
    *result = NULL;
    return 1;
  }
  if (!PyUnicode_FSConverter(obj, result)) return 0;
  return Py_CLEANUP_SUPPORTED;
}

/* ---- the Queue type ------------------------------------------------------------------ */

static PyObject *Queue_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project_dir", "backend", "url", "create", "read_only", NULL};
  PyObject *dir = NULL; /* bytes or NULL */
  const char *backend = NULL, *url = NULL;
  int create = 1, read_only = 0;
  QueueObject *self = NULL;
  fpq_queue *q = NULL;
  char err[ERR_MAX] = "", field[64] = "";
  native_state *st = type_state(type);
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O&zzpp:Queue", kwlist, path_or_none, &dir,
                                   &backend, &url, &create, &read_only))
    return NULL;
  allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
  self = (QueueObject *)alloc(type, 0);
  if (self == NULL) goto error;
  self->lock = PyThread_allocate_lock();
  if (self->lock == NULL) {
    PyErr_SetString(PyExc_MemoryError, "cannot allocate a lock");
    goto error;
  }
  fpq_options opts = {.project_dir = dir ? PyBytes_AsString(dir) : NULL,
                      .backend = backend,
                      .url = url,
                      .create = create,
                      .read_only = read_only};
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = fpq_open(&q, &opts);
  if (rc != 0) {
    snprintf(err, sizeof err, "%s", fpq_errmsg(q));
    snprintf(field, sizeof field, "%s", fpq_errfield(q));
    fpq_close(q);
    q = NULL;
  }
  Py_END_ALLOW_THREADS
  if (rc != 0) {
    raise_code_field(st, rc, err, field);
    goto error;
  }
  self->q = q;
  self->backend = str_or_none(fpq_backend_name(q));
  if (self->backend == NULL) goto error;
  self->url = str_or_none(fpq_url(q));
  if (self->url == NULL) goto error;
  self->project_dir = PyUnicode_DecodeFSDefault(fpq_project_dir(q));
  if (self->project_dir == NULL) goto error;
  Py_XDECREF(dir);
  return (PyObject *)self;
error:
  Py_XDECREF(dir);
  Py_XDECREF((PyObject *)self); /* Queue_dealloc closes q if it got that far */
  return NULL;
}

static void Queue_dealloc(QueueObject *self) {
  PyTypeObject *tp = Py_TYPE((PyObject *)self);
  /* Nobody else can hold the lock: holding it means holding a reference to self. */
  if (self->q) fpq_close(self->q);
  if (self->lock) PyThread_free_lock(self->lock);
  Py_XDECREF(self->backend);
  Py_XDECREF(self->url);
  Py_XDECREF(self->project_dir);
  freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
  tp_free(self);
  Py_DECREF(tp);
}

static PyObject *Queue_repr(QueueObject *self) {
  if (self->backend == NULL) return PyUnicode_FromFormat("<Queue (not open)>");
  return PyUnicode_FromFormat("<Queue backend=%R url=%R project_dir=%R%s>", self->backend,
                              self->url, self->project_dir, self->q ? "" : " closed");
}

PyDoc_STRVAR(get_doc,
"get(id) -> dict\n"
"\n"
"The job with that id, as a dict of every fpq_job field: times as float epoch seconds or\n"
"None, status/priority/queue as strings, result_json/error_json/run_json as raw JSON text.\n"
"Raises JobNotFound, or InvalidInput for a malformed id.\n"
"\n"
"Example:\n"
"    >>> q.get(job_id)['status']\n"
"    'queued'");

static PyObject *Queue_get(QueueObject *self, PyObject *args) {
  const char *id;
  fpq_job *job = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "s:get", &id)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_get(self->q, id, &job));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *d = job_to_dict(job);
  fpq_job_free(job);
  return d;
}

PyDoc_STRVAR(latest_doc,
"latest(pipeline, finished=True) -> dict\n"
"\n"
"The pipeline's newest job in this project (finished: its newest finished run, so a run\n"
"still queued does not hide the last result; the newest when none finished), as get()\n"
"returns it (fpq_latest). Raises JobNotFound when the pipeline has no jobs.\n"
"\n"
"Example:\n"
"    >>> q.latest('hello')['status']\n"
"    'finished'");

static PyObject *Queue_latest(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"pipeline", "finished", NULL};
  const char *pipeline;
  int finished = 1;
  fpq_job *job = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|p:latest", kwlist, &pipeline, &finished))
    return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_latest(self->q, pipeline, finished, &job));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *d = job_to_dict(job);
  fpq_job_free(job);
  return d;
}

PyDoc_STRVAR(find_doc,
"find(pipeline=None, limit=100) -> list[dict]\n"
"\n"
"This project's jobs, newest first: all of them, or one pipeline's (at most limit; limit\n"
"<= 0 means 100). Each job is a dict as get() returns it.\n"
"\n"
"Example:\n"
"    >>> [j['id'] for j in q.find('hello', limit=2)]\n"
"    ['9b1e...', '6f1c...']");

static PyObject *Queue_find(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"pipeline", "limit", NULL};
  const char *pipeline = NULL;
  int limit = 100;
  fpq_job **jobs = NULL;
  size_t n = 0;
  PyObject *list = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|zi:find", kwlist, &pipeline, &limit))
    return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_find(self->q, NULL, pipeline, limit, &jobs, &n));
  if (rc != 0) return raise_code(st, rc, err);
  list = jobs_to_list(jobs, n);
  fpq_jobs_free(jobs, n);
  return list;
}

PyDoc_STRVAR(wait_doc,
"wait(id, timeout=-1.0) -> dict\n"
"\n"
"Blocks (without the GIL) until the job is finished, failed, stopped or canceled, and\n"
"returns it as get() does. timeout in seconds; < 0 waits forever. Raises JobTimeout when\n"
"the time runs out, JobNotFound. Ctrl-C interrupts it.\n"
"\n"
"Example:\n"
"    >>> q.wait(job_id, timeout=30)['status']\n"
"    'finished'");

static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static PyObject *Queue_wait(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"id", "timeout", NULL};
  const char *id;
  double timeout = -1;
  fpq_job *job = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|d:wait", kwlist, &id, &timeout)) return NULL;
  if (isnan(timeout)) return raise_code(st, FPQ_EINVAL, "wait timeout is not a number");
  const int forever = timeout < 0;
  const double deadline = monotonic_seconds() + (forever ? 0 : timeout);
  for (;;) {
    double left = forever ? WAIT_SLICE : deadline - monotonic_seconds();
    double slice = left < WAIT_SLICE ? (left > 0 ? left : 0) : WAIT_SLICE;
    int rc;
    WITH_HANDLE(self, rc, err, rc = fpq_wait(self->q, id, slice, &job));
    if (rc == 0) break;
    if (rc != FPQ_ETIMEDOUT) return raise_code(st, rc, err);
    if (!forever && slice >= left) {
      /* The engine's message names this slice; say what the caller asked for. */
      fpq_job *last = NULL;
      WITH_HANDLE(self, rc, err, rc = fpq_get(self->q, id, &last));
      if (rc != 0) return raise_code(st, rc, err);
      char seconds[32];
      snprintf(seconds, sizeof seconds, "%g", timeout);
      raise_format(st, FPQ_ETIMEDOUT, "job '%s' is still %s after %s seconds", id,
                   fpq_status_name(last->status), seconds);
      fpq_job_free(last);
      return NULL;
    }
    if (PyErr_CheckSignals() < 0) return NULL;
  }
  PyObject *d = job_to_dict(job);
  fpq_job_free(job);
  return d;
}

PyDoc_STRVAR(cancel_doc,
"cancel(id) -> None\n"
"\n"
"Cancels a job that has not started (queued, scheduled or deferred). Raises JobNotFound,\n"
"or JobQueueError with code ESTATE when the job is past that.\n"
"\n"
"Example:\n"
"    >>> q.cancel(job_id)");

static PyObject *Queue_cancel(QueueObject *self, PyObject *args) {
  const char *id;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "s:cancel", &id)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_cancel(self->q, id));
  if (rc != 0) return raise_code(st, rc, err);
  Py_RETURN_NONE;
}

PyDoc_STRVAR(requeue_doc,
"requeue(id) -> None\n"
"\n"
"Queues a failed, stopped or canceled job again, at the back of its queue, with its\n"
"attempts reset. Raises JobNotFound, or JobQueueError with code ESTATE.\n"
"\n"
"Example:\n"
"    >>> q.requeue(job_id)");

static PyObject *Queue_requeue(QueueObject *self, PyObject *args) {
  const char *id;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "s:requeue", &id)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_requeue(self->q, id));
  if (rc != 0) return raise_code(st, rc, err);
  Py_RETURN_NONE;
}

PyDoc_STRVAR(metrics_json_doc,
"metrics_json() -> str\n"
"\n"
"Metrics as one JSON object: backend, per-queue counts by status and the age of the\n"
"oldest queued job, live workers.\n"
"\n"
"Example:\n"
"    >>> json.loads(q.metrics_json())['backend']\n"
"    'sqlite'");

static PyObject *Queue_metrics_json(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  char *text = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_metrics_json(self->q, &text));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *result = str_or_none(text);
  free(text);
  return result;
}

PyDoc_STRVAR(prune_doc,
"prune() -> int\n"
"\n"
"Removes ended jobs whose retention (result_ttl / failure_ttl) has passed, now rather\n"
"than at a worker's next maintenance (fpq_prune); returns how many went.\n"
"\n"
"Example:\n"
"    >>> q.prune()\n"
"    0");

static PyObject *Queue_prune(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  int64_t removed = 0;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_prune(self->q, &removed));
  if (rc != 0) return raise_code(st, rc, err);
  return PyLong_FromLongLong((long long)removed);
}

PyDoc_STRVAR(workers_doc,
"workers() -> list[dict]\n"
"\n"
"Live workers: name, hostname, pid, state, queues (list), current_job (or None), birth,\n"
"last_heartbeat (epoch seconds), successful, failed, busy_seconds, ours (it takes from\n"
"this project's queues: fpq_worker_is_ours).\n"
"\n"
"Example:\n"
"    >>> [w['name'] for w in q.workers()]\n"
"    ['host.4242']");

static PyObject *Queue_metrics_prometheus(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  char *text = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_metrics_prometheus(self->q, &text));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *result = str_or_none(text);
  free(text);
  return result;
}

static PyObject *Queue_workers(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  fpq_worker_info *workers = NULL;
  size_t n = 0;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_workers(self->q, &workers, &n));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *list = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; list != NULL && i < n; i++) {
    PyObject *d = worker_to_dict(&workers[i]);
    /* ours: it takes from this project's queues (fpq_worker_is_ours) */
    if (d != NULL && put(d, "ours", PyBool_FromLong(fpq_worker_is_ours(self->q,
                                                                      &workers[i]))) < 0)
      Py_CLEAR(d);
    if (d == NULL) {
      Py_CLEAR(list);
      break;
    }
    (void)PyList_SetItem(list, (Py_ssize_t)i, d); /* steals; cannot fail here */
  }
  free(workers);
  return list;
}

PyDoc_STRVAR(worker_command_doc,
"worker_command(name, command) -> None\n"
"\n"
"Sends a command to a worker through the backend: 'shutdown' (finish running jobs, then\n"
"exit), 'shutdown-now' (running jobs go back), 'kill-horse', 'stop-job:<id>'.\n"
"\n"
"Example:\n"
"    >>> q.worker_command('host.4242', 'shutdown')");

static PyObject *Queue_worker_command(QueueObject *self, PyObject *args) {
  const char *name, *command;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "ss:worker_command", &name, &command)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_worker_command(self->q, name, command));
  if (rc != 0) return raise_code(st, rc, err);
  Py_RETURN_NONE;
}

PyDoc_STRVAR(setting_doc,
"setting(key) -> str\n"
"\n"
"A value from the project's conf/job_queue.yml (dotted key for nested ones; the FPQ_*\n"
"environment variable wins), or '' when unset.\n"
"\n"
"Example:\n"
"    >>> q.setting('backend')\n"
"    'sqlite'");

static PyObject *Queue_setting(QueueObject *self, PyObject *args) {
  const char *key;
  char *value = NULL;
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "s:setting", &key)) return NULL;
  int closed = 0;
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock(self->lock, WAIT_LOCK);
  if (self->q) value = strdup(fpq_setting(self->q, key));
  else closed = 1;
  PyThread_release_lock(self->lock);
  Py_END_ALLOW_THREADS
  if (closed) return raise_code(st, CLOSED, NULL);
  if (value == NULL) return PyErr_NoMemory();
  PyObject *result = str_or_none(value);
  free(value);
  return result;
}

PyDoc_STRVAR(close_doc,
"close() -> None\n"
"\n"
"Closes the connection; later calls raise InvalidInput (code ECLOSED). Closing twice is\n"
"harmless. A Queue is also a context manager that closes on exit.\n"
"\n"
"Example:\n"
"    >>> with Queue('/path/to/project') as q:\n"
"    ...     q.find()");

static PyObject *Queue_close(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  Py_BEGIN_ALLOW_THREADS
  PyThread_acquire_lock(self->lock, WAIT_LOCK);
  fpq_close(self->q);
  self->q = NULL;
  PyThread_release_lock(self->lock);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

static PyObject *Queue_enter(QueueObject *self, PyObject *Py_UNUSED(ignored)) {
  return Py_NewRef((PyObject *)self);
}

static PyObject *Queue_exit(QueueObject *self, PyObject *Py_UNUSED(args)) {
  return Queue_close(self, NULL);
}

static PyObject *Queue_get_backend(QueueObject *self, void *Py_UNUSED(closure)) {
  return Py_NewRef(self->backend);
}

static PyObject *Queue_get_url(QueueObject *self, void *Py_UNUSED(closure)) {
  return Py_NewRef(self->url);
}

static PyObject *Queue_get_project_dir(QueueObject *self, void *Py_UNUSED(closure)) {
  return Py_NewRef(self->project_dir);
}

static PyObject *Queue_get_closed(QueueObject *self, void *Py_UNUSED(closure)) {
  return PyBool_FromLong(self->q == NULL);
}

static PyMethodDef Queue_methods[] = {
    {"enqueue", (PyCFunction)(void (*)(void))Queue_enqueue, METH_VARARGS | METH_KEYWORDS,
     enqueue_doc},
    {"enqueue_many", (PyCFunction)Queue_enqueue_many, METH_O, enqueue_many_doc},
    {"enqueue_jsonl", (PyCFunction)Queue_enqueue_jsonl, METH_O, enqueue_jsonl_doc},
    {"get", (PyCFunction)Queue_get, METH_VARARGS, get_doc},
    {"find", (PyCFunction)(void (*)(void))Queue_find, METH_VARARGS | METH_KEYWORDS, find_doc},
    {"wait", (PyCFunction)(void (*)(void))Queue_wait, METH_VARARGS | METH_KEYWORDS, wait_doc},
    {"cancel", (PyCFunction)Queue_cancel, METH_VARARGS, cancel_doc},
    {"requeue", (PyCFunction)Queue_requeue, METH_VARARGS, requeue_doc},
    {"metrics_json", (PyCFunction)Queue_metrics_json, METH_NOARGS, metrics_json_doc},
    {"metrics_prometheus", (PyCFunction)Queue_metrics_prometheus, METH_NOARGS,
     "metrics_prometheus() -> str\n\nThe metrics in Prometheus' text format (what a "
     "worker's /metrics serves)."},
    {"workers", (PyCFunction)Queue_workers, METH_NOARGS, workers_doc},
    {"prune", (PyCFunction)Queue_prune, METH_NOARGS, prune_doc},
    {"latest", (PyCFunction)(void (*)(void))Queue_latest, METH_VARARGS | METH_KEYWORDS,
     latest_doc},
    {"worker_command", (PyCFunction)Queue_worker_command, METH_VARARGS, worker_command_doc},
    {"setting", (PyCFunction)Queue_setting, METH_VARARGS, setting_doc},
    NATIVE_SCHEDULE_METHODS
    {"close", (PyCFunction)Queue_close, METH_NOARGS, close_doc},
    {"__enter__", (PyCFunction)Queue_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Queue_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Queue_getset[] = {
    {"backend", (getter)Queue_get_backend, NULL, "The resolved backend name, e.g. 'sqlite'.",
     NULL},
    {"url", (getter)Queue_get_url, NULL, "The resolved backend URL.", NULL},
    {"project_dir", (getter)Queue_get_project_dir, NULL,
     "The absolute project directory jobs are scoped to.", NULL},
    {"closed", (getter)Queue_get_closed, NULL, "True once close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyDoc_STRVAR(Queue_doc,
"Queue(project_dir=None, backend=None, url=None, create=True, read_only=False)\n"
"\n"
"One connection to the queue of a FlowerPower project (libfpq's fpq_queue). Settings\n"
"resolve as arguments > FPQ_BACKEND/FPQ_URL/FPQ_REDIS_URL > <project>/conf/job_queue.yml >\n"
"SQLite at <project>/.flowerpower/queue.db (created when create is true). read_only: for a\n"
"read-only command, never load a plugin or adapter only the project's conf names. Safe to share\n"
"between threads: calls on one Queue take turns, each without the GIL. Do not use it in a\n"
"child process after fork; open a new one there.\n"
"\n"
"Example:\n"
"    >>> with Queue('/path/to/project') as q:\n"
"    ...     job_id = q.enqueue('hello', run_json='{\"inputs\": {\"x\": 1}}')\n"
"    ...     q.get(job_id)['status']\n"
"    'queued'");

static PyType_Slot Queue_slots[] = {
    {Py_tp_doc, (void *)Queue_doc},
    {Py_tp_new, Queue_new},
    {Py_tp_dealloc, Queue_dealloc},
    {Py_tp_repr, Queue_repr},
    {Py_tp_methods, Queue_methods},
    {Py_tp_getset, Queue_getset},
    {0, NULL}};

static PyType_Spec Queue_spec = {
    .name = "flowerpower_job_queue._native.Queue",
    .basicsize = sizeof(QueueObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Queue_slots};

/* ---- module functions ----------------------------------------------------------------- */

static PyObject *native_version(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
  return PyUnicode_FromString(fpq_version());
}

static PyObject *native_validate_id(PyObject *module, PyObject *args) {
  const char *id;
  char err[ERR_MAX];
  if (!PyArg_ParseTuple(args, "s:validate_id", &id)) return NULL;
  if (fpq_validate_id(id, err, sizeof err) != 0)
    return raise_code(module_state(module), FPQ_EINVAL, err);
  Py_RETURN_NONE;
}

static PyObject *native_validate_pipeline(PyObject *module, PyObject *args) {
  const char *name;
  char err[ERR_MAX];
  if (!PyArg_ParseTuple(args, "s:validate_pipeline", &name)) return NULL;
  if (fpq_validate_pipeline(name, err, sizeof err) != 0)
    return raise_code(module_state(module), FPQ_EINVAL, err);
  Py_RETURN_NONE;
}

static PyObject *native_check_callback(PyObject *module, PyObject *args) {
  const char *which, *ref;
  char err[ERR_MAX];
  if (!PyArg_ParseTuple(args, "ss:check_callback", &which, &ref)) return NULL;
  if (fpq_validate_callback(which, ref, err, sizeof err) != 0)
    return raise_code(module_state(module), FPQ_EINVAL, err);
  Py_RETURN_NONE;
}

PyDoc_STRVAR(register_backend_doc,
"register_backend(name, cls) -> None\n"
"\n"
"Makes cls (a flowerpower_job_queue.backends.QueueAdapter class) the engine's backend\n"
"`name` in this process: every Queue, worker and scheduler of this process that resolves\n"
"to that name calls it. A name registered again gets the new class. Raises InvalidInput\n"
"for a bad name or one a built-in or C plugin backend has.\n"
"\n"
"Example:\n"
"    >>> _native.register_backend('jsonl', JsonlAdapter)");

static PyObject *native_register_backend(PyObject *module, PyObject *args) {
  const char *name;
  PyObject *cls;
  char err[ERR_MAX] = "";
  if (!PyArg_ParseTuple(args, "sO:register_backend", &name, &cls)) return NULL;
  if (!PyType_Check(cls)) return raise_code(module_state(module), FPQ_EINVAL, "cls must be a class");
  int rc = python_backend_register(name, cls, err, sizeof err);
  if (rc != 0) return raise_code_field(module_state(module), rc, err, "backend");
  Py_RETURN_NONE;
}

static PyObject *native_backend_names(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
  char names[1024];
  fpq_backend_names(names, sizeof names);
  PyObject *text = PyUnicode_FromString(names);
  PyObject *sep = PyUnicode_FromString(", ");
  PyObject *list = text && sep ? PyUnicode_Split(text, sep, -1) : NULL;
  Py_XDECREF(text);
  Py_XDECREF(sep);
  return list;
}

static PyObject *native_python_backend(PyObject *Py_UNUSED(module), PyObject *args) {
  const char *name;
  if (!PyArg_ParseTuple(args, "s:python_backend", &name)) return NULL;
  PyObject *cls = python_backend_class(name);
  return Py_NewRef(cls ? cls : Py_None);
}

PyDoc_STRVAR(job_json_doc,
"job_json(job, outcome=False) -> str\n"
"\n"
"A job record (a dict as Queue.get returns it) in the JSON form `fpq status id=ID --json`\n"
"prints: run, result and error as JSON values, times as ISO 8601 UTC text. outcome: only\n"
"what `fpq result --json` prints (id, pipeline, status, ended_at, result, error).\n"
"\n"
"Example:\n"
"    >>> json.loads(_native.job_json(q.get(job_id)))['status']\n"
"    'queued'");

static PyObject *native_job_json(PyObject *Py_UNUSED(module), PyObject *args) {
  PyObject *d;
  int outcome = 0;
  if (!PyArg_ParseTuple(args, "O|p:job_json", &d, &outcome)) return NULL;
  fpq_job *job = dict_to_job(d);
  if (job == NULL) return NULL;
  char *text = outcome ? fpq_job_outcome_json(job) : fpq_job_to_json(job);
  fpq_job_free(job);
  if (text == NULL) return PyErr_NoMemory();
  PyObject *out = str_or_none(text);
  free(text);
  return out;
}

PyDoc_STRVAR(parse_duration_doc,
"parse_duration(text) -> float\n"
"\n"
"Seconds in a duration as people type it: '90' (seconds), '90s', '10m', '2h', '1d',\n"
"'250ms', '1h30m'. Raises InvalidInput with one line naming the value.\n"
"\n"
"Example:\n"
"    >>> _native.parse_duration('1h30m')\n"
"    5400.0");

static PyObject *native_parse_duration(PyObject *module, PyObject *args) {
  const char *text;
  char err[ERR_MAX];
  double seconds;
  if (!PyArg_ParseTuple(args, "s:parse_duration", &text)) return NULL;
  if (fpq_parse_duration(text, &seconds, err, sizeof err) != 0)
    return raise_code(module_state(module), FPQ_EINVAL, err);
  return PyFloat_FromDouble(seconds);
}

PyDoc_STRVAR(parse_time_doc,
"parse_time(text) -> float\n"
"\n"
"Epoch seconds of an ISO 8601 instant ('2026-12-01T02:00:00Z'; no offset means UTC), as\n"
"fpq reads --at. Raises InvalidInput with one line naming the value.\n"
"\n"
"Example:\n"
"    >>> _native.parse_time('2026-12-01T03:00:00+01:00')\n"
"    1796090400.0");

static PyObject *native_parse_time(PyObject *module, PyObject *args) {
  const char *text;
  char err[ERR_MAX];
  double epoch;
  if (!PyArg_ParseTuple(args, "s:parse_time", &text)) return NULL;
  if (fpq_parse_time(text, &epoch, err, sizeof err) != 0)
    return raise_code(module_state(module), FPQ_EINVAL, err);
  return PyFloat_FromDouble(epoch);
}

PyDoc_STRVAR(format_time_doc,
"format_time(t, zone=None) -> str | None\n"
"\n"
"Epoch seconds as fpq prints them: without zone, RQ's UTC form\n"
"'2026-07-01T02:00:00.000000Z' (what --json output holds); with an IANA zone, the\n"
"wall-clock time there with its offset, '2026-03-29 03:00:00 +02:00'. None for None or\n"
"an unset time (<= 0).\n"
"\n"
"Example:\n"
"    >>> _native.format_time(1782871200.0)\n"
"    '2026-07-01T02:00:00.000000Z'");

static PyObject *native_format_time(PyObject *module, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"t", "zone", NULL};
  PyObject *value;
  const char *zone = NULL;
  char buf[64];
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|z:format_time", kwlist, &value, &zone))
    return NULL;
  if (value == Py_None) Py_RETURN_NONE;
  double t = PyFloat_AsDouble(value);
  if (t == -1.0 && PyErr_Occurred()) return NULL;
  if (!(t > 0)) Py_RETURN_NONE;
  /* Past year 9999 no format can show it; checked before the cast, which would be
   * undefined for a double beyond int64_t. */
  int rc = t >= 253402300800.0 ? FPQ_EINVAL
           : zone             ? fpq_format_zoned_time((int64_t)floor(t), zone, buf, sizeof buf)
                              : fpq_format_time(t, buf, sizeof buf);
  if (rc != 0)
    return raise_format(module_state(module), FPQ_EINVAL, "time %R cannot be shown%s%s", value,
                        zone ? " in zone " : "", zone ? zone : "");
  return PyUnicode_FromString(buf);
}

static PyObject *native_die_with_parent(PyObject *module, PyObject *args) {
  (void)module;
  int pid;
  if (!PyArg_ParseTuple(args, "i:die_with_parent", &pid)) return NULL;
  fpq_die_with_parent(pid); /* kills this process now if pid is no longer its parent */
  Py_RETURN_NONE;
}

static PyMethodDef native_methods[] = {
    {"version", native_version, METH_NOARGS,
     "version() -> str\n\nThe engine's version, e.g. '0.1.0'."},
    {"die_with_parent", native_die_with_parent, METH_VARARGS,
     "die_with_parent(pid) -> None\n\nThis process gets SIGKILL when its parent pid dies "
     "(PR_SET_PDEATHSIG); killed at once if pid is no longer its parent."},
    {"validate_id", native_validate_id, METH_VARARGS,
     "validate_id(id) -> None\n\nRaises InvalidInput unless id matches [A-Za-z0-9_-]{1,128}."},
    {"validate_pipeline", native_validate_pipeline, METH_VARARGS,
     "validate_pipeline(name) -> None\n\nRaises InvalidInput for a malformed pipeline name "
     "(path separators, empty parts, other characters)."},
    {"check_callback", native_check_callback, METH_VARARGS,
     "check_callback(which, ref) -> None\n\nRaises InvalidInput unless ref has the shape of a "
     "callback reference ('package.module:function' or 'package.module.function'); which "
     "names it in the message (fpq_validate_callback). Whether it imports is not checked."},
    {"register_backend", native_register_backend, METH_VARARGS, register_backend_doc},
    {"backend_names", native_backend_names, METH_NOARGS,
     "backend_names() -> list[str]\n\nNames of the engine's registered backends (built-in, "
     "C plugins loaded so far, Python backends registered in this process)."},
    {"python_backend", native_python_backend, METH_VARARGS,
     "python_backend(name) -> type | None\n\nThe class registered as backend name from "
     "Python in this process, or None."},
    {"resolve_config", (PyCFunction)(void (*)(void))native_resolve_config,
     METH_VARARGS | METH_KEYWORDS, resolve_config_doc},
    {"project_serves", (PyCFunction)(void (*)(void))native_project_serves,
     METH_VARARGS | METH_KEYWORDS, project_serves_doc},
    {"retry_decision", native_retry_decision, METH_VARARGS, retry_decision_doc},
    {"job_json", native_job_json, METH_VARARGS, job_json_doc},
    {"parse_duration", native_parse_duration, METH_VARARGS, parse_duration_doc},
    {"cli_help", native_cli_help, METH_NOARGS, cli_help_doc},
    {"run_worker", (PyCFunction)(void (*)(void))native_run_worker, METH_VARARGS | METH_KEYWORDS,
     run_worker_doc},
    {"run_scheduler", (PyCFunction)(void (*)(void))native_run_scheduler,
     METH_VARARGS | METH_KEYWORDS, run_scheduler_doc},
    {"parse_time", native_parse_time, METH_VARARGS, parse_time_doc},
    {"format_time", (PyCFunction)(void (*)(void))native_format_time,
     METH_VARARGS | METH_KEYWORDS, format_time_doc},
    NATIVE_SCHEDULE_FUNCTIONS
    {NULL, NULL, 0, NULL}};

/* ---- module ---------------------------------------------------------------------------- */

static int add_names(PyObject *module, const char *attr, int count, const char *(*name)(int)) {
  PyObject *t = PyTuple_New(count);
  if (t == NULL) return -1;
  for (int i = 0; i < count; i++) {
    PyObject *s = PyUnicode_FromString(name(i));
    if (s == NULL) {
      Py_DECREF(t);
      return -1;
    }
    (void)PyTuple_SetItem(t, i, s); /* steals s; cannot fail on a new tuple */
  }
  int rc = PyModule_AddObjectRef(module, attr, t);
  Py_DECREF(t);
  return rc;
}

static const char *status_at(int i) { return fpq_status_name((fpq_status)i); }
static const char *priority_at(int i) { return fpq_priority_name((fpq_priority)i); }

static int native_exec(PyObject *module) {
  native_state *st = module_state(module);
  PyObject *exceptions = PyImport_ImportModule("flowerpower_job_queue.exceptions");
  if (exceptions == NULL) return -1;
  st->JobQueueError = PyObject_GetAttrString(exceptions, "JobQueueError");
  st->InvalidInput = PyObject_GetAttrString(exceptions, "InvalidInput");
  st->JobNotFound = PyObject_GetAttrString(exceptions, "JobNotFound");
  st->BackendUnavailable = PyObject_GetAttrString(exceptions, "BackendUnavailable");
  st->JobTimeout = PyObject_GetAttrString(exceptions, "JobTimeout");
  Py_DECREF(exceptions);
  if (!st->JobQueueError || !st->InvalidInput || !st->JobNotFound || !st->BackendUnavailable ||
      !st->JobTimeout)
    return -1;
  python_backend_install_loader();
  st->queue_type = PyType_FromModuleAndSpec(module, &Queue_spec, NULL);
  if (st->queue_type == NULL) return -1;
  if (PyModule_AddType(module, (PyTypeObject *)st->queue_type) < 0) return -1;
  if (add_names(module, "STATUSES", FPQ_STATUS_COUNT, status_at) < 0) return -1;
  if (add_names(module, "PRIORITIES", FPQ_PRIORITY_COUNT, priority_at) < 0) return -1;
  PyObject *terminal = PyFrozenSet_New(NULL);
  for (int i = 0; terminal && i < FPQ_STATUS_COUNT; i++) {
    if (!fpq_status_is_terminal((fpq_status)i)) continue;
    PyObject *name = PyUnicode_FromString(fpq_status_name((fpq_status)i));
    if (name == NULL || PySet_Add(terminal, name) < 0) Py_CLEAR(terminal);
    Py_XDECREF(name);
  }
  if (terminal == NULL || PyModule_AddObjectRef(module, "TERMINAL", terminal) < 0) {
    Py_XDECREF(terminal);
    return -1;
  }
  Py_DECREF(terminal);
  if (PyModule_AddStringConstant(module, "TASK_FUNC", FPQ_TASK_FUNC) < 0 ||
      PyModule_AddIntConstant(module, "ID_MAX", FPQ_ID_MAX) < 0 ||
      PyModule_AddIntConstant(module, "PIPELINE_MAX", FPQ_PIPELINE_MAX) < 0 ||
      PyModule_AddIntConstant(module, "RUN_MAX", FPQ_RUN_MAX) < 0)
    return -1;
  return 0;
}

static int native_traverse(PyObject *module, visitproc visit, void *arg) {
  native_state *st = module_state(module);
  Py_VISIT(st->queue_type);
  Py_VISIT(st->JobQueueError);
  Py_VISIT(st->InvalidInput);
  Py_VISIT(st->JobNotFound);
  Py_VISIT(st->BackendUnavailable);
  Py_VISIT(st->JobTimeout);
  return 0;
}

static int native_clear(PyObject *module) {
  native_state *st = module_state(module);
  Py_CLEAR(st->queue_type);
  Py_CLEAR(st->JobQueueError);
  Py_CLEAR(st->InvalidInput);
  Py_CLEAR(st->JobNotFound);
  Py_CLEAR(st->BackendUnavailable);
  Py_CLEAR(st->JobTimeout);
  return 0;
}

static void native_free(void *module) { native_clear((PyObject *)module); }

static PyModuleDef_Slot native_slots[] = {
    {Py_mod_exec, native_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* All state is per module; libfpq's own globals (the backend registry) are locked. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}};

PyDoc_STRVAR(native_doc,
"The C engine of flowerpower-job-queue (libfpq), for the Python API in manager.py.\n"
"\n"
"Example:\n"
"    >>> from flowerpower_job_queue import _native\n"
"    >>> _native.PRIORITIES\n"
"    ('high', 'medium', 'low')");

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "flowerpower_job_queue._native",
    .m_doc = native_doc,
    .m_size = sizeof(native_state),
    .m_methods = native_methods,
    .m_slots = native_slots,
    .m_traverse = native_traverse,
    .m_clear = native_clear,
    .m_free = native_free,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModuleDef_Init(&native_module); }
