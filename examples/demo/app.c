/* An "app" that sends packets through whichever stack its weave binds
 * `stack_*` to, then reports what it sees. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "weaves.h"

const char *stack_name(void);
int stack_attach(void);
int stack_send(const char *payload);
int stack_seen(void);
int stack_total(void);
int stack_apps(void);

static int sent = 0; /* private to each app bead */

int app_main(int argc, char **argv)
{
    const char *me = argc > 1 ? argv[1] : "app";
    int n = argc > 2 ? atoi(argv[2]) : 5;
    int everyone = argc > 3 ? atoi(argv[3]) : n;
    stack_attach();
    for (int i = 0; i < n; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "%s#%d", me, i);
        stack_send(payload);
        sent++;
    }
    /* Wait until every app has sent: the total is one variable shared by
     * all stacks (a tuple space), so each app can watch it. */
    while (stack_total() < everyone)
        usleep(1000);
    printf("%-5s (string %d, weave %s) sent %d packets through %-13s which saw %2d packets from %d app(s); all stacks: %d\n",
           me, wv_string_id(), wv_weave_name(), sent, stack_name(), stack_seen(), stack_apps(), stack_total());
    return 0;
}
