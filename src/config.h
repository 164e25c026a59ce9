/* config.h: settings resolved in one order everywhere: flags > environment (FPQ_*) >
 * <project>/conf/job_queue.yml > defaults. */
#ifndef FPQ_CONFIG_H
#define FPQ_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "fpq.h"

typedef struct fpq__setting {
  char *key;   /* dotted path: "backend", "backends.mine.adapter" */
  char *value; /* scalars as written; sequences joined with "," */
} fpq__setting;

typedef struct fpq__config {
  char project_dir[PATH_MAX]; /* absolute, resolved */
  char backend[64];           /* "sqlite", "rq", or a plugin's name */
  char *url;                  /* owned */
  fpq__setting *settings;     /* from conf/job_queue.yml, owned */
  size_t nsettings;
  char errmsg[512];
  char errfield[64];          /* the setting errmsg is about: "backend", "url", ... */
  /* --- project identity (issue 12) --- */
  /* The project's stable name, what a job names instead of a path: `project` in
   * conf/job_queue.yml (FPQ_PROJECT), else `name` in conf/project.yml, else the
   * directory's basename; letters, digits, '_', '-', '.'. Producers and workers on
   * different machines agree on it, not on where the code lives. */
  char project_name[FPQ_PROJECT_NAME_MAX + 1];
  /* The queue each priority maps to: "NAME.high" / "NAME.default" / "NAME.low" when
   * queue_namespace is on (the default on rq, where projects share a database), else
   * RQ's plain "high" / "default" / "low". Decided here once; fpq_enqueue and the
   * worker's default --queues both read it. */
  char queue_names[FPQ_PRIORITY_COUNT][FPQ_PROJECT_NAME_MAX + 16];
  int queue_namespaced;
} fpq__config;

/* 1 when a job naming `project` belongs to this project: NULL (enqueued by Python rq
 * without one), this project's name, or (records written before names) exactly this
 * project's absolute directory. Any other path is never opened. */
int fpq__config_serves(const fpq__config *c, const char *project);
/* Resolves everything; returns 0, or FPQ_ECONFIG / FPQ_EINVAL / FPQ_ENOMEM with one line
 * in c->errmsg. Call fpq__config_free in either case. */
int fpq__config_resolve(fpq__config *c, const fpq_options *o);
void fpq__config_free(fpq__config *c);
/* The environment's FPQ_<KEY> (upper case, '.' as '_') if set, else the conf file's value,
 * else NULL. Owned by c or the environment. */
const char *fpq__config_get(const fpq__config *c, const char *key);
/* The settings under a section ("backends.jsonl."), each overridden by the environment
 * as fpq__config_get does, as a NULL-terminated array of pairs: key without the prefix,
 * value. Keys listed in skip (NULL-terminated, may be NULL) are left out. The strings are
 * owned by c and the environment; the caller frees the array with fpq__free. Returns 0
 * or FPQ_ENOMEM. */
int fpq__config_section(const fpq__config *c, const char *prefix, const char *const *skip,
                        const char ***out);
/* Parses YAML text into settings (exposed for tests and the fuzz target). Strict mode
 * (our conf file) refuses what settings cannot hold; lenient mode (a pipeline's YAML,
 * which is FlowerPower's) skips it. Returns 0 or FPQ_ECONFIG with one line in err; *out
 * is owned by the caller (fpq__settings_free). */
int fpq__settings_parse(const char *text, size_t len, int lenient, fpq__setting **out,
                        size_t *n, char *err, size_t errlen);
/* Reads a whole file of at most max bytes into a NUL-terminated buffer the caller frees.
 * Returns 0, FPQ_ENOTFOUND when it does not exist, or FPQ_ECONFIG with one line in err. */
int fpq__read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                   size_t errlen);
/* The value of key in a settings list, or NULL. */
const char *fpq__settings_get(const fpq__setting *s, size_t n, const char *key);
void fpq__settings_free(fpq__setting *s, size_t n);
/* executor.pipeline_cache: how many warm pipeline plans/drivers each executor keeps
 * (python/flowerpower_job_queue/pipeline_cache.py). Unset = FPQ_PIPELINE_CACHE_DEFAULT;
 * false/off/no/0 = none (every run builds afresh, as project.run() does); true/on/yes =
 * the default; else a count in 1..FPQ_PIPELINE_CACHE_MAX. Returns 0, or FPQ_ECONFIG with
 * one line in err naming the value and what was expected. */
#define FPQ_PIPELINE_CACHE_DEFAULT 32
#define FPQ_PIPELINE_CACHE_MAX 4096
int fpq__config_pipeline_cache(const fpq__config *c, int *size, char *err, size_t errlen);
/* Copies url into buf with any password replaced by "***" (redis://user:***@host), for
 * logs and messages. */
void fpq__redact_url(const char *url, char *buf, size_t len);

#endif /* FPQ_CONFIG_H */
