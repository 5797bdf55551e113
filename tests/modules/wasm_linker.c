/* A Wasm program whose imports the weave binds to other beads: its linear
 * memory is the store bead's (built --import-memory, its data placed above
 * the store's), `store_*` are the store bead's exports, and `mix`/`poly`
 * a native bead's functions.
 *
 * Built natively with wasm_store.c and links_native.c, it prints what the
 * weave must print. */
#include <stdint.h>
#include <stdio.h>

#ifdef __wasm__
#define FROM(m, n) __attribute__((import_module(m), import_name(n)))
#else
#define FROM(m, n)
#endif

FROM("store", "cells") int32_t *store_cells(void);
FROM("store", "put") void store_put(int32_t slot, int32_t value);
FROM("store", "sum") int64_t store_sum(int32_t n);
FROM("native", "mix") int64_t mix(int32_t a, int64_t b);
FROM("native", "poly") double poly(double x, float y, int32_t n);

int main(void)
{
    int32_t *cells = store_cells();
    for (int32_t i = 0; i < 8; i++)
        cells[i] = 3 * i + 1;             /* written here, read by the store */
    store_put(8, 100);                    /* written by the store, read here */
    printf("cells[8] = %d\n", (int)cells[8]);
    printf("sum = %lld\n", (long long)store_sum(9));
    int64_t m = 0;
    for (int32_t i = 0; i < 5; i++)
        m += mix(i - 2, m + 12345678901LL);
    printf("mix = %lld\n", (long long)m);
    printf("poly = %.6f\n", poly(1.5, 0.25f, 6));
    return (int)(m & 63);
}
