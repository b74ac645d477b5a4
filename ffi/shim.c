/*
 * shrapnel's poller shim: readiness polling (epoll on Linux, kqueue on macOS/BSD) and the
 * non-blocking socket calls under net/ffi_socket.ts, opened with Deno.dlopen.
 *
 * Conventions (docs/ffi-safety.md has the boundary rules in full):
 * - every call returns >= 0 on success and -errno on failure (never sets a global);
 * - no length is trusted: every buffer crosses with its length, every length is checked
 *   against the buffer it describes, and a call that does not fit returns -EINVAL before
 *   any system call;
 * - addresses cross the boundary in a portable ADDR_BUF_SIZE-byte "address buffer", so
 *   JavaScript never sees a platform's sockaddr layout:
 *     [0..1]  family code, u16 LE: 4 = IPv4, 6 = IPv6, 1 = unix, 0 = none (nameless peer)
 *     [2..3]  port, u16 LE (host order); for unix: the path's length in bytes
 *     [4..7]  IPv6 scope id, u32 LE
 *     [8..23] address bytes (4 for IPv4, 16 for IPv6)
 *     [24..]  unix socket path: exactly [2..3] bytes, no terminator; a path whose first
 *             byte is NUL is a Linux abstract name (all its bytes count), any other path
 *             must not contain NUL
 * - errno values differ per platform: sh_errno(i) gives this platform's value for the i-th
 *   name of the list JavaScript knows (see ERRNO_NAMES in net/ffi_poller.ts).
 *
 * Context switching is not done here: a JavaScript stack cannot be switched from C. Threads
 * are async functions; this shim only tells JavaScript which sockets are ready.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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

/* SH_USE_KQUEUE forces the kqueue path (CI type-checks it on Linux against a stub header). */
#if defined(__linux__) && !defined(SH_USE_KQUEUE)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#define SH_EPOLL 1
#else
#include <sys/event.h>
#include <sys/time.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#define SH_KQUEUE 1
#endif

/* BSD-derived sockaddrs carry their own length. */
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#define SH_SA_LEN 1
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
    (void)dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }
}

#define ADDR_BUF_SIZE 136
#define ADDR_PATH_OFFSET 24
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
    EEXIST,       EPROTO,       ENOPROTOOPT,
};

#define ERRNO_COUNT ((int32_t)(sizeof errno_list / sizeof errno_list[0]))

SH_EXPORT int32_t sh_errno(int32_t index) {
  if (index < 0 || index >= ERRNO_COUNT) return 0;
  return errno_list[index];
}

SH_EXPORT int32_t sh_errno_count(void) { return ERRNO_COUNT; }

static inline int32_t fail(void) { return -errno; }

/* A byte count the kernel returned, as the i32 the boundary carries (lengths are < 2^31). */
static inline int32_t count_or_fail(ssize_t n) { return n < 0 ? fail() : (int32_t)n; }

/* ------------------------------------------------------------------ addresses */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xff);
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xff);
  p[1] = (uint8_t)((v >> 8) & 0xff);
  p[2] = (uint8_t)((v >> 16) & 0xff);
  p[3] = (uint8_t)(v >> 24);
}

/* An address buffer JavaScript passed, with its length: big enough, or refused. */
static inline int addr_buf_ok(const uint8_t *buf, int32_t len) {
  return buf != NULL && len >= ADDR_BUF_SIZE;
}

/*
 * Decodes an address buffer into a sockaddr; returns its length, -EINVAL for a path with
 * an embedded NUL (or an abstract name where there is no abstract namespace),
 * -ENAMETOOLONG, or -EAFNOSUPPORT.
 */
static int decode_addr(const uint8_t *buf, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  uint16_t family = get16(buf);
  if (family == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(get16(buf + 2));
    memcpy(&sin->sin_addr, buf + 8, 4);
#ifdef SH_SA_LEN
    sin->sin_len = sizeof *sin;
#endif
    return (int)sizeof *sin;
  }
  if (family == 6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(get16(buf + 2));
    sin6->sin6_scope_id = get32(buf + 4);
    memcpy(&sin6->sin6_addr, buf + 8, 16);
#ifdef SH_SA_LEN
    sin6->sin6_len = sizeof *sin6;
#endif
    return (int)sizeof *sin6;
  }
  if (family == 1) {
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    const size_t base = offsetof(struct sockaddr_un, sun_path);
    const uint8_t *path = buf + ADDR_PATH_OFFSET;
    size_t n = get16(buf + 2);
    sun->sun_family = AF_UNIX;
    if (n > ADDR_BUF_SIZE - ADDR_PATH_OFFSET) return -EINVAL;
    size_t len;
    if (n == 0) {
      len = base; /* unnamed: bind autobinds (Linux), connect fails */
    } else if (path[0] == 0) {
#if defined(__linux__) && !defined(SH_USE_KQUEUE)
      if (n > sizeof sun->sun_path) return -ENAMETOOLONG;
      memcpy(sun->sun_path, path, n); /* abstract: every byte of the name counts */
      len = base + n;
#else
      return -EINVAL; /* no abstract namespace here */
#endif
    } else {
      if (memchr(path, 0, n) != NULL) return -EINVAL;
      if (n >= sizeof sun->sun_path) return -ENAMETOOLONG;
      memcpy(sun->sun_path, path, n);
      len = base + n + 1;
    }
#ifdef SH_SA_LEN
    sun->sun_len = (uint8_t)len;
#endif
    return (int)len;
  }
  return -EAFNOSUPPORT;
}

/*
 * Encodes a sockaddr of `len` bytes (as the kernel returned it) into an address buffer
 * of at least ADDR_BUF_SIZE bytes. A length too short to hold a family gives code 0.
 */
static void encode_addr(const struct sockaddr_storage *ss, socklen_t len, uint8_t *buf) {
  memset(buf, 0, ADDR_BUF_SIZE);
  const size_t family_end = offsetof(struct sockaddr, sa_family) + sizeof ss->ss_family;
  if ((size_t)len < family_end) return; /* nameless (an unbound unix datagram sender) */
  if (ss->ss_family == AF_INET && (size_t)len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    put16(buf, 4);
    put16(buf + 2, ntohs(sin->sin_port));
    memcpy(buf + 8, &sin->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6 && (size_t)len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    put16(buf, 6);
    put16(buf + 2, ntohs(sin6->sin6_port));
    put32(buf + 4, sin6->sin6_scope_id);
    memcpy(buf + 8, &sin6->sin6_addr, 16);
  } else if (ss->ss_family == AF_UNIX) {
    const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
    const size_t base = offsetof(struct sockaddr_un, sun_path);
    size_t n = (size_t)len > base ? (size_t)len - base : 0;
    if (n > sizeof sun->sun_path) n = sizeof sun->sun_path;
    if (n > 0 && sun->sun_path[0] != 0) {
      n = strnlen(sun->sun_path, n); /* a path: without its terminator */
    } else if (n > 0) {
#if !defined(__linux__) || defined(SH_USE_KQUEUE)
      n = 0; /* no abstract namespace: a leading NUL means unnamed */
#endif
    }
    put16(buf, 1);
    put16(buf + 2, (uint16_t)n); /* n <= sizeof sun_path <= ADDR_BUF_SIZE - 24 */
    memcpy(buf + ADDR_PATH_OFFSET, sun->sun_path, n);
  }
  /* any other family: code 0 */
}

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) <= ADDR_BUF_SIZE - ADDR_PATH_OFFSET,
               "the address buffer holds any unix path");

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
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
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

/* type: 1 stream, 2 datagram; writes two non-blocking fds to out (out_len >= 8 bytes). */
SH_EXPORT int32_t sh_socketpair(int32_t type, int32_t *out, int32_t out_len) {
  int kind = type == 1 ? SOCK_STREAM : type == 2 ? SOCK_DGRAM : -1;
  if (kind < 0 || out == NULL || out_len < (int32_t)(2 * sizeof *out)) return -EINVAL;
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

SH_EXPORT int32_t sh_bind(int32_t fd, const uint8_t *addr, int32_t addr_len) {
  if (!addr_buf_ok(addr, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  int len = decode_addr(addr, &ss);
  if (len < 0) return len;
  return bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_listen(int32_t fd, int32_t backlog) {
  return listen(fd, backlog) < 0 ? fail() : 0;
}

/* Returns 0, -EINPROGRESS (wait for writability, then check SO_ERROR) or another -errno. */
SH_EXPORT int32_t sh_connect(int32_t fd, const uint8_t *addr, int32_t addr_len) {
  if (!addr_buf_ok(addr, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  int len = decode_addr(addr, &ss);
  if (len < 0) return len;
  return connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 ? fail() : 0;
}

/* Accepts one connection: returns its non-blocking fd and writes the peer to addr_out. */
SH_EXPORT int32_t sh_accept(int32_t fd, uint8_t *addr_out, int32_t addr_len) {
  if (!addr_buf_ok(addr_out, addr_len)) return -EINVAL; /* before a connection is taken */
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss); /* what the kernel does not fill is never read uninitialised */
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
  encode_addr(&ss, len, addr_out);
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
  return (ssize_t)syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}
static inline ssize_t raw_send(int fd, const void *buf, size_t len) {
  return (ssize_t)syscall(SYS_sendto, fd, buf, len, SEND_FLAGS, NULL, 0);
}
#else
static inline ssize_t raw_recv(int fd, void *buf, size_t len) { return recv(fd, buf, len, 0); }
static inline ssize_t raw_send(int fd, const void *buf, size_t len) {
  return send(fd, buf, len, SEND_FLAGS);
}
#endif

/* `len` is the buffer's length (JavaScript passes the view's own byteLength). */
SH_EXPORT int32_t sh_recv(int32_t fd, uint8_t *buf, int32_t len) {
  if (len < 0 || (buf == NULL && len > 0)) return -EINVAL;
  return count_or_fail(raw_recv(fd, buf, (size_t)len));
}

SH_EXPORT int32_t sh_send(int32_t fd, const uint8_t *buf, int32_t len) {
  if (len < 0 || (buf == NULL && len > 0)) return -EINVAL;
  return count_or_fail(raw_send(fd, buf, (size_t)len));
}

SH_EXPORT int32_t sh_recvfrom(int32_t fd, uint8_t *buf, int32_t len, uint8_t *addr_out,
                              int32_t addr_len) {
  if (len < 0 || (buf == NULL && len > 0) || !addr_buf_ok(addr_out, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t alen = sizeof ss;
  ssize_t n = recvfrom(fd, buf, (size_t)len, 0, (struct sockaddr *)&ss, &alen);
  if (n < 0) return fail();
  encode_addr(&ss, alen, addr_out);
  return (int32_t)n;
}

SH_EXPORT int32_t sh_sendto(int32_t fd, const uint8_t *buf, int32_t len, const uint8_t *addr,
                            int32_t addr_len) {
  if (len < 0 || (buf == NULL && len > 0) || !addr_buf_ok(addr, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  int alen = decode_addr(addr, &ss);
  if (alen < 0) return alen;
  return count_or_fail(
      sendto(fd, buf, (size_t)len, SEND_FLAGS, (struct sockaddr *)&ss, (socklen_t)alen));
}

/*
 * Scatter read into regions of one buffer of `base_len` bytes: region i is lens[i] bytes
 * (`lens` holds lens_len bytes: lens_len / 4 regions), the regions lying back to back from base. One FFI call, no pointer juggling in
 * JavaScript. A set of regions that does not fit in the buffer is refused (-EINVAL), as
 * is a count above MAX_IOV. (Gathered writes need no shim call: the regions of one
 * buffer are a plain send.)
 */
#define MAX_IOV 1024

SH_EXPORT int32_t sh_readv(int32_t fd, uint8_t *base, int32_t base_len, const uint32_t *lens,
                           int32_t lens_len) {
  if (lens_len < 0 || lens_len % (int32_t)sizeof *lens != 0 || base_len < 0) return -EINVAL;
  int32_t count = lens_len / (int32_t)sizeof *lens;
  if (count > MAX_IOV) return -EINVAL;
  if ((base == NULL && base_len > 0) || (lens == NULL && count > 0)) return -EINVAL;
  struct iovec iov[MAX_IOV];
  size_t room = (size_t)base_len, off = 0;
  for (int i = 0; i < count; i++) {
    size_t n = lens[i];
    if (n > room - off) return -EINVAL; /* off <= room always: no overflow */
    iov[i].iov_base = base + off;
    iov[i].iov_len = n;
    off += n;
  }
  return count_or_fail(readv(fd, iov, count));
}

/* how: 0 read, 1 write, 2 both. */
SH_EXPORT int32_t sh_shutdown(int32_t fd, int32_t how) {
  int h = how == 0 ? SHUT_RD : how == 1 ? SHUT_WR : how == 2 ? SHUT_RDWR : -1;
  if (h < 0) return -EINVAL;
  return shutdown(fd, h) < 0 ? fail() : 0;
}

SH_EXPORT int32_t sh_getsockname(int32_t fd, uint8_t *addr_out, int32_t addr_len) {
  if (!addr_buf_ok(addr_out, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return fail();
  encode_addr(&ss, len, addr_out);
  return 0;
}

SH_EXPORT int32_t sh_getpeername(int32_t fd, uint8_t *addr_out, int32_t addr_len) {
  if (!addr_buf_ok(addr_out, addr_len)) return -EINVAL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return fail();
  encode_addr(&ss, len, addr_out);
  return 0;
}

/* Portable option codes (see OPTION_CODE in net/ffi_socket.ts). */
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

/* ------------------------------------------------------------------ ownership */

/*
 * Which poller owns which fd, process-wide (pollers of several workers share the
 * process's fd numbers): an fd owned by one poller cannot be taken by another (-EEXIST),
 * and a poller's teardown closes exactly the fds it owns. `companion` is a second fd that
 * lives and dies with the first (kqueue's EVFILT_VNODE target). Guarded by `table_lock`.
 */
struct fd_entry {
  int32_t owner; /* poller slot + 1; 0: none */
  int32_t companion; /* -1: none */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fd_entry *fd_table;
static size_t fd_table_size;

/* The entry of `fd`, growing the table; NULL when out of memory. Under table_lock. */
static struct fd_entry *fd_entry_of(int fd) {
  size_t i = (size_t)fd;
  if (i >= fd_table_size) {
    size_t size = fd_table_size == 0 ? 1024 : fd_table_size;
    while (size <= i) size *= 2;
    struct fd_entry *grown = realloc(fd_table, size * sizeof *grown);
    if (grown == NULL) return NULL;
    for (size_t j = fd_table_size; j < size; j++) {
      grown[j].owner = 0;
      grown[j].companion = -1;
    }
    fd_table = grown;
    fd_table_size = size;
  }
  return &fd_table[i];
}

/* Closes fd and its companion, forgetting both. Under table_lock. */
static void close_entry(int fd) {
  if (fd >= 0 && (size_t)fd < fd_table_size) {
    struct fd_entry *e = &fd_table[fd];
    if (e->companion >= 0) close(e->companion);
    e->owner = 0;
    e->companion = -1;
  }
  close(fd);
}

/* Closes an fd of the shim's (a socket, a watch) with whatever lives with it. */
SH_EXPORT int32_t sh_close(int32_t fd) {
  if (fd < 0) return -EBADF;
  pthread_mutex_lock(&table_lock);
  int companion = -1;
  if ((size_t)fd < fd_table_size) {
    companion = fd_table[fd].companion;
    fd_table[fd].owner = 0;
    fd_table[fd].companion = -1;
  }
  pthread_mutex_unlock(&table_lock);
  if (companion >= 0) close(companion);
  return close(fd) < 0 ? fail() : 0;
}

/* ------------------------------------------------------------------ poller */

/*
 * A poller is a handle to a slot: (generation << SLOT_BITS) | index, so a handle of a
 * torn-down poller never reaches its successor in the slot. Each poller has two sets:
 * - `inner` holds the registered fds, edge-triggered, each keyed by (generation token,
 *   fd) (epoll's data.u64, kqueue's udata), so an event harvested before its fd was
 *   closed and the number reused is recognised as stale by JavaScript;
 * - `outer` holds `inner` and the wake event. Only the helper thread's blocking wait
 *   (sh_poller_wait) looks at `outer`; the synchronous polls of the JavaScript thread
 *   (sh_poller_poll) harvest `inner` only, so they can never take the wake meant for the
 *   helper, and events taken by either are delivered exactly once.
 *
 * Teardown: when the thread that created a poller ends (a Worker terminated or done,
 * whose JavaScript can no longer run), a thread-exit destructor closes every fd the
 * poller owns and wakes its helper wait; the sets and the event buffer are freed by the
 * last of the owner and the helper wait to let go (a reference count), and a helper wait
 * that starts afterwards finds the slot gone and returns -EBADF without touching an fd.
 */
#define SLOT_BITS 12
#define MAX_POLLERS (1 << SLOT_BITS)
#define MAX_EVENTS 256 /* per harvest; the event buffers hold 3 * MAX_EVENTS int32 */

struct poller {
  int inner, outer, wake; /* wake: eventfd (epoll) or -1 (kqueue: EVFILT_USER) */
  uint32_t generation; /* of the slot: bumped when it is freed */
  int live; /* allocated */
  int dead; /* torn down: no new helper waits */
  int refs; /* the owner's (until teardown) + a running helper wait's */
  int32_t *events; /* the helper wait's output: never a JavaScript buffer */
  int next_of_thread; /* the owner thread's next poller, or -1 */
};

static struct poller pollers[MAX_POLLERS]; /* under table_lock, except as noted */
static pthread_key_t thread_pollers;
static pthread_once_t thread_pollers_once = PTHREAD_ONCE_INIT;
static int thread_pollers_ok;

static void teardown(int index);

/* The first poller of the calling thread's list, or -1. */
static int thread_head(void) {
  void *head = pthread_getspecific(thread_pollers);
  return head == NULL ? -1 : (int)((uintptr_t)head - 1);
}

static void set_thread_head(int index) {
  (void)pthread_setspecific(thread_pollers, index < 0 ? NULL : (void *)(uintptr_t)(index + 1));
}

/* Thread-exit destructor: the thread's pollers are torn down. */
static void end_of_thread(void *head) {
  int index = (int)((uintptr_t)head - 1); /* head != NULL: destructors get set values */
  while (index >= 0) {
    int next = pollers[index].next_of_thread;
    teardown(index);
    index = next;
  }
}

static void make_key(void) {
  thread_pollers_ok = pthread_key_create(&thread_pollers, end_of_thread) == 0;
}

static int32_t handle_of(int index) {
  return (int32_t)((pollers[index].generation << SLOT_BITS) | (uint32_t)index);
}

/*
 * The poller behind `handle`, for calls on its owner thread (the only thread that frees
 * it, at its end, so no lock is needed); NULL if the handle is stale or torn down.
 */
static struct poller *owned_poller(int32_t handle) {
  if (handle < 0) return NULL;
  struct poller *p = &pollers[handle & (MAX_POLLERS - 1)];
  if (!__atomic_load_n(&p->live, __ATOMIC_ACQUIRE) ||
      __atomic_load_n(&p->dead, __ATOMIC_ACQUIRE) ||
      __atomic_load_n(&p->generation, __ATOMIC_RELAXED) != ((uint32_t)handle >> SLOT_BITS)) {
    return NULL;
  }
  return p;
}

/* Drops one reference; the last one closes the sets and frees the slot. Under table_lock. */
static void release_locked(struct poller *p) {
  if (--p->refs > 0) return;
  close(p->inner);
  close(p->outer);
  if (p->wake >= 0) close(p->wake);
  free(p->events);
  p->events = NULL;
  __atomic_store_n(&p->live, 0, __ATOMIC_RELEASE);
  __atomic_store_n(&p->generation, (p->generation + 1) & ((1u << (31 - SLOT_BITS)) - 1),
                   __ATOMIC_RELAXED);
}

static int make_sets(struct poller *p);
static int add_fd(struct poller *p, int fd, uint32_t token, int32_t directions);
static int del_fd(struct poller *p, int fd);
static int harvest(struct poller *p, int32_t *out, int32_t max);
static int wait_outer(struct poller *p, int *woke, int *inner_ready);
static void wake(struct poller *p);

/* Makes a poller owned by the calling thread; returns its handle, or -errno. */
SH_EXPORT int32_t sh_poller_create(void) {
  pthread_once(&thread_pollers_once, make_key);
  if (!thread_pollers_ok) return -ENOMEM;
  int32_t *events = calloc(3 * MAX_EVENTS, sizeof(int32_t));
  if (events == NULL) return -ENOMEM;
  pthread_mutex_lock(&table_lock);
  int index = -1;
  for (int i = 0; i < MAX_POLLERS; i++) {
    if (!pollers[i].live) { index = i; break; }
  }
  if (index < 0) {
    pthread_mutex_unlock(&table_lock);
    free(events);
    return -EMFILE;
  }
  struct poller *p = &pollers[index];
  int r = make_sets(p);
  if (r < 0) {
    pthread_mutex_unlock(&table_lock);
    free(events);
    return r;
  }
  p->events = events;
  p->dead = 0;
  p->refs = 1;
  p->next_of_thread = thread_head();
  __atomic_store_n(&p->live, 1, __ATOMIC_RELEASE);
  set_thread_head(index);
  int32_t handle = handle_of(index);
  pthread_mutex_unlock(&table_lock);
  return handle;
}

/*
 * Tears a poller down: closes the fds it owns and wakes its helper wait. Run when its
 * owner thread ends; callable by the owner (sh_poller_close) before.
 */
static void teardown(int index) {
  struct poller *p = &pollers[index];
  pthread_mutex_lock(&table_lock);
  if (!p->live || p->dead) {
    pthread_mutex_unlock(&table_lock);
    return;
  }
  __atomic_store_n(&p->dead, 1, __ATOMIC_RELEASE);
  for (size_t fd = 0; fd < fd_table_size; fd++) {
    if (fd_table[fd].owner == index + 1) close_entry((int)fd);
  }
  wake(p);
  release_locked(p);
  pthread_mutex_unlock(&table_lock);
}

/* Unlinks a poller from its owner thread's list. */
static void unlink_from_thread(int index) {
  int head = thread_head();
  if (head == index) {
    set_thread_head(pollers[index].next_of_thread);
    return;
  }
  for (int i = head; i >= 0; i = pollers[i].next_of_thread) {
    if (pollers[i].next_of_thread == index) {
      pollers[i].next_of_thread = pollers[index].next_of_thread;
      return;
    }
  }
}

/* Tears the poller down now (on its owner thread): as at the end of the thread. */
SH_EXPORT int32_t sh_poller_close(int32_t handle) {
  struct poller *p = owned_poller(handle);
  if (p == NULL) return -EBADF;
  int index = (int)(p - pollers);
  unlink_from_thread(index);
  teardown(index);
  return 0;
}

/*
 * Registers fd, edge-triggered for `directions` (EV_READ | EV_WRITE), keyed by `token`.
 * `owned`: the poller owns the fd (closes it at teardown); an fd owned by any poller
 * already is refused with -EEXIST, as is an fd this poller watches already.
 */
SH_EXPORT int32_t sh_poller_add(int32_t handle, int32_t fd, int32_t token, int32_t directions,
                                int32_t owned) {
  struct poller *p = owned_poller(handle);
  if (p == NULL) return -EBADF;
  if (fd < 0) return -EBADF;
  int32_t owner = (int32_t)(p - pollers) + 1;
  pthread_mutex_lock(&table_lock);
  /*
   * A number beyond the table must be an open fd before the table grows to it: it is then
   * below RLIMIT_NOFILE, which bounds the table. One within the table needs no check here
   * (epoll_ctl and kevent refuse a closed fd with EBADF): a system call less for each
   * accepted connection, ~0.6 us on a VM that clears CPU buffers at each return.
   */
  if ((size_t)fd >= fd_table_size && fcntl(fd, F_GETFD) < 0) {
    pthread_mutex_unlock(&table_lock);
    return -EBADF;
  }
  struct fd_entry *e = fd_entry_of(fd);
  if (e == NULL) {
    pthread_mutex_unlock(&table_lock);
    return -ENOMEM;
  }
  if (e->owner != 0) {
    /* Closed behind the shim's back (its entry stale): still EBADF, as before. */
    int closed = fcntl(fd, F_GETFD) < 0;
    pthread_mutex_unlock(&table_lock);
    return closed ? -EBADF : -EEXIST;
  }
  int r = add_fd(p, fd, (uint32_t)token, directions);
  if (r == 0 && owned) e->owner = owner;
  pthread_mutex_unlock(&table_lock);
  return r;
}

/* Forgets fd (before it is closed, or when a wait on a foreign fd ends). */
SH_EXPORT int32_t sh_poller_del(int32_t handle, int32_t fd) {
  struct poller *p = owned_poller(handle);
  if (p == NULL) return -EBADF;
  if (fd < 0) return -EBADF;
  int32_t owner = (int32_t)(p - pollers) + 1;
  pthread_mutex_lock(&table_lock);
  if ((size_t)fd < fd_table_size && fd_table[fd].owner == owner) fd_table[fd].owner = 0;
  pthread_mutex_unlock(&table_lock);
  return del_fd(p, fd);
}

/*
 * A synchronous poll (timeout 0) of the registered fds, on the owner thread: writes as many
 * (fd, token, flags) triples as out_len bytes hold (at most MAX_EVENTS) to out, and returns
 * how many.
 */
SH_EXPORT int32_t sh_poller_poll(int32_t handle, int32_t *out, int32_t out_len) {
  struct poller *p = owned_poller(handle);
  if (p == NULL) return -EBADF;
  int32_t max = out_len / (int32_t)(3 * sizeof *out);
  if (out == NULL || max <= 0) return -EINVAL;
  return harvest(p, out, max > MAX_EVENTS ? MAX_EVENTS : max);
}

/*
 * The blocking wait, run on a helper thread: until events or a wake, then harvests into
 * the poller's own buffer (sh_poller_events). Returns the number of triples, 0 after a
 * wake, -EBADF if the poller is (or gets) torn down. Safe to start after the teardown.
 */
SH_EXPORT int32_t sh_poller_wait(int32_t handle) {
  if (handle < 0) return -EBADF;
  struct poller *p = &pollers[handle & (MAX_POLLERS - 1)];
  pthread_mutex_lock(&table_lock);
  if (!p->live || p->dead || p->generation != ((uint32_t)handle >> SLOT_BITS)) {
    pthread_mutex_unlock(&table_lock);
    return -EBADF;
  }
  p->refs++;
  pthread_mutex_unlock(&table_lock);
  int32_t result;
  for (;;) {
    int woke = 0, inner_ready = 0;
    int r = wait_outer(p, &woke, &inner_ready);
    if (__atomic_load_n(&p->dead, __ATOMIC_ACQUIRE)) { result = -EBADF; break; }
    if (r < 0) { result = r; break; }
    int k = inner_ready ? harvest(p, p->events, MAX_EVENTS) : 0;
    /* Nothing left in inner: the JavaScript thread's poll took it first; wait again. */
    if (k != 0 || woke) { result = k; break; }
  }
  pthread_mutex_lock(&table_lock);
  release_locked(p);
  pthread_mutex_unlock(&table_lock);
  return result;
}

/* Where sh_poller_wait writes: 3 * MAX_EVENTS int32, valid while the poller lives. */
SH_EXPORT int32_t *sh_poller_events(int32_t handle) {
  struct poller *p = owned_poller(handle);
  return p == NULL ? NULL : p->events;
}

/* Ends a blocking sh_poller_wait early (it returns 0). */
SH_EXPORT int32_t sh_poller_wake(int32_t handle) {
  struct poller *p = owned_poller(handle);
  if (p == NULL) return -EBADF;
  wake(p);
  return 0;
}

static void put_event(int32_t *out, int k, int fd, uint32_t token, int32_t flags) {
  out[3 * k] = fd;
  out[3 * k + 1] = (int32_t)token;
  out[3 * k + 2] = flags;
}

#ifdef SH_EPOLL
#define OUTER_INNER 1u
#define OUTER_WAKE 2u

static int make_sets(struct poller *p) {
  p->inner = p->outer = p->wake = -1;
  int inner = epoll_create1(EPOLL_CLOEXEC);
  if (inner < 0) return fail();
  int outer = epoll_create1(EPOLL_CLOEXEC);
  if (outer < 0) { int e = errno; close(inner); return -e; }
  int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wfd < 0) { int e = errno; close(inner); close(outer); return -e; }
  struct epoll_event ev = {.events = EPOLLIN, .data = {.u32 = OUTER_INNER}};
  struct epoll_event wev = {.events = EPOLLIN, .data = {.u32 = OUTER_WAKE}};
  if (epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev) < 0 ||
      epoll_ctl(outer, EPOLL_CTL_ADD, wfd, &wev) < 0) {
    int e = errno; close(inner); close(outer); close(wfd); return -e;
  }
  p->inner = inner;
  p->outer = outer;
  p->wake = wfd;
  return 0;
}

static int add_fd(struct poller *p, int fd, uint32_t token, int32_t directions) {
  struct epoll_event ev = {.events = EPOLLET | EPOLLRDHUP,
                           .data = {.u64 = ((uint64_t)token << 32) | (uint32_t)fd}};
  if (directions & EV_READ) ev.events |= EPOLLIN;
  if (directions & EV_WRITE) ev.events |= EPOLLOUT;
  return epoll_ctl(p->inner, EPOLL_CTL_ADD, fd, &ev) < 0 ? fail() : 0;
}

static int del_fd(struct poller *p, int fd) {
  struct epoll_event ev = {0};
  return epoll_ctl(p->inner, EPOLL_CTL_DEL, fd, &ev) < 0 ? fail() : 0;
}

static int harvest(struct poller *p, int32_t *out, int32_t max) {
  struct epoll_event evs[MAX_EVENTS];
  int n = epoll_wait(p->inner, evs, max, 0);
  if (n < 0) return errno == EINTR ? 0 : fail();
  for (int i = 0; i < n; i++) {
    uint32_t e = evs[i].events;
    int32_t flags = 0;
    if (e & EPOLLIN) flags |= EV_READ;
    if (e & EPOLLOUT) flags |= EV_WRITE;
    if (e & EPOLLRDHUP) flags |= EV_HUP | EV_READ;
    if (e & EPOLLHUP) flags |= EV_HUP | EV_READ | EV_WRITE; /* both ends gone: wake writers too */
    if (e & EPOLLERR) flags |= EV_ERR | EV_READ | EV_WRITE;
    put_event(out, i, (int)(uint32_t)evs[i].data.u64, (uint32_t)(evs[i].data.u64 >> 32), flags);
  }
  return n;
}

static int wait_outer(struct poller *p, int *woke, int *inner_ready) {
  struct epoll_event evs[2];
  int n = epoll_wait(p->outer, evs, 2, -1);
  if (n < 0) return errno == EINTR ? 0 : fail();
  for (int i = 0; i < n; i++) {
    if (evs[i].data.u32 == OUTER_WAKE) {
      uint64_t v;
      while (read(p->wake, &v, sizeof v) > 0) {}
      *woke = 1;
    } else {
      *inner_ready = 1;
    }
  }
  return 0;
}

static void wake(struct poller *p) {
  uint64_t one = 1;
  (void)!write(p->wake, &one, sizeof one); /* EAGAIN: a wake is pending already */
}
#else /* kqueue */
static int make_sets(struct poller *p) {
  p->inner = p->outer = p->wake = -1;
  int inner = kqueue();
  if (inner < 0) return fail();
  int outer = kqueue();
  if (outer < 0) { int e = errno; close(inner); return -e; }
  (void)fcntl(inner, F_SETFD, FD_CLOEXEC);
  (void)fcntl(outer, F_SETFD, FD_CLOEXEC);
  struct kevent evs[2];
  EV_SET(&evs[0], (uintptr_t)inner, EVFILT_READ, EV_ADD, 0, 0, NULL);
  EV_SET(&evs[1], 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
  if (kevent(outer, evs, 2, NULL, 0, NULL) < 0) {
    int e = errno; close(inner); close(outer); return -e;
  }
  p->inner = inner;
  p->outer = outer;
  return 0;
}

static int add_fd(struct poller *p, int fd, uint32_t token, int32_t directions) {
  struct kevent evs[2];
  int n = 0;
  void *udata = (void *)(uintptr_t)token;
  if (directions & EV_READ) {
    EV_SET(&evs[n], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, udata);
    n++;
  }
  if (directions & EV_WRITE) {
    EV_SET(&evs[n], (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, udata);
    n++;
  }
  return kevent(p->inner, evs, n, NULL, 0, NULL) < 0 ? fail() : 0;
}

static int del_fd(struct poller *p, int fd) {
  struct kevent ev;
  /* Each filter alone: one that was never added (ENOENT) must not hide the other. */
  EV_SET(&ev, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
  (void)kevent(p->inner, &ev, 1, NULL, 0, NULL);
  EV_SET(&ev, (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
  (void)kevent(p->inner, &ev, 1, NULL, 0, NULL);
  return 0;
}

static int harvest(struct poller *p, int32_t *out, int32_t max) {
  struct kevent evs[MAX_EVENTS];
  struct timespec zero = {0, 0};
  int n = kevent(p->inner, NULL, 0, evs, max, &zero);
  if (n < 0) return errno == EINTR ? 0 : fail();
  for (int i = 0; i < n; i++) {
    int32_t flags = 0;
    if (evs[i].filter == EVFILT_READ) flags |= EV_READ;
    if (evs[i].filter == EVFILT_WRITE) flags |= EV_WRITE;
    if (evs[i].flags & EV_EOF) flags |= EV_HUP;
    if (evs[i].flags & EV_ERROR) flags |= EV_ERR | EV_READ | EV_WRITE;
    put_event(out, i, (int)evs[i].ident, (uint32_t)(uintptr_t)evs[i].udata, flags);
  }
  return n;
}

static int wait_outer(struct poller *p, int *woke, int *inner_ready) {
  struct kevent evs[2];
  int n = kevent(p->outer, NULL, 0, evs, 2, NULL);
  if (n < 0) return errno == EINTR ? 0 : fail();
  for (int i = 0; i < n; i++) {
    if (evs[i].filter == EVFILT_USER) *woke = 1;
    else *inner_ready = 1;
  }
  return 0;
}

static void wake(struct poller *p) {
  struct kevent ev;
  EV_SET(&ev, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
  (void)kevent(p->outer, &ev, 1, NULL, 0, NULL);
}
#endif

/* ------------------------------------------------------------------ kernel events */

/*
 * Process exit: an fd that becomes readable when the process exits (Linux pidfd; on
 * kqueue systems a kqueue watching EVFILT_PROC NOTE_EXIT, itself pollable).
 */
SH_EXPORT int32_t sh_process_watch(int32_t pid) {
  if (pid <= 0) return -ESRCH;
#ifdef SH_EPOLL
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return fail();
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  return -ENOSYS;
#endif
#else
  int kq = kqueue();
  if (kq < 0) return fail();
  (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
  struct kevent ev;
  EV_SET(&ev, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) { int e = errno; close(kq); return -e; }
  return kq;
#endif
}

/*
 * The exit status of a child that has exited, without reaping it (so whoever spawned it,
 * Deno included, still can). Writes [exited, code, signal] to out (out_len >= 12 bytes).
 * Returns 1 if the child has exited, 0 if not yet, -ECHILD if it is not our child.
 */
SH_EXPORT int32_t sh_child_status(int32_t pid, int32_t *out, int32_t out_len) {
  if (pid <= 0 || out == NULL || out_len < (int32_t)(3 * sizeof *out)) return -EINVAL;
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
 * File or directory changes: an fd that becomes readable when the path (`len` bytes, no
 * NUL among them: -EINVAL) changes (Linux inotify; on kqueue systems a kqueue with an
 * EVFILT_VNODE filter on the opened path, which stays open as the kqueue's companion).
 * Close it with sh_close, which closes the companion too.
 */
SH_EXPORT int32_t sh_file_watch(const uint8_t *path, int32_t len) {
  char name[PATH_MAX];
  if (path == NULL || len <= 0) return -ENOENT;
  if ((size_t)len >= sizeof name) return -ENAMETOOLONG;
  if (memchr(path, 0, (size_t)len) != NULL) return -EINVAL;
  memcpy(name, path, (size_t)len);
  name[len] = 0;
#ifdef SH_EPOLL
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return fail();
  uint32_t mask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                  IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
  if (inotify_add_watch(fd, name, mask) < 0) { int e = errno; close(fd); return -e; }
  return fd;
#else
  int target = open(name, O_RDONLY | O_CLOEXEC
#ifdef O_EVTONLY
                    | O_EVTONLY
#endif
  );
  if (target < 0) return fail();
  int kq = kqueue();
  if (kq < 0) { int e = errno; close(target); return -e; }
  (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
  struct kevent ev;
  EV_SET(&ev, (uintptr_t)target, EVFILT_VNODE, EV_ADD | EV_CLEAR,
         NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_DELETE | NOTE_RENAME, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) {
    int e = errno; close(kq); close(target); return -e;
  }
  /* The target must stay open while the filter lives: it closes with the kqueue. */
  pthread_mutex_lock(&table_lock);
  struct fd_entry *e = fd_entry_of(kq);
  if (e == NULL) {
    pthread_mutex_unlock(&table_lock);
    close(kq);
    close(target);
    return -ENOMEM;
  }
  e->companion = target;
  pthread_mutex_unlock(&table_lock);
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
      struct inotify_event *ev = (struct inotify_event *)(void *)p;
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
 * level is already there before they block, and to confirm a wake.
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
  if (p.revents & POLLNVAL) return -EBADF;
  if (p.revents & POLLERR) flags |= EV_ERR;
  return flags;
}

/* The monotonic clock in milliseconds (fractional): a cheaper clock than
   performance.now() in Deno, for the profiler's per-switch accounting. */
SH_EXPORT double sh_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
