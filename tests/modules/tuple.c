/* tuple.so: globals for tuple-space tests.
 *
 * Entry: int tuple_main(int argc, char **argv)
 *   argv[1] = tag, argv[2] = K (default 5).
 * Increments packets_seen and other K times each and prints
 *   <tag> packets_seen=<n> other=<m>
 * packets_seen and other are default-visibility globals (reached through the
 * GOT, so shareable one by one); hidden_var (static) and hidden_global
 * (hidden visibility) are reached PC-relatively and cannot be shared. */
#include <stdio.h>
#include <stdlib.h>

int packets_seen = 0;
int other = 0;
static int hidden_var;
__attribute__((visibility("hidden"))) int hidden_global;

int tuple_main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    int k = argc > 2 ? atoi(argv[2]) : 5;

    for (int i = 0; i < k; i++) {
        __atomic_add_fetch(&packets_seen, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&other, 1, __ATOMIC_SEQ_CST);
        hidden_var++;
        hidden_global++;
    }
    printf("%s packets_seen=%d other=%d\n", tag, __atomic_load_n(&packets_seen, __ATOMIC_SEQ_CST),
           __atomic_load_n(&other, __ATOMIC_SEQ_CST));
    return (hidden_var == k && hidden_global == k) ? 0 : 1;
}
