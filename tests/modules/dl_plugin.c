/* A plugin its host loads with dlopen: it calls back into the host
 * (host_fn), keeps state of its own (count, and dep_count's in its private
 * dependency), and has a constructor. */
#include <stdio.h>

extern void host_fn(const char *who, int n);
extern int dep_count(void);

static int count;
static int constructed;

__attribute__((constructor)) static void plugin_init(void) { constructed = 100; }

int plugin_step(const char *who) {
    ++count;
    host_fn(who, constructed + count);
    return dep_count();
}
