//! Live rebinding: point one import of a running bead at another bead's
//! definition (`rebind BEAD SYMBOL PROVIDER` in a reconfiguration script).
//!
//! This is the one mechanism every later live change of wiring uses: the
//! bead's import slots for the symbol (PLT, GOT and data pointers; see
//! `weaves_loader::slots`) are each changed with one atomic store, and the
//! tapestry's binding record (target, provider, origin) follows, so that
//! `inspect` shows the new wiring and the old provider may be removed once
//! nothing binds to it. Calls already inside the old provider finish
//! there; calls made after the store reach the new one.

use weaves_loader::{SymKind, Target};

use crate::binder::Provider;
use crate::tapestry::{summarise_imports, Bead, Tapestry};

/// A checked rebinding, ready to take effect.
pub(crate) struct Rebinding {
    bead: usize,
    /// The import's dynamic symbol index in the bead's module.
    import: u32,
    provider: usize,
    /// The definition's index in the provider's module, and its address.
    origin: u32,
    address: u64,
}

impl Tapestry {
    pub(crate) fn live_bead(&self, name: &str) -> Result<usize, String> {
        self.plan
            .beads
            .iter()
            .enumerate()
            .position(|(i, b)| b.name == name && !self.plan.removed.beads.contains(&i))
            .ok_or_else(|| format!("no running bead `{name}`"))
    }

    /// Checks that `bead`'s import `symbol` can be bound to `provider`'s
    /// definition of it; nothing changes.
    pub(crate) fn check_rebind(
        &self,
        bead: &str,
        symbol: &str,
        provider: &str,
    ) -> Result<Rebinding, String> {
        let b = self.live_bead(bead)?;
        let p = self.live_bead(provider)?;
        if b == p {
            return Err(format!(
                "bead `{bead}` cannot import `{symbol}` from itself"
            ));
        }
        let module = self.beads[b].image.module();
        let import = module
            .imports()
            .iter()
            .copied()
            .find(|&i| module.symbol(i).name == symbol)
            .ok_or_else(|| format!("bead `{bead}` does not import `{symbol}`"))?;
        let bound = self.bindings[b]
            .providers
            .get(import as usize)
            .copied()
            .flatten();
        if let Some(Provider::CopiedBy(_) | Provider::TupleSpace) = bound {
            return Err(format!(
                "bead `{bead}`'s `{symbol}` is shared storage (a COPY relocation or a tuple space), not a binding that can change"
            ));
        }
        let wanted = module.symbol(import);
        let pm = self.beads[p].image.module();
        let origin = pm
            .find_export(symbol, wanted.version.as_deref())
            .ok_or_else(|| format!("bead `{provider}` does not export `{symbol}`"))?;
        let def = pm.symbol(origin);
        let function = |k: SymKind| matches!(k, SymKind::Func | SymKind::IFunc);
        if wanted.kind != SymKind::NoType && function(wanted.kind) != function(def.kind) {
            return Err(format!(
                "bead `{provider}`'s `{symbol}` is a {}, but bead `{bead}` imports a {}",
                kind_word(def.kind),
                kind_word(wanted.kind)
            ));
        }
        let address = match self.beads[p]
            .image
            .own_target(origin, self.beads[p].tls_module)
        {
            Target::Address(a) => a,
            _ => {
                return Err(format!(
                "not supported: rebinding `{symbol}`, a thread-local variable or indirect function"
            ))
            }
        };
        Ok(Rebinding {
            bead: b,
            import,
            provider: p,
            origin,
            address,
        })
    }

    /// Makes a checked rebinding take effect; returns how many slots changed.
    pub(crate) fn rebind(&mut self, r: Rebinding) -> Result<usize, String> {
        // SAFETY: the address is the provider's own definition of the symbol
        // the bead imports (same name and version, and the same kind:
        // function or variable — checked in `check_rebind`); the provider
        // stays mapped while the bead binds to it, because removal refuses
        // a bead others bind to, and `providers` is updated below.
        let changed = unsafe { self.beads[r.bead].image.retarget(r.import, r.address) }
            .map_err(|e| e.to_string())?;
        let k = r.import as usize;
        let binding = &mut self.bindings[r.bead];
        binding.targets[k] = Some(Target::Address(r.address));
        binding.providers[k] = Some(Provider::Bead(r.provider));
        binding.origins[k] = Some(r.origin);
        let mut providers: Vec<usize> = binding
            .providers
            .iter()
            .filter_map(|p| match p {
                Some(Provider::Bead(x)) if *x != r.bead => Some(*x),
                _ => None,
            })
            .collect();
        providers.sort_unstable();
        providers.dedup();
        self.beads[r.bead].providers = providers;
        let all: Vec<&Bead> = self.beads.iter().collect();
        let module = self.beads[r.bead].image.module().clone();
        let imports = summarise_imports(&all, r.bead, &module, &self.bindings[r.bead]);
        self.beads[r.bead].imports = imports;
        Ok(changed)
    }
}

fn kind_word(k: SymKind) -> &'static str {
    match k {
        SymKind::Func | SymKind::IFunc => "function",
        _ => "variable",
    }
}
