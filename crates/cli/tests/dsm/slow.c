/* Threads that keep meeting at a barrier for a long while; main says when
 * they all started. usage: slow [THREADS] [ROUNDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_barrier_t meet;
static int rounds = 2000;
static long shared[512];

static void *worker(void *arg) {
    long id = (long)arg;
    for (int r = 0; r < rounds; r++) {
        shared[(id * 64 + r) % 512] += r;
        pthread_barrier_wait(&meet);
        usleep(2000);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 3;
    if (argc > 2) rounds = atoi(argv[2]);
    pthread_barrier_init(&meet, NULL, threads);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    printf("running\n");
    fflush(stdout);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("finished\n");
    return 0;
}
