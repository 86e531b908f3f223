/* REQ/REP over tcp: a round trip, then EFSM for a second send and for REP sending first. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <zmq.h>

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    char buf[16];
    assert(ctx && rep && req);

    assert(zmq_send(rep, "early", 5, 0) == -1 && zmq_errno() == EFSM);
    assert(zmq_recv(req, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == EFSM);

    assert(zmq_bind(rep, "tcp://127.0.0.1:*") == 0);
    assert(zmq_getsockopt(rep, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0);
    assert(zmq_connect(req, endpoint) == 0);

    assert(zmq_send(req, "ping", 4, 0) == 4);
    assert(zmq_send(req, "again", 5, 0) == -1);
    assert(zmq_errno() == EFSM);
    assert(errno == EFSM);
    /* Refused at the first frame of a multipart message, too. */
    assert(zmq_send(req, "part", 4, ZMQ_SNDMORE) == -1 && zmq_errno() == EFSM);
    /* REP cannot receive a second request before it replies, REQ cannot before it sends. */

    assert(zmq_recv(rep, buf, sizeof buf, 0) == 4 && memcmp(buf, "ping", 4) == 0);
    assert(zmq_recv(rep, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && zmq_errno() == EFSM);
    assert(zmq_send(rep, "pong", 4, 0) == 4);
    assert(zmq_recv(req, buf, sizeof buf, 0) == 4 && memcmp(buf, "pong", 4) == 0);

    /* The turn came back: REQ may send again. */
    assert(zmq_send(req, "ping2", 5, 0) == 5);
    assert(zmq_recv(rep, buf, sizeof buf, 0) == 5 && memcmp(buf, "ping2", 5) == 0);
    assert(zmq_send(rep, "pong2", 5, 0) == 5);
    assert(zmq_recv(req, buf, sizeof buf, 0) == 5 && memcmp(buf, "pong2", 5) == 0);

    assert(zmq_close(req) == 0);
    assert(zmq_close(rep) == 0);
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
