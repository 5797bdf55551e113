//! `weaves ps` and `weaves inspect`: the monitor's queries, for people
//! (aligned text) and for programs (`--json`).

use weaves_monitor::protocol::{Inspection, Summary};
use weaves_monitor::Client;

/// `weaves ps [--json]`.
pub(crate) fn ps(json: bool) -> Result<i32, String> {
    if let Some(why) = weaves_monitor::refused_dir() {
        eprintln!("weaves: warning: {why}; listing its private fallbacks only");
    }
    let all = weaves_monitor::list().map_err(|e| e.to_string())?;
    if json {
        outln!("{}", to_json(&all)?);
        return Ok(0);
    }
    if all.is_empty() {
        outln!("no running tapestries");
        return Ok(0);
    }
    outln!(
        "{:>8}  {:<20} {:>7} {:>7} {:>9} {:>7} {:>10}  FILE",
        "ID",
        "NAME",
        "BEADS",
        "WEAVES",
        "STRINGS",
        "LIVE",
        "UPTIME"
    );
    for s in &all {
        outln!(
            "{:>8}  {:<20} {:>7} {:>7} {:>9} {:>7} {:>10}  {}",
            s.id,
            s.name,
            s.beads,
            s.weaves,
            s.strings,
            s.strings_live,
            uptime(s),
            s.path
        );
    }
    Ok(0)
}

/// `weaves inspect ID [--json]`.
pub(crate) fn inspect(id: &str, json: bool) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let i = client.inspect().map_err(|e| e.to_string())?;
    if json {
        outln!("{}", to_json(&i)?);
    } else {
        print_inspection(&i);
    }
    Ok(0)
}

/// `weaves apply ID FRAGMENT [--json]`.
pub(crate) fn apply(id: &str, fragment: &std::path::Path, json: bool) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let applied = client.apply(fragment).map_err(|e| e.to_string())?;
    if json {
        outln!("{}", to_json(&applied)?);
        return Ok(0);
    }
    let list = |what: &str, names: &[String]| {
        if !names.is_empty() {
            outln!("  {what}: {}", names.join(", "));
        }
    };
    outln!("applied {}:", fragment.display());
    list("modules", &applied.modules);
    list("beads", &applied.beads);
    list("weaves", &applied.weaves);
    list("strings started", &applied.strings);
    list("bindings", &applied.bindings);
    Ok(0)
}

/// `weaves remove ID KIND NAME`.
pub(crate) fn remove(id: &str, kind: &str, name: &str) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    client.remove(kind, name).map_err(|e| e.to_string())?;
    outln!("removed {kind} {name}");
    Ok(0)
}

/// `weaves script ID FILE`.
pub(crate) fn script(id: &str, file: &std::path::Path) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    for line in client.script(file).map_err(|e| e.to_string())? {
        outln!("{line}");
    }
    Ok(0)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| format!("cannot encode JSON: {e}"))
}

fn uptime(s: &Summary) -> String {
    format!("{:.1} s", s.uptime_ms as f64 / 1e3)
}

fn print_inspection(i: &Inspection) {
    let live = i.strings.iter().filter(|s| s.state != "done").count();
    outln!(
        "tapestry {} (id {}, {}): {} beads, {} weaves, {} strings ({live} live) on {} workers, up {:.1} s",
        i.name,
        i.id,
        i.path,
        i.beads.len(),
        i.weaves.len(),
        i.strings.len(),
        i.workers,
        i.uptime_ms as f64 / 1e3
    );
    outln!("\nmodules");
    for m in &i.modules {
        outln!(
            "  {:<16} {} ({}, {} beads, build id {})",
            m.name,
            m.path,
            m.kind,
            m.beads,
            m.build_id.as_deref().unwrap_or("none")
        );
    }
    outln!("\nbeads");
    for b in &i.beads {
        outln!(
            "  {:<16} {:<12} base {} data {} B, heap {} B of {} B; weaves {}",
            b.name,
            b.module,
            b.base,
            b.data_bytes,
            b.heap_bytes,
            b.heap_reserved,
            b.weaves.join(", ")
        );
        for w in &b.imports.beads {
            outln!(
                "      {} -> {} ({})",
                w.symbol,
                w.bead.as_deref().unwrap_or("-"),
                w.via
            );
        }
    }
    outln!("\nweaves");
    for w in &i.weaves {
        outln!("  {:<16} {}", w.name, w.beads.join(" -> "));
    }
    if !i.tuple_spaces.is_empty() {
        outln!("\ntuple spaces");
        for t in &i.tuple_spaces {
            outln!(
                "  {} shared by {}",
                t.variables.join(", "),
                t.beads.join(", ")
            );
        }
    }
    outln!("\nstrings");
    for st in &i.strings {
        let status = st
            .status
            .map(|s| format!(" status {s}"))
            .unwrap_or_default();
        outln!(
            "  {:>6} {:<16} weave {:<14} {:<7} {:<6} cpu {:.3} ms{status}",
            st.id,
            st.name,
            st.weave,
            st.state,
            st.mode,
            st.cpu_ms
        );
    }
}
