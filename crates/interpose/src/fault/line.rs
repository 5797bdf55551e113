//! Composing a diagnostic without allocating: a fixed buffer that signal
//! handlers write to stderr with `write(2)`, or leave for the thread that
//! ran an initialiser or finaliser to report.

use std::cell::RefCell;

const CAPACITY: usize = 512;

/// One line of text, truncated at [`CAPACITY`] bytes.
pub(crate) struct Line {
    buf: [u8; CAPACITY],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(CAPACITY - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

thread_local! {
    /// What ended the initialiser or finaliser that last ran on this thread
    /// (see [`Line::leave`]). `const`, without destructor: usable from a
    /// signal handler.
    static LEFT: RefCell<Line> = const { RefCell::new(Line::new()) };
}

impl Line {
    pub(crate) const fn new() -> Line {
        Line {
            buf: [0; CAPACITY],
            len: 0,
        }
    }

    /// Writes the line, with a newline, to stderr.
    pub(crate) fn emit(&mut self) {
        if self.len == CAPACITY {
            self.buf[CAPACITY - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        // SAFETY: writing our own buffer to stderr; write(2) is
        // async-signal-safe.
        unsafe { libc::write(2, self.buf.as_ptr().cast(), self.len) };
    }

    /// Leaves the line for [`take_fault_report`] on this thread instead of printing
    /// it: an initialiser or finaliser ended by a fault is reported once, by
    /// the code that ran it, as the error of that step.
    pub(crate) fn leave(&self) {
        LEFT.with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                l.buf = self.buf;
                l.len = self.len;
            }
        });
    }
}

/// What ended the initialiser or finaliser that last ran on this thread, if
/// a fault, `abort` or heap misuse ended it; taken (a second call says
/// `None`).
pub fn take_fault_report() -> Option<String> {
    LEFT.with(|l| {
        let mut l = l.borrow_mut();
        let text = (l.len > 0).then(|| String::from_utf8_lossy(&l.buf[..l.len]).into_owned());
        l.len = 0;
        text
    })
}
