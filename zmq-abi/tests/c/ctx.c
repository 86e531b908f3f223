/* Context options (zmq_ctx_set/zmq_ctx_get), ZMQ_MAX_SOCKETS enforced, ZMQ_BLOCKY and ZMQ_IPV6
   passed on to new sockets, zmq_ctx_shutdown waking a blocked receive, and the older
   zmq_init/zmq_term. */
#undef NDEBUG
#include <assert.h>
#include <limits.h>
#include <zmq.h>

struct blocked
{
    void *socket;
    int rc, err;
};

static void receive(void *arg)
{
    struct blocked *b = arg;
    char buf[8];
    b->rc = zmq_recv(b->socket, buf, sizeof buf, 0);
    b->err = zmq_errno();
}

static int get_int(void *socket, int name)
{
    int value = -12345;
    size_t len = sizeof value;
    assert(zmq_getsockopt(socket, name, &value, &len) == 0);
    return value;
}

int main(void)
{
    /* Defaults. */
    void *ctx = zmq_ctx_new();
    assert(ctx);
    assert(zmq_ctx_get(ctx, ZMQ_IO_THREADS) == ZMQ_IO_THREADS_DFLT);
    assert(zmq_ctx_get(ctx, ZMQ_MAX_SOCKETS) == ZMQ_MAX_SOCKETS_DFLT);
    assert(zmq_ctx_get(ctx, ZMQ_SOCKET_LIMIT) >= ZMQ_MAX_SOCKETS_DFLT);
    assert(zmq_ctx_get(ctx, ZMQ_IPV6) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_BLOCKY) == 1);
    assert(zmq_ctx_get(ctx, ZMQ_MAX_MSGSZ) == INT_MAX);
    assert(zmq_ctx_get(ctx, ZMQ_MSG_T_SIZE) == (int)sizeof(zmq_msg_t));

    /* Set and read back. */
    assert(zmq_ctx_set(ctx, ZMQ_IO_THREADS, 2) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_IO_THREADS) == 2);
    assert(zmq_ctx_set(ctx, ZMQ_MAX_MSGSZ, 1 << 20) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_MAX_MSGSZ) == 1 << 20);
    assert(zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 2) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_MAX_SOCKETS) == 2);

    /* Refused: unknown options, bad values, and options that cannot be set. */
    assert(zmq_ctx_set(ctx, 9999, 1) == -1 && zmq_errno() == EINVAL);
    assert(zmq_ctx_get(ctx, 9999) == -1 && zmq_errno() == EINVAL);
    assert(zmq_ctx_set(ctx, ZMQ_IO_THREADS, -1) == -1 && zmq_errno() == EINVAL);
    assert(zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, 0) == -1 && zmq_errno() == EINVAL);
    assert(zmq_ctx_set(ctx, ZMQ_MSG_T_SIZE, 64) == -1 && zmq_errno() == EINVAL);
    assert(zmq_ctx_set(NULL, ZMQ_IO_THREADS, 1) == -1 && zmq_errno() == EFAULT);
    assert(zmq_ctx_get(NULL, ZMQ_IO_THREADS) == -1 && zmq_errno() == EFAULT);

    /* ZMQ_MAX_SOCKETS set before the first socket: the one past it is EMFILE. */
    void *first = zmq_socket(ctx, ZMQ_PULL);
    void *second = zmq_socket(ctx, ZMQ_PUSH);
    assert(first && second);
    assert(zmq_socket(ctx, ZMQ_PAIR) == NULL && zmq_errno() == EMFILE);

    /* zmq_ctx_shutdown wakes a receive blocked in another thread with ETERM, and new sockets
       are refused; the sockets still must be closed, and the context terminated. */
    assert(zmq_bind(first, "inproc://ctx") == 0);
    struct blocked blocked = {first, 0, 0};
    void *thread = zmq_threadstart(receive, &blocked);
    assert(thread);
    assert(zmq_ctx_shutdown(ctx) == 0);
    zmq_threadclose(thread);
    assert(blocked.rc == -1 && blocked.err == ETERM);
    assert(zmq_ctx_shutdown(ctx) == 0);
    assert(zmq_socket(ctx, ZMQ_PAIR) == NULL && zmq_errno() == ETERM);
    assert(zmq_close(first) == 0);
    assert(zmq_close(second) == 0);
    assert(zmq_ctx_term(ctx) == 0);

    /* ZMQ_BLOCKY off: new sockets linger 0; ZMQ_IPV6 on: new sockets have it. */
    ctx = zmq_ctx_new();
    assert(zmq_ctx_set(ctx, ZMQ_BLOCKY, 0) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_BLOCKY) == 0);
    assert(zmq_ctx_set(ctx, ZMQ_IPV6, 1) == 0);
    assert(zmq_ctx_get(ctx, ZMQ_IPV6) == 1);
    void *socket = zmq_socket(ctx, ZMQ_PUSH);
    assert(get_int(socket, ZMQ_LINGER) == 0);
    assert(get_int(socket, ZMQ_IPV6) == 1);
    /* Unsent messages do not hold up zmq_ctx_term without linger. */
    assert(zmq_connect(socket, "tcp://127.0.0.1:1") == 0);
    assert(zmq_send(socket, "lost", 4, 0) == 4);
    assert(zmq_close(socket) == 0);
    assert(zmq_ctx_destroy(ctx) == 0);

    /* The older API. */
    ctx = zmq_init(2);
    assert(ctx);
    assert(zmq_ctx_get(ctx, ZMQ_IO_THREADS) == 2);
    socket = zmq_socket(ctx, ZMQ_PAIR);
    assert(socket);
    assert(zmq_close(socket) == 0);
    assert(zmq_term(ctx) == 0);
    assert(zmq_init(-1) == NULL && zmq_errno() == EINVAL);
    return 0;
}
