//! Ending a running tapestry from outside: `SIGTERM` (what `kill` and
//! `weaves stop` send), `SIGINT` (Ctrl-C) and `SIGHUP`.
//!
//! Without this a signal would end the process at once, with bead
//! finalisers never run and output in C buffers lost. While strings run,
//! the runtime catches them instead:
//!
//! ```text
//!  signal ──> handler: write(pipe, signo)          (async-signal-safe only)
//!                 │
//!  "weaves stop" reader thread: read(pipe) ──> Event::Stop(signo)
//!                 │
//!  thread running the tapestry: Scheduler::end_all() ── every string ends
//!  at its next safe point ── finalisers ── exit status 128 + signo
//! ```
//!
//! A second signal while the tapestry ends takes the signal's default
//! action (the process dies by it): a string that never reaches a safe
//! point must not make the process unkillable by `kill`. `weaves stop`
//! sends `SIGKILL` after its timeout for the same reason.
//!
//! The pipe and the reader thread are made once per process and live as
//! long as it: the handler never writes to a descriptor that may have been
//! closed and reused.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, OnceLock};

use crate::live::Event;

/// The signals that end a tapestry gracefully.
const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The pipe's write end (the handler's only state besides [`ENDING`]).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Set by the first signal: a second one is not caught.
static ENDING: AtomicBool = AtomicBool::new(false);
/// Where the reader thread hands signals: the running tapestry's events.
static TARGET: Mutex<Option<Sender<Event>>> = Mutex::new(None);

/// The name of a signal this module catches, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Catches the ending signals while it lives, handing each to `events`;
/// dropped, it lets them take their default action again (unless a
/// tapestry is already ending: then a second signal still kills it).
pub(crate) struct Watch {
    installed: bool,
}

/// Starts catching the ending signals for the tapestry whose thread
/// listens on `events`.
pub(crate) fn watch(events: Sender<Event>) -> Watch {
    *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = Some(events);
    if let Err(e) = reader() {
        tracing::warn!("SIGTERM and SIGINT will end this run at once, without finalisers: {e}");
        return Watch { installed: false };
    }
    for &signal in &SIGNALS {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler
        // only touches atomics and calls async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            // SA_RESTART: system calls bead code was in go on, as they would
            // had the signal been ignored; SA_ONSTACK: a string near the end
            // of its stack still has room for the handler.
            action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    tracing::trace!("SIGTERM, SIGINT and SIGHUP end the tapestry at safe points");
    Watch { installed: true }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.installed && !ENDING.load(Ordering::SeqCst) {
            for &signal in &SIGNALS {
                // SAFETY: restores the default disposition.
                unsafe { libc::signal(signal, libc::SIG_DFL) };
            }
        }
    }
}

/// The handler: the first signal goes down the pipe, a second one kills.
extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: errno is this thread's; saved and restored around the calls
    // below so that the interrupted code sees its own.
    let errno = unsafe { *libc::__errno_location() };
    if ENDING.swap(true, Ordering::SeqCst) {
        // SAFETY: async-signal-safe calls: default action, then raise it
        // (it is delivered when this handler returns).
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    } else {
        let byte = signal as u8;
        let fd = PIPE_WRITE.load(Ordering::SeqCst);
        // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's write
        // end, never closed (see the module docs). A full pipe drops the
        // byte, which cannot happen for the first signal.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Makes the pipe and its reader thread, once.
fn reader() -> Result<(), String> {
    static MADE: OnceLock<Result<(), String>> = OnceLock::new();
    MADE.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills `fds` on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!(
                "cannot make a pipe: {}",
                std::io::Error::last_os_error()
            ));
        }
        PIPE_WRITE.store(fds[1], Ordering::SeqCst);
        let read_end = fds[0];
        std::thread::Builder::new()
            .name("weaves signals".into())
            .stack_size(64 << 10)
            .spawn(move || loop {
                let mut byte = 0u8;
                // SAFETY: reads one byte into `byte` from our own pipe.
                let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                if n == 1 {
                    let target = TARGET.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(events) = target.as_ref() {
                        let _ = events.send(Event::Stop(i32::from(byte)));
                    }
                } else if n == 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return;
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the signal thread: {e}"))
    })
    .clone()
}
