/* test_frame.c: the executor protocol's framing (src/frame.c): a 4-byte big-endian
 * length, then one JSON object with a "type". Encoding, decoding however the bytes
 * arrive, and refusing a broken stream without trusting the length it claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alloc.h"
#include "fpq.h"
#include "frame.h"
#include "testutil.h"

static int reset_alloc(void **state) {
  (void)state;
  fpq__alloc_fail_after(0);
  return 0;
}

/* A frame around text, exactly as given (so tests can frame broken JSON too). */
static size_t raw_frame(const char *text, char *out) {
  size_t n = strlen(text);
  out[0] = (char)(n >> 24);
  out[1] = (char)(n >> 16);
  out[2] = (char)(n >> 8);
  out[3] = (char)n;
  memcpy(out + 4, text, n);
  return n + 4;
}

static void push(fpq__frame_reader *r, const char *data, size_t len) {
  int rc = fpq__frame_push(r, data, len);
  if (rc) fail_msg("push of %zu bytes returned %s", len, fpq_err_name(rc));
}

/* Takes the next frame, failing the test on a stream error. NULL: more bytes needed. */
static json_t *next(fpq__frame_reader *r) {
  json_t *msg = (json_t *)&msg;
  char err[256] = "";
  int rc = fpq__frame_next(r, &msg, err, sizeof err);
  if (rc) fail_msg("frame_next returned %s: %s", fpq_err_name(rc), err);
  return msg;
}

static void assert_type(json_t *msg, const char *type) {
  assert_non_null(msg);
  assert_string_equal(json_string_value(json_object_get(msg, "type")), type);
}

/* The stream is refused with FPQ_EFORMAT, no message object and one line naming why. */
static void assert_broken(fpq__frame_reader *r, const char *expect) {
  json_t *msg = (json_t *)&msg;
  char err[256] = "";
  assert_int_equal(fpq__frame_next(r, &msg, err, sizeof err), FPQ_EFORMAT);
  assert_null(msg);
  assert_contains(err, expect);
  assert_null(strchr(err, '\n'));
}

static void a_frame_is_a_big_endian_length_then_compact_json(void **state) {
  (void)state;
  json_t *msg = json_pack("{s:s, s:i}", "type", "ready", "pid", 42);
  char *buf;
  size_t len;
  assert_int_equal(fpq__frame_encode(msg, &buf, &len), 0);
  const char *want = "{\"type\":\"ready\",\"pid\":42}";
  assert_int_equal(len, 4 + strlen(want));
  assert_memory_equal(buf, "\x00\x00\x00\x19", 4);
  assert_memory_equal(buf + 4, want, strlen(want));
  fpq__free(buf);
  json_decref(msg);
}

static void a_frame_decodes_to_the_object_that_was_encoded(void **state) {
  (void)state;
  json_t *msg = json_pack("{s:s, s:s, s:{s:[i,f,s,n,b]}}", "type", "result", "id", "job-1",
                          "result", "x", 1, 2.5, "Zoë ✓", 1);
  char *buf;
  size_t len;
  assert_int_equal(fpq__frame_encode(msg, &buf, &len), 0);
  fpq__frame_reader r = {0};
  push(&r, buf, len);
  json_t *got = next(&r);
  assert_non_null(got);
  assert_true(json_equal(got, msg));
  assert_null(next(&r));
  json_decref(got);
  fpq__frame_reader_free(&r);
  fpq__free(buf);
  json_decref(msg);
}

static void bytes_fed_one_at_a_time_give_the_frame_only_at_the_last(void **state) {
  (void)state;
  char buf[128];
  size_t len = raw_frame("{\"type\":\"log\",\"line\":\"hello\"}", buf);
  fpq__frame_reader r = {0};
  for (size_t i = 0; i + 1 < len; i++) {
    push(&r, buf + i, 1);
    json_t *msg = next(&r);
    if (msg != NULL) fail_msg("a frame came out after %zu of %zu bytes", i + 1, len);
  }
  push(&r, buf + len - 1, 1);
  json_t *msg = next(&r);
  assert_type(msg, "log");
  json_decref(msg);
  assert_null(next(&r));
  fpq__frame_reader_free(&r);
}

static void several_frames_in_one_push_come_out_in_order(void **state) {
  (void)state;
  char buf[512];
  size_t len = raw_frame("{\"type\":\"a\"}", buf);
  len += raw_frame("{\"type\":\"b\",\"n\":[1,2,3]}", buf + len);
  len += raw_frame("{\"type\":\"c\"}", buf + len);
  size_t partial = raw_frame("{\"type\":\"d\"}", buf + len);
  fpq__frame_reader r = {0};
  push(&r, buf, len + partial - 3); /* the fourth frame is cut short */
  const char *types[] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) {
    json_t *msg = next(&r);
    assert_type(msg, types[i]);
    json_decref(msg);
  }
  assert_null(next(&r));
  push(&r, buf + len + partial - 3, 3);
  json_t *msg = next(&r);
  assert_type(msg, "d");
  json_decref(msg);
  assert_null(next(&r));
  fpq__frame_reader_free(&r);
}

static void a_long_stream_in_odd_chunks_decodes_in_bounded_memory(void **state) {
  (void)state;
  enum { FRAMES = 2000 };
  size_t cap = FRAMES * 64, len = 0;
  char *stream = malloc(cap);
  for (int i = 0; i < FRAMES; i++) {
    char text[64];
    snprintf(text, sizeof text, "{\"type\":\"tick\",\"i\":%d}", i);
    len += raw_frame(text, stream + len);
  }
  fpq__frame_reader r = {0};
  int seen = 0;
  for (size_t off = 0; off < len;) {
    size_t chunk = 1 + off % 13;
    if (chunk > len - off) chunk = len - off;
    push(&r, stream + off, chunk);
    off += chunk;
    json_t *msg;
    while ((msg = next(&r)) != NULL) {
      if (json_integer_value(json_object_get(msg, "i")) != seen)
        fail_msg("frame %d came out as %lld", seen,
                 (long long)json_integer_value(json_object_get(msg, "i")));
      seen++;
      json_decref(msg);
    }
  }
  assert_int_equal(seen, FRAMES);
  assert_true(r.cap <= 4096); /* consumed space is reused, not grown into */
  fpq__frame_reader_free(&r);
  free(stream);
}

static void a_frame_larger_than_the_buffer_grows_it(void **state) {
  (void)state;
  size_t n = 300 * 1024;
  char *big = malloc(n + 64);
  int k = snprintf(big, 64, "{\"type\":\"result\",\"result\":\"");
  memset(big + k, 'x', n);
  strcpy(big + k + n, "\"}");
  char *buf = malloc(n + 128);
  size_t len = raw_frame(big, buf);
  fpq__frame_reader r = {0};
  push(&r, buf, len / 2);
  assert_null(next(&r));
  push(&r, buf + len / 2, len - len / 2);
  json_t *msg = next(&r);
  assert_type(msg, "result");
  assert_int_equal(strlen(json_string_value(json_object_get(msg, "result"))), n);
  json_decref(msg);
  fpq__frame_reader_free(&r);
  assert_null(r.buf);
  assert_int_equal(r.cap, 0);
  free(buf);
  free(big);
}

static void pushing_nothing_is_harmless(void **state) {
  (void)state;
  fpq__frame_reader r = {0};
  push(&r, NULL, 0); /* an empty reader has no buffer yet */
  assert_null(next(&r));
  char buf[64];
  size_t len = raw_frame("{\"type\":\"x\"}", buf);
  push(&r, buf, len);
  push(&r, buf, 0);
  json_t *msg = next(&r);
  assert_type(msg, "x");
  json_decref(msg);
  fpq__frame_reader_free(&r);
  fpq__frame_reader_free(&r); /* freeing twice is harmless */
}

static void a_zero_length_frame_breaks_the_stream(void **state) {
  (void)state;
  fpq__frame_reader r = {0};
  push(&r, "\0\0\0\0{}", 6);
  assert_broken(&r, "frame length 0 is outside 1..268500000: the stream is broken");
  /* It stays broken: the bad header is not skipped. */
  assert_broken(&r, "frame length 0");
  fpq__frame_reader_free(&r);
}

static void a_length_over_the_maximum_is_refused_without_allocating_it(void **state) {
  (void)state;
  fpq__frame_reader r = {0};
  push(&r, "\xff\xff\xff\xff{\"type\":\"x\"}", 16); /* claims 4 GB */
  assert_broken(&r, "frame length 4294967295 is outside 1..268500000");
  assert_true(r.cap <= 4096);
  fpq__frame_reader_free(&r);

  char header[4];
  uint32_t over = FPQ_FRAME_MAX + 1;
  header[0] = (char)(over >> 24), header[1] = (char)(over >> 16);
  header[2] = (char)(over >> 8), header[3] = (char)over;
  push(&r, header, 4);
  assert_broken(&r, "frame length 268500001 is outside");
  fpq__frame_reader_free(&r);

  /* The largest allowed length only waits for its bytes; nothing is reserved for it. */
  uint32_t max = FPQ_FRAME_MAX;
  header[0] = (char)(max >> 24), header[1] = (char)(max >> 16);
  header[2] = (char)(max >> 8), header[3] = (char)max;
  push(&r, header, 4);
  push(&r, "{\"type\"", 7);
  assert_null(next(&r));
  assert_true(r.cap <= 4096);
  fpq__frame_reader_free(&r);
}

static void a_frame_that_is_not_json_breaks_the_stream(void **state) {
  (void)state;
  const char *bad[] = {"{\"type\":", "{\"type\":\"a\"} trailing", "not json", "5", "\"str\"",
                       "{\"type\":\"\xff\"}", "{\"type\":\"\\\n\"}", "{\"type\":\"\t\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[128];
    size_t len = raw_frame(bad[i], buf);
    fpq__frame_reader r = {0};
    push(&r, buf, len);
    assert_broken(&r, "frame is not valid JSON: ");
    fpq__frame_reader_free(&r);
  }
}

static void a_frame_with_a_duplicate_key_breaks_the_stream(void **state) {
  (void)state;
  char buf[128];
  size_t len = raw_frame("{\"type\":\"a\",\"type\":\"b\"}", buf);
  fpq__frame_reader r = {0};
  push(&r, buf, len);
  assert_broken(&r, "duplicate");
  fpq__frame_reader_free(&r);
}

static void a_frame_that_is_not_an_object_with_a_type_breaks_the_stream(void **state) {
  (void)state;
  const char *bad[] = {"[1,2]", "[]", "{}", "{\"kind\":\"ready\"}", "{\"type\":5}",
                       "{\"type\":null}", "{\"type\":[\"a\"]}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[128];
    size_t len = raw_frame(bad[i], buf);
    fpq__frame_reader r = {0};
    push(&r, buf, len);
    assert_broken(&r, "frame is not a JSON object with a \"type\" string");
    fpq__frame_reader_free(&r);
  }
}

static void push_and_encode_report_running_out_of_memory(void **state) {
  (void)state;
  char buf[64];
  size_t len = raw_frame("{\"type\":\"x\"}", buf);
  fpq__frame_reader r = {0};
  fpq__alloc_fail_after(1);
  int rc = fpq__frame_push(&r, buf, len);
  fpq__alloc_fail_after(0);
  assert_int_equal(rc, FPQ_ENOMEM);
  assert_null(r.buf);
  assert_int_equal(r.len, 0);
  push(&r, buf, len); /* the reader is still usable */
  json_t *msg = next(&r);
  assert_type(msg, "x");
  json_decref(msg);
  fpq__frame_reader_free(&r);

  json_t *obj = json_pack("{s:s}", "type", "x");
  char *out = (char *)&out;
  size_t out_len = 99;
  fpq__alloc_fail_after(1);
  rc = fpq__frame_encode(obj, &out, &out_len);
  fpq__alloc_fail_after(0);
  assert_int_equal(rc, FPQ_ENOMEM);
  assert_null(out);
  assert_int_equal(out_len, 0);
  json_decref(obj);
}

int main(void) {
#define T(f) cmocka_unit_test_teardown(f, reset_alloc)
  const struct CMUnitTest tests[] = {
      T(a_frame_is_a_big_endian_length_then_compact_json),
      T(a_frame_decodes_to_the_object_that_was_encoded),
      T(bytes_fed_one_at_a_time_give_the_frame_only_at_the_last),
      T(several_frames_in_one_push_come_out_in_order),
      T(a_long_stream_in_odd_chunks_decodes_in_bounded_memory),
      T(a_frame_larger_than_the_buffer_grows_it),
      T(pushing_nothing_is_harmless),
      T(a_zero_length_frame_breaks_the_stream),
      T(a_length_over_the_maximum_is_refused_without_allocating_it),
      T(a_frame_that_is_not_json_breaks_the_stream),
      T(a_frame_with_a_duplicate_key_breaks_the_stream),
      T(a_frame_that_is_not_an_object_with_a_type_breaks_the_stream),
      T(push_and_encode_report_running_out_of_memory),
  };
#undef T
  return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
