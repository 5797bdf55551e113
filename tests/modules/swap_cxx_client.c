/* A client of swap_cxx.cpp's bead: adds keys until STOP exists, showing
 * the table before and after, and how many it added.
 *
 *   swap_cxx_main STOP */
#include <stdio.h>
#include <unistd.h>

extern long cxx_add(const char *key);
extern void cxx_show(const char *who);

int swap_cxx_main(int argc, char **argv)
{
    static const char *keys[] = {"alpha", "beta", "gamma", "a key long enough to live on the heap"};
    long added = 0;
    cxx_add(keys[0]);
    added++;
    cxx_show("before");
    for (long k = 1;; k++) {
        cxx_add(keys[k % 4]);
        added++;
        if (k % 1024 == 0 && (argc < 2 || access(argv[1], F_OK) == 0))
            break;
    }
    cxx_show("after");
    printf("added %ld\n", added);
    return 0;
}
