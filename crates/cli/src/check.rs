//! `weaves check TAPESTRY [--json]`: parse, load, map, bind and relocate
//! everything a run would, resolve every string's entry, report, and run
//! nothing.

use std::path::Path;

use weaves_tapestry::{Plan, Tapestry, TapestryError};

use crate::exit;

/// `weaves check TAPESTRY [--json]`: 0 if `weaves run` would start it, 1
/// (with what is wrong on stderr, or in the JSON) if it would refuse it.
pub(crate) fn check(path: &Path, json: bool) -> Result<i32, String> {
    let result = Plan::load(path).and_then(Tapestry::check);
    let file = path.display().to_string();
    let (errors, warnings) = match &result {
        Ok(_) => (Vec::new(), Vec::new()),
        Err(e) => findings(&file, e),
    };
    if json {
        let counts = result.as_ref().ok();
        let report = serde_json::json!({
            "file": file,
            "ok": result.is_ok(),
            "modules": counts.map(|c| c.modules),
            "beads": counts.map(|c| c.beads),
            "weaves": counts.map(|c| c.weaves),
            "strings": counts.map(|c| c.strings),
            "errors": errors,
            "warnings": warnings,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        for w in &warnings {
            eprintln!("weaves: warning: {w}");
        }
        for e in &errors {
            eprintln!("weaves: {e}");
        }
        if let Ok(c) = &result {
            println!(
                "{file}: ok: {}, {}, {}, {}{}; every import binds and every entry is found",
                plural(c.modules, "module"),
                plural(c.beads, "bead"),
                plural(c.weaves, "weave"),
                plural(c.strings, "string"),
                match c.tuple_spaces + c.bindings {
                    0 => String::new(),
                    _ => format!(
                        ", {}, {}",
                        plural(c.tuple_spaces, "tuple space"),
                        plural(c.bindings, "message binding")
                    ),
                }
            );
        }
    }
    Ok(match result {
        Ok(_) => 0,
        Err(_) => i32::from(exit::CHECK_FAILED),
    })
}

/// The error lines and warning lines for what `weaves run` would refuse.
/// Symbols that are only called (functions reached through the PLT) are
/// warnings: a native run would bind them lazily and fail only at their
/// first call. weaves binds every import before any bead code runs, so a
/// tapestry with either kind is refused.
fn findings(file: &str, e: &TapestryError) -> (Vec<String>, Vec<String>) {
    let TapestryError::Unresolved(all) = e else {
        return (vec![e.to_string()], Vec::new());
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for u in all {
        let pick = |functions: bool| -> Vec<&str> {
            u.symbols
                .iter()
                .zip(&u.functions)
                .filter(|(_, f)| **f == functions)
                .map(|(s, _)| s.as_str())
                .collect()
        };
        let (called, read) = (pick(true), pick(false));
        let bead = format!("bead `{}` ({})", u.bead, u.module.display());
        if !read.is_empty() {
            errors.push(format!(
                "{file}: {bead} needs data symbols nothing defines: {}",
                read.join(", ")
            ));
        }
        if !called.is_empty() {
            warnings.push(format!(
                "{file}: {bead} calls functions nothing defines: {} (a native run would fail at the first call; weaves binds every import before bead code runs, so it refuses them)",
                called.join(", ")
            ));
        }
    }
    if errors.is_empty() {
        errors.push(format!(
            "{file}: `weaves run` refuses a tapestry with unresolved symbols"
        ));
    }
    (errors, warnings)
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
