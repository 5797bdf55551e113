/* A native bead in a weave with Wasm beads: Wasm code calls `mix` and
 * `poly` through the weave, and its string calls the Wasm bead's exports
 * (`store_fib`, `store_put`, `store_sum`, `store_scale`), which the weave
 * binds to trampolines into the Wasm instance.
 *
 * Built natively with wasm_store.c (and -Dlinks_native_main=main), it gives
 * the output the weave must reproduce. */
#include <stdint.h>
#include <stdio.h>

int64_t store_fib(int32_t n);
void store_put(int32_t slot, int32_t value);
int64_t store_sum(int32_t n);
double store_scale(double x, float k);

static int64_t mixes;   /* this bead's own state, kept across calls */

int64_t mix(int32_t a, int64_t b)
{
    mixes++;
    return (int64_t)a * 1000003 + (b ^ (b >> 7)) + mixes;
}

double poly(double x, float y, int32_t n)
{
    double r = 0;
    for (int32_t i = 0; i < n; i++)
        r = r * x + (double)y + i;
    return r;
}

int links_native_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("fib(24) = %lld\n", (long long)store_fib(24));
    for (int32_t i = 0; i < 10; i++)
        store_put(i, i * i - 7);
    printf("sum = %lld\n", (long long)store_sum(10));
    printf("scale = %.6f\n", store_scale(2.5, 1.25f));
    printf("mix = %lld\n", (long long)mix(-5, 1LL << 40));
    return (int)((store_sum(3) % 100 + 100) % 100);
}
