/* _native_help.c: the fpq commands' help table (cli/help.c, compiled into this
 * extension too) as Python data, so the Typer CLI shows the very words `fpq --help`
 * shows: one text per command and option, written once. */
#include "_native.h"
#include "help.h"

/* A help text as one line: fpq breaks long texts with '\n' for its layout; Typer and
 * rich lay text out themselves. New reference, None for NULL. */
static PyObject *one_line(const char *text) {
  if (text == NULL) Py_RETURN_NONE;
  PyObject *raw = PyUnicode_FromString(text);
  if (raw == NULL) return NULL;
  PyObject *out = PyObject_CallMethod(raw, "replace", "ss", "\n", " ");
  Py_DECREF(raw);
  return out;
}

static PyObject *options_to_list(const cli_help_option *o) {
  PyObject *list = PyList_New(0);
  for (; list && o && o->flag; o++) {
    PyObject *d = PyDict_New();
    if (d == NULL || put(d, "flag", PyUnicode_FromString(o->flag)) < 0 ||
        put(d, "alias", str_or_none(o->alias)) < 0 ||
        put(d, "metavar", str_or_none(o->metavar)) < 0 || put(d, "help", one_line(o->help)) < 0 ||
        PyList_Append(list, d) < 0)
      Py_CLEAR(list);
    Py_XDECREF(d);
  }
  return list;
}

static PyObject *examples_to_list(const char *const *e) {
  PyObject *list = PyList_New(0);
  for (; list && e && *e; e++) {
    PyObject *s = PyUnicode_FromString(*e);
    if (s == NULL || PyList_Append(list, s) < 0) Py_CLEAR(list);
    Py_XDECREF(s);
  }
  return list;
}

static PyObject *help_to_dict(const cli_help *h) {
  PyObject *d = PyDict_New();
  if (d == NULL || put(d, "usage", str_or_none(h->usage)) < 0 ||
      put(d, "brief", one_line(h->brief)) < 0 || put(d, "summary", one_line(h->summary)) < 0 ||
      put(d, "notes", one_line(h->notes)) < 0 || put(d, "options", options_to_list(h->options)) < 0 ||
      put(d, "common", PyBool_FromLong(h->common)) < 0 ||
      put(d, "examples", examples_to_list(h->examples)) < 0) {
    Py_XDECREF(d);
    return NULL;
  }
  return d;
}

const char cli_help_doc[] =
    "cli_help() -> dict\n"
    "\n"
    "The help of every fpq command, as fpq --help shows it: {command: {usage, brief,\n"
    "summary, notes, options: [{flag, alias, metavar, help}], common, examples}}, with the\n"
    "command '' for fpq itself and 'common' for the options every command takes.\n"
    "\n"
    "Example:\n"
    "    >>> _native.cli_help()['enqueue']['options'][0]['flag']\n"
    "    '--priority'";

PyObject *native_cli_help(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored)) {
  size_t n = 0;
  const cli_help *all = cli_help_all(&n);
  PyObject *out = PyDict_New();
  for (size_t i = 0; out && i < n; i++)
    if (put(out, all[i].command, help_to_dict(&all[i])) < 0) Py_CLEAR(out);
  if (out && put(out, "common", options_to_list(cli_help_common())) < 0) Py_CLEAR(out);
  return out;
}
