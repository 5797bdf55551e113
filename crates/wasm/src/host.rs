//! What a Wasm string's host calls see, whichever engine runs it: its WASI
//! state, the asyncify bookkeeping of its reconfiguration points, and the
//! request to move it to another engine.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::wasi::Wasi;
use crate::EngineKind;

/// Bytes at the end of linear memory the runtime adds for the unwound
/// stack (asyncify's data area): enough for thousands of frames.
pub const UNWIND_AREA: u32 = 1 << 20;

/// A hook called at every reconfiguration point with how many the string
/// has passed; what it returns is requested as if by [`Control::request`].
pub type PointHook = Box<dyn FnMut(u64) -> Option<EngineKind> + Send>;

/// How a string is asked to move to another engine. Shared between the
/// string and whoever asks (the monitor).
#[derive(Default)]
pub struct Control {
    /// 0: nothing asked; else `1 + EngineKind as u8`.
    request: AtomicU8,
    /// The engine running the string now: 0 before it starts, else
    /// `1 + EngineKind as u8`.
    current: AtomicU8,
    hook: Mutex<Option<PointHook>>,
    /// The string's computation as it saved it for the pending checkpoint.
    saved: Mutex<Option<crate::Saved>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("request", &self.request.load(Ordering::Relaxed))
            .finish()
    }
}

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }

    /// Asks the string to move to `engine` at its next reconfiguration
    /// point.
    pub fn request(&self, engine: EngineKind) {
        self.request.store(1 + engine as u8, Ordering::Release);
    }

    /// The engine running the string now (none before it starts).
    pub fn engine(&self) -> Option<EngineKind> {
        match self.current.load(Ordering::Acquire) {
            0 => None,
            k => EngineKind::from_index(k - 1),
        }
    }

    pub(crate) fn set_engine(&self, engine: EngineKind) {
        self.current.store(1 + engine as u8, Ordering::Release);
    }

    /// Calls `hook` at every reconfiguration point (tests and tools that
    /// need a move at an exact point).
    pub fn at_points(&self, hook: PointHook) {
        *self.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// What the string saved for the pending checkpoint (taking it), if it
    /// saved anything since [`Control::forget_saved`].
    pub fn take_saved(&self) -> Option<crate::Saved> {
        self.saved.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Drops what the string saved for an earlier checkpoint.
    pub fn forget_saved(&self) {
        self.take_saved();
    }

    pub(crate) fn put_saved(&self, saved: crate::Saved) {
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
    }

    /// The engine asked for at point number `n`, if any (taking it).
    pub(crate) fn take(&self, n: u64) -> Option<EngineKind> {
        if let Some(hook) = self.hook.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            if let Some(e) = hook(n) {
                self.request(e);
            }
        }
        self.take_request()
    }

    /// The engine asked for by [`Control::request`], if any (taking it).
    pub(crate) fn take_request(&self) -> Option<EngineKind> {
        match self.request.swap(0, Ordering::AcqRel) {
            0 => None,
            k => EngineKind::from_index(k - 1),
        }
    }
}

/// The host side of one running Wasm string.
pub struct Host {
    pub wasi: Wasi,
    pub control: Arc<Control>,
    /// The engine running it now.
    pub engine: EngineKind,
    /// Reconfiguration points passed so far (across engines).
    pub points: u64,
    /// Where the unwound stack goes (0 before the area is made).
    pub(crate) unwind_area: u32,
    /// Set when a rewind was started: the next reconfiguration point is
    /// the one the string was captured at, and it ends the rewind.
    pub(crate) rewinding: bool,
    /// Set when the string is unwinding to move to this engine.
    pub(crate) unwinding_to: Option<EngineKind>,
    /// Set when it unwinds to be saved for a checkpoint (it then goes on
    /// under the same engine).
    pub(crate) saving: bool,
    /// Set when it unwinds at a preemption check to let the worker run
    /// other strings (it then rewinds in the same instance).
    pub(crate) preempting: bool,
    /// When it last got its worker (its slice started).
    pub(crate) slice_start: std::time::Instant,
}

/// How long a string runs Wasm code before a preemption check lets other
/// strings of its worker run.
pub const SLICE: std::time::Duration = std::time::Duration::from_millis(10);

impl Host {
    pub fn new(wasi: Wasi, control: Arc<Control>, engine: EngineKind) -> Host {
        Host {
            wasi,
            control,
            engine,
            points: 0,
            unwind_area: 0,
            rewinding: false,
            unwinding_to: None,
            saving: false,
            preempting: false,
            slice_start: std::time::Instant::now(),
        }
    }
}

/// What a reconfiguration point must do.
pub(crate) enum PointAction {
    /// Carry on.
    Continue,
    /// The rewind arrived: stop it (`asyncify_stop_rewind`) and carry on.
    StopRewind,
    /// Write the data area's header at `area` and start unwinding
    /// (`asyncify_start_unwind(area)`).
    StartUnwind { area: u32 },
}

impl Host {
    /// Decides what a reconfiguration point call does (the engine performs
    /// it through the module's asyncify exports). `name` is the call's
    /// argument: [`crate::preempt::CHECK`] for a preemption check, which is
    /// not counted as a point, consults no point hook, and yields the
    /// worker when the slice is spent.
    pub(crate) fn at_point(&mut self, name: i32) -> PointAction {
        if self.rewinding {
            self.rewinding = false;
            return PointAction::StopRewind;
        }
        let check = name == crate::preempt::CHECK;
        if !check {
            self.points += 1;
        }
        if self.unwind_area == 0 {
            return PointAction::Continue;
        }
        // A pending checkpoint takes the string as it is here; a move
        // asked for at the same point waits for the next one.
        let to = if weaves_strings::quiesce::pending() {
            self.saving = true;
            Some(self.engine)
        } else if check {
            self.control.take_request()
        } else {
            self.control.take(self.points)
        };
        if to.is_none() && check && self.slice_start.elapsed() >= SLICE {
            if self.wasi.may_switch {
                // The engine keeps no per-thread state across host calls:
                // the fiber yields right here.
                weaves_strings::blocking::yield_now();
                self.slice_start = std::time::Instant::now();
                return PointAction::Continue;
            }
            self.preempting = true;
            self.unwinding_to = Some(self.engine);
            return PointAction::StartUnwind {
                area: self.unwind_area,
            };
        }
        match to {
            Some(to) => {
                self.unwinding_to = Some(to);
                PointAction::StartUnwind {
                    area: self.unwind_area,
                }
            }
            None => PointAction::Continue,
        }
    }

    /// The header of the data area: where the next frame goes, and its end.
    pub(crate) fn area_header(area: u32) -> [u8; 8] {
        let mut h = [0u8; 8];
        h[..4].copy_from_slice(&(area + 8).to_le_bytes());
        h[4..].copy_from_slice(&(area + UNWIND_AREA).to_le_bytes());
        h
    }
}
