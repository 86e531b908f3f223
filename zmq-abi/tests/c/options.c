/* Socket options: every int option readable with libzmq's documented default, each settable
   one read back as set; the 64-bit ones; the strings; CURVE keys as 32 bytes or 41-byte Z85;
   the mechanism the security options pick; ZMQ_LAST_ENDPOINT; and the misuses refused. */
#undef NDEBUG
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

struct int_option
{
    int name;
    int default_value;
    int new_value; /* read back after setting; the default itself for read-only options */
};

/* On a DEALER socket. */
static const struct int_option int_options[] = {
    {ZMQ_RATE, 100, 200},
    {ZMQ_RECOVERY_IVL, 10000, 5000},
    {ZMQ_SNDBUF, -1, 65536},
    {ZMQ_RCVBUF, -1, 32768},
    {ZMQ_LINGER, -1, 250},
    {ZMQ_RECONNECT_IVL, 100, 250},
    {ZMQ_BACKLOG, 100, 50},
    {ZMQ_RECONNECT_IVL_MAX, 0, 2000},
    {ZMQ_SNDHWM, 1000, 10},
    {ZMQ_RCVHWM, 1000, 20},
    {ZMQ_MULTICAST_HOPS, 1, 3},
    {ZMQ_RCVTIMEO, -1, 300},
    {ZMQ_SNDTIMEO, -1, 400},
    {ZMQ_TCP_KEEPALIVE, -1, 1},
    {ZMQ_TCP_KEEPALIVE_CNT, -1, 5},
    {ZMQ_TCP_KEEPALIVE_IDLE, -1, 60},
    {ZMQ_TCP_KEEPALIVE_INTVL, -1, 10},
    {ZMQ_IMMEDIATE, 0, 1},
    {ZMQ_CONFLATE, 0, 1},
    {ZMQ_TOS, 0, 8},
    {ZMQ_HANDSHAKE_IVL, 30000, 5000},
    {ZMQ_INVERT_MATCHING, 0, 1},
    {ZMQ_HEARTBEAT_IVL, 0, 1000},
    {ZMQ_HEARTBEAT_TTL, 0, 2000},
    {ZMQ_HEARTBEAT_TIMEOUT, -1, 3000},
    {ZMQ_CONNECT_TIMEOUT, 0, 1500},
    {ZMQ_TCP_MAXRT, 0, 2500},
    {ZMQ_MULTICAST_MAXTPDU, 1500, 1400},
};

/* Read-only, or changed only through other options. */
static const struct int_option read_only[] = {
    {ZMQ_TYPE, ZMQ_DEALER, ZMQ_DEALER},
    {ZMQ_RCVMORE, 0, 0},
    {ZMQ_MECHANISM, ZMQ_NULL, ZMQ_NULL},
    {ZMQ_THREAD_SAFE, 0, 0},
    {ZMQ_USE_FD, -1, -1},
    {ZMQ_IPV6, 0, 0},
    {ZMQ_IPV4ONLY, 1, 1},
    {ZMQ_PLAIN_SERVER, 0, 0},
    {ZMQ_CURVE_SERVER, 0, 0},
};

static int get_int(void *socket, int name)
{
    int value = -12345;
    size_t len = sizeof value;
    assert(zmq_getsockopt(socket, name, &value, &len) == 0);
    assert(len == sizeof value);
    return value;
}

static void set_int(void *socket, int name, int value)
{
    assert(zmq_setsockopt(socket, name, &value, sizeof value) == 0);
}

static void expect_string(void *socket, int name, const char *expected)
{
    char buf[256];
    size_t len = sizeof buf;
    assert(zmq_getsockopt(socket, name, buf, &len) == 0);
    /* Strings come back with their terminating NUL, counted in the length. */
    assert(len == strlen(expected) + 1);
    assert(strcmp(buf, expected) == 0);
}

/* The key `name` reads back as `z85` (40 characters) and as its 32 bytes. */
static void expect_key(void *socket, int name, const char *z85)
{
    uint8_t binary[32], expected[32];
    assert(zmq_z85_decode(expected, z85));
    size_t len = sizeof binary;
    assert(zmq_getsockopt(socket, name, binary, &len) == 0);
    assert(len == 32 && memcmp(binary, expected, 32) == 0);
    char text[41];
    len = sizeof text;
    assert(zmq_getsockopt(socket, name, text, &len) == 0);
    assert(len == 41 && strlen(text) == 40 && strcmp(text, z85) == 0);
    /* Any other buffer size is neither form. */
    char short_text[40];
    len = sizeof short_text;
    assert(zmq_getsockopt(socket, name, short_text, &len) == -1 && zmq_errno() == EINVAL);
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    size_t n_int = sizeof int_options / sizeof int_options[0];
    size_t n_ro = sizeof read_only / sizeof read_only[0];

    /* Defaults, then each one set and read back (others unchanged). */
    for (size_t i = 0; i < n_int; i++)
        assert(get_int(dealer, int_options[i].name) == int_options[i].default_value);
    for (size_t i = 0; i < n_ro; i++)
        assert(get_int(dealer, read_only[i].name) == read_only[i].default_value);
    for (size_t i = 0; i < n_int; i++) {
        set_int(dealer, int_options[i].name, int_options[i].new_value);
        assert(get_int(dealer, int_options[i].name) == int_options[i].new_value);
    }
    for (size_t i = 0; i < n_int; i++)
        assert(get_int(dealer, int_options[i].name) == int_options[i].new_value);
    /* Back to the "forever" and "off" values. */
    set_int(dealer, ZMQ_LINGER, -1);
    assert(get_int(dealer, ZMQ_LINGER) == -1);
    set_int(dealer, ZMQ_RCVTIMEO, -1);
    assert(get_int(dealer, ZMQ_RCVTIMEO) == -1);
    set_int(dealer, ZMQ_RECONNECT_IVL, -1);
    assert(get_int(dealer, ZMQ_RECONNECT_IVL) == -1);

    /* ZMQ_IPV6 and ZMQ_IPV4ONLY are one switch. */
    set_int(dealer, ZMQ_IPV6, 1);
    assert(get_int(dealer, ZMQ_IPV6) == 1 && get_int(dealer, ZMQ_IPV4ONLY) == 0);
    set_int(dealer, ZMQ_IPV4ONLY, 1);
    assert(get_int(dealer, ZMQ_IPV6) == 0 && get_int(dealer, ZMQ_IPV4ONLY) == 1);

    /* 64-bit options. */
    int64_t max_size = -7;
    size_t len = sizeof max_size;
    assert(zmq_getsockopt(dealer, ZMQ_MAXMSGSIZE, &max_size, &len) == 0);
    /* A deliberate difference (README, "Use it from C"): ringmq keeps its 16 MiB guard by
       default; libzmq has no limit (-1). ringmq's library exports the ringmq_zmq_abi marker. */
    int is_ringmq = dlsym(RTLD_DEFAULT, "ringmq_zmq_abi") != NULL;
    assert(len == sizeof max_size && max_size == (is_ringmq ? 16 * 1024 * 1024 : -1));
    max_size = 4096;
    assert(zmq_setsockopt(dealer, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size) == 0);
    max_size = 0;
    assert(zmq_getsockopt(dealer, ZMQ_MAXMSGSIZE, &max_size, &len) == 0 && max_size == 4096);
    uint64_t affinity = 7;
    len = sizeof affinity;
    assert(zmq_getsockopt(dealer, ZMQ_AFFINITY, &affinity, &len) == 0);
    assert(len == sizeof affinity && affinity == 0);
    affinity = 3;
    assert(zmq_setsockopt(dealer, ZMQ_AFFINITY, &affinity, sizeof affinity) == 0);
    affinity = 0;
    assert(zmq_getsockopt(dealer, ZMQ_AFFINITY, &affinity, &len) == 0 && affinity == 3);

    /* Strings: empty by default, read back as set. */
    expect_string(dealer, ZMQ_ZAP_DOMAIN, "");
    expect_string(dealer, ZMQ_SOCKS_PROXY, "");
    expect_string(dealer, ZMQ_PLAIN_USERNAME, "");
    expect_string(dealer, ZMQ_PLAIN_PASSWORD, "");
    assert(zmq_setsockopt(dealer, ZMQ_ZAP_DOMAIN, "domain", 6) == 0);
    expect_string(dealer, ZMQ_ZAP_DOMAIN, "domain");
    assert(zmq_setsockopt(dealer, ZMQ_SOCKS_PROXY, "127.0.0.1:1080", 14) == 0);
    expect_string(dealer, ZMQ_SOCKS_PROXY, "127.0.0.1:1080");

    /* Write-only and read-only options; bad values. */
    char buf[256];
    len = sizeof buf;
    assert(zmq_getsockopt(dealer, ZMQ_SUBSCRIBE, buf, &len) == -1 && zmq_errno() == EINVAL);
    int value = ZMQ_PUSH;
    assert(zmq_setsockopt(dealer, ZMQ_TYPE, &value, sizeof value) == -1 && zmq_errno() == EINVAL);
    value = -2;
    assert(zmq_setsockopt(dealer, ZMQ_LINGER, &value, sizeof value) == -1 && zmq_errno() == EINVAL);
    value = 0;
    len = 2;
    assert(zmq_getsockopt(dealer, ZMQ_LINGER, &value, &len) == -1 && zmq_errno() == EINVAL);

    /* PLAIN: a username makes a client, ZMQ_PLAIN_SERVER a server. */
    void *plain = zmq_socket(ctx, ZMQ_DEALER);
    assert(zmq_setsockopt(plain, ZMQ_PLAIN_USERNAME, "user", 4) == 0);
    assert(zmq_setsockopt(plain, ZMQ_PLAIN_PASSWORD, "pass", 4) == 0);
    assert(get_int(plain, ZMQ_MECHANISM) == ZMQ_PLAIN);
    assert(get_int(plain, ZMQ_PLAIN_SERVER) == 0);
    expect_string(plain, ZMQ_PLAIN_USERNAME, "user");
    expect_string(plain, ZMQ_PLAIN_PASSWORD, "pass");
    set_int(plain, ZMQ_PLAIN_SERVER, 1);
    assert(get_int(plain, ZMQ_MECHANISM) == ZMQ_PLAIN);
    assert(get_int(plain, ZMQ_PLAIN_SERVER) == 1);

    /* CURVE: keys set as 40 Z85 characters, 41 with the NUL, or 32 bytes. */
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    assert(zmq_curve_keypair(server_public, server_secret) == 0);
    assert(zmq_curve_keypair(client_public, client_secret) == 0);
    void *server = zmq_socket(ctx, ZMQ_DEALER);
    set_int(server, ZMQ_CURVE_SERVER, 1);
    assert(zmq_setsockopt(server, ZMQ_CURVE_SECRETKEY, server_secret, 40) == 0);
    assert(zmq_setsockopt(server, ZMQ_CURVE_PUBLICKEY, server_public, 41) == 0);
    assert(get_int(server, ZMQ_MECHANISM) == ZMQ_CURVE);
    assert(get_int(server, ZMQ_CURVE_SERVER) == 1);
    expect_key(server, ZMQ_CURVE_SECRETKEY, server_secret);
    expect_key(server, ZMQ_CURVE_PUBLICKEY, server_public);

    void *client = zmq_socket(ctx, ZMQ_DEALER);
    uint8_t server_key[32];
    assert(zmq_z85_decode(server_key, server_public));
    assert(zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_key, 32) == 0);
    assert(zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, client_public, 40) == 0);
    assert(zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, client_secret, 40) == 0);
    assert(get_int(client, ZMQ_MECHANISM) == ZMQ_CURVE);
    assert(get_int(client, ZMQ_CURVE_SERVER) == 0);
    expect_key(client, ZMQ_CURVE_SERVERKEY, server_public);
    expect_key(client, ZMQ_CURVE_PUBLICKEY, client_public);
    expect_key(client, ZMQ_CURVE_SECRETKEY, client_secret);
    /* A key of another length is refused. */
    assert(zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_public, 39) == -1);
    assert(zmq_errno() == EINVAL);

    /* ZMQ_LAST_ENDPOINT: the port picked for tcp://127.0.0.1:*, then the endpoint connected. */
    assert(zmq_bind(dealer, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    len = sizeof endpoint;
    assert(zmq_getsockopt(dealer, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    assert(len == strlen(endpoint) + 1);
    assert(strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0);
    int port = 0;
    for (const char *p = endpoint + 16; *p; p++) {
        assert(*p >= '0' && *p <= '9');
        port = port * 10 + (*p - '0');
    }
    assert(port > 0 && port < 65536);
    void *peer = zmq_socket(ctx, ZMQ_DEALER);
    assert(zmq_connect(peer, endpoint) == 0);
    expect_string(peer, ZMQ_LAST_ENDPOINT, endpoint);
    assert(zmq_connect(peer, "inproc://options") == 0);
    expect_string(peer, ZMQ_LAST_ENDPOINT, "inproc://options");

    /* A socket type's switches take any int from 0 (libzmq's test_proxy_hwm sets
       ZMQ_REQ_CORRELATE to 10, on a connected socket); CONFLATE and IMMEDIATE only 0 or 1. */
    void *req = zmq_socket(ctx, ZMQ_REQ);
    assert(zmq_connect(req, "inproc://options-switches") == 0);
    set_int(req, ZMQ_REQ_CORRELATE, 10);
    set_int(req, ZMQ_REQ_RELAXED, 10);
    int minus_one = -1;
    assert(zmq_setsockopt(req, ZMQ_REQ_CORRELATE, &minus_one, sizeof minus_one) == -1);
    assert(zmq_errno() == EINVAL);
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    set_int(router, ZMQ_ROUTER_MANDATORY, 2);
    set_int(router, ZMQ_PROBE_ROUTER, 3);
    void *xpub = zmq_socket(ctx, ZMQ_XPUB);
    set_int(xpub, ZMQ_XPUB_NODROP, 7);
    set_int(xpub, ZMQ_XPUB_VERBOSE, 5);
    int two = 2;
    assert(zmq_setsockopt(dealer, ZMQ_CONFLATE, &two, sizeof two) == -1);
    assert(zmq_errno() == EINVAL);
    assert(zmq_setsockopt(dealer, ZMQ_IMMEDIATE, &two, sizeof two) == -1);
    assert(zmq_errno() == EINVAL);

    void *sockets[] = {dealer, plain, server, client, peer, req, router, xpub};
    for (int i = 0; i < 8; i++) {
        set_int(sockets[i], ZMQ_LINGER, 0);
        assert(zmq_close(sockets[i]) == 0);
    }
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
