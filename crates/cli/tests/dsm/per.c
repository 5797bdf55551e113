/* Each thread writes its own slot of one array (one page) with no lock;
 * main prints them after joining. usage: per [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static long per[8];
static void *work(void *arg) { long id = (long)arg; per[id] = id * 10 + 1; return NULL; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t t[8];
    for (long i = 0; i < n; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) printf("%ld ", per[i]);
    printf("\n");
    return 0;
}
