//! Counters (per node, totalled by node 0 at the end of a run), the
//! fault-latency histogram and the access trace.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::node::node;
use crate::wire::Msg;

#[derive(Clone, Copy)]
// Twins and diffs are lazy release consistency's; `sc` makes none, and
// reports zero for them.
#[allow(dead_code)]
pub(crate) enum Counter {
    Threads,
    ReadFaults,
    WriteFaults,
    Messages,
    Bytes,
    Twins,
    Diffs,
    LockAcquires,
    BarrierWaits,
}

/// The keys of `--stats-json`, in [`Counter`] order.
pub const KEYS: [&str; 9] = [
    "threads",
    "read_faults",
    "write_faults",
    "messages",
    "bytes",
    "twins",
    "diffs",
    "lock_acquires",
    "barrier_waits",
];

/// Fault latency buckets: [2^i, 2^(i+1)) µs.
const BUCKETS: usize = 24;

static COUNTS: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];
static LATENCY: [AtomicU64; BUCKETS] = [const { AtomicU64::new(0) }; BUCKETS];

pub(crate) fn count(c: Counter, n: u64) {
    COUNTS[c as usize].fetch_add(n, Ordering::Relaxed);
}

/// Counts a fault on `page` (a read or a write) and records it in the
/// trace, if one is being written.
pub(crate) fn fault(page: u64, write: bool) {
    count(
        if write {
            Counter::WriteFaults
        } else {
            Counter::ReadFaults
        },
        1,
    );
    trace(page, write);
}

pub(crate) fn fault_latency(d: Duration) {
    let us = d.as_micros().max(1) as u64;
    let b = (63 - us.leading_zeros() as usize).min(BUCKETS - 1);
    LATENCY[b].fetch_add(1, Ordering::Relaxed);
    LATENCY_SUM.fetch_add(us, Ordering::Relaxed);
}

static LATENCY_SUM: AtomicU64 = AtomicU64::new(0);

fn own() -> Vec<u64> {
    COUNTS
        .iter()
        .chain(LATENCY.iter())
        .map(|c| c.load(Ordering::Relaxed))
        .collect()
}

/// Every node's counters, as node 0 gathered them.
static NODES: Mutex<Vec<Option<Vec<u64>>>> = Mutex::new(Vec::new());

pub(crate) fn record_node(node: u32, counts: Vec<u64>) {
    let mut g = NODES.lock().unwrap_or_else(|e| e.into_inner());
    if g.len() <= node as usize {
        g.resize(node as usize + 1, None);
    }
    g[node as usize] = Some(counts);
}

/// At the end of the run (a node other than 0): this node's trace and
/// counters go to node 0.
pub(crate) fn send_to_node0() {
    write_trace_part();
    if let Some(n) = node() {
        n.send(
            0,
            &Msg::Counters {
                node: n.me,
                counts: own(),
            },
        );
    }
}

/// Node 0, at the end of the run: waits (a while) for every node's
/// counters, then returns them in node order, node 0's own first.
pub fn gather(nodes: u32) -> Vec<Vec<u64>> {
    record_node(0, own());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let g = NODES.lock().unwrap_or_else(|e| e.into_inner());
        let have = g.iter().filter(|c| c.is_some()).count() as u32;
        if have >= nodes || std::time::Instant::now() > deadline {
            return (0..nodes as usize)
                .map(|i| g.get(i).cloned().flatten().unwrap_or_default())
                .collect();
        }
        drop(g);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The counters table `--stats` prints, and the median fault latency.
pub fn table(all: &[Vec<u64>]) -> String {
    let mut s = format!("{:>6}", "node");
    for k in KEYS {
        s += &format!(" {k:>13}");
    }
    s += "\n";
    let mut total = vec![0u64; KEYS.len() + BUCKETS];
    for (i, c) in all.iter().enumerate() {
        s += &format!("{i:>6}");
        for (j, t) in total.iter_mut().enumerate() {
            let v = c.get(j).copied().unwrap_or(0);
            *t += v;
            if j < KEYS.len() {
                s += &format!(" {v:>13}");
            }
        }
        s += "\n";
    }
    s += &format!("{:>6}", "total");
    for t in &total[..KEYS.len()] {
        s += &format!(" {t:>13}");
    }
    s += "\nfault latency (µs, all nodes):";
    for (b, n) in total[KEYS.len()..].iter().enumerate() {
        if *n > 0 {
            s += &format!(" [{}..{}): {n}", 1u64 << b, 1u64 << (b + 1));
        }
    }
    s + "\n"
}

/// The `--stats-json` object.
pub fn json(all: &[Vec<u64>]) -> String {
    let obj = |node: Option<usize>, c: &[u64]| {
        let mut s = String::from("{");
        if let Some(n) = node {
            s += &format!("\"node\": {n}, ");
        }
        let fields: Vec<String> = KEYS
            .iter()
            .enumerate()
            .map(|(j, k)| format!("\"{k}\": {}", c.get(j).copied().unwrap_or(0)))
            .collect();
        s + &fields.join(", ") + "}"
    };
    let mut total = vec![0u64; KEYS.len()];
    for c in all {
        for (j, t) in total.iter_mut().enumerate() {
            *t += c.get(j).copied().unwrap_or(0);
        }
    }
    let nodes: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, c)| obj(Some(i), c))
        .collect();
    format!(
        "{{\"nodes\": [{}], \"total\": {}}}\n",
        nodes.join(", "),
        obj(None, &total)
    )
}

// ---- trace ----------------------------------------------------------------------

struct Trace {
    /// Where this node writes its part (`FILE.nodeK`); node 0 merges them.
    path: std::path::PathBuf,
    /// Start of the run, µs since the Unix epoch (the same on every node).
    epoch_us: u64,
    events: Vec<(u64, u64, bool)>,
}

static TRACE: Mutex<Option<Trace>> = Mutex::new(None);

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Records faults from now on (this node's part goes to `path.nodeK`).
pub fn start_trace(path: &std::path::Path, epoch_us: u64) {
    let me = node().map_or(0, |n| n.me);
    *TRACE.lock().unwrap_or_else(|e| e.into_inner()) = Some(Trace {
        path: part_path(path, me),
        epoch_us,
        events: Vec::with_capacity(1 << 16),
    });
}

fn part_path(path: &std::path::Path, node: u32) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".node{node}"));
    p.into()
}

pub(crate) fn trace(page: u64, write: bool) {
    let mut g = TRACE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = g.as_mut() {
        let at = now_us().saturating_sub(t.epoch_us);
        t.events.push((at, page, write));
    }
}

fn page_index(page: u64) -> u64 {
    let base = weaves_arena::ARENA_BASE as u64;
    if page >= base {
        (page - base) / crate::pages::PAGE
    } else {
        page / crate::pages::PAGE
    }
}

fn write_trace_part() {
    let me = node().map_or(0, |n| n.me);
    let g = TRACE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(t) = g.as_ref() else { return };
    let mut s = String::new();
    for &(at, page, write) in &t.events {
        let fault = crate::trace_format::Fault {
            t_us: at,
            node: me,
            page: page_index(page),
            kind: if write {
                crate::trace_format::Kind::Write
            } else {
                crate::trace_format::Kind::Read
            },
        };
        if let Ok(line) = serde_json::to_string(&fault) {
            s += &line;
            s.push('\n');
        }
    }
    let _ = std::fs::write(&t.path, s);
}

/// Node 0, at the end of the run: merges every node's part into `path`
/// (header line first, then the faults in time order).
pub fn finish_trace(path: &std::path::Path, nodes: u32, coherence: &str) -> std::io::Result<()> {
    write_trace_part();
    let mut lines: Vec<(u64, String)> = Vec::new();
    for n in 0..nodes {
        let part = part_path(path, n);
        let text = std::fs::read_to_string(&part).unwrap_or_default();
        let _ = std::fs::remove_file(&part);
        for l in text.lines() {
            let t = serde_json::from_str::<crate::trace_format::Fault>(l).map_or(0, |f| f.t_us);
            lines.push((t, l.to_owned()));
        }
    }
    lines.sort_by_key(|(t, _)| *t);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header = crate::trace_format::Header {
        version: crate::trace_format::TRACE_VERSION,
        nodes,
        page_size: crate::pages::PAGE,
        coherence: coherence.to_owned(),
    };
    writeln!(f, "{}", serde_json::to_string(&header)?)?;
    for (_, l) in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()
}
