/* A 1-D stencil in blocks, one block per thread, steps separated by a
 * barrier. usage: stencil [CELLS] [THREADS] [STEPS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int cells = 4096, threads = 4, steps = 20;
static long *grid[2];
static pthread_barrier_t step;

static void *worker(void *arg) {
    long id = (long)arg;
    int lo = 1 + id * (cells - 2) / threads, hi = 1 + (id + 1) * (cells - 2) / threads;
    for (int s = 0; s < steps; s++) {
        long *from = grid[s % 2], *to = grid[(s + 1) % 2];
        for (int i = lo; i < hi; i++)
            to[i] = (from[i - 1] + 2 * from[i] + from[i + 1]) / 4 + (i % 3);
        pthread_barrier_wait(&step);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) cells = atoi(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) steps = atoi(argv[3]);
    for (int g = 0; g < 2; g++) {
        grid[g] = calloc(cells, sizeof(long));
        grid[g][0] = grid[g][cells - 1] = 1000000;
    }
    for (int i = 0; i < cells; i++)
        grid[0][i] += (i * 7919) % 1000;
    pthread_barrier_init(&step, NULL, threads);
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long sum = 0;
    for (int i = 0; i < cells; i++)
        sum += grid[steps % 2][i] * (i % 5 + 1);
    printf("stencil cells=%d steps=%d sum=%ld mid=%ld\n", cells, steps, sum, grid[steps % 2][cells / 2]);
    return 0;
}
