/* zmq_version, zmq_has, Z85, CURVE keys, and the socket options a C program reads first. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <zmq.h>

int main(void)
{
    int major = 0, minor = -1, patch = -1;
    zmq_version(&major, &minor, &patch);
    assert(major == ZMQ_VERSION_MAJOR && minor == ZMQ_VERSION_MINOR && patch == ZMQ_VERSION_PATCH);
    assert(zmq_has("ipc") == 1);
    assert(zmq_has("no-such-capability") == 0);

    /* Z85 round trip of a 32-byte key. */
    uint8_t key[32], decoded[32];
    char text[41];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 37 + 11);
    assert(zmq_z85_encode(text, key, sizeof key) == text);
    assert(strlen(text) == 40);
    assert(zmq_z85_decode(decoded, text) == decoded);
    assert(memcmp(key, decoded, sizeof key) == 0);
    assert(zmq_z85_encode(text, key, 3) == NULL && zmq_errno() == EINVAL);
    assert(zmq_z85_decode(decoded, "abcd") == NULL && zmq_errno() == EINVAL);
    /* The example from the Z85 specification (RFC 32). */
    const uint8_t hello[8] = {0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B};
    char hello_text[11];
    assert(zmq_z85_encode(hello_text, hello, sizeof hello) == hello_text);
    assert(strcmp(hello_text, "HelloWorld") == 0);

    char public_key[41], secret_key[41];
    uint8_t public_bytes[32];
    assert(zmq_curve_keypair(public_key, secret_key) == 0);
    assert(strlen(public_key) == 40 && strlen(secret_key) == 40);
    assert(strcmp(public_key, secret_key) != 0);
    assert(zmq_z85_decode(public_bytes, public_key) == public_bytes);

    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int value = -2;
    size_t value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_TYPE, &value, &value_len) == 0 && value == ZMQ_DEALER);
    value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_LINGER, &value, &value_len) == 0 && value == -1);
    value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_SNDHWM, &value, &value_len) == 0 && value == 1000);
    value = 0;
    assert(zmq_setsockopt(dealer, ZMQ_LINGER, &value, sizeof value) == 0);
    value = -2;
    value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_LINGER, &value, &value_len) == 0 && value == 0);
    value = 10;
    assert(zmq_setsockopt(dealer, ZMQ_RCVHWM, &value, sizeof value) == 0);
    value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_RCVHWM, &value, &value_len) == 0 && value == 10);
    assert(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "dealer-1", 8) == 0);
    char id[255];
    size_t id_len = sizeof id;
    assert(zmq_getsockopt(dealer, ZMQ_ROUTING_ID, id, &id_len) == 0);
    assert(id_len == 8 && memcmp(id, "dealer-1", 8) == 0);
    assert(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "", 0) == -1 && zmq_errno() == EINVAL);

    char endpoint[256];
    size_t endpoint_len = sizeof endpoint;
    assert(zmq_getsockopt(dealer, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(endpoint_len == 1 && endpoint[0] == '\0');
    assert(zmq_bind(dealer, "tcp://127.0.0.1:*") == 0);
    endpoint_len = sizeof endpoint;
    assert(zmq_getsockopt(dealer, ZMQ_LAST_ENDPOINT, endpoint, &endpoint_len) == 0);
    assert(strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0 && strlen(endpoint) > 16);
    char tiny[4];
    size_t tiny_len = sizeof tiny;
    assert(zmq_getsockopt(dealer, ZMQ_LAST_ENDPOINT, tiny, &tiny_len) == -1 && zmq_errno() == EINVAL);
    assert(zmq_unbind(dealer, endpoint) == 0);
    value_len = sizeof value;
    assert(zmq_getsockopt(dealer, ZMQ_EVENTS, &value, &value_len) == 0);
    assert((value & ZMQ_POLLIN) == 0);

    /* SUB subscribes; ROUTER and DEALER talk with routing ids. */
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    assert(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "topic", 5) == 0);
    assert(zmq_setsockopt(sub, ZMQ_UNSUBSCRIBE, "topic", 5) == 0);
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    assert(zmq_bind(router, "inproc://router") == 0);
    assert(zmq_connect(dealer, "inproc://router") == 0);
    assert(zmq_send(dealer, "hi", 2, 0) == 2);
    char buf[16];
    assert(zmq_recv(router, buf, sizeof buf, 0) == 8 && memcmp(buf, "dealer-1", 8) == 0);
    value_len = sizeof value;
    assert(zmq_getsockopt(router, ZMQ_RCVMORE, &value, &value_len) == 0 && value == 1);
    assert(zmq_recv(router, buf, sizeof buf, 0) == 2 && memcmp(buf, "hi", 2) == 0);
    assert(zmq_send(router, "dealer-1", 8, ZMQ_SNDMORE) == 8);
    assert(zmq_send(router, "back", 4, 0) == 4);
    assert(zmq_recv(dealer, buf, sizeof buf, 0) == 4 && memcmp(buf, "back", 4) == 0);

    assert(zmq_close(sub) == 0);
    assert(zmq_close(router) == 0);
    assert(zmq_close(dealer) == 0);
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
