/* zmq_socket_monitor: each event a two-frame message (a 16-bit event number and a 32-bit
   value, then the endpoint) on a PAIR socket: LISTENING, ACCEPTED, CONNECTED,
   HANDSHAKE_SUCCEEDED, DISCONNECTED with the right endpoints, MONITOR_STOPPED at the end. */
#undef NDEBUG
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

/* Receive one event within five seconds; the endpoint is returned NUL-terminated. */
static int next_event(void *monitor, uint32_t *value, char *endpoint, size_t endpoint_size)
{
    zmq_msg_t head;
    assert(zmq_msg_init(&head) == 0);
    assert(zmq_msg_recv(&head, monitor, 0) == 6);
    assert(zmq_msg_more(&head));
    const uint8_t *data = zmq_msg_data(&head);
    uint16_t event;
    memcpy(&event, data, sizeof event);
    memcpy(value, data + sizeof event, sizeof *value);
    assert(zmq_msg_close(&head) == 0);

    int size = zmq_recv(monitor, endpoint, endpoint_size - 1, 0);
    assert(size >= 0 && (size_t)size < endpoint_size);
    endpoint[size] = '\0';
    int more = -1;
    size_t more_len = sizeof more;
    assert(zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &more_len) == 0 && more == 0);
    return event;
}

/* The next event must be `wanted` at `endpoint`; returns its value. */
static uint32_t expect_event(void *monitor, int wanted, const char *endpoint)
{
    char got[256];
    uint32_t value;
    assert(next_event(monitor, &value, got, sizeof got) == wanted);
    assert(strcmp(got, endpoint) == 0);
    return value;
}

/* A PAIR socket connected to the monitor at `endpoint`, with a receive timeout. */
static void *monitor_reader(void *ctx, const char *endpoint)
{
    void *reader = zmq_socket(ctx, ZMQ_PAIR);
    int timeout = 5000;
    assert(zmq_setsockopt(reader, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    assert(zmq_connect(reader, endpoint) == 0);
    return reader;
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    int linger = 0;

    /* Only inproc endpoints can carry events. */
    void *server = zmq_socket(ctx, ZMQ_PULL);
    assert(zmq_socket_monitor(server, "tcp://127.0.0.1:*", ZMQ_EVENT_ALL) == -1);
    assert(zmq_errno() == EPROTONOSUPPORT);

    assert(zmq_socket_monitor(server, "inproc://monitor-server", ZMQ_EVENT_ALL) == 0);
    void *server_events = monitor_reader(ctx, "inproc://monitor-server");
    assert(zmq_bind(server, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    expect_event(server_events, ZMQ_EVENT_LISTENING, endpoint);

    /* The client monitors only what it asked for. */
    void *client = zmq_socket(ctx, ZMQ_PUSH);
    assert(zmq_setsockopt(client, ZMQ_LINGER, &linger, sizeof linger) == 0);
    assert(zmq_socket_monitor(client, "inproc://monitor-client",
                              ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_MONITOR_STOPPED)
           == 0);
    void *client_events = monitor_reader(ctx, "inproc://monitor-client");
    assert(zmq_connect(client, endpoint) == 0);

    /* Client: connected, then the handshake done (its value is 0). */
    expect_event(client_events, ZMQ_EVENT_CONNECTED, endpoint);
    assert(expect_event(client_events, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, endpoint) == 0);
    /* Server: the connection accepted, then the handshake done, at the bound endpoint. */
    expect_event(server_events, ZMQ_EVENT_ACCEPTED, endpoint);
    assert(expect_event(server_events, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, endpoint) == 0);

    /* The connection carries messages. */
    assert(zmq_send(client, "through", 7, 0) == 7);
    char buf[16];
    int timeout = 5000;
    assert(zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    assert(zmq_recv(server, buf, sizeof buf, 0) == 7 && memcmp(buf, "through", 7) == 0);

    /* Closing the client: its monitor stops (empty endpoint); the server sees the peer go. */
    assert(zmq_close(client) == 0);
    expect_event(client_events, ZMQ_EVENT_MONITOR_STOPPED, "");
    expect_event(server_events, ZMQ_EVENT_DISCONNECTED, endpoint);

    /* A NULL endpoint stops monitoring: MONITOR_STOPPED is the last event. */
    assert(zmq_socket_monitor(server, NULL, 0) == 0);
    expect_event(server_events, ZMQ_EVENT_MONITOR_STOPPED, "");

    /* A new monitor on the same socket, at a new endpoint: CLOSED on unbind. */
    assert(zmq_socket_monitor(server, "inproc://monitor-again",
                              ZMQ_EVENT_CLOSED | ZMQ_EVENT_MONITOR_STOPPED)
           == 0);
    void *again_events = monitor_reader(ctx, "inproc://monitor-again");
    assert(zmq_unbind(server, endpoint) == 0);
    expect_event(again_events, ZMQ_EVENT_CLOSED, endpoint);
    assert(zmq_close(server) == 0);
    expect_event(again_events, ZMQ_EVENT_MONITOR_STOPPED, "");

    void *readers[] = {server_events, client_events, again_events};
    for (int i = 0; i < 3; i++) {
        assert(zmq_setsockopt(readers[i], ZMQ_LINGER, &linger, sizeof linger) == 0);
        assert(zmq_close(readers[i]) == 0);
    }
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
