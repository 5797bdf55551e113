//! Preemption checks: our own pass on the binary, run before Asyncify, that
//! makes a loop without calls — and a recursion — reach an unwind point
//! every so often, so a string running it can be preempted, captured,
//! checkpointed or moved to another engine there.
//!
//! A check counts passes and, every [`FUEL`] of them, calls the module's
//! own `weaves.wv_reconfig_point` import with the name pointer [`CHECK`]
//! (no string: the runtime tells a check from a named point by it), so no
//! import is added and no function index moves. Nothing is written into
//! an instance from outside (neither engine allows another thread to do
//! that safely): the counters are the instance's own.
//!
//! * At the head of every outermost loop (where its back-edge lands) the
//!   counter is a local the pass adds to the function — register
//!   arithmetic only:
//!
//!   ```text
//!   local.get $n  i32.const 1  i32.add  local.tee $n  i32.const 0xffff  i32.and
//!   i32.eqz  if  i32.const -1  call $wv_reconfig_point  end
//!   ```
//!
//!   A loop whose every iteration calls a function with an entry check
//!   gets none. Loops inside a loop get none either: one iteration of the
//!   outer loop runs them, and a check inside them would make Asyncify
//!   instrument the innermost, hottest code (a 64×64 matrix multiply ran
//!   3.8× slower with checks at every loop head, ~1.3× with these). An
//!   inner loop that never ends is therefore not preempted.
//! * At the entry of every function that can call itself (through any
//!   chain of calls; an indirect call may reach any function in a table)
//!   the counter is a global, the *fuel* (exported as `__wv_fuel`): a
//!   recursion passes no loop head. The runtime sets it back to [`FUEL`]
//!   at each check:
//!
//!   ```text
//!   global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//!   global.get $fuel  i32.eqz  if  i32.const -1  call $wv_reconfig_point  end
//!   ```
//!
//! Other functions end by themselves unless a loop or a recursion below
//! them runs on, and those have checks. At a check the runtime decides
//! whether the string yields its worker (its slice is spent), is captured
//! (a checkpoint is pending) or moves (a `weaves migrate` asked).
//!
//! Asyncify then instruments the functions that reach these calls, so a
//! check is an unwind and rewind point like a named one.

use wasmparser::{Operator, Parser, Payload, TypeRef};

/// The name pointer a check passes to `wv_reconfig_point`.
pub const CHECK: i32 = -1;

/// The export of the fuel global.
pub const FUEL_EXPORT: &str = "__wv_fuel";

/// Checks between two calls into the runtime: at ~1 ns per iteration of a
/// tight loop, a call every ~65 µs, whose cost (a clock read) is then
/// below a thousandth.
pub const FUEL: i32 = 1 << 16;

/// What the pass found and did, for the benchmark and the docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checks {
    /// Entries of functions that can call themselves that got a check.
    pub entries: usize,
    /// Loop heads that got one.
    pub loops: usize,
    /// Loops left without (each iteration passes an entry check).
    pub loops_skipped: usize,
}

fn leb(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(mut v: i64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        if done {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The bytes of a loop-head check counting in local `n`.
fn loop_check(n: u32, point: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(24);
    c.push(0x20); // local.get
    leb(n, &mut c);
    c.extend_from_slice(&[0x41, 0x01, 0x6a]); // i32.const 1, i32.add
    c.push(0x22); // local.tee
    leb(n, &mut c);
    c.push(0x41);
    sleb((FUEL - 1) as i64, &mut c);
    c.extend_from_slice(&[0x71, 0x45, 0x04, 0x40]); // i32.and, i32.eqz, if
    c.push(0x41);
    sleb(CHECK as i64, &mut c);
    c.push(0x10); // call
    leb(point, &mut c);
    c.push(0x0b); // end
    c
}

/// The bytes of a function-entry check counting down global `fuel`.
fn entry_check(fuel: u32, point: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(24);
    c.push(0x23); // global.get
    leb(fuel, &mut c);
    c.extend_from_slice(&[0x41, 0x01, 0x6b]); // i32.const 1, i32.sub
    c.push(0x24); // global.set
    leb(fuel, &mut c);
    c.push(0x23);
    leb(fuel, &mut c);
    c.extend_from_slice(&[0x45, 0x04, 0x40]); // i32.eqz, if (no result)
    c.push(0x41);
    sleb(CHECK as i64, &mut c);
    c.push(0x10); // call
    leb(point, &mut c);
    c.push(0x0b); // end
    c
}

/// One function body as the pass sees it.
struct Body {
    /// Where its contents (locals, then code) lie in the module.
    range: std::ops::Range<usize>,
    /// Where its local declarations start (after their count), and how
    /// many groups and locals they declare.
    locals: (usize, u32, u32),
    /// Where its code starts (after the locals).
    code: usize,
    /// The functions it calls directly.
    callees: Vec<u32>,
    /// Whether it calls indirectly.
    indirect: bool,
    /// Each outermost loop: the offset just after its `loop` instruction,
    /// and the functions its body calls directly (indices into the
    /// module's function space), or `None` if it calls indirectly.
    loops: Vec<(usize, Option<Vec<u32>>)>,
}

fn scan_body(body: &wasmparser::FunctionBody) -> Result<Body, String> {
    let bad = |e: wasmparser::BinaryReaderError| format!("preemption checks: {e}");
    let mut lr = body.get_locals_reader().map_err(bad)?;
    let groups = lr.get_count();
    let decls = lr.original_position();
    let mut count = 0u32;
    for _ in 0..groups {
        count = count.saturating_add(lr.read().map_err(bad)?.0);
    }
    let mut ops = body.get_operators_reader().map_err(bad)?;
    let code = ops.original_position();
    let mut callees = Vec::new();
    let mut indirect = false;
    let mut loops: Vec<(usize, Option<Vec<u32>>)> = Vec::new();
    // Open blocks: the index in `loops` of each open loop, None for others.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut head_of: Option<usize> = None;
    while !ops.eof() {
        let (op, at) = ops.read_with_offset().map_err(bad)?;
        if let Some(k) = head_of.take() {
            loops[k].0 = at;
        }
        match op {
            Operator::Loop { .. } => {
                // Only the outermost loop of a nest is checked (its body,
                // inner loops and all, is one iteration of it).
                if open.iter().all(Option::is_none) {
                    head_of = Some(loops.len());
                    open.push(Some(loops.len()));
                    loops.push((0, Some(Vec::new())));
                } else {
                    open.push(None);
                }
            }
            Operator::Block { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                open.push(None)
            }
            Operator::End => {
                open.pop();
            }
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                callees.push(function_index);
                for k in open.iter().flatten() {
                    if let Some(callees) = &mut loops[*k].1 {
                        callees.push(function_index);
                    }
                }
            }
            Operator::CallIndirect { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. } => {
                indirect = true;
                for k in open.iter().flatten() {
                    loops[*k].1 = None;
                }
            }
            _ => {}
        }
    }
    Ok(Body {
        range: body.range(),
        locals: (decls, groups, count),
        code,
        callees,
        indirect,
        loops,
    })
}

/// Returns the module with preemption checks (see the module docs), and
/// what it did; a module that does not import `weaves.wv_reconfig_point`,
/// or defines no globals, comes back as it was.
pub fn insert_checks(bytes: &[u8]) -> Result<(Vec<u8>, Checks), String> {
    let bad = |e: wasmparser::BinaryReaderError| format!("preemption checks: {e}");
    let mut imported_funcs = 0u32;
    let mut imported_globals = 0u32;
    let mut point = None;
    let mut globals: Option<(std::ops::Range<usize>, u32)> = None;
    let mut code_range: Option<std::ops::Range<usize>> = None;
    let mut bodies = Vec::new();
    let mut params: Vec<u32> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    // Functions an indirect call may reach (None: could not tell).
    let mut in_tables: Option<Vec<u32>> = Some(Vec::new());
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::TypeSection(r) => {
                for t in r.into_iter_err_on_gc_types() {
                    params.push(t.map_err(bad)?.params().len() as u32);
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    func_types.push(t.map_err(bad)?);
                }
            }
            Payload::ElementSection(r) => {
                for e in r {
                    match e.map_err(bad)?.items {
                        wasmparser::ElementItems::Functions(fs) => {
                            for f in fs {
                                let f = f.map_err(bad)?;
                                if let Some(t) = &mut in_tables {
                                    t.push(f);
                                }
                            }
                        }
                        wasmparser::ElementItems::Expressions(..) => in_tables = None,
                    }
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp.map_err(bad)?;
                    match imp.ty {
                        TypeRef::Func(_) => {
                            if (imp.module, imp.name) == ("weaves", "wv_reconfig_point") {
                                point = Some(imported_funcs);
                            }
                            imported_funcs += 1;
                        }
                        TypeRef::Global(_) => imported_globals += 1,
                        _ => {}
                    }
                }
            }
            Payload::GlobalSection(r) => globals = Some((r.range(), r.count())),
            Payload::CodeSectionStart { range, .. } => code_range = Some(range),
            Payload::CodeSectionEntry(body) => bodies.push(scan_body(&body)?),
            _ => {}
        }
    }
    let (Some(point), Some((global_range, global_count)), Some(code_range)) =
        (point, globals, code_range)
    else {
        return Ok((bytes.to_vec(), Checks::default()));
    };
    let fuel = imported_globals + global_count;
    let entry = entry_check(fuel, point);
    let recursive = recursive_functions(&bodies, imported_funcs, in_tables.as_deref());
    // A defined function with an entry check: one that can call itself.
    let entry_checked = |f: u32| {
        f >= imported_funcs
            && recursive
                .get((f - imported_funcs) as usize)
                .copied()
                .unwrap_or(false)
    };
    let mut done = Checks::default();
    let mut code = Vec::with_capacity(code_range.len() + bodies.len() * 64);
    leb(bodies.len() as u32, &mut code);
    for (k, b) in bodies.iter().enumerate() {
        let mut at: Vec<(usize, &[u8])> = Vec::new();
        if entry_checked(imported_funcs + k as u32) {
            at.push((b.code, &entry));
            done.entries += 1;
        }
        // The loop counter: a new local after the parameters and locals.
        let ty = func_types.get(k).copied().unwrap_or(0) as usize;
        let counter = params.get(ty).copied().unwrap_or(0) + b.locals.2;
        let check = loop_check(counter, point);
        for (head, callees) in &b.loops {
            let covered = callees
                .as_ref()
                .is_some_and(|c| c.iter().any(|&f| entry_checked(f)));
            if covered {
                done.loops_skipped += 1;
            } else {
                at.push((*head, &check));
                done.loops += 1;
            }
        }
        let counted = at.len() > usize::from(entry_checked(imported_funcs + k as u32));
        at.sort_unstable_by_key(|a| a.0);
        let mut new = Vec::with_capacity(b.range.len() + at.len() * check.len() + 8);
        let mut from = b.range.start;
        if counted {
            // One more group of locals: `1 × i32`.
            leb(b.locals.1 + 1, &mut new);
            new.extend_from_slice(&bytes[b.locals.0..b.code]);
            new.extend_from_slice(&[0x01, 0x7f]);
            from = b.code;
        }
        for &(p, c) in &at {
            new.extend_from_slice(&bytes[from..p]);
            new.extend_from_slice(c);
            from = p;
        }
        new.extend_from_slice(&bytes[from..b.range.end]);
        leb(new.len() as u32, &mut code);
        code.extend_from_slice(&new);
    }
    // The global section's entries, plus the fuel: (mut i32) = FUEL.
    let mut global = Vec::new();
    leb(global_count + 1, &mut global);
    let mut rd = wasmparser::BinaryReader::new(&bytes[global_range.clone()], global_range.start);
    rd.read_var_u32().map_err(bad)?;
    global.extend_from_slice(&bytes[rd.original_position()..global_range.end]);
    global.extend_from_slice(&[0x7f, 0x01, 0x41]);
    sleb(FUEL as i64, &mut global);
    global.push(0x0b);
    let mut out = Vec::with_capacity(bytes.len() + code.len() - code_range.len() + 16);
    out.extend_from_slice(&bytes[..8]);
    for (id, start, contents) in sections(bytes)? {
        let replaced = if contents == global_range {
            Some(&global)
        } else if contents == code_range {
            Some(&code)
        } else {
            None
        };
        match replaced {
            Some(new) => {
                out.push(id);
                leb(new.len() as u32, &mut out);
                out.extend_from_slice(new);
            }
            None => out.extend_from_slice(&bytes[start..contents.end]),
        }
    }
    let out = crate::transform::add_exports(&out, &[(FUEL_EXPORT.to_owned(), 0x03, fuel)])?;
    wasmparser::Validator::new()
        .validate_all(&out)
        .map_err(|e| format!("the module with preemption checks does not validate: {e}"))?;
    Ok((out, done))
}

/// Which defined functions can call themselves, through any chain of
/// calls; an indirect call may reach any function in `in_tables` (any
/// function at all when that is not known).
fn recursive_functions(bodies: &[Body], imported: u32, in_tables: Option<&[u32]>) -> Vec<bool> {
    let n = bodies.len();
    let defined = |f: u32| {
        f.checked_sub(imported)
            .map(|k| k as usize)
            .filter(|&k| k < n)
    };
    let indirect_targets: Vec<usize> = match in_tables {
        Some(t) => t.iter().filter_map(|&f| defined(f)).collect(),
        None => (0..n).collect(),
    };
    let edges: Vec<Vec<usize>> = bodies
        .iter()
        .map(|b| {
            let mut e: Vec<usize> = b.callees.iter().filter_map(|&f| defined(f)).collect();
            if b.indirect {
                e.extend_from_slice(&indirect_targets);
            }
            e.sort_unstable();
            e.dedup();
            e
        })
        .collect();
    let mut t = Tarjan {
        edges: &edges,
        index: vec![usize::MAX; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        recursive: vec![false; n],
    };
    for f in 0..n {
        if t.index[f] == usize::MAX {
            t.visit(f);
        }
    }
    t.recursive
}

/// Tarjan's strongly connected components: a function is recursive when
/// its component has more than one function, or it calls itself.
struct Tarjan<'a> {
    edges: &'a [Vec<usize>],
    index: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    recursive: Vec<bool>,
}

impl Tarjan<'_> {
    fn visit(&mut self, f: usize) {
        self.index[f] = self.next;
        self.low[f] = self.next;
        self.next += 1;
        self.stack.push(f);
        self.on_stack[f] = true;
        for &g in &self.edges[f] {
            if self.index[g] == usize::MAX {
                self.visit(g);
                self.low[f] = self.low[f].min(self.low[g]);
            } else if self.on_stack[g] {
                self.low[f] = self.low[f].min(self.index[g]);
            }
        }
        if self.low[f] == self.index[f] {
            let mut component = Vec::new();
            while let Some(g) = self.stack.pop() {
                self.on_stack[g] = false;
                component.push(g);
                if g == f {
                    break;
                }
            }
            let cyclic = component.len() > 1 || self.edges[f].contains(&f);
            for g in component {
                self.recursive[g] = cyclic;
            }
        }
    }
}

/// Each top-level section: its id, where it starts (its id byte) and
/// where its contents lie.
fn sections(bytes: &[u8]) -> Result<Vec<(u8, usize, std::ops::Range<usize>)>, String> {
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        let mut rd = wasmparser::BinaryReader::new(&bytes[at + 1..], at + 1);
        let size = rd
            .read_var_u32()
            .map_err(|e| format!("preemption checks: {e}"))? as usize;
        let contents = rd.original_position();
        let end = contents
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or("preemption checks: a section runs past the end")?;
        out.push((id, start, contents..end));
        at = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleb_encodes_the_fuel_and_the_check_marker() {
        let mut v = Vec::new();
        sleb(FUEL as i64, &mut v);
        assert_eq!(v, [0x80, 0x80, 0x04]);
        v.clear();
        sleb(-1, &mut v);
        assert_eq!(v, [0x7f]);
        v.clear();
        sleb(64, &mut v);
        assert_eq!(v, [0xc0, 0x00]);
    }
}
