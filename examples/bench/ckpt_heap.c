/* `weaves bench checkpoint`: a heap of MIB MiB, checkpointed whole once,
 * then after each change of a fraction of its pages (one byte per page
 * changed), incrementally.
 *
 * Entry: int heap_main(int argc, char **argv)
 *   argv[1] = MiB, argv[2..] = fractions of pages to change (0 < f <= 1). */
#include <stdlib.h>

int wv_checkpoint(void);

int heap_main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    size_t len = mib << 20, pages = len / 4096;
    unsigned char *heap = malloc(len);
    if (!heap)
        return 1;
    for (size_t i = 0; i < len; i += 8)
        *(unsigned long long *)(heap + i) = i * 0x9e3779b97f4a7c15ULL;
    if (wv_checkpoint() != 0)
        return 1;
    for (int a = 2; a < argc; a++) {
        double f = atof(argv[a]);
        size_t n = (size_t)(f * (double)pages);
        if (n == 0)
            n = 1;
        size_t stride = pages / n;
        for (size_t k = 0; k < n; k++)
            heap[(k * stride) * 4096 + (size_t)a] ^= 0x5a;
        if (wv_checkpoint() != 0)
            return 1;
    }
    return 0;
}
