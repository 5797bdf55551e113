//! `weaves demo`: build the bundled example modules with the system C
//! compiler and run the showcase tapestry.
//!
//! The sources are compiled into the binary, so the demo works from any
//! directory; they are written to a cache directory (`--dir`, or
//! `$XDG_CACHE_HOME/weaves/demo`, or `~/.cache/weaves/demo`) and built there
//! with `$CC` (default `cc`).

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: &[(&str, &str)] = &[
    ("weaves.h", include_str!("../../../include/weaves.h")),
    (
        "netstack.c",
        include_str!("../../../examples/demo/netstack.c"),
    ),
    ("app.c", include_str!("../../../examples/demo/app.c")),
    (
        "demo.toml",
        include_str!("../../../examples/demo/demo.toml"),
    ),
];

const MODULES: &[(&str, &str)] = &[("netstack.c", "netstack.so"), ("app.c", "app.so")];

fn cache_dir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("weaves/demo"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/weaves/demo")),
        None => Err("no cache directory: set HOME or XDG_CACHE_HOME, or pass --dir".into()),
    }
}

fn build(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    for (name, text) in FILES {
        let p = dir.join(name);
        if std::fs::read_to_string(&p).ok().as_deref() != Some(*text) {
            std::fs::write(&p, text).map_err(|e| format!("{}: cannot write: {e}", p.display()))?;
        }
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for (src, out) in MODULES {
        eprintln!(
            "weaves demo: {cc} -O2 -fPIC -shared {src} -o {out}   (in {})",
            dir.display()
        );
        let status = Command::new(&cc)
            .current_dir(dir)
            .args(["-O2", "-fPIC", "-shared", "-I.", src, "-o", out])
            .status()
            .map_err(|e| {
                format!("cannot run the C compiler `{cc}`: {e} (install gcc, or set CC)")
            })?;
        if !status.success() {
            return Err(format!("`{cc}` failed to build {src} in {}", dir.display()));
        }
    }
    Ok(())
}

pub(crate) fn run(dir: Option<PathBuf>) -> Result<i32, String> {
    let dir = match dir {
        Some(d) => d,
        None => cache_dir()?,
    };
    build(&dir)?;
    let tapestry = dir.join("demo.toml");
    eprintln!("weaves demo: weaves run {}", tapestry.display());
    eprintln!("weaves demo: app0 and app1 share one stack bead, app2 has its own; packets_total is one variable shared by both stacks");
    crate::run(&tapestry, false)
}
