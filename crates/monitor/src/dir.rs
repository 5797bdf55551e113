//! Where control sockets live.
//!
//! `$WEAVES_RUNTIME_DIR` if set (tests use it to keep runs apart), else
//! `$XDG_RUNTIME_DIR/weaves/` when the session has a runtime directory,
//! else `/tmp/weaves-$UID/`. The directory is created with mode 0700 and
//! refused if another user owns it or others may enter it: a control socket
//! can change what a running tapestry does, so only its owner may reach it.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::MonitorError;

/// The control-socket directory of this user, created if missing.
pub fn socket_dir() -> Result<PathBuf, MonitorError> {
    let dir = if let Some(d) = std::env::var_os("WEAVES_RUNTIME_DIR") {
        PathBuf::from(d)
    } else {
        match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(x) if x.is_absolute() && x.is_dir() => x.join("weaves"),
            _ => PathBuf::from(format!("/tmp/weaves-{}", uid())),
        }
    };
    ensure_private(&dir)?;
    Ok(dir)
}

/// The socket of the tapestry run by process `pid`.
pub fn socket_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.sock"))
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn ensure_private(dir: &Path) -> Result<(), MonitorError> {
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
    let meta = std::fs::symlink_metadata(dir).map_err(|e| {
        MonitorError::Dir(format!(
            "cannot read the control-socket directory {}: {e}",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(MonitorError::Dir(format!(
            "the control-socket directory {} is not a directory",
            dir.display()
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
