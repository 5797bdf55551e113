/* ckpt_big: a large heap that changes a little between checkpoints, for
 * incremental checkpoints (and `weaves bench checkpoint`).
 *
 *   entry big_main: ckpt_big MIB ROUNDS CHANGE_KIB
 *
 * Fills MIB MiB of heap, asks for a checkpoint, then ROUNDS times changes
 * CHANGE_KIB KiB spread over the heap (one byte per 4 KiB page) and asks
 * for another. Prints a checksum of the heap at the end, and after a
 * restore the rounds left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weaves.h"

int big_main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    size_t change_pages = (argc > 3 ? (size_t)atol(argv[3]) : 1024) / 4;
    size_t len = mib << 20, pages = len / 4096;
    unsigned char *heap = malloc(len);
    if (!heap) {
        perror("ckpt_big: malloc");
        return 1;
    }
    for (size_t i = 0; i < len; i += 8)
        *(unsigned long long *)(heap + i) = i * 0x9e3779b97f4a7c15ULL;
    if (wv_checkpoint() < 0)
        return 1;
    size_t stride = change_pages ? pages / change_pages : pages;
    for (int r = 1; r <= rounds; r++) {
        for (size_t k = 0; k < change_pages; k++)
            heap[((k * stride + (size_t)r) % pages) * 4096 + (size_t)r] ^= (unsigned char)(r * 37 + 1);
        int resumed = wv_checkpoint();
        if (resumed < 0)
            return 1;
        if (resumed == 1)
            printf("ckpt_big: restored after round %d\n", r);
    }
    unsigned long long sum = 0;
    for (size_t i = 0; i < len; i += 8)
        sum = sum * 31 + *(unsigned long long *)(heap + i);
    printf("ckpt_big: %zu MiB, %d rounds, checksum %llu\n", mib, rounds, sum);
    return 0;
}
