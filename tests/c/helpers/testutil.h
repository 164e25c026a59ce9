/* testutil.h: helpers the C tests share: temporary directories, a FlowerPower-shaped
 * project on disk, and a real redis-server on a free loopback port. */
#ifndef FPQ_TESTUTIL_H
#define FPQ_TESTUTIL_H

#include <stddef.h>

/* Makes a fresh directory under $TMPDIR; returns a static-lifetime path owned by the
 * helper (freed by test_rmdir). */
char *test_mkdtemp(void);
/* Removes a directory tree and frees the path. */
void test_rmdir(char *path);
/* Writes a file (creating parent directories). */
void test_write_file(const char *dir, const char *relpath, const char *text);
/* Makes a project directory with conf/ and pipelines/NAME.py for each name. */
char *test_project(const char *const *pipelines);

typedef struct test_redis {
  int pid;
  int port;
  char dir[256];
  char url[64];
  char sock[300]; /* its unix socket, dir/redis.sock */
} test_redis;
/* Starts redis-server on a free port (skips the test when it is not installed). Returns
 * 0 on success. */
int test_redis_start(test_redis *r);
/* Stops the server and starts a fresh one (empty: no persistence) on the same port and
 * socket, as a Redis restart looks to clients. Returns 0 on success. */
int test_redis_restart(test_redis *r);
/* Stops it without removing its directory (test_redis_restart brings it back). */
void test_redis_kill(test_redis *r);
void test_redis_stop(test_redis *r);

/* Assertions cmocka lacks, printing both values on failure (use after <cmocka.h>). */
#define assert_contains(haystack, needle) \
  test_assert_contains((haystack), (needle), #haystack, __FILE__, __LINE__)
#define assert_not_contains(haystack, needle) \
  test_assert_not_contains((haystack), (needle), #haystack, __FILE__, __LINE__)
#define assert_double_near(actual, expected, epsilon) \
  test_assert_double_near((actual), (expected), (epsilon), #actual, __FILE__, __LINE__)
void test_assert_contains(const char *haystack, const char *needle, const char *expr,
                          const char *file, int line);
void test_assert_not_contains(const char *haystack, const char *needle, const char *expr,
                              const char *file, int line);
void test_assert_double_near(double actual, double expected, double epsilon, const char *expr,
                             const char *file, int line);

#endif /* FPQ_TESTUTIL_H */
