/* _native_schedules.c: the schedule methods of _native.Queue and the trigger functions of
 * the module, over fpq.h's schedule API. Thin like the rest of the extension: convert,
 * call with the GIL released (WITH_HANDLE), convert back; scheduling.py does the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_native.h"

/* ---- conversions ---- */

static PyObject *fires_to_list(const int64_t *fires, size_t n) {
  PyObject *list = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; list != NULL && i < n; i++) {
    PyObject *v = PyLong_FromLongLong((long long)fires[i]);
    if (v == NULL) {
      Py_CLEAR(list);
      break;
    }
    (void)PyList_SetItem(list, (Py_ssize_t)i, v); /* steals; cannot fail here */
  }
  return list;
}

/* ---- Queue methods ---- */

const char schedule_put_doc[] =
    "schedule_put(pipeline, trigger=None, *, run_config_json=None, run_kwargs_json=None,\n"
    "             run_json=None, timezone=None, priority=None, schedule_id=None, misfire_grace=0.0,\n"
    "             coalesce=True, paused=False, max_retries=-1, timeout=0.0,\n"
    "             inputs_json=None) -> dict\n"
    "\n"
    "Validates and stores a schedule (an existing schedule_id is replaced, keeping its\n"
    "history) and returns it as schedule_get does. trigger is cron text ('0 2 * * *', six\n"
    "fields with seconds first, @daily, 'every 15m', 'at <ISO 8601>'); None takes the run\n"
    "config's 'schedule'. run_config_json is a FlowerPower RunConfig as a JSON object,\n"
    "applied over run_json, and run_kwargs_json (run()'s keyword arguments) over that as\n"
    "enqueue applies it. Raises InvalidInput naming the bad field (nothing written).\n"
    "\n"
    "Example:\n"
    "    >>> q.schedule_put('etl', '0 2 * * *', timezone='Europe/Berlin')['next_fire']\n"
    "    1767229200";

PyObject *Queue_schedule_put(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"pipeline", "trigger", "run_config_json", "run_kwargs_json",
                           "run_json", "timezone", "priority", "schedule_id", "misfire_grace", "coalesce", "paused",
                           "max_retries", "timeout", "inputs_json", NULL};
  const char *pipeline, *trigger = NULL, *run_config_json = NULL, *run_kwargs_json = NULL,
             *run_json = NULL, *timezone = NULL, *priority = NULL, *schedule_id = NULL, *inputs_json = NULL;
  double misfire_grace = 0, timeout = 0;
  int coalesce = 1, paused = 0, max_retries = -1;
  char err[ERR_MAX] = "";
  PyObject *result = NULL;
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|z$zzzzzzdppidz:schedule_put", kwlist,
                                   &pipeline, &trigger, &run_config_json, &run_kwargs_json,
                                   &run_json, &timezone,
                                   &priority, &schedule_id, &misfire_grace, &coalesce, &paused,
                                   &max_retries, &timeout, &inputs_json))
    return NULL;
  fpq_schedule *s = fpq_schedule_new();
  if (s == NULL) return PyErr_NoMemory();
  if (fpq_job_set(&s->pipeline, pipeline) || (trigger && fpq_job_set(&s->trigger, trigger)) ||
      (timezone && fpq_job_set(&s->timezone, timezone)) ||
      (run_json && fpq_job_set(&s->run_json, run_json))) {
    PyErr_NoMemory();
    goto done;
  }
  if (run_config_json && fpq_schedule_apply_run_config(s, run_config_json, err, sizeof err)) {
    raise_code_field(st, FPQ_EINVAL, err, "run_config");
    goto done;
  }
  if (run_kwargs_json && fpq_schedule_apply_run_kwargs(s, run_kwargs_json, err, sizeof err)) {
    raise_code_field(st, FPQ_EINVAL, err, "run_config");
    goto done;
  }
  if (inputs_json && fpq_schedule_merge_inputs(s, inputs_json, err, sizeof err)) {
    raise_code_field(st, FPQ_EINVAL, err, "inputs");
    goto done;
  }
  if (s->trigger == NULL) {
    raise_code(st, FPQ_EINVAL, "no schedule given: expected a cron expression like '0 2 * * *'");
    goto done;
  }
  if (priority && fpq_priority_parse(priority, &s->priority)) {
    raise_format(st, FPQ_EINVAL, "priority '%s' is not known: expected high, medium or low",
                 priority);
    goto done;
  }
  if (schedule_id) {
    if (schedule_id[0] == '\0' || strlen(schedule_id) > FPQ_SCHEDULE_ID_MAX ||
        fpq_validate_id(schedule_id, err, sizeof err)) {
      raise_format(st, FPQ_EINVAL, "schedule id '%s' is not valid: expected 1-%d of A-Z a-z "
                   "0-9 _ -", schedule_id, FPQ_SCHEDULE_ID_MAX);
      goto done;
    }
    snprintf(s->id, sizeof s->id, "%s", schedule_id);
  }
  s->misfire_grace = misfire_grace;
  s->coalesce = coalesce;
  s->paused = paused;
  if (max_retries != -1) s->max_retries = max_retries;
  if (timeout != 0) s->timeout = timeout;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_schedule_put(self->q, s));
  if (rc != 0) raise_code(st, rc, err);
  else result = schedule_to_dict(s);
done:
  fpq_schedule_free(s);
  return result;
}

const char schedule_get_doc[] =
    "schedule_get(id) -> dict\n"
    "\n"
    "The schedule with that id: every fpq_schedule field, fire times as int epoch seconds\n"
    "(None when unset: next_fire None means it fires no more). Raises JobNotFound.\n"
    "\n"
    "Example:\n"
    "    >>> q.schedule_get('nightly')['trigger']\n"
    "    '0 2 * * *'";

PyObject *Queue_schedule_get(QueueObject *self, PyObject *args) {
  const char *id;
  fpq_schedule *s = NULL;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, "s:schedule_get", &id)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_schedule_get(self->q, id, &s));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *d = schedule_to_dict(s);
  fpq_schedule_free(s);
  return d;
}

const char schedule_list_doc[] =
    "schedule_list(project_dir=None) -> list[dict]\n"
    "\n"
    "The schedules of a project (default: this handle's), by id, as schedule_get returns\n"
    "them.\n"
    "\n"
    "Example:\n"
    "    >>> [s['id'] for s in q.schedule_list()]\n"
    "    ['nightly']";

PyObject *Queue_schedule_list(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project_dir", NULL};
  const char *project = NULL;
  fpq_schedule **list = NULL;
  size_t n = 0;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|z:schedule_list", kwlist, &project))
    return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_schedule_list(self->q, project, &list, &n));
  if (rc != 0) return raise_code(st, rc, err);
  PyObject *out = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; out != NULL && i < n; i++) {
    PyObject *d = schedule_to_dict(list[i]);
    if (d == NULL) {
      Py_CLEAR(out);
      break;
    }
    (void)PyList_SetItem(out, (Py_ssize_t)i, d); /* steals; cannot fail here */
  }
  fpq_schedules_free(list, n);
  return out;
}

/* remove, pause, resume: one id in, None out. */
static PyObject *by_id(QueueObject *self, PyObject *args, const char *format,
                       int (*call)(fpq_queue *, const char *)) {
  const char *id;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTuple(args, format, &id)) return NULL;
  int rc;
  WITH_HANDLE(self, rc, err, rc = call(self->q, id));
  if (rc != 0) return raise_code(st, rc, err);
  Py_RETURN_NONE;
}

const char schedule_remove_doc[] =
    "schedule_remove(id) -> None\n\nDeletes a schedule (its jobs stay). Raises JobNotFound.\n"
    "\nExample:\n    >>> q.schedule_remove('nightly')";
const char schedule_pause_doc[] =
    "schedule_pause(id) -> None\n\nStops a schedule firing. Raises JobNotFound.\n"
    "\nExample:\n    >>> q.schedule_pause('nightly')";
const char schedule_resume_doc[] =
    "schedule_resume(id) -> None\n\nFires a paused schedule again from now on (missed fires\n"
    "are not made up). Raises JobNotFound.\n\nExample:\n    >>> q.schedule_resume('nightly')";

PyObject *Queue_schedule_remove(QueueObject *self, PyObject *args) {
  return by_id(self, args, "s:schedule_remove", fpq_schedule_remove);
}

PyObject *Queue_schedule_pause(QueueObject *self, PyObject *args) {
  return by_id(self, args, "s:schedule_pause", fpq_schedule_pause);
}

PyObject *Queue_schedule_resume(QueueObject *self, PyObject *args) {
  return by_id(self, args, "s:schedule_resume", fpq_schedule_resume);
}

const char schedule_next_doc[] =
    "schedule_next(id, n=5) -> list[int]\n"
    "\n"
    "The schedule's next n fire times as epoch seconds (fewer when it ends).\n"
    "\n"
    "Example:\n"
    "    >>> q.schedule_next('nightly', 2)\n"
    "    [1767229200, 1767315600]";

#define NEXT_MAX 10000

PyObject *Queue_schedule_next(QueueObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"id", "n", NULL};
  const char *id;
  int n = 5;
  char err[ERR_MAX] = "";
  native_state *st = type_state(Py_TYPE((PyObject *)self));
  if (st == NULL) return NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|i:schedule_next", kwlist, &id, &n))
    return NULL;
  if (n < 1 || n > NEXT_MAX)
    return raise_format(st, FPQ_EINVAL, "n %d is out of range: expected 1 to %d", n, NEXT_MAX);
  int64_t *fires = PyMem_Calloc((size_t)n, sizeof *fires);
  if (fires == NULL) return PyErr_NoMemory();
  size_t count = 0;
  int rc;
  WITH_HANDLE(self, rc, err, rc = fpq_schedule_next_fires(self->q, id, fires, (size_t)n, &count));
  PyObject *out = rc ? raise_code(st, rc, err) : fires_to_list(fires, count);
  PyMem_Free(fires);
  return out;
}

/* ---- module functions ---- */

const char next_fires_doc[] =
    "next_fires(trigger, timezone=None, n=5, after=0, anchor=0) -> list[int]\n"
    "\n"
    "The next n fire times of a trigger strictly after `after` (epoch seconds), without a\n"
    "backend; anchor is the phase of an 'every' interval. Raises InvalidInput naming the bad\n"
    "field.\n"
    "\n"
    "Example:\n"
    "    >>> next_fires('0 2 * * *', 'Europe/Berlin', 2, after=1767225600)\n"
    "    [1767229200, 1767315600]";

PyObject *native_next_fires(PyObject *module, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"trigger", "timezone", "n", "after", "anchor", NULL};
  const char *trigger, *timezone = NULL;
  int n = 5;
  long long after = 0, anchor = 0;
  char err[ERR_MAX] = "";
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|ziLL:next_fires", kwlist, &trigger, &timezone,
                                   &n, &after, &anchor))
    return NULL;
  if (n < 1 || n > NEXT_MAX)
    return raise_format(module_state(module), FPQ_EINVAL, "n %d is out of range: expected 1 to %d",
                        n, NEXT_MAX);
  int64_t *fires = PyMem_Calloc((size_t)n, sizeof *fires);
  if (fires == NULL) return PyErr_NoMemory();
  size_t count = 0;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = fpq_next_fires(trigger, timezone, anchor, after, fires, (size_t)n, &count, err, sizeof err);
  Py_END_ALLOW_THREADS
  PyObject *out = rc ? raise_code(module_state(module), rc, err) : fires_to_list(fires, count);
  PyMem_Free(fires);
  return out;
}

const char validate_trigger_doc[] =
    "validate_trigger(trigger, timezone=None) -> None\n"
    "\n"
    "Raises InvalidInput naming the bad field of a trigger or zone, e.g. \"minute field '60':\n"
    "value out of range 0-59\".\n"
    "\n"
    "Example:\n"
    "    >>> validate_trigger('*/15 9-17 * * MON-FRI', 'Europe/Berlin')";

PyObject *native_validate_trigger(PyObject *module, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"trigger", "timezone", NULL};
  const char *trigger, *timezone = NULL;
  char err[ERR_MAX] = "";
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|z:validate_trigger", kwlist, &trigger,
                                   &timezone))
    return NULL;
  if (fpq_trigger_validate(trigger, timezone, err, sizeof err))
    return raise_code(module_state(module), FPQ_EINVAL, err);
  Py_RETURN_NONE;
}

const char schedule_json_doc[] =
    "schedule_json(schedule) -> str\n"
    "\n"
    "A schedule record (a dict as Queue.schedule_get returns it) in the JSON form\n"
    "`fpq schedules list --json` prints.\n"
    "\n"
    "Example:\n"
    "    >>> json.loads(_native.schedule_json(q.schedule_get('nightly')))['trigger']\n"
    "    '0 2 * * *'";

PyObject *native_schedule_json(PyObject *Py_UNUSED(module), PyObject *args) {
  PyObject *d;
  if (!PyArg_ParseTuple(args, "O:schedule_json", &d)) return NULL;
  fpq_schedule *s = dict_to_schedule(d);
  if (s == NULL) return NULL;
  char *text = fpq_schedule_to_json(s);
  fpq_schedule_free(s);
  if (text == NULL) return PyErr_NoMemory();
  PyObject *out = str_or_none(text);
  free(text);
  return out;
}
