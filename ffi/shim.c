/*
 * shrapnel's poller shim: readiness polling (epoll on Linux, kqueue on macOS/BSD) and the
 * non-blocking socket calls under net/ffi_backend.ts, opened with Deno.dlopen.
 *
 * Conventions:
 * - every call returns >= 0 on success and -errno on failure (never sets a global);
 * - addresses cross the boundary in a portable 128-byte "address buffer", so JavaScript
 *   never sees a platform's sockaddr layout:
 *     [0..1]  family code, u16 LE: 4 = IPv4, 6 = IPv6, 1 = unix
 *     [2..3]  port, u16 LE (host order)
 *     [4..7]  IPv6 scope id, u32 LE
 *     [8..23] address bytes (4 for IPv4, 16 for IPv6)
 *     [24..127] unix socket path, NUL-terminated
 * - errno values differ per platform: sh_errno(i) gives this platform's value for the i-th
 *   name of the list JavaScript knows (see ERRNO_NAMES in net/ffi_backend.ts).
 *
 * Context switching is not done here: a JavaScript stack cannot be switched from C. Threads
 * are async functions; this shim only tells JavaScript which sockets are ready.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#define SH_EPOLL 1
#else
#include <sys/event.h>
#include <sys/time.h>
#define SH_KQUEUE 1
#endif

#define SH_EXPORT __attribute__((visibility("default")))

/*
 * The shim is never unloaded. Deno closes a library when the worker that opened it ends
 * (each test file of `deno test --parallel` is a worker); a poll still blocked on a
 * helper thread would then return into unmapped code. Opening ourselves once more with
 * RTLD_NODELETE pins the code for the life of the process.
 */
__attribute__((constructor)) static void sh_pin(void) {
  Dl_info self;
  if (dladdr((void *)&sh_pin, &self) != 0 && self.dli_fname != NULL) {
    dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }
}

#define ADDR_BUF_SIZE 128
#define EV_READ 1
#define EV_WRITE 2
#define EV_HUP 4
#define EV_ERR 8

/* ------------------------------------------------------------------ errno map */

static const int errno_list[] = {
    EAGAIN,       EWOULDBLOCK, EINPROGRESS, EINTR,        ECONNRESET,   EPIPE,
    ECONNREFUSED, ECONNABORTED, ENOTCONN,   ETIMEDOUT,    EHOSTUNREACH, ENETUNREACH,
    EADDRINUSE,   EADDRNOTAVAIL, EMFILE,    ENFILE,       EBADF,        EINVAL,
    EACCES,       EPERM,        ENOENT,     EALREADY,     EISCONN,      EMSGSIZE,
    ENOBUFS,      ENOMEM,       EAFNOSUPPORT, EPROTONOSUPPORT, ENOTSOCK, EOPNOTSUPP,
    ECHILD,       ESRCH,        ENOSYS,     ENAMETOOLONG, EDESTADDRREQ, ENETDOWN,
};

SH_EXPORT int32_t sh_errno(int32_t index) {
  if (index < 0 || index >= (int32_t)(sizeof errno_list / sizeof errno_list[0])) return 0;
  return errno_list[index];
}

SH_EXPORT int32_t sh_errno_count(void) {
  return (int32_t)(sizeof errno_list / sizeof errno_list[0]);
}

static inline int32_t fail(void) { return -errno; }

/* ------------------------------------------------------------------ addresses */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) {
  p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = v >> 24;
}

/* Decodes an address buffer into a sockaddr; returns its length, or -EAFNOSUPPORT. */
static int decode_addr(const uint8_t *buf, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  uint16_t family = get16(buf);
  if (family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(get16(buf + 2));
    memcpy(&sin->sin_addr, buf + 8, 4);
#ifdef SH_KQUEUE
    sin->sin_len = sizeof *sin;
#endif
    return sizeof *sin;
  }
  if (family == 6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(get16(buf + 2));
    sin6->sin6_scope_id = get32(buf + 4);
    memcpy(&sin6->sin6_addr, buf + 8, 16);
#ifdef SH_KQUEUE
    sin6->sin6_len = sizeof *sin6;
#endif
    return sizeof *sin6;
  }
  if (family == 1) {
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    sun->sun_family = AF_UNIX;
    size_t n = strnlen((const char *)buf + 24, ADDR_BUF_SIZE - 24);
    if (n >= sizeof sun->sun_path) return -ENAMETOOLONG;
    memcpy(sun->sun_path, buf + 24, n);
#ifdef SH_KQUEUE
    sun->sun_len = sizeof *sun;
#endif
    return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  }
  return -EAFNOSUPPORT;
}

/* Encodes a sockaddr into an address buffer. */
static void encode_addr(const struct sockaddr *sa, socklen_t len, uint8_t *buf) {
  memset(buf, 0, ADDR_BUF_SIZE);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    put16(buf, 4);
    put16(buf + 2, ntohs(sin->sin_port));
    memcpy(buf + 8, &sin->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    put16(buf, 6);
    put16(buf + 2, ntohs(sin6->sin6_port));
    put32(buf + 4, sin6->sin6_scope_id);
    memcpy(buf + 8, &sin6->sin6_addr, 16);
  } else if (sa->sa_family == AF_UNIX) {
    const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
    put16(buf, 1);
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len > off) {
      size_t n = len - off;
      if (n > ADDR_BUF_SIZE - 25) n = ADDR_BUF_SIZE - 25;
      memcpy(buf + 24, sun->sun_path, n);
    }
  }
}

/* ------------------------------------------------------------------ sockets */

static int set_nonblock_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) return -1;
  return 0;
}

static void no_sigpipe(int fd) {
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
  (void)fd;
#endif
}

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0
#endif

/* family: 4, 6 or 1 (unix); type: 1 stream, 2 datagram. Returns a non-blocking fd. */
SH_EXPORT int32_t sh_socket(int32_t family, int32_t type) {
  int domain = family == 4 ? AF_INET : family == 6 ? AF_INET6 : family == 1 ? AF_UNIX : -1;
  int kind = type == 1 ? SOCK_STREAM : type == 2 ? SOCK_DGRAM : -1;
  if (domain < 0 || kind < 0) return -EINVAL;
#ifdef SOCK_NONBLOCK
  int fd = socket(domain, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail();
#else
  int fd = socket(domain, kind, 0);
  if (fd < 0) return fail();
  if (set_nonblock_cloexec(fd) < 0) { int e = errno; close(fd); return -e; }
#endif
  no_sigpipe(fd);
  return fd;
}

/* Makes an existing fd non-blocking and close-on-exec (for fdSocket). */
SH_EXPORT int32_t sh_adopt(int32_t fd) {
  if (set_nonblock_cloexec(fd) < 0) return fail();
  no_sigpipe(fd);
  return 0;
}

/* type: 1 stream, 2 datagram; writes two non-blocking fds to out. */
SH_EXPORT int32_t sh_socketpair(int32_t type, int32_t *out) {
  int kind = type == 1 ? SOCK_STREAM : type == 2 ? SOCK_DGRAM : -1;
  if (kind < 0) return -EINVAL;
  int sv[2];
  if (socketpair(AF_UNIX, kind, 0, sv) < 0) return fail();
  for (int i = 0; i < 2; i++) {
    if (set_nonblock_cloexec(sv[i]) < 0) {
      int e = errno; close(sv[0]); close(sv[1]); return -e;
    }
    no_sigpipe(sv[i]);
  }
  out[0] = sv[0];
  out[1] = sv[1];
  return 0;
}

SH_EXPORT int32_t sh_bind(int32_t fd, const uint8_t *addr) {
  struct sockaddr_storage ss;
  int len = decode_addr(addr, &ss);
  if (len < 0) return len;
  return bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_listen(int32_t fd, int32_t backlog) {
  return listen(fd, backlog) < 0 ? fail() : 0;
}

/* Returns 0, -EINPROGRESS (wait for writability, then check SO_ERROR) or another -errno. */
SH_EXPORT int32_t sh_connect(int32_t fd, const uint8_t *addr) {
  struct sockaddr_storage ss;
  int len = decode_addr(addr, &ss);
  if (len < 0) return len;
  return connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? fail() : 0;
}

/* Accepts one connection: returns its non-blocking fd and writes the peer to addr_out. */
SH_EXPORT int32_t sh_accept(int32_t fd, uint8_t *addr_out) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
#if defined(__linux__)
  int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return fail();
#else
  int c = accept(fd, (struct sockaddr *)&ss, &len);
  if (c < 0) return fail();
  if (set_nonblock_cloexec(c) < 0) { int e = errno; close(c); return -e; }
#endif
  no_sigpipe(c);
  encode_addr((struct sockaddr *)&ss, len, addr_out);
  return c;
}

/*
 * glibc's send and recv are cancellation points: each call switches the thread to
 * asynchronous cancellation and back around the syscall, which cost more than a fifth of
 * these calls in profiles of the HTTP server. No thread of ours is ever cancelled, so on
 * Linux the hot pair goes straight to the kernel.
 */
#if defined(__linux__)
static inline ssize_t raw_recv(int fd, void *buf, size_t len) {
  return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}
static inline ssize_t raw_send(int fd, const void *buf, size_t len) {
  return syscall(SYS_sendto, fd, buf, len, SEND_FLAGS, NULL, 0);
}
#else
static inline ssize_t raw_recv(int fd, void *buf, size_t len) { return recv(fd, buf, len, 0); }
static inline ssize_t raw_send(int fd, const void *buf, size_t len) {
  return send(fd, buf, len, SEND_FLAGS);
}
#endif

SH_EXPORT int32_t sh_recv(int32_t fd, uint8_t *buf, int32_t len) {
  ssize_t n = raw_recv(fd, buf, (size_t)len);
  return n < 0 ? fail() : (int32_t)n;
}

SH_EXPORT int32_t sh_send(int32_t fd, const uint8_t *buf, int32_t len) {
  ssize_t n = raw_send(fd, buf, (size_t)len);
  return n < 0 ? fail() : (int32_t)n;
}

SH_EXPORT int32_t sh_recvfrom(int32_t fd, uint8_t *buf, int32_t len, uint8_t *addr_out) {
  struct sockaddr_storage ss;
  socklen_t alen = sizeof ss;
  ssize_t n = recvfrom(fd, buf, (size_t)len, 0, (struct sockaddr *)&ss, &alen);
  if (n < 0) return fail();
  if (alen > 0) encode_addr((struct sockaddr *)&ss, alen, addr_out);
  else memset(addr_out, 0, ADDR_BUF_SIZE);
  return n;
}

SH_EXPORT int32_t sh_sendto(int32_t fd, const uint8_t *buf, int32_t len, const uint8_t *addr) {
  struct sockaddr_storage ss;
  int alen = decode_addr(addr, &ss);
  if (alen < 0) return alen;
  ssize_t n = sendto(fd, buf, (size_t)len, SEND_FLAGS, (struct sockaddr *)&ss, (socklen_t)alen);
  return n < 0 ? fail() : (int32_t)n;
}

/*
 * Scatter read into regions of one buffer: region i is lens[i] bytes, the regions lying
 * back to back from base. One FFI call, no pointer juggling in JavaScript. (Gathered
 * writes need no shim call: the regions of one buffer are a plain send.)
 */
#define MAX_IOV 64
static int build_iov(uint8_t *base, const uint32_t *lens, int32_t count, struct iovec *iov) {
  if (count < 0 || count > MAX_IOV) return -EINVAL;
  size_t off = 0;
  for (int i = 0; i < count; i++) {
    iov[i].iov_base = base + off;
    iov[i].iov_len = lens[i];
    off += lens[i];
  }
  return 0;
}

SH_EXPORT int32_t sh_readv(int32_t fd, uint8_t *base, const uint32_t *lens, int32_t count) {
  struct iovec iov[MAX_IOV];
  int r = build_iov(base, lens, count, iov);
  if (r < 0) return r;
  ssize_t n = readv(fd, iov, count);
  return n < 0 ? fail() : (int32_t)n;
}

/* how: 0 read, 1 write, 2 both. */
SH_EXPORT int32_t sh_shutdown(int32_t fd, int32_t how) {
  int h = how == 0 ? SHUT_RD : how == 1 ? SHUT_WR : SHUT_RDWR;
  return shutdown(fd, h) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_close(int32_t fd) { return close(fd) < 0 ? fail() : 0; }

SH_EXPORT int32_t sh_getsockname(int32_t fd, uint8_t *addr_out) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return fail();
  encode_addr((struct sockaddr *)&ss, len, addr_out);
  return 0;
}

SH_EXPORT int32_t sh_getpeername(int32_t fd, uint8_t *addr_out) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return fail();
  encode_addr((struct sockaddr *)&ss, len, addr_out);
  return 0;
}

/* Portable option codes (see SOCKET_OPTIONS in net/options.ts). */
static int option(int32_t code, int *level, int *name) {
  switch (code) {
    case 1: *level = SOL_SOCKET; *name = SO_REUSEADDR; return 0;
#ifdef SO_REUSEPORT
    case 2: *level = SOL_SOCKET; *name = SO_REUSEPORT; return 0;
#endif
    case 3: *level = SOL_SOCKET; *name = SO_KEEPALIVE; return 0;
    case 4: *level = SOL_SOCKET; *name = SO_RCVBUF; return 0;
    case 5: *level = SOL_SOCKET; *name = SO_SNDBUF; return 0;
    case 6: *level = SOL_SOCKET; *name = SO_ERROR; return 0;
    case 7: *level = SOL_SOCKET; *name = SO_BROADCAST; return 0;
    case 8: *level = IPPROTO_TCP; *name = TCP_NODELAY; return 0;
    case 9: *level = IPPROTO_IPV6; *name = IPV6_V6ONLY; return 0;
    case 10: *level = SOL_SOCKET; *name = SO_TYPE; return 0;
    default: return -ENOPROTOOPT;
  }
}

SH_EXPORT int32_t sh_setsockopt(int32_t fd, int32_t code, int32_t value) {
  int level, name;
  int r = option(code, &level, &name);
  if (r < 0) return r;
  int v = value;
  return setsockopt(fd, level, name, &v, sizeof v) < 0 ? fail() : 0;
}

/* Returns the option's value (>= 0), or -errno. */
SH_EXPORT int32_t sh_getsockopt(int32_t fd, int32_t code) {
  int level, name;
  int r = option(code, &level, &name);
  if (r < 0) return r;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return fail();
  return v < 0 ? 0 : v;
}

/* ------------------------------------------------------------------ poller */

/*
 * One poller per process. Sockets are registered once, edge-triggered for both
 * directions; JavaScript remembers which direction a thread waits on. A wake fd lets
 * another thread (or JavaScript) end a blocking sh_poller_wait early.
 */

#ifdef SH_EPOLL
SH_EXPORT int32_t sh_poller_create(int32_t *wake_out) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail();
  int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wfd < 0) { int e = errno; close(ep); return -e; }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data = {.fd = -1}};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) < 0) {
    int e = errno; close(ep); close(wfd); return -e;
  }
  *wake_out = wfd;
  return ep;
}

/* directions: EV_READ | EV_WRITE; edge-triggered. */
SH_EXPORT int32_t sh_poller_add(int32_t ep, int32_t fd, int32_t directions) {
  struct epoll_event ev = {.events = EPOLLET | EPOLLRDHUP, .data = {.fd = fd}};
  if (directions & EV_READ) ev.events |= EPOLLIN;
  if (directions & EV_WRITE) ev.events |= EPOLLOUT;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_poller_del(int32_t ep, int32_t fd) {
  struct epoll_event ev = {0};
  return epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev) < 0 ? fail() : 0;
}

/*
 * Waits up to timeout_ms (-1: forever, 0: poll) and writes (fd, flags) pairs to out.
 * Returns the number of pairs. A wake through the wake fd returns early with no pair.
 */
SH_EXPORT int32_t sh_poller_wait(int32_t ep, int32_t wake_fd, int32_t *out, int32_t max,
                                 int32_t timeout_ms) {
  struct epoll_event evs[256];
  if (max > 256) max = 256;
  int n = epoll_wait(ep, evs, max, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : fail();
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (evs[i].data.fd == -1) {
      uint64_t v;
      while (read(wake_fd, &v, sizeof v) > 0) {}
      continue;
    }
    uint32_t e = evs[i].events;
    int32_t flags = 0;
    if (e & EPOLLIN) flags |= EV_READ;
    if (e & EPOLLOUT) flags |= EV_WRITE;
    if (e & EPOLLRDHUP) flags |= EV_HUP | EV_READ;
    if (e & EPOLLHUP) flags |= EV_HUP | EV_READ | EV_WRITE; /* both ends gone: wake writers too */
    if (e & EPOLLERR) flags |= EV_ERR | EV_READ | EV_WRITE;
    out[2 * k] = evs[i].data.fd;
    out[2 * k + 1] = flags;
    k++;
  }
  return k;
}

SH_EXPORT int32_t sh_poller_wake(int32_t ep, int32_t wake_fd) {
  (void)ep;
  uint64_t one = 1;
  return write(wake_fd, &one, sizeof one) < 0 && errno != EAGAIN ? fail() : 0;
}
#else /* kqueue */
SH_EXPORT int32_t sh_poller_create(int32_t *wake_out) {
  int kq = kqueue();
  if (kq < 0) return fail();
  fcntl(kq, F_SETFD, FD_CLOEXEC);
  struct kevent ev;
  EV_SET(&ev, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) { int e = errno; close(kq); return -e; }
  *wake_out = 0;
  return kq;
}

SH_EXPORT int32_t sh_poller_add(int32_t kq, int32_t fd, int32_t directions) {
  struct kevent evs[2];
  int n = 0;
  if (directions & EV_READ) EV_SET(&evs[n++], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
  if (directions & EV_WRITE) EV_SET(&evs[n++], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, NULL);
  return kevent(kq, evs, n, NULL, 0, NULL) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_poller_del(int32_t kq, int32_t fd) {
  struct kevent evs[2];
  EV_SET(&evs[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
  EV_SET(&evs[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
  kevent(kq, &evs[0], 1, NULL, 0, NULL);
  kevent(kq, &evs[1], 1, NULL, 0, NULL);
  return 0;
}

SH_EXPORT int32_t sh_poller_wait(int32_t kq, int32_t wake_fd, int32_t *out, int32_t max,
                                 int32_t timeout_ms) {
  (void)wake_fd;
  struct kevent evs[256];
  if (max > 256) max = 256;
  struct timespec ts, *tp = NULL;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    tp = &ts;
  }
  int n = kevent(kq, NULL, 0, evs, max, tp);
  if (n < 0) return errno == EINTR ? 0 : fail();
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (evs[i].filter == EVFILT_USER) continue;
    int32_t flags = 0;
    if (evs[i].filter == EVFILT_READ) flags |= EV_READ;
    if (evs[i].filter == EVFILT_WRITE) flags |= EV_WRITE;
    if (evs[i].flags & EV_EOF) flags |= EV_HUP;
    if (evs[i].flags & EV_ERROR) flags |= EV_ERR | EV_READ | EV_WRITE;
    out[2 * k] = (int32_t)evs[i].ident;
    out[2 * k + 1] = flags;
    k++;
  }
  return k;
}

SH_EXPORT int32_t sh_poller_wake(int32_t kq, int32_t wake_fd) {
  (void)wake_fd;
  struct kevent ev;
  EV_SET(&ev, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
  return kevent(kq, &ev, 1, NULL, 0, NULL) < 0 ? fail() : 0;
}
#endif

/* ------------------------------------------------------------------ kernel events */

/*
 * Process exit: an fd that becomes readable when the process exits (Linux pidfd; on
 * kqueue systems a kqueue watching EVFILT_PROC NOTE_EXIT, itself pollable).
 */
SH_EXPORT int32_t sh_process_watch(int32_t pid) {
#ifdef SH_EPOLL
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return fail();
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -ENOSYS;
#endif
#else
  int kq = kqueue();
  if (kq < 0) return fail();
  struct kevent ev;
  EV_SET(&ev, pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) { int e = errno; close(kq); return -e; }
  return kq;
#endif
}

/*
 * The exit status of a child that has exited, without reaping it (so whoever spawned it,
 * Deno included, still can). Writes [exited, code, signal] to out. Returns 1 if the child
 * has exited, 0 if not yet, -ECHILD if it is not our child.
 */
SH_EXPORT int32_t sh_child_status(int32_t pid, int32_t *out) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) return fail();
  if (info.si_pid == 0) return 0;
  out[0] = 1;
  out[1] = info.si_code == CLD_EXITED ? info.si_status : -1;
  out[2] = (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) ? info.si_status : 0;
  return 1;
}

/*
 * File or directory changes: an fd that becomes readable when `path` changes (Linux
 * inotify; on kqueue systems a kqueue with an EVFILT_VNODE filter on the opened path).
 */
SH_EXPORT int32_t sh_file_watch(const uint8_t *path) {
#ifdef SH_EPOLL
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return fail();
  uint32_t mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                  IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
  if (inotify_add_watch(fd, (const char *)path, mask) < 0) { int e = errno; close(fd); return -e; }
  return fd;
#else
  int target = open((const char *)path, O_RDONLY | O_CLOEXEC
#ifdef O_EVTONLY
                    | O_EVTONLY
#endif
  );
  if (target < 0) return fail();
  int kq = kqueue();
  if (kq < 0) { int e = errno; close(target); return -e; }
  struct kevent ev;
  EV_SET(&ev, target, EVFILT_VNODE, EV_ADD | EV_CLEAR,
         NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_DELETE | NOTE_RENAME, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) {
    int e = errno; close(kq); close(target); return -e;
  }
  /* target stays open for the kqueue's life; closing the kqueue releases the filter. */
  return kq;
#endif
}

/*
 * Drains the pending change notes of a sh_file_watch fd. Returns a bit set of what changed:
 * 1 modified, 2 attributes, 4 created/moved in, 8 deleted/moved out, 16 the watched path
 * itself was deleted or moved. 0 if nothing was pending.
 */
SH_EXPORT int32_t sh_file_changes(int32_t fd) {
  int32_t what = 0;
#ifdef SH_EPOLL
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE)) what |= 1;
      if (ev->mask & IN_ATTRIB) what |= 2;
      if (ev->mask & (IN_CREATE | IN_MOVED_TO)) what |= 4;
      if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) what |= 8;
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) what |= 16;
      p += sizeof *ev + ev->len;
    }
  }
#else
  struct kevent evs[16];
  struct timespec zero = {0, 0};
  int n;
  while ((n = kevent(fd, NULL, 0, evs, 16, &zero)) > 0) {
    for (int i = 0; i < n; i++) {
      unsigned f = evs[i].fflags;
      if (f & (NOTE_WRITE | NOTE_EXTEND)) what |= 1;
      if (f & NOTE_ATTRIB) what |= 2;
      if (f & (NOTE_DELETE | NOTE_RENAME)) what |= 16;
    }
  }
#endif
  return what;
}

/* Readiness of any fd, for waitForRead/waitForWrite on foreign fds. */
SH_EXPORT int32_t sh_fd_flags(int32_t fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? fail() : fl;
}

/*
 * Readiness of `fd` right now (poll with timeout 0): the EV_* flags among `directions`
 * (plus EV_HUP/EV_ERR), 0 if not ready. Edge-triggered waits use it to see whether a
 * level is already there before they block.
 */
SH_EXPORT int32_t sh_ready(int32_t fd, int32_t directions) {
  struct pollfd p = {fd, 0, 0};
  if (directions & EV_READ) p.events |= POLLIN;
  if (directions & EV_WRITE) p.events |= POLLOUT;
  int n = poll(&p, 1, 0);
  if (n < 0) return fail();
  if (n == 0) return 0;
  int32_t flags = 0;
  if (p.revents & POLLIN) flags |= EV_READ;
  if (p.revents & POLLOUT) flags |= EV_WRITE;
  if (p.revents & POLLHUP) flags |= EV_HUP;
  if (p.revents & (POLLERR | POLLNVAL)) flags |= EV_ERR;
  return flags;
}

/*
 * A buffer for `pairs` (fd, flags) pairs owned by the shim, for polls run on a helper
 * thread: a JavaScript buffer could be freed (its worker gone) while such a poll still
 * runs, and the poll would write into freed memory. One per poller, never freed.
 */
SH_EXPORT int32_t *sh_events_alloc(int32_t pairs) {
  return calloc((size_t)pairs * 2, sizeof(int32_t));
}

/* The monotonic clock in milliseconds (fractional): a cheaper clock than
   performance.now() in Deno, for the profiler's per-switch accounting. */
SH_EXPORT double sh_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
