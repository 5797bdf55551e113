//! Building bundled C sources into modules, in a cache directory, with the
//! system C compiler (`$CC`, default `cc`). Used by `weaves demo` and the
//! built-in benchmarks, so both work from any directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$XDG_CACHE_HOME/weaves/NAME`, or `~/.cache/weaves/NAME`.
pub(crate) fn cache_dir(name: &str) -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("weaves").join(name));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/weaves").join(name)),
        None => Err("no cache directory: set HOME or XDG_CACHE_HOME, or pass --dir".into()),
    }
}

/// Writes `files` (name, contents) into `dir` and compiles each
/// (source, output) of `modules` as a `-fPIC -shared` module there.
pub(crate) fn build(
    dir: &Path,
    files: &[(&str, &str)],
    modules: &[(&str, &str)],
    quiet: bool,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    for (name, text) in files {
        let p = dir.join(name);
        if std::fs::read_to_string(&p).ok().as_deref() != Some(*text) {
            std::fs::write(&p, text).map_err(|e| format!("{}: cannot write: {e}", p.display()))?;
        }
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for (src, out) in modules {
        if !quiet {
            eprintln!(
                "weaves: {cc} -O2 -fPIC -shared {src} -o {out}   (in {})",
                dir.display()
            );
        }
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
