//! State transfer from the old bead to the new one, in the best format both
//! versions offer.
//!
//! | format | offered by | what moves |
//! |---|---|---|
//! | `hooks` | an old bead exporting `wv_state_export` and a new one exporting `wv_state_import` | whatever the modules' own code converts (a changed struct layout, say) |
//! | `by-reference` | both, when every variable has the same name, offset and size in both | every variable, as one block per variable |
//! | `by-symbol` | both | each variable whose name and size (and type, where both files carry debug information) match; the rest are listed |
//! | `none` | both | nothing: the new bead starts as freshly loaded |
//!
//! `auto` takes the first of the old bead's list that the new one offers
//! too. In every format but `none` the new bead adopts the old bead's heap
//! as it is: moved variables keep pointing into it.
//!
//! A moved word that points into the old bead's image is *translated*: a
//! pointer to a function or a variable of the old bead becomes a pointer to
//! the one of the same name in the new bead (at the same offset into it).
//! Pointers into the old bead's read-only data (string literals) are kept:
//! its code and constants stay mapped. The adopted heap is looked through
//! the same way (`by-symbol`, `by-reference`): nodes of a structure whose
//! head moved, C++ objects' vtable pointers, stored callbacks.

use weaves_loader::{DataObject, Module};

/// A state-transfer format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Hooks,
    ByReference,
    BySymbol,
    None,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Hooks => "hooks",
            Format::ByReference => "by-reference",
            Format::BySymbol => "by-symbol",
            Format::None => "none",
        }
    }

    /// `auto` is `None` (negotiate).
    pub fn parse(s: &str) -> Result<Option<Format>, String> {
        Ok(Some(match s {
            "auto" => return Ok(None),
            "hooks" => Format::Hooks,
            "by-reference" => Format::ByReference,
            "by-symbol" => Format::BySymbol,
            "none" => Format::None,
            other => {
                return Err(format!(
                    "unknown transfer format `{other}` (auto, by-reference, by-symbol, hooks, none)"
                ))
            }
        }))
    }
}

/// The exports that offer the `hooks` format.
pub const EXPORT_HOOK: &str = "wv_state_export";
pub const IMPORT_HOOK: &str = "wv_state_import";

/// Variables the C runtime's start files put in every module: they belong
/// to the bead's own machinery, not to its state.
const MACHINERY: &[&str] = &[
    "__dso_handle",
    "completed.0",
    "__TMC_END__",
    "__FRAME_END__",
];

/// Variable name → canonical type (see [`crate::types`]).
pub type Types = std::collections::HashMap<String, String>;

/// The two beads of a swap, as state transfer sees them.
pub struct ObjectMap<'a> {
    pub old: &'a Module,
    pub old_base: u64,
    pub new: &'a Module,
    pub new_base: u64,
    /// The variables' types, where the module files carry debug
    /// information.
    pub old_types: Option<&'a Types>,
    pub new_types: Option<&'a Types>,
}

/// What a transfer did.
#[derive(Clone, Debug, Default)]
pub struct TransferReport {
    pub transferred: Vec<String>,
    /// Old variables that did not move, and why.
    pub not_transferred: Vec<String>,
    pub bytes: u64,
    /// Moved words (and words of the adopted heap) that pointed into the
    /// old bead's functions or variables and now point into the new
    /// bead's.
    pub pointers_translated: u64,
    /// Bytes of the adopted heap looked through for such pointers.
    pub heap_bytes_scanned: u64,
}

fn state_objects(m: &Module) -> impl Iterator<Item = &DataObject> {
    m.data_objects()
        .iter()
        .filter(|o| !MACHINERY.contains(&o.name.as_str()))
}

impl ObjectMap<'_> {
    /// Whether every variable has the same name, offset and size in both
    /// (and the same type, where both files say).
    pub fn same_layout(&self) -> bool {
        state_objects(self.old).eq(state_objects(self.new))
            && state_objects(self.old).all(|o| self.type_change(&o.name).is_none())
    }

    /// How variable `name`'s type changed, if both files describe it and
    /// they differ.
    fn type_change(&self, name: &str) -> Option<String> {
        let old = self.old_types?.get(name)?;
        let new = self.new_types?.get(name)?;
        if old == new {
            return None;
        }
        let (a, b) = (crate::types::brief(old), crate::types::brief(new));
        Some(if a == b {
            format!("type {a} changed")
        } else {
            format!("type {a} → {b}")
        })
    }

    /// The formats the old bead offers, best first.
    pub fn old_offers(&self) -> Vec<Format> {
        let mut v = Vec::new();
        if self.old.find_export(EXPORT_HOOK, None).is_some() {
            v.push(Format::Hooks);
        }
        v.extend([Format::ByReference, Format::BySymbol, Format::None]);
        v
    }

    /// The formats the new bead offers, best first.
    pub fn new_offers(&self) -> Vec<Format> {
        let mut v = Vec::new();
        if self.new.find_export(IMPORT_HOOK, None).is_some() {
            v.push(Format::Hooks);
        }
        if self.same_layout() {
            v.push(Format::ByReference);
        }
        v.extend([Format::BySymbol, Format::None]);
        v
    }

    /// The format to use: `asked` if both offer it, else (for `auto`) the
    /// first of the old bead's list the new one offers.
    pub fn negotiate(&self, asked: Option<Format>) -> Result<Format, String> {
        let (old, new) = (self.old_offers(), self.new_offers());
        let names = |v: &[Format]| v.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
        match asked {
            Some(f) if old.contains(&f) && new.contains(&f) => Ok(f),
            Some(f) => Err(format!(
                "transfer `{}` is not offered by both versions (old offers {}; new offers {})",
                f.name(),
                names(&old),
                names(&new)
            )),
            None => old
                .iter()
                .copied()
                .find(|f| new.contains(f))
                .ok_or_else(|| "no transfer format in common".into()),
        }
    }

    /// The pairs of variables `by-symbol` moves, and the reasons for the
    /// old ones it leaves.
    fn pairs(&self) -> (Vec<(&DataObject, &DataObject)>, Vec<String>) {
        let count = |m: &Module, name: &str| state_objects(m).filter(|o| o.name == name).count();
        let mut pairs = Vec::new();
        let mut left = Vec::new();
        for o in state_objects(self.old) {
            if count(self.old, &o.name) > 1 {
                left.push(format!("{} (name not unique in the old version)", o.name));
                continue;
            }
            let found: Vec<&DataObject> = state_objects(self.new)
                .filter(|n| n.name == o.name)
                .collect();
            match found.as_slice() {
                [] => left.push(format!("{} (not in the new version)", o.name)),
                [n] if n.size != o.size => {
                    left.push(format!("{} (size {} → {})", o.name, o.size, n.size))
                }
                [n] => match self.type_change(&o.name) {
                    Some(why) => left.push(format!("{} ({why})", o.name)),
                    None => pairs.push((o, *n)),
                },
                _ => left.push(format!("{} (name not unique in the new version)", o.name)),
            }
        }
        (pairs, left)
    }

    /// Where a word pointing into the old bead points in the new one, if
    /// it names a function or variable both have.
    fn translate(&self, word: u64) -> Option<u64> {
        let off = word.checked_sub(self.old_base)?;
        if let Some((name, within)) = self.old.function_at(off) {
            return self
                .new
                .entry_offset(name)
                .map(|f| self.new_base + f + within);
        }
        let (o, within) = self.old.object_at(off)?;
        state_objects(self.new)
            .find(|n| n.name == o.name && n.size == o.size)
            .map(|n| self.new_base + n.offset + within)
    }

    /// Translates every aligned word in `[lo, hi)` that points into the
    /// old bead's functions or variables.
    ///
    /// # Safety
    /// The range must be mapped, writable memory that nothing else uses
    /// meanwhile.
    unsafe fn translate_range(&self, lo: u64, hi: u64, report: &mut TransferReport) {
        let span = self.old.image_span();
        let mut at = lo.next_multiple_of(8);
        while at + 8 <= hi {
            // SAFETY: an aligned word inside the caller's range.
            let w = unsafe { std::ptr::read(at as *const u64) };
            if w.wrapping_sub(self.old_base) < span {
                if let Some(t) = self.translate(w) {
                    // SAFETY: as above.
                    unsafe { std::ptr::write(at as *mut u64, t) };
                    report.pointers_translated += 1;
                }
            }
            at += 8;
        }
    }

    /// Translates pointers into the old bead found in the heap the new
    /// bead adopts (`regions`: its extents): a linked structure whose head
    /// is a moved variable (a C++ `std::map` points back at its header), a
    /// C++ object's vtable pointer (now the new version's vtable), a stored
    /// callback. Only pages present in memory are read: untouched ones hold
    /// nothing.
    ///
    /// # Safety
    /// The regions must be the adopted heap's extents, mapped read-write,
    /// and nothing may run in either bead (the blocked window).
    pub unsafe fn translate_heap(&self, regions: &[(u64, u64)], report: &mut TransferReport) {
        const PAGE: u64 = 4096;
        for &(lo, hi) in regions {
            let pages = ((hi - lo) / PAGE) as usize;
            let mut present = vec![0u8; pages];
            // SAFETY: `lo` is page-aligned (arena extents are) and the
            // vector holds one byte per page of the range.
            let ok = unsafe {
                libc::mincore(
                    lo as *mut libc::c_void,
                    (hi - lo) as usize,
                    present.as_mut_ptr(),
                )
            } == 0;
            for (k, p) in present.iter().enumerate() {
                if ok && p & 1 == 0 {
                    continue;
                }
                let page = lo + k as u64 * PAGE;
                // SAFETY: the caller's contract, one page of it.
                unsafe { self.translate_range(page, page + PAGE, report) };
                report.heap_bytes_scanned += PAGE;
            }
        }
    }

    /// Copies variable `o` of the old bead over `n` of the new one,
    /// translating pointers into the old bead.
    ///
    /// # Safety
    /// Both beads must be mapped, and nothing may run in either.
    unsafe fn move_object(&self, o: &DataObject, n: &DataObject, report: &mut TransferReport) {
        let (from, to, len) = (
            self.old_base + o.offset,
            self.new_base + n.offset,
            o.size.min(n.size),
        );
        // SAFETY: both ranges lie in the beads' writable segments (data
        // objects are read from them) and are mapped; the caller guarantees
        // no one else touches them.
        unsafe { std::ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, len as usize) };
        // SAFETY: the range just written, in the new bead, which nothing
        // runs in (caller contract).
        unsafe { self.translate_range(to, to + len, report) };
        report.bytes += len;
    }

    /// Makes the pages the transfer will write present now, before the
    /// blocked window (the new bead's variables are mostly untouched
    /// `.bss`: writing them would otherwise fault once per page while
    /// callers wait).
    pub fn prefault(&self) {
        const POPULATE_WRITE: i32 = 23; // MADV_POPULATE_WRITE, Linux 5.14
        for (_, n) in self.pairs().0 {
            let lo = (self.new_base + n.offset) & !4095;
            let hi = (self.new_base + n.offset + n.size).next_multiple_of(4096);
            // SAFETY: whole pages of the new bead's writable segments (data
            // objects lie in them), mapped; populating changes no contents.
            unsafe { libc::madvise(lo as *mut libc::c_void, (hi - lo) as usize, POPULATE_WRITE) };
        }
    }

    /// `by-symbol` (and `by-reference`, whose layouts match one to one).
    ///
    /// # Safety
    /// Both beads must be mapped, and no code may run in either (the
    /// swap's blocked window).
    pub unsafe fn move_variables(&self) -> TransferReport {
        let (pairs, left) = self.pairs();
        let mut report = TransferReport {
            not_transferred: left,
            ..Default::default()
        };
        for (o, n) in pairs {
            // SAFETY: caller contract.
            unsafe { self.move_object(o, n, &mut report) };
            report.transferred.push(o.name.clone());
        }
        report
    }

    /// For `none`: every old variable, listed as left behind.
    pub fn nothing_moved(&self) -> TransferReport {
        TransferReport {
            not_transferred: state_objects(self.old)
                .map(|o| format!("{} (transfer none)", o.name))
                .collect(),
            ..Default::default()
        }
    }
}
