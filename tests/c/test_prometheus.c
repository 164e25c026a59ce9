/* test_prometheus.c: the metrics document in Prometheus text: every family has HELP and
 * TYPE, labels are escaped, optional sections appear only when present, and broken input
 * is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "metrics.h"

static char *convert(const char *json) {
  char *out = NULL;
  assert_int_equal(fpq__metrics_prometheus(json, &out), 0);
  return out;
}

static void queues_and_workers_become_gauges_and_counters(void **state) {
  (void)state;
  char *text = convert(
      "{\"backend\":\"sqlite\",\"queues\":[{\"name\":\"high\",\"queued\":3,\"started\":1,"
      "\"finished\":7,\"failed\":0,\"oldest_queued_age_seconds\":2.5},{\"name\":\"low\","
      "\"queued\":0,\"oldest_queued_age_seconds\":null}],\"workers\":[{\"name\":\"w1\","
      "\"hostname\":\"h\",\"state\":\"busy\",\"successful\":4,\"failed\":1,\"busy_ratio\":0.25}]}");
  assert_non_null(strstr(text, "# TYPE fpq_jobs gauge\n"));
  assert_non_null(strstr(text, "fpq_jobs{queue=\"high\",status=\"queued\"} 3\n"));
  assert_non_null(strstr(text, "fpq_jobs{queue=\"high\",status=\"finished\"} 7\n"));
  assert_non_null(strstr(text, "fpq_queue_oldest_queued_age_seconds{queue=\"high\"} 2.500000\n"));
  assert_non_null(strstr(text, "fpq_queue_oldest_queued_age_seconds{queue=\"low\"} 0.000000\n"));
  assert_non_null(strstr(text, "fpq_workers 1\n"));
  assert_non_null(strstr(text, "fpq_worker_busy{worker=\"w1\",hostname=\"h\"} 1\n"));
  assert_non_null(strstr(text,
      "fpq_worker_jobs_total{worker=\"w1\",hostname=\"h\",outcome=\"failed\"} 1\n"));
  assert_non_null(strstr(text, "# TYPE fpq_worker_jobs_total counter\n"));
  assert_null(strstr(text, "fpq_pipeline_run_seconds"));      /* absent section */
  assert_null(strstr(text, "fpq_throughput_jobs_per_minute")); /* absent section */
  fpq__free(text);
}

static void label_values_are_escaped(void **state) {
  (void)state;
  char *text = convert("{\"queues\":[{\"name\":\"a\\\"b\\\\c\\nd\",\"queued\":1}],\"workers\":[]}");
  assert_non_null(strstr(text, "fpq_jobs{queue=\"a\\\"b\\\\c\\nd\",status=\"queued\"} 1\n"));
  fpq__free(text);
}

static void throughput_and_run_times_are_exported_when_present(void **state) {
  (void)state;
  char *text = convert(
      "{\"queues\":[],\"workers\":[],\"throughput\":{\"1m\":12.0,\"5m\":10.5,\"15m\":3.0},"
      "\"pipelines\":[{\"pipeline\":\"etl\",\"count\":9,\"sum\":4.5,\"p50\":0.4,\"p90\":0.9,"
      "\"p99\":1.2}]}");
  assert_non_null(strstr(text, "fpq_throughput_jobs_per_minute{window=\"5m\"} 10.500000\n"));
  assert_non_null(strstr(text, "# TYPE fpq_pipeline_run_seconds summary\n"));
  assert_non_null(strstr(text, "fpq_pipeline_run_seconds{pipeline=\"etl\",quantile=\"0.99\"} 1.200000\n"));
  assert_non_null(strstr(text, "fpq_pipeline_run_seconds_count{pipeline=\"etl\"} 9\n"));
  fpq__free(text);
}

static void broken_json_is_refused(void **state) {
  (void)state;
  char *out = (char *)1;
  assert_int_equal(fpq__metrics_prometheus("{not json", &out), FPQ_EFORMAT);
  assert_null(out);
}

static void running_out_of_memory_frees_everything(void **state) {
  (void)state;
  for (long n = 1; n < 40; n++) {
    char *out = NULL;
    fpq__alloc_fail_after(n);
    int rc = fpq__metrics_prometheus(
        "{\"queues\":[{\"name\":\"q\",\"queued\":1}],\"workers\":[{\"name\":\"w\"}]}", &out);
    fpq__alloc_fail_after(0);
    if (rc == 0) {
      fpq__free(out);
      break;
    }
    assert_int_equal(rc, FPQ_ENOMEM);
    assert_null(out);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(queues_and_workers_become_gauges_and_counters),
      cmocka_unit_test(label_values_are_escaped),
      cmocka_unit_test(throughput_and_run_times_are_exported_when_present),
      cmocka_unit_test(broken_json_is_refused),
      cmocka_unit_test(running_out_of_memory_frees_everything),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
