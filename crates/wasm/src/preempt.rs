//! Preemption checks: our own pass on the binary, run before Asyncify, that
//! makes a loop without calls — and a recursion — reach an unwind point
//! every so often, so a string running it can be preempted, captured,
//! checkpointed or moved to another engine there.
//!
//! The module gets one more mutable global, the *fuel* (exported as
//! `__wv_fuel`). A check counts it down and, when it reaches zero, calls
//! the module's own `weaves.wv_reconfig_point` import with the name
//! pointer [`CHECK`] (no string: the runtime tells a check from a named
//! point by it):
//!
//! ```text
//! global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//! global.get $fuel  i32.eqz  if  i32.const -1  call $wv_reconfig_point  end
//! ```
//!
//! The common path is a load, a subtraction, a store, a load and a branch,
//! all on the instance's own global: no other thread writes into an
//! engine's instance (neither engine allows that safely), and the same
//! code works under both. The runtime sets the fuel to [`FUEL`] at every
//! check, and decides there whether the string yields its worker (its
//! slice is spent), is captured (a checkpoint is pending) or moves (a
//! `weaves migrate` asked).
//!
//! Where checks go:
//! * at the entry of every function that calls anything (a leaf function
//!   without loops ends by itself; a recursion passes entries);
//! * at the head of every loop (its back-edge lands there), unless every
//!   iteration calls a function that has an entry check.
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
    /// Function entries that got a check.
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

/// The bytes of one check.
fn check_code(fuel: u32, point: u32) -> Vec<u8> {
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
    /// Where its code starts (after the locals).
    code: usize,
    /// Whether it calls anything.
    calls: bool,
    /// Each loop: the offset just after its `loop` instruction, and the
    /// defined functions its body calls directly (indices into the
    /// module's function space), or `None` if it calls indirectly.
    loops: Vec<(usize, Option<Vec<u32>>)>,
}

fn scan_body(body: &wasmparser::FunctionBody) -> Result<Body, String> {
    let bad = |e: wasmparser::BinaryReaderError| format!("preemption checks: {e}");
    let mut ops = body.get_operators_reader().map_err(bad)?;
    let code = ops.original_position();
    let mut calls = false;
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
                head_of = Some(loops.len());
                open.push(Some(loops.len()));
                loops.push((0, Some(Vec::new())));
            }
            Operator::Block { .. } | Operator::If { .. } | Operator::TryTable { .. } => {
                open.push(None)
            }
            Operator::End => {
                open.pop();
            }
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                calls = true;
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
                calls = true;
                for k in open.iter().flatten() {
                    loops[*k].1 = None;
                }
            }
            _ => {}
        }
    }
    Ok(Body {
        range: body.range(),
        code,
        calls,
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
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
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
    let check = check_code(fuel, point);
    // A defined function with an entry check: one that calls anything.
    let entry_checked = |f: u32| {
        f >= imported_funcs
            && bodies
                .get((f - imported_funcs) as usize)
                .is_some_and(|b| b.calls)
    };
    let mut done = Checks::default();
    let mut code = Vec::with_capacity(code_range.len() + bodies.len() * 64);
    leb(bodies.len() as u32, &mut code);
    for b in &bodies {
        let mut at: Vec<usize> = Vec::new();
        if b.calls {
            at.push(b.code);
            done.entries += 1;
        }
        for (head, callees) in &b.loops {
            let covered = callees
                .as_ref()
                .is_some_and(|c| c.iter().any(|&f| entry_checked(f)));
            if covered {
                done.loops_skipped += 1;
            } else {
                at.push(*head);
                done.loops += 1;
            }
        }
        at.sort_unstable();
        let mut new = Vec::with_capacity(b.range.len() + at.len() * check.len());
        let mut from = b.range.start;
        for &p in &at {
            new.extend_from_slice(&bytes[from..p]);
            new.extend_from_slice(&check);
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
