/*
 * Opens COUNT idle TCP connections to 127.0.0.1:PORT, from source addresses 127.0.0.2,
 * 127.0.0.3, ... (10000 connections per source address, so ephemeral ports never run
 * out), prints "connected COUNT", then holds them until stdin closes.
 *
 * usage: idle_client PORT COUNT [FIRST_SOURCE_INDEX]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PER_SOURCE 10000

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: idle_client PORT COUNT [FIRST_SOURCE_INDEX]\n");
    return 2;
  }
  int port = atoi(argv[1]), count = atoi(argv[2]);
  int first = argc > 3 ? atoi(argv[3]) : 0;
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  int source = first, on_source = 0;
  for (int i = 0; i < count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      perror("socket");
      return 1;
    }
#ifdef IP_BIND_ADDRESS_NO_PORT
    /* Choose the port at connect time, by the whole 4-tuple. */
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    for (;;) {
      if (on_source == PER_SOURCE) {
        source++;
        on_source = 0;
      }
      struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = 0};
      from.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)source);
      if (bind(fd, (struct sockaddr *)&from, sizeof from) == 0 &&
          connect(fd, (struct sockaddr *)&to, sizeof to) == 0) {
        on_source++;
        break;
      }
      /* Ports of this source address used up (leftovers of earlier runs): next one. */
      if ((errno == EADDRNOTAVAIL || errno == EADDRINUSE) && source < 250) {
        close(fd);
        fd = socket(AF_INET, SOCK_STREAM, 0);
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
        source++;
        on_source = 0;
        continue;
      }
      perror("connect");
      return 1;
    }
  }
  printf("connected %d\n", count);
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}
