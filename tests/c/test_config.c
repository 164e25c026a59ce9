/* test_config.c: settings (src/config.c): conf/job_queue.yml and pipeline YAML read into
 * dotted keys, strict and lenient; reading files; and resolving where the queue lives in
 * the order flags > FPQ_* environment > conf file > defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "config.h"
#include "fpq.h"
#include "testutil.h"

static const char *const env_names[] = {"FPQ_BACKEND", "FPQ_URL", "FPQ_REDIS_URL",
                                        "FPQ_CONNECT_TIMEOUT", "FPQ_WORKER_QUEUES",
                                        "FPQ_EXECUTOR_PIPELINE_CACHE", NULL};

/* Each test starts and ends with none of our variables set and no allocation failing. */
static int clean_env(void **state) {
  (void)state;
  for (size_t i = 0; env_names[i]; i++) unsetenv(env_names[i]);
  fpq__alloc_fail_after(0);
  return 0;
}

/* Parses text; returns rc and leaves the settings in *s / *n. */
static int parse(const char *text, int lenient, fpq__setting **s, size_t *n, char *err,
                 size_t errlen) {
  err[0] = '\0';
  return fpq__settings_parse(text, strlen(text), lenient, s, n, err, errlen);
}

static void assert_setting(const fpq__setting *s, size_t n, const char *key, const char *want) {
  const char *got = fpq__settings_get(s, n, key);
  if (got == NULL) fail_msg("setting '%s' is missing, expected \"%s\"", key, want);
  if (strcmp(got, want) != 0) fail_msg("setting '%s' is \"%s\", expected \"%s\"", key, got, want);
}

/* Strict parsing fails with exactly one line naming the file, the problem and the line. */
static void assert_refused(const char *text, int lenient, const char *expect) {
  fpq__setting *s = (fpq__setting *)&s;
  size_t n = 99;
  char err[512];
  int rc = parse(text, lenient, &s, &n, err, sizeof err);
  if (rc != FPQ_ECONFIG)
    fail_msg("parsing \"%s\" returned %s, expected ECONFIG", text, fpq_err_name(rc));
  assert_null(s);
  assert_int_equal(n, 0);
  assert_contains(err, expect);
  assert_null(strchr(err, '\n'));
}

/* ---- strict: conf/job_queue.yml ---- */

static void nested_maps_flatten_to_dotted_keys_and_lists_join_with_commas(void **state) {
  (void)state;
  const char *text =
      "# queue settings\n"
      "backend: rq\n"
      "url: redis://127.0.0.1:6379/0\n"
      "connect_timeout: 5s\n"
      "queues: [high, default, low]\n"
      "backends:\n"
      "  mine:\n"
      "    library: /opt/fpq/mine.so\n"
      "    options:\n"
      "      pool: 4\n"
      "worker:\n"
      "  queues:\n"
      "    - high\n"
      "    - low\n"
      "  name: \"w: one\"\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse(text, 0, &s, &n, err, sizeof err), 0);
  assert_string_equal(err, "");
  assert_int_equal(n, 8);
  assert_setting(s, n, "backend", "rq");
  assert_setting(s, n, "url", "redis://127.0.0.1:6379/0");
  assert_setting(s, n, "connect_timeout", "5s");
  assert_setting(s, n, "queues", "high,default,low");
  assert_setting(s, n, "backends.mine.library", "/opt/fpq/mine.so");
  assert_setting(s, n, "backends.mine.options.pool", "4");
  assert_setting(s, n, "worker.queues", "high,low");
  assert_setting(s, n, "worker.name", "w: one");
  assert_null(fpq__settings_get(s, n, "backends"));
  assert_null(fpq__settings_get(s, n, "backends.mine"));
  fpq__settings_free(s, n);
}

static void the_example_projects_conf_file_parses(void **state) {
  (void)state;
  const char *src = getenv("FPQ_SOURCE_DIR");
  if (src == NULL) skip(); /* ctest sets it; a hand run may not */
  char path[PATH_MAX], err[256];
  snprintf(path, sizeof path, "%s/examples/hello-world/conf/job_queue.yml", src);
  char *text;
  size_t len;
  assert_int_equal(fpq__read_file(path, 1 << 20, &text, &len, err, sizeof err), 0);
  fpq__setting *s;
  size_t n;
  assert_int_equal(fpq__settings_parse(text, len, 0, &s, &n, err, sizeof err), 0);
  assert_int_equal(n, 0); /* every setting in it is commented out */
  fpq__settings_free(s, n);
  fpq__free(text);
}

static void scalars_are_kept_as_written(void **state) {
  (void)state;
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse("empty:\nquoted: \"\"\nzero: 05\nflag: yes\nnull: ~\nlist: []\n", 0,
                         &s, &n, err, sizeof err),
                   0);
  assert_setting(s, n, "empty", "");
  assert_setting(s, n, "quoted", "");
  assert_setting(s, n, "zero", "05");
  assert_setting(s, n, "flag", "yes");
  assert_setting(s, n, "null", "~");
  assert_setting(s, n, "list", "");
  fpq__settings_free(s, n);
}

static void a_repeated_key_takes_the_later_value(void **state) {
  (void)state;
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse("backend: sqlite\nbackend: rq\n---\nurl: x\n", 0, &s, &n, err,
                         sizeof err),
                   0);
  assert_int_equal(n, 2);
  assert_setting(s, n, "backend", "rq");
  assert_setting(s, n, "url", "x"); /* a second document adds to the first */
  fpq__settings_free(s, n);
}

static void empty_and_comment_only_text_holds_no_settings(void **state) {
  (void)state;
  const char *texts[] = {"", "# nothing\n", "\n\n", "---\n...\n", "---\n# all commented\n"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    fpq__setting *s = (fpq__setting *)&s;
    size_t n = 99;
    char err[256];
    assert_int_equal(parse(texts[i], 0, &s, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    fpq__settings_free(s, n);
  }
}

static void an_alias_is_refused_with_its_name_and_line(void **state) {
  (void)state;
  assert_refused("a: &x 1\nb: *x\n", 0,
                 "conf/job_queue.yml: alias '*x' is not supported: write the value out at line 2");
}

static void a_list_of_maps_is_refused_with_its_line(void **state) {
  (void)state;
  assert_refused("ok: 1\nhooks:\n  - name: a\n", 0,
                 "conf/job_queue.yml: a list may hold only plain values at line 3");
  assert_refused("a: [[1, 2]]\n", 0,
                 "conf/job_queue.yml: a list is allowed only as a setting's value at line 1");
}

static void a_key_with_a_dot_or_no_name_is_refused(void **state) {
  (void)state;
  assert_refused("backend: rq\nbackends.mine.library: /x.so\n", 0,
                 "conf/job_queue.yml: key 'backends.mine.library' is not allowed: expected a "
                 "non-empty name without '.' (nest a mapping instead) at line 2");
  assert_refused("\"\": 1\n", 0, "key '' is not allowed");
  assert_refused("? {a: 1}\n: 2\n", 0, "a key must be a plain value at line 1");
  assert_refused("? [a]\n: 1\n", 0, "a list is allowed only as a setting's value at line 1");
}

static void a_top_level_that_is_not_a_mapping_is_refused(void **state) {
  (void)state;
  assert_refused("just text\n", 0,
                 "conf/job_queue.yml: the file must be a mapping of settings at line 1");
  assert_refused("- a\n- b\n", 0,
                 "conf/job_queue.yml: the file must be a mapping of settings at line 1");
  assert_refused("42", 0, "the file must be a mapping of settings");
}

static void invalid_yaml_is_refused_with_libyamls_reason_and_line(void **state) {
  (void)state;
  /* Found at the end of input: the last line of the two, not a third. */
  assert_refused("a: 1\nb: [1, 2\n", 0,
                 "conf/job_queue.yml: did not find expected ',' or ']' at the end of the file "
                 "(line 2)");
  assert_refused("a: 1\nb: [1, 2", 0, "at the end of the file (line 2)");
  assert_refused("a: b: c\n", 0,
                 "conf/job_queue.yml: mapping values are not allowed in this context at line 1");
  assert_refused("a:\n\tb: 1\n", 0, "found character that cannot start any token at line 2");
  assert_refused("a: \"unterminated\n", 0, "conf/job_queue.yml:");
}

static void nesting_deeper_than_eight_levels_is_refused(void **state) {
  (void)state;
  const char *eight = "a: {b: {c: {d: {e: {f: {g: {h: 1}}}}}}}\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse(eight, 0, &s, &n, err, sizeof err), 0);
  assert_setting(s, n, "a.b.c.d.e.f.g.h", "1");
  fpq__settings_free(s, n);
  assert_refused("a: {b: {c: {d: {e: {f: {g: {h: {i: 1}}}}}}}}\n", 0,
                 "conf/job_queue.yml: nesting is too deep at line 1");
}

static void strict_parsing_fails_cleanly_at_every_allocation(void **state) {
  (void)state;
  const char *text = "backend: rq\nqueues: [a, b, c]\nbackends:\n  mine:\n    library: /x.so\n"
                     "k1: 1\nk2: 2\nk3: 3\nk4: 4\nk5: 5\nk6: 6\nk7: 7\nk8: 8\nk9: 9\nk10: 10\n"
                     "k11: 11\nk12: 12\nk13: 13\nk14: 14\nk15: 15\nk16: 16\n";
  long n = 1;
  for (;; n++) {
    fpq__setting *s = NULL;
    size_t count = 0;
    char err[256] = "";
    fpq__alloc_fail_after(n);
    int rc = fpq__settings_parse(text, strlen(text), 0, &s, &count, err, sizeof err);
    fpq__alloc_fail_after(0);
    if (rc == 0) {
      assert_int_equal(count, 19);
      assert_setting(s, count, "backends.mine.library", "/x.so");
      fpq__settings_free(s, count);
      break;
    }
    if (rc != FPQ_ENOMEM) fail_msg("allocation %ld failing: %s (%s)", n, fpq_err_name(rc), err);
    assert_string_equal(err, "out of memory reading conf/job_queue.yml");
    assert_null(s);
    if (n > 500) fail_msg("still failing with allocation %ld failing", n);
  }
  assert_true(n > 40); /* keys, values, the list and the table's growth all failed once */
}

/* ---- lenient: a pipeline's YAML ---- */

static void a_pipeline_yaml_gives_its_run_settings(void **state) {
  (void)state;
  const char *text = "params: {}\n"
                     "run:\n"
                     "  inputs:\n"
                     "    name: World\n"
                     "  final_vars:\n"
                     "    - greeting\n"
                     "  executor:\n"
                     "    type: synchronous\n"
                     "  retry:\n"
                     "    max_retries: 2\n"
                     "    retry_delay: 0.5\n"
                     "    jitter_factor: 0.1\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse(text, 1, &s, &n, err, sizeof err), 0);
  assert_int_equal(n, 6);
  assert_setting(s, n, "run.inputs.name", "World");
  assert_setting(s, n, "run.final_vars", "greeting");
  assert_setting(s, n, "run.executor.type", "synchronous");
  assert_setting(s, n, "run.retry.max_retries", "2");
  assert_setting(s, n, "run.retry.retry_delay", "0.5");
  assert_setting(s, n, "run.retry.jitter_factor", "0.1");
  fpq__settings_free(s, n);
}

static void lenient_parsing_skips_lists_of_maps_and_nested_lists(void **state) {
  (void)state;
  const char *text = "hooks:\n"
                     "  - name: a\n"
                     "    args: [1, 2]\n"
                     "  - plain\n"
                     "  - [x, y]\n"
                     "  - last\n"
                     "after: 1\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse(text, 1, &s, &n, err, sizeof err), 0);
  assert_int_equal(n, 2);
  assert_setting(s, n, "hooks", "plain,last");
  assert_setting(s, n, "after", "1");
  fpq__settings_free(s, n);
}

static void lenient_parsing_drops_aliased_values_and_keeps_the_rest(void **state) {
  (void)state;
  const char *text = "base: &b {x: 1}\n"
                     "other: *b\n"
                     "merged:\n"
                     "  <<: *b\n"
                     "  z: 3\n"
                     "one: &one 1\n"
                     "list: [*one, two]\n"
                     "y: 2\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse(text, 1, &s, &n, err, sizeof err), 0);
  assert_setting(s, n, "base.x", "1");
  assert_setting(s, n, "merged.z", "3");
  assert_setting(s, n, "one", "1");
  assert_setting(s, n, "list", "two");
  assert_setting(s, n, "y", "2");
  assert_null(fpq__settings_get(s, n, "other"));
  assert_null(fpq__settings_get(s, n, "merged.<<"));
  assert_int_equal(n, 5);
  fpq__settings_free(s, n);
}

static void lenient_parsing_keeps_keys_and_values_paired_after_an_aliased_key(void **state) {
  (void)state;
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse("a: &k name\n*k : 1\nb: 2\n", 1, &s, &n, err, sizeof err), 0);
  assert_setting(s, n, "a", "name");
  assert_setting(s, n, "b", "2");
  assert_null(fpq__settings_get(s, n, "1"));
  fpq__settings_free(s, n);
}

static void a_document_that_is_only_an_alias_is_refused(void **state) {
  (void)state;
  assert_refused("*x\n", 1, "pipeline YAML: the file must be a mapping of settings at line 1");
  assert_refused("*x\n", 0, "conf/job_queue.yml: alias '*x' is not supported");
}

static void lenient_parsing_keeps_keys_with_dots(void **state) {
  (void)state;
  fpq__setting *s;
  size_t n;
  char err[256];
  assert_int_equal(parse("params:\n  model.lr: 0.1\n", 1, &s, &n, err, sizeof err), 0);
  assert_setting(s, n, "params.model.lr", "0.1");
  fpq__settings_free(s, n);
}

static void lenient_parsing_skips_values_nested_too_deep(void **state) {
  (void)state;
  const char *text = "params:\n"
                     " a:\n"
                     "  b:\n"
                     "   c:\n"
                     "    d:\n"
                     "     e:\n"
                     "      f:\n"
                     "       g:\n"
                     "        h: {i: [1, {j: 2}]}\n"
                     "       g2: kept\n"
                     "run:\n"
                     "  retry:\n"
                     "    max_retries: 2\n";
  fpq__setting *s;
  size_t n;
  char err[256];
  int rc = parse(text, 1, &s, &n, err, sizeof err);
  if (rc) fail_msg("deep params refused: %s", err);
  assert_int_equal(n, 2);
  assert_setting(s, n, "params.a.b.c.d.e.f.g2", "kept");
  assert_setting(s, n, "run.retry.max_retries", "2");
  fpq__settings_free(s, n);
}

static void lenient_parsing_still_refuses_what_is_not_a_mapping_and_names_the_file(void **state) {
  (void)state;
  assert_refused("- a\n- b\n", 1, "pipeline YAML: the file must be a mapping of settings at line 1");
  assert_refused("run: [\n", 1, "pipeline YAML: did not find expected node content at the end of the file (line 1)");
  assert_refused("text", 1, "pipeline YAML: the file must be a mapping of settings");
}

/* ---- fpq__read_file ---- */

static void read_file_returns_the_whole_file_nul_terminated(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  test_write_file(dir, "a.yml", "backend: rq\n");
  test_write_file(dir, "empty.yml", "");
  char path[PATH_MAX], err[512] = "";
  char *text;
  size_t len;
  snprintf(path, sizeof path, "%s/a.yml", dir);
  assert_int_equal(fpq__read_file(path, 12, &text, &len, err, sizeof err), 0);
  assert_int_equal(len, 12);
  assert_string_equal(text, "backend: rq\n");
  fpq__free(text);
  snprintf(path, sizeof path, "%s/empty.yml", dir);
  assert_int_equal(fpq__read_file(path, 100, &text, &len, err, sizeof err), 0);
  assert_int_equal(len, 0);
  assert_string_equal(text, "");
  fpq__free(text);
  test_rmdir(dir);
}

static void read_file_of_a_missing_file_is_not_found(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char path[PATH_MAX], err[512] = "";
  snprintf(path, sizeof path, "%s/none.yml", dir);
  char *text = (char *)&text;
  size_t len = 7;
  assert_int_equal(fpq__read_file(path, 100, &text, &len, err, sizeof err), FPQ_ENOTFOUND);
  assert_null(text);
  assert_int_equal(len, 0);
  test_rmdir(dir);
}

static void read_file_of_a_file_over_the_limit_is_refused_with_the_path(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  test_write_file(dir, "big.yml", "12345");
  char path[PATH_MAX], err[512];
  snprintf(path, sizeof path, "%s/big.yml", dir);
  char *text;
  size_t len;
  assert_int_equal(fpq__read_file(path, 4, &text, &len, err, sizeof err), FPQ_ECONFIG);
  assert_null(text);
  assert_contains(err, path);
  assert_contains(err, "is larger than 4 bytes");
  assert_int_equal(fpq__read_file(path, 5, &text, &len, err, sizeof err), 0);
  fpq__free(text);
  test_rmdir(dir);
}

static void read_file_of_a_directory_is_refused_with_the_reason(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char err[512];
  char *text;
  size_t len;
  assert_int_equal(fpq__read_file(dir, 100, &text, &len, err, sizeof err), FPQ_ECONFIG);
  assert_null(text);
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "cannot read %s: Is a directory", dir);
  assert_string_equal(err, want);
  test_rmdir(dir);
}

static void read_file_of_an_unreadable_file_is_refused(void **state) {
  (void)state;
  if (geteuid() == 0) {
    /* root reads a mode-000 file anyway; the directory case above covers the error path. */
    print_message("skipped: running as root, chmod 000 does not stop reading\n");
    skip();
  }
  char *dir = test_mkdtemp();
  test_write_file(dir, "secret.yml", "a: 1\n");
  char path[PATH_MAX], err[512];
  snprintf(path, sizeof path, "%s/secret.yml", dir);
  chmod(path, 0);
  char *text;
  size_t len;
  assert_int_equal(fpq__read_file(path, 100, &text, &len, err, sizeof err), FPQ_ECONFIG);
  assert_contains(err, path);
  assert_contains(err, "Permission denied");
  test_rmdir(dir);
}

/* ---- fpq__config_resolve ---- */

/* Resolves for project with these flags; returns rc, the config stays for inspection. */
static int resolve(fpq__config *c, const char *project, const char *backend, const char *url) {
  fpq_options o = {.project_dir = project, .backend = backend, .url = url};
  return fpq__config_resolve(c, &o);
}

static void defaults_are_sqlite_under_the_projects_flowerpower_dir(void **state) {
  (void)state;
  char *project = test_project(NULL);
  char real[PATH_MAX];
  assert_non_null(realpath(project, real));
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "sqlite");
  assert_string_equal(c.project_dir, real);
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "sqlite://%s/.flowerpower/queue.db", real);
  assert_string_equal(c.url, want);
  assert_int_equal(c.nsettings, 0);
  assert_string_equal(c.errmsg, "");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void the_project_dir_is_made_absolute_and_defaults_to_the_current_dir(void **state) {
  (void)state;
  char *project = test_project(NULL);
  char real[PATH_MAX], cwd[PATH_MAX];
  assert_non_null(realpath(project, real));
  assert_non_null(getcwd(cwd, sizeof cwd));
  test_write_file(project, "sub/.keep", "");
  assert_int_equal(chdir(project), 0);
  fpq__config c;
  int rc = resolve(&c, "sub/..", NULL, NULL);
  char got[PATH_MAX];
  snprintf(got, sizeof got, "%s", c.project_dir);
  fpq__config_free(&c);
  int rc2 = fpq__config_resolve(&c, &(fpq_options){0});
  char got2[PATH_MAX];
  snprintf(got2, sizeof got2, "%s", c.project_dir);
  fpq__config_free(&c);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(rc, 0);
  assert_int_equal(rc2, 0);
  assert_string_equal(got, real);
  assert_string_equal(got2, real);
  test_rmdir(project);
}

static void the_conf_file_names_the_backend_and_url(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml",
                  "backend: rq\nurl: redis://10.0.0.1:6380/2\nconnect_timeout: 2s\n");
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "redis://10.0.0.1:6380/2");
  assert_string_equal(fpq__config_get(&c, "connect_timeout"), "2s");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void a_redis_url_picks_the_rq_backend(void **state) {
  (void)state;
  char *project = test_project(NULL);
  fpq__config c;
  /* A conf file's url: */
  test_write_file(project, "conf/job_queue.yml", "url: redis://h:1/0\n");
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "redis://h:1/0");
  fpq__config_free(&c);
  /* A conf file's redis_url: */
  test_write_file(project, "conf/job_queue.yml", "redis_url: rediss://h:2/1\n");
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "rediss://h:2/1");
  fpq__config_free(&c);
  /* FPQ_REDIS_URL: */
  test_write_file(project, "conf/job_queue.yml", "");
  setenv("FPQ_REDIS_URL", "unix:///run/redis.sock?db=3", 1);
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "unix:///run/redis.sock?db=3");
  fpq__config_free(&c);
  unsetenv("FPQ_REDIS_URL");
  /* A flag's url: */
  assert_int_equal(resolve(&c, project, NULL, "redis://flag:3/0"), 0);
  assert_string_equal(c.backend, "rq");
  fpq__config_free(&c);
  /* The rq backend with no URL anywhere: the local default. */
  assert_int_equal(resolve(&c, project, "rq", NULL), 0);
  assert_string_equal(c.url, "redis://127.0.0.1:6379/0");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void the_environment_wins_over_the_conf_file(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml", "backend: rq\nurl: redis://conf:1/0\n");
  setenv("FPQ_URL", "redis://env:2/0", 1);
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "redis://env:2/0");
  fpq__config_free(&c);
  /* An empty variable counts as unset. */
  setenv("FPQ_URL", "", 1);
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.url, "redis://conf:1/0");
  fpq__config_free(&c);
  unsetenv("FPQ_URL");
  test_rmdir(project);
}

static void flags_win_over_the_environment_and_the_conf_file(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml", "backend: rq\nurl: redis://conf:1/0\n");
  setenv("FPQ_BACKEND", "rq", 1);
  setenv("FPQ_URL", "redis://env:2/0", 1);
  fpq__config c;
  assert_int_equal(resolve(&c, project, "rq", "redis://flag:3/0"), 0);
  assert_string_equal(c.url, "redis://flag:3/0");
  fpq__config_free(&c);
  /* An empty flag counts as unset. */
  assert_int_equal(resolve(&c, project, "", ""), 0);
  assert_string_equal(c.url, "redis://env:2/0");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void a_higher_source_overrides_a_lower_one_that_disagrees(void **state) {
  (void)state;
  char *project = test_project(NULL);
  char real[PATH_MAX];
  assert_non_null(realpath(project, real));
  char def[PATH_MAX + 64];
  snprintf(def, sizeof def, "sqlite://%s/.flowerpower/queue.db", real);
  fpq__config c;
  /* --url redis://... over the conf file's backend: sqlite. */
  test_write_file(project, "conf/job_queue.yml", "backend: sqlite\n");
  assert_int_equal(resolve(&c, project, NULL, "redis://flag:1/0"), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "redis://flag:1/0");
  fpq__config_free(&c);
  /* FPQ_BACKEND=sqlite over the conf file's redis url: the default sqlite file. */
  test_write_file(project, "conf/job_queue.yml", "url: redis://conf:1/0\n");
  setenv("FPQ_BACKEND", "sqlite", 1);
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "sqlite");
  assert_string_equal(c.url, def);
  fpq__config_free(&c);
  /* --backend rq over FPQ_URL=sqlite:///...: rq's default URL. */
  setenv("FPQ_URL", "sqlite:///tmp/x.db", 1);
  assert_int_equal(resolve(&c, project, "rq", NULL), 0);
  assert_string_equal(c.backend, "rq");
  assert_string_equal(c.url, "redis://127.0.0.1:6379/0");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void a_url_that_does_not_fit_the_backend_from_one_source_is_refused(void **state) {
  (void)state;
  char *project = test_project(NULL);
  fpq__config c;
  assert_int_equal(resolve(&c, project, "sqlite", "redis://h:1/0"), FPQ_ECONFIG);
  assert_string_equal(c.errmsg, "URL 'redis://h:1/0' does not fit backend 'sqlite': expected "
                                "sqlite:///abs/path.db");
  fpq__config_free(&c);
  assert_int_equal(resolve(&c, project, "rq", "sqlite:///tmp/q.db"), FPQ_ECONFIG);
  assert_string_equal(c.errmsg, "URL 'sqlite:///tmp/q.db' does not fit backend 'rq': expected "
                                "redis://host:port/db or unix:///path.sock");
  fpq__config_free(&c);
  setenv("FPQ_BACKEND", "rq", 1);
  setenv("FPQ_URL", "sqlite:///tmp/q.db", 1);
  assert_int_equal(resolve(&c, project, NULL, NULL), FPQ_ECONFIG);
  assert_contains(c.errmsg, "does not fit backend 'rq'");
  fpq__config_free(&c);
  unsetenv("FPQ_BACKEND");
  unsetenv("FPQ_URL");
  test_write_file(project, "conf/job_queue.yml", "backend: sqlite\nurl: unix:///r.sock\n");
  assert_int_equal(resolve(&c, project, NULL, NULL), FPQ_ECONFIG);
  assert_contains(c.errmsg, "URL 'unix:///r.sock' does not fit backend 'sqlite'");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void a_plugin_backend_name_is_kept_for_the_registry(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml",
                  "backend: mine\nbackends:\n  mine:\n    library: /opt/mine.so\n");
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(c.backend, "mine");
  assert_string_equal(c.url, "");
  assert_string_equal(fpq__config_get(&c, "backends.mine.library"), "/opt/mine.so");
  fpq__config_free(&c);
  char longname[100];
  memset(longname, 'b', 99);
  longname[99] = '\0';
  assert_int_equal(resolve(&c, project, longname, NULL), FPQ_EINVAL);
  assert_contains(c.errmsg, "backend name 'bbbbbbbb");
  assert_contains(c.errmsg, "is too long: at most 63 characters");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void an_unreadable_conf_file_is_a_config_error_naming_it(void **state) {
  (void)state;
  char *project = test_project(NULL);
  /* A directory where the file should be cannot be read, even by root. */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/conf/job_queue.yml", project);
  assert_int_equal(mkdir(path, 0755), 0);
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), FPQ_ECONFIG);
  assert_contains(c.errmsg, "conf/job_queue.yml");
  assert_contains(c.errmsg, "cannot read");
  assert_contains(c.errmsg, "Is a directory");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void an_invalid_conf_file_is_a_config_error_with_its_line(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml", "backend: rq\nurl: [\n");
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), FPQ_ECONFIG);
  assert_contains(c.errmsg, "conf/job_queue.yml: ");
  assert_contains(c.errmsg, "at the end of the file (line 2)");
  fpq__config_free(&c);
  test_rmdir(project);
}

static void a_missing_project_dir_is_a_config_error_naming_it(void **state) {
  (void)state;
  char *dir = test_mkdtemp();
  char missing[PATH_MAX];
  snprintf(missing, sizeof missing, "%s/no-such-project", dir);
  fpq__config c;
  assert_int_equal(resolve(&c, missing, NULL, NULL), FPQ_ECONFIG);
  char want[PATH_MAX + 100];
  snprintf(want, sizeof want, "project directory '%s' cannot be used: No such file or directory",
           missing);
  assert_string_equal(c.errmsg, want);
  fpq__config_free(&c);
  /* A file is not a project. */
  test_write_file(dir, "file", "x");
  snprintf(missing, sizeof missing, "%s/file", dir);
  assert_int_equal(resolve(&c, missing, NULL, NULL), FPQ_ECONFIG);
  assert_contains(c.errmsg, "is not a directory");
  assert_contains(c.errmsg, "/file'");
  fpq__config_free(&c);
  test_rmdir(dir);
}

/* ---- fpq__config_get ---- */

static void config_get_prefers_the_environment_then_the_conf_file(void **state) {
  (void)state;
  char *project = test_project(NULL);
  test_write_file(project, "conf/job_queue.yml",
                  "connect_timeout: 5s\nworker:\n  queues: [high, low]\n");
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  assert_string_equal(fpq__config_get(&c, "connect_timeout"), "5s");
  assert_string_equal(fpq__config_get(&c, "worker.queues"), "high,low");
  assert_null(fpq__config_get(&c, "not_set"));
  setenv("FPQ_CONNECT_TIMEOUT", "9s", 1);
  setenv("FPQ_WORKER_QUEUES", "default", 1); /* '.' becomes '_', letters upper case */
  assert_string_equal(fpq__config_get(&c, "connect_timeout"), "9s");
  assert_string_equal(fpq__config_get(&c, "worker.queues"), "default");
  setenv("FPQ_CONNECT_TIMEOUT", "", 1);
  assert_string_equal(fpq__config_get(&c, "connect_timeout"), "5s");
  unsetenv("FPQ_CONNECT_TIMEOUT");
  unsetenv("FPQ_WORKER_QUEUES");
  assert_string_equal(fpq__config_get(&c, "worker.queues"), "high,low");
  fpq__config_free(&c);
  fpq__config_free(&c); /* freeing twice is harmless: free clears what it frees */
  test_rmdir(project);
}

static void passwords_are_redacted_from_urls(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"},
      {"redis://:secret@host/1", "redis://:***@host/1"},
      {"redis://secret@host", "redis://***@host"},
      {"redis://host:6379/0", "redis://host:6379/0"},
      {"unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"},
      {"sqlite:///a/b@c.db", "sqlite:///a/b@c.db"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[256];
    fpq__redact_url(cases[i][0], buf, sizeof buf);
    assert_string_equal(buf, cases[i][1]);
  }
}

/* ---- executor.pipeline_cache ---- */

/* The size a conf file's `executor: {pipeline_cache: value}` resolves to; rc in *rc. */
static int pipeline_cache_of(const char *value, int *rc, char *err, size_t errlen) {
  char *project = test_project(NULL);
  if (value) {
    char text[256];
    snprintf(text, sizeof text, "executor:\n  pipeline_cache: %s\n", value);
    test_write_file(project, "conf/job_queue.yml", text);
  }
  fpq__config c;
  assert_int_equal(resolve(&c, project, NULL, NULL), 0);
  int size = -1;
  err[0] = '\0';
  *rc = fpq__config_pipeline_cache(&c, &size, err, errlen);
  fpq__config_free(&c);
  test_rmdir(project);
  return size;
}

static void the_pipeline_cache_is_on_by_default_and_can_be_sized_or_turned_off(void **state) {
  (void)state;
  static const struct { const char *value; int size; } cases[] = {
      {NULL, FPQ_PIPELINE_CACHE_DEFAULT}, {"true", FPQ_PIPELINE_CACHE_DEFAULT},
      {"on", FPQ_PIPELINE_CACHE_DEFAULT}, {"false", 0}, {"off", 0}, {"No", 0}, {"0", 0},
      {"1", 1}, {"64", 64}, {"4096", FPQ_PIPELINE_CACHE_MAX}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256];
    int rc;
    int size = pipeline_cache_of(cases[i].value, &rc, err, sizeof err);
    if (rc != 0 || size != cases[i].size)
      fail_msg("pipeline_cache '%s': rc %d size %d, expected size %d", cases[i].value, rc, size,
               cases[i].size);
  }
  /* The environment overrides the file, as for every setting. */
  setenv("FPQ_EXECUTOR_PIPELINE_CACHE", "off", 1);
  char err[256];
  int rc;
  assert_int_equal(pipeline_cache_of("8", &rc, err, sizeof err), 0);
  assert_int_equal(rc, 0);
}

static void a_bad_pipeline_cache_value_is_refused_naming_it(void **state) {
  (void)state;
  static const char *const bad[] = {"maybe", "-1", "4097", "12x", "1.5", "''"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[256];
    int rc;
    pipeline_cache_of(bad[i], &rc, err, sizeof err);
    if (rc != FPQ_ECONFIG) fail_msg("pipeline_cache %s was accepted", bad[i]);
    assert_contains(err, "executor.pipeline_cache");
    assert_contains(err, "expected true, false or a number of entries from 1 to 4096");
    assert_null(strchr(err, '\n'));
  }
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)
  const struct CMUnitTest tests[] = {
      T(nested_maps_flatten_to_dotted_keys_and_lists_join_with_commas),
      T(the_pipeline_cache_is_on_by_default_and_can_be_sized_or_turned_off),
      T(a_bad_pipeline_cache_value_is_refused_naming_it),
      T(passwords_are_redacted_from_urls),
      T(the_example_projects_conf_file_parses),
      T(scalars_are_kept_as_written),
      T(a_repeated_key_takes_the_later_value),
      T(empty_and_comment_only_text_holds_no_settings),
      T(an_alias_is_refused_with_its_name_and_line),
      T(a_list_of_maps_is_refused_with_its_line),
      T(a_key_with_a_dot_or_no_name_is_refused),
      T(a_top_level_that_is_not_a_mapping_is_refused),
      T(invalid_yaml_is_refused_with_libyamls_reason_and_line),
      T(nesting_deeper_than_eight_levels_is_refused),
      T(strict_parsing_fails_cleanly_at_every_allocation),
      T(a_pipeline_yaml_gives_its_run_settings),
      T(lenient_parsing_skips_lists_of_maps_and_nested_lists),
      T(lenient_parsing_drops_aliased_values_and_keeps_the_rest),
      T(lenient_parsing_keeps_keys_and_values_paired_after_an_aliased_key),
      T(a_document_that_is_only_an_alias_is_refused),
      T(lenient_parsing_keeps_keys_with_dots),
      T(lenient_parsing_skips_values_nested_too_deep),
      T(lenient_parsing_still_refuses_what_is_not_a_mapping_and_names_the_file),
      T(read_file_returns_the_whole_file_nul_terminated),
      T(read_file_of_a_missing_file_is_not_found),
      T(read_file_of_a_file_over_the_limit_is_refused_with_the_path),
      T(read_file_of_a_directory_is_refused_with_the_reason),
      T(read_file_of_an_unreadable_file_is_refused),
      T(defaults_are_sqlite_under_the_projects_flowerpower_dir),
      T(the_project_dir_is_made_absolute_and_defaults_to_the_current_dir),
      T(the_conf_file_names_the_backend_and_url),
      T(a_redis_url_picks_the_rq_backend),
      T(the_environment_wins_over_the_conf_file),
      T(flags_win_over_the_environment_and_the_conf_file),
      T(a_higher_source_overrides_a_lower_one_that_disagrees),
      T(a_url_that_does_not_fit_the_backend_from_one_source_is_refused),
      T(a_plugin_backend_name_is_kept_for_the_registry),
      T(an_unreadable_conf_file_is_a_config_error_naming_it),
      T(an_invalid_conf_file_is_a_config_error_with_its_line),
      T(a_missing_project_dir_is_a_config_error_naming_it),
      T(config_get_prefers_the_environment_then_the_conf_file),
  };
#undef T
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
