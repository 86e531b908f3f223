/* zmq_msg_*: init_data's free function runs once, copy shares, move empties, send is zero-copy. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <zmq.h>

static int freed;
static char buffer[] = "caller-owned bytes";

static void count_free(void *data, void *hint)
{
    assert(data == buffer);
    assert(hint == &freed);
    freed++;
}

int main(void)
{
    zmq_msg_t original, copy, moved;
    assert(sizeof(zmq_msg_t) == 64);

    /* Copies share the caller's buffer; the free function waits for the last one. */
    assert(zmq_msg_init_data(&original, buffer, sizeof buffer, count_free, &freed) == 0);
    assert(zmq_msg_data(&original) == buffer);
    assert(zmq_msg_init(&copy) == 0);
    assert(zmq_msg_copy(&copy, &original) == 0);
    assert(zmq_msg_data(&copy) == zmq_msg_data(&original));
    assert(zmq_msg_size(&copy) == sizeof buffer);
    assert(zmq_msg_close(&original) == 0);
    assert(freed == 0);
    assert(zmq_msg_init(&moved) == 0);
    assert(zmq_msg_move(&moved, &copy) == 0);
    assert(zmq_msg_size(&copy) == 0);
    assert(zmq_msg_data(&moved) == buffer);
    assert(zmq_msg_close(&copy) == 0);
    assert(freed == 0);
    assert(zmq_msg_close(&moved) == 0);
    assert(freed == 1);

    /* Sent over inproc and received: freed once, after the receiver closes it. */
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    assert(zmq_bind(pull, "inproc://msg") == 0);
    assert(zmq_connect(push, "inproc://msg") == 0);
    assert(zmq_msg_init_data(&original, buffer, sizeof buffer, count_free, &freed) == 0);
    assert(zmq_msg_send(&original, push, 0) == (int)sizeof buffer);
    assert(zmq_msg_size(&original) == 0);
    assert(zmq_msg_close(&original) == 0);

    zmq_msg_t received;
    assert(zmq_msg_init(&received) == 0);
    assert(zmq_msg_recv(&received, pull, 0) == (int)sizeof buffer);
    assert(memcmp(zmq_msg_data(&received), buffer, sizeof buffer) == 0);
    assert(zmq_msg_more(&received) == 0);
    assert(zmq_msg_close(&received) == 0);

    /* zmq_msg_init_size: filled through zmq_msg_data, sent, received intact. */
    zmq_msg_t sized;
    assert(zmq_msg_init_size(&sized, 5) == 0);
    memcpy(zmq_msg_data(&sized), "hello", 5);
    assert(zmq_msg_send(&sized, push, 0) == 5);
    assert(zmq_msg_close(&sized) == 0);
    assert(zmq_msg_init(&received) == 0);
    assert(zmq_msg_recv(&received, pull, 0) == 5);
    assert(memcmp(zmq_msg_data(&received), "hello", 5) == 0);
    assert(zmq_msg_close(&received) == 0);

    /* Over tcp, where the bytes are written out and dropped on the I/O thread: freed once. */
    void *tcp_pull = zmq_socket(ctx, ZMQ_PULL);
    void *tcp_push = zmq_socket(ctx, ZMQ_PUSH);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_bind(tcp_pull, "tcp://127.0.0.1:*") == 0);
    assert(zmq_getsockopt(tcp_pull, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(zmq_connect(tcp_push, endpoint) == 0);
    assert(zmq_msg_init_data(&original, buffer, sizeof buffer, count_free, &freed) == 0);
    assert(zmq_msg_send(&original, tcp_push, 0) == (int)sizeof buffer);
    assert(zmq_msg_close(&original) == 0);
    assert(zmq_msg_init(&received) == 0);
    assert(zmq_msg_recv(&received, tcp_pull, 0) == (int)sizeof buffer);
    assert(memcmp(zmq_msg_data(&received), buffer, sizeof buffer) == 0);
    assert(zmq_msg_close(&received) == 0);

    assert(zmq_close(tcp_push) == 0);
    assert(zmq_close(tcp_pull) == 0);
    assert(zmq_close(push) == 0);
    assert(zmq_close(pull) == 0);
    assert(zmq_ctx_term(ctx) == 0);
    assert(freed == 3);

    /* A NULL free function: the buffer is the caller's forever. */
    assert(zmq_msg_init_data(&original, buffer, sizeof buffer, NULL, NULL) == 0);
    assert(zmq_msg_close(&original) == 0);
    assert(freed == 3);
    return 0;
}
