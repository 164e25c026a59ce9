/* config.c: where the queue lives and how it behaves, resolved in one place.
 *
 * Order: flags > environment > <project>/conf/job_queue.yml > defaults. The conf file is
 * ours alone: FlowerPower drops unknown sections of conf/project.yml when it re-saves it.
 * It is read with libyaml's event parser into a flat list of dotted keys, which is all
 * the settings need and keeps the parser's output trivially safe to fuzz. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "alloc.h"
#include "job.h"

#define CONF_FILE "conf/job_queue.yml"
#define CONF_MAX_BYTES (1 << 20)
#define MAX_DEPTH 8

void fpq__settings_free(fpq__setting *s, size_t n) {
  for (size_t i = 0; s && i < n; i++) {
    fpq__free(s[i].key);
    fpq__free(s[i].value);
  }
  fpq__free(s);
}

typedef struct parse_state {
  fpq__setting *items;
  size_t n, cap;
  char *path[MAX_DEPTH]; /* key of each open mapping level */
  int depth;             /* open mappings */
  int expect_key;        /* in the innermost mapping: next scalar is a key */
  char *seq_key;         /* collecting a sequence of scalars under this key */
  char *seq_value;
  int lenient;           /* pipeline YAML: skip what settings cannot hold */
  int skip;              /* lenient: depth of a skipped collection inside a list */
} parse_state;

static char *join_path(parse_state *st, const char *last) {
  size_t len = strlen(last) + 1;
  for (int i = 0; i < st->depth - 1; i++) len += strlen(st->path[i]) + 1;
  char *out = fpq__malloc(len);
  if (out == NULL) return NULL;
  out[0] = '\0';
  for (int i = 0; i < st->depth - 1; i++) {
    strcat(out, st->path[i]);
    strcat(out, ".");
  }
  strcat(out, last);
  return out;
}

static int add_setting(parse_state *st, char *key, char *value) {
  for (size_t i = 0; i < st->n; i++) { /* a repeated key: the later one wins, as in YAML */
    if (strcmp(st->items[i].key, key) == 0) {
      fpq__free(st->items[i].value);
      st->items[i].value = value;
      fpq__free(key);
      return 0;
    }
  }
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    fpq__setting *grown = fpq__realloc(st->items, cap * sizeof *grown);
    if (grown == NULL) return -1;
    st->items = grown;
    st->cap = cap;
  }
  st->items[st->n].key = key;
  st->items[st->n].value = value;
  st->n++;
  return 0;
}

static const char *file_name(const parse_state *st) {
  return st->lenient ? "pipeline YAML" : CONF_FILE;
}

static int fail_at(const parse_state *st, char *err, size_t errlen, const yaml_event_t *ev,
                   const char *what) {
  snprintf(err, errlen, "%s: %s at line %zu", file_name(st), what, ev->start_mark.line + 1);
  return FPQ_ECONFIG;
}

/* Handles one event; returns 0, 1 at the end of the document, or an error. */
static int on_event(parse_state *st, yaml_event_t *ev, char *err, size_t errlen) {
  if (st->skip) { /* inside a collection nested in a list: settings cannot hold it */
    if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
      st->skip++;
    else if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT)
      st->skip--;
    return 0;
  }
  if (st->lenient && st->seq_key &&
      (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)) {
    st->skip = 1;
    return 0;
  }
  if (st->lenient && ev->type == YAML_ALIAS_EVENT) {
    if (st->seq_key) return 0; /* an aliased list item: dropped */
    if (st->depth == 0) return fail_at(st, err, errlen, ev, "the file must be a mapping of settings");
    if (st->expect_key) { /* an aliased key: a stand-in name keeps keys and values paired */
      st->path[st->depth - 1] = fpq__strdup("*");
      st->expect_key = 0;
      return st->path[st->depth - 1] ? 0 : FPQ_ENOMEM;
    }
    /* an aliased value: drop the key it belonged to */
    fpq__free(st->path[st->depth - 1]);
    st->path[st->depth - 1] = NULL;
    st->expect_key = 1;
    return 0;
  }
  switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
      return 0;
    case YAML_STREAM_END_EVENT:
      return 1;
    case YAML_ALIAS_EVENT: {
      char q[80], what[128];
      fpq__quote((const char *)ev->data.alias.anchor, q, sizeof q);
      snprintf(what, sizeof what, "alias '*%s' is not supported: write the value out", q);
      return fail_at(st, err, errlen, ev, what);
    }
    case YAML_MAPPING_START_EVENT:
      if (st->seq_key) return fail_at(st, err, errlen, ev, "a list may hold only plain values");
      if (st->depth > 0 && st->expect_key)
        return fail_at(st, err, errlen, ev, "a key must be a plain value");
      if (st->depth >= MAX_DEPTH) {
        if (!st->lenient) return fail_at(st, err, errlen, ev, "nesting is too deep");
        /* A pipeline's params may nest deeper than any setting we read: skip the value
         * and the key it belongs to. */
        fpq__free(st->path[st->depth - 1]);
        st->path[st->depth - 1] = NULL;
        st->expect_key = 1;
        st->skip = 1;
        return 0;
      }
      st->depth++;
      st->expect_key = 1;
      return 0;
    case YAML_MAPPING_END_EVENT:
      st->depth--;
      if (st->depth > 0) {
        fpq__free(st->path[st->depth - 1]);
        st->path[st->depth - 1] = NULL;
      }
      st->expect_key = 1;
      return 0;
    case YAML_SEQUENCE_START_EVENT:
      if (st->depth == 0) return fail_at(st, err, errlen, ev, "the file must be a mapping of settings");
      if (st->expect_key || st->seq_key)
        return fail_at(st, err, errlen, ev, "a list is allowed only as a setting's value");
      st->seq_key = join_path(st, st->path[st->depth - 1]);
      st->seq_value = fpq__strdup("");
      return st->seq_key && st->seq_value ? 0 : FPQ_ENOMEM;
    case YAML_SEQUENCE_END_EVENT: {
      fpq__free(st->path[st->depth - 1]);
      st->path[st->depth - 1] = NULL;
      int rc = add_setting(st, st->seq_key, st->seq_value);
      st->seq_key = st->seq_value = NULL;
      st->expect_key = 1;
      return rc ? FPQ_ENOMEM : 0;
    }
    case YAML_SCALAR_EVENT: {
      const char *text = (const char *)ev->data.scalar.value;
      if (st->depth == 0) {
        /* An empty document ("---" and comments) is an empty file, not a scalar. */
        if (text[0] == '\0' && ev->data.scalar.plain_implicit) return 0;
        return fail_at(st, err, errlen, ev, "the file must be a mapping of settings");
      }
      if (st->seq_key) {
        size_t a = strlen(st->seq_value), b = strlen(text);
        char *grown = fpq__realloc(st->seq_value, a + b + 2);
        if (grown == NULL) return FPQ_ENOMEM;
        if (a) grown[a++] = ',';
        memcpy(grown + a, text, b + 1);
        st->seq_value = grown;
        return 0;
      }
      if (st->expect_key) {
        if (text[0] == '\0' || (!st->lenient && strchr(text, '.'))) {
          char q[80], what[256];
          fpq__quote(text, q, sizeof q);
          snprintf(what, sizeof what, "key '%s' is not allowed: expected a non-empty name "
                   "without '.' (nest a mapping instead)", q);
          return fail_at(st, err, errlen, ev, what);
        }
        st->path[st->depth - 1] = fpq__strdup(text);
        st->expect_key = 0;
        return st->path[st->depth - 1] ? 0 : FPQ_ENOMEM;
      }
      char *key = join_path(st, st->path[st->depth - 1]);
      char *value = fpq__strdup(text);
      fpq__free(st->path[st->depth - 1]);
      st->path[st->depth - 1] = NULL;
      st->expect_key = 1;
      if (key == NULL || value == NULL || add_setting(st, key, value)) {
        fpq__free(key);
        fpq__free(value);
        return FPQ_ENOMEM;
      }
      return 0;
    }
    case YAML_NO_EVENT:
      break;
  }
  return fail_at(st, err, errlen, ev, "unexpected YAML content");
}

int fpq__settings_parse(const char *text, size_t len, int lenient, fpq__setting **out,
                        size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return FPQ_ENOMEM;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  parse_state st = {.lenient = lenient};
  int rc = 0;
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      /* libyaml marks a problem found at the end of input on the line after the last
       * newline, one a file of N lines does not have: name the last line instead. */
      size_t lines = 0;
      for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
      if (len > 0 && text[len - 1] != '\n') lines++;
      size_t line = parser.problem_mark.line + 1;
      const char *problem = parser.problem ? parser.problem : "invalid YAML";
      if (line > lines && lines > 0)
        snprintf(err, errlen, "%s: %s at the end of the file (line %zu)", file_name(&st),
                 problem, lines);
      else
        snprintf(err, errlen, "%s: %s at line %zu", file_name(&st), problem, line);
      rc = FPQ_ECONFIG;
      break;
    }
    rc = on_event(&st, &ev, err, errlen);
    yaml_event_delete(&ev);
    if (rc != 0) break;
  }
  yaml_parser_delete(&parser);
  for (int i = 0; i < MAX_DEPTH; i++) fpq__free(st.path[i]);
  fpq__free(st.seq_key);
  fpq__free(st.seq_value);
  if (rc < 0) {
    if (rc == FPQ_ENOMEM) snprintf(err, errlen, "out of memory reading %s", file_name(&st));
    fpq__settings_free(st.items, st.n);
    return rc;
  }
  *out = st.items;
  *n = st.n;
  return 0;
}

int fpq__read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                   size_t errlen) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (errno == ENOENT) return FPQ_ENOTFOUND;
    snprintf(err, errlen, "cannot read %.300s: %s", path, strerror(errno));
    return FPQ_ECONFIG;
  }
  char *text = fpq__malloc(max + 1);
  if (text == NULL) {
    fclose(f);
    snprintf(err, errlen, "out of memory reading %.300s", path);
    return FPQ_ENOMEM;
  }
  errno = 0;
  size_t got = fread(text, 1, max + 1, f);
  int read_error = ferror(f) ? (errno ? errno : EIO) : 0; /* EISDIR for a directory */
  fclose(f);
  if (read_error || got > max) {
    if (read_error) snprintf(err, errlen, "cannot read %.300s: %s", path, strerror(read_error));
    else snprintf(err, errlen, "%.300s is larger than %zu bytes: too large to be a settings file",
                  path, max);
    fpq__free(text);
    return FPQ_ECONFIG;
  }
  text[got] = '\0';
  *out = text;
  *len = got;
  return 0;
}

void fpq__redact_url(const char *url, char *buf, size_t len) {
  snprintf(buf, len, "%s", url ? url : "");
  char *scheme = strstr(buf, "://");
  if (scheme == NULL) return;
  char *authority = scheme + 3;
  char *at = strchr(authority, '@');
  char *slash = strchr(authority, '/');
  if (at == NULL || (slash && slash < at)) return;
  char *colon = memchr(authority, ':', (size_t)(at - authority));
  char *secret = colon ? colon + 1 : authority; /* "redis://pass@host" holds a password too */
  char rest[1024];
  snprintf(rest, sizeof rest, "%s", at);
  snprintf(secret, len - (size_t)(secret - buf), "***%s", rest);
}

const char *fpq__settings_get(const fpq__setting *s, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s[i].key, key) == 0) return s[i].value;
  return NULL;
}

/* Reads the project's conf file if it exists. A file that exists but cannot be read is
 * an error: silently falling back to defaults would send jobs to the wrong backend. */
static int load_conf_file(fpq__config *c) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", c->project_dir, CONF_FILE);
  char *text;
  size_t len;
  int rc = fpq__read_file(path, CONF_MAX_BYTES, &text, &len, c->errmsg, sizeof c->errmsg);
  if (rc == FPQ_ENOTFOUND) return 0;
  if (rc == 0) {
    rc = fpq__settings_parse(text, len, 0, &c->settings, &c->nsettings, c->errmsg,
                             sizeof c->errmsg);
    fpq__free(text);
  }
  if (rc) snprintf(c->errfield, sizeof c->errfield, "%s", CONF_FILE);
  return rc;
}

/* The environment's FPQ_<KEY> when set and not empty, else NULL. */
static const char *env_value(const char *key) {
  char env[128] = "FPQ_";
  size_t o = 4;
  for (const char *p = key; *p && o + 1 < sizeof env; p++)
    /* '-' too: a shell cannot name FPQ_BACKENDS_MY-QUEUE_ADAPTER, and the Python side
     * hands adapters over as FPQ_BACKENDS_MY_QUEUE_ADAPTER. */
    env[o++] = *p == '.' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  env[o] = '\0';
  const char *v = getenv(env);
  return v && *v ? v : NULL;
}

const char *fpq__config_get(const fpq__config *c, const char *key) {
  const char *v = env_value(key);
  return v ? v : fpq__settings_get(c->settings, c->nsettings, key);
}

int fpq__config_section(const fpq__config *c, const char *prefix, const char *const *skip,
                        const char ***out) {
  size_t plen = strlen(prefix), n = 0;
  const char **pairs = fpq__calloc(2 * c->nsettings + 1, sizeof *pairs);
  *out = pairs;
  if (pairs == NULL) return FPQ_ENOMEM;
  for (size_t i = 0; i < c->nsettings; i++) {
    const char *key = c->settings[i].key;
    if (strncmp(key, prefix, plen) != 0 || key[plen] == '\0') continue;
    int skipped = 0;
    for (const char *const *s = skip; s && *s && !skipped; s++) skipped = strcmp(key + plen, *s) == 0;
    if (skipped) continue;
    pairs[n++] = key + plen;
    pairs[n++] = fpq__config_get(c, key);
  }
  pairs[n] = NULL;
  return 0;
}

/* A setting and the rank of the source it came from: 0 flag, 1 environment, 2 conf file,
 * 3 unset. */
static const char *ranked(const fpq__config *c, const char *flag, const char *key, int *rank) {
  const char *v;
  if (flag && *flag) return *rank = 0, flag;
  if ((v = env_value(key))) return *rank = 1, v;
  if ((v = fpq__settings_get(c->settings, c->nsettings, key))) return *rank = 2, v;
  return *rank = 3, NULL;
}

static const char *scheme_backend(const char *url) {
  if (strncmp(url, "sqlite://", 9) == 0) return "sqlite";
  if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "rediss://", 9) == 0 ||
      strncmp(url, "unix://", 7) == 0)
    return "rq";
  return NULL;
}

static int set_url(fpq__config *c, const char *url) {
  fpq__free(c->url);
  c->url = fpq__strdup(url);
  return c->url ? 0 : FPQ_ENOMEM;
}

/* Picks the backend and URL, each from its highest source. When they disagree and came
 * from different sources, the higher source wins and the other is dropped: `--url
 * redis://...` overrides a conf file's `backend: sqlite`, as flags override the file.
 * Disagreeing values from one source are a mistake to report. */
static int resolve_backend(fpq__config *c, const fpq_options *o) {
  int backend_rank, url_rank;
  const char *backend = ranked(c, o->backend, "backend", &backend_rank);
  const char *url = ranked(c, o->url, "url", &url_rank);
  const char *redis_url = fpq__config_get(c, "redis_url");
  if (backend && url && backend_rank != url_rank && scheme_backend(url) &&
      (strcmp(backend, "sqlite") == 0 || strcmp(backend, "rq") == 0) &&
      strcmp(scheme_backend(url), backend) != 0) {
    if (url_rank < backend_rank) backend = NULL; /* follows the URL's scheme below */
    else url = NULL;                             /* the backend's default URL below */
  }
  if (!backend && url) backend = scheme_backend(url);
  if (!backend) backend = redis_url ? "rq" : "sqlite";
  if (strlen(backend) >= sizeof c->backend) {
    char q[80];
    fpq__quote(backend, q, sizeof q);
    snprintf(c->errmsg, sizeof c->errmsg, "backend name '%s' is too long: at most %zu characters",
             q, sizeof c->backend - 1);
    snprintf(c->errfield, sizeof c->errfield, "backend");
    return FPQ_EINVAL;
  }
  snprintf(c->backend, sizeof c->backend, "%s", backend);
  if (!url && strcmp(backend, "rq") == 0) url = redis_url ? redis_url : "redis://127.0.0.1:6379/0";
  if (url) {
    const char *scheme = scheme_backend(url);
    if (scheme && (strcmp(backend, "sqlite") == 0 || strcmp(backend, "rq") == 0) &&
        strcmp(scheme, backend) != 0) {
      char q[80];
      fpq__quote(url, q, sizeof q);
      snprintf(c->errfield, sizeof c->errfield, "url");
      snprintf(c->errmsg, sizeof c->errmsg,
               "URL '%s' does not fit backend '%s': expected %s", q, backend,
               strcmp(backend, "sqlite") == 0 ? "sqlite:///abs/path.db"
                                              : "redis://host:port/db or unix:///path.sock");
      return FPQ_ECONFIG;
    }
    return set_url(c, url);
  }
  if (strcmp(backend, "sqlite") == 0) {
    char def[PATH_MAX + 64];
    snprintf(def, sizeof def, "sqlite://%s/.flowerpower/queue.db", c->project_dir);
    return set_url(c, def);
  }
  return set_url(c, "");
}

/* ---- project identity (issue 12) ----
 * A job names its project by a stable name, not a path: producers and workers on
 * different machines keep their own copies of the code, and a worker must never open a
 * directory a job names (anyone who can write to the queue could choose it). */

/* FlowerPower's own name for the project: `name:` in conf/project.yml, or "" when the
 * file is missing, unreadable as settings or has none (the basename then stands in; a
 * broken project.yml is FlowerPower's to report, not ours). */
static void flowerpower_name(const fpq__config *c, char *out, size_t len) {
  char path[PATH_MAX + 32], err[256];
  snprintf(path, sizeof path, "%s/conf/project.yml", c->project_dir);
  out[0] = '\0';
  char *text;
  size_t n;
  if (fpq__read_file(path, CONF_MAX_BYTES, &text, &n, err, sizeof err) != 0) return;
  fpq__setting *s = NULL;
  size_t ns = 0;
  if (fpq__settings_parse(text, n, 1, &s, &ns, err, sizeof err) == 0) {
    const char *v = fpq__settings_get(s, ns, "name");
    if (v) snprintf(out, len, "%s", v);
  }
  fpq__settings_free(s, ns);
  fpq__free(text);
}

static int resolve_identity(fpq__config *c) {
  char fp[256];
  const char *name = fpq__config_get(c, "project");
  const char *from = "project (conf/job_queue.yml or FPQ_PROJECT)";
  if (name == NULL) {
    flowerpower_name(c, fp, sizeof fp);
    name = fp;
    from = "name in conf/project.yml";
  }
  if (name[0] == '\0') {
    const char *slash = strrchr(c->project_dir, '/');
    name = slash ? slash + 1 : c->project_dir;
    from = "the project directory's name";
  }
  char why[256];
  if (fpq__validate_project_name(name, why, sizeof why)) {
    snprintf(c->errfield, sizeof c->errfield, "project");
    snprintf(c->errmsg, sizeof c->errmsg, "%s (from %s; set project: NAME in "
             "conf/job_queue.yml)", why, from);
    return FPQ_ECONFIG;
  }
  snprintf(c->project_name, sizeof c->project_name, "%.*s", FPQ_PROJECT_NAME_MAX, name);
  /* Namespaced by default where projects share one store (rq: a Redis database); the
   * SQLite file is per project directory already, so its names stay RQ's plain ones. */
  const char *ns = fpq__config_get(c, "queue_namespace");
  c->queue_namespaced = strcmp(c->backend, "rq") == 0;
  if (ns) {
    if (strcasecmp(ns, "true") == 0 || strcasecmp(ns, "on") == 0 || strcasecmp(ns, "yes") == 0)
      c->queue_namespaced = 1;
    else if (ns[0] == '\0' || strcasecmp(ns, "false") == 0 || strcasecmp(ns, "off") == 0 ||
             strcasecmp(ns, "no") == 0)
      c->queue_namespaced = 0;
    else {
      char q[80];
      fpq__quote(ns, q, sizeof q);
      snprintf(c->errfield, sizeof c->errfield, "queue_namespace");
      snprintf(c->errmsg, sizeof c->errmsg,
               "queue_namespace '%s' (conf/job_queue.yml or FPQ_QUEUE_NAMESPACE) is not valid: "
               "expected true (queues NAME.high, NAME.default, NAME.low) or false (plain high, "
               "default, low: one project per database)", q);
      return FPQ_ECONFIG;
    }
  }
  for (int p = 0; p < FPQ_PRIORITY_COUNT; p++) {
    const char *plain = fpq_priority_queue((fpq_priority)p);
    if (c->queue_namespaced)
      snprintf(c->queue_names[p], sizeof c->queue_names[p], "%.*s.%s", FPQ_PROJECT_NAME_MAX,
               c->project_name, plain);
    else
      snprintf(c->queue_names[p], sizeof c->queue_names[p], "%s", plain);
  }
  return 0;
}

int fpq__config_serves(const fpq__config *c, const char *project) {
  if (project == NULL || project[0] == '\0') return 1;
  if (project[0] == '/') return strcmp(project, c->project_dir) == 0;
  return strcmp(project, c->project_name) == 0;
}

int fpq__config_resolve(fpq__config *c, const fpq_options *o) {
  memset(c, 0, sizeof *c);
  const char *dir = o->project_dir && *o->project_dir ? o->project_dir : ".";
  if (realpath(dir, c->project_dir) == NULL) {
    char q[80];
    fpq__quote(dir, q, sizeof q);
    snprintf(c->errfield, sizeof c->errfield, "project_dir");
    snprintf(c->errmsg, sizeof c->errmsg, "project directory '%s' cannot be used: %s", q,
             strerror(errno));
    return FPQ_ECONFIG;
  }
  struct stat st;
  if (stat(c->project_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(c->errfield, sizeof c->errfield, "project_dir");
    snprintf(c->errmsg, sizeof c->errmsg, "project directory '%.300s' is not a directory",
             c->project_dir);
    return FPQ_ECONFIG;
  }
  int rc = load_conf_file(c);
  if (rc == 0) rc = resolve_backend(c, o);
  if (rc == 0) rc = resolve_identity(c);
  if (rc == FPQ_ENOMEM) snprintf(c->errmsg, sizeof c->errmsg, "out of memory");
  return rc;
}

void fpq__config_free(fpq__config *c) {
  fpq__free(c->url);
  c->url = NULL;
  fpq__settings_free(c->settings, c->nsettings);
  c->settings = NULL;
  c->nsettings = 0;
}

int fpq__config_pipeline_cache(const fpq__config *c, int *size, char *err, size_t errlen) {
  static const char *const off[] = {"false", "off", "no", "0", NULL};
  static const char *const on[] = {"true", "on", "yes", NULL};
  const char *v = fpq__config_get(c, "executor.pipeline_cache");
  *size = FPQ_PIPELINE_CACHE_DEFAULT;
  if (v == NULL) return 0;
  for (const char *const *w = off; *w; w++)
    if (strcasecmp(v, *w) == 0) return *size = 0, 0;
  for (const char *const *w = on; *w; w++)
    if (strcasecmp(v, *w) == 0) return 0;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end != '\0' || n < 1 || n > FPQ_PIPELINE_CACHE_MAX) {
    char q[80];
    fpq__quote(v, q, sizeof q);
    snprintf(err, errlen, "executor.pipeline_cache '%s' is not valid: expected true, false or "
             "a number of entries from 1 to %d", q, FPQ_PIPELINE_CACHE_MAX);
    return FPQ_ECONFIG;
  }
  *size = (int)n;
  return 0;
}

/* ---- the public view (fpq.h): settings resolved without connecting ---- */

struct fpq_config {
  fpq__config c;
};

int fpq_config_resolve(fpq_config **out, const fpq_options *opts) {
  fpq_config *cfg = fpq__calloc(1, sizeof *cfg);
  *out = cfg;
  if (cfg == NULL) return FPQ_ENOMEM;
  fpq_options none = {0};
  return fpq__config_resolve(&cfg->c, opts ? opts : &none);
}

void fpq_config_free(fpq_config *cfg) {
  if (cfg == NULL) return;
  fpq__config_free(&cfg->c);
  fpq__free(cfg);
}

const char *fpq_config_errmsg(const fpq_config *cfg) { return cfg ? cfg->c.errmsg : "out of memory"; }
const char *fpq_config_errfield(const fpq_config *cfg) { return cfg ? cfg->c.errfield : ""; }
const char *fpq_config_backend(const fpq_config *cfg) { return cfg->c.backend; }
const char *fpq_config_url(const fpq_config *cfg) { return cfg->c.url ? cfg->c.url : ""; }
const char *fpq_config_project_dir(const fpq_config *cfg) { return cfg->c.project_dir; }
const char *fpq_config_project_name(const fpq_config *cfg) { return cfg->c.project_name; }
const char *fpq_config_queue(const fpq_config *cfg, fpq_priority p) {
  return cfg->c.queue_names[(unsigned)p < FPQ_PRIORITY_COUNT ? p : FPQ_PRIORITY_MEDIUM];
}
int fpq_config_serves(const fpq_config *cfg, const char *project) {
  return fpq__config_serves(&cfg->c, project);
}
const char *fpq_config_get(const fpq_config *cfg, const char *key) {
  return fpq__config_get(&cfg->c, key);
}
const char *fpq_config_key(const fpq_config *cfg, size_t i) {
  return i < cfg->c.nsettings ? cfg->c.settings[i].key : NULL;
}
