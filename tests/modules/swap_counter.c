/* One bead in several versions, for hot-swap tests (weaves swap).
 *
 * sc_call(driver, seq) counts every call and checks that each driver's
 * sequence numbers arrive in order, once each; the answer is the version
 * that took the call. The state (the counts, the last sequence number per
 * driver and BALLAST bytes of other data) must survive a swap.
 *
 *   VERSION 1  the first version; offers its state through wv_state_export
 *   VERSION 2  an extra variable: state moves by symbol
 *   VERSION 3  the counts moved into a struct: state moves through
 *              wv_state_import (with -DREFUSE, the import refuses)
 *   VERSION 4  the same data as version 1, different code: by reference
 *   VERSION 5  version 1 whose `tick` is a double: same name and size, and
 *              the debug information tells them apart
 */
#include <string.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION 1
#endif
#ifndef BALLAST
#define BALLAST (1 << 20)
#endif
#define MAXD 64

/* A client's function, called back from inside (re-entrant calls); weak:
 * clients need not define it. */
extern long driver_echo(long seq) __attribute__((weak));

struct exported {
    long calls;
    long misordered;
    long last_seq[MAXD];
};

long last_seq[MAXD];
unsigned char ballast[BALLAST];
#if VERSION == 5
double tick = 0.5;
#else
long tick = 1;
#endif

#if VERSION == 3
struct stats {
    char label[24];
    long long calls;
    long long misordered;
} st = {"version 3", 0, 0};
#define CALLS st.calls
#define MISORDERED st.misordered

int wv_state_import(const void *buf, unsigned long len) {
#ifdef REFUSE
    (void)buf;
    (void)len;
    return 7;
#else
    const struct exported *o = buf;
    if (len != sizeof *o)
        return 1;
    st.calls = o->calls;
    st.misordered = o->misordered;
    memcpy(last_seq, o->last_seq, sizeof last_seq);
    return 0;
#endif
}
#else
long calls;
long misordered;
#define CALLS calls
#define MISORDERED misordered
#if VERSION == 2
long only_in_v2 = 2;
#endif

unsigned long wv_state_export(void *buf, unsigned long cap) {
    struct exported o;
    o.calls = calls;
    o.misordered = misordered;
    memcpy(o.last_seq, last_seq, sizeof last_seq);
    if (cap >= sizeof o)
        memcpy(buf, &o, sizeof o);
    return sizeof o;
}
#endif

int sc_version(void) { return VERSION + 0 * (int)tick; }

long sc_call(int driver, long seq) {
    __atomic_fetch_add(&CALLS, 1, __ATOMIC_RELAXED);
    if (driver >= 0 && driver < MAXD) {
        if (last_seq[driver] + 1 != seq)
            __atomic_fetch_add(&MISORDERED, 1, __ATOMIC_RELAXED);
        last_seq[driver] = seq;
    }
    ballast[(unsigned long)seq % BALLAST] ^= 1;
    /* Now and then, call out to the client, which calls back in. */
    if (driver_echo && seq % 64 == 0 && driver_echo(seq) != VERSION)
        return -1;
    return VERSION;
}

/* Sleeps inside the bead (a string parked inside it). */
int sc_nap(int ms) {
    usleep((useconds_t)ms * 1000);
    return VERSION;
}

long sc_calls(void) { return CALLS; }
long sc_misordered(void) { return MISORDERED; }
