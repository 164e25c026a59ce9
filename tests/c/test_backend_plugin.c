/* test_backend_plugin.c: a backend loaded with dlopen from the path in the conf file (or
 * FPQ_BACKENDS_NAME_LIBRARY) passes the version-1 backend contract, and a plugin that
 * cannot be used is refused with a message naming it. The plugin is the shipped example,
 * examples/plugins/memory_backend.c, built by CMake; its path comes in FPQ_TEST_PLUGIN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend_contract.h"
#include "fpq.h"
#include "testutil.h"

static const char *const pipelines[] = {"alpha", NULL};

/* One store per test: the memory backend keeps named stores for the life of the process. */
static char *memory_url(const char *project_dir) {
  char *url = malloc(strlen(project_dir) + 16);
  sprintf(url, "memory://%s", strrchr(project_dir, '/') + 1);
  return url;
}

static void a_conf_file_names_the_plugin(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  char conf[4200];
  snprintf(conf, sizeof conf, "backend: memory\nurl: memory://from-conf\nbackends:\n"
           "  memory:\n    library: %s\n", getenv("FPQ_TEST_PLUGIN"));
  test_write_file(project, "conf/job_queue.yml", conf);
  unsetenv("FPQ_BACKENDS_MEMORY_LIBRARY");
  fpq_options o = {.project_dir = project, .create = 1};
  fpq_queue *q = NULL;
  assert_int_equal(fpq_open(&q, &o), 0);
  assert_string_equal(fpq_backend_name(q), "memory");
  fpq_job *job = fpq_job_new();
  fpq_job_set(&job->pipeline, "alpha");
  assert_int_equal(fpq_enqueue(q, job), 0);
  fpq_job *got = NULL;
  assert_int_equal(fpq_get(q, job->id, &got), 0);
  assert_string_equal(got->pipeline, "alpha");
  /* Schedules are version-2 methods this plugin does not have. */
  fpq_schedule *s = fpq_schedule_new();
  fpq_job_set(&s->pipeline, "alpha");
  fpq_job_set(&s->trigger, "0 2 * * *");
  assert_int_equal(fpq_schedule_put(q, s), FPQ_ENOTSUP);
  assert_non_null(strstr(fpq_errmsg(q), "memory"));
  fpq_schedule_free(s);
  fpq_job_free(got);
  fpq_job_free(job);
  fpq_close(q);
  test_rmdir(project);
}

static void an_unusable_plugin_is_refused_by_name(void **state) {
  (void)state;
  char *project = test_project(pipelines);
  fpq_options o = {.project_dir = project, .backend = "ghost", .url = "memory://x"};
  fpq_queue *q = NULL;
  setenv("FPQ_BACKENDS_GHOST_LIBRARY", "/no/such/plugin.so", 1);
  assert_int_equal(fpq_open(&q, &o), FPQ_EINVAL);
  assert_non_null(strstr(fpq_errmsg(q), "backend 'ghost': cannot load plugin /no/such/plugin.so"));
  fpq_close(q);
  /* The right file under the wrong name: the plugin says what it is. */
  setenv("FPQ_BACKENDS_GHOST_LIBRARY", getenv("FPQ_TEST_PLUGIN"), 1);
  assert_int_equal(fpq_open(&q, &o), FPQ_EINVAL);
  assert_non_null(strstr(fpq_errmsg(q), "calls itself 'memory'"));
  fpq_close(q);
  unsetenv("FPQ_BACKENDS_GHOST_LIBRARY");
  test_rmdir(project);
}

int main(void) {
  if (getenv("FPQ_TEST_PLUGIN") == NULL) {
    fprintf(stderr, "FPQ_TEST_PLUGIN is not set: run through ctest\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_conf_file_names_the_plugin),
      cmocka_unit_test(an_unusable_plugin_is_refused_by_name),
  };
  int failed = cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
  setenv("FPQ_BACKENDS_MEMORY_LIBRARY", getenv("FPQ_TEST_PLUGIN"), 1);
  backend_contract c = {.backend = "memory", .make_url = memory_url, .version1_only = 1,
                        .no_dependencies = 1};
  return failed + backend_contract_run(&c);
}
