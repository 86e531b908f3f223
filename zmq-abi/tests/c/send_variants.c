/* The other ways to send and receive: zmq_sendiov/zmq_recviov, zmq_send_const,
   zmq_sendmsg/zmq_recvmsg, and zmq_msg_get/zmq_msg_set on what they carry (ZMQ_SRCFD: the tcp
   connection's descriptor, -1 over inproc). */
#undef NDEBUG
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <zmq.h>

static const char constant_head[] = "constant head";
static const char constant_tail[] = "tail";

static int rcvmore(void *socket)
{
    int more = -1;
    size_t more_len = sizeof more;
    assert(zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_len) == 0);
    return more;
}

static void expect_iov(const struct iovec *iov, const char *text)
{
    assert(iov->iov_len == strlen(text));
    assert(memcmp(iov->iov_base, text, iov->iov_len) == 0);
}

static void expect_frame(void *socket, const char *text, int more)
{
    char buf[64];
    int size = zmq_recv(socket, buf, sizeof buf, 0);
    assert(size == (int)strlen(text));
    assert(memcmp(buf, text, (size_t)size) == 0);
    assert(rcvmore(socket) == more);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int timeout = 5000;
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    assert(zmq_bind(pull, "inproc://send-variants") == 0);
    assert(zmq_connect(push, "inproc://send-variants") == 0);

    /* zmq_sendiov with ZMQ_SNDMORE: the buffers are the frames of one message (the flag is
       dropped from the last); it returns the last frame's size. */
    char one[] = "one", three[] = "three", sixsix[] = "sixsix";
    struct iovec out[3] = {{one, 3}, {three, 5}, {sixsix, 6}};
    assert(zmq_sendiov(push, out, 3, ZMQ_SNDMORE) == 6);

    /* zmq_recviov: one frame per entry, in malloc'd buffers; returns the number of frames. */
    struct iovec in[5];
    size_t count = 5;
    assert(zmq_recviov(pull, in, &count, 0) == 3);
    assert(count == 3);
    expect_iov(&in[0], "one");
    expect_iov(&in[1], "three");
    expect_iov(&in[2], "sixsix");
    assert(rcvmore(pull) == 0);
    for (size_t i = 0; i < count; i++)
        free(in[i].iov_base);

    /* Fewer entries than frames: the rest of the message is still there. */
    assert(zmq_sendiov(push, out, 3, ZMQ_SNDMORE) == 6);
    count = 2;
    assert(zmq_recviov(pull, in, &count, 0) == 2);
    assert(count == 2);
    expect_iov(&in[0], "one");
    expect_iov(&in[1], "three");
    assert(rcvmore(pull) == 1);
    free(in[0].iov_base);
    free(in[1].iov_base);
    expect_frame(pull, "sixsix", 0);

    /* Without ZMQ_SNDMORE each buffer goes as a message of its own. */
    assert(zmq_sendiov(push, out, 2, 0) == 5);
    count = 5;
    assert(zmq_recviov(pull, in, &count, 0) == 1);
    assert(count == 1);
    expect_iov(&in[0], "one");
    free(in[0].iov_base);
    count = 5;
    assert(zmq_recviov(pull, in, &count, 0) == 1);
    assert(count == 1);
    expect_iov(&in[0], "three");
    free(in[0].iov_base);
    assert(rcvmore(pull) == 0);
    assert(zmq_sendiov(push, out, 0, 0) == -1 && zmq_errno() == EINVAL);
    count = 5;
    assert(zmq_recviov(pull, in, &count, ZMQ_DONTWAIT) == -1 && zmq_errno() == EAGAIN);

    /* zmq_send_const: the frames refer to the caller's constant buffers. */
    assert(zmq_send_const(push, constant_head, strlen(constant_head), ZMQ_SNDMORE)
           == (int)strlen(constant_head));
    assert(zmq_send_const(push, constant_tail, strlen(constant_tail), 0)
           == (int)strlen(constant_tail));
    expect_frame(pull, constant_head, 1);
    expect_frame(pull, constant_tail, 0);

    /* zmq_sendmsg/zmq_recvmsg: the older names, the socket first; sizes returned. */
    zmq_msg_t msg;
    assert(zmq_msg_init_size(&msg, 5) == 0);
    memcpy(zmq_msg_data(&msg), "first", 5);
    assert(zmq_sendmsg(push, &msg, ZMQ_SNDMORE) == 5);
    assert(zmq_msg_close(&msg) == 0);
    assert(zmq_msg_init_size(&msg, 6) == 0);
    memcpy(zmq_msg_data(&msg), "second", 6);
    assert(zmq_sendmsg(push, &msg, 0) == 6);
    assert(zmq_msg_close(&msg) == 0);

    assert(zmq_msg_init(&msg) == 0);
    assert(zmq_recvmsg(pull, &msg, 0) == 5);
    assert(memcmp(zmq_msg_data(&msg), "first", 5) == 0);
    assert(zmq_msg_get(&msg, ZMQ_MORE) == 1);
    assert(zmq_msg_more(&msg) == 1);
    assert(zmq_recvmsg(pull, &msg, 0) == 6);
    assert(memcmp(zmq_msg_data(&msg), "second", 6) == 0);
    assert(zmq_msg_get(&msg, ZMQ_MORE) == 0);
    assert(zmq_msg_get(&msg, ZMQ_SRCFD) == -1);
    /* No property can be set; unknown ones cannot be read. */
    assert(zmq_msg_set(&msg, ZMQ_MORE, 1) == -1 && zmq_errno() == EINVAL);
    assert(zmq_msg_get(&msg, 9999) == -1 && zmq_errno() == EINVAL);
    assert(zmq_msg_close(&msg) == 0);

    /* A large message copied: both copies share their bytes. */
    zmq_msg_t big, copy;
    assert(zmq_msg_init_size(&big, 1000) == 0);
    memset(zmq_msg_data(&big), 'x', 1000);
    assert(zmq_msg_init(&copy) == 0);
    assert(zmq_msg_copy(&copy, &big) == 0);
    assert(zmq_msg_get(&big, ZMQ_SHARED) == 1);
    assert(zmq_msg_get(&copy, ZMQ_SHARED) == 1);
    assert(zmq_msg_close(&copy) == 0);
    assert(zmq_msg_close(&big) == 0);

    /* ZMQ_SRCFD over tcp: a descriptor whose peer is the sender's loopback address. */
    void *rep = zmq_socket(ctx, ZMQ_REP);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    assert(zmq_bind(rep, "tcp://127.0.0.1:*") == 0);
    char endpoint[64];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_getsockopt(rep, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(zmq_connect(req, endpoint) == 0);
    assert(zmq_send(req, "where from", 10, 0) == 10);
    assert(zmq_msg_init(&msg) == 0);
    assert(zmq_msg_recv(&msg, rep, 0) == 10);
    int fd = zmq_msg_get(&msg, ZMQ_SRCFD);
    assert(fd >= 0);
    struct sockaddr_in peer;
    socklen_t peer_len = sizeof peer;
    assert(getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0);
    assert(peer.sin_family == AF_INET && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    assert(zmq_msg_close(&msg) == 0);

    void *sockets[] = {push, pull, rep, req};
    for (int i = 0; i < 4; i++) {
        int linger = 0;
        assert(zmq_setsockopt(sockets[i], ZMQ_LINGER, &linger, sizeof linger) == 0);
        assert(zmq_close(sockets[i]) == 0);
    }
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
