/* A private library the dlopen plugin needs (DT_NEEDED, found through the
 * plugin's $ORIGIN run path): its counter is per opening program too. */
static int calls;

int dep_count(void) { return ++calls; }
