/* rwsem: an ordinary pthread program using read-write locks and
 * semaphores, with deterministic output. Its threads park while holding
 * locks (usleep inside critical sections), so on one worker it completes
 * only if contention parks the string instead of blocking the worker.
 *
 *   rwsem [TAG] */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4
#define PRODUCERS 4
#define CONSUMERS 4
#define ITEMS 500 /* per producer */

static int buffer[SLOTS];
static int head, tail;
static sem_t empty, full;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;
static long consumed_sum;
static int consumed;
static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;

static void *producer(void *arg)
{
    int base = (int)(long)arg * ITEMS;
    for (int i = 0; i < ITEMS; i++) {
        sem_wait(&empty);
        pthread_mutex_lock(&buf_lock);
        buffer[tail] = base + i + 1;
        tail = (tail + 1) % SLOTS;
        pthread_mutex_unlock(&buf_lock);
        sem_post(&full);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PRODUCERS * ITEMS / CONSUMERS; i++) {
        sem_wait(&full);
        pthread_mutex_lock(&buf_lock);
        int v = buffer[head];
        head = (head + 1) % SLOTS;
        pthread_mutex_unlock(&buf_lock);
        sem_post(&empty);
        pthread_mutex_lock(&sum_lock);
        consumed_sum += v;
        consumed++;
        pthread_mutex_unlock(&sum_lock);
    }
    return NULL;
}

static pthread_rwlock_t pair_lock = PTHREAD_RWLOCK_INITIALIZER;
static int pair_a, pair_b, violations, reads;

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        pthread_rwlock_wrlock(&pair_lock);
        pair_a++;
        usleep(50); /* parks while holding the write lock */
        pair_b++;
        pthread_rwlock_unlock(&pair_lock);
        usleep(20);
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        pthread_rwlock_rdlock(&pair_lock);
        int a = pair_a;
        usleep(10); /* parks while holding a read lock */
        if (pair_b != a)
            __atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&reads, 1, __ATOMIC_SEQ_CST);
        pthread_rwlock_unlock(&pair_lock);
    }
    return NULL;
}

static struct timespec in_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

static void *hold_read(void *arg)
{
    (void)arg;
    pthread_rwlock_rdlock(&pair_lock);
    usleep(100000);
    pthread_rwlock_unlock(&pair_lock);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "-";
    pthread_t t[PRODUCERS + CONSUMERS];
    sem_init(&empty, 0, SLOTS);
    sem_init(&full, 0, 0);
    for (long i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, producer, (void *)i);
    for (long i = 0; i < CONSUMERS; i++)
        pthread_create(&t[PRODUCERS + i], NULL, consumer, NULL);
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        pthread_join(t[i], NULL);
    long n = PRODUCERS * ITEMS;
    int left;
    sem_getvalue(&empty, &left);
    printf("rwsem %s: semaphores consumed %d sum %ld (expected %ld) empty slots %d\n", tag,
           consumed, consumed_sum, n * (n + 1) / 2, left);

    pthread_t rw[5];
    for (int i = 0; i < 2; i++)
        pthread_create(&rw[i], NULL, writer, NULL);
    for (int i = 2; i < 5; i++)
        pthread_create(&rw[i], NULL, reader, NULL);
    for (int i = 0; i < 5; i++)
        pthread_join(rw[i], NULL);
    printf("rwsem %s: rwlock a=%d b=%d reads=%d violations=%d\n", tag, pair_a, pair_b, reads,
           violations);

    /* Timeouts and try-variants. */
    struct timespec soon = in_ms(20);
    int r = sem_timedwait(&full, &soon);
    int e = errno;
    int tr = sem_trywait(&full);
    int te = errno;
    pthread_t holder;
    pthread_create(&holder, NULL, hold_read, NULL);
    usleep(20000);
    soon = in_ms(20);
    int w = pthread_rwlock_timedwrlock(&pair_lock, &soon);
    int tw = pthread_rwlock_trywrlock(&pair_lock);
    int trd = pthread_rwlock_tryrdlock(&pair_lock);
    if (trd == 0)
        pthread_rwlock_unlock(&pair_lock);
    pthread_join(holder, NULL);
    int after = pthread_rwlock_trywrlock(&pair_lock);
    if (after == 0)
        pthread_rwlock_unlock(&pair_lock);
    printf("rwsem %s: sem_timedwait %s, sem_trywait %s, timedwrlock %s, trywrlock %s, "
           "tryrdlock %s, trywrlock after %s\n",
           tag, r == -1 && e == ETIMEDOUT ? "ETIMEDOUT" : "?",
           tr == -1 && te == EAGAIN ? "EAGAIN" : "?", w == ETIMEDOUT ? "ETIMEDOUT" : "?",
           tw == EBUSY ? "EBUSY" : "?", trd == 0 ? "ok" : "?", after == 0 ? "ok" : "?");
    sem_destroy(&empty);
    sem_destroy(&full);
    return 0;
}
