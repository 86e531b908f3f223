/*
 * zmq.h for ringmq's libzmq.so.5 (first slice).
 *
 * Written for ringmq from the documented libzmq API: the constant values and function
 * signatures below are libzmq's ABI, so programs built against this header run against
 * libzmq too. It declares only what ringmq's library implements; see the README section
 * "Use it from C (first slice)" for what is missing.
 */
#ifndef RINGMQ_ZMQ_H_INCLUDED
#define RINGMQ_ZMQ_H_INCLUDED

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version this library stands in for. */
#define ZMQ_VERSION_MAJOR 4
#define ZMQ_VERSION_MINOR 3
#define ZMQ_VERSION_PATCH 5

/* Error numbers. The POSIX ones come from <errno.h> where the platform has them. */
#define ZMQ_HAUSNUMERO 156384712
#ifndef ENOTSUP
#define ENOTSUP (ZMQ_HAUSNUMERO + 1)
#endif
#ifndef EPROTONOSUPPORT
#define EPROTONOSUPPORT (ZMQ_HAUSNUMERO + 2)
#endif
#ifndef ENOBUFS
#define ENOBUFS (ZMQ_HAUSNUMERO + 3)
#endif
#ifndef ENETDOWN
#define ENETDOWN (ZMQ_HAUSNUMERO + 4)
#endif
#ifndef EADDRINUSE
#define EADDRINUSE (ZMQ_HAUSNUMERO + 5)
#endif
#ifndef EADDRNOTAVAIL
#define EADDRNOTAVAIL (ZMQ_HAUSNUMERO + 6)
#endif
#ifndef ECONNREFUSED
#define ECONNREFUSED (ZMQ_HAUSNUMERO + 7)
#endif
#ifndef EINPROGRESS
#define EINPROGRESS (ZMQ_HAUSNUMERO + 8)
#endif
#ifndef ENOTSOCK
#define ENOTSOCK (ZMQ_HAUSNUMERO + 9)
#endif
#ifndef EMSGSIZE
#define EMSGSIZE (ZMQ_HAUSNUMERO + 10)
#endif
#ifndef EAFNOSUPPORT
#define EAFNOSUPPORT (ZMQ_HAUSNUMERO + 11)
#endif
#ifndef ENETUNREACH
#define ENETUNREACH (ZMQ_HAUSNUMERO + 12)
#endif
#ifndef ECONNABORTED
#define ECONNABORTED (ZMQ_HAUSNUMERO + 13)
#endif
#ifndef ECONNRESET
#define ECONNRESET (ZMQ_HAUSNUMERO + 14)
#endif
#ifndef ENOTCONN
#define ENOTCONN (ZMQ_HAUSNUMERO + 15)
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT (ZMQ_HAUSNUMERO + 16)
#endif
#ifndef EHOSTUNREACH
#define EHOSTUNREACH (ZMQ_HAUSNUMERO + 17)
#endif
#ifndef ENETRESET
#define ENETRESET (ZMQ_HAUSNUMERO + 18)
#endif
/* libzmq's own: REQ/REP order broken, incompatible peer, context terminated, no I/O thread. */
#define EFSM (ZMQ_HAUSNUMERO + 51)
#define ENOCOMPATPROTO (ZMQ_HAUSNUMERO + 52)
#define ETERM (ZMQ_HAUSNUMERO + 53)
#define EMTHREAD (ZMQ_HAUSNUMERO + 54)

/* Socket types. ZMQ_STREAM is not supported here (zmq_socket fails with EINVAL). */
#define ZMQ_PAIR 0
#define ZMQ_PUB 1
#define ZMQ_SUB 2
#define ZMQ_REQ 3
#define ZMQ_REP 4
#define ZMQ_DEALER 5
#define ZMQ_ROUTER 6
#define ZMQ_PULL 7
#define ZMQ_PUSH 8
#define ZMQ_XPUB 9
#define ZMQ_XSUB 10

/* Socket options this library reads or sets; any other returns EINVAL. */
#define ZMQ_ROUTING_ID 5
#define ZMQ_SUBSCRIBE 6
#define ZMQ_UNSUBSCRIBE 7
#define ZMQ_RCVMORE 13
#define ZMQ_EVENTS 15
#define ZMQ_TYPE 16
#define ZMQ_LINGER 17
#define ZMQ_SNDHWM 23
#define ZMQ_RCVHWM 24
#define ZMQ_RCVTIMEO 27
#define ZMQ_SNDTIMEO 28
#define ZMQ_LAST_ENDPOINT 32

/* Send and receive flags. */
#define ZMQ_DONTWAIT 1
#define ZMQ_SNDMORE 2

/* ZMQ_EVENTS bits. */
#define ZMQ_POLLIN 1
#define ZMQ_POLLOUT 2

/* A message: 64 opaque bytes owned by the caller, pointer-aligned. */
typedef struct zmq_msg_t {
    union {
        unsigned char opaque[64];
        void *align_pointer;
        int64_t align_int64;
    } u;
} zmq_msg_t;

/* Frees the buffer given to zmq_msg_init_data: called with (data, hint). */
typedef void(zmq_free_fn)(void *data, void *hint);

/* Library */
void zmq_version(int *major, int *minor, int *patch);
/* Present only in ringmq's library: lets a program tell it loaded ringmq, not libzmq. */
extern const char ringmq_zmq_abi[];

int zmq_errno(void);
const char *zmq_strerror(int errnum);
int zmq_has(const char *capability);

/* Contexts */
void *zmq_ctx_new(void);
int zmq_ctx_term(void *context);
int zmq_ctx_destroy(void *context);

/* Sockets */
void *zmq_socket(void *context, int type);
int zmq_close(void *socket);
int zmq_bind(void *socket, const char *endpoint);
int zmq_connect(void *socket, const char *endpoint);
int zmq_unbind(void *socket, const char *endpoint);
int zmq_disconnect(void *socket, const char *endpoint);
int zmq_setsockopt(void *socket, int option_name, const void *option_value, size_t option_len);
int zmq_getsockopt(void *socket, int option_name, void *option_value, size_t *option_len);
int zmq_send(void *socket, const void *buf, size_t len, int flags);
int zmq_recv(void *socket, void *buf, size_t len, int flags);

/* Messages */
int zmq_msg_init(zmq_msg_t *msg);
int zmq_msg_init_size(zmq_msg_t *msg, size_t size);
int zmq_msg_init_data(zmq_msg_t *msg, void *data, size_t size, zmq_free_fn *ffn, void *hint);
int zmq_msg_close(zmq_msg_t *msg);
void *zmq_msg_data(zmq_msg_t *msg);
size_t zmq_msg_size(const zmq_msg_t *msg);
int zmq_msg_more(const zmq_msg_t *msg);
int zmq_msg_send(zmq_msg_t *msg, void *socket, int flags);
int zmq_msg_recv(zmq_msg_t *msg, void *socket, int flags);
int zmq_msg_copy(zmq_msg_t *dest, zmq_msg_t *src);
int zmq_msg_move(zmq_msg_t *dest, zmq_msg_t *src);

/* Z85 and CURVE keys */
char *zmq_z85_encode(char *dest, const uint8_t *data, size_t size);
uint8_t *zmq_z85_decode(uint8_t *dest, const char *string);
int zmq_curve_keypair(char *z85_public_key, char *z85_secret_key);

#ifdef __cplusplus
}
#endif

#endif
