/* A library that binds to a symbol of another dlopened library
 * (counted_bump, found through RTLD_GLOBAL), which so stays loaded while
 * this one is. */
#include <stdio.h>

extern int counted_bump(void);

static const char *owner = "?";

__attribute__((destructor)) static void user_fini(void) { printf("%s: user destructor\n", owner); }

int user_step(const char *name) {
    owner = name;
    return counted_bump();
}
