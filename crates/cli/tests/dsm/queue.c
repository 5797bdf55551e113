/* A bounded work queue: main produces, workers consume (mutex + two
 * condition variables). usage: queue [ITEMS] [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS 8
static int items = 200, threads = 4;
static int ring[SLOTS], head, tail, used;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static long *results;
static int done_by[64];

static void put(int v) {
    pthread_mutex_lock(&lock);
    while (used == SLOTS)
        pthread_cond_wait(&not_full, &lock);
    ring[tail] = v;
    tail = (tail + 1) % SLOTS;
    used++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&lock);
}

static int take(void) {
    pthread_mutex_lock(&lock);
    while (used == 0)
        pthread_cond_wait(&not_empty, &lock);
    int v = ring[head];
    head = (head + 1) % SLOTS;
    used--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&lock);
    return v;
}

static void *worker(void *arg) {
    long id = (long)arg;
    for (;;) {
        int v = take();
        if (v < 0)
            return NULL;
        long r = 0;
        for (int k = 1; k <= v % 50 + 1; k++)
            r += (long)v * k % 97;
        results[v] = r;
        pthread_mutex_lock(&lock);
        done_by[id]++;
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) items = atoi(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    results = calloc(items, sizeof(long));
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < items; i++)
        put(i);
    for (int i = 0; i < threads; i++)
        put(-1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long sum = 0, done = 0;
    for (int i = 0; i < items; i++)
        sum += results[i] * (i + 1);
    for (int i = 0; i < threads; i++)
        done += done_by[i];
    printf("queue items=%d done=%ld sum=%ld\n", items, done, sum);
    return 0;
}
