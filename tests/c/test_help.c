/* test_help.c: the commands' help table (cli/help.c), which fpq's --help and the Typer
 * CLI both show: every command has its entry, each entry is complete, groups list their
 * members, and `fpq COMMAND --help` prints the entry (run against the real fpq binary
 * named by FPQ_TEST_FPQ_BIN, as a user would). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "help.h"
#include "testutil.h"

/* What the fpq command line dispatches: each must have help. */
static const char *const commands[] = {
    "enqueue", "status", "result", "cancel", "requeue", "worker", "worker start",
    "worker stop", "worker list", "metrics", "logs", "prune", "schedule", "schedules", "schedules list",
    "schedules remove", "schedules pause", "schedules resume", "schedules next", "scheduler",
    "version", "completion",
};

static void every_command_has_an_entry(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    const cli_help *h = cli_help_find(commands[i]);
    if (h == NULL) fail_msg("no help for '%s'", commands[i]);
    assert_string_equal(h->command, commands[i]);
  }
  assert_non_null(cli_help_find(""));
  assert_null(cli_help_find("frobnicate"));
  assert_null(cli_help_find("worker"" start "));
  assert_null(cli_help_find(NULL));
  size_t n;
  cli_help_all(&n);
  assert_int_equal(n, sizeof commands / sizeof commands[0] + 1); /* and fpq itself */
}

static void check_lines(const char *what, const char *command, const char *text) {
  if (text == NULL || text[0] == '\0') fail_msg("'%s' has no %s", command, what);
  if (strchr(text, '\t') || text[strlen(text) - 1] == '\n' || strstr(text, "\n\n"))
    fail_msg("'%s': %s '%s' has a tab, a trailing or an empty line", command, what, text);
}

static void every_entry_is_complete(void **state) {
  (void)state;
  size_t n;
  const cli_help *all = cli_help_all(&n);
  for (size_t i = 0; i < n; i++) {
    const cli_help *h = &all[i];
    char prefix[64];
    snprintf(prefix, sizeof prefix, "fpq %s", h->command[0] ? h->command : "COMMAND");
    if (strncmp(h->usage, prefix, strlen(prefix)) != 0)
      fail_msg("usage '%s' does not start with '%s'", h->usage, prefix);
    check_lines("summary", h->command, h->summary);
    if (h->command[0]) {
      check_lines("label", h->command, h->label);
      check_lines("brief", h->command, h->brief);
      /* The label starts with the command's last word. */
      const char *word = strrchr(h->command, ' ') ? strrchr(h->command, ' ') + 1 : h->command;
      if (strncmp(h->label, word, strlen(word)) != 0)
        fail_msg("'%s' is listed as '%s'", h->command, h->label);
    }
    for (const cli_help_option *o = h->options; o && o->flag; o++) {
      if (o->flag[0] != '-') fail_msg("'%s': option '%s' is not a flag", h->command, o->flag);
      check_lines("option help", h->command, o->help);
    }
    for (const char *const *e = h->examples; e && *e; e++) {
      /* Every line of an example is a command line (fpq's own is a short script). */
      const char *line = *e;
      while (line) {
        if (strncmp(line, "fpq ", 4) != 0 && strstr(line, "$(fpq ") == NULL)
          fail_msg("'%s': example line '%s' does not run fpq", h->command, line);
        line = strchr(line, '\n');
        if (line) line++;
      }
    }
    /* A group's examples are its members'; a command has its own. */
    int members = 0;
    for (size_t j = 0; j < n; j++) members += cli_help_in_group(&all[j], h->command);
    if (!members && h->examples == NULL) fail_msg("'%s' has no example", h->command);
  }
  for (const cli_help_option *o = cli_help_common(); o->flag; o++)
    check_lines("common option help", o->flag, o->help);
  assert_string_equal(cli_help_common()[4].flag, "--help");
  assert_string_equal(cli_help_common()[4].alias, "-h");
}

static void groups_list_the_commands_one_word_longer(void **state) {
  (void)state;
  assert_true(cli_help_in_group(cli_help_find("worker start"), "worker"));
  assert_true(cli_help_in_group(cli_help_find("worker"), ""));
  assert_true(cli_help_in_group(cli_help_find("enqueue"), ""));
  assert_false(cli_help_in_group(cli_help_find("worker start"), ""));
  assert_false(cli_help_in_group(cli_help_find("schedules next"), "schedule"));
  assert_false(cli_help_in_group(cli_help_find("schedules"), "schedule"));
  assert_false(cli_help_in_group(cli_help_find("worker"), "worker"));
  assert_false(cli_help_in_group(cli_help_find(""), ""));
}

/* Runs `fpq ARGS` and returns what it printed on stdout (caller frees), and its status. */
static char *run_fpq(const char *args, int *status) {
  const char *bin = getenv("FPQ_TEST_FPQ_BIN");
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", bin, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 1 << 16, len = 0, got;
  char *out = malloc(cap);
  while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) len += got;
  out[len] = '\0';
  *status = pclose(p);
  return out;
}

static void fpq_help_prints_each_entry(void **state) {
  (void)state;
  if (getenv("FPQ_TEST_FPQ_BIN") == NULL) skip();
  size_t n;
  const cli_help *all = cli_help_all(&n);
  for (size_t i = 0; i < n; i++) {
    char args[128], want[256];
    snprintf(args, sizeof args, "%s --help", all[i].command);
    int status;
    char *out = run_fpq(args, &status);
    snprintf(want, sizeof want, "Usage: %s\n", all[i].usage);
    if (status != 0 || strncmp(out, want, strlen(want)) != 0)
      fail_msg("fpq %s: status %d, printed:\n%s", args, status, out);
    /* Every option, the examples, and the common options where they apply. */
    for (const cli_help_option *o = all[i].options; o && o->flag; o++)
      assert_contains(out, o->flag);
    if (all[i].common) assert_contains(out, "Common options:\n  --project DIR");
    else assert_not_contains(out, "--project");
    assert_contains(out, "\nExample");
    if (all[i].examples && !strchr(all[i].examples[0], '\n'))
      assert_contains(out, all[i].examples[0]);
    free(out);
  }
}

static void help_aligns_a_command_and_its_common_options_in_one_column(void **state) {
  (void)state;
  if (getenv("FPQ_TEST_FPQ_BIN") == NULL) skip();
  int status;
  char *out = run_fpq("worker start --help", &status);
  /* The longest label is "--kill-grace SECONDS": every text starts two columns after. */
  assert_contains(out, "\n  --kill-grace SECONDS  between SIGTERM");
  assert_contains(out, "\n  --count N             slots running");
  assert_contains(out, "\n  -h, --help            show this help\n");
  /* A text's later lines start in the same column. */
  assert_contains(out, "per job;\n                        none: run in the executor");
  free(out);
  out = run_fpq("--help", &status);
  assert_contains(out, "\n  enqueue PIPELINE          queue a run");
  assert_contains(out, "\n  schedules list|remove|pause|resume|next   manage schedules\n");
  assert_contains(out, "\nExample:\n  id=$(fpq enqueue hello");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_command_has_an_entry),
      cmocka_unit_test(every_entry_is_complete),
      cmocka_unit_test(groups_list_the_commands_one_word_longer),
      cmocka_unit_test(fpq_help_prints_each_entry),
      cmocka_unit_test(help_aligns_a_command_and_its_common_options_in_one_column),
  };
  return cmocka_run_group_tests_name("help", tests, NULL, NULL);
}
