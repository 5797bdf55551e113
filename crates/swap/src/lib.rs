//! # Swap: replacing a live bead's implementation
//!
//! K42 replaced a running component without stopping its clients and with
//! no cost on the normal call path. This crate does the same for a bead:
//! its code is compiled C, C++, Fortran or Rust that knows nothing of it.
//!
//! A bead's clients reach it through their *import slots* (PLT and GOT
//! entries, data pointers: see `weaves_loader::slots`). Nothing is added to
//! that path while no swap runs. A swap puts a **mediator** between the
//! clients and the old bead, in four phases:
//!
//! 1. **Forward.** Every client slot that named one of the old bead's
//!    functions is pointed at a *gate* ([`gate`]): a small stub that lets
//!    the call through to the old function, counting it by rewriting its
//!    return address to the gate's return path (so the mediator sees it
//!    leave). Calls that were already inside the old bead when the gates
//!    went up are uncounted; the mediator waits until every string is
//!    *clear* of them: seen, running at a gate or suspended, with no address
//!    of the old bead's code on the live part of its stack outside counted
//!    calls ([`quiesce`]; livepatch's per-task consistency, by a
//!    conservative stack check rather than an unwinder).
//! 2. **Block.** New calls from strings that are not inside the old bead
//!    park at the gate. Calls from strings that are inside (the old bead
//!    called out and is being called back) go through, so nothing
//!    deadlocks. The mediator waits until no counted call is left inside.
//! 3. **Transfer.** Nothing runs in the old bead: its state is moved to the
//!    new one in the best format both offer ([`transfer`]).
//! 4. **Complete.** Every client slot is pointed at the new bead's
//!    definitions (one atomic store each) and the parked callers go on,
//!    into the new bead.
//!
//! If a string stays inside past the swap's timeout, or the transfer
//! fails, the swap is **aborted**: the slots get the old definitions back,
//! parked callers go on into the old bead, and the tapestry is as before.
//!
//! The tapestry crate decides *what* is swapped (which slots, which beads,
//! what happens to the old bead afterwards); this crate is the *how*.

pub mod gate;
pub mod mediator;
pub mod quiesce;
pub mod transfer;
pub mod types;

pub use mediator::{GatedImport, Inside, Mediator, Phase, Slot, SwapStats};
pub use transfer::{Format, ObjectMap, TransferReport};
