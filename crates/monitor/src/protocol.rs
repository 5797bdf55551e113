//! Requests, responses, and the shapes of their results.
//!
//! These types are the JSON schema of the control protocol (see
//! `docs/monitor.md`): fields are only ever added, never renamed.

use serde::{Deserialize, Serialize};

/// One request: a JSON object with an `op` field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// A [`Summary`] of the tapestry.
    Summary,
    /// An [`Inspection`]: everything the tapestry is made of, and its
    /// strings' states.
    Inspect,
    /// Adds what a fragment describes (the tapestry schema without a
    /// `[tapestry]` table): modules, beads, weaves, strings, bindings. The
    /// result is an [`Applied`]. `path` (absolute) is where relative
    /// module paths start; `text` is the fragment.
    Apply { path: String, text: String },
    /// Removes a `bead`, `weave`, `string` (ended ones only) or `binding`
    /// (named by its `bead.iface` out-interface). Refused, with the reason,
    /// while something still uses it.
    Remove { kind: String, name: String },
    /// Runs a reconfiguration script (see `docs/monitor.md`); `path`
    /// (absolute) is where its relative fragment paths start. The result
    /// lists what took effect: `{"done": ["line 2: apply x.toml", …]}`.
    Script { path: String, text: String },
    /// Takes a checkpoint image: to `path` (absolute), or into `dir`
    /// (absolute) under the next free name, or to the tapestry's
    /// `[checkpoint] dir`. `strict` refuses if some state cannot be
    /// restored. The result has `path`, `bytes`, `pages`, `pause_us`,
    /// `total_ms`, `incremental`.
    Checkpoint {
        path: Option<String>,
        dir: Option<String>,
        strict: bool,
        /// A full image even where an incremental one could be taken.
        #[serde(default)]
        full: bool,
    },
    /// Rolls the tapestry back to the image at `path` (absolute; an image
    /// or a checkpoint directory): the process re-executes itself and
    /// restores it, keeping its id. The answer may not come (the connection
    /// closes as the process is replaced): ask again for the summary.
    Rollback { path: String },
    /// Replaces the live bead `bead` by a bead of the module at `path`
    /// (absolute) while its clients run (see `docs/monitor.md`):
    /// `transfer` is `auto`, `by-reference`, `by-symbol`, `hooks` or
    /// `none`; a string still inside the old bead after `timeout_ms`
    /// aborts the swap. The result has `transfer`, `transferred`,
    /// `not_transferred`, `blocked_us`, `phases_us`, `calls_forwarded`,
    /// `calls_blocked`, `strings_drained`.
    Swap {
        bead: String,
        path: String,
        #[serde(default = "default_transfer")]
        transfer: String,
        #[serde(default = "default_swap_timeout")]
        timeout_ms: u64,
    },
    /// Asks Wasm string `string` to move to `engine` (`wasmtime`, `wasmi`)
    /// at its next reconfiguration point. The answer comes once the request
    /// is registered (the move itself follows when the string gets there);
    /// the result has `message`.
    Migrate { string: String, engine: String },
}

fn default_transfer() -> String {
    "auto".into()
}

fn default_swap_timeout() -> u64 {
    1000
}

/// What `apply` added.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub modules: Vec<String>,
    pub beads: Vec<String>,
    pub weaves: Vec<String>,
    /// Strings started.
    pub strings: Vec<String>,
    /// Message bindings, as `from -> to`.
    pub bindings: Vec<String>,
}

/// One response: `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn ok(result: serde_json::Value) -> Response {
        Response {
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(message.into()),
        }
    }
}

/// A running tapestry in one line (`weaves ps`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// What `weaves inspect` takes: the process id, as a string.
    pub id: String,
    pub pid: u32,
    /// `[tapestry] name`.
    pub name: String,
    /// The tapestry file.
    pub path: String,
    pub beads: usize,
    pub weaves: usize,
    /// Strings started so far (declared ones, and those bead code started).
    pub strings: usize,
    /// Strings that have not ended yet.
    pub strings_live: usize,
    pub workers: usize,
    /// Milliseconds since the strings started.
    pub uptime_ms: u64,
}

/// A module loaded into the tapestry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleInfo {
    pub name: String,
    pub path: String,
    /// The GNU build id in hex, when the module has one.
    pub build_id: Option<String>,
    /// `"shared object"` or `"executable"` (a PIE).
    pub kind: String,
    /// How many beads instantiate it.
    pub beads: usize,
}

/// Where a bead's imported symbol was bound, when it is another bead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire {
    pub symbol: String,
    /// The providing bead (none for a tuple space: its storage is the
    /// runtime's).
    pub bead: Option<String>,
    /// `"bead"`, `"copy"` (the copy a PIE made by COPY relocation) or
    /// `"tuple space"`.
    pub via: String,
}

/// How a bead's imports were bound.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imports {
    /// Imports bound to other beads (the weave's wiring).
    pub beads: Vec<Wire>,
    /// Imports bound to the runtime's own definitions (malloc, pthread, …).
    pub runtime: usize,
    /// Imports bound to the host's system libraries.
    pub system: usize,
    /// Weak imports found nowhere (bound to 0).
    pub absent: usize,
}

/// One bead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeadInfo {
    pub name: String,
    pub module: String,
    /// Base address, as `0x…`.
    pub base: String,
    /// Bytes of address space the image spans.
    pub size: u64,
    /// Bytes of the module's writable segments (data and bss): the bead's
    /// private globals.
    pub data_bytes: u64,
    /// Bytes of live allocations in the bead's heap.
    pub heap_bytes: u64,
    /// Bytes of address space the bead's heap holds.
    pub heap_reserved: u64,
    /// Weaves it belongs to, in declaration order.
    pub weaves: Vec<String>,
    pub imports: Imports,
    /// A Wasm bead's engine (`wasmtime` or `wasmi`); absent for ELF beads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// One weave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeaveInfo {
    pub name: String,
    /// Its beads in lookup order.
    pub beads: Vec<String>,
}

/// One string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StringState {
    pub id: u32,
    pub name: String,
    pub weave: String,
    /// `"queued"`, `"running"`, `"parked"` or `"done"`.
    pub state: String,
    /// `"fiber"` or `"thread"`.
    pub mode: String,
    /// Time spent running on a worker (or its own thread), in milliseconds.
    pub cpu_ms: f64,
    /// Once done: `main`'s return value or the `exit` status.
    pub status: Option<i64>,
    /// The engine running a Wasm string now; absent for native strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// One tuple space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TupleSpaceInfo {
    pub variables: Vec<String>,
    pub beads: Vec<String>,
}

/// A message binding and its queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingInfo {
    /// `bead.iface` (an out-interface).
    pub from: String,
    /// `bead.iface` (an in-interface).
    pub to: String,
    /// Messages waiting in the in-interface's queue (shared by every
    /// binding into it).
    pub queued: usize,
    /// Messages receivers have taken from that queue so far.
    pub delivered: u64,
}

/// Everything `weaves inspect` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// As in [`Summary`].
    pub id: String,
    pub pid: u32,
    pub name: String,
    pub path: String,
    pub workers: usize,
    pub uptime_ms: u64,
    pub modules: Vec<ModuleInfo>,
    pub beads: Vec<BeadInfo>,
    pub weaves: Vec<WeaveInfo>,
    pub strings: Vec<StringState>,
    pub tuple_spaces: Vec<TupleSpaceInfo>,
    pub bindings: Vec<BindingInfo>,
}
