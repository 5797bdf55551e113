/* Matrix multiply, C = A x B, locked per row: rows are handed out one
 * at a time under a lock, or (static) each thread takes a block of rows
 * and locks each row while it writes it.
 * usage: matmul [N] [THREADS] [row|col] [dynamic|static] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef TIMED
#include <time.h>
#endif

static int n = 64, threads = 4, colmajor, blocks;
static double *a, *b, *c;
static int next_row;
static pthread_mutex_t rows = PTHREAD_MUTEX_INITIALIZER;

static double at(const double *m, int i, int j) {
    return colmajor ? m[j * n + i] : m[i * n + j];
}

static void row(int i) {
    for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < n; k++)
            s += at(a, i, k) * at(b, k, j);
        c[i * n + j] = s;
    }
}

static void *worker(void *arg) {
    if (blocks) {
        long t = (long)arg;
        for (int i = t * n / threads; i < (t + 1) * n / threads; i++) {
            pthread_mutex_lock(&rows);
            row(i);
            pthread_mutex_unlock(&rows);
        }
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&rows);
        int i = next_row++;
        pthread_mutex_unlock(&rows);
        if (i >= n)
            return NULL;
        row(i);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) n = atoi(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) colmajor = strcmp(argv[3], "col") == 0;
    if (argc > 4) blocks = strcmp(argv[4], "static") == 0;
    a = malloc(sizeof(double) * n * n);
    b = malloc(sizeof(double) * n * n);
    c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int at_ = colmajor ? j * n + i : i * n + j;
            a[at_] = (i + 2 * j) % 7;
            b[at_] = (3 * i + j) % 5;
        }
    pthread_t t[64];
#ifdef TIMED
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#endif
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
#ifdef TIMED
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "seconds=%.6f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
#endif
    double sum = 0, trace = 0;
    for (int i = 0; i < n; i++) {
        trace += c[i * n + i];
        for (int j = 0; j < n; j++)
            sum += c[i * n + j] * ((i + j) % 3 + 1);
    }
    printf("matmul n=%d sum=%.0f trace=%.0f c[1][2]=%.0f\n", n, sum, trace, c[1 * n + 2]);
    return 0;
}
