//! `weaves demo`: build the bundled example modules with the system C
//! compiler and run the showcase tapestry.
//!
//! The sources are compiled into the binary, so the demo works from any
//! directory; they are written to a cache directory (`--dir`, or
//! `$XDG_CACHE_HOME/weaves/demo`, or `~/.cache/weaves/demo`) and built there
//! with `$CC` (default `cc`).

use std::path::PathBuf;

use crate::build_c;

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

pub(crate) fn run(dir: Option<PathBuf>) -> Result<i32, String> {
    let dir = match dir {
        Some(d) => d,
        None => build_c::cache_dir("demo")?,
    };
    build_c::build(&dir, FILES, MODULES, false)?;
    let tapestry = dir.join("demo.toml");
    eprintln!("weaves demo: weaves run {}", tapestry.display());
    eprintln!("weaves demo: app0 and app1 share one stack bead, app2 has its own; packets_total is one variable shared by both stacks");
    crate::run(&tapestry, false, false, None)
}
