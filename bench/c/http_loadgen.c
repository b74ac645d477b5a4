/*
 * HTTP/1.1 load generator: CONNECTIONS keep-alive connections to 127.0.0.1:PORT, each
 * keeping DEPTH requests "GET PATH HTTP/1.1" in flight (1: one at a time; more:
 * pipelined), reading responses framed by Content-Length or chunked. Runs WARMUP seconds
 * unmeasured, then SECONDS measured, on one core, with epoll: far less work per request
 * than the servers it loads, so that the server is what is measured.
 * Prints one JSON line: {"rps":..,"p50_us":..,"p99_us":..,"p999_us":..,"errors":..}
 * (latency: from a request's write to its response's last byte, 1 us buckets).
 *
 * usage: http_loadgen PORT CONNECTIONS SECONDS [WARMUP] [DEPTH] [PATH]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 200000 /* 1 us buckets up to 200 ms, then one overflow bucket */
#define BUFFER 65536
#define MAX_DEPTH 256

typedef struct {
  int fd;
  int dead;
  size_t len;               /* bytes in buf */
  int outstanding;          /* requests written, responses not yet complete */
  int head;                 /* index of the oldest request's timestamp */
  uint64_t sent[MAX_DEPTH]; /* write times of the requests in flight, a ring */
  char buf[BUFFER];
} conn_t;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t histogram[BUCKETS + 1];

static uint64_t percentile(uint64_t total, double p) {
  uint64_t want = (uint64_t)(total * p), seen = 0;
  for (int i = 0; i <= BUCKETS; i++) {
    seen += histogram[i];
    if (seen > want) return (uint64_t)i;
  }
  return BUCKETS;
}

static char request[256 * MAX_DEPTH];
static size_t request_len;
static int depth;

/* Writes requests until DEPTH are in flight; false if the connection failed. */
static int top_up(conn_t *c, uint64_t t) {
  int want = depth - c->outstanding;
  if (want <= 0) return 1;
  size_t n = request_len * (size_t)want;
  ssize_t w = write(c->fd, request, n);
  if (w != (ssize_t)n) return 0; /* a few hundred bytes: the socket always takes them */
  for (int i = 0; i < want; i++) {
    c->sent[(c->head + c->outstanding) % MAX_DEPTH] = t;
    c->outstanding++;
  }
  return 1;
}

/* The length of one complete response at the start of buf, 0 if incomplete, -1 if bad. */
static long response_length(const char *buf, size_t len) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == NULL) return len >= BUFFER ? -1 : 0;
  size_t head = (size_t)(end - buf) + 4;
  long body = -1;
  int chunked = 0;
  for (const char *p = buf; p < end;) {
    const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
    if (eol == NULL) break;
    if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0) body = atol(p + 15);
    if (eol - p > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0 &&
        memmem(p, (size_t)(eol - p), "chunked", 7) != NULL) {
      chunked = 1;
    }
    p = eol + 2;
  }
  if (chunked) {
    /* Chunks: "SIZE\r\n" DATA "\r\n" ..., ending with "0\r\n\r\n" (no trailers). */
    size_t at = head;
    for (;;) {
      const char *eol = memmem(buf + at, len - at, "\r\n", 2);
      if (eol == NULL) return len >= BUFFER ? -1 : 0;
      long size = strtol(buf + at, NULL, 16);
      if (size < 0) return -1;
      at = (size_t)(eol - buf) + 2 + (size_t)size + 2;
      if (at > BUFFER) return -1;
      if (at > len) return 0;
      if (size == 0) return (long)at;
    }
  }
  if (body < 0 || head + (size_t)body > BUFFER) return -1;
  return head + (size_t)body <= len ? (long)(head + (size_t)body) : 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: http_loadgen PORT CONNECTIONS SECONDS [WARMUP] [DEPTH] [PATH]\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]);
  double seconds = atof(argv[3]), warmup = argc > 4 ? atof(argv[4]) : 1.0;
  depth = argc > 5 ? atoi(argv[5]) : 1;
  const char *path = argc > 6 ? argv[6] : "/";
  if (depth < 1 || depth > MAX_DEPTH) {
    fprintf(stderr, "DEPTH must be 1..%d\n", MAX_DEPTH);
    return 2;
  }
  request_len = (size_t)snprintf(request, 256, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                                 path, port);
  for (int i = 1; i < depth; i++) memcpy(request + i * request_len, request, request_len);

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)count, sizeof *conns);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  for (int i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
      perror("connect");
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  uint64_t start = now_us();
  uint64_t measure_from = start + (uint64_t)(warmup * 1e6);
  uint64_t end = measure_from + (uint64_t)(seconds * 1e6);
  uint64_t done = 0, errors = 0;
  for (int i = 0; i < count; i++) {
    if (!top_up(&conns[i], now_us())) errors++;
  }
  struct epoll_event events[1024];
  for (;;) {
    uint64_t t = now_us();
    if (t >= end) break;
    int n = epoll_wait(ep, events, 1024, 100);
    t = now_us();
    for (int k = 0; k < n; k++) {
      conn_t *c = &conns[events[k].data.u32];
      if (c->dead) continue;
      ssize_t r = read(c->fd, c->buf + c->len, BUFFER - c->len);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        errors++;
        c->dead = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        continue;
      }
      c->len += (size_t)r;
      size_t at = 0;
      for (;;) {
        long size = response_length(c->buf + at, c->len - at);
        if (size == 0) break;
        if (size < 0 || c->outstanding == 0) {
          errors++;
          c->dead = 1;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
          break;
        }
        at += (size_t)size;
        uint64_t sent = c->sent[c->head];
        c->head = (c->head + 1) % MAX_DEPTH;
        c->outstanding--;
        if (sent >= measure_from && t < end) {
          uint64_t latency = t - sent;
          histogram[latency < BUCKETS ? latency : BUCKETS]++;
          done++;
        }
      }
      if (c->dead) continue;
      if (at > 0) {
        memmove(c->buf, c->buf + at, c->len - at);
        c->len -= at;
      }
      if (!top_up(c, t)) errors++;
    }
  }
  printf("{\"rps\":%.0f,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"errors\":%llu}\n",
         (double)done / seconds, (unsigned long long)percentile(done, 0.50),
         (unsigned long long)percentile(done, 0.99), (unsigned long long)percentile(done, 0.999),
         (unsigned long long)errors);
  return 0;
}
