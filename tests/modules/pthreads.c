/* An ordinary pthread program: producers and consumers over a bounded
 * buffer (mutex + two condition variables), a barrier over several rounds,
 * a recursive mutex and trylock. Built as a default PIE with -pthread; as
 * a bead, its threads become strings of its weave. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP 4
#define PRODUCERS 3
#define CONSUMERS 2
#define ITEMS 2000
#define WORKERS 4
#define ROUNDS 5

static int buffer[CAP];
static int head, tail, count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static long consumed_sum;
static int consumed;
static int produced_total;

static void *producer(void *arg)
{
    long base = (long)arg * ITEMS;
    for (int i = 1; i <= ITEMS; i++) {
        pthread_mutex_lock(&lock);
        while (count == CAP)
            pthread_cond_wait(&not_full, &lock);
        buffer[tail] = (int)(base + i);
        tail = (tail + 1) % CAP;
        count++;
        produced_total++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)ITEMS;
}

static void *consumer(void *arg)
{
    long mine = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (count == 0 && consumed < PRODUCERS * ITEMS)
            pthread_cond_wait(&not_empty, &lock);
        if (consumed == PRODUCERS * ITEMS) {
            pthread_cond_broadcast(&not_empty);
            pthread_mutex_unlock(&lock);
            return (void *)mine;
        }
        int v = buffer[head];
        head = (head + 1) % CAP;
        count--;
        consumed++;
        consumed_sum += v;
        mine++;
        if (consumed == PRODUCERS * ITEMS)
            pthread_cond_broadcast(&not_empty);
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
    }
}

static pthread_barrier_t barrier;
static int arrivals[ROUNDS];
static int serial_count;
static int barrier_errors;

static void *worker(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        __atomic_add_fetch(&arrivals[r], 1, __ATOMIC_SEQ_CST);
        int s = pthread_barrier_wait(&barrier);
        if (s == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_add_fetch(&serial_count, 1, __ATOMIC_SEQ_CST);
        else if (s != 0)
            barrier_errors++;
        /* After the barrier everyone of this round has arrived. */
        if (__atomic_load_n(&arrivals[r], __ATOMIC_SEQ_CST) != WORKERS)
            __atomic_add_fetch(&barrier_errors, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "native";
    pthread_t p[PRODUCERS], c[CONSUMERS], w[WORKERS];
    for (long i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)i);
    for (long i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, NULL);
    long produced = 0, by_consumers = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        void *r;
        pthread_join(p[i], &r);
        produced += (long)r;
    }
    for (int i = 0; i < CONSUMERS; i++) {
        void *r;
        pthread_join(c[i], &r);
        by_consumers += (long)r;
    }
    long n = (long)PRODUCERS * ITEMS;
    long expected = 0;
    for (long i = 0; i < PRODUCERS; i++)
        expected += i * ITEMS * ITEMS + (long)ITEMS * (ITEMS + 1) / 2;

    pthread_barrier_init(&barrier, NULL, WORKERS);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    pthread_barrier_destroy(&barrier);

    pthread_mutex_t rec;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rec, &attr);
    int rec_ok = pthread_mutex_lock(&rec) == 0 && pthread_mutex_lock(&rec) == 0 && pthread_mutex_unlock(&rec) == 0 &&
                 pthread_mutex_unlock(&rec) == 0 && pthread_mutex_trylock(&rec) == 0 && pthread_mutex_unlock(&rec) == 0;
    pthread_mutex_lock(&lock);
    int busy = pthread_mutex_trylock(&lock);
    pthread_mutex_unlock(&lock);

    printf("pthreads %s: produced=%ld consumed=%ld sum_ok=%d barrier_rounds=%d serial=%d errors=%d recursive=%d trylock_busy=%d\n",
           tag, produced, by_consumers, consumed_sum == expected && consumed == n && produced_total == n, ROUNDS,
           serial_count, barrier_errors, rec_ok, busy != 0);
    return (produced == n && by_consumers == n && consumed_sum == expected && serial_count == ROUNDS &&
            barrier_errors == 0 && rec_ok && busy)
               ? 0
               : 1;
}
