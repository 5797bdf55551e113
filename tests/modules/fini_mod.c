/* fini_mod.so: says when it runs, and when it is finalised (a destructor
 * and an atexit handler), naming its bead. For removing beads from a
 * running tapestry.
 *
 * Entry: int fini_main(int argc, char **argv) */
#include <stdio.h>
#include <stdlib.h>

#include "weaves.h"

static int runs;

static void bye(void)
{
    printf("fini_mod %s: atexit handler after %d run(s)\n", wv_bead_name(), runs);
}

__attribute__((constructor)) static void hello(void)
{
    atexit(bye);
}

__attribute__((destructor)) static void goodbye(void)
{
    printf("fini_mod %s: destructor\n", wv_bead_name());
}

int fini_main(int argc, char **argv)
{
    runs++;
    printf("fini_mod %s: ran %s\n", wv_bead_name(), argc > 1 ? argv[1] : "-");
    return 0;
}
