//! Compiles the few interposed C library functions that take variable
//! arguments (`error`, `err`, `warn` and their kin), which stable Rust
//! cannot define.

fn main() {
    println!("cargo:rerun-if-changed=c/diagnostics.c");
    cc::Build::new()
        .file("c/diagnostics.c")
        .warnings(true)
        .compile("weaves_diagnostics");
}
