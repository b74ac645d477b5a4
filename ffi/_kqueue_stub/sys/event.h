/*
 * A minimal declaration of the kqueue API (after FreeBSD's and macOS's <sys/event.h>),
 * only for type-checking the kqueue path of ffi/shim.c on Linux:
 *   cc -fsyntax-only -DSH_USE_KQUEUE -I ffi/_kqueue_stub -Wall -Wextra -Werror ffi/shim.c
 * Nothing is ever linked against it. The field types and widths are macOS's (the layout
 * the shim actually runs on outside Linux).
 */
#ifndef SH_KQUEUE_STUB_SYS_EVENT_H
#define SH_KQUEUE_STUB_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
  uintptr_t ident; /* identifier for this event */
  int16_t filter; /* filter for event */
  uint16_t flags; /* general flags */
  uint32_t fflags; /* filter-specific flags */
  intptr_t data; /* filter-specific data */
  void *udata; /* opaque user data identifier */
};

#define EV_SET(kevp, a, b, c, d, e, f)                                        \
  do {                                                                         \
    struct kevent *__kevp__ = (kevp);                                          \
    __kevp__->ident = (a);                                                     \
    __kevp__->filter = (int16_t)(b);                                           \
    __kevp__->flags = (uint16_t)(c);                                           \
    __kevp__->fflags = (uint32_t)(d);                                          \
    __kevp__->data = (e);                                                      \
    __kevp__->udata = (f);                                                     \
  } while (0)

/* filters */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EVFILT_VNODE (-4)
#define EVFILT_PROC (-5)
#define EVFILT_USER (-10)

/* actions and flags */
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

/* EVFILT_USER */
#define NOTE_TRIGGER 0x01000000

/* EVFILT_VNODE */
#define NOTE_DELETE 0x00000001
#define NOTE_WRITE 0x00000002
#define NOTE_EXTEND 0x00000004
#define NOTE_ATTRIB 0x00000008
#define NOTE_RENAME 0x00000020

/* EVFILT_PROC */
#define NOTE_EXIT 0x80000000U

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);

#endif
