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

    /// The engine asked for at point number `n`, if any (taking it).
    pub(crate) fn take(&self, n: u64) -> Option<EngineKind> {
        if let Some(hook) = self.hook.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            if let Some(e) = hook(n) {
                self.request(e);
            }
        }
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
}

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
    /// Decides what reconfiguration point call does (the engine performs
    /// it through the module's asyncify exports).
    pub(crate) fn at_point(&mut self) -> PointAction {
        if self.rewinding {
            self.rewinding = false;
            return PointAction::StopRewind;
        }
        self.points += 1;
        match self.control.take(self.points) {
            Some(to) if self.unwind_area != 0 => {
                self.unwinding_to = Some(to);
                PointAction::StartUnwind {
                    area: self.unwind_area,
                }
            }
            _ => PointAction::Continue,
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
