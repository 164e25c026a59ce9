/* _native_enqueue.c: the enqueue methods of _native.Queue (one job, a batch, JSON Lines).
 * Each job is built from enqueue's keyword arguments by one function (build_job), so a
 * batch reads its items exactly as enqueue reads its arguments; the engine decides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_native.h"

const char enqueue_doc[] =
"enqueue(pipeline, *, run_config_json=None, run_kwargs_json=None, run_json=None,\n"
"        inputs_json=None, priority=None, job_id=None, run_at=0.0, timeout=0.0, max_retries=-1,\n"
"        retry_delay=-1.0, jitter_factor=-1.0, result_ttl=None, failure_ttl=None,\n"
"        depends_on=None, on_success=None, on_failure=None, on_stopped=None) -> str\n"
"\n"
"Validates and stores one job; returns its id. run_json is the stored run() keyword\n"
"arguments as a JSON object; run_config_json is a FlowerPower RunConfig as a JSON object,\n"
"applied over it (fpq_job_apply_run_config: retry block -> the queue's retry policy,\n"
"executor -> executor_cfg, priority); run_kwargs_json, run()'s keyword arguments as a\n"
"JSON object, goes over that by FlowerPower's rule (fpq_job_apply_run_kwargs: dict\n"
"options merge key by key); inputs_json, a JSON object of pipeline inputs, is\n"
"merged over the inputs (fpq_job_merge_inputs, what --inputs does). The other arguments\n"
"override all of them; their defaults\n"
"mean 'not given' (priority: medium unless the run config says; retries: the pipeline's\n"
"YAML; run_at 0: now; timeout 0: the worker's default; result_ttl/failure_ttl None: the\n"
"project's retention, else seconds or text as fpq_parse_ttl reads it: '7d', 0, -1).\n"
"depends_on, a list of job ids, makes the job wait (deferred) until they have all\n"
"finished (fpq enqueue --after). on_success/on_failure/on_stopped are callback\n"
"references ('package.module:function'), checked for shape by the engine\n"
"(fpq_validate_callback); whether they import is the caller's check.\n"
"Raises InvalidInput (nothing\n"
"written) for bad input, BackendUnavailable when the backend cannot be reached.\n"
"\n"
"Example:\n"
"    >>> q.enqueue('hello', run_json='{\"inputs\": {\"x\": 1}}', priority='high')\n"
"    '6f1c2a9e-...'";

/* A retention argument: None leaves *ttl alone; a number or text goes through the
 * engine's reader (fpq_parse_ttl), so "7d", 604800 and -1 mean what they mean to fpq. */
static int read_ttl(native_state *st, const char *name, PyObject *value, double *ttl) {
  if (value == Py_None) return 0;
  PyObject *text = NULL;
  if (PyLong_Check(value) || PyFloat_Check(value)) text = PyObject_Repr(value);
  else if (PyUnicode_Check(value)) text = Py_NewRef(value);
  const char *t = text ? PyUnicode_AsUTF8AndSize(text, NULL) : NULL;
  char msg[ERR_MAX], err[ERR_MAX];
  if (t && fpq_parse_ttl(t, ttl, msg, sizeof msg) == 0) {
    Py_DECREF(text);
    return 0;
  }
  Py_XDECREF(text);
  if (PyErr_Occurred()) return -1;
  PyObject *shown = PyObject_Repr(value);
  snprintf(err, sizeof err, "%s %s is not a retention: expected seconds or a duration like "
           "'7d', 0 (keep none) or -1 (keep forever)", name,
           shown && PyUnicode_AsUTF8AndSize(shown, NULL) ? PyUnicode_AsUTF8AndSize(shown, NULL) : "?");
  Py_XDECREF(shown);
  PyErr_Clear();
  raise_code_field(st, FPQ_EINVAL, err, name);
  return -1;
}

/* depends_on: a list (or any sequence, not text) of job ids, each added through the
 * engine (fpq_job_add_dependency), which checks it. */
static int read_depends_on(native_state *st, PyObject *depends_on, fpq_job *job) {
  if (PyUnicode_Check(depends_on) || !PySequence_Check(depends_on)) {
    raise_format(st, FPQ_EINVAL, "depends_on %R is not a list of job ids", depends_on);
    return -1;
  }
  Py_ssize_t n = PySequence_Size(depends_on);
  if (n < 0) return -1;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_GetItem(depends_on, i);
    if (item == NULL) return -1;
    const char *id = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, NULL) : NULL;
    char err[ERR_MAX] = "";
    int rc = id ? fpq_job_add_dependency(job, id, err, sizeof err) : FPQ_EINVAL;
    if (rc != 0 && !PyErr_Occurred()) {
      if (id == NULL) raise_format(st, FPQ_EINVAL, "depends_on item %R is not a job id string", item);
      else raise_code_field(st, rc, err, "depends_on");
    }
    Py_DECREF(item);
    if (rc != 0 || PyErr_Occurred()) return -1;
  }
  return 0;
}

/* Builds the job enqueue's arguments describe (*out, the caller frees it) or raises. One
 * builder for enqueue and enqueue_many, so a batch's jobs are exactly what single
 * enqueues would store. */
static int build_job(native_state *st, PyObject *args, PyObject *kwds, fpq_job **out) {
  static char *kwlist[] = {"pipeline", "run_config_json", "run_kwargs_json", "run_json",
                           "inputs_json", "priority", "job_id", "run_at", "timeout", "max_retries",
                           "retry_delay", "jitter_factor", "result_ttl", "failure_ttl",
                           "depends_on", "on_success", "on_failure", "on_stopped", NULL};
  const char *pipeline, *run_config_json = NULL, *run_kwargs_json = NULL, *run_json = NULL,
             *inputs_json = NULL, *job_id = NULL, *on_success = NULL, *on_failure = NULL, *on_stopped = NULL;
  PyObject *priority = Py_None, *depends_on = Py_None;
  double run_at = 0, timeout = 0, retry_delay = -1, jitter_factor = -1;
  PyObject *result_ttl = Py_None, *failure_ttl = Py_None;
  int max_retries = -1;
  fpq_job *job = NULL;
  char err[ERR_MAX] = "";
  *out = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|$zzzzOzddiddOOOzzz:enqueue", kwlist,
                                   &pipeline, &run_config_json, &run_kwargs_json, &run_json,
                                   &inputs_json,
                                   &priority, &job_id, &run_at, &timeout, &max_retries,
                                   &retry_delay, &jitter_factor, &result_ttl, &failure_ttl,
                                   &depends_on, &on_success, &on_failure, &on_stopped))
    return -1;
  job = fpq_job_new();
  if (job == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  if (fpq_job_set(&job->pipeline, pipeline) != 0 ||
      (run_json && fpq_job_set(&job->run_json, run_json) != 0)) {
    PyErr_NoMemory();
    goto error;
  }
  if (run_config_json) {
    int rc = fpq_job_apply_run_config(job, run_config_json, err, sizeof err);
    if (rc != 0) {
      raise_code_field(st, rc, err, "run_config");
      goto error;
    }
  }
  if (run_kwargs_json) {
    int rc = fpq_job_apply_run_kwargs(job, run_kwargs_json, err, sizeof err);
    if (rc != 0) {
      raise_code_field(st, rc, err, "run_config");
      goto error;
    }
  }
  if (inputs_json) {
    int rc = fpq_job_merge_inputs(job, inputs_json, err, sizeof err);
    if (rc != 0) {
      raise_code_field(st, rc, err, "inputs");
      goto error;
    }
  }
  if (priority != Py_None) {
    const char *name = PyUnicode_Check(priority) ? PyUnicode_AsUTF8AndSize(priority, NULL) : NULL;
    if (name == NULL && PyErr_Occurred()) goto error;
    if (name == NULL || fpq_priority_parse(name, &job->priority) != 0) {
      raise_format(st, FPQ_EINVAL, "priority %R is not known: expected high, medium or low",
                   priority);
      goto error;
    }
    fpq_job_set(&job->queue, NULL); /* enqueue fills in the priority's queue */
  }
  if (job_id) {
    if (fpq_validate_id(job_id, err, sizeof err) != 0) {
      raise_code(st, FPQ_EINVAL, err);
      goto error;
    }
    snprintf(job->id, sizeof job->id, "%s", job_id);
  }
  if (run_at != 0) job->run_at = run_at;
  if (timeout != 0) job->timeout = timeout;
  if (max_retries != -1) job->max_retries = max_retries;
  if (retry_delay != -1) job->retry_delay = retry_delay;
  if (jitter_factor != -1) job->jitter_factor = jitter_factor;
  if (read_ttl(st, "result_ttl", result_ttl, &job->result_ttl) ||
      read_ttl(st, "failure_ttl", failure_ttl, &job->failure_ttl))
    goto error;
  if (depends_on != Py_None && read_depends_on(st, depends_on, job)) goto error;
  /* Checked with the rest of the job by fpq_enqueue (fpq_validate_callback). */
  if (fpq_job_set(&job->on_success, on_success) || fpq_job_set(&job->on_failure, on_failure) ||
      fpq_job_set(&job->on_stopped, on_stopped)) {
    PyErr_NoMemory();
    goto error;
  }
  *out = job;
  return 0;
error:
  fpq_job_free(job);
  return -1;
}

PyObject *Queue_enqueue(QueueObject *self, PyObject *args, PyObject *kwds) {
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  fpq_job *job = NULL;
  if (st == NULL || build_job(st, args, kwds, &job) != 0) return NULL;
  int rc;
  char err[ERR_MAX] = "";
  WITH_HANDLE(self, rc, err, rc = fpq_enqueue(self->q, job));
  PyObject *result = rc ? raise_code(st, rc, err) : PyUnicode_FromString(job->id);
  fpq_job_free(job);
  return result;
}

const char enqueue_many_doc[] =
"enqueue_many(jobs) -> list[str]\n"
"\n"
"Validates and stores a batch (fpq_enqueue_many): jobs is a sequence of dicts of\n"
"enqueue's keyword arguments (with 'pipeline'). Every job is checked before any is\n"
"stored; a bad one raises with a message beginning 'jobs[I]: ' and nothing is written.\n"
"One transaction on SQLite, one pipelined round trip on rq. Returns the ids in order.\n"
"\n"
"Example:\n"
"    >>> q.enqueue_many([{'pipeline': 'hello'}, {'pipeline': 'hello', 'priority': 'high'}])\n"
"    ['6f1c2a9e-...', '0b7d...']";

/* Puts "jobs[I]: " before the message of the exception being raised (message and
 * args alike), keeping its type, code and field. */
static void prefix_error(Py_ssize_t i) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject *text = value ? PyObject_Str(value) : NULL;
  PyObject *message = text ? PyUnicode_FromFormat("jobs[%zd]: %U", i, text) : NULL;
  PyObject *new_args = message ? PyTuple_Pack(1, message) : NULL;
  if (new_args == NULL || PyObject_SetAttrString(value, "args", new_args) < 0 ||
      (PyObject_HasAttrString(value, "message") &&
       PyObject_SetAttrString(value, "message", message) < 0))
    PyErr_Clear(); /* the original, unprefixed, is still right */
  Py_XDECREF(new_args);
  Py_XDECREF(message);
  Py_XDECREF(text);
  PyErr_Restore(type, value, tb);
}

/* The ids of stored jobs, in order, as a list of str (NULL with an exception set). */
static PyObject *ids_of(fpq_job *const *jobs, size_t n) {
  PyObject *ids = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; ids && i < n; i++) {
    PyObject *id = PyUnicode_FromString(jobs[i]->id);
    if (id == NULL || PyList_SetItem(ids, (Py_ssize_t)i, id) < 0) Py_CLEAR(ids);
  }
  return ids;
}

PyObject *Queue_enqueue_many(QueueObject *self, PyObject *items) {
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (PyUnicode_Check(items) || PyDict_Check(items) || !PySequence_Check(items))
    return raise_format(st, FPQ_EINVAL, "jobs %R is not a list of dicts of enqueue's "
                        "arguments", items);
  Py_ssize_t n = PySequence_Size(items);
  if (n < 0) return NULL;
  fpq_job **jobs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *jobs);
  PyObject *empty = PyTuple_New(0), *result = NULL;
  if (jobs == NULL || empty == NULL) {
    PyErr_NoMemory();
    goto done;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_GetItem(items, i);
    if (item == NULL) goto done;
    int bad = !PyDict_Check(item);
    if (bad) raise_format(st, FPQ_EINVAL, "%R is not a dict of enqueue's arguments", item);
    else bad = build_job(st, empty, item, &jobs[i]);
    Py_DECREF(item);
    if (bad) {
      prefix_error(i);
      goto done;
    }
  }
  int rc;
  size_t failed = 0;
  char err[ERR_MAX] = "";
  WITH_HANDLE(self, rc, err, rc = fpq_enqueue_many(self->q, jobs, (size_t)n, &failed));
  if (rc != 0) {
    raise_code(st, rc, err);
    goto done;
  }
  result = ids_of(jobs, (size_t)n);
done:
  for (Py_ssize_t i = 0; jobs && i < n; i++) fpq_job_free(jobs[i]);
  PyMem_Free(jobs);
  Py_XDECREF(empty);
  return result;
}

const char enqueue_jsonl_doc[] =
"enqueue_jsonl(text) -> list[str]\n"
"\n"
"Batch enqueue from JSON Lines (fpq_enqueue_jsonl, what `fpq enqueue --from-file` does):\n"
"one job object per line with the keys the fpq enqueue options have (pipeline, inputs,\n"
"run_config, priority, job_id, at, in, timeout, ...). A bad line raises InvalidInput\n"
"beginning 'line N: ' and nothing is written. Returns the ids in file order.\n"
"\n"
"Example:\n"
"    >>> q.enqueue_jsonl('{\"pipeline\": \"hello\"}\\n')\n"
"    ['6f1c2a9e-...']";

PyObject *Queue_enqueue_jsonl(QueueObject *self, PyObject *arg) {
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  Py_ssize_t len = 0;
  const char *text = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &len) : NULL;
  if (text == NULL) {
    if (!PyErr_Occurred())
      raise_format(st, FPQ_EINVAL, "%R is not text of JSON Lines", arg);
    return NULL;
  }
  fpq_job **jobs = NULL;
  size_t n = 0;
  int rc;
  char err[ERR_MAX] = "";
  /* The text stays alive (arg is borrowed for the call) while the GIL is released. */
  WITH_HANDLE(self, rc, err, rc = fpq_enqueue_jsonl(self->q, text, (size_t)len, &jobs, &n));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *result = ids_of(jobs, n);
  fpq_jobs_free(jobs, n);
  return result;
}

