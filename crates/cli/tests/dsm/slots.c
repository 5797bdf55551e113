/* Every thread writes its own slot of every page of a shared array at
 * once (disjoint bytes: no lock needed), then all meet at a barrier and
 * main adds the slots up. Under `weaves dsm` several threads of one node
 * fault on the same fresh pages together.
 * usage: slots [PAGES] [THREADS] [ROUNDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int pages = 64, threads = 4, rounds = 3;
static long *slots;
static pthread_barrier_t done;

static void *writer(void *arg) {
    long id = (long)arg;
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < pages; p++)
            slots[(long)p * 512 + id] += p * 10 + id + 1;
        pthread_barrier_wait(&done);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) pages = atoi(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) rounds = atoi(argv[3]);
    slots = calloc((size_t)pages * 512, sizeof(long));
    pthread_barrier_init(&done, NULL, threads);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long sum = 0, missing = 0;
    for (int p = 0; p < pages; p++)
        for (int i = 0; i < threads; i++) {
            long want = (long)rounds * (p * 10 + i + 1), got = slots[(long)p * 512 + i];
            sum += got;
            missing += got != want;
        }
    printf("slots pages=%d threads=%d sum=%ld wrong=%ld\n", pages, threads, sum, missing);
    return missing != 0;
}
