//! `weaves ps` and `weaves inspect`: the monitor's queries, for people
//! (aligned text) and for programs (`--json`).

use weaves_monitor::protocol::{Inspection, Summary};
use weaves_monitor::Client;

use crate::check::plural;

/// The columns `weaves ps --format` knows, in the order of the table.
const COLUMNS: &[&str] = &[
    "id",
    "pid",
    "name",
    "beads",
    "weaves",
    "strings",
    "live",
    "workers",
    "uptime",
    "uptime_ms",
    "file",
];

/// `weaves ps [--json] [--filter KEY=VALUE]… [--format COLUMNS]`.
pub(crate) fn ps(json: bool, filters: &[String], format: Option<&str>) -> Result<i32, String> {
    let filters = filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = format.map(parse_columns).transpose()?;
    if let Some(why) = weaves_monitor::refused_dir() {
        eprintln!("weaves: warning: {why}; listing its private fallbacks only");
    }
    let all: Vec<Summary> = weaves_monitor::list()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| filters.iter().all(|f| f.matches(s)))
        .collect();
    if json {
        outln!("{}", to_json(&all)?);
        return Ok(0);
    }
    if let Some(columns) = columns {
        for s in &all {
            let row: Vec<String> = columns.iter().map(|c| cell(s, c)).collect();
            outln!("{}", row.join("\t"));
        }
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

fn parse_columns(list: &str) -> Result<Vec<&'static str>, String> {
    list.split(',')
        .map(str::trim)
        .map(|c| {
            COLUMNS.iter().copied().find(|k| *k == c).ok_or_else(|| {
                format!(
                    "ps --format: unknown column `{c}`{}; the columns are {}",
                    near(c, COLUMNS),
                    COLUMNS.join(", ")
                )
            })
        })
        .collect()
}

fn cell(s: &Summary, column: &str) -> String {
    match column {
        "id" => s.id.clone(),
        "pid" => s.pid.to_string(),
        "name" => s.name.clone(),
        "beads" => s.beads.to_string(),
        "weaves" => s.weaves.to_string(),
        "strings" => s.strings.to_string(),
        "live" => s.strings_live.to_string(),
        "workers" => s.workers.to_string(),
        "uptime" => format!("{:.1}", s.uptime_ms as f64 / 1e3),
        "uptime_ms" => s.uptime_ms.to_string(),
        "file" => s.path.clone(),
        _ => unreachable!("columns are checked by parse_columns"),
    }
}

/// One `--filter KEY=VALUE`.
struct Filter {
    key: &'static str,
    pattern: String,
}

impl Filter {
    const KEYS: &'static [&'static str] = &["id", "name", "file"];

    fn parse(text: &str) -> Result<Filter, String> {
        let (key, pattern) = text.split_once('=').ok_or_else(|| {
            format!("ps --filter {text}: give KEY=VALUE, with KEY one of id, name, file")
        })?;
        let key = Filter::KEYS
            .iter()
            .copied()
            .find(|k| *k == key)
            .ok_or_else(|| {
                format!(
                    "ps --filter {text}: unknown key `{key}`{}; the keys are id, name, file",
                    near(key, Filter::KEYS)
                )
            })?;
        Ok(Filter {
            key,
            pattern: pattern.to_owned(),
        })
    }

    fn matches(&self, s: &Summary) -> bool {
        let value = match self.key {
            "id" => &s.id,
            "name" => &s.name,
            _ => &s.path,
        };
        glob(&self.pattern, value)
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any text and `?`
/// for any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// ` (did you mean `X`?)` for the entry of `known` closest to `wanted`.
fn near(wanted: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|k| k.starts_with(wanted) || wanted.starts_with(**k))
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
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

/// `weaves swap ID BEAD NEW_MODULE`.
/// `weaves migrate ID STRING --engine E`.
pub(crate) fn migrate(id: &str, string: &str, engine: &str) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let r = client.migrate(string, engine).map_err(|e| e.to_string())?;
    outln!("{}", r["message"].as_str().unwrap_or("asked"));
    Ok(0)
}

pub(crate) fn swap(
    id: &str,
    bead: &str,
    module: &std::path::Path,
    transfer: &str,
    timeout_ms: u64,
    json: bool,
) -> Result<i32, String> {
    let mut client = Client::connect(id).map_err(|e| e.to_string())?;
    let r = client
        .swap(bead, module, transfer, timeout_ms)
        .map_err(|e| e.to_string())?;
    if json {
        outln!("{}", to_json(&r)?);
        return Ok(0);
    }
    let num = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let list = |k: &str| {
        r[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    outln!(
        "swapped bead {bead} for {}: transfer {}, blocked {:.1} us, {} call(s) forwarded, {} blocked",
        module.display(),
        r["transfer"].as_str().unwrap_or("?"),
        num("blocked_us"),
        num("calls_forwarded"),
        num("calls_blocked")
    );
    let moved = list("transferred");
    if !moved.is_empty() {
        outln!("  transferred: {moved}");
    }
    let left = list("not_transferred");
    if !left.is_empty() {
        outln!("  not transferred: {left}");
    }
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
        "tapestry {} (id {}, {}): {}, {}, {} ({live} live) on {}, up {:.1} s",
        i.name,
        i.id,
        i.path,
        plural(i.beads.len(), "bead"),
        plural(i.weaves.len(), "weave"),
        plural(i.strings.len(), "string"),
        plural(i.workers, "worker"),
        i.uptime_ms as f64 / 1e3
    );
    outln!("\nmodules");
    for m in &i.modules {
        outln!(
            "  {:<16} {} ({}, {}, build id {})",
            m.name,
            m.path,
            m.kind,
            plural(m.beads, "bead"),
            m.build_id.as_deref().unwrap_or("none")
        );
    }
    outln!("\nbeads");
    for b in &i.beads {
        outln!(
            "  {:<16} {:<12} base {} data {} B, heap {} B of {} B; weaves {}{}",
            b.name,
            b.module,
            b.base,
            b.data_bytes,
            b.heap_bytes,
            b.heap_reserved,
            b.weaves.join(", "),
            b.engine
                .as_ref()
                .map(|e| format!("; engine {e}"))
                .unwrap_or_default()
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
            "  {:>6} {:<16} weave {:<14} {:<7} {:<6} cpu {:.3} ms{status}{}",
            st.id,
            st.name,
            st.weave,
            st.state,
            st.mode,
            st.cpu_ms,
            st.engine
                .as_ref()
                .map(|e| format!(" engine {e}"))
                .unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{glob, parse_columns};

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("count*", "counters"));
        assert!(glob("*ers", "counters"));
        assert!(glob("c?unters", "counters"));
        assert!(glob("*", ""));
        assert!(!glob("count", "counters"));
        assert!(!glob("*x*", "counters"));
        assert!(glob("a*b*c", "aXbYbc"));
    }

    #[test]
    fn unknown_columns_are_named_with_the_list() {
        assert_eq!(parse_columns("id, name").unwrap(), ["id", "name"]);
        let e = parse_columns("id,str").unwrap_err();
        assert!(
            e.contains("`str`") && e.contains("did you mean `strings`"),
            "{e}"
        );
    }
}
