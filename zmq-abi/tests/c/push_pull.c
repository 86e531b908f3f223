/* PUSH/PULL over inproc and tcp: a three-frame message arrives frame by frame, RCVMORE right.
   A closed socket's ipc address is free for another bind at once (libzmq's test_rebind_ipc),
   many times over. */
#undef NDEBUG
#include <stdio.h>
#include <unistd.h>
#include <assert.h>
#include <string.h>
#include <zmq.h>

static void send_three(void *push)
{
    assert(zmq_send(push, "one", 3, ZMQ_SNDMORE) == 3);
    assert(zmq_send(push, "", 0, ZMQ_SNDMORE) == 0);
    assert(zmq_send(push, "three!", 6, 0) == 6);
}

static void expect_frame(void *pull, const char *body, int more)
{
    char buf[32];
    int more_value = -1;
    size_t more_len = sizeof more_value;
    int size = zmq_recv(pull, buf, sizeof buf, 0);
    assert(size == (int)strlen(body));
    assert(memcmp(buf, body, (size_t)size) == 0);
    assert(zmq_getsockopt(pull, ZMQ_RCVMORE, &more_value, &more_len) == 0);
    assert(more_len == sizeof(int));
    assert(more_value == more);
}

static void round_trip(void *ctx, const char *bind_endpoint)
{
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    int timeout_ms = 5000;
    assert(pull && push);
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms) == 0);
    assert(zmq_bind(pull, bind_endpoint) == 0);
    assert(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(endpoint_len == strlen(endpoint) + 1);
    assert(zmq_connect(push, endpoint) == 0);

    send_three(push);
    expect_frame(pull, "one", 1);
    expect_frame(pull, "", 1);
    expect_frame(pull, "three!", 0);

    /* The same with zmq_msg_recv and zmq_msg_more; a too-small buffer truncates. */
    send_three(push);
    zmq_msg_t msg;
    assert(zmq_msg_init(&msg) == 0);
    assert(zmq_msg_recv(&msg, pull, 0) == 3);
    assert(zmq_msg_size(&msg) == 3 && memcmp(zmq_msg_data(&msg), "one", 3) == 0);
    assert(zmq_msg_more(&msg) == 1);
    assert(zmq_msg_recv(&msg, pull, 0) == 0);
    assert(zmq_msg_more(&msg) == 1);
    char small[2];
    assert(zmq_recv(pull, small, sizeof small, 0) == 6);
    assert(memcmp(small, "th", 2) == 0);
    assert(zmq_msg_close(&msg) == 0);

    assert(zmq_close(push) == 0);
    assert(zmq_close(pull) == 0);
}

static void rebind_after_close(void *ctx)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/zmq-abi-rebind-%d", (int)getpid());
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    for (int round = 0; round < 10; round++) {
        void *push = zmq_socket(ctx, ZMQ_PUSH);
        assert(zmq_bind(push, endpoint) == 0);
        if (round == 0)
            assert(zmq_connect(pull, endpoint) == 0);
        assert(zmq_send(push, "42", 2, 0) == 2);
        char buf[4];
        assert(zmq_recv(pull, buf, sizeof buf, 0) == 2 && memcmp(buf, "42", 2) == 0);
        assert(zmq_close(push) == 0);
    }
    int linger = 0;
    assert(zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger) == 0);
    assert(zmq_close(pull) == 0);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    assert(ctx);
    round_trip(ctx, "inproc://push-pull");
    round_trip(ctx, "tcp://127.0.0.1:*");
    rebind_after_close(ctx);
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
