/* Proxies: zmq_proxy_steerable steered over a PAIR socket (STATISTICS, PAUSE, RESUME,
   TERMINATE), zmq_proxy with a capture socket, and zmq_device, each ended with ETERM. */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

struct proxy_run
{
    void *frontend, *backend, *capture, *control;
    int rc, err;
    int device; /* run zmq_device instead of zmq_proxy */
};

static void run_steerable(void *arg)
{
    struct proxy_run *p = arg;
    p->rc = zmq_proxy_steerable(p->frontend, p->backend, p->capture, p->control);
    p->err = zmq_errno();
}

/* Runs until the context is terminated, then closes the proxy's sockets. */
static void run_proxy(void *arg)
{
    struct proxy_run *p = arg;
    if (p->device)
        p->rc = zmq_device(ZMQ_STREAMER, p->frontend, p->backend);
    else
        p->rc = zmq_proxy(p->frontend, p->backend, p->capture);
    p->err = zmq_errno();
    int linger = 0;
    void *sockets[] = {p->frontend, p->backend, p->capture};
    for (int i = 0; i < 3; i++) {
        if (sockets[i]) {
            zmq_setsockopt(sockets[i], ZMQ_LINGER, &linger, sizeof linger);
            assert(zmq_close(sockets[i]) == 0);
        }
    }
}

static void *socket_with_timeout(void *ctx, int type)
{
    void *socket = zmq_socket(ctx, type);
    assert(socket);
    int timeout = 5000, linger = 0;
    assert(zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    assert(zmq_setsockopt(socket, ZMQ_SNDTIMEO, &timeout, sizeof timeout) == 0);
    assert(zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger) == 0);
    return socket;
}

static int rcvmore(void *socket)
{
    int more = -1;
    size_t more_len = sizeof more;
    assert(zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0);
    return more;
}

static void expect_frame(void *socket, const char *text, int more)
{
    char buf[64];
    int size = zmq_recv(socket, buf, sizeof buf, 0);
    assert(size == (int)strlen(text));
    assert(memcmp(buf, text, (size_t)size) == 0);
    assert(rcvmore(socket) == more);
}

/* Ask for STATISTICS: eight uint64 frames, frontend then backend, each messages in, bytes in,
   messages out, bytes out. */
static void statistics(void *steer, uint64_t stats[8])
{
    assert(zmq_send(steer, "STATISTICS", 10, 0) == 10);
    for (int i = 0; i < 8; i++) {
        assert(zmq_recv(steer, &stats[i], sizeof stats[i], 0) == (int)sizeof stats[i]);
        assert(rcvmore(steer) == (i < 7));
    }
}

static void expect_statistics(void *steer, uint64_t front_msgs, uint64_t front_bytes,
                              uint64_t back_msgs, uint64_t back_bytes)
{
    uint64_t stats[8];
    statistics(steer, stats);
    /* PUSH to PULL: everything comes in at the frontend and goes out at the backend. */
    assert(stats[0] == front_msgs && stats[1] == front_bytes);
    assert(stats[2] == 0 && stats[3] == 0);
    assert(stats[4] == 0 && stats[5] == 0);
    assert(stats[6] == back_msgs && stats[7] == back_bytes);
}

static void steerable(void)
{
    void *ctx = zmq_ctx_new();
    void *frontend = socket_with_timeout(ctx, ZMQ_PULL);
    void *backend = socket_with_timeout(ctx, ZMQ_PUSH);
    void *control = socket_with_timeout(ctx, ZMQ_PAIR);
    assert(zmq_bind(frontend, "inproc://steer-front") == 0);
    assert(zmq_bind(backend, "inproc://steer-back") == 0);
    assert(zmq_bind(control, "inproc://steer-control") == 0);
    void *producer = socket_with_timeout(ctx, ZMQ_PUSH);
    void *consumer = socket_with_timeout(ctx, ZMQ_PULL);
    void *steer = socket_with_timeout(ctx, ZMQ_PAIR);
    assert(zmq_connect(producer, "inproc://steer-front") == 0);
    assert(zmq_connect(consumer, "inproc://steer-back") == 0);
    assert(zmq_connect(steer, "inproc://steer-control") == 0);

    struct proxy_run run = {frontend, backend, NULL, control, -2, 0, 0};
    void *thread = zmq_threadstart(run_steerable, &run);
    assert(thread);

    /* A one-frame and a two-frame message go through whole. */
    assert(zmq_send(producer, "hello", 5, 0) == 5);
    assert(zmq_send(producer, "ab", 2, ZMQ_SNDMORE) == 2);
    assert(zmq_send(producer, "cde", 3, 0) == 3);
    expect_frame(consumer, "hello", 0);
    expect_frame(consumer, "ab", 1);
    expect_frame(consumer, "cde", 0);
    /* A multipart message counts once, its bytes all together. */
    expect_statistics(steer, 2, 10, 2, 10);

    /* Paused, nothing moves: a message sent meanwhile is not counted and not delivered. The
       answer to STATISTICS shows the PAUSE before it was handled. */
    assert(zmq_send(steer, "PAUSE", 5, 0) == 5);
    expect_statistics(steer, 2, 10, 2, 10);
    assert(zmq_send(producer, "later", 5, 0) == 5);
    expect_statistics(steer, 2, 10, 2, 10);
    char buf[16];
    assert(zmq_recv(consumer, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == EAGAIN);

    /* Resumed, it goes through. */
    assert(zmq_send(steer, "RESUME", 6, 0) == 6);
    expect_frame(consumer, "later", 0);
    expect_statistics(steer, 3, 15, 3, 15);

    /* TERMINATE: the proxy returns 0. */
    assert(zmq_send(steer, "TERMINATE", 9, 0) == 9);
    zmq_threadclose(thread);
    assert(run.rc == 0);

    void *sockets[] = {frontend, backend, control, producer, consumer, steer};
    for (int i = 0; i < 6; i++)
        assert(zmq_close(sockets[i]) == 0);
    assert(zmq_ctx_term(ctx) == 0);
}

/* zmq_proxy (or zmq_device) with PULL/PUSH; zmq_ctx_term ends it with ETERM. */
static void until_term(int device)
{
    void *ctx = zmq_ctx_new();
    void *frontend = socket_with_timeout(ctx, ZMQ_PULL);
    void *backend = socket_with_timeout(ctx, ZMQ_PUSH);
    void *capture = device ? NULL : socket_with_timeout(ctx, ZMQ_PUSH);
    assert(zmq_bind(frontend, "inproc://proxy-front") == 0);
    assert(zmq_bind(backend, "inproc://proxy-back") == 0);
    if (capture)
        assert(zmq_bind(capture, "inproc://proxy-capture") == 0);
    void *producer = socket_with_timeout(ctx, ZMQ_PUSH);
    void *consumer = socket_with_timeout(ctx, ZMQ_PULL);
    void *captured = device ? NULL : socket_with_timeout(ctx, ZMQ_PULL);
    assert(zmq_connect(producer, "inproc://proxy-front") == 0);
    assert(zmq_connect(consumer, "inproc://proxy-back") == 0);
    if (captured)
        assert(zmq_connect(captured, "inproc://proxy-capture") == 0);

    struct proxy_run run = {frontend, backend, capture, NULL, -2, 0, device};
    void *thread = zmq_threadstart(run_proxy, &run);
    assert(thread);

    assert(zmq_send(producer, "one", 3, ZMQ_SNDMORE) == 3);
    assert(zmq_send(producer, "two", 3, 0) == 3);
    expect_frame(consumer, "one", 1);
    expect_frame(consumer, "two", 0);
    if (captured) {
        /* The capture socket gets a copy of every frame, more flags and all. */
        expect_frame(captured, "one", 1);
        expect_frame(captured, "two", 0);
        assert(zmq_close(captured) == 0);
    }
    assert(zmq_close(producer) == 0);
    assert(zmq_close(consumer) == 0);
    /* Terminating waits for the proxy thread to close its sockets. */
    assert(zmq_ctx_term(ctx) == 0);
    zmq_threadclose(thread);
    assert(run.rc == -1 && run.err == ETERM);
}

int main(void)
{
    steerable();
    until_term(0);
    until_term(1);
    return 0;
}
