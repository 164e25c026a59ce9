/* metrics_http.c: a deliberately small HTTP/1.0 server on the worker's libuv loop that
 * answers GET /metrics with the Prometheus text of the queue's metrics, so Prometheus can
 * scrape a worker without another process. One request per connection, requests capped
 * at 8 KiB, idle connections closed after 10 s, at most 32 at once: a scraper needs
 * nothing more, and a misbehaving client cannot hold the worker's loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "metrics.h"

#define MAX_REQUEST 8192
#define MAX_CONNECTIONS 32
#define IDLE_MS 10000

typedef struct connection connection;

struct fpq__metrics_server {
  uv_tcp_t listener;
  fpq_queue *q;
  int connections;    /* open, counted until their memory is freed */
  connection *open;   /* list of open connections, closed with the server */
  int closing;
  int listener_open;
};

struct connection {
  connection *next, *prev;
  uv_tcp_t tcp;
  uv_timer_t idle;
  fpq__metrics_server *server;
  char request[MAX_REQUEST];
  size_t len;
  int answered;
  int handles; /* open handles; freed when both closed */
  uv_write_t write;
  char *response;
};

/* The server is freed when its listener and its last connection are closed, so no
 * connection callback ever sees a freed server. */
static void maybe_free_server(fpq__metrics_server *s) {
  if (s->closing && !s->listener_open && s->connections == 0) fpq__free(s);
}

static void free_connection(uv_handle_t *h) {
  connection *c = h->data;
  if (--c->handles > 0) return;
  fpq__metrics_server *s = c->server;
  if (c->prev) c->prev->next = c->next;
  else s->open = c->next;
  if (c->next) c->next->prev = c->prev;
  s->connections--;
  fpq__free(c->response);
  fpq__free(c);
  maybe_free_server(s);
}

static void close_connection(connection *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, free_connection);
  if (!uv_is_closing((uv_handle_t *)&c->idle)) uv_close((uv_handle_t *)&c->idle, free_connection);
}

static void on_written(uv_write_t *req, int status) {
  (void)status;
  close_connection(req->data);
}

static void respond(connection *c, const char *status, const char *type, const char *body) {
  c->answered = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  size_t body_len = strlen(body);
  size_t cap = body_len + 256;
  c->response = fpq__malloc(cap);
  if (c->response == NULL) {
    close_connection(c);
    return;
  }
  int n = snprintf(c->response, cap,
                   "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   status, type, body_len, body);
  uv_buf_t buf = uv_buf_init(c->response, (unsigned int)n);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) close_connection(c);
}

static void answer(connection *c) {
  if (strncmp(c->request, "GET /metrics ", 13) != 0 &&
      strncmp(c->request, "GET /metrics?", 13) != 0) {
    int is_get = strncmp(c->request, "GET ", 4) == 0;
    respond(c, is_get ? "404 Not Found" : "405 Method Not Allowed", "text/plain",
            "only GET /metrics is served here\n");
    return;
  }
  char *text = NULL;
  int rc = fpq_metrics_prometheus(c->server->q, &text);
  if (rc == 0) {
    respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", text);
  } else {
    char msg[512];
    snprintf(msg, sizeof msg, "metrics unavailable: %s\n", fpq_errmsg(c->server->q));
    respond(c, "503 Service Unavailable", "text/plain", msg);
  }
  fpq__free(text);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  connection *c = h->data;
  *buf = uv_buf_init(c->request + c->len, (unsigned int)(MAX_REQUEST - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  connection *c = s->data;
  if (nread < 0) {
    close_connection(c);
    return;
  }
  c->len += (size_t)nread;
  c->request[c->len] = '\0';
  if (strstr(c->request, "\r\n\r\n") || strstr(c->request, "\n\n")) answer(c);
  else if (c->len >= MAX_REQUEST - 1) respond(c, "431 Request Header Fields Too Large",
                                              "text/plain", "request too large\n");
}

static void on_idle(uv_timer_t *t) { close_connection(t->data); }

static void on_connection(uv_stream_t *listener, int status) {
  fpq__metrics_server *s = listener->data;
  if (status < 0) return;
  connection *c = fpq__calloc(1, sizeof *c);
  if (c == NULL) return;
  c->server = s;
  uv_tcp_init(listener->loop, &c->tcp);
  uv_timer_init(listener->loop, &c->idle);
  c->tcp.data = c->idle.data = c;
  c->handles = 2;
  s->connections++;
  c->next = s->open;
  if (s->open) s->open->prev = c;
  s->open = c;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || s->connections > MAX_CONNECTIONS) {
    close_connection(c);
    return;
  }
  uv_timer_start(&c->idle, on_idle, IDLE_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

fpq__metrics_server *fpq__metrics_server_start(uv_loop_t *loop, const char *host, int port,
                                               fpq_queue *q, char *err, size_t errlen) {
  struct sockaddr_storage addr;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
    snprintf(err, errlen, "metrics address '%.100s' is not an IP address", host);
    return NULL;
  }
  fpq__metrics_server *s = fpq__calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->q = q;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listener_open = 1;
  int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
  if (rc != 0) {
    snprintf(err, errlen, "cannot serve metrics on %.100s:%d: %s", host, port, uv_strerror(rc));
    fpq__metrics_server_close(s);
    return NULL;
  }
  return s;
}

static void listener_closed(uv_handle_t *h) {
  fpq__metrics_server *s = h->data;
  s->listener_open = 0;
  maybe_free_server(s);
}

void fpq__metrics_server_close(fpq__metrics_server *s) {
  if (s == NULL || s->closing) return;
  s->closing = 1;
  for (connection *c = s->open; c; c = c->next) close_connection(c);
  uv_close((uv_handle_t *)&s->listener, listener_closed);
}
