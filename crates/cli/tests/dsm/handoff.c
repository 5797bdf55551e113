/* Blocks allocated on one node, filled, grown and freed on others: each
 * thread allocates a buffer, main reads it, grows it and frees it, and
 * the threads free what main allocated for them. usage: handoff [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long freed;

static void *worker(void *arg) {
    long *given = arg;
    long id = given[0];
    free(given);
    pthread_mutex_lock(&lock);
    freed++;
    pthread_mutex_unlock(&lock);
    char *buf = malloc(64);
    snprintf(buf, 64, "from thread %ld", id);
    return buf;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t[64];
    for (long i = 0; i < threads; i++) {
        long *arg = malloc(sizeof(long) * 4);
        arg[0] = i;
        pthread_create(&t[i], NULL, worker, arg);
    }
    for (int i = 0; i < threads; i++) {
        char *buf;
        pthread_join(t[i], (void **)&buf);
        buf = realloc(buf, 4096);
        strcat(buf, ", grown");
        printf("%s\n", buf);
        free(buf);
    }
    printf("freed=%ld\n", freed);
    return 0;
}
