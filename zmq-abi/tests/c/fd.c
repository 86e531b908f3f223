/* ZMQ_FD and ZMQ_EVENTS, libzmq's edge-triggered contract: poll(2) the descriptor, then read
   ZMQ_EVENTS again and receive until EAGAIN before waiting again. Done that way, no message is
   missed, whether they were all sent before or are sent from another thread meanwhile. */
#undef NDEBUG
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define BATCH 200
#define STREAM 2000
/* poll(2) waits in slices this long; a wait may last this many slices in all. */
#define SLICE_MS 1000
#define SLICES_MAX 10

static int events(void *socket)
{
    int value = -1;
    size_t value_len = sizeof value;
    assert(zmq_getsockopt(socket, ZMQ_EVENTS, &value, &value_len) == 0);
    return value;
}

static int socket_fd(void *socket)
{
    int fd = -1;
    size_t fd_len = sizeof fd;
    assert(zmq_getsockopt(socket, ZMQ_FD, &fd, &fd_len) == 0);
    assert(fd_len == sizeof fd && fd >= 0);
    /* A descriptor the program can poll. */
    assert(fcntl(fd, F_GETFD) != -1);
    return fd;
}

/* Receive messages numbered from `*next` on, as the contract says, until `last`. A signal the
   descriptor fails to give shows as a wait that does not end: after a timeout this waits on the
   descriptor again (nothing was called that could have consumed a signal), never looks at
   ZMQ_EVENTS, which would hide the missed signal. */
static void receive_through(void *pull, int fd, int *next, int last)
{
    while (*next <= last) {
        if (events(pull) & ZMQ_POLLIN) {
            /* Drain: the descriptor signals again only after EAGAIN. */
            char buf[32];
            int size;
            while ((size = zmq_recv(pull, buf, sizeof buf - 1, ZMQ_DONTWAIT)) >= 0) {
                buf[size] = '\0';
                int number = -1;
                assert(sscanf(buf, "%d", &number) == 1);
                assert(number == *next);
                (*next)++;
            }
            assert(zmq_errno() == EAGAIN);
            continue;
        }
        struct pollfd item = {fd, POLLIN, 0};
        int slices = 0;
        int ready;
        while ((ready = poll(&item, 1, SLICE_MS)) == 0)
            assert(++slices < SLICES_MAX);
        assert(ready == 1 && (item.revents & POLLIN));
    }
}

static void send_numbered(void *push, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%d", i);
        assert(zmq_send(push, buf, (size_t)len, 0) == len);
    }
}

struct streamer
{
    void *ctx;
    const char *endpoint;
};

/* Sends STREAM more messages on a socket of its own, while the main thread receives. */
static void stream(void *arg)
{
    struct streamer *s = arg;
    void *push = zmq_socket(s->ctx, ZMQ_PUSH);
    assert(push);
    assert(zmq_connect(push, s->endpoint) == 0);
    send_numbered(push, BATCH + 1, BATCH + STREAM);
    assert(zmq_close(push) == 0);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_bind(pull, "tcp://127.0.0.1:*") == 0);
    assert(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(zmq_connect(push, endpoint) == 0);

    int fd = socket_fd(pull);
    /* The same descriptor each time. */
    assert(socket_fd(pull) == fd);
    assert((events(pull) & ZMQ_POLLIN) == 0);
    assert((events(pull) & ZMQ_POLLOUT) == 0);

    /* A batch sent before the receiver waits. */
    int next = 1;
    send_numbered(push, 1, BATCH);
    receive_through(pull, fd, &next, BATCH);
    assert(next == BATCH + 1);
    assert((events(pull) & ZMQ_POLLIN) == 0);

    /* A stream sent from another thread while this one waits on the descriptor. */
    struct streamer streamer = {ctx, endpoint};
    void *thread = zmq_threadstart(stream, &streamer);
    assert(thread);
    receive_through(pull, fd, &next, BATCH + STREAM);
    zmq_threadclose(thread);
    assert(next == BATCH + STREAM + 1);
    char buf[32];
    assert(zmq_recv(pull, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == EAGAIN);

    /* The sender's descriptor and events: writable with a peer connected. */
    int push_fd = socket_fd(push);
    assert(push_fd >= 0);
    assert(events(push) == ZMQ_POLLOUT);

    assert(zmq_close(push) == 0);
    assert(zmq_close(pull) == 0);
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
