/*
 * weaves.h: the C API for weave-aware modules.
 *
 * Unmodified modules never need this header. A module that wants to know
 * where it runs, or to cooperate with the runtime, declares these functions
 * and leaves them undefined: the runtime binds them when the module is
 * loaded as a bead.
 */
#ifndef WEAVES_H
#define WEAVES_H

#ifdef __cplusplus
extern "C" {
#endif

/* Id of the string running the caller (1, 2, ... in declaration order);
 * 0 outside strings (bead initialisers and finalisers). */
int wv_string_id(void);

/* Name of the bead whose code calls this function (the caller's own bead,
 * as named in the tapestry), found from the return address: called in tail
 * position (`return wv_bead_name();` compiled to a jump) it names the bead
 * the caller returns to. Valid for the life of the process. */
const char *wv_bead_name(void);

/* Name of the weave the running string belongs to; NULL outside strings. */
const char *wv_weave_name(void);

/* Let other strings run. */
void wv_yield(void);

/* 1 if the caller's worker has another string ready to run: a loop polling
 * for another string's progress yields when this says so and spins
 * otherwise. 0 outside strings. */
int wv_others_ready(void);

/* Start a string in the weave named WEAVE of the running tapestry, running
 * ENTRY ("symbol", or "bead:symbol" to pick the bead) as
 * int entry(int argc, char **argv) with ARGV (NULL-terminated; NULL means
 * just ENTRY's name). The string runs alongside the caller. Returns its id
 * (as wv_string_id() will say inside it), or -1 with errno ENOENT (no such
 * weave or entry; the reason goes to stderr), EINVAL or ENOTSUP (no
 * tapestry is running). */
int wv_spawn(const char *weave, const char *entry, char *const argv[]);

/* Take a checkpoint of the running tapestry (into its [checkpoint] dir)
 * with every string at rest. Returns 0 once it is taken, -1 if it could not
 * be (the reason goes to stderr), and 1 when execution resumes from it in a
 * process restored with `weaves restore` (like fork or setjmp). The
 * tapestry must be checkpointable (`weaves run --checkpointable` or a
 * [checkpoint] table). */
int wv_checkpoint(void);

/* Rolls the whole tapestry back to its latest checkpoint (the newest image
 * this run took, on disk or, without a [checkpoint] dir, in memory; or the
 * image it was restored from): every string goes back to where it was, and
 * the wv_checkpoint() call that took the image returns 1 again. Does not
 * return when it succeeds; returns -1 (the reason printed on stderr) when
 * there is no checkpoint or the tapestry cannot be checkpointed. */
int wv_rollback(void);

/* The address of the exported symbol NAME in the running string's home bead
 * (the bead of its entry), or NULL. A bead shared by many strings finds each
 * one's own copy of a variable this way. */
void *wv_lookup(const char *name);

/* Message interfaces (see docs/messages.md). The tapestry's [[binding]]s
 * connect an out-interface "bead.iface" to an in-interface "bead.iface";
 * the bead is the caller's own (found from the return address, as for
 * wv_bead_name). */

/* Queue a copy of the LEN bytes at BUF on the in-interface that this
 * bead's out-interface IFACE is bound to; does not wait for a receiver.
 * Returns LEN, or -1 with errno ENOTCONN (IFACE is not bound) or EINVAL. */
long wv_send(const char *iface, const void *buf, unsigned long len);

/* Take the oldest message queued on this bead's in-interface IFACE into
 * BUF, waiting (the string parks; its worker runs others) while there is
 * none. Returns the message's length, or -1 with errno ENOTCONN (nothing is
 * bound to IFACE), EMSGSIZE (the message is longer than CAP; it stays
 * queued) or EINVAL. */
long wv_recv(const char *iface, void *buf, unsigned long cap);

/* Messages queued on this bead's in-interface IFACE, or -1 with errno
 * ENOTCONN or EINVAL. */
long wv_poll(const char *iface);

#ifdef __cplusplus
}
#endif

#endif /* WEAVES_H */
