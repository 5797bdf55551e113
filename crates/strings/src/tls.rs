//! Thread-local storage of bead code, per string.
//!
//! A bead's `__thread` variables are reached through `__tls_get_addr` (the
//! general-dynamic model every `-fPIC` module uses) or TLS descriptors. We
//! give each bead with a `PT_TLS` segment a module id of our own
//! (`TLS_MODULE_TAG | bead`), written into its `DTPMOD64` relocations, and
//! answer `__tls_get_addr` for those ids from the *string's* table of blocks.
//! Blocks are created on first access from the bead's template (its relocated
//! `.tdata` followed by zeroed `.tbss`) in the bead's own heap, and freed when
//! the string ends. Because the table belongs to the string and not to the OS
//! thread, a string keeps its thread-locals whichever thread drives it.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::RwLock;

use weaves_arena::{heap_for, OwnerId};

use crate::ctx::{current, ExecCtx, RuntimeSection, StringInfo};

/// High bits marking a TLS module id as one of ours; glibc's ids are small.
pub const TLS_MODULE_TAG: u64 = 0x5756_0000_0000_0000;

#[derive(Clone, Copy)]
struct Template {
    image: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
    /// The bead's code reaches these thread-locals through `%gs` (a PIE's
    /// local-exec accesses, rewritten by the loader): each block is
    /// followed by a word pointing at itself, and `%gs` points there.
    local_exec: bool,
}

impl Template {
    /// Bytes of the block before its `%gs` word: the linker's offsets are
    /// from the end of the block rounded up to its alignment.
    fn rounded(&self) -> u64 {
        let align = self.align.max(1);
        self.memsz.div_ceil(align) * align
    }

    fn block_size(&self) -> usize {
        if self.local_exec {
            (self.rounded() + 8) as usize
        } else {
            self.memsz.max(1) as usize
        }
    }
}

/// [`ExecCtx::gs_base`] before it is looked up.
pub(crate) const GS_UNKNOWN: u64 = 0;
/// [`ExecCtx::gs_base`] of a string whose home bead does not use `%gs`.
pub(crate) const GS_NONE: u64 = 1;

static TEMPLATES: RwLock<Option<HashMap<OwnerId, Template>>> = RwLock::new(None);

/// The TLS module id of bead `owner`.
pub fn module_id(owner: OwnerId) -> u64 {
    TLS_MODULE_TAG | u64::from(owner)
}

/// Whether a TLS module id is one of ours.
pub fn is_bead_module(id: u64) -> bool {
    id & 0xffff_0000_0000_0000 == TLS_MODULE_TAG
}

/// Registers bead `owner`'s TLS template (its initialisation image, after
/// relocation) and returns its module id. `local_exec`: the bead's code
/// reaches these variables through `%gs` (see [`enter_local_exec`]).
pub fn register(
    owner: OwnerId,
    image: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
    local_exec: bool,
) -> u64 {
    let mut t = TEMPLATES.write().unwrap_or_else(|e| e.into_inner());
    t.get_or_insert_with(HashMap::new).insert(
        owner,
        Template {
            image,
            filesz,
            memsz,
            align,
            local_exec,
        },
    );
    module_id(owner)
}

/// Forgets bead `owner`'s template (the bead is being removed).
pub fn unregister(owner: OwnerId) {
    if let Some(t) = TEMPLATES
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        t.remove(&owner);
    }
}

thread_local! {
    /// Context for bead code running on a thread that is not a string's
    /// (a host thread calling into a bead): it gets its own blocks.
    static FALLBACK: Cell<*const ExecCtx> = const { Cell::new(std::ptr::null()) };
}

fn context() -> &'static ExecCtx {
    if let Some(c) = current() {
        return c;
    }
    FALLBACK.with(|f| {
        if f.get().is_null() {
            let _rt = RuntimeSection::enter();
            let ctx = Box::new(ExecCtx::new(
                StringInfo {
                    id: 0,
                    name: "host thread".into(),
                    weave: String::new(),
                    home: 0,
                },
                None,
            ));
            f.set(Box::into_raw(ctx));
        }
        // SAFETY: set just above to a leaked Box that lives as long as the
        // thread (it is never freed: host threads calling into beads are rare
        // and their blocks must stay valid until the thread ends).
        unsafe { &*f.get() }
    })
}

/// Address of `offset` in the current string's block for TLS module `id`,
/// or null if `id` is unknown.
pub fn address(id: u64, offset: u64) -> *mut u8 {
    match block_for(context(), id) {
        Some(block) => block.wrapping_add(offset as usize),
        None => std::ptr::null_mut(),
    }
}

/// `ctx`'s block for TLS module `id`, made from the template on first use;
/// `None` if `id` is unknown or its heap is full.
fn block_for(ctx: &ExecCtx, id: u64) -> Option<*mut u8> {
    {
        let blocks = ctx.tls.borrow();
        if let Some(&(_, b)) = blocks.iter().find(|(m, _)| *m == id) {
            return Some(b);
        }
    }
    let owner = (id & 0xffff_ffff) as OwnerId;
    let tmpl = {
        let t = TEMPLATES.read().unwrap_or_else(|e| e.into_inner());
        *t.as_ref()?.get(&owner)?
    };
    let heap = heap_for(owner)?;
    let block = heap.allocate_aligned(tmpl.block_size(), tmpl.align.max(16) as usize);
    if block.is_null() {
        return None;
    }
    // SAFETY: the template image is `filesz` initialised bytes of the bead's
    // mapped data; the block is a fresh allocation of at least `memsz` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(tmpl.image as *const u8, block, tmpl.filesz as usize);
        std::ptr::write_bytes(
            block.add(tmpl.filesz as usize),
            0,
            (tmpl.memsz - tmpl.filesz) as usize,
        );
    }
    if tmpl.local_exec {
        let gs = block.wrapping_add(tmpl.rounded() as usize);
        // SAFETY: the block has `rounded() + 8` bytes (`block_size`), so the
        // word at `rounded()` lies inside it.
        unsafe { (gs as *mut u64).write_unaligned(gs as u64) };
    }
    {
        let _rt = RuntimeSection::enter();
        ctx.tls.borrow_mut().push((id, block));
    }
    Some(block)
}

pub(crate) fn release_blocks(ctx: &ExecCtx) {
    let blocks = std::mem::take(&mut *ctx.tls.borrow_mut());
    for (id, block) in blocks {
        if let Some(heap) = heap_for((id & 0xffff_ffff) as OwnerId) {
            // SAFETY: the block was allocated from this bead's heap by
            // `address` and the string that used it has ended. A block the
            // heap refuses (bead code wrote past its thread-locals) stays
            // allocated: the string is over, and the heap is not damaged
            // further.
            let _ = unsafe { heap.free(block) };
        }
    }
}

/// Points `%gs` at the end of the running string's block for its home bead
/// when that bead's code reaches its thread-locals through `%gs` (a PIE
/// rewritten by the loader, see `weaves_loader`'s `local_exec`), as the
/// string starts or resumes on a thread. Nothing else in the process uses
/// `%gs`, so strings of other beads leave it as it is.
pub(crate) fn enter_local_exec(ctx: &ExecCtx) {
    let mut base = ctx.gs_base.get();
    if base == GS_NONE {
        return;
    }
    if base == GS_UNKNOWN {
        base = local_exec_base(ctx).unwrap_or(GS_NONE);
        ctx.gs_base.set(base);
        if base == GS_NONE {
            return;
        }
    }
    crate::gs::set_base(base);
}

/// The `%gs` base for `ctx`'s home bead, making its block if need be.
fn local_exec_base(ctx: &ExecCtx) -> Option<u64> {
    let home = ctx.info.home;
    let tmpl = {
        let t = TEMPLATES.read().unwrap_or_else(|e| e.into_inner());
        *t.as_ref()?.get(&home)?
    };
    if !tmpl.local_exec {
        return None;
    }
    let block = block_for(ctx, module_id(home))?;
    Some(block as u64 + tmpl.rounded())
}
