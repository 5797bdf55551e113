//! # Distributed shared memory: one pthread program across node processes
//!
//! `weaves dsm -n N -- PROG` runs an unmodified pthread program on N node
//! processes that share one address space. Every node loads the program
//! exactly as node 0 does (same binary, same arena placement, address
//! randomisation off), so every address means the same thing everywhere:
//!
//! ```text
//!  arena:  [ node 0 span | node 1 span | ... | node N-1 span ]   (1 TiB each)
//!            program data/bss, node 0's heap and stacks | node 1's heap and stacks | ...
//! ```
//!
//! * **Homes.** An arena address's home is the node whose span holds it.
//!   The program's data lives in node 0's span (it is loaded there on every
//!   node); a node allocates its heap and its strings' stacks in its own.
//!   Nodes other than 0 make their copy of node 0's writable pages
//!   inaccessible after loading: their contents come from node 0.
//! * **Faults.** Touching a page this node may not access raises SIGSEGV;
//!   the runtime's fault path asks the DSM claimant first
//!   ([`pages::claim`]), which sends the page's home a `Fetch` and waits
//!   until the home's `Grant` has been installed (contents written,
//!   protection raised), then lets the access retry.
//! * **Coherence (`sc`).** Single writer, invalidate: the home keeps each
//!   page's writer and readers. A read recalls the page from its writer
//!   (who keeps a read-only copy); a write recalls it and invalidates every
//!   other copy, acknowledged, before the grant. One request per page is
//!   served at a time; the others queue at the home. Plain loads and stores
//!   are then sequentially consistent at page granularity.
//! * **Engine.** Each node's messages (from peers or from itself) are
//!   handled one at a time under one lock, and handling never waits for
//!   another node (see [`node`]): what needs an answer is resumed when the
//!   answer arrives. Replies to recalls and invalidations come from a
//!   node's reader threads, never from the strings, so a node busy
//!   computing still answers.
//! * **Synchronisation.** Mutexes (granted first in, first out),
//!   condition variables, barriers, `pthread_once` and thread-specific data
//!   keys are messages to a manager on node 0 keyed by the object's
//!   address ([`sync`]).
//! * **Threads.** `pthread_create` places the thread on a node and that
//!   node runs it as a string of its tapestry ([`threads`]).
//! * **Transport.** Length-prefixed `postcard` frames over one TCP
//!   connection per node pair ([`wire`]), behind a small trait.
//! * **Failure.** A closed connection or a second without heartbeats ends
//!   every other node with one line ([`failure`]).

pub mod connect;
pub mod failure;
pub mod heap;
pub mod lrc;
pub mod node;
pub mod pages;
mod poll;
pub mod stats;
pub mod sync;
pub mod threads;
pub mod trace_format;
mod watch;
pub mod wire;

/// The arena whose node spans DSM nodes share.
pub use weaves_arena as arena;

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

/// How pages are kept coherent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coherence {
    /// Single writer, invalidate on write (sequential consistency per page).
    Sc,
    /// Lazy release consistency with multiple writers.
    Lrc,
}

impl Coherence {
    pub fn parse(s: &str) -> Result<Coherence, String> {
        match s {
            "sc" => Ok(Coherence::Sc),
            "lrc" => Ok(Coherence::Lrc),
            other => Err(format!("unknown coherence `{other}` (lrc or sc)")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Coherence::Sc => "sc",
            Coherence::Lrc => "lrc",
        }
    }
}

/// Where `pthread_create` puts threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Thread i (main is 0) on node i mod N.
    RoundRobin,
    /// As many threads per node as it has CPUs, then the next node.
    Packed,
}

impl Placement {
    pub fn parse(s: &str) -> Result<Placement, String> {
        match s {
            "round-robin" => Ok(Placement::RoundRobin),
            "packed" => Ok(Placement::Packed),
            other => Err(format!(
                "unknown placement `{other}` (round-robin or packed)"
            )),
        }
    }
}

static PLACEMENT: AtomicU8 = AtomicU8::new(0);

pub(crate) fn placement() -> Placement {
    match PLACEMENT.load(Ordering::Relaxed) {
        0 => Placement::RoundRobin,
        _ => Placement::Packed,
    }
}

/// Makes this process DSM node `me` of `nodes`: its program's `pthread_*`
/// calls bind to the DSM runtime and its SIGSEGVs on arena pages go to the
/// DSM claimant. Call before the program is loaded.
pub fn install(me: u32, nodes: u32, coherence: Coherence, place: Placement) -> Result<(), String> {
    if nodes == 0 || nodes as usize > weaves_arena::MAX_NODES || me >= nodes {
        return Err(format!(
            "node {me} of {nodes}: there can be 1 to {} nodes",
            weaves_arena::MAX_NODES
        ));
    }
    if weaves_arena::node_count() != nodes as usize {
        return Err(format!(
            "the arena has {} node span(s), not {nodes} ({} must be set before the runtime starts)",
            weaves_arena::node_count(),
            weaves_arena::NODES_VAR
        ));
    }
    pages::open_mem().map_err(|e| format!("cannot open /proc/self/mem: {e}"))?;
    PLACEMENT.store(place as u8, Ordering::Relaxed);
    if coherence == Coherence::Lrc {
        watch::start();
    }
    poll::start(nodes);
    let n = node::make(me, nodes, coherence);
    node::start_courier(n).map_err(|e| format!("cannot start the courier thread: {e}"))?;
    weaves_interpose::dsm_hooks::set_interposer(lookup);
    weaves_interpose::dsm_hooks::set_fault_claimant(pages::claim);
    weaves_interpose::dsm_hooks::set_foreign_block(heap::foreign);
    Ok(())
}

fn lookup(name: &str) -> Option<u64> {
    threads::lookup(name).or_else(|| sync::lookup(name))
}

/// After the program is loaded: this node places its own memory in its own
/// span from now on and (nodes other than 0) gives up its copy of node 0's
/// writable pages. Returns how many pages it gave up.
pub fn enter_own_span() -> Result<usize, String> {
    let n = node::node().ok_or("not a DSM node")?;
    let arena = weaves_arena::Arena::global().map_err(|e| e.to_string())?;
    arena
        .enter_node_span(n.me as usize)
        .map_err(|e| e.to_string())?;
    if n.me == 0 {
        return Ok(0);
    }
    pages::invalidate_loaded_data().map_err(|e| format!("cannot read /proc/self/maps: {e}"))
}

/// Connects this node to the others (see [`connect`]).
pub fn join(rendezvous: &Path, bind: &str, layout: u64) -> Result<(), String> {
    let n = node::node().ok_or("not a DSM node")?;
    connect::connect(n, rendezvous, bind, layout)
}

/// The entry (`int f(int, char **, char **)`) nodes other than 0 run
/// instead of `main`: it starts the threads other nodes place here.
pub fn service_entry() -> u64 {
    threads::service_main as *const () as u64
}

/// Node 0, once `main` has ended: tells every node the run is over and
/// gathers their counters (node order).
pub fn end_run() -> Vec<Vec<u64>> {
    let Some(n) = node::node() else {
        return Vec::new();
    };
    n.ending.store(true, Ordering::Release);
    for j in 1..n.nodes {
        n.send_uncounted(j, &wire::Msg::Shutdown);
    }
    stats::gather(n.nodes)
}
