/* testutil.c: see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

char *test_mkdtemp(void) {
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char *path = malloc(strlen(base) + 32);
  sprintf(path, "%s/fpq-test-XXXXXX", base);
  if (mkdtemp(path) == NULL) {
    perror("mkdtemp");
    abort();
  }
  return path;
}

void test_rmdir(char *path) {
  if (path == NULL) return;
  char *cmd = malloc(strlen(path) + 16);
  sprintf(cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
  free(cmd);
  free(path);
}

static void mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(buf, 0755);
      *p = '/';
    }
  }
  mkdir(buf, 0755);
}

void test_write_file(const char *dir, const char *relpath, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, relpath);
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  *strrchr(parent, '/') = '\0';
  mkdirs(parent);
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    abort();
  }
  fputs(text, f);
  fclose(f);
}

char *test_project(const char *const *pipelines) {
  char *dir = test_mkdtemp();
  test_write_file(dir, "conf/project.yml", "name: test\n");
  for (size_t i = 0; pipelines && pipelines[i]; i++) {
    char rel[512];
    snprintf(rel, sizeof rel, "pipelines/%s.py", pipelines[i]);
    for (char *p = rel + strlen("pipelines/"); *p && strcmp(p, ".py") != 0; p++)
      if (*p == '.') *p = '/';
    test_write_file(dir, rel, "def result(x: int = 1) -> int:\n    return x + 1\n");
  }
  return dir;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

static int can_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static int spawn_redis(test_redis *r) {
  const char *bin = "/usr/bin/redis-server";
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  pid_t pid = fork();
  if (pid == 0) {
    /* A test that crashes must not leave its server running (holding its output pipe). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int devnull = open("/dev/null", 1);
    dup2(devnull, 1);
    execl(bin, bin, "--port", port, "--bind", "127.0.0.1", "--dir", r->dir, "--save", "",
          "--appendonly", "no", "--unixsocket", r->sock, "--unixsocketperm", "700",
          (char *)NULL);
    _exit(127);
  }
  r->pid = pid;
  for (int i = 0; i < 500; i++) {
    if (can_connect(r->port)) return 0;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

int test_redis_start(test_redis *r) {
  const char *bin = "/usr/bin/redis-server";
  if (access(bin, X_OK) != 0) return -1;
  char *dir = test_mkdtemp();
  snprintf(r->dir, sizeof r->dir, "%s", dir);
  free(dir);
  r->port = free_port();
  snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
  snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
  if (spawn_redis(r) == 0) return 0;
  test_redis_stop(r);
  return -1;
}

void test_redis_kill(test_redis *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
  }
}

int test_redis_restart(test_redis *r) {
  test_redis_kill(r);
  return spawn_redis(r);
}

void test_redis_stop(test_redis *r) {
  test_redis_kill(r);
  if (r->dir[0]) {
    test_rmdir(strdup(r->dir));
    r->dir[0] = '\0';
  }
}

void test_assert_contains(const char *haystack, const char *needle, const char *expr,
                          const char *file, int line) {
  if (haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL) return;
  print_error("%s is \"%s\", which does not contain \"%s\"\n", expr,
              haystack ? haystack : "(null)", needle ? needle : "(null)");
  _fail(file, line);
}

void test_assert_not_contains(const char *haystack, const char *needle, const char *expr,
                              const char *file, int line) {
  if (haystack == NULL || needle == NULL || strstr(haystack, needle) == NULL) return;
  print_error("%s is \"%s\", which contains \"%s\"\n", expr, haystack, needle);
  _fail(file, line);
}

void test_assert_double_near(double actual, double expected, double epsilon, const char *expr,
                             const char *file, int line) {
  if (fabs(actual - expected) <= epsilon) return;
  print_error("%s is %.17g, expected %.17g (within %g)\n", expr, actual, expected, epsilon);
  _fail(file, line);
}
