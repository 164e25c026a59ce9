/* project.c: the little the engine must know of a FlowerPower project, read from its
 * files so that `fpq enqueue` needs no Python: does the pipeline exist, and how does its
 * YAML say a failed run is retried. Names map to paths as FlowerPower maps them:
 * pipeline "a.b" is pipelines/a/b.py, configured in conf/pipelines/a/b.yml. */
#include "project.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc.h"
#include "config.h"
#include "fpq.h"
#include "job.h"

#define PIPELINE_YAML_MAX (4 << 20)

/* Appends text to the path in buf (o: its length), cut to len like snprintf: a path cut
 * short names no file, so its stat fails. Not snprintf: an enqueue builds four paths,
 * and formatting them was a twentieth of its instructions. */
static void append(char *buf, size_t len, size_t *o, const char *text) {
  size_t n = strlen(text);
  if (*o + n >= len) n = len - 1 - *o;
  memcpy(buf + *o, text, n);
  *o += n;
  buf[*o] = '\0';
}

/* buf = PROJECT/REST; returns its length. len > 0. */
static size_t path_in(char *buf, size_t len, const char *project, const char *rest) {
  size_t o = 0;
  buf[0] = '\0';
  append(buf, len, &o, project);
  append(buf, len, &o, "/");
  append(buf, len, &o, rest);
  return o;
}

/* buf = PROJECT/DIR/PIPELINE.EXT, the pipeline's dots made slashes. */
static void pipeline_path(char *buf, size_t len, const char *project, const char *dir,
                          const char *pipeline, const char *ext) {
  size_t o = path_in(buf, len, project, dir);
  append(buf, len, &o, "/");
  for (const char *p = pipeline; *p && o + 1 < len; p++) buf[o++] = *p == '.' ? '/' : *p;
  buf[o] = '\0';
  append(buf, len, &o, ext);
}

/* Whether path is there and of type (S_IFREG, S_IFDIR). */
static int is_a(const char *path, mode_t type) {
  struct stat st;
  return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* Whether PROJECT/REST is there and of type. */
static int in_project(const char *project, const char *rest, mode_t type) {
  char path[PATH_MAX + 300];
  path_in(path, sizeof path, project, rest);
  return is_a(path, type);
}

int fpq__pipeline_check(const char *project, const char *pipeline, char *msg, size_t len) {
  /* A producer's checkout may hold only the conf (the code lives where the workers run),
   * but a directory with neither file is not a project: enqueueing there used to create
   * a queue beside nothing and fail the job four times on the worker. */
  if (!in_project(project, "conf/project.yml", S_IFREG) &&
      !in_project(project, "conf/job_queue.yml", S_IFREG)) {
    snprintf(msg, len, "%.300s is not a FlowerPower project: it has no conf/project.yml (or "
             "conf/job_queue.yml); run in a project directory or give --project DIR", project);
    return FPQ_EINVAL;
  }
  char path[PATH_MAX + 300];
  pipeline_path(path, sizeof path, project, "pipelines", pipeline, ".py");
  if (is_a(path, S_IFREG)) return 0;
  /* Missing, and only looked at then: a project without pipelines/ holds no code here. */
  if (!in_project(project, "pipelines", S_IFDIR)) return 0;
  snprintf(msg, len, "pipeline '%.200s' is not in project %.300s: there is no pipelines/%.200s",
           pipeline, project, path + strlen(project) + strlen("/pipelines/"));
  return FPQ_ENOTFOUND;
}

static int read_number(const char *file, const fpq__setting *s, size_t n, const char *key,
                       double *out, char *msg, size_t len) {
  const char *v = fpq__settings_get(s, n, key);
  if (v == NULL || strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || v[0] == '\0') return 1;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || *end != '\0' || !(d >= 0) || !isfinite(d)) { /* strtod takes "inf" too */
    char q[80];
    fpq__quote(v, q, sizeof q);
    snprintf(msg, len, "%s: %s is '%s': expected a number >= 0", file, key, q);
    return FPQ_ECONFIG;
  }
  *out = d;
  return 0;
}

/* Reads one retry field: run.retry.KEY, else legacy run.KEY; keeps *out when neither. */
static int read_retry_field(const char *file, const fpq__setting *s, size_t n, const char *key,
                            double *out, char *msg, size_t len) {
  char k[64];
  snprintf(k, sizeof k, "run.retry.%s", key);
  int rc = read_number(file, s, n, k, out, msg, len);
  if (rc != 1) return rc;
  snprintf(k, sizeof k, "run.%s", key);
  rc = read_number(file, s, n, k, out, msg, len);
  return rc == 1 ? 0 : rc;
}

/* What a pipeline's YAML says about retries, kept per file while the file is the same
 * (device, inode, size, mtime, ctime): parsing it with libyaml on every enqueue was 31% of
 * the instructions of an fpq_enqueue on the SQLite backend (callgrind, bench/compare,
 * issue 6) where a stat costs a few hundred. Only successful reads are kept, so a broken
 * file is reported afresh each time. Handles are used from many threads: one mutex. */
#define POLICY_CACHE_SIZE 16

typedef struct {
  char *path; /* owned; NULL: a free entry */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
  double max, delay, jitter;
} policy_entry;

static policy_entry policy_cache[POLICY_CACHE_SIZE];
static unsigned policy_next; /* the entry replaced next, round robin */
static pthread_mutex_t policy_lock = PTHREAD_MUTEX_INITIALIZER;

static int same_file(const policy_entry *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
         e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static int policy_get(const char *path, const struct stat *st, double *max, double *delay,
                      double *jitter) {
  int hit = 0;
  pthread_mutex_lock(&policy_lock);
  for (unsigned i = 0; i < POLICY_CACHE_SIZE && !hit; i++) {
    policy_entry *e = &policy_cache[i];
    if (e->path && strcmp(e->path, path) == 0 && same_file(e, st)) {
      *max = e->max;
      *delay = e->delay;
      *jitter = e->jitter;
      hit = 1;
    }
  }
  pthread_mutex_unlock(&policy_lock);
  return hit;
}

static void policy_put(const char *path, const struct stat *st, double max, double delay,
                       double jitter) {
  /* A file changed in the last seconds is not kept (git's "racy" rule): file times tick
   * at the kernel's coarse clock, so two writes of the same size close together can leave
   * size and times as they were. */
  struct timespec now;
  if (clock_gettime(CLOCK_REALTIME, &now) != 0 || now.tv_sec - st->st_mtim.tv_sec < 2 ||
      now.tv_sec - st->st_ctim.tv_sec < 2)
    return;
  char *copy = fpq__malloc(strlen(path) + 1);
  if (copy == NULL) return; /* not kept: the next call reads the file again */
  strcpy(copy, path);
  pthread_mutex_lock(&policy_lock);
  policy_entry *e = NULL;
  for (unsigned i = 0; i < POLICY_CACHE_SIZE && e == NULL; i++)
    if (policy_cache[i].path && strcmp(policy_cache[i].path, path) == 0) e = &policy_cache[i];
  if (e == NULL) e = &policy_cache[policy_next++ % POLICY_CACHE_SIZE];
  fpq__free(e->path);
  *e = (policy_entry){.path = copy, .dev = st->st_dev, .ino = st->st_ino,
                      .size = st->st_size, .mtime = st->st_mtim, .ctime = st->st_ctim,
                      .max = max, .delay = delay, .jitter = jitter};
  pthread_mutex_unlock(&policy_lock);
}

int fpq__pipeline_retry_policy(const char *project, const char *pipeline, int *max_retries,
                               double *retry_delay, double *jitter_factor, char *msg,
                               size_t len) {
  double max = FPQ_DEFAULT_MAX_RETRIES, delay = FPQ_DEFAULT_RETRY_DELAY,
         jitter = FPQ_DEFAULT_JITTER;
  char path[PATH_MAX + 300];
  pipeline_path(path, sizeof path, project, "conf/pipelines", pipeline, ".yml");
  /* Stat first, read after: a file changed in between is kept under the older stat and
   * so read again next time, never the other way round. */
  struct stat st;
  const int have_stat = stat(path, &st) == 0 && S_ISREG(st.st_mode);
  if (have_stat && policy_get(path, &st, &max, &delay, &jitter)) goto apply;
  char *text = NULL;
  size_t text_len = 0;
  int rc = fpq__read_file(path, PIPELINE_YAML_MAX, &text, &text_len, msg, len);
  if (rc == 0) {
    fpq__setting *s = NULL;
    size_t n = 0;
    /* Messages name the file as the user knows it: conf/pipelines/NAME.yml. */
    const char *file = path + strlen(project) + 1;
    rc = fpq__settings_parse(text, text_len, 1, &s, &n, msg, len);
    if (rc == FPQ_ECONFIG && strncmp(msg, "pipeline YAML: ", 15) == 0) {
      char why[512];
      snprintf(why, sizeof why, "%s", msg + 15);
      snprintf(msg, len, "%s: %s", file, why);
    }
    if (rc == 0) rc = read_retry_field(file, s, n, "max_retries", &max, msg, len);
    if (rc == 0) rc = read_retry_field(file, s, n, "retry_delay", &delay, msg, len);
    if (rc == 0) rc = read_retry_field(file, s, n, "jitter_factor", &jitter, msg, len);
    fpq__settings_free(s, n);
    fpq__free(text);
    if (rc) return rc;
    if (have_stat) policy_put(path, &st, max, delay, jitter);
  } else if (rc != FPQ_ENOTFOUND) {
    return rc;
  }
apply:
  if (*max_retries < 0) *max_retries = max > 1000 ? 1000 : (int)max;
  /* Clamped to what fpq_job_validate allows a caller (30 days): the YAML is read after it. */
  if (*retry_delay < 0) *retry_delay = delay > 86400 * 30 ? 86400 * 30 : delay;
  if (*jitter_factor < 0) *jitter_factor = jitter > 1 ? 1 : jitter;
  return 0;
}
