//! Where control sockets live.
//!
//! The **configured directory** is `$WEAVES_RUNTIME_DIR` if set (tests use
//! it to keep runs apart), else `$XDG_RUNTIME_DIR/weaves/` when the session
//! has a runtime directory, else `/tmp/weaves-$UID/`. It is created with
//! mode 0700 and used only if it is a real directory (not a symlink) that
//! this user owns and nobody else may enter: a control socket can change
//! what a running tapestry does, so only its owner may reach it.
//!
//! Another local user can pre-create `/tmp/weaves-$UID` (or make it a file,
//! or a symlink) to squat it. That must not switch the monitor off, so a
//! squatted directory is passed over for a **fallback** beside it:
//!
//! ```text
//! /tmp/weaves-1000          squatted: owned by uid 1001, or mode 0777, or a file
//! /tmp/weaves-1000-q3ZxT1   fallback: made by mkdtemp(3), mode 0700, ours
//! ```
//!
//! A fallback is named after the configured directory plus `-` and the six
//! characters `mkdtemp` chose, so nothing needs to record where it is:
//! clients (`weaves ps`, `weaves inspect`, …) look in the configured
//! directory if it passes the checks, and in every sibling named like a
//! fallback that passes them too (a directory, not a symlink, owned by this
//! user, mode without group/other bits). Others can create decoys with such
//! names, but not ones owned by this user. A run reuses the first existing
//! fallback before making one, so a squatted name costs one extra directory,
//! not one per run.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::MonitorError;

/// Where this process serves its control socket.
#[derive(Clone, Debug)]
pub struct ServingDir {
    /// The directory.
    pub path: PathBuf,
    /// Why the configured directory was passed over for this fallback (a
    /// line worth showing the user: someone may be squatting its name).
    pub refused: Option<String>,
}

/// The directory this process serves its control socket in: the configured
/// one, or, if that is squatted, a private fallback beside it.
pub fn socket_dir() -> Result<PathBuf, MonitorError> {
    serving_dir().map(|d| d.path)
}

/// [`socket_dir`], and why the configured directory was passed over if it
/// was.
pub fn serving_dir() -> Result<ServingDir, MonitorError> {
    let configured = configured_dir();
    let refused = match ensure_private(&configured) {
        Ok(()) => {
            return Ok(ServingDir {
                path: configured,
                refused: None,
            })
        }
        Err(e) => e.to_string(),
    };
    let path = match fallbacks_of(&configured).into_iter().next() {
        Some(existing) => existing,
        None => make_fallback(&configured).map_err(|e| {
            MonitorError::Dir(format!(
                "{refused}; and no private directory could be made beside it: {e}"
            ))
        })?,
    };
    Ok(ServingDir {
        path,
        refused: Some(refused),
    })
}

/// Every directory a client should look for sockets in: the configured one
/// if it is private (created if missing), then each private fallback beside
/// it.
pub fn socket_dirs() -> Result<Vec<PathBuf>, MonitorError> {
    let configured = configured_dir();
    let primary = ensure_private(&configured);
    let fallbacks = fallbacks_of(&configured);
    match primary {
        Ok(()) => Ok(std::iter::once(configured).chain(fallbacks).collect()),
        // Squatted: only the fallbacks can hold sockets of ours (none: no
        // tapestry of ours runs).
        Err(_) if !fallbacks.is_empty() || configured.symlink_metadata().is_ok() => Ok(fallbacks),
        Err(e) => Err(e),
    }
}

/// Why the configured directory is passed over, if it is (`weaves ps`
/// says so: someone may be squatting its name).
pub fn refused_dir() -> Option<String> {
    let configured = configured_dir();
    check_private(&configured, false)
        .err()
        .filter(|_| configured.symlink_metadata().is_ok())
        .map(|e| e.to_string())
}

/// The socket of the tapestry run by process `pid`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

fn configured_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WEAVES_RUNTIME_DIR") {
        return PathBuf::from(d);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(x) if x.is_absolute() && x.is_dir() => x.join("weaves"),
        _ => PathBuf::from(format!("/tmp/weaves-{}", uid())),
    }
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Private fallbacks of `configured`, sorted: siblings named
/// `NAME-XXXXXX` that pass [`check_private`].
fn fallbacks_of(configured: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (configured.parent(), configured.file_name()) else {
        return Vec::new();
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| is_fallback_name(name, &e.file_name()))
        .map(|e| e.path())
        .filter(|p| check_private(p, false).is_ok())
        .collect();
    found.sort();
    found
}

/// `NAME-XXXXXX`, the X's as `mkdtemp` makes them.
fn is_fallback_name(name: &OsStr, candidate: &OsStr) -> bool {
    let (name, candidate) = (name.as_bytes(), candidate.as_bytes());
    candidate.len() == name.len() + 7
        && candidate.starts_with(name)
        && candidate[name.len()] == b'-'
        && candidate[name.len() + 1..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// Makes a fresh private directory `CONFIGURED-XXXXXX` with `mkdtemp`.
fn make_fallback(configured: &Path) -> std::io::Result<PathBuf> {
    let mut template = configured.as_os_str().as_bytes().to_vec();
    template.extend_from_slice(b"-XXXXXX");
    let template = CString::new(template)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut bytes = template.into_bytes_with_nul();
    // SAFETY: `bytes` is a NUL-terminated, writable template ending in
    // XXXXXX, which mkdtemp overwrites in place.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    bytes.pop();
    let path = PathBuf::from(OsStr::from_bytes(&bytes));
    // mkdtemp made it 0700 and ours; check anyway, as for any other.
    check_private(&path, false).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(path)
}

/// Creates `dir` (mode 0700) if missing, then checks it.
fn ensure_private(dir: &Path) -> Result<(), MonitorError> {
    check_private(dir, true)
}

fn check_private(dir: &Path, create: bool) -> Result<(), MonitorError> {
    if create {
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(MonitorError::Dir(format!(
                    "cannot create the control-socket directory {}: {e}",
                    dir.display()
                )))
            }
        }
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| {
        MonitorError::Dir(format!(
            "cannot read the control-socket directory {}: {e}",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(MonitorError::Dir(format!(
            "refusing the control-socket directory {}: it is not a directory{}",
            dir.display(),
            if meta.file_type().is_symlink() {
                " (a symlink)"
            } else {
                ""
            }
        )));
    }
    if meta.uid() != uid() {
        return Err(MonitorError::Dir(format!(
            "refusing the control-socket directory {}: it belongs to uid {}, not to this user",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(MonitorError::Dir(format!(
            "refusing the control-socket directory {}: others may enter it (mode {:o}); `chmod 700` it",
            dir.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_names_are_the_configured_name_and_six_characters() {
        let name = OsStr::new("weaves-1");
        assert!(is_fallback_name(name, OsStr::new("weaves-1-Ab3xYz")));
        assert!(!is_fallback_name(name, OsStr::new("weaves-12-Ab3xYz")));
        assert!(!is_fallback_name(name, OsStr::new("weaves-1-Ab3xY")));
        assert!(!is_fallback_name(name, OsStr::new("weaves-1-Ab/../")));
        assert!(!is_fallback_name(name, OsStr::new("weaves-1")));
    }
}
