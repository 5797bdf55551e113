//! Passes over the binder's result that make one storage *the* variable of
//! several beads.
//!
//! * **COPY relocations.** A PIE executable addresses the library variables
//!   it uses in its own data (the linker reserved room and a COPY relocation
//!   fills it in). As the system loader does, the executable's copy then
//!   becomes the variable for everyone in its weave: the providing bead's own
//!   references, and other beads' references to it, are redirected there.
//!   A bead that would hand the same variable to two executables is refused.
//! * **Tuple spaces.** One storage per listed variable; the listed beads'
//!   own references, and every reference other beads bind to a listed bead's
//!   definition, are redirected there.

use std::collections::HashMap;

use weaves_arena::{Arena, Protection, Region};
use weaves_loader::{Module, SymKind, Target};

use crate::binder::{Binding, Provider};
use crate::config::Plan;
use crate::error::TapestryError;

/// What the passes need to know of a bead.
pub(crate) struct BeadRef<'a> {
    pub name: &'a str,
    pub owner: weaves_arena::OwnerId,
    pub module: &'a Module,
    pub base: u64,
}

/// The definition a binding entry refers to: (bead, symbol index there).
fn definition(me: usize, binding: &Binding, j: usize) -> Option<(usize, u32)> {
    match binding.providers[j]? {
        Provider::Own => Some((me, binding.origins[j]?)),
        Provider::Bead(b) => Some((b, binding.origins[j]?)),
        _ => None,
    }
}

/// Retargets every binding entry whose definition is a key of `to`, except
/// the entries `keep` says to leave alone.
fn retarget(
    bindings: &mut [Binding],
    to: &HashMap<(usize, u32), (Target, Provider)>,
    keep: &dyn Fn(usize, usize) -> bool,
) {
    if to.is_empty() {
        return;
    }
    for (me, binding) in bindings.iter_mut().enumerate() {
        for j in 0..binding.targets.len() {
            if keep(me, j) {
                continue;
            }
            if let Some(def) = definition(me, binding, j) {
                if let Some(&(target, provider)) = to.get(&def) {
                    binding.targets[j] = Some(target);
                    binding.providers[j] = Some(provider);
                }
            }
        }
    }
}

/// Makes each PIE bead's COPY of a bead-defined variable the variable itself.
pub(crate) fn apply_copies(
    beads: &[BeadRef<'_>],
    bindings: &mut [Binding],
) -> Result<(), TapestryError> {
    let mut copies: HashMap<(usize, u32), (Target, Provider)> = HashMap::new();
    let mut takers: HashMap<(usize, u32), usize> = HashMap::new();
    for (p, bead) in beads.iter().enumerate() {
        for &i in bead.module.copy_imports() {
            if bindings[p].providers[i as usize] == Some(Provider::System) {
                // A system library's variable: the copy is a snapshot, except
                // for the getopt variables, which the runtime keeps in step.
                let sym = bead.module.symbol(i);
                weaves_interpose::register_copied_variable(
                    bead.owner,
                    &sym.name,
                    bead.base + sym.value,
                );
                continue;
            }
            let Some(def @ (lib, _)) = definition(p, &bindings[p], i as usize) else {
                continue;
            };
            if let Some(&other) = takers.get(&def) {
                if other != p {
                    return Err(TapestryError::Bind(format!(
                        "beads `{}` and `{}` both take the variable `{}` of bead `{}` by COPY relocation (PIE executables): a bead can hand a variable to one executable only; give each its own bead of `{}`",
                        beads[other].name,
                        bead.name,
                        bead.module.symbol(i).name,
                        beads[lib].name,
                        beads[lib].name
                    )));
                }
            }
            takers.insert(def, p);
            let addr = bead.base + bead.module.symbol(i).value;
            copies.insert(def, (Target::Address(addr), Provider::CopiedBy(p)));
        }
    }
    // The executable's own COPY entries keep their source.
    let keep = |me: usize, j: usize| beads[me].module.copy_imports().contains(&(j as u32));
    retarget(bindings, &copies, &keep);
    Ok(())
}

/// libc's getopt variables a shared-object bead reaches through its GOT.
const GETOPT_VARIABLES: [&str; 4] = ["optind", "optarg", "opterr", "optopt"];

/// Gives every bead that imports libc's getopt variables through its GOT
/// (a shared object; PIE executables have COPY relocations instead) storage
/// of its own in its heap, starting from libc's current values: getopt's
/// state is per bead (`weaves_interpose`'s getopt keeps it in step), and a
/// bead never reads another bead's `optarg`.
pub(crate) fn privatise_getopt_variables(beads: &[BeadRef<'_>], bindings: &mut [Binding]) {
    for (p, bead) in beads.iter().enumerate() {
        for &i in bead.module.imports() {
            let sym = bead.module.symbol(i);
            let k = i as usize;
            if !GETOPT_VARIABLES.contains(&sym.name.as_str())
                || bead.module.copy_imports().contains(&i)
                || bindings[p].providers[k] != Some(Provider::System)
            {
                continue;
            }
            let Some(Target::Address(libc_var)) = bindings[p].targets[k] else {
                continue;
            };
            let Some(heap) = weaves_arena::heap_for(bead.owner) else {
                continue;
            };
            let storage = heap.allocate(8);
            if storage.is_null() {
                continue;
            }
            // SAFETY: `storage` is a fresh 8-byte block of the bead's heap
            // (16-byte aligned); `libc_var` is libc's variable of the same
            // name, at least 4 bytes (an int) or 8 (`optarg`).
            unsafe {
                let bytes = if sym.name == "optarg" { 8 } else { 4 };
                std::ptr::write_bytes(storage, 0, 8);
                std::ptr::copy_nonoverlapping(libc_var as *const u8, storage, bytes);
            }
            weaves_interpose::register_copied_variable(bead.owner, &sym.name, storage as u64);
            bindings[p].targets[k] = Some(Target::Address(storage as u64));
            bindings[p].providers[k] = Some(Provider::Runtime);
        }
    }
}

/// Storage made for the tuple spaces, and what to copy into it once the
/// beads are relocated: (storage, initial value's address, bytes).
pub(crate) struct TupleSpaces {
    pub regions: Vec<Region>,
    pub initial: Vec<(usize, u64, u64)>,
}

/// Checks the tuple spaces of `plan`, makes their storage and redirects the
/// bindings to it.
pub(crate) fn apply_tuple_spaces(
    plan: &Plan,
    beads: &[BeadRef<'_>],
    bindings: &mut [Binding],
) -> Result<TupleSpaces, TapestryError> {
    let mut out = TupleSpaces {
        regions: Vec::new(),
        initial: Vec::new(),
    };
    if plan.tuple_spaces.is_empty() {
        return Ok(out);
    }
    let arena = Arena::global().map_err(|e| TapestryError::Run(e.to_string()))?;
    let mut shared: HashMap<(usize, u32), (Target, Provider)> = HashMap::new();
    for ts in &plan.tuple_spaces {
        for var in &ts.variables {
            let mut size = 0u64;
            let mut members = Vec::new();
            for &b in &ts.beads {
                let module = beads[b].module;
                let Some(idx) = module.find_export(var, None) else {
                    return Err(TapestryError::Bind(format!(
                        "tuple space (line {}): bead `{}` has no global variable `{var}` reached through the GOT ({} does not export it: it is static, hidden or absent); only default-visibility globals of -fPIC modules can be shared individually",
                        ts.line,
                        beads[b].name,
                        module.path().display()
                    )));
                };
                let sym = module.symbol(idx);
                if !matches!(sym.kind, SymKind::Object | SymKind::NoType) {
                    return Err(TapestryError::Bind(format!(
                        "tuple space (line {}): `{var}` in bead `{}` is not a variable",
                        ts.line, beads[b].name
                    )));
                }
                if !module.references_through_got(idx) {
                    return Err(TapestryError::Bind(format!(
                        "tuple space (line {}): variable `{var}` of bead `{}` is not reached through the GOT (the code addresses it directly: PIE, -fno-semantic-interposition or protected visibility), so it cannot be shared individually",
                        ts.line, beads[b].name
                    )));
                }
                size = size.max(sym.size);
                members.push((b, idx));
            }
            let region = arena
                .place(size.max(8) as usize, 16, 0)
                .map_err(|e| TapestryError::Run(e.to_string()))?;
            arena
                .commit(region.addr, region.len, Protection::ReadWrite)
                .map_err(|e| TapestryError::Run(e.to_string()))?;
            for &member in &members {
                shared.insert(
                    member,
                    (Target::Address(region.addr as u64), Provider::TupleSpace),
                );
            }
            let (b0, idx0) = members[0];
            let first = beads[b0].module.symbol(idx0);
            out.initial
                .push((region.addr, beads[b0].base + first.value, first.size));
            out.regions.push(region);
        }
    }
    retarget(bindings, &shared, &|_, _| false);
    Ok(out)
}
