/* Threads on every node increment one counter under one mutex and
 * return values to their joiner. usage: counter [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static long per[8];
static void *work(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    per[id] = id * 10;
    return (void *)(id + 100);
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t[8];
    for (long i = 0; i < n; i++) pthread_create(&t[i], NULL, work, (void *)i);
    long sum = 0;
    for (int i = 0; i < n; i++) { void *r; pthread_join(t[i], &r); sum += (long)r; }
    long s2 = 0; for (int i = 0; i < n; i++) s2 += per[i];
    printf("counter=%ld joined=%ld per=%ld\n", counter, sum, s2);
    return 0;
}
