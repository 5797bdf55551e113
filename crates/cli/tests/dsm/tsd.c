/* Thread-specific data and pthread_once: every thread keeps its own
 * record under one key made once; destructors count the records.
 * usage: tsd [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int made_keys;
static long table[16];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int destroyed;
static long destroyed_sum;

struct record { long id, total; };

static void destroy(void *p) {
    struct record *r = p;
    pthread_mutex_lock(&lock);
    destroyed++;
    destroyed_sum += r->total;
    pthread_mutex_unlock(&lock);
    free(r);
}

static void make_key(void) {
    pthread_key_create(&key, destroy);
    made_keys++;
    for (int i = 0; i < 16; i++)
        table[i] = i * i + 3;
}

static void add(long v) {
    struct record *r = pthread_getspecific(key);
    r->total += v;
}

static void *worker(void *arg) {
    long id = (long)arg;
    pthread_once(&once, make_key);
    struct record *r = malloc(sizeof *r);
    r->id = id;
    r->total = 0;
    pthread_setspecific(key, r);
    for (int i = 0; i < 16; i++)
        add(table[i] * (id + 1));
    r = pthread_getspecific(key);
    return (void *)(r->total + r->id * 1000000);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    long sum = 0;
    for (int i = 0; i < threads; i++) {
        void *v;
        pthread_join(t[i], &v);
        sum += (long)v;
        printf("thread %d: %ld\n", i, (long)v);
    }
    printf("tsd keys=%d sum=%ld destroyed=%d destroyed_sum=%ld\n", made_keys, sum, destroyed, destroyed_sum);
    return 0;
}
