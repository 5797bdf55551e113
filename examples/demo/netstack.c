/* A toy network "stack": global state that every bead of this module keeps
 * privately, unless two apps are woven to the same bead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weaves.h"

int packets_seen = 0;   /* this stack's packets */
int packets_total = 0;  /* all stacks' packets: shared through a tuple space */
static int apps_attached = 0;
static char last_payload[64];
static const char *name;

const char *stack_name(void) { return name; }

int stack_attach(void)
{
    /* wv_bead_name() names the bead of its caller's return address, so it is
     * called here, not in tail position (a tail call would return into the
     * app and name the app's bead). */
    const char *me = wv_bead_name();
    name = me;
    return __atomic_add_fetch(&apps_attached, 1, __ATOMIC_SEQ_CST);
}

int stack_send(const char *payload)
{
    char *copy = strdup(payload); /* lands in this bead's heap */
    snprintf(last_payload, sizeof last_payload, "%s", copy);
    free(copy);
    __atomic_add_fetch(&packets_total, 1, __ATOMIC_SEQ_CST);
    return __atomic_add_fetch(&packets_seen, 1, __ATOMIC_SEQ_CST);
}

int stack_seen(void) { return __atomic_load_n(&packets_seen, __ATOMIC_SEQ_CST); }
int stack_total(void) { return __atomic_load_n(&packets_total, __ATOMIC_SEQ_CST); }
int stack_apps(void) { return __atomic_load_n(&apps_attached, __ATOMIC_SEQ_CST); }
