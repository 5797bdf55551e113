//! `weaves checkpoint`, `weaves restore`, and running with a reproducible
//! address layout.
//!
//! A checkpoint can be restored only into a process whose executable and
//! system libraries sit at the same addresses (strings resume into code by
//! address). So a checkpointable run — `--checkpointable`, or a tapestry
//! with a `[checkpoint]` table — and every restore run with address-space
//! randomisation off: the runtime re-executes itself once with
//! `personality(ADDR_NO_RANDOMIZE)`. That gives up a defence against memory
//! corruption exploits for that process only; ordinary runs keep it.

use std::path::{Path, PathBuf};

use weaves_monitor::Client;

/// Set in the environment of the re-executed process.
const NORANDOM: &str = "WEAVES_NORANDOM";

/// Makes sure this process runs with address randomisation off: if it is
/// on, re-executes the same command line with it off (does not return).
pub(crate) fn ensure_fixed_layout() -> Result<(), String> {
    // SAFETY: querying the personality (0xffffffff changes nothing).
    let current = unsafe { libc::personality(0xffff_ffff) };
    if current >= 0 && current & libc::ADDR_NO_RANDOMIZE != 0 {
        return Ok(());
    }
    if std::env::var_os(NORANDOM).is_some() {
        return Err(
            "cannot turn address randomisation off (personality refused); \
             checkpoints need a reproducible layout"
                .into(),
        );
    }
    // SAFETY: setting the personality for the exec below.
    if unsafe { libc::personality((current.max(0) | libc::ADDR_NO_RANDOMIZE) as u64) } < 0 {
        return Err(format!(
            "cannot turn address randomisation off: {}",
            std::io::Error::last_os_error()
        ));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let err = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(NORANDOM, "1"),
    );
    Err(format!("cannot re-execute with a fixed layout: {err}"))
}

/// `weaves checkpoint ID [-o PATH | --dir DIR] [--full] [--strict] [--json]`.
pub(crate) fn checkpoint(
    id: &str,
    out: Option<&Path>,
    dir: Option<&Path>,
    (strict, full): (bool, bool),
    json: bool,
) -> Result<i32, String> {
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|e| format!("cannot resolve {}: {e}", p.display()))
    };
    let out = out.map(absolute).transpose()?;
    let dir = dir.map(absolute).transpose()?;
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let waiting = spinner(&format!("checkpointing tapestry {id}"));
    let taken = client
        .checkpoint(out.as_deref(), dir.as_deref(), strict, full)
        .map_err(|e| e.to_string());
    if let Some(w) = waiting {
        w.finish_and_clear();
    }
    let taken = taken?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&taken).map_err(|e| e.to_string())?
        );
    } else {
        outln!(
            "checkpoint {}: {}{} bytes ({} pages), strings paused {} µs, {:.1} ms in all",
            taken["path"].as_str().unwrap_or("?"),
            if taken["incremental"] == true {
                "incremental, "
            } else {
                ""
            },
            taken["bytes"],
            taken["pages"],
            taken["pause_us"],
            taken["total_ms"].as_f64().unwrap_or(0.0),
        );
        if let Some(u) = taken["unrestorable"].as_array().filter(|u| !u.is_empty()) {
            let list: Vec<&str> = u.iter().filter_map(|x| x.as_str()).collect();
            outln!("not restorable: {}", list.join(", "));
        }
    }
    Ok(0)
}

/// The image `path` names: itself, or the newest complete image of a
/// checkpoint directory.
fn image_path(path: &Path) -> Result<PathBuf, String> {
    if !path.is_dir() {
        return Ok(path.to_owned());
    }
    weaves_tapestry::checkpoint::images_in(path)
        .map_err(|e| format!("cannot list {}: {e}", path.display()))?
        .pop()
        .ok_or_else(|| format!("{} holds no checkpoint image", path.display()))
}

/// `weaves restore PATH`: rebuilds the tapestry of an image in this
/// process and runs it on from where it was.
pub(crate) fn restore(
    path: &Path,
    stats: bool,
    engine: Option<&str>,
    started_at_ms: Option<u64>,
) -> Result<i32, String> {
    let engine = engine
        .map(weaves_tapestry::wasm::EngineKind::parse)
        .transpose()?;
    let file = image_path(path)?;
    ensure_fixed_layout()?;
    // Everything is read and verified before anything is changed.
    let image = read_with_progress(&file)?;
    let mut restored = weaves_tapestry::Tapestry::restore_with(&image, engine)
        .map_err(|e| format!("restore: {e}"))?;
    drop(image);
    weaves_tapestry::checkpoint::prepare_configured_dir(restored.tapestry.plan())
        .map_err(|e| format!("restore: {e}"))?;
    restored.tapestry.restored_from(&file);
    if let Some(ms) = started_at_ms {
        restored
            .tapestry
            .started_at(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
    }
    for u in &restored.unrestorable {
        tracing::warn!("restore: not restored: {u}");
    }
    let report = restored
        .run_monitored(|view| weaves_monitor::Server::start(view).ok())
        .map_err(|e| e.to_string())?;
    Ok(crate::report_run(
        &report,
        &restored.tapestry,
        stats,
        report.exit_status(),
    ))
}

/// `weaves rollback ID PATH`: rolls the running tapestry back to the image
/// at PATH (or a checkpoint directory's newest).
pub(crate) fn rollback(id: &str, path: &Path) -> Result<i32, String> {
    let path =
        std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let waiting = spinner(&format!("rolling tapestry {id} back"));
    let done = client
        .rollback(&path, std::time::Duration::from_secs(30))
        .map_err(|e| e.to_string());
    if let Some(w) = waiting {
        w.finish_and_clear();
    }
    done?;
    outln!("rolled back to {}", path.display());
    Ok(0)
}

/// Reads (and verifies) the image and the chain it builds on; on a
/// terminal, a large one shows a progress bar on stderr.
fn read_with_progress(file: &Path) -> Result<weaves_snapshot::Image, String> {
    use std::io::IsTerminal;
    const LARGE: u64 = 64 << 20;
    let size = std::fs::metadata(file).map_or(0, |m| m.len());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "weaves: reading {msg} {bytes} ({binary_bytes_per_sec}) {spinner}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(file.display().to_string());
        bar
    });
    let shown = std::cell::Cell::new(size >= LARGE);
    let image = weaves_snapshot::read_chain_with(file, &|done| {
        if let Some(bar) = &bar {
            // Shown once it is worth it: a large image, or a long chain.
            if shown.get() || done >= LARGE {
                shown.set(true);
                bar.set_position(done);
            }
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    image.map_err(|e| e.to_string())
}

/// On a terminal, a spinner on stderr while the tapestry's process does
/// the work (it writes the image; a large one takes a while).
fn spinner(what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("weaves: {msg} {spinner} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}
