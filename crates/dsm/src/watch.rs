//! Noticing writes to fetched pages without taking faults.
//!
//! Under `lrc` a node must know which of the pages it fetched it wrote
//! before a release. Protecting them read-only and catching the first
//! write costs a signal and two protection changes per page — about 6 µs
//! on a virtual machine, most of it the kernel splitting and merging
//! mappings. Instead a fetched page is installed writable but
//! write-protected through a userfaultfd in asynchronous mode: its first
//! write is let through by the kernel itself (about 1 µs, no signal, no
//! thread), which clears the protection, and at a release one
//! `PAGEMAP_SCAN` of the fetched range says which pages lost it. Their
//! twins are the fetched contents, kept from the grant.
//!
//! Kernels without asynchronous write protection (before Linux 6.7) keep
//! the fault-driven twins: [`watcher`] is then `None`.

use std::sync::OnceLock;

use weaves_snapshot::{Scan, WriteProtect};

use crate::pages::PAGE;

static WATCHER: OnceLock<Option<WriteProtect>> = OnceLock::new();

/// Opens the watcher (before any fault needs it); `false` if this kernel
/// has none.
pub(crate) fn start() -> bool {
    WATCHER.get_or_init(|| WriteProtect::new().ok()).is_some()
}

pub(crate) fn watcher() -> Option<&'static WriteProtect> {
    WATCHER.get().and_then(Option::as_ref)
}

/// Starts watching `pages` pages from `first` for writes; `false` if the
/// kernel refused (the caller then protects them read-only instead).
pub(crate) fn arm(first: u64, pages: u64) -> bool {
    let Some(w) = watcher() else { return false };
    let len = pages * PAGE;
    w.register(first, len)
        .and_then(|_| w.protect(first, len))
        .is_ok()
}

/// Which of `candidates` (sorted pages, all armed once) were written since
/// they were last armed; they are armed again before this returns, so a
/// write from now on is noticed at the next release.
///
/// The kernel's scan walks every mapping in the range, about 0.25 µs
/// each, and a page installed alone is a mapping of its own (its
/// neighbours have other protections): for scattered pages comparing
/// each with its twin (`differs`, about 0.1 µs a page) is cheaper, and
/// as exact. Without an answer from the kernel the comparison decides.
pub(crate) fn written_since_armed(candidates: &[u64], differs: impl Fn(u64) -> bool) -> Vec<u64> {
    let Some(w) = watcher() else {
        return candidates.iter().copied().filter(|&p| differs(p)).collect();
    };
    let mut runs = 0;
    for_each_run(candidates, |_, _| runs += 1);
    let scanned = match (candidates.first(), candidates.last()) {
        (Some(&lo), Some(&hi)) if runs * 4 <= candidates.len() => {
            w.written(lo, hi + PAGE, Scan::Peek).ok()
        }
        _ => None,
    };
    let written: Vec<u64> = match scanned {
        Some(runs) => {
            // Both are sorted: one walk.
            let mut written = Vec::new();
            let mut r = runs.iter().peekable();
            for &p in candidates {
                while r.next_if(|&&(a, l)| a + l <= p).is_some() {}
                if r.peek().is_some_and(|&&(a, _)| a <= p) {
                    written.push(p);
                }
            }
            written
        }
        None => candidates.iter().copied().filter(|&p| differs(p)).collect(),
    };
    for_each_run(&written, |first, pages| {
        let _ = w.protect(first, pages * PAGE);
    });
    written
}

/// Calls `f(first, pages)` for each run of consecutive pages in `sorted`.
pub(crate) fn for_each_run(sorted: &[u64], mut f: impl FnMut(u64, u64)) {
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == sorted[j - 1] + PAGE {
            j += 1;
        }
        f(sorted[i], (j - i) as u64);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_consecutive_pages_are_found() {
        let p = |n: u64| 0x10000 + n * PAGE;
        let mut got = Vec::new();
        for_each_run(&[p(0), p(1), p(2), p(5), p(7), p(8)], |a, n| {
            got.push((a, n))
        });
        assert_eq!(got, vec![(p(0), 3), (p(5), 1), (p(7), 2)]);
    }
}
