//! Ending what a fault ended, after one line that says what happened.
//!
//! | where | the culprit bead | what ends |
//! |---|---|---|
//! | a string | private to its weave | the string (status 128 + signal; 134 for `abort` and heap misuse) |
//! | a string | shared by several weaves, or none found | the tapestry (its state may be corrupt for others) |
//! | an initialiser or finaliser | any | that step: the line is left for the code that ran it ([`super::take_fault_report`]), which reports it as the step's error |
//! | outside strings | — | the process (a bug in the runtime) |
//!
//! Used from the fault handler (the string continues in [`fault_exit`]
//! when the handler returns) and from interposed calls that find misuse
//! (`abort`, `free`), which end the string directly. Nothing here
//! allocates or waits for a lock.

use std::fmt::Write as _;

use weaves_arena::OwnerId;
use weaves_strings::{current, exit_current, ExecCtx};

use super::blame::Culprit;
use super::line::Line;
use crate::phdr::with_registry;

/// What was running when the fault happened.
#[derive(Clone, Copy)]
pub(crate) enum Site {
    /// A string, on its fiber.
    String(&'static ExecCtx),
    /// A bead's initialiser or finaliser (an unscheduled fiber).
    Unscheduled(&'static ExecCtx),
    /// Nothing of a tapestry: the runtime itself.
    Outside,
}

impl Site {
    /// The site of code running on this thread now.
    #[inline(always)]
    pub(crate) fn here() -> Site {
        let here = 0u8;
        Site::at(std::ptr::addr_of!(here) as usize)
    }

    /// The site of code running on this thread with stack pointer `sp`:
    /// a string's (or initialiser's) only if `sp` lies on its fiber's stack.
    /// The worker that drives a fiber has the string as its current context
    /// too, but what fails on the worker's own stack is the runtime's.
    pub(crate) fn at(sp: usize) -> Site {
        match current() {
            Some(ctx) => {
                let (low, high) = ctx.stack_bounds();
                match (low..high).contains(&sp) {
                    true if ctx.info.id == 0 => Site::Unscheduled(ctx),
                    true => Site::String(ctx),
                    false => Site::Outside,
                }
            }
            None => Site::Outside,
        }
    }

    /// The running context, if on a fiber.
    pub(crate) fn ctx(self) -> Option<&'static ExecCtx> {
        match self {
            Site::String(ctx) | Site::Unscheduled(ctx) => Some(ctx),
            Site::Outside => None,
        }
    }
}

/// A diagnostic being composed, and what it decides.
pub(crate) struct Report {
    line: Line,
    site: Site,
    /// Whether some bead was blamed.
    blamed: bool,
    /// Whether state other weaves use may be damaged.
    shared: bool,
    /// Whether only the string's own state is involved, whoever is blamed
    /// (its stack overflowed).
    own_state: bool,
}

impl Report {
    /// Starts "weaves: WHAT in string `S` (weave `W`)". For an initialiser
    /// or finaliser, just "WHAT": the code that ran it words the line.
    pub(crate) fn new(what: &str, site: Site) -> Report {
        let mut line = Line::new();
        match site {
            Site::String(ctx) => {
                let _ = write!(
                    line,
                    "weaves: {what} in string `{}` (weave `{}`)",
                    ctx.info.name, ctx.info.weave
                );
            }
            Site::Unscheduled(_) => {
                let _ = write!(line, "{what}");
            }
            Site::Outside => {
                let _ = write!(line, "weaves: {what} in the runtime, outside any string");
            }
        }
        Report {
            line,
            site,
            blamed: false,
            shared: false,
            own_state: false,
        }
    }

    /// Records that only the string's own state is involved: the blamed
    /// bead being shared stops nothing else.
    pub(crate) fn stack_is_the_strings_own(&mut self) {
        self.own_state = true;
        self.blamed = true;
    }

    pub(crate) fn line(&mut self) -> &mut Line {
        &mut self.line
    }

    /// Adds ": bead `B` (PATH, FUNCTION+OFFSET)".
    pub(crate) fn culprit(&mut self, c: &Culprit<'_>) {
        let _ = write!(self.line, ": ");
        c.describe(&mut self.line);
        self.blamed = true;
        self.shared |= c.bead.shared && !self.own_state;
    }

    /// Adds ": bead `B` (PATH)" for bead `owner`.
    pub(crate) fn bead_by_owner(&mut self, owner: OwnerId) {
        with_registry(|beads| {
            if let Some(bead) = beads.get(&owner) {
                self.culprit(&Culprit {
                    bead,
                    at: 0,
                    direct: false,
                });
            }
        });
    }

    /// Records that state of a bead shared by several weaves is involved.
    pub(crate) fn involves_shared_state(&mut self) {
        self.shared = true;
    }

    /// Whether the string alone can end (nothing else is affected).
    fn contained(&self) -> bool {
        match self.site {
            Site::String(_) => self.blamed && !self.shared,
            Site::Unscheduled(_) => true,
            Site::Outside => false,
        }
    }

    /// Finishes and writes the line (or leaves it, for an initialiser or
    /// finaliser); if the fault cannot be contained, ends the process with
    /// `status`.
    fn conclude(&mut self, status: i32) {
        if weaves_arena::abandon_held_heap().is_some() {
            let _ = write!(
                self.line,
                "; it stopped inside a heap operation, and that heap allocates no more"
            );
        }
        if !self.contained() {
            let why = match self.site {
                Site::Outside => "; this is a bug in the runtime",
                _ if self.shared => {
                    "; the bead is shared by several weaves, so the whole tapestry stops"
                }
                _ => "; no bead can be blamed, so the whole tapestry stops",
            };
            let _ = write!(self.line, "{why}");
            self.line.emit();
            // SAFETY: ending the process: async-signal-safe, runs nothing
            // of the (possibly damaged) process's state.
            unsafe { libc::_exit(status) }
        }
        match self.site {
            Site::Unscheduled(_) => self.line.leave(),
            _ => self.line.emit(),
        }
    }

    /// Writes the line and nothing else (the caller passes the signal on).
    pub(crate) fn announce(mut self) {
        self.line.emit();
    }

    /// From a signal handler: reports, then makes the interrupted string
    /// continue in [`fault_exit`] with its stack pointer at `sp` (or ends
    /// the process, see [`Report::conclude`]).
    pub(crate) fn end_in_context(mut self, uc: &mut libc::ucontext_t, sp: usize, status: i32) {
        self.conclude(status);
        let g = &mut uc.uc_mcontext.gregs;
        g[libc::REG_RIP as usize] = fault_exit as *const () as i64;
        // As if `call fault_exit` had pushed a return address at a 16-byte
        // aligned call site.
        g[libc::REG_RSP as usize] = ((sp & !15) - 8) as i64;
        g[libc::REG_RDI as usize] = i64::from(status);
    }

    /// From an interposed call: reports, then ends the string (or the
    /// process, see [`Report::conclude`]).
    pub(crate) fn end_now(mut self, status: i32) -> ! {
        self.conclude(status);
        fault_exit(status)
    }
}

/// Where a string that faulted continues: it ends with `status`.
pub(crate) extern "C" fn fault_exit(status: i32) -> ! {
    exit_current(status);
    // SAFETY: not on a fiber after all (exit_current returned): end the
    // process without running anything else.
    unsafe { libc::_exit(status) }
}
