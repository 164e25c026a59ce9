/* cli.h: what the `fpq` commands share: common options, exit codes, opening the queue,
 * and output helpers. */
#ifndef FPQ_CLI_H
#define FPQ_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "fpq.h"

/* Exit codes (DESIGN.md section 7). */
enum { EXIT_DONE = 0, EXIT_NOT_DONE = 1, EXIT_BAD_INPUT = 2, EXIT_UNAVAILABLE = 3 };

/* Options every command takes. */
typedef struct cli_common {
  const char *project;
  const char *backend;
  const char *url;
  int json;
} cli_common;

/* getopt_long ids of the common options (above any short option character). */
enum { OPT_PROJECT = 1000, OPT_BACKEND, OPT_URL, OPT_JSON, OPT_HELP };

#define CLI_COMMON_OPTIONS                                    \
  {"project", required_argument, NULL, OPT_PROJECT},          \
  {"backend", required_argument, NULL, OPT_BACKEND},          \
  {"url", required_argument, NULL, OPT_URL},                  \
  {"json", no_argument, NULL, OPT_JSON},                      \
  {"help", no_argument, NULL, 'h'}

/* Handles a common option; returns 1 when it was one. */
int cli_common_option(cli_common *c, int opt, const char *arg);
/* Opens the queue; on failure prints the reason and returns NULL with *exit_code set.
 * A SQLite database is created by the first write; reads of one that does not exist
 * yet answer "nothing" without creating it. */
fpq_queue *cli_open(const cli_common *c, int *exit_code);
/* The same for a read-only command: a backend only the project's conf names as code to
 * load (a plugin, an adapter) is refused, not loaded (fpq_options.read_only). */
fpq_queue *cli_open_read(const cli_common *c, int *exit_code);
/* Maps an error code to an exit code. */
int cli_exit_code(int err);
/* Prints "fpq: <message>" on stderr and returns the exit code for err. */
int cli_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bad usage: message plus a hint to see --help; returns EXIT_BAD_INPUT. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses argv of a command that takes only the common options (and positional
 * arguments, left from optind). Returns -1 to go on, or the exit code to return now
 * (after --help or a bad option). */
int cli_parse_common(int argc, char **argv, const char *command, cli_common *c);
/* Prints a command's help ("worker start"; "" for fpq itself) from the table in help.c. */
void cli_print_help(FILE *out, const char *command);
/* Opens the queue and reads its metrics document; NULL with *exit_code set on failure.
 * The caller json_decref's the result. */
struct json_t *cli_metrics(const cli_common *c, int *exit_code);
/* Handles getopt's '?' and ':' results. */
int cli_getopt_error(const char *command, int argc, char **argv);
/* Reads a duration given to option; on failure prints "<option> <why>" as bad usage of
 * command and returns EXIT_BAD_INPUT. */
int cli_duration_arg(const char *command, const char *option, const char *arg, double *out);
/* "id=ID" -> ID; NULL for anything else. */
const char *cli_id_arg(const char *arg);
/* The whole of a file (path "-": stdin), NUL-terminated, *len its size (caller frees).
 * NULL after printing why it is unreadable (naming it as option says), or with *len
 * SIZE_MAX and nothing printed when it is larger than max bytes (the caller says why). */
char *cli_read_input(const char *option, const char *path, size_t max, size_t *len);
/* Reads "JSON" or "@FILE" into a string the caller frees; NULL with a message printed. */
char *cli_json_arg(const char *option, const char *arg);
/* Prints why --inputs was refused (msg from fpq_job_merge_inputs or
 * fpq_schedule_merge_inputs) and returns the exit code for rc. */
int cli_inputs_error(const char *command, int rc, const char *msg);
/* Seconds on a clock: CLOCK_REALTIME for epoch times, CLOCK_MONOTONIC for deadlines. */
double cli_seconds(clockid_t clock);
/* Formats seconds as "1.2s", "3m04s", "2h05m"; epoch time as local "YYYY-MM-DD HH:MM:SS". */
void cli_format_duration(double seconds, char *buf, size_t len);
void cli_format_time(double t, char *buf, size_t len);
/* Formats a byte count as "812 B", "3.4 KiB", "1.2 MiB", "2.0 GiB". */
void cli_format_bytes(long long n, char *buf, size_t len);
/* Prints a job as one line of a table, or its header. */
/* The status table: the ID column as wide as the longest id shown (never cut: people
 * copy ids from it), at least a uuid's 36. */
int cli_job_id_width(fpq_job *const *jobs, size_t n);
void cli_print_job_header(int id_width);
void cli_print_job_row(const fpq_job *job, int id_width);
void cli_print_job_detail(const fpq_job *job);

/* Commands: each returns the process exit code. argv[0] is the command's name. */
int cmd_enqueue(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_result(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_requeue(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_schedules(int argc, char **argv);
int cmd_scheduler(int argc, char **argv);
int cmd_completion(int argc, char **argv);

#endif /* FPQ_CLI_H */
