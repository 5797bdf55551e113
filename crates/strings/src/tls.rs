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
}

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
/// relocation) and returns its module id.
pub fn register(owner: OwnerId, image: u64, filesz: u64, memsz: u64, align: u64) -> u64 {
    let mut t = TEMPLATES.write().unwrap_or_else(|e| e.into_inner());
    t.get_or_insert_with(HashMap::new).insert(
        owner,
        Template {
            image,
            filesz,
            memsz,
            align,
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
    let ctx = context();
    {
        let blocks = ctx.tls.borrow();
        if let Some(&(_, b)) = blocks.iter().find(|(m, _)| *m == id) {
            return b.wrapping_add(offset as usize);
        }
    }
    let owner = (id & 0xffff_ffff) as OwnerId;
    let tmpl = {
        let t = TEMPLATES.read().unwrap_or_else(|e| e.into_inner());
        match t.as_ref().and_then(|t| t.get(&owner)) {
            Some(t) => *t,
            None => return std::ptr::null_mut(),
        }
    };
    let Some(heap) = heap_for(owner) else {
        return std::ptr::null_mut();
    };
    let block = heap.allocate_aligned(tmpl.memsz.max(1) as usize, tmpl.align.max(16) as usize);
    if block.is_null() {
        return block;
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
    {
        let _rt = RuntimeSection::enter();
        ctx.tls.borrow_mut().push((id, block));
    }
    block.wrapping_add(offset as usize)
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
