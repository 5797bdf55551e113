//! Binding: what each undefined symbol of a bead refers to.
//!
//! Lookup order (docs/architecture.md, *Binding*): the beads of the bead's weave in declared
//! order, then the runtime's interposition table, then the host's system
//! libraries. A bead's references to symbols it defines itself bind to its
//! own definitions (as with `-Bsymbolic`): that keeps a bead shared by
//! several weaves bound the same way in each, whatever else those weaves
//! contain. A weak reference found nowhere binds to 0.
//!
//! Two later passes ([`crate::redirect`]) adjust the result the way the ELF
//! rules and the tapestry ask: COPY relocations of PIE executables make the
//! executable's copy *the* variable, and tuple spaces make one storage the
//! variable of several beads.

use weaves_loader::{BeadImage, Module, SymKind, Target};

/// Who provides a binding (for error messages and inspection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Own,
    Bead(usize),
    /// The variable is the copy a PIE bead made by COPY relocation (it does
    /// not make the executable a dependency: it is relocated after).
    CopiedBy(usize),
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

/// Resolution of one bead's symbols, per dynamic symbol index.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    pub targets: Vec<Option<Target>>,
    pub providers: Vec<Option<Provider>>,
    /// For `Provider::Bead`/`Provider::Own`: the symbol's index in the
    /// providing bead's module.
    pub origins: Vec<Option<u32>>,
}

impl Binding {
    /// The binding of a bead that is gone: nothing bound.
    pub fn empty() -> Binding {
        Binding {
            targets: Vec::new(),
            providers: Vec::new(),
            origins: Vec::new(),
        }
    }
}

/// One resolved import.
pub struct Resolved {
    pub target: Target,
    pub provider: Provider,
    /// Index of the definition in the providing bead's module.
    pub origin: Option<u32>,
    /// Size of the definition, where known.
    pub size: Option<u64>,
}

/// Finds `index` (a symbol of `module`) among `weave` (bead indices,
/// skipping `me`), then the runtime, then the system libraries.
///
/// An executable's COPY of a *system library's* variable (`stdout`,
/// `environ`, `optind` in a PIE) is that executable's own: other beads'
/// references go to the system library's definition, never to one
/// program's copy — so a library bead shared by several programs (the MPI
/// bead of every rank) binds the same way in every weave. (A COPY of a
/// *bead's* variable does become the variable, as with the system loader:
/// see `redirect::apply_copies`.)
pub fn resolve_import(
    me: usize,
    module: &Module,
    index: u32,
    weave: &[usize],
    beads: &[BeadView<'_>],
    system: &dyn Fn(u32) -> Option<u64>,
) -> Option<Resolved> {
    let sym = module.symbol(index);
    for &b in weave {
        if b == me {
            continue;
        }
        let other = beads[b].image.module();
        if let Some(i) = other.find_export(&sym.name, sym.version.as_deref()) {
            if other.copy_imports().contains(&i) && system(index).is_some() {
                continue;
            }
            return Some(Resolved {
                target: beads[b].image.own_target(i, beads[b].tls_module),
                provider: Provider::Bead(b),
                origin: Some(i),
                size: Some(other.symbol(i).size),
            });
        }
    }
    if let Some(a) = weaves_interpose::lookup(&sym.name) {
        return Some(Resolved {
            target: Target::Address(a),
            provider: Provider::Runtime,
            origin: None,
            size: None,
        });
    }
    if let Some(a) = system(index) {
        let target = if sym.kind == SymKind::Tls {
            let (module, offset) = weaves_interpose::host_tls(a)?;
            Target::HostTls {
                module,
                offset,
                tpoff: weaves_interpose::host_static_tls_offset(a),
            }
        } else {
            Target::Address(a)
        };
        return Some(Resolved {
            target,
            provider: Provider::System,
            origin: None,
            size: None,
        });
    }
    if sym.weak {
        return Some(Resolved {
            target: Target::Address(0),
            provider: Provider::Absent,
            origin: None,
            size: None,
        });
    }
    None
}

/// Binds every symbol bead `me` needs, in the context of `weave`. Returns
/// the binding and the symbols (indices in the bead's module) found
/// nowhere.
pub fn bind(
    me: usize,
    own_refs: &[u32],
    weave: &[usize],
    beads: &[BeadView<'_>],
    system: &dyn Fn(u32) -> Option<u64>,
) -> (Binding, Vec<u32>) {
    let image = beads[me].image;
    let module = image.module();
    let n = module.symbols().len();
    let mut b = Binding {
        targets: vec![None; n],
        providers: vec![None; n],
        origins: vec![None; n],
    };
    for &i in own_refs {
        b.targets[i as usize] = Some(image.own_target(i, beads[me].tls_module));
        b.providers[i as usize] = Some(Provider::Own);
        b.origins[i as usize] = Some(i);
    }
    let mut missing = Vec::new();
    for &i in module.imports() {
        match resolve_import(me, module, i, weave, beads, system) {
            Some(r) => {
                b.targets[i as usize] = Some(r.target);
                b.providers[i as usize] = Some(r.provider);
                b.origins[i as usize] = r.origin;
            }
            None => missing.push(i),
        }
    }
    // COPY relocations: the initial contents come from the definition found
    // elsewhere; never copy more than either side has.
    for &i in module.copy_imports() {
        let own_size = module.symbol(i).size;
        match resolve_import(me, module, i, weave, beads, system) {
            Some(Resolved {
                target: Target::Address(addr),
                provider,
                origin,
                size,
            }) if addr != 0 => {
                b.targets[i as usize] = Some(Target::CopyFrom {
                    addr,
                    size: size.unwrap_or(own_size).min(own_size),
                });
                b.providers[i as usize] = Some(provider);
                b.origins[i as usize] = origin;
            }
            _ => missing.push(i),
        }
    }
    (b, missing)
}
