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

#ifdef __cplusplus
}
#endif

#endif /* WEAVES_H */
