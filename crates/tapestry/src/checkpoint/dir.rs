//! A checkpoint directory: checked before a run relies on it, and cleared
//! of what killed writers left.
//!
//! An image is written as `.ckpt-NNNNNN.wvimg.tmpPID` beside its final name
//! and renamed once synced (`weaves_snapshot::write_image`), so a writer
//! killed with SIGKILL leaves only such a temporary, never a half image
//! under an image's name. The temporary carries its writer's process id:
//! whoever next uses the directory removes the temporaries whose writer is
//! gone (or is itself: a process writes one image at a time, on the thread
//! that runs its tapestry, and never while it prepares a directory).

use std::path::Path;

use super::{PREFIX, SUFFIX};
use crate::config::Plan;
use crate::error::TapestryError;

/// The probe file that shows a directory takes files (same naming as an
/// image's temporary, so a killed prober's is cleared the same way).
const PROBE: &str = "weaves-probe";

/// Refuses, before anything runs, a `[checkpoint] dir` that cannot take
/// images (not creatable, not a directory, not writable, full), in one line
/// naming the tapestry file and the line of `dir`; removes the temporaries
/// killed writers left there.
pub fn prepare_configured_dir(plan: &Plan) -> Result<(), TapestryError> {
    let Some(c) = &plan.checkpoint else {
        return Ok(());
    };
    let Some(dir) = &c.dir else { return Ok(()) };
    prepare_dir(dir).map_err(|why| TapestryError::Config {
        path: plan.path.clone(),
        message: format!(
            "line {}: [checkpoint] dir {}: {why}",
            c.dir_line,
            dir.display()
        ),
    })
}

/// Makes `dir` ready for images: created if missing, checked to be a
/// directory that takes a synced file, and cleared of stale temporaries.
/// The error says why not.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => "it is not a directory".to_owned(),
        _ => format!("cannot create it: {e}"),
    })?;
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    remove_stale_temporaries(dir);
    // Writability by doing it: permission bits say nothing for root, or on
    // a read-only mount, or with an immutable attribute, or on a full disk.
    let probe = dir.join(format!(".{PROBE}.tmp{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()
    })();
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| format!("cannot write images into it: {e}"))
}

/// Removes the image temporaries (and probes) in `dir` whose writer is no
/// longer running; returns how many.
pub(crate) fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(temporary_writer) else {
            continue;
        };
        if writer_gone(pid) && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The writer's pid if `name` is an image's temporary or a probe:
/// `.ckpt-NNNNNN.wvimg.tmpPID` or `.weaves-probe.tmpPID`.
fn temporary_writer(name: &str) -> Option<u32> {
    let (target, pid) = name.strip_prefix('.')?.rsplit_once(".tmp")?;
    let ours = target == PROBE
        || target
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !ours || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether the process `pid` that wrote a temporary can no longer be
/// writing it: it has ended, or it is this process (which is not writing
/// now).
fn writer_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_name() {
        assert_eq!(temporary_writer(".ckpt-000001.wvimg.tmp4242"), Some(4242));
        assert_eq!(temporary_writer(".weaves-probe.tmp7"), Some(7));
        // Not ours, or not a temporary: left alone.
        assert_eq!(temporary_writer("ckpt-000001.wvimg"), None);
        assert_eq!(temporary_writer(".notes.tmp12"), None);
        assert_eq!(temporary_writer(".ckpt-000001.wvimg.tmp"), None);
        assert_eq!(temporary_writer(".ckpt-000001.wvimg.tmp12x"), None);
        assert_eq!(temporary_writer(".ckpt-.wvimg.tmp12"), None);
    }

    #[test]
    fn stale_temporaries_go_and_live_writers_keep_theirs() {
        let dir = std::env::temp_dir().join(format!("weaves-ckpt-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        prepare_dir(&dir).unwrap();
        // A process that has ended, and one that runs (our parent).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::os::unix::process::parent_id();
        for (name, _) in [
            (format!(".ckpt-000001.wvimg.tmp{dead}"), ()),
            (format!(".ckpt-000002.wvimg.tmp{live}"), ()),
            (format!(".weaves-probe.tmp{dead}"), ()),
            (".notes.tmp1".to_owned(), ()),
        ] {
            std::fs::write(dir.join(name), b"partial").unwrap();
        }
        assert_eq!(remove_stale_temporaries(&dir), 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!(".ckpt-000002.wvimg.tmp{live}"),
                ".notes.tmp1".to_owned()
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
