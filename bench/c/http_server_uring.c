/*
 * The io_uring twin of http_server.c (the ceiling of bench/http.ts): the same fixed
 * "hello" reply to every complete head, without parsing, but every socket operation goes
 * through one io_uring (Linux 6.0+), raw system calls, no liburing:
 *
 *   - one multishot ACCEPT on the listener;
 *   - one multishot RECV per connection, its data landing in a ring of provided buffers
 *     (returned to the ring as soon as the batch is answered);
 *   - one SEND per batch of requests read from a connection;
 *   - and per loop turn ONE io_uring_enter, which submits every send (and new receive) the
 *     last batch of completions queued, and waits for the next completion.
 *
 * The ring is set up SINGLE_ISSUER | DEFER_TASKRUN when the kernel allows it (completion
 * work runs in that enter, not in interrupts of the loop), else with no flags.
 * A floor to compare with, not a server: heads split across reads are not expected.
 * Prints its port, then serves until killed.
 *
 * usage: http_server_uring [PORT]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES 4096
#define BUFFERS 1024 /* provided receive buffers (a power of two) */
#define BUFFER_SIZE 4096
#define MAX_FDS 65536
#define OUT_SIZE 16384

enum { ACCEPT = 1, RECV = 2, SEND = 3, CLOSE = 4 };

/* Connections are registered (direct) descriptors: no fget/fput per operation. */
static int fixed;

static const char BODY[] = "Hello, World!";

static int ring_fd;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static unsigned sq_local_tail, to_submit;
static struct io_uring_buf_ring *buf_ring;
static char *buffers;
static unsigned short buf_tail;

/* Per connection: its reply buffer (valid until the send's completion is reaped). */
static char *out[MAX_FDS];
static int sending[MAX_FDS];
/* Replies owed while a send was in flight (pipelined requests): sent when it completes. */
static int owed[MAX_FDS];

static int enter(unsigned submit, unsigned wait, unsigned flags) {
  return (int)syscall(SYS_io_uring_enter, ring_fd, submit, wait, flags, NULL, 0);
}

static struct io_uring_sqe *sqe(void) {
  if (sq_local_tail - __atomic_load_n(sq_head, __ATOMIC_ACQUIRE) >= ENTRIES) {
    __atomic_store_n(sq_tail, sq_local_tail, __ATOMIC_RELEASE);
    enter(to_submit, 0, 0); /* full: submit what is queued first */
    to_submit = 0;
  }
  unsigned index = sq_local_tail & *sq_mask;
  struct io_uring_sqe *s = &sqes[index];
  memset(s, 0, sizeof *s);
  sq_array[index] = index;
  sq_local_tail++;
  to_submit++;
  return s;
}

static uint64_t tag(int kind, int fd) { return ((uint64_t)kind << 32) | (uint32_t)fd; }

static void arm_recv(int fd) {
  struct io_uring_sqe *s = sqe();
  s->opcode = IORING_OP_RECV;
  s->fd = fd;
  s->ioprio = IORING_RECV_MULTISHOT;
  s->flags = IOSQE_BUFFER_SELECT | (fixed ? IOSQE_FIXED_FILE : 0);
  s->buf_group = 0;
  s->user_data = tag(RECV, fd);
}

static void arm_accept(int listener) {
  struct io_uring_sqe *s = sqe();
  s->opcode = IORING_OP_ACCEPT;
  s->fd = listener;
  s->ioprio = IORING_ACCEPT_MULTISHOT;
  if (fixed) s->file_index = IORING_FILE_INDEX_ALLOC;
  s->user_data = tag(ACCEPT, listener);
}

static void give_buffer(unsigned short bid) {
  struct io_uring_buf *b = &buf_ring->bufs[buf_tail & (BUFFERS - 1)];
  b->addr = (uint64_t)(uintptr_t)(buffers + (size_t)bid * BUFFER_SIZE);
  b->len = BUFFER_SIZE;
  b->bid = bid;
  buf_tail++;
}

static void publish_buffers(void) { __atomic_store_n(&buf_ring->tail, buf_tail, __ATOMIC_RELEASE); }

/* One SEND of the replies owed to fd, from its buffer. */
static void send_owed(int fd, const char *reply, int reply_len) {
  size_t used = 0;
  char *o = out[fd];
  while (owed[fd] > 0 && used + (size_t)reply_len <= OUT_SIZE) {
    memcpy(o + used, reply, (size_t)reply_len);
    used += (size_t)reply_len;
    owed[fd]--;
  }
  if (used == 0) return;
  struct io_uring_sqe *s = sqe();
  s->opcode = IORING_OP_SEND;
  s->fd = fd;
  if (fixed) s->flags = IOSQE_FIXED_FILE;
  s->addr = (uint64_t)(uintptr_t)o;
  s->len = (unsigned)used;
  s->msg_flags = MSG_NOSIGNAL;
  s->user_data = tag(SEND, fd);
  sending[fd] = 1;
}

static void drop(int fd) {
  /* Its multishot receive has ended (that is why we are here); a send may be in flight. */
  if (!sending[fd]) {
    free(out[fd]);
    out[fd] = NULL;
    if (fixed) {
      struct io_uring_sqe *s = sqe();
      s->opcode = IORING_OP_CLOSE;
      s->file_index = (unsigned)fd + 1;
      s->user_data = tag(CLOSE, fd);
    } else {
      close(fd);
    }
  } else {
    sending[fd] = -1; /* closed when the send completes */
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* Inherited by accepted sockets (direct descriptors cannot take setsockopt(2)). */
  setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 4096) < 0) {
    perror("listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &alen);

  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (getenv("URING_PLAIN") != NULL) params.flags = 0;
  ring_fd = (int)syscall(SYS_io_uring_setup, ENTRIES, &params);
  if (ring_fd < 0 && params.flags != 0) {
    memset(&params, 0, sizeof params);
    ring_fd = (int)syscall(SYS_io_uring_setup, ENTRIES, &params);
  }
  if (ring_fd < 0) {
    perror("io_uring_setup");
    return 1;
  }
  size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  if (params.features & IORING_FEAT_SINGLE_MMAP) sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
  char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring_fd,
                  IORING_OFF_SQ_RING);
  char *cq = (params.features & IORING_FEAT_SINGLE_MMAP)
                 ? sq
                 : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                        ring_fd, IORING_OFF_CQ_RING);
  sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_POPULATE, ring_fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  sq_head = (unsigned *)(void *)(sq + params.sq_off.head);
  sq_tail = (unsigned *)(void *)(sq + params.sq_off.tail);
  sq_mask = (unsigned *)(void *)(sq + params.sq_off.ring_mask);
  sq_array = (unsigned *)(void *)(sq + params.sq_off.array);
  cq_head = (unsigned *)(void *)(cq + params.cq_off.head);
  cq_tail = (unsigned *)(void *)(cq + params.cq_off.tail);
  cq_mask = (unsigned *)(void *)(cq + params.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(void *)(cq + params.cq_off.cqes);
  sq_local_tail = *sq_tail;

  /* The provided-buffer ring, group 0. */
  buf_ring = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  buffers = malloc((size_t)BUFFERS * BUFFER_SIZE);
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.ring_addr = (uint64_t)(uintptr_t)buf_ring;
  reg.ring_entries = BUFFERS;
  reg.bgid = 0;
  if (buf_ring == MAP_FAILED || buffers == NULL ||
      syscall(SYS_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
    perror("IORING_REGISTER_PBUF_RING");
    return 1;
  }
  if (getenv("URING_UNFIXED") == NULL) {
    struct io_uring_rsrc_register files;
    memset(&files, 0, sizeof files);
    files.nr = MAX_FDS;
    files.flags = IORING_RSRC_REGISTER_SPARSE;
    fixed = syscall(SYS_io_uring_register, ring_fd, IORING_REGISTER_FILES2, &files,
                    sizeof files) == 0;
  }
  for (unsigned short i = 0; i < BUFFERS; i++) give_buffer(i);
  publish_buffers();

  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);

  char reply[256];
  int reply_len = 0;
  time_t dated = 0;
  arm_accept(listener);
  for (;;) {
    __atomic_store_n(sq_tail, sq_local_tail, __ATOMIC_RELEASE);
    int r = enter(to_submit, 1, IORING_ENTER_GETEVENTS);
    if (r < 0 && errno != EINTR && errno != EBUSY && errno != EAGAIN) {
      perror("io_uring_enter");
      return 1;
    }
    if (r >= 0) to_submit -= (unsigned)r < to_submit ? (unsigned)r : to_submit;
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
    unsigned head = *cq_head, tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
    int returned = 0;
    for (; head != tail; head++) {
      struct io_uring_cqe *c = &cqes[head & *cq_mask];
      int kind = (int)(c->user_data >> 32), fd = (int)(uint32_t)c->user_data;
      int res = c->res;
      unsigned flags = c->flags;
      if (kind == ACCEPT) {
        if (res >= 0 && res < MAX_FDS) {
          out[res] = malloc(OUT_SIZE);
          sending[res] = 0;
          owed[res] = 0;
          arm_recv(res);
        } else if (res >= 0 && !fixed) {
          close(res); /* beyond the table (a fixed table has MAX_FDS slots: never) */
        }
        if (!(flags & IORING_CQE_F_MORE)) arm_accept(listener);
      } else if (kind == RECV) {
        if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
          unsigned short bid = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
          char *in = buffers + (size_t)bid * BUFFER_SIZE;
          for (char *p = in; (p = memmem(p, (size_t)(in + res - p), "\r\n\r\n", 4)) != NULL;
               p += 4)
            owed[fd]++;
          give_buffer(bid);
          returned = 1;
          if (!sending[fd]) send_owed(fd, reply, reply_len);
          if (!(flags & IORING_CQE_F_MORE)) arm_recv(fd);
        } else if (res == -ENOBUFS) {
          arm_recv(fd); /* out of provided buffers: they come back in this turn */
        } else if (!(flags & IORING_CQE_F_MORE)) {
          drop(fd); /* end of stream or error */
        }
      } else if (kind == SEND) {
        /* A short send of a few replies does not happen here (the socket buffer is empty). */
        int closing = sending[fd] == -1;
        sending[fd] = 0;
        if (closing) drop(fd);
        else if (owed[fd] > 0 && res >= 0) send_owed(fd, reply, reply_len);
      }
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
    if (returned) publish_buffers();
  }
}
