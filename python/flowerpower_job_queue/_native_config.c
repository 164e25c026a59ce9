/* _native_config.c: what the engine decides for Python without a queue: a project's
 * resolved settings (name, queues, backend, url, conf keys), whether a job's project is
 * one a directory serves, and the retry rule. Python asks; it never decides these. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_native.h"

const char resolve_config_doc[] =
"resolve_config(project_dir=None, backend=None, url=None) -> dict\n"
"\n"
"The settings fpq_open would use, resolved by the engine without connecting (flags >\n"
"FPQ_* environment > conf/job_queue.yml > defaults): project_dir, project_name (the\n"
"name jobs carry), queues (the high, default and low queues' names), backend, url, and\n"
"settings, every key of conf/job_queue.yml (dotted) with its value, the environment's\n"
"FPQ_<KEY> winning. Raises InvalidInput naming the bad setting (its `field`).\n"
"\n"
"Example:\n"
"    >>> _native.resolve_config('/srv/etl')['backend']\n"
"    'sqlite'";

/* The engine's settings for a project (dir: a path_or_none result, released here), or
 * NULL with InvalidInput/... set naming the bad setting. The caller frees with
 * fpq_config_free. */
static fpq_config *resolved(PyObject *module, PyObject *dir, const char *backend,
                            const char *url) {
  fpq_options opts = {.project_dir = dir ? PyBytes_AsString(dir) : NULL, .backend = backend,
                      .url = url};
  fpq_config *c = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = fpq_config_resolve(&c, &opts);
  Py_END_ALLOW_THREADS
  Py_XDECREF(dir);
  if (rc == 0) return c;
  raise_code_field(module_state(module), rc, fpq_config_errmsg(c), fpq_config_errfield(c));
  fpq_config_free(c);
  return NULL;
}

PyObject *native_resolve_config(PyObject *module, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project_dir", "backend", "url", NULL};
  PyObject *dir = NULL;
  const char *backend = NULL, *url = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O&zz:resolve_config", kwlist, path_or_none,
                                   &dir, &backend, &url))
    return NULL;
  fpq_config *c = resolved(module, dir, backend, url);
  PyObject *d = NULL, *settings = NULL;
  if (c == NULL) return NULL;
  settings = PyDict_New();
  for (size_t i = 0; settings && fpq_config_key(c, i); i++) {
    const char *key = fpq_config_key(c, i);
    if (put(settings, key, str_or_none(fpq_config_get(c, key))) < 0) Py_CLEAR(settings);
  }
  if (settings == NULL) goto done;
  d = PyDict_New();
  if (d == NULL || put(d, "project_dir", PyUnicode_DecodeFSDefault(fpq_config_project_dir(c))) < 0 ||
      put(d, "backend", str_or_none(fpq_config_backend(c))) < 0 ||
      put(d, "url", str_or_none(fpq_config_url(c))) < 0 || put(d, "settings", Py_NewRef(settings)) < 0 ||
      put(d, "project_name", str_or_none(fpq_config_project_name(c))) < 0 ||
      put(d, "queues", Py_BuildValue("[sss]", fpq_config_queue(c, FPQ_PRIORITY_HIGH),
                                     fpq_config_queue(c, FPQ_PRIORITY_MEDIUM),
                                     fpq_config_queue(c, FPQ_PRIORITY_LOW))) < 0)
    Py_CLEAR(d);
done:
  Py_XDECREF(settings);
  fpq_config_free(c);
  return d;
}

const char project_serves_doc[] =
"project_serves(project, project_dir=None) -> bool\n"
"\n"
"Whether a job whose project field is `project` (None allowed) belongs to the project at\n"
"project_dir: its name, no name, or exactly its absolute directory (older records). The\n"
"engine's rule (fpq_config_serves); a job it refuses is never run or opened.\n"
"\n"
"Example:\n"
"    >>> _native.project_serves('etl', '/srv/etl')\n"
"    True";

PyObject *native_project_serves(PyObject *module, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project", "project_dir", NULL};
  PyObject *dir = NULL;
  const char *project = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "z|O&:project_serves", kwlist, &project,
                                   path_or_none, &dir))
    return NULL;
  fpq_config *c = resolved(module, dir, NULL, NULL);
  if (c == NULL) return NULL;
  PyObject *out = PyBool_FromLong(fpq_config_serves(c, project));
  fpq_config_free(c);
  return out;
}

const char retry_decision_doc[] =
"retry_decision(job, now) -> (status, run_at)\n"
"\n"
"The engine's retry rule for a job (a record dict) whose run failed or whose worker died:\n"
"'failed' once its attempts are used up, else 'scheduled' at now + the backoff\n"
"(retry_delay * 2**(attempts-1), jittered by jitter_factor), or 'queued' when that is 0.\n"
"run_at is None unless scheduled. Python backends call it from maintain().\n"
"\n"
"Example:\n"
"    >>> _native.retry_decision(job, time.time())\n"
"    ('scheduled', 1767225601.93)";

PyObject *native_retry_decision(PyObject *Py_UNUSED(module), PyObject *args) {
  PyObject *d;
  double now;
  if (!PyArg_ParseTuple(args, "Od:retry_decision", &d, &now)) return NULL;
  fpq_job *job = dict_to_job(d);
  if (job == NULL) return NULL;
  double run_at = 0;
  fpq_status status = fpq_retry_decision(job, now, &run_at);
  fpq_job_free(job);
  return Py_BuildValue("(sN)", fpq_status_name(status), time_or_none(run_at));
}

