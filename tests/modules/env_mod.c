/* Per-string environment: each string sees its own `env` table on top of
 * the process's; setenv changes only the string's own; a pointer getenv
 * returned stays valid after the variable changes. */
#include <stdio.h>
#include <stdlib.h>

int env_main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    char *before = getenv("WV_GREETING");
    setenv("WV_GREETING", "changed", 1);
    char *after = getenv("WV_GREETING");
    unsetenv("WV_ONLY_HERE");
    printf("env %s: before=%s after=%s kept=%s gone=%s path=%s\n", tag, before ? before : "(null)", after,
           before ? before : "(null)", getenv("WV_ONLY_HERE") ? "no" : "yes", getenv("PATH") ? "set" : "unset");
    return 0;
}
