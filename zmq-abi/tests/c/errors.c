/* Error paths: EAGAIN, ENOENT, ENOTSOCK, EFAULT, EINVAL, ENOTSUP, and ETERM for a blocked recv. */
#undef NDEBUG
#include <assert.h>
#include <pthread.h>
#include <string.h>
#include <zmq.h>

static void *terminate(void *ctx)
{
    assert(zmq_ctx_term(ctx) == 0);
    return NULL;
}

int main(void)
{
    char buf[16];
    int value = 0;
    size_t value_len = sizeof value;

    assert(zmq_socket(NULL, ZMQ_PULL) == NULL && zmq_errno() == EFAULT);
    assert(zmq_ctx_term(NULL) == -1 && zmq_errno() == EFAULT);
    assert(zmq_close(NULL) == -1 && zmq_errno() == ENOTSOCK);
    assert(zmq_send(NULL, "x", 1, 0) == -1 && zmq_errno() == ENOTSOCK);

    void *ctx = zmq_ctx_new();
    assert(ctx);
    assert(zmq_socket(ctx, 99) == NULL && zmq_errno() == EINVAL);

    void *pull = zmq_socket(ctx, ZMQ_PULL);
    assert(pull);
    assert(zmq_bind(pull, "inproc://errors") == 0);

    /* Nothing to receive. */
    assert(zmq_recv(pull, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == EAGAIN);
    value = 0;
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &value, sizeof value) == 0);
    assert(zmq_recv(pull, buf, sizeof buf, 0) == -1 && zmq_errno() == EAGAIN);
    value = 50;
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &value, sizeof value) == 0);
    assert(zmq_recv(pull, buf, sizeof buf, 0) == -1 && zmq_errno() == EAGAIN);
    value_len = sizeof value;
    assert(zmq_getsockopt(pull, ZMQ_RCVTIMEO, &value, &value_len) == 0 && value == 50);

    /* ZMQ_SNDHWM set after zmq_socket bounds a PUSH whose peer is not there yet: EAGAIN once
       it holds what the HWM allows. libzmq: 1. ringmq: the hand-off queue (HWM), the message
       its pump holds, and the socket's queue (HWM), so up to 2 * HWM + 1. */
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int hwm = 1, linger = 0, sent = 0;
    assert(zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0);
    assert(zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger) == 0);
    assert(zmq_connect(push, "tcp://127.0.0.1:1") == 0);
    while (sent < 1000 && zmq_send(push, "x", 1, ZMQ_DONTWAIT) == 1)
        sent++;
    assert(zmq_errno() == EAGAIN);
    assert(sent >= 1 && sent <= 2 * hwm + 1);
    assert(zmq_close(push) == 0);

    /* Unknown endpoints. */
    assert(zmq_unbind(pull, "tcp://127.0.0.1:5999") == -1 && zmq_errno() == ENOENT);
    assert(zmq_disconnect(pull, "tcp://127.0.0.1:5999") == -1 && zmq_errno() == ENOENT);
    assert(zmq_unbind(pull, "inproc://errors") == 0);
    assert(zmq_bind(pull, "bogus://x") == -1 && zmq_errno() == EPROTONOSUPPORT);
    assert(zmq_connect(pull, "bogus://x") == -1 && zmq_errno() == EPROTONOSUPPORT);
    assert(zmq_bind(pull, "tcp://127.0.0.1") == -1 && zmq_errno() == EINVAL);

    /* Options and operations the socket does not have. */
    assert(zmq_setsockopt(pull, 9999, &value, sizeof value) == -1 && zmq_errno() == EINVAL);
    value_len = sizeof value;
    assert(zmq_getsockopt(pull, 9999, &value, &value_len) == -1 && zmq_errno() == EINVAL);
    assert(zmq_setsockopt(pull, ZMQ_SNDHWM, &value, 1) == -1 && zmq_errno() == EINVAL);
    assert(zmq_setsockopt(pull, ZMQ_SUBSCRIBE, "", 0) == -1 && zmq_errno() == EINVAL);
    assert(zmq_send(pull, "x", 1, 0) == -1 && zmq_errno() == ENOTSUP);
    value_len = 1;
    assert(zmq_getsockopt(pull, ZMQ_TYPE, &value, &value_len) == -1 && zmq_errno() == EINVAL);

    /* A closed socket is no socket. */
    void *closed = zmq_socket(ctx, ZMQ_PUSH);
    assert(zmq_close(closed) == 0);
    assert(zmq_close(closed) == -1 && zmq_errno() == ENOTSOCK);

    /* zmq_ctx_term wakes a blocked recv with ETERM, then waits for the close. */
    value = -1;
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &value, sizeof value) == 0);
    pthread_t terminator;
    assert(pthread_create(&terminator, NULL, terminate, ctx) == 0);
    assert(zmq_recv(pull, buf, sizeof buf, 0) == -1 && zmq_errno() == ETERM);
    assert(zmq_recv(pull, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == ETERM);
    assert(zmq_close(pull) == 0);
    assert(pthread_join(terminator, NULL) == 0);

    assert(strlen(zmq_strerror(ETERM)) > 0);
    assert(strlen(zmq_strerror(EAGAIN)) > 0);
    return 0;
}
