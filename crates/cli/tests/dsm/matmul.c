/* Matrix multiply, rows handed out under a lock: C = A x B.
 * usage: matmul [N] [THREADS] [row|col] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n = 64, threads = 4, colmajor;
static double *a, *b, *c;
static int next_row;
static pthread_mutex_t rows = PTHREAD_MUTEX_INITIALIZER;

static double at(const double *m, int i, int j) {
    return colmajor ? m[j * n + i] : m[i * n + j];
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&rows);
        int i = next_row++;
        pthread_mutex_unlock(&rows);
        if (i >= n)
            return NULL;
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++)
                s += at(a, i, k) * at(b, k, j);
            c[i * n + j] = s;
        }
    }
}

int main(int argc, char **argv) {
    if (argc > 1) n = atoi(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) colmajor = strcmp(argv[3], "col") == 0;
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
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double sum = 0, trace = 0;
    for (int i = 0; i < n; i++) {
        trace += c[i * n + i];
        for (int j = 0; j < n; j++)
            sum += c[i * n + j] * ((i + j) % 3 + 1);
    }
    printf("matmul n=%d sum=%.0f trace=%.0f c[1][2]=%.0f\n", n, sum, trace, c[1 * n + 2]);
    return 0;
}
