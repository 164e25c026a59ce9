/* help.h: every fpq command's help as data: its usage line, what it does, its options
 * and examples, in one table (help.c). `fpq ... --help` is rendered from it (main.c), and
 * the Python extension compiles help.c too and hands the same texts to the Typer CLI,
 * so the two command lines cannot drift apart. help.c needs nothing but libc.
 *
 * Texts are written as fpq prints them: '\n' breaks a long text into lines of fpq's
 * layout; a renderer with its own layout (Typer, rich) joins them with a space. */
#ifndef FPQ_CLI_HELP_H
#define FPQ_CLI_HELP_H

#include <stddef.h>

typedef struct cli_help_option {
  const char *flag;    /* "--priority", "-n" */
  const char *alias;   /* another spelling shown before it ("-h" for --help), or NULL */
  const char *metavar; /* what its value is, "P", or NULL for a switch */
  const char *help;    /* e.g. "high, medium (default) or low" */
} cli_help_option;

typedef struct cli_help {
  /* "enqueue", "worker start", "schedules next"; "" is fpq itself. An entry whose
   * command is another's plus one word is listed in that one (a group): "worker start" in
   * "worker", "worker" and every other one-word command in "". */
  const char *command;
  const char *usage;   /* "fpq enqueue PIPELINE [OPTIONS]" */
  const char *label;   /* how its group lists it: "enqueue PIPELINE", "remove ID" */
  const char *brief;   /* its line in that list: "queue a run of a pipeline; prints ..." */
  const char *summary; /* what it does, in sentences: "Queue one run of PIPELINE ..." */
  const cli_help_option *options; /* its own options, ended by a {NULL} entry; NULL: none */
  int common;          /* 1: it also takes the common options (cli_help_common) */
  const char *notes;   /* a paragraph after the options (the environment it reads); NULL */
  /* Command lines beginning with "fpq ", ended by NULL. NULL for a group: its members'
   * examples are its examples. fpq itself has one example script of several lines. */
  const char *const *examples;
} cli_help;

/* The entry of a command ("worker start"; "" for fpq itself), or NULL. Static. */
const cli_help *cli_help_find(const char *command);
/* Every entry, in the order fpq lists them; *n gets how many. Static. */
const cli_help *cli_help_all(size_t *n);
/* The options every command with `common` takes: --project, --backend, --url, --json,
 * -h/--help; ended by a {NULL} entry. Static. */
const cli_help_option *cli_help_common(void);
/* 1 when group ("worker"; "" for fpq itself) lists h: h's command is group's plus one
 * word. */
int cli_help_in_group(const cli_help *h, const char *group);

#endif /* FPQ_CLI_HELP_H */
