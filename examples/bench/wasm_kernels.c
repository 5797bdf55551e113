/* Compute kernels for `weaves bench wasm`, built to wasm32-wasi. Each
 * passes a reconfiguration point once per outer step, so under Asyncify
 * every function on the way to it is instrumented, as in a real module.
 *
 *   wasm_kernels fib|matmul|sort|interp [SCALE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("weaves"), import_name("wv_reconfig_point")))
void wv_reconfig_point(const char *name);

static int fib(int n)
{
    if (n == 20)
        wv_reconfig_point("fib");
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static double matmul(int n, int reps)
{
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n),
           *c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n * n; i++) {
        a[i] = (i % 7) * 0.5;
        b[i] = (i % 5) * 0.25;
    }
    for (int r = 0; r < reps; r++) {
        wv_reconfig_point("matmul");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++)
                    s += a[i * n + k] * b[k * n + j];
                c[i * n + j] = s + r;
            }
    }
    double t = c[n * n / 2];
    free(a);
    free(b);
    free(c);
    return t;
}

static void sort_ints(int *v, int lo, int hi)
{
    while (lo < hi) {
        int p = v[(lo + hi) / 2], i = lo, j = hi;
        while (i <= j) {
            while (v[i] < p) i++;
            while (v[j] > p) j--;
            if (i <= j) {
                int t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (j - lo < hi - i) {
            sort_ints(v, lo, j);
            lo = i;
        } else {
            sort_ints(v, i, hi);
            hi = j;
        }
    }
}

static long sort(int n, int reps)
{
    int *v = malloc(sizeof(int) * n);
    long sum = 0;
    unsigned x = 12345;
    for (int r = 0; r < reps; r++) {
        wv_reconfig_point("sort");
        for (int i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            v[i] = (int)(x >> 8);
        }
        sort_ints(v, 0, n - 1);
        sum += v[n / 2];
    }
    free(v);
    return sum;
}

/* A small stack-machine interpreter running a counting loop. */
static long interp(int reps)
{
    enum { PUSH, ADD, DUP, JNZ, DEC, SWAP, POP, HALT };
    static const int prog[] = {PUSH, 0, PUSH, 100000, /* acc n */
                               SWAP, PUSH, 3, ADD, SWAP, DEC, DUP, JNZ, 4, POP, HALT};
    long total = 0;
    for (int r = 0; r < reps; r++) {
        wv_reconfig_point("interp");
        long st[16];
        int sp = 0, pc = 0;
        for (;;) {
            switch (prog[pc++]) {
            case PUSH: st[sp++] = prog[pc++]; break;
            case ADD: sp--; st[sp - 1] += st[sp]; break;
            case DUP: st[sp] = st[sp - 1]; sp++; break;
            case JNZ: { int to = prog[pc++]; if (st[--sp]) pc = to; break; }
            case DEC: st[sp - 1]--; break;
            case SWAP: { long t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; break; }
            case POP: sp--; break;
            case HALT: goto done;
            }
        }
    done:
        total += st[0];
    }
    return total;
}

int main(int argc, char **argv)
{
    const char *k = argc > 1 ? argv[1] : "fib";
    int scale = argc > 2 ? atoi(argv[2]) : 1;
    if (!strcmp(k, "fib"))
        printf("fib %d\n", fib(24 + scale));
    else if (!strcmp(k, "matmul"))
        printf("matmul %.1f\n", matmul(64, 4 * scale));
    else if (!strcmp(k, "sort"))
        printf("sort %ld\n", sort(20000, 4 * scale));
    else if (!strcmp(k, "interp"))
        printf("interp %ld\n", interp(4 * scale));
    else
        return 2;
    return 0;
}
