//! Binding: what each undefined symbol of a bead refers to.
//!
//! Lookup order (DESIGN §3.1): the beads of the bead's weave in declared
//! order, then the runtime's interposition table, then the host's system
//! libraries. A bead's references to symbols it defines itself bind to its
//! own definitions (as with `-Bsymbolic`): that keeps a bead shared by
//! several weaves bound the same way in each, whatever else those weaves
//! contain. A weak reference found nowhere binds to 0.

use weaves_loader::{BeadImage, Module, SymKind, Target};

/// Who provides a binding (for error messages and inspection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Own,
    Bead(usize),
    Runtime,
    System,
    TupleSpace,
    Absent,
}

/// What the binder needs to know about a bead.
pub struct BeadView<'a> {
    pub name: &'a str,
    pub image: &'a BeadImage,
    pub tls_module: u64,
}

/// Resolution of one bead's symbols: per dynamic symbol index.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    pub targets: Vec<Option<Target>>,
    pub providers: Vec<Option<Provider>>,
}

/// Finds `index` (a symbol of `module`) among `weave` (bead indices,
/// skipping `me`), then the runtime, then the system libraries.
pub fn resolve_import(
    me: usize,
    module: &Module,
    index: u32,
    weave: &[usize],
    beads: &[BeadView<'_>],
    system: &dyn Fn(u32) -> Option<u64>,
) -> Option<(Target, Provider)> {
    let sym = module.symbol(index);
    for &b in weave {
        if b == me {
            continue;
        }
        let other = beads[b].image.module();
        if let Some(i) = other.find_export(&sym.name, sym.version.as_deref()) {
            return Some((
                beads[b].image.own_target(i, beads[b].tls_module),
                Provider::Bead(b),
            ));
        }
    }
    if let Some(a) = weaves_interpose::lookup(&sym.name) {
        return Some((Target::Address(a), Provider::Runtime));
    }
    if let Some(a) = system(index) {
        let t = if sym.kind == SymKind::Tls {
            Target::HostStaticTls {
                tpoff: weaves_interpose::host_static_tls_offset(a),
            }
        } else {
            Target::Address(a)
        };
        return Some((t, Provider::System));
    }
    if sym.weak {
        return Some((Target::Address(0), Provider::Absent));
    }
    None
}

/// Binds every symbol bead `me` needs, in the context of `weave`. Returns
/// the binding and the names of the symbols found nowhere.
pub fn bind(
    me: usize,
    own_refs: &[u32],
    weave: &[usize],
    beads: &[BeadView<'_>],
    system: &dyn Fn(u32) -> Option<u64>,
) -> (Binding, Vec<String>) {
    let image = beads[me].image;
    let module = image.module();
    let n = module.symbols().len();
    let mut b = Binding {
        targets: vec![None; n],
        providers: vec![None; n],
    };
    for &i in own_refs {
        b.targets[i as usize] = Some(image.own_target(i, beads[me].tls_module));
        b.providers[i as usize] = Some(Provider::Own);
    }
    let mut missing = Vec::new();
    for &i in module.imports().iter().chain(module.copy_imports()) {
        match resolve_import(me, module, i, weave, beads, system) {
            Some((t, p)) => {
                b.targets[i as usize] = Some(t);
                b.providers[i as usize] = Some(p);
            }
            None => missing.push(module.symbol(i).display_name()),
        }
    }
    (b, missing)
}
