/* A bounded buffer between producers and consumers counted by two POSIX
 * semaphores, and a table that writers change under a reader-writer lock
 * while readers check it is never seen half-written.
 * usage: rwsem [ITEMS] [PAIRS] */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 8
static long ring[SLOTS];
static int head, tail, items = 400, pairs = 2;
static sem_t empty, full;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static long consumed[64];

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static long table[2][64];
static long torn[64];

static void *producer(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < items; i++) {
        sem_wait(&empty);
        pthread_mutex_lock(&ring_lock);
        ring[head] = id * 100000 + i;
        head = (head + 1) % SLOTS;
        pthread_mutex_unlock(&ring_lock);
        sem_post(&full);
        pthread_rwlock_wrlock(&table_lock);
        for (int k = 0; k < 64; k++)
            table[0][k] = table[1][k] = table[0][k] + id + 1;
        pthread_rwlock_unlock(&table_lock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < items; i++) {
        sem_wait(&full);
        pthread_mutex_lock(&ring_lock);
        consumed[id] += ring[tail];
        tail = (tail + 1) % SLOTS;
        pthread_mutex_unlock(&ring_lock);
        sem_post(&empty);
        pthread_rwlock_rdlock(&table_lock);
        for (int k = 0; k < 64; k++)
            torn[id] += table[0][k] != table[1][k];
        pthread_rwlock_unlock(&table_lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) items = atoi(argv[1]);
    if (argc > 2) pairs = atoi(argv[2]);
    sem_init(&empty, 0, SLOTS);
    sem_init(&full, 0, 0);
    int rc = sem_trywait(&full);
    printf("trywait on an empty semaphore: %d %s\n", rc, rc == -1 && errno == EAGAIN ? "EAGAIN" : "?");
    pthread_rwlock_rdlock(&table_lock);
    printf("trywrlock while read-locked: %d\n", pthread_rwlock_trywrlock(&table_lock) == EBUSY);
    printf("tryrdlock while read-locked: %d\n", pthread_rwlock_tryrdlock(&table_lock));
    pthread_rwlock_unlock(&table_lock);
    pthread_rwlock_unlock(&table_lock);
    pthread_t t[64];
    for (long i = 0; i < pairs; i++) {
        pthread_create(&t[2 * i], NULL, producer, (void *)i);
        pthread_create(&t[2 * i + 1], NULL, consumer, (void *)i);
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(t[i], NULL);
    long total = 0, tears = 0;
    for (int i = 0; i < pairs; i++) {
        total += consumed[i];
        tears += torn[i];
    }
    int left;
    sem_getvalue(&empty, &left);
    printf("consumed %ld, torn reads %ld, empty slots %d, table %ld\n", total, tears, left, table[0][63]);
    return 0;
}
