/* The runtime's calls for C modules built to WebAssembly (wasm32-wasi).
 *
 * Built natively, the same calls are no-ops (wv_engine returns -1), so one
 * source runs both ways. */
#ifndef WEAVES_WASM_H
#define WEAVES_WASM_H

#ifdef __wasm__
#define WV_WASM_IMPORT(name) __attribute__((import_module("weaves"), import_name(#name)))

/* A reconfiguration point: a string asked to move to another engine
 * (`weaves migrate`) is captured here, with its whole call stack, and
 * resumed here under the other engine. `name` says which point (for
 * diagnostics). */
WV_WASM_IMPORT(wv_reconfig_point) void wv_reconfig_point(const char *name);
/* Lets other strings run. */
WV_WASM_IMPORT(wv_yield) void wv_yield(void);
/* The engine running the string now: 0 wasmtime, 1 wasmi. */
WV_WASM_IMPORT(wv_engine) int wv_engine(void);
#else
static inline void wv_reconfig_point(const char *name) { (void)name; }
static inline void wv_yield(void) {}
static inline int wv_engine(void) { return -1; }
#endif

#endif
