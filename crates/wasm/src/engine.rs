//! The two engines behind one interface: what the runtime needs of an
//! engine to run a string's Wasm call, capture it at a reconfiguration
//! point and resume it.

use crate::host::Host;
use crate::state::Captured;
use crate::wasi::Stop;

/// How a Wasm call ended, short of a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// The entry returned (its i32 result, if it has one).
    Value(Option<i32>),
    /// It unwound to its entry at a reconfiguration point: capture it.
    Unwound,
}

/// Why a Wasm call ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// A host call ended it (`proc_exit`, a call outside the subset).
    Stop(Stop),
    /// A trap in Wasm code: the message names the function and offset
    /// where the engine can tell.
    Trap(String),
}

/// One instance of a module in one engine, with its host record.
pub(crate) trait Instance {
    /// Adds the area the unwound stack will use (at the end of linear
    /// memory, past anything the program owns) before the first call.
    fn make_unwind_area(&mut self) -> Result<(), String>;
    /// Calls exported function `entry` (no parameters).
    fn call(&mut self, entry: &str) -> Result<Returned, Fault>;
    /// After an unwind to let other strings run: ends it, leaving the
    /// instance as it is.
    fn pause(&mut self) -> Result<(), String>;
    /// After [`Instance::pause`]: starts the rewind; the next
    /// [`Instance::call`] of the entry goes back into the paused call.
    fn unpause(&mut self) -> Result<(), String>;
    /// After an unwind: ends it, and copies memory and globals out.
    fn capture(&mut self) -> Result<Captured, String>;
    /// Puts `state` back and starts the rewind; the next [`Instance::call`]
    /// of the entry goes back into the captured call.
    fn restore(&mut self, state: &Captured) -> Result<(), String>;
    fn host(&mut self) -> &mut Host;
    fn into_host(self: Box<Self>) -> Host;
}

/// `(i32|i64 argument) -> i64`, as the WASI code takes them.
pub(crate) fn widen(args: impl Iterator<Item = Option<i64>>) -> Vec<i64> {
    args.map(|a| a.unwrap_or(0)).collect()
}
