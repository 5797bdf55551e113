/* Not properly synchronised: threads hand data over through a plain
 * flag they spin on, and count in slots that share a page, with no lock.
 * Correct only where plain loads and stores are sequentially consistent.
 * usage: racy [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static volatile int ready;
static volatile long data[64];
static volatile long slots[64];

static void *producer(void *arg) {
    (void)arg;
    for (int i = 0; i < 64; i++)
        data[i] = i * 3 + 1;
    ready = 1;
    return NULL;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    while (!ready)
        ;
    long s = 0;
    for (int i = 0; i < 64; i++)
        s += data[i];
    for (int i = 0; i < 100; i++)
        slots[id]++;
    return (void *)s;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 3;
    pthread_t t[64], p;
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, consumer, (void *)i);
    pthread_create(&p, NULL, producer, NULL);
    long sum = 0;
    for (int i = 0; i < threads; i++) {
        void *v;
        pthread_join(t[i], &v);
        sum += (long)v;
    }
    pthread_join(p, NULL);
    long counted = 0;
    for (int i = 0; i < threads; i++)
        counted += slots[i];
    printf("racy threads=%d sum=%ld counted=%ld\n", threads, sum, counted);
    return 0;
}
