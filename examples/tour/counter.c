/* counter.c: one counter, and the function other beads call to bump it.
 *
 * Every bead of this module has its own `counter`. The increment is atomic:
 * the strings of several weaves may share one counter bead, and they run on
 * several worker threads at once (a plain `++counter` would lose updates). */
#include <stdatomic.h>

atomic_int counter;

int counter_next(void) { return atomic_fetch_add(&counter, 1) + 1; }
