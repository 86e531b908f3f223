/* What libzmq's inproc completes within the call, which its own tests and pyzmq's rely on: a
   message sent is there for a ZMQ_DONTWAIT receive at once, and a DONTWAIT sender with no send
   HWM never sees EAGAIN (its receiver then takes them all without waiting); and the pub-sub
   details around it (XSUB does not filter, XPUB hands out an XSUB's own
   messages, a repeated subscribe reaches a verbose XPUB, a manual XPUB is told what a leaving
   peer had asked for). */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <zmq.h>

static void recv_expect(void *socket, const char *expected, int flags)
{
    char buf[64];
    int n = zmq_recv(socket, buf, sizeof buf, flags);
    assert(n == (int)strlen(expected));
    assert(memcmp(buf, expected, (size_t)n) == 0);
}

static void recv_nothing(void *socket)
{
    char buf[64];
    assert(zmq_recv(socket, buf, sizeof buf, ZMQ_DONTWAIT) == -1);
    assert(zmq_errno() == EAGAIN);
}

static void set_int(void *socket, int name, int value)
{
    assert(zmq_setsockopt(socket, name, &value, sizeof value) == 0);
}

static void pipeline(int io_threads)
{
    void *ctx = zmq_ctx_new();
    assert(zmq_ctx_set(ctx, ZMQ_IO_THREADS, io_threads) == 0);
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    assert(zmq_bind(pull, "inproc://sync-pipeline") == 0);
    assert(zmq_connect(push, "inproc://sync-pipeline") == 0);
    for (int i = 0; i < 500; i++) {
        assert(zmq_send(push, "m", 1, 0) == 1);
        recv_expect(pull, "m", ZMQ_DONTWAIT);
    }
    recv_nothing(pull);

    /* No send HWM and a receive HWM of 1: the sender never has to wait, and the receiver then
       gets every one of them without waiting. */
    void *pull2 = zmq_socket(ctx, ZMQ_PULL);
    void *push2 = zmq_socket(ctx, ZMQ_PUSH);
    set_int(pull2, ZMQ_RCVHWM, 1);
    set_int(push2, ZMQ_SNDHWM, 0);
    assert(zmq_bind(pull2, "inproc://sync-unbounded") == 0);
    assert(zmq_connect(push2, "inproc://sync-unbounded") == 0);
    for (int i = 0; i < 3000; i++)
        assert(zmq_send(push2, "u", 1, ZMQ_DONTWAIT) == 1);
    for (int i = 0; i < 3000; i++)
        recv_expect(pull2, "u", ZMQ_DONTWAIT);
    recv_nothing(pull2);

    assert(zmq_close(pull) == 0);
    assert(zmq_close(push) == 0);
    assert(zmq_close(pull2) == 0);
    assert(zmq_close(push2) == 0);
    assert(zmq_ctx_term(ctx) == 0);
}

static void pub_sub_details(void)
{
    void *ctx = zmq_ctx_new();

    /* A verbose XPUB sees a SUB's repeated subscribe; the SUB cancels once, at its last. */
    void *xpub = zmq_socket(ctx, ZMQ_XPUB);
    set_int(xpub, ZMQ_XPUB_VERBOSE, 1);
    assert(zmq_bind(xpub, "inproc://sync-verbose") == 0);
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    assert(zmq_connect(sub, "inproc://sync-verbose") == 0);
    assert(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "A", 1) == 0);
    recv_expect(xpub, "\1A", 0);
    assert(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "A", 1) == 0);
    recv_expect(xpub, "\1A", 0);
    assert(zmq_setsockopt(sub, ZMQ_UNSUBSCRIBE, "A", 1) == 0);
    recv_nothing(xpub);
    assert(zmq_setsockopt(sub, ZMQ_UNSUBSCRIBE, "A", 1) == 0);
    char buf[8];
    assert(zmq_recv(xpub, buf, sizeof buf, 0) == 2);
    assert(buf[0] == 0 && buf[1] == 'A');
    assert(zmq_close(sub) == 0);
    assert(zmq_close(xpub) == 0);

    /* A manual XPUB applies its own choice; an XSUB hands out what comes, unfiltered; the
       XSUB's own message reaches the XPUB's application; when the XSUB leaves, the XPUB is
       told its request ends. */
    xpub = zmq_socket(ctx, ZMQ_XPUB);
    set_int(xpub, ZMQ_XPUB_MANUAL, 1);
    assert(zmq_bind(xpub, "inproc://sync-manual") == 0);
    void *xsub = zmq_socket(ctx, ZMQ_XSUB);
    assert(zmq_connect(xsub, "inproc://sync-manual") == 0);
    assert(zmq_send(xsub, "\1A", 2, 0) == 2);
    recv_expect(xpub, "\1A", 0);
    assert(zmq_setsockopt(xpub, ZMQ_SUBSCRIBE, "B", 1) == 0);
    assert(zmq_send(xpub, "A", 1, 0) == 1);
    assert(zmq_send(xpub, "B", 1, 0) == 1);
    recv_expect(xsub, "B", ZMQ_DONTWAIT);
    recv_nothing(xsub);
    assert(zmq_send(xsub, "\2hello", 6, 0) == 6);
    recv_expect(xpub, "\2hello", 0);
    assert(zmq_close(xsub) == 0);
    assert(zmq_recv(xpub, buf, sizeof buf, 0) == 2);
    assert(buf[0] == 0 && buf[1] == 'A');
    assert(zmq_close(xpub) == 0);
    assert(zmq_ctx_term(ctx) == 0);
}

int main(void)
{
    pipeline(1);
    pipeline(2);
    pub_sub_details();
    return 0;
}
