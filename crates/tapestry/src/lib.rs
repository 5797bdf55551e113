//! # The tapestry: a composition of beads, weaves and strings
//!
//! Data flows one way through this crate:
//!
//! ```text
//!  tapestry.toml --config--> Plan --build--> Tapestry --run--> statuses
//!                 (parse,      (load modules,   (start strings,
//!                  expand {i},  map beads, bind,  wait, finalise
//!                  check names) tuple spaces,     beads)
//!                               init)
//! ```
//!
//! * [`config`] turns the TOML file into a [`Plan`]: every `count`/`{i}`
//!   expanded, every name checked, errors pointing at a line of the file.
//! * [`Tapestry::build`] loads each module once, maps one image per bead,
//!   binds each bead's undefined symbols ([`binder`]: the beads of its
//!   weave in declared order, then the runtime's interposition table, then
//!   the host's system libraries), applies tuple spaces, relocates, and runs
//!   initialisers in dependency order. Every missing symbol and every
//!   conflict is reported before any bead code runs.
//! * [`Tapestry::run`] starts the strings and waits for them, then runs the
//!   beads' finalisers. A `SIGTERM` (`weaves stop`) or `SIGINT` ends every
//!   string at its next safe point first ([`stop`]).
//! * [`Tapestry::check`] does everything [`Tapestry::build`] does short of
//!   running bead code, then takes it down again (`weaves check`).
//!
//! With `tracing` enabled at debug level (`weaves -v`), building logs its
//! phases and each bead's bindings, checkpoints their phases, and live
//! changes each step.

pub mod binder;
mod check;
pub mod checkpoint;
pub mod config;
mod deps;
mod dlopen;
mod error;
mod extend;
mod live;
mod rebind;
mod redirect;
mod remove;
mod run;
mod script;
mod stacks;
mod static_tls;
pub mod stop;
mod swap;
mod system;
mod system_slots;
mod tapestry;
pub mod wasm;

pub use check::Checked;
pub use checkpoint::{Restored, Taken};
pub use config::{CheckpointPlan, Plan, StringPlan};
pub use error::{ModuleError, TapestryError, Unresolved};
pub use live::LiveView;
#[doc(hidden)]
pub use script::parse_script;
pub use tapestry::{
    BuildStats, FinaliserFault, RunReport, StringReport, Tapestry, CHECKPOINT_FAILED_STATUS,
};

/// Declares this process's tapestry checkpointable, before it is built:
/// checkpointable calls bind to boundary stubs and strings keep their
/// arguments in arena memory.
pub fn set_checkpointable() {
    checkpoint::note_inherited_descriptors();
    weaves_strings::quiesce::set_checkpointable();
}
