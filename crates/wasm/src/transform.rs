//! The load-time transform that makes a running Wasm computation
//! capturable: Binaryen's Asyncify (`wasm-opt --asyncify`), invoked by the
//! runtime, with `weaves.wv_reconfig_point` as the only call that unwinds,
//! then every mutable global exported (as `__wv_global_N`) so that any
//! engine can read and set them.
//!
//! The result is cached by the hash of the module's bytes and the
//! `wasm-opt` version, under `$XDG_CACHE_HOME/weaves/wasm` (or
//! `~/.cache/weaves/wasm`, or the temporary directory).

use std::path::PathBuf;
use std::process::Command;

use wasmparser::{Parser, Payload};

/// The prefix of the exports the transform adds for mutable globals.
pub const GLOBAL_EXPORT: &str = "__wv_global_";

/// Returns the module, made capturable at its reconfiguration points.
pub fn asyncify(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let version = Command::new("wasm-opt")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run wasm-opt (Binaryen), which makes Wasm modules with reconfiguration points capturable: {e} (Debian: apt-get install binaryen)"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let key = format!(
        "{:016x}{:016x}",
        fnv(bytes, 0xcbf2_9ce4_8422_2325),
        fnv(version.as_bytes(), fnv(bytes, 0x6c62_272e_07bb_0142))
    );
    let dir = cache_dir();
    let cached = dir.join(format!("{key}.wasm"));
    if let Ok(b) = std::fs::read(&cached) {
        if crate::module::is_wasm(&b) {
            return Ok(b);
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Names of this call's own: threads of one process may transform the
    // same module at once (each then renames its result into place).
    let unique = unique_suffix();
    let tmp_in = dir.join(format!("{key}.{unique}.in.wasm"));
    let tmp_out = dir.join(format!("{key}.{unique}.out.wasm"));
    std::fs::write(&tmp_in, bytes).map_err(|e| format!("{}: {e}", tmp_in.display()))?;
    let out = Command::new("wasm-opt")
        .arg(&tmp_in)
        .args([
            "--asyncify",
            "--pass-arg=asyncify-imports@weaves.wv_reconfig_point",
            // The fuel of the preemption checks is an exported mutable
            // global (every engine the runtime uses has them).
            "--enable-mutable-globals",
            "-O2",
            "-o",
        ])
        .arg(&tmp_out)
        .output();
    let _ = std::fs::remove_file(&tmp_in);
    let out = out.map_err(|e| format!("cannot run wasm-opt: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp_out);
        return Err(format!(
            "wasm-opt --asyncify failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ));
    }
    let transformed = std::fs::read(&tmp_out).map_err(|e| format!("{}: {e}", tmp_out.display()));
    let _ = std::fs::remove_file(&tmp_out);
    let result = export_mutable_globals(&transformed?)?;
    // Verified before it is cached or used.
    wasmparser::Validator::new()
        .validate_all(&result)
        .map_err(|e| format!("the transformed module does not validate: {e}"))?;
    let tmp = dir.join(format!("{key}.{unique}.tmp"));
    if std::fs::write(&tmp, &result).is_ok() {
        let _ = std::fs::rename(&tmp, &cached);
    }
    Ok(result)
}

/// This process and a counter: a name no other call uses.
fn unique_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("weaves").join("wasm")
}

/// FNV-1a, 64 bits, from `seed`.
fn fnv(bytes: &[u8], seed: u64) -> u64 {
    bytes
        .iter()
        .fold(seed, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn leb(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Adds an export `__wv_global_N` for every mutable global `N` the module
/// defines, rewriting (or adding) the export section.
pub fn export_mutable_globals(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |e: wasmparser::BinaryReaderError| format!("transform: {e}");
    let mut imported_globals = 0u32;
    let mut mutable: Vec<u32> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    if matches!(imp.map_err(bad)?.ty, wasmparser::TypeRef::Global(_)) {
                        imported_globals += 1;
                    }
                }
            }
            Payload::GlobalSection(r) => {
                for (k, g) in r.into_iter().enumerate() {
                    if g.map_err(bad)?.ty.mutable {
                        mutable.push(imported_globals + k as u32);
                    }
                }
            }
            _ => {}
        }
    }
    let exports: Vec<(String, u8, u32)> = mutable
        .iter()
        .map(|&g| (format!("{GLOBAL_EXPORT}{g}"), 0x03, g))
        .collect();
    add_exports(bytes, &exports)
}

/// Adds exports `(name, kind, index)` (kind as the binary format codes it:
/// 0 function, 3 global), rewriting (or adding) the export section.
pub(crate) fn add_exports(bytes: &[u8], added: &[(String, u8, u32)]) -> Result<Vec<u8>, String> {
    let bad = |e: wasmparser::BinaryReaderError| format!("transform: {e}");
    // (section start incl. id byte, section end) of the export section.
    let mut export_section: Option<(usize, usize)> = None;
    let mut exports: Vec<u8> = Vec::new();
    let mut export_count = 0u32;
    // Where a new export section would go: after the global section (or
    // whatever precedes exports).
    let mut insert_at = 8usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::ImportSection(r) => insert_at = r.range().end,
            Payload::TypeSection(r) => insert_at = r.range().end,
            Payload::FunctionSection(r) => insert_at = r.range().end,
            Payload::TableSection(r) => insert_at = r.range().end,
            Payload::MemorySection(r) => insert_at = r.range().end,
            Payload::TagSection(r) => insert_at = r.range().end,
            Payload::GlobalSection(r) => insert_at = r.range().end,
            Payload::ExportSection(r) => {
                let range = r.range();
                // The section's id and size precede its contents.
                let start = section_start(bytes, range.start);
                export_section = Some((start, range.end));
                export_count = r.count();
                // Contents after the count.
                let mut rd =
                    wasmparser::BinaryReader::new(&bytes[range.start..range.end], range.start);
                rd.read_var_u32().map_err(bad)?;
                exports.extend_from_slice(&bytes[rd.original_position()..range.end]);
            }
            _ => {}
        }
    }
    for (name, kind, index) in added {
        leb(name.len() as u32, &mut exports);
        exports.extend_from_slice(name.as_bytes());
        exports.push(*kind);
        leb(*index, &mut exports);
    }
    let mut contents = Vec::new();
    leb(export_count + added.len() as u32, &mut contents);
    contents.extend_from_slice(&exports);
    let mut section = vec![7u8];
    leb(contents.len() as u32, &mut section);
    section.extend_from_slice(&contents);
    let (cut_start, cut_end) = export_section.unwrap_or((insert_at, insert_at));
    let mut out = Vec::with_capacity(bytes.len() + section.len());
    out.extend_from_slice(&bytes[..cut_start]);
    out.extend_from_slice(&section);
    out.extend_from_slice(&bytes[cut_end..]);
    Ok(out)
}

/// The offset of the id byte of the section whose contents start at
/// `contents`: walk the sections from the header.
fn section_start(bytes: &[u8], contents: usize) -> usize {
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        at += 1;
        let (size, n) = read_leb(&bytes[at..]);
        at += n;
        if at == contents {
            return start;
        }
        at += size as usize;
    }
    contents
}

fn read_leb(b: &[u8]) -> (u32, usize) {
    let mut v = 0u32;
    for (i, &byte) in b.iter().enumerate().take(5) {
        v |= ((byte & 0x7f) as u32) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, b.len().min(5))
}
