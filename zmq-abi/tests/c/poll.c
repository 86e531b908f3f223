/* zmq_poll over sockets and a pipe: POLLIN, POLLOUT, a zero timeout, the REQ/REP turn in
   POLLOUT, and ETERM when zmq_ctx_shutdown is called from another thread. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* The most a wait in this program may take before it counts as a failure. */
#define WAIT_MS 5000

static int events(void *socket)
{
    int value = -1;
    size_t value_len = sizeof value;
    assert(zmq_getsockopt(socket, ZMQ_EVENTS, &value, &value_len) == 0);
    return value;
}

static void expect_frame(void *socket, const char *text)
{
    char buf[64];
    int size = zmq_recv(socket, buf, sizeof buf, ZMQ_DONTWAIT);
    assert(size == (int)strlen(text));
    assert(memcmp(buf, text, (size_t)size) == 0);
}

static void shut_down(void *ctx)
{
    assert(zmq_ctx_shutdown(ctx) == 0);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *pull_a = zmq_socket(ctx, ZMQ_PULL);
    void *pull_b = zmq_socket(ctx, ZMQ_PULL);
    void *push_a = zmq_socket(ctx, ZMQ_PUSH);
    void *push_b = zmq_socket(ctx, ZMQ_PUSH);
    assert(zmq_bind(pull_a, "inproc://poll-a") == 0);
    assert(zmq_connect(push_a, "inproc://poll-a") == 0);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_bind(pull_b, "tcp://127.0.0.1:*") == 0);
    assert(zmq_getsockopt(pull_b, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(zmq_connect(push_b, endpoint) == 0);
    int pipe_fds[2];
    assert(pipe(pipe_fds) == 0);

    zmq_pollitem_t items[3] = {
        {pull_a, 0, ZMQ_POLLIN, 0},
        {pull_b, 0, ZMQ_POLLIN, 0},
        {NULL, pipe_fds[0], ZMQ_POLLIN, 0},
    };

    /* Nothing ready: a zero timeout returns 0 at once and clears revents. */
    items[0].revents = items[1].revents = items[2].revents = 99;
    assert(zmq_poll(items, 3, 0) == 0);
    assert(items[0].revents == 0 && items[1].revents == 0 && items[2].revents == 0);

    /* The pipe made readable: only its item is reported. */
    assert(write(pipe_fds[1], "x", 1) == 1);
    assert(zmq_poll(items, 3, WAIT_MS) == 1);
    assert(items[0].revents == 0 && items[1].revents == 0 && items[2].revents == ZMQ_POLLIN);
    char byte;
    assert(read(pipe_fds[0], &byte, 1) == 1 && byte == 'x');
    assert(zmq_poll(items, 3, 0) == 0);

    /* A message on the tcp socket: only it is reported, and it can then be received. */
    assert(zmq_send(push_b, "to b", 4, 0) == 4);
    assert(zmq_poll(items, 3, WAIT_MS) == 1);
    assert(items[0].revents == 0 && items[1].revents == ZMQ_POLLIN && items[2].revents == 0);
    expect_frame(pull_b, "to b");
    assert(zmq_poll(items, 3, 0) == 0);

    /* Both sockets and the pipe: every one is reported until it is drained. */
    assert(zmq_send(push_a, "to a", 4, 0) == 4);
    assert(zmq_send(push_b, "to b", 4, 0) == 4);
    assert(write(pipe_fds[1], "y", 1) == 1);
    int seen_a = 0, seen_b = 0, seen_pipe = 0;
    while (!(seen_a && seen_b && seen_pipe)) {
        int ready = zmq_poll(items, 3, WAIT_MS);
        assert(ready >= 1 && ready <= 3);
        assert(ready == (items[0].revents != 0) + (items[1].revents != 0)
                         + (items[2].revents != 0));
        if (items[0].revents) {
            assert(items[0].revents == ZMQ_POLLIN && !seen_a);
            expect_frame(pull_a, "to a");
            seen_a = 1;
        }
        if (items[1].revents) {
            assert(items[1].revents == ZMQ_POLLIN && !seen_b);
            expect_frame(pull_b, "to b");
            seen_b = 1;
        }
        if (items[2].revents) {
            assert(items[2].revents == ZMQ_POLLIN && !seen_pipe);
            assert(read(pipe_fds[0], &byte, 1) == 1 && byte == 'y');
            seen_pipe = 1;
        }
    }
    assert(zmq_poll(items, 3, 0) == 0);

    /* POLLOUT: a PUSH with a connected peer can send; asking for both reports only POLLOUT. */
    zmq_pollitem_t out[2] = {
        {push_a, 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0},
        {NULL, pipe_fds[1], ZMQ_POLLOUT, 0},
    };
    assert(zmq_poll(out, 2, WAIT_MS) == 2);
    assert(out[0].revents == ZMQ_POLLOUT && out[1].revents == ZMQ_POLLOUT);

    /* SUB never sends: it is never writable, even connected; its PUB always is. */
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    assert(zmq_bind(pub, "inproc://poll-pub") == 0);
    assert(zmq_connect(sub, "inproc://poll-pub") == 0);
    assert((events(sub) & ZMQ_POLLOUT) == 0);
    assert(events(pub) == ZMQ_POLLOUT);
    assert(zmq_close(sub) == 0);
    assert(zmq_close(pub) == 0);

    /* REQ/REP: POLLOUT follows whose turn it is to send. */
    void *rep = zmq_socket(ctx, ZMQ_REP);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    assert(zmq_bind(rep, "inproc://poll-req") == 0);
    assert(zmq_connect(req, "inproc://poll-req") == 0);
    zmq_pollitem_t turn[2] = {
        {req, 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0},
        {rep, 0, ZMQ_POLLIN | ZMQ_POLLOUT, 0},
    };
    assert(zmq_poll(turn, 2, WAIT_MS) == 1);
    assert(turn[0].revents == ZMQ_POLLOUT && turn[1].revents == 0);
    assert(zmq_send(req, "ping", 4, 0) == 4);
    /* The request sent, REQ may not send again until the reply: REP becomes readable. */
    assert(zmq_poll(turn, 2, WAIT_MS) == 1);
    assert(turn[0].revents == 0 && turn[1].revents == ZMQ_POLLIN);
    expect_frame(rep, "ping");
    assert(zmq_poll(turn, 2, WAIT_MS) == 1);
    assert(turn[0].revents == 0 && turn[1].revents == ZMQ_POLLOUT);
    assert(zmq_send(rep, "pong", 4, 0) == 4);
    assert(zmq_poll(turn, 2, WAIT_MS) == 1);
    assert(turn[0].revents == ZMQ_POLLIN && turn[1].revents == 0);
    expect_frame(req, "pong");
    assert(zmq_poll(turn, 2, WAIT_MS) == 1);
    assert(turn[0].revents == ZMQ_POLLOUT && turn[1].revents == 0);
    assert(zmq_close(req) == 0);
    assert(zmq_close(rep) == 0);

    /* Argument errors; no items with a zero timeout returns 0. */
    assert(zmq_poll(NULL, 0, 0) == 0);
    assert(zmq_poll(NULL, 1, 0) == -1 && zmq_errno() == EFAULT);

    /* zmq_ctx_shutdown from another thread ends a wait with ETERM (whether it comes before the
       wait begins or during it). The timeout only bounds a failure. */
    void *thread = zmq_threadstart(shut_down, ctx);
    assert(thread);
    int rc = zmq_poll(items, 2, 30 * 1000);
    assert(rc == -1 && zmq_errno() == ETERM);
    zmq_threadclose(thread);
    assert(zmq_poll(items, 2, 0) == -1 && zmq_errno() == ETERM);

    int linger = 0;
    void *sockets[] = {pull_a, pull_b, push_a, push_b};
    for (int i = 0; i < 4; i++) {
        /* After shutdown, options may fail with ETERM; closing always works. */
        zmq_setsockopt(sockets[i], ZMQ_LINGER, &linger, sizeof linger);
        assert(zmq_close(sockets[i]) == 0);
    }
    assert(zmq_ctx_term(ctx) == 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return 0;
}
