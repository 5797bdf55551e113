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
    let modules: Vec<(&str, &str, &[&str])> =
        modules.iter().map(|&(s, o)| (s, o, &[][..])).collect();
    build_with(dir, files, &modules, quiet)
}

/// Like [`build`], with extra compiler arguments per module. A module is
/// compiled only when it is missing or older than a file of `files` (the
/// sources are rewritten only when their text changed), into a temporary
/// file renamed into place, so concurrent runs never see half a module.
pub(crate) fn build_with(
    dir: &Path,
    files: &[(&str, &str)],
    modules: &[(&str, &str, &[&str])],
    quiet: bool,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for (name, text) in files {
        let p = dir.join(name);
        if std::fs::read_to_string(&p).ok().as_deref() != Some(*text) {
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, &p))
                .map_err(|e| format!("{}: cannot write: {e}", p.display()))?;
        }
        if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified()) {
            newest = newest.max(t);
        }
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for (src, out, extra) in modules {
        let target = dir.join(out);
        let fresh = std::fs::metadata(&target)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= newest);
        if fresh {
            continue;
        }
        let line = format!(
            "{cc} -O2 -fPIC -shared {} {src} -o {out}   (in {}, once)",
            extra.join(" "),
            dir.display()
        );
        // Quiet builds (the MPI library) say so on a terminal, where the
        // pause would otherwise be unexplained, and with -v anywhere.
        if !quiet || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            tracing::info!("{line}");
        } else {
            tracing::debug!("{line}");
        }
        let tmp = format!(".{out}.{}", std::process::id());
        let status = Command::new(&cc)
            .current_dir(dir)
            .args(["-O2", "-fPIC", "-shared", "-I."])
            .args(extra.iter())
            .args([src, "-o", &tmp])
            .status()
            .map_err(|e| {
                format!("cannot run the C compiler `{cc}`: {e} (install gcc, or set CC)")
            })?;
        if !status.success() {
            let _ = std::fs::remove_file(dir.join(&tmp));
            return Err(format!("`{cc}` failed to build {src} in {}", dir.display()));
        }
        std::fs::rename(dir.join(&tmp), &target)
            .map_err(|e| format!("{}: cannot write: {e}", target.display()))?;
    }
    Ok(())
}
