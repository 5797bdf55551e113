/* A Wasm library bead without libc (built -nostdlib, no entry): it owns a
 * linear memory that another Wasm bead imports through the weave, and
 * exports functions that Wasm and native beads call.
 *
 * Built natively and linked with wasm_linker.c and links_native.c, it gives
 * the output the weave must reproduce. */
#include <stdint.h>

/* Exported by the module (wasm-ld --export-dynamic exports only these). */
#define EXPORT __attribute__((visibility("default")))

#define SLOTS 64

static int32_t cells[SLOTS];        /* shared with the importing bead */
static int32_t puts_made;           /* this bead's own state */

/* Where the shared cells lie (an address in the one linear memory). */
EXPORT int32_t *store_cells(void) { return cells; }

EXPORT void store_put(int32_t slot, int32_t value)
{
    cells[slot % SLOTS] = value;
    puts_made++;
}

/* The sum of the first n cells, weighted by position: reads what the
 * importing bead wrote into the shared memory directly. */
EXPORT int64_t store_sum(int32_t n)
{
    int64_t s = 0;
    for (int32_t i = 0; i < n && i < SLOTS; i++)
        s += (int64_t)(i + 1) * cells[i];
    return s + puts_made;
}

/* Deep enough to be real Wasm work for a native caller. */
EXPORT int64_t store_fib(int32_t n)
{
    return n < 2 ? n : store_fib(n - 1) + store_fib(n - 2);
}

EXPORT double store_scale(double x, float k)
{
    return x * (double)k + (double)puts_made;
}
