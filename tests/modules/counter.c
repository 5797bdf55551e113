/* counter.so: one global counter and two functions other beads import.
 *
 * `counter` has default visibility, so this -fPIC object reaches it through its
 * GOT; each bead of this module has its own copy. The increment is atomic so
 * that two strings sharing one counter bead never lose an update, whatever the
 * scheduler does: tests can then assert exact totals. */

int counter = 0;

int counter_next(void) { return __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST); }

int counter_get(void) { return __atomic_load_n(&counter, __ATOMIC_SEQ_CST); }
