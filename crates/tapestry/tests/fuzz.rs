//! Fuzz target: the tapestry file parser ([`Plan::parse`]), the same text
//! as a fragment onto a running tapestry's plan ([`Plan::extend_with`],
//! what `weaves apply` parses), and as a reconfiguration script. Every
//! input is parsed or refused with a message; none may panic or hang.
//!
//! `WEAVES_FUZZ_ITERS=1000000 cargo test --release -p weaves-tapestry
//! --test fuzz -- --nocapture` runs a long search.

use std::path::Path;

use weaves_fuzz::{interesting, Fuzzer, Rng};
use weaves_tapestry::Plan;

/// DESIGN §4.2's example, with every table and key the schema has.
const FULL: &str = r#"
[tapestry]
name = "two-telnets"
workers = 2
stack_kib = 256
preempt_ms = 10

[checkpoint]
dir = "images"
interval_ms = 500
keep = 3
incremental = true

[[module]]
name = "telnet"
path = "build/telnet.so"

[[module]]
name = "ip"
path = "build/ipstack.so"

[[bead]]
name = "ip1"
module = "ip"

[[bead]]
name = "telnet{i}"
module = "telnet"
count = 2

[[weave]]
name = "host{i}"
count = 2
beads = ["telnet{i}", "ip1"]

[[string]]
name = "client{i}"
weave = "host{i}"
count = 2
entry = "telnet{i}:main"
args = ["telnet", "peer-{i}"]
env = { PEER = "{i}", MODE = "fast" }
stack_kib = 128
mode = "thread"

[[tuple_space]]
variables = ["packets_seen"]
beads = ["telnet0", "telnet1"]

[[binding]]
from = "telnet{i}.out"
to = "ip1.in"
count = 2
"#;

/// A fragment onto [`FULL`] (what `weaves apply` takes).
const FRAGMENT: &str = r#"
[[module]]
name = "late"
path = "late.so"

[[bead]]
name = "late{i}"
module = "late"
count = 2

[[weave]]
name = "lw{i}"
count = 2
beads = ["late{i}", "ip1"]

[[string]]
weave = "lw{i}"
count = 2
entry = "main"
args = ["late"]

[[binding]]
from = "late0.out"
to = "telnet1.in"
"#;

const SCRIPT: &str = "# swap\natomic {\n  apply v2.toml\n  stop client0\n  bind telnet0.out ip1.in\n  move-queue ip1.in late0.in\n  start client0\n}\nunbind telnet1.out\nremove bead late1\nwait client1\n";

const DEMO: &str = include_str!("../../../examples/demo/demo.toml");

/// Tokens of the schema: tables, keys, values that are limits.
const TOKENS: &[&[u8]] = &[
    b"[tapestry]\n",
    b"[checkpoint]\n",
    b"[[module]]\n",
    b"[[bead]]\n",
    b"[[weave]]\n",
    b"[[string]]\n",
    b"[[tuple_space]]\n",
    b"[[binding]]\n",
    b"name = ",
    b"count = ",
    b"module = ",
    b"beads = [",
    b"weave = ",
    b"entry = ",
    b"args = [",
    b"env = {",
    b"stack_kib = ",
    b"mode = ",
    b"workers = ",
    b"preempt_ms = ",
    b"interval_ms = ",
    b"keep = ",
    b"variables = [",
    b"from = ",
    b"to = ",
    b"path = ",
    b"{i}",
    b"\"",
    b"'",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b",",
    b"\n",
    b".",
    b":",
    b"\"\"\"",
    b"#",
    b"\\u0000",
    b"atomic {",
    b"apply ",
    b"remove bead ",
    b"bind ",
    b"move-queue ",
    b"\xc3\xa9",
    b"\xe2\x80\x8b",
];

/// Token-level mutations: a number made a boundary value, a line repeated
/// or dropped, two lines swapped, a `{i}` added to a name.
fn mutate_text(rng: &mut Rng, data: &mut Vec<u8>) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return;
    }
    let i = rng.index(lines.len());
    match rng.below(5) {
        0 => {
            // The first number on a line, replaced.
            let line = &lines[i];
            if let Some(start) = line.find(|c: char| c.is_ascii_digit()) {
                let end = line[start..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(line.len(), |e| start + e);
                // Limits of the schema (MAX_COUNT is 2^20, MAX_WORKERS
                // 1024, stacks 64..=2^26 KiB), rarely the largest count
                // accepted (a million beads takes a while to expand).
                let v = match rng.below(32) {
                    0 => ((1u64 << 20) + rng.below(2)).to_string(),
                    1..=6 => format!("-{}", interesting(rng)),
                    7..=12 => rng
                        .pick(&[0u64, 1, 63, 64, 1000, 1024, 1025, 67_108_864, 67_108_865])
                        .to_string(),
                    13..=18 => (interesting(rng) % 70_000).to_string(),
                    19 => "1e400".to_owned(),
                    _ => interesting(rng).to_string(),
                };
                lines[i] = format!("{}{v}{}", &line[..start], &line[end..]);
            }
        }
        1 => {
            let copy = lines[i].clone();
            lines.insert(rng.index(lines.len() + 1), copy);
        }
        2 => {
            lines.remove(i);
        }
        3 => {
            let j = rng.index(lines.len());
            lines.swap(i, j);
        }
        _ => {
            if let Some(q) = lines[i].rfind('"') {
                let token = *rng.pick::<&str>(&["{i}", "{i}{i}", "{", "}", ":", "."]);
                lines[i].insert_str(q, token);
            }
        }
    }
    *data = lines.join("\n").into_bytes();
}

#[test]
fn fuzz_tapestry_parser() {
    let dir = Path::new("/fuzz");
    let base = Plan::parse(&dir.join("base.toml"), FULL).expect("the base parses");
    let corpus = [FULL, FRAGMENT, SCRIPT, DEMO]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
    let report = Fuzzer::new("tapestry", corpus)
        .iterations(4_000)
        .dictionary(TOKENS)
        .mutator(mutate_text)
        .run(|input| {
            let text = String::from_utf8_lossy(input);
            let whole = Plan::parse(&dir.join("t.toml"), &text);
            let fragment = base.extend_with(&dir.join("f.toml"), &text);
            let script = weaves_tapestry::parse_script(&dir.join("s.txt"), &text);
            if let Ok(plan) = &whole {
                std::hint::black_box((plan.beads.len(), plan.strings.len()));
            }
            match (whole, fragment, script) {
                (Ok(_), _, _) | (_, Ok(_), _) | (_, _, Ok(_)) => Ok(()),
                (Err(e), _, Err(_)) => Err(e.to_string()),
            }
        });
    report.expect_depth(100, 50);
}

/// The corpus is valid (what the fuzzer starts from parses).
#[test]
fn corpus_parses() {
    let dir = Path::new("/fuzz");
    let base = Plan::parse(&dir.join("base.toml"), FULL).unwrap();
    assert_eq!(base.beads.len(), 3);
    base.extend_with(&dir.join("f.toml"), FRAGMENT).unwrap();
    Plan::parse(&dir.join("demo.toml"), DEMO).unwrap();
    assert_eq!(
        weaves_tapestry::parse_script(&dir.join("s.txt"), SCRIPT).unwrap(),
        4
    );
}
