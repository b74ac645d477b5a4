/*
 * Echo load generator: C connections to 127.0.0.1:PORT, each sends a SIZE-byte request
 * and waits for the SIZE-byte echo before sending the next (one request in flight per
 * connection). Runs WARMUP seconds unmeasured, then SECONDS measured, on one core.
 * Prints one JSON line: {"rps":..,"p50_us":..,"p99_us":..,"p999_us":..,"errors":..}.
 *
 * usage: loadgen PORT CONNECTIONS SECONDS [WARMUP] [SIZE]
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 200000 /* 1 us buckets up to 200 ms, then one overflow bucket */

typedef struct {
  int fd;
  int sent;     /* bytes of the request written */
  int received; /* bytes of the echo read */
  uint64_t started;
  uint64_t completed;
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

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: loadgen PORT CONNECTIONS SECONDS [WARMUP] [SIZE]\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]);
  double seconds = atof(argv[3]), warmup = argc > 4 ? atof(argv[4]) : 1.0;
  int size = argc > 5 ? atoi(argv[5]) : 64;
  char request[65536], sink[65536];
  memset(request, 'x', sizeof request);

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
  for (int i = 0; i < count; i++) {
    conns[i].started = now_us();
    conns[i].sent = (int)write(conns[i].fd, request, (size_t)size);
  }
  uint64_t done = 0, errors = 0;
  struct epoll_event events[1024];
  for (;;) {
    uint64_t t = now_us();
    if (t >= end) break;
    int n = epoll_wait(ep, events, 1024, 100);
    for (int k = 0; k < n; k++) {
      conn_t *c = &conns[events[k].data.u32];
      ssize_t r = read(c->fd, sink, sizeof sink);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        errors++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        continue;
      }
      c->received += (int)r;
      if (c->received < size) continue;
      uint64_t finished = now_us();
      if (c->started >= measure_from && finished < end) {
        uint64_t latency = finished - c->started;
        histogram[latency < BUCKETS ? latency : BUCKETS]++;
        done++;
        c->completed++;
      }
      c->received = 0;
      c->started = finished;
      if (write(c->fd, request, (size_t)size) != size) errors++;
    }
  }
  if (getenv("LOADGEN_FAIRNESS")) {
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < count; i++) {
      if (conns[i].completed < lo) lo = conns[i].completed;
      if (conns[i].completed > hi) hi = conns[i].completed;
    }
    fprintf(stderr, "per-connection requests: min %llu max %llu\n", (unsigned long long)lo,
            (unsigned long long)hi);
  }
  printf("{\"rps\":%.0f,\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"errors\":%llu}\n",
         (double)done / seconds, (unsigned long long)percentile(done, 0.50),
         (unsigned long long)percentile(done, 0.99), (unsigned long long)percentile(done, 0.999),
         (unsigned long long)errors);
  return 0;
}
