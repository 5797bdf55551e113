//! Standard output of the verbs that print results (`ps`, `inspect`,
//! `bench`, `checkpoint`, `apply`, …).
//!
//! `println!` panics when stdout cannot be written, so `weaves ps --json |
//! head -1` used to end in a panic message and status 134. Everything the
//! CLI prints to stdout goes through [`outln!`] / [`out!`] instead:
//!
//! * a reader that went away (`EPIPE`) ends the process as it ends `ls` or
//!   `cat`: killed by `SIGPIPE`, silently (status 141 in a shell);
//! * any other failure (`> /dev/full`) is one line on stderr and exit
//!   status 74 (`EX_IOERR`).
//!
//! `SIGPIPE` stays ignored otherwise (Rust's default): bead code writing to
//! a closed socket or pipe gets `EPIPE`, and the monitor client hears that a
//! tapestry closed its connection instead of dying of it.

use std::io::Write;

/// Prints a line to stdout; see the module doc for what a failure does.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints to stdout without a newline; see the module doc.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!($($arg)*))
    };
}

/// Writes `args` to stdout, or ends the process as the module doc says.
pub(crate) fn print(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        stdout_failed(&e);
    }
}

fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // SAFETY: restoring the default disposition and raising the signal
        // that the write would have raised had it not been ignored; the
        // process ends here.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    eprintln!("weaves: cannot write to standard output: {e}");
    std::process::exit(74);
}
