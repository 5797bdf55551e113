/* A bead whose initialiser aborts before any string runs. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void set_up(void)
{
    abort();
}

int ctor_abort_main(void)
{
    puts("ctor_abort: main ran");
    return 0;
}
