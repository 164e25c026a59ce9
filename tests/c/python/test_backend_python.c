/* test_backend_python.c: the backend contract on a backend written in Python.
 *
 * The same suite the sqlite, rq and C plugin backends pass (helpers/backend_contract.c)
 * runs on examples/adapters/jsonl_adapter.py, through the very code the Python extension
 * uses to plug a QueueAdapter into the engine (_native_backend.c, _native_records.c,
 * compiled into this program). So this program embeds CPython: the venv's interpreter
 * (FPQ_PYTHON), which has the package installed. The contract's threads each take the
 * GIL in the backend's methods; the main thread holds it only to set up. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "_native.h"
#include "backend_contract.h"
#include "fpq.h"

/* A store per test project: the example keeps every record in this one file. */
static char *jsonl_url(const char *project_dir) {
  size_t len = strlen(project_dir) + 64;
  char *url = malloc(len);
  snprintf(url, len, "jsonl://%s/.flowerpower/jobs.jsonl", project_dir);
  return url;
}

/* Starts the venv's interpreter and registers the example adapter as backend "jsonl". */
static int start_python(void) {
  const char *python = getenv("FPQ_PYTHON");
  const char *source = getenv("FPQ_SOURCE_DIR");
  if (python == NULL || source == NULL) {
    fprintf(stderr, "test_backend_python: set FPQ_PYTHON and FPQ_SOURCE_DIR\n");
    return -1;
  }
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;
  PyStatus status = PyConfig_SetBytesString(&config, &config.executable, python);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    fprintf(stderr, "test_backend_python: cannot start %s: %s\n", python,
            status.err_msg ? status.err_msg : "?");
    return -1;
  }
  char code[4096];
  snprintf(code, sizeof code, "import sys; sys.path.insert(0, '%s/examples/adapters')", source);
  PyObject *cls = NULL, *module = NULL;
  int rc = -1;
  if (PyRun_SimpleString(code) != 0) goto done;
  module = PyImport_ImportModule("jsonl_adapter");
  cls = module ? PyObject_GetAttrString(module, "JsonlAdapter") : NULL;
  char err[512] = "";
  if (cls && python_backend_register("jsonl", cls, err, sizeof err) == 0) rc = 0;
  else if (cls) fprintf(stderr, "test_backend_python: %s\n", err);
done:
  if (PyErr_Occurred()) PyErr_Print();
  Py_XDECREF(cls);
  Py_XDECREF(module);
  return rc;
}

int main(void) {
  if (start_python() != 0) return 1;
  PyThreadState *main_thread = PyEval_SaveThread(); /* the backend's calls take the GIL */
  backend_contract c = {.backend = "jsonl", .make_url = jsonl_url, .no_dependencies = 1};
  int failed = backend_contract_run(&c);
  PyEval_RestoreThread(main_thread);
  Py_FinalizeEx();
  return failed;
}
