/*
 * The ceiling of bench/http.ts: a plain single-threaded epoll HTTP/1.1 "hello" server in
 * C (edge-triggered, like our FFI backend), the kernel's share of a request with next to
 * no work of its own: one read per readiness, one write per batch of the requests read
 * (pipelined ones answered together). It answers every complete head with the same
 * fixed reply and does not parse it: a floor to compare with, not a server.
 * Prints its port, then serves until killed.
 *
 * usage: http_server [PORT]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536

static const char BODY[] = "Hello, World!";

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) {
    perror("listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);
  /* The reply, with a Date written once a second. */
  char reply[256];
  int reply_len = 0;
  time_t dated = 0;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event events[1024];
  static char in[BUFFER], out[BUFFER];
  for (;;) {
    int n = epoll_wait(ep, events, 1024, -1);
    time_t t = time(NULL);
    if (t != dated) {
      char date[64];
      strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
      reply_len = snprintf(reply, sizeof reply,
                           "HTTP/1.1 200 OK\r\ndate: %s\r\ncontent-type: text/plain\r\n"
                           "content-length: %zu\r\n\r\n%s",
                           date, sizeof BODY - 1, BODY);
      dated = t;
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int c;
        while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fd, in, sizeof in);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) break;
          close(fd);
          break;
        }
        /* Heads split across reads are not expected from the load generator. */
        size_t used = 0;
        for (char *p = in; (p = memmem(p, (size_t)(in + r - p), "\r\n\r\n", 4)) != NULL; p += 4) {
          if (used + (size_t)reply_len > sizeof out) break;
          memcpy(out + used, reply, (size_t)reply_len);
          used += (size_t)reply_len;
        }
        for (size_t w = 0; w < used;) {
          ssize_t k = write(fd, out + w, used - w);
          if (k <= 0) break;
          w += (size_t)k;
        }
        if ((size_t)r < sizeof in) break; /* drained: wait for the next edge */
      }
    }
  }
}
