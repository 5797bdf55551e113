//! Hot swap: replacing a live object's implementation under its callers.
//!
//! The swap follows K42's mediator protocol, in four phases:
//!
//! 1. **Forward.** The mediator is interposed (the phase flips to
//!    `Forward`): new calls still go to the old implementation, counted as
//!    forwarded and marked per thread as *inside*. Then the generation
//!    advances and the mediator waits until every call that entered before
//!    it — calls it could not count — has left.
//! 2. **Block.** The phase flips to `Block`: new calls wait. A call from a
//!    thread already inside the object (a method calling another method of
//!    the same object, directly or through other code) is let through, as
//!    blocking it would wait on the swap, which waits on that thread's
//!    outer call. The generation advances again and the mediator waits for
//!    the forwarded calls to leave. Now no thread is inside: every call
//!    since is parked.
//! 3. **Transfer.** The mediator picks a state format both implementations
//!    support ([`crate::transfer`]), exports the old state and imports it
//!    into a fresh root of the new implementation. If that fails, the swap
//!    rolls back: the old root stays, untouched.
//! 4. **Complete.** The object's reference swings to the new root, the
//!    phase returns to `Normal`, the blocked callers are released (they
//!    retry, and reach the new implementation) and the old root is freed:
//!    nothing can reach it any more.
//!
//! Swaps of one object take turns; a swap asked for from inside a call of
//! any clustered object is refused (it would wait for itself).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::object::{inside_any, BLOCK, FORWARD, NORMAL};
use crate::transfer::{negotiate, Format, TransferError};
use crate::{Clustered, Implementation, Root};

/// What one swap did and how long each phase took.
#[derive(Clone, Debug)]
pub struct SwapReport {
    pub from: &'static str,
    pub to: &'static str,
    /// The format the state moved in (`None` when the transfer failed
    /// before one was chosen).
    pub format: Option<Format>,
    /// Whether the new implementation is live (false: rolled back).
    pub completed: bool,
    /// Why the transfer failed, when it did.
    pub error: Option<TransferError>,
    pub forward: Duration,
    pub block: Duration,
    pub transfer: Duration,
    pub complete: Duration,
    /// Calls that reached the old implementation through the mediator.
    pub forwarded: u64,
    /// Calls that waited for the swap to end.
    pub blocked: u64,
    /// Re-entrant calls let through while others were blocked.
    pub let_through: u64,
}

impl SwapReport {
    /// The four phases together.
    pub fn total(&self) -> Duration {
        self.forward + self.block + self.transfer + self.complete
    }
}

/// Why a swap did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapError {
    /// Asked for from inside a call of a clustered object.
    FromInside,
}

impl fmt::Display for SwapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwapError::FromInside => f.write_str(
                "not supported: swapping a clustered object from inside a call of one (it would wait for itself)",
            ),
        }
    }
}

impl std::error::Error for SwapError {}

/// Exports the old root's state and imports it into a fresh root of `to`.
fn transfer<R: ?Sized + 'static>(
    old: &Root<R>,
    to: &Arc<dyn Implementation<R>>,
    cpus: usize,
) -> (Option<Format>, Result<Box<Root<R>>, TransferError>) {
    let from = old.implementation();
    let Some(format) = negotiate(from.exports(), to.imports()) else {
        let err = TransferError::NoCommonFormat {
            from: from.name().into(),
            to: to.name().into(),
        };
        return (None, Err(err));
    };
    let result = (|| {
        let state = from.export(old, format)?;
        let new = Box::new(Root::new(to.clone(), cpus));
        to.import(&new, state)?;
        Ok(new)
    })();
    (Some(format), result)
}

/// Ends a swap's hold on its object's callers when dropped.
struct Release<'a, R: ?Sized + 'static>(&'a Clustered<R>);

impl<R: ?Sized + 'static> Drop for Release<'_, R> {
    fn drop(&mut self) {
        let object = self.0;
        {
            // Under the lock blocked callers check the phase with, so none
            // can miss the wake-up between its check and its wait.
            let _g = object.released.lock().unwrap_or_else(|e| e.into_inner());
            object.phase.store(NORMAL, Ordering::SeqCst);
        }
        object.wake.notify_all();
    }
}

impl<R: ?Sized + Send + Sync + 'static> Clustered<R> {
    /// Replaces the implementation with `to`, carrying the state over.
    ///
    /// A failed transfer is not an error of the swap: the report says it
    /// rolled back (`completed == false`) and why.
    pub fn swap(&self, to: Arc<dyn Implementation<R>>) -> Result<SwapReport, SwapError> {
        if inside_any() {
            return Err(SwapError::FromInside);
        }
        let _turn = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        for n in [&self.forwarded, &self.blocked, &self.let_through] {
            n.store(0, Ordering::Relaxed);
        }

        let t0 = Instant::now();
        // From here on, leaving by any way (an implementation's export or
        // import panicking included) releases the callers.
        let release = Release(self);
        self.phase.store(FORWARD, Ordering::SeqCst);
        self.generations.advance();

        let t1 = Instant::now();
        self.phase.store(BLOCK, Ordering::SeqCst);
        self.generations.advance();

        let t2 = Instant::now();
        let old_ptr = self.current.load(Ordering::Acquire);
        // SAFETY: only swaps replace `current`, and this one holds the turn.
        let old = unsafe { &*old_ptr };
        let from = old.implementation().name();
        let (format, result) = transfer(old, &to, self.cpus);

        let t3 = Instant::now();
        let (completed, error) = match result {
            Ok(new) => {
                self.current.store(Box::into_raw(new), Ordering::Release);
                (true, None)
            }
            Err(e) => (false, Some(e)),
        };
        drop(release);
        if completed {
            // SAFETY: `old_ptr` came from Box::into_raw and is no longer
            // reachable: calls that read it entered a generation before the
            // second advance had drained (they have all left), blocked calls
            // read `current` only after retrying, and it was replaced above.
            drop(unsafe { Box::from_raw(old_ptr) });
            self.swaps.fetch_add(1, Ordering::Relaxed);
        }
        let t4 = Instant::now();

        Ok(SwapReport {
            from,
            to: to.name(),
            format,
            completed,
            error,
            forward: t1 - t0,
            block: t2 - t1,
            transfer: t3 - t2,
            complete: t4 - t3,
            forwarded: self.forwarded.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
            let_through: self.let_through.load(Ordering::Relaxed),
        })
    }
}
