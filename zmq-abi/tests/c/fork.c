/* A forked child closes the socket and context it inherited (it has none of the threads that
   ran them), then makes its own and sends to the parent, which receives every message. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define MESSAGES 5

int main(void) {
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    assert(zmq_bind(pull, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    assert(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    int timeout = 10000;
    assert(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);

    pid_t child = fork();
    assert(child >= 0);
    if (child == 0) {
        /* What was inherited is only closed (libzmq's own fork test does not look at what
           these return, and libzmq's zmq_ctx_term reports an error in a child). */
        zmq_close(pull);
        zmq_ctx_term(ctx);
        void *own = zmq_ctx_new();
        void *push = zmq_socket(own, ZMQ_PUSH);
        if (push == NULL || zmq_connect(push, endpoint) != 0)
            _exit(11);
        for (int i = 0; i < MESSAGES; i++)
            if (zmq_send(push, "from the child", 14, 0) != 14)
                _exit(12);
        /* Linger is forever by default: the close waits for the messages to go. */
        zmq_close(push);
        zmq_ctx_term(own);
        _exit(0);
    }
    char buffer[32];
    for (int i = 0; i < MESSAGES; i++) {
        assert(zmq_recv(pull, buffer, sizeof buffer, 0) == 14);
        assert(memcmp(buffer, "from the child", 14) == 0);
    }
    int status;
    assert(waitpid(child, &status, 0) == child);
    assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert(zmq_close(pull) == 0);
    assert(zmq_ctx_term(ctx) == 0);
    return 0;
}
