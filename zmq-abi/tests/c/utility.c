/* The helpers: atomic counters, timers, the stopwatch, zmq_sleep, zmq_threadstart, CURVE keys. */
#undef NDEBUG
#include <assert.h>
#include <string.h>
#include <zmq.h>

#define COUNTER_ROUNDS 10000

static void count_up(void *counter)
{
    for (int i = 0; i < COUNTER_ROUNDS; i++)
        zmq_atomic_counter_inc(counter);
}

struct timer_log
{
    void *timers;
    int fired;
    int last_id;
};

/* Counts its calls and cancels itself on the third. */
static void on_timer(int timer_id, void *arg)
{
    struct timer_log *log = arg;
    log->fired++;
    log->last_id = timer_id;
    if (log->fired == 3)
        assert(zmq_timers_cancel(log->timers, timer_id) == 0);
}

static void never_called(int timer_id, void *arg)
{
    (void)timer_id;
    (void)arg;
    assert(!"a cancelled timer ran");
}

struct thread_arg
{
    int ran;
    void *counter;
};

static void thread_body(void *arg)
{
    struct thread_arg *t = arg;
    t->ran = 1;
    count_up(t->counter);
}

/* Run the timers until `log` has fired `n` times or five seconds have passed. */
static void run_timers(void *timers, struct timer_log *log, int n)
{
    void *watch = zmq_stopwatch_start();
    while (log->fired < n && zmq_stopwatch_intermediate(watch) < 5000000UL) {
        long wait = zmq_timers_timeout(timers);
        assert(wait >= 0);
        /* zmq_poll with no items sleeps for the timeout. */
        assert(zmq_poll(NULL, 0, wait) == 0);
        assert(zmq_timers_execute(timers) == 0);
    }
    zmq_stopwatch_stop(watch);
    assert(log->fired == n);
}

int main(void)
{
    /* Atomic counters: inc returns the value before; dec says whether it is still non-zero. */
    void *counter = zmq_atomic_counter_new();
    assert(counter);
    assert(zmq_atomic_counter_value(counter) == 0);
    zmq_atomic_counter_set(counter, 5);
    assert(zmq_atomic_counter_inc(counter) == 5);
    assert(zmq_atomic_counter_value(counter) == 6);
    assert(zmq_atomic_counter_dec(counter) == 1);
    assert(zmq_atomic_counter_value(counter) == 5);
    zmq_atomic_counter_set(counter, 1);
    assert(zmq_atomic_counter_dec(counter) == 0);
    assert(zmq_atomic_counter_value(counter) == 0);
    /* Below zero is non-zero too. */
    assert(zmq_atomic_counter_dec(counter) == 1);
    assert(zmq_atomic_counter_value(counter) == -1);
    assert(zmq_atomic_counter_inc(counter) == -1);
    assert(zmq_atomic_counter_value(counter) == 0);

    /* Two threads counting at once lose no increment. */
    struct thread_arg arg = {0, counter};
    void *thread = zmq_threadstart(thread_body, &arg);
    assert(thread);
    count_up(counter);
    zmq_threadclose(thread);
    assert(arg.ran == 1);
    assert(zmq_atomic_counter_value(counter) == 2 * COUNTER_ROUNDS);
    zmq_atomic_counter_destroy(&counter);
    assert(counter == NULL);

    /* Timers: ids are positive and distinct; nothing runs until zmq_timers_execute. */
    void *timers = zmq_timers_new();
    assert(timers);
    assert(zmq_timers_timeout(timers) == -1);
    assert(zmq_timers_execute(timers) == 0);
    struct timer_log log = {timers, 0, 0};
    int fast = zmq_timers_add(timers, 10, on_timer, &log);
    assert(fast > 0);
    int slow = zmq_timers_add(timers, 3600 * 1000, never_called, NULL);
    assert(slow > 0 && slow != fast);
    long wait = zmq_timers_timeout(timers);
    assert(wait >= 0 && wait <= 10);
    assert(zmq_timers_add(timers, 10, NULL, NULL) == -1 && zmq_errno() == EFAULT);

    /* The fast one fires three times, then cancels itself from its handler. */
    run_timers(timers, &log, 3);
    assert(log.last_id == fast);
    assert(zmq_timers_cancel(timers, fast) == -1 && zmq_errno() == EINVAL);
    /* Only the slow one is left: its timeout is far off. */
    wait = zmq_timers_timeout(timers);
    assert(wait > 60 * 1000);
    assert(zmq_timers_reset(timers, slow) == 0);
    assert(zmq_timers_cancel(timers, slow) == 0);
    assert(zmq_timers_cancel(timers, slow) == -1 && zmq_errno() == EINVAL);
    assert(zmq_timers_timeout(timers) == -1);
    assert(zmq_timers_execute(timers) == 0);

    /* set_interval: a slow timer made fast fires. */
    struct timer_log second = {timers, 0, 0};
    int again = zmq_timers_add(timers, 3600 * 1000, on_timer, &second);
    assert(again > 0);
    assert(zmq_timers_set_interval(timers, again, 5) == 0);
    run_timers(timers, &second, 3);
    assert(second.last_id == again);
    assert(zmq_timers_cancel(timers, 12345) == -1 && zmq_errno() == EINVAL);
    assert(zmq_timers_set_interval(timers, 12345, 10) == -1 && zmq_errno() == EINVAL);
    assert(zmq_timers_reset(timers, 12345) == -1 && zmq_errno() == EINVAL);
    assert(zmq_timers_destroy(&timers) == 0);
    assert(timers == NULL);
    assert(zmq_timers_destroy(&timers) == -1 && zmq_errno() == EFAULT);

    /* Stopwatch: never goes back; zmq_sleep(1) sleeps at least a second. */
    void *watch = zmq_stopwatch_start();
    assert(watch);
    unsigned long first = zmq_stopwatch_intermediate(watch);
    unsigned long next = zmq_stopwatch_intermediate(watch);
    assert(next >= first);
    zmq_sleep(1);
    unsigned long after_sleep = zmq_stopwatch_intermediate(watch);
    assert(after_sleep >= 1000000UL && after_sleep >= next);
    assert(zmq_stopwatch_stop(watch) >= after_sleep);

    /* zmq_curve_public derives the public key zmq_curve_keypair made. */
    char public_key[41], secret_key[41], derived[41];
    assert(zmq_curve_keypair(public_key, secret_key) == 0);
    assert(zmq_curve_public(derived, secret_key) == 0);
    assert(strlen(derived) == 40 && strcmp(derived, public_key) == 0);
    assert(zmq_curve_public(derived, "not a key") == -1 && zmq_errno() == EINVAL);
    assert(zmq_has("curve") == 1);
    return 0;
}
