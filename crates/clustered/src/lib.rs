//! # Clustered objects
//!
//! A *clustered object* (from IBM's K42 operating system) looks like one
//! object to its callers but is made of several **representatives**
//! (*reps*), each serving a cluster of CPUs. A counter is the classic
//! case: one shared word is simple and cheap to read, but when many CPUs
//! add to it at once its cache line bounces between them and every add
//! waits; one counter per CPU adds without sharing, at the price of reads
//! that sum them. A clustered object lets each object pick — and change
//! its mind while in use.
//!
//! ## The parts
//!
//! * An **interface**: the type of the reps, usually a `dyn Trait` (for the
//!   counter, [`CounterRep`]). Callers reach a rep through
//!   [`Clustered::call`], which hands them a [`Ctx`]: this CPU's rep, or
//!   the whole root when a method needs every rep (a counter's read).
//! * An **implementation** ([`Implementation`]) says how many reps there
//!   are ([`RootKind`]: `Shared`, `PerCpu`, `ClusteredByN(n)`), how to make
//!   one, and which state formats it can export and import.
//! * A **root** ([`Root`]) is one instance of an implementation: a slot per
//!   cluster of CPUs. Slots start empty; the first call from a cluster takes
//!   the **miss** path, where the implementation's miss handler makes that
//!   cluster's rep ([`crate::root`]).
//! * The **translation table** ([`crate::table`]) names every live object
//!   by a small [`ObjectId`], for code that holds only the id.
//!
//! ## Changing the implementation of a live object
//!
//! [`Clustered::swap`] replaces an object's implementation while other
//! threads call it, with K42's **mediator** and its four phases — forward,
//! block, transfer, complete ([`crate::mediator`]). The mediator must know
//! when every call that began before it was interposed has ended, without
//! making every call write one shared word: calls announce themselves in
//! per-CPU counters of the current **generation**, and the mediator moves
//! to the next generation and waits for the old one's counters to drain
//! ([`crate::generation`]). The same drain tells it when the old root can
//! be freed.
//!
//! ## Adapting
//!
//! [`AdaptiveCounter`] is a counter that watches how contended it is over a
//! window of operations ([`Policy`]) and swaps itself from its shared
//! implementation to its distributed one when contention is high, and back
//! when it is far lower (hysteresis keeps it from flapping).
//!
//! ```
//! use weaves_clustered::{AdaptiveCounter, ClusteredCounter, Policy};
//!
//! let hits = ClusteredCounter::distributed();
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| (0..1000).for_each(|_| hits.add(1)));
//!     }
//! });
//! assert_eq!(hits.get(), 4000);
//!
//! let hits = AdaptiveCounter::new(Policy::default());
//! hits.add(5);
//! assert_eq!((hits.get(), hits.implementation()), (5, "shared"));
//! ```
//!
//! ## Where weaves uses them
//!
//! The scheduler counts the strings it has started with a distributed
//! counter: every worker starting strings adds to its own CPU's rep, and
//! the rare reader (`weaves live`, checkpoints) sums them.

mod adaptive;
mod counter;
pub mod cpu;
pub mod generation;
pub mod mediator;
mod object;
pub mod root;
mod spin;
pub mod table;
pub mod transfer;

pub use adaptive::{decide, AdaptiveCounter, Decision, Policy, Sample};
pub use counter::{ClusteredCounter, CounterRep, Distributed, RepStats, Shared};
pub use mediator::{SwapError, SwapReport};
pub use object::{Clustered, Ctx, Phase};
pub use root::{Root, RootKind};
pub use table::ObjectId;
pub use transfer::{Format, State, TransferError};

/// One way of implementing an object whose reps are `R`s.
pub trait Implementation<R: ?Sized>: Send + Sync + 'static {
    /// A short name for reports (`"shared"`, `"distributed"`).
    fn name(&self) -> &'static str;

    /// How CPUs share reps.
    fn kind(&self) -> RootKind;

    /// The miss handler: a fresh rep for a cluster that has none.
    fn make_rep(&self) -> Box<R>;

    /// Formats this implementation can export its state in, best first.
    fn exports(&self) -> &[Format] {
        &[]
    }

    /// Formats it can import state from, best first.
    fn imports(&self) -> &[Format] {
        &[]
    }

    /// The state of `root` in `format` (one of [`Implementation::exports`]).
    /// Called while no call is inside the object.
    fn export(&self, root: &Root<R>, format: Format) -> Result<State, TransferError> {
        let _ = root;
        Err(TransferError::Refused(format!(
            "`{}` cannot export {format:?}",
            self.name()
        )))
    }

    /// Loads `state` into `root`, a fresh root of this implementation.
    fn import(&self, root: &Root<R>, state: State) -> Result<(), TransferError> {
        let _ = root;
        Err(TransferError::Refused(format!(
            "`{}` cannot import {:?}",
            self.name(),
            state.format()
        )))
    }
}
