//! `weaves bench checkpoint`: what a checkpoint costs.
//!
//! A bead fills a heap of N MiB (default 256) and asks for a checkpoint
//! (`wv_checkpoint`): the first image is full. Its pause (strings at rest
//! while memory is copied) is set against a plain `memcpy` of the same
//! bytes into fresh memory, and its total (written and synced) against the
//! bytes written. Then the bead changes 0.1 %, 1 %, 10 % and 50 % of its
//! pages, checkpointing after each: incremental images, whose pause and
//! size follow what changed.

use std::path::Path;
use std::time::Instant;

use weaves_tapestry::{Plan, Taken, Tapestry};

use crate::build_c;

const FRACTIONS: [f64; 4] = [0.001, 0.01, 0.1, 0.5];

pub(crate) fn checkpoint(json: bool, mib: Option<u64>) -> Result<i32, String> {
    let mib = mib.unwrap_or(256).clamp(1, 16 << 10);
    let dir = build_c::cache_dir("bench")?;
    build_c::build(
        &dir,
        &[(
            "ckpt_heap.c",
            include_str!("../../../examples/bench/ckpt_heap.c"),
        )],
        &[("ckpt_heap.c", "ckpt_heap.so")],
        true,
    )?;
    // The baseline first, before the run fills the page cache: the best
    // of three copies of the heap's size.
    let memcpy_ms = (0..3)
        .map(|_| memcpy_ms((mib as usize) << 20))
        .fold(f64::INFINITY, f64::min);
    let images = dir.join(format!("ckpt-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&images);
    let result = run(&dir, &images, mib);
    let _ = std::fs::remove_dir_all(&images);
    let taken = result?;
    let [full, deltas @ ..] = taken.as_slice() else {
        return Err("the benchmark took no checkpoint".into());
    };
    if deltas.len() != FRACTIONS.len() {
        return Err(format!(
            "the benchmark took {} checkpoints, not {}",
            taken.len(),
            FRACTIONS.len() + 1
        ));
    }
    let gb = |bytes: u64, ms: f64| bytes as f64 / 1e9 / (ms / 1e3).max(1e-9);
    let copied = (mib << 20).min(full.pages * 4096);
    let pause_ms = full.pause_us as f64 / 1e3;
    if json {
        let incremental: Vec<serde_json::Value> = FRACTIONS
            .iter()
            .zip(deltas)
            .map(|(f, d)| {
                serde_json::json!({
                    "dirty_fraction": f,
                    "pages": d.pages,
                    "bytes": d.bytes,
                    "pause_ms": d.pause_us as f64 / 1e3,
                    "total_ms": d.total_ms,
                    "incremental": d.incremental,
                })
            })
            .collect();
        let v = serde_json::json!({
            "mib": mib,
            "full": {
                "pages": full.pages,
                "bytes": full.bytes,
                "pause_ms": pause_ms,
                "total_ms": full.total_ms,
                "pause_gbps": gb(copied, pause_ms),
                "write_gbps": gb(full.bytes, full.total_ms),
            },
            "memcpy_ms": memcpy_ms,
            "memcpy_gbps": gb(copied, memcpy_ms),
            "pause_vs_memcpy": pause_ms / memcpy_ms.max(1e-9),
            "incremental": incremental,
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(0);
    }
    outln!(
        "checkpoint of a {mib} MiB heap ({} pages in the image):",
        full.pages
    );
    outln!(
        "  full:   strings paused {pause_ms:.1} ms ({:.2} GB/s); written and synced in {:.1} ms \
         ({:.2} GB/s)",
        gb(copied, pause_ms),
        full.total_ms,
        gb(full.bytes, full.total_ms),
    );
    outln!(
        "  memcpy of the same bytes into fresh memory: {memcpy_ms:.1} ms ({:.2} GB/s); \
         pause / memcpy = {:.2}",
        gb(copied, memcpy_ms),
        pause_ms / memcpy_ms.max(1e-9)
    );
    outln!("  incremental, by fraction of pages changed:");
    for (f, d) in FRACTIONS.iter().zip(deltas) {
        outln!(
            "    {:>5.1} %: {:>7} pages, image {:>9.2} MB, paused {:>7.2} ms ({:>5.1} % of full), \
             {:.1} ms in all",
            f * 100.0,
            d.pages,
            d.bytes as f64 / 1e6,
            d.pause_us as f64 / 1e3,
            d.pause_us as f64 * 100.0 / full.pause_us.max(1) as f64,
            d.total_ms,
        );
    }
    Ok(0)
}

/// Runs the heap bead with checkpoints into `images`; the figures of each.
fn run(dir: &Path, images: &Path, mib: u64) -> Result<Vec<Taken>, String> {
    let fractions: Vec<String> = FRACTIONS.iter().map(|f| format!("\"{f}\"")).collect();
    let text = format!(
        r#"
[tapestry]
name = "bench-checkpoint"
workers = 1

[checkpoint]
dir = "{}"
keep = 8

[[module]]
name = "heap"
path = "{}"

[[bead]]
name = "heap"
module = "heap"

[[weave]]
name = "w"
beads = ["heap"]

[[string]]
weave = "w"
entry = "heap_main"
args = ["heap", "{mib}", {}]
"#,
        images.display(),
        dir.join("ckpt_heap.so").display(),
        fractions.join(", ")
    );
    let plan = Plan::parse(&dir.join("bench-checkpoint.toml"), &text).map_err(|e| e.to_string())?;
    let mut t = Tapestry::build(plan).map_err(|e| e.to_string())?;
    let report = t.run().map_err(|e| e.to_string())?;
    if report.exit_status() != 0 {
        return Err("the benchmark's bead failed (out of memory?)".into());
    }
    Ok(report.checkpoints)
}

/// Milliseconds to copy `bytes` from touched memory into fresh memory (the
/// page faults of the destination included, as a checkpoint's copy has
/// them).
fn memcpy_ms(bytes: usize) -> f64 {
    let src = vec![0x5au8; bytes];
    let start = Instant::now();
    let mut dst: Vec<u8> = Vec::with_capacity(bytes);
    dst.extend_from_slice(&src);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    std::hint::black_box(&dst);
    ms
}
