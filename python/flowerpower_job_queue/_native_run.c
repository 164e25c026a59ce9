/* _native_run.c: the engine's worker and scheduler, run inside this interpreter.
 *
 * `fpq worker start` and `fpq scheduler` are C programs with no Python in them; they run
 * every backend written in C. A backend written in Python can only be called from a
 * Python process, so for one of those the command line runs the very same worker and
 * scheduler (fpq_worker_run, fpq_scheduler_run) here, with the GIL released: the engine's
 * threads take it only for the moments they call the adapter (_native_backend.c).
 *
 * Both take over the process until they stop, as their programs do: they install their own
 * SIGTERM/SIGINT handlers (libuv's). Python's handlers are put back afterwards, so Ctrl-C
 * works again in the interpreter once the worker has stopped. */
#include <signal.h>
#include <string.h>

#include "_native.h"
#include "fpq_worker.h"

/* O& converter: None -> NULL, str -> its UTF-8 (borrowed from the str). */
static int text_or_none(PyObject *obj, void *out) {
  const char **text = out;
  if (obj == Py_None) {
    *text = NULL;
    return 1;
  }
  if (!PyUnicode_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "expected str or None, not %R", (PyObject *)Py_TYPE(obj));
    return 0;
  }
  *text = PyUnicode_AsUTF8AndSize(obj, NULL);
  return *text != NULL;
}

typedef struct saved_signals {
  struct sigaction term, interrupt;
} saved_signals;

static void save_signals(saved_signals *s) {
  sigaction(SIGTERM, NULL, &s->term);
  sigaction(SIGINT, NULL, &s->interrupt);
}

static void restore_signals(const saved_signals *s) {
  sigaction(SIGTERM, &s->term, NULL);
  sigaction(SIGINT, &s->interrupt, NULL);
}

const char run_worker_doc[] =
    "run_worker(project_dir=None, backend=None, url=None, *, count=1, queues=None,\n"
    "           burst=False, isolation=None, name=None, lease=0.0, timeout=0.0,\n"
    "           kill_grace=0.0, stop_grace=0.0, python=None, quiet=False, metrics_port=0,\n"
    "           metrics_host=None, with_scheduler=False) -> int\n"
    "\n"
    "Runs the engine's worker (what `fpq worker start` runs) in this process until it is\n"
    "stopped, and returns its exit code. Zero and None mean the worker's defaults. For\n"
    "backends written in Python; the others are better served by the fpq program.\n"
    "\n"
    "Example:\n"
    "    >>> _native.run_worker('/srv/etl', 'jsonl', burst=True)\n"
    "    0";

PyObject *native_run_worker(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project_dir", "backend", "url", "count", "queues", "burst",
                           "isolation", "name", "lease", "timeout", "kill_grace",
                           "stop_grace", "python", "quiet", "metrics_port", "metrics_host",
                           "with_scheduler", NULL};
  fpq_worker_options o;
  memset(&o, 0, sizeof o);
  o.open.create = 1;
  o.count = 1;
  if (!PyArg_ParseTupleAndKeywords(
          args, kwds, "|O&O&O&$iO&pO&O&ddddO&piO&p:run_worker", kwlist, text_or_none,
          &o.open.project_dir, text_or_none, &o.open.backend, text_or_none, &o.open.url,
          &o.count, text_or_none, &o.queues, &o.burst, text_or_none, &o.isolation,
          text_or_none, &o.name, &o.lease, &o.default_timeout, &o.kill_grace, &o.stop_grace,
          text_or_none, &o.python, &o.quiet, &o.metrics_port, text_or_none, &o.metrics_host,
          &o.with_scheduler))
    return NULL;
  saved_signals saved;
  save_signals(&saved);
  int code;
  Py_BEGIN_ALLOW_THREADS
  code = fpq_worker_run(&o);
  Py_END_ALLOW_THREADS
  restore_signals(&saved);
  return PyLong_FromLong(code);
}

const char run_scheduler_doc[] =
    "run_scheduler(project_dir=None, backend=None, url=None, *, name=None, tick=0.0,\n"
    "              lease_ttl=0.0, quiet=False, json=False, once=False) -> int\n"
    "\n"
    "Runs the engine's scheduler (what `fpq scheduler` runs) in this process until it is\n"
    "stopped (once: one tick), and returns its exit code.\n"
    "\n"
    "Example:\n"
    "    >>> _native.run_scheduler('/srv/etl', 'jsonl', once=True)\n"
    "    0";

PyObject *native_run_scheduler(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"project_dir", "backend", "url", "name", "tick", "lease_ttl",
                           "quiet", "json", "once", NULL};
  fpq_scheduler_options o;
  memset(&o, 0, sizeof o);
  o.open.create = 1;
  int once = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O&O&O&$O&ddppp:run_scheduler", kwlist,
                                   text_or_none, &o.open.project_dir, text_or_none,
                                   &o.open.backend, text_or_none, &o.open.url, text_or_none,
                                   &o.name, &o.tick, &o.lease_ttl, &o.quiet, &o.json, &once))
    return NULL;
  saved_signals saved;
  save_signals(&saved);
  int code;
  Py_BEGIN_ALLOW_THREADS
  code = fpq_scheduler_run(&o, once);
  Py_END_ALLOW_THREADS
  restore_signals(&saved);
  return PyLong_FromLong(code);
}
