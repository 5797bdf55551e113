/* bigalloc: malloc of argv[1] GiB (default 16), touching one byte per GiB,
 * then realloc a page larger and calloc 9 GiB: natively these succeed with
 * lazy commit; so must they in a bead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
int main(int argc, char **argv) {
    size_t gib = argc > 1 ? strtoul(argv[1], 0, 10) : 16;
    char *p = malloc(gib << 30);
    if (!p) { printf("malloc(%zu GiB) failed: %s\n", gib, strerror(errno)); return 1; }
    for (size_t i = 0; i < (gib << 30); i += (1ul << 30)) p[i] = (char)i;
    p[(gib << 30) - 1] = 7;
    printf("malloc(%zu GiB) ok, touched %zu pages\n", gib, gib + 1);
    char *q = realloc(p, (gib << 30) + 4096);
    printf("realloc %s\n", q ? "ok" : "failed");
    free(q ? q : p);
    void *r = calloc(1, 9ul << 30);
    printf("calloc 9 GiB %s\n", r ? "ok" : "failed");
    free(r);
    return 0;
}
