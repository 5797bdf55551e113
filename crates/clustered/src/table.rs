//! The translation table: object id → object.
//!
//! In K42 every clustered object is named by an index into a per-CPU
//! translation table whose entry points at that CPU's representative; an
//! empty entry points at a default object whose every method runs the miss
//! handler. Here the two levels are split: this table maps a small integer
//! [`ObjectId`] to the object (for whoever holds only the id — a monitor,
//! a command that swaps an object by name), and each object's [`Root`]
//! holds the per-CPU level, whose empty slots run the miss handler (see
//! [`crate::root`]). Code holding the object's handle skips the first
//! level, as a K42 caller holding a translated reference does.
//!
//! The table holds weak references: it never keeps an object alive, and an
//! object's id is free again once it is dropped.
//!
//! [`Root`]: crate::Root

use std::any::Any;
use std::fmt;
use std::sync::{Arc, RwLock, Weak};

use crate::Clustered;

/// A clustered object's index in the translation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(u32);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

struct Entry {
    serial: u64,
    object: Weak<dyn Any + Send + Sync>,
}

#[derive(Default)]
struct Table {
    entries: Vec<Option<Entry>>,
    /// Ids of dropped objects, free to reuse.
    free: Vec<u32>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    entries: Vec::new(),
    free: Vec::new(),
});

/// Takes a free id for an object about to be made.
pub(crate) fn reserve() -> ObjectId {
    let mut t = TABLE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = t.free.pop() {
        return ObjectId(i);
    }
    t.entries.push(None);
    ObjectId((t.entries.len() - 1) as u32)
}

/// Lists `object` under the id it reserved.
pub(crate) fn fill<R: ?Sized + Send + Sync + 'static>(object: &Arc<Clustered<R>>) {
    let weak: Weak<Clustered<R>> = Arc::downgrade(object);
    let weak: Weak<dyn Any + Send + Sync> = weak;
    let mut t = TABLE.write().unwrap_or_else(|e| e.into_inner());
    t.entries[object.id.0 as usize] = Some(Entry {
        serial: object.serial,
        object: weak,
    });
}

/// Frees `id` (its object, serial `serial`, is being dropped).
pub(crate) fn unregister(id: ObjectId, serial: u64) {
    let mut t = TABLE.write().unwrap_or_else(|e| e.into_inner());
    let Some(slot) = t.entries.get_mut(id.0 as usize) else {
        return;
    };
    if slot.as_ref().is_some_and(|e| e.serial == serial) {
        *slot = None;
        t.free.push(id.0);
    }
}

/// The live object listed under `id`, if it has representatives of type `R`.
pub fn lookup<R: ?Sized + Send + Sync + 'static>(id: ObjectId) -> Option<Arc<Clustered<R>>> {
    let object = {
        let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
        t.entries.get(id.0 as usize)?.as_ref()?.object.upgrade()?
    };
    object.downcast::<Clustered<R>>().ok()
}

/// How many objects are alive.
pub fn live() -> usize {
    let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
    t.entries
        .iter()
        .flatten()
        .filter(|e| e.object.strong_count() > 0)
        .count()
}
