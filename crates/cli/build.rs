//! Exports the runtime's interposed symbols from the `weaves` executable, so
//! that the system loader binds every shared library (libc's own `fopen`,
//! libstdc++'s `operator new`, libgfortran's `STOP`) to them. The list must
//! match `weaves_interpose::GLOBAL_EXPORTS` (`tests/exports.rs` checks it, and
//! that the built binary exports each one).

const EXPORTS: &[&str] = &[
    "malloc",
    "free",
    "calloc",
    "realloc",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "exit",
    "dl_iterate_phdr",
    "_dl_find_object",
    "signal",
];

fn main() {
    for name in EXPORTS {
        println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={name}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
