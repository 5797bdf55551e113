//! Imports bound through a weave, under both engines: a Wasm program whose
//! linear memory is another Wasm bead's, calling that bead's functions and
//! a native bead's functions; and a native string calling a Wasm bead's
//! exports. Each run prints what the native build of the same C sources,
//! linked together as one program, prints, and ends with its status.
//! Bindings the beads cannot honour are refused at load in one line.

mod common;

use std::time::{Duration, Instant};

use common::running::{json_of, weaves, weaves_cmd};
use common::*;

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

/// The Wasm program `p` (wasm_linker.wasm), the Wasm library `s`
/// (wasm_store.wasm) and the native bead `n` (links_native.so) in one
/// weave, with `bindings` and `strings`.
fn tapestry(engine: &str, bindings: &str, strings: &str) -> String {
    format!(
        r#"
[tapestry]
name = "links"
engine = "{engine}"

[[module]]
name = "store"
path = "@MODS@/wasm_store.wasm"

[[module]]
name = "linker"
path = "@MODS@/wasm_linker.wasm"

[[module]]
name = "native"
path = "@MODS@/links_native.so"

[[bead]]
name = "s"
module = "store"

[[bead]]
name = "p"
module = "linker"

[[bead]]
name = "n"
module = "native"

[[weave]]
name = "w"
beads = ["p", "s", "n"]
{bindings}
{strings}
"#
    )
}

/// `[[weave.import]]` of `bead`'s `import` from `from`, with a signature
/// when `sig` is given.
fn import(bead: &str, import: &str, from: &str, sig: Option<(&str, &str)>) -> String {
    let sig = sig
        .map(|(p, r)| format!("params = [{p}]\nresults = [{r}]\n"))
        .unwrap_or_default();
    format!(
        "\n[[weave.import]]\nbead = \"{bead}\"\nimport = \"{import}\"\nfrom = \"{from}\"\n{sig}"
    )
}

/// Every binding the three beads need.
fn all_bindings() -> Vec<String> {
    vec![
        import("p", "env.memory", "s:memory", None),
        import("p", "store.cells", "s:store_cells", None),
        import("p", "store.put", "s:store_put", None),
        import("p", "store.sum", "s:store_sum", None),
        import(
            "p",
            "native.mix",
            "n:mix",
            Some(("\"i32\", \"i64\"", "\"i64\"")),
        ),
        import(
            "p",
            "native.poly",
            "n:poly",
            Some(("\"f64\", \"f32\", \"i32\"", "\"f64\"")),
        ),
        import(
            "n",
            "store_fib",
            "s:store_fib",
            Some(("\"i32\"", "\"i64\"")),
        ),
        import(
            "n",
            "store_put",
            "s:store_put",
            Some(("\"i32\", \"i32\"", "")),
        ),
        import(
            "n",
            "store_sum",
            "s:store_sum",
            Some(("\"i32\"", "\"i64\"")),
        ),
        import(
            "n",
            "store_scale",
            "s:store_scale",
            Some(("\"f64\", \"f32\"", "\"f64\"")),
        ),
    ]
}

const WASM_PROGRAM: &str = r#"
[[string]]
name = "prog"
weave = "w"
entry = "p:_start"
args = ["wasm_linker"]
"#;

const NATIVE_CALLER: &str = r#"
[[string]]
name = "caller"
weave = "w"
entry = "n:links_native_main"
args = ["links_native_caller"]
"#;

fn expect_like(out: &Outcome, native: &Outcome, what: &str) {
    assert_eq!(out.stdout, native.stdout, "{what}: stdout differs\n{out}");
    assert_eq!(
        out.code(),
        native.code(),
        "{what}: exit status differs\n{out}"
    );
}

#[test]
fn wasm_bead_shares_another_wasm_beads_memory_and_calls_wasm_and_native_functions_through_the_weave(
) {
    let native = run_native("wasm_links", &[]);
    assert_ne!(native.code(), 0, "{native}");
    for engine in ENGINES {
        let text = tapestry(engine, &all_bindings().concat(), WASM_PROGRAM);
        let out = run_tapestry(&format!("wasm_links_program_{engine}"), &text);
        expect_like(&out, &native, engine);
    }
}

#[test]
fn native_string_calls_wasm_exports_through_the_weave_keeping_the_wasm_beads_state() {
    let native = run_native("links_native_caller", &[]);
    assert_ne!(native.code(), 0, "{native}");
    for engine in ENGINES {
        let text = tapestry(engine, &all_bindings().concat(), NATIVE_CALLER);
        let out = run_tapestry(&format!("wasm_links_native_{engine}"), &text);
        expect_like(&out, &native, engine);
    }
}

#[test]
fn bindings_a_bead_cannot_honour_are_refused_at_load_naming_weave_bead_and_import() {
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "signature",
            vec![import(
                "p",
                "native.mix",
                "n:mix",
                Some(("\"i32\", \"i32\"", "\"i64\"")),
            )],
            vec!["w", "p", "native.mix", "declares"],
        ),
        (
            "wasm_signature",
            vec![import("p", "store.sum", "s:store_put", None)],
            vec!["w", "p", "store.sum", "store_put"],
        ),
        (
            "missing_wasm_export",
            vec![import("p", "store.put", "s:store_putt", None)],
            vec!["w", "p", "store.put", "store_putt"],
        ),
        (
            "missing_native_export",
            vec![import(
                "p",
                "native.mix",
                "n:mixx",
                Some(("\"i32\", \"i64\"", "\"i64\"")),
            )],
            vec!["w", "p", "native.mix", "mixx"],
        ),
        (
            "missing_memory",
            vec![import("p", "env.memory", "s:memoryy", None)],
            vec!["w", "p", "env.memory", "memoryy"],
        ),
        (
            "native_undeclared",
            vec![import("p", "native.mix", "n:mix", None)],
            vec!["w", "p", "params", "results"],
        ),
        (
            "native_to_wasm_signature",
            vec![import(
                "n",
                "store_fib",
                "s:store_fib",
                Some(("\"i64\"", "\"i64\"")),
            )],
            vec!["w", "n", "store_fib"],
        ),
    ];
    for (name, replaced, mentions) in cases {
        // The case's binding instead of the right one for the same import.
        let key = |b: &str| {
            b.lines()
                .filter(|l| l.starts_with("bead") || l.starts_with("import"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut bindings = all_bindings();
        for r in &replaced {
            bindings.retain(|b| key(b) != key(r));
            bindings.push(r.clone());
        }
        let text = tapestry("wasmtime", &bindings.concat(), WASM_PROGRAM);
        let out = run_tapestry(&format!("wasm_links_refused_{name}"), &text);
        out.expect_error(&mentions);
    }
    // An import left unbound.
    let mut bindings = all_bindings();
    bindings.retain(|b| !b.contains("env.memory"));
    let out = run_tapestry(
        "wasm_links_refused_unbound",
        &tapestry("wasmtime", &bindings.concat(), WASM_PROGRAM),
    );
    out.expect_error(&["p", "env.memory", "lacks"]);
    // Beads under different engines.
    let text = tapestry("wasmtime", &all_bindings().concat(), WASM_PROGRAM).replace(
        "name = \"s\"\nmodule = \"store\"",
        "name = \"s\"\nmodule = \"store\"\nengine = \"wasmi\"",
    );
    let out = run_tapestry("wasm_links_refused_engines", &text);
    out.expect_error(&["w", "p", "wasmi", "wasmtime"]);
}

#[test]
fn checkpoint_and_migrate_refuse_a_tapestry_with_bound_imports() {
    // A second weave's string reads stdin, so the tapestry runs until the
    // test closes it.
    let reader = r#"
[[module]]
name = "hello"
path = "@MODS@/wasm_hello.wasm"

[[bead]]
name = "h"
module = "hello"

[[weave]]
name = "hw"
beads = ["h"]

[[string]]
name = "reader"
weave = "hw"
args = ["wasm_hello", "1", "stdin"]

[checkpoint]
dir = "images"
"#;
    let dir = scratch_dir("wasm_links_refuse_capture");
    let text = tapestry(
        "wasmtime",
        &all_bindings().concat(),
        &format!("{WASM_PROGRAM}{reader}"),
    );
    let file = write_tapestry(&dir, "t.toml", &text);
    let rt = dir.join("rt");
    let mut child = weaves(&rt)
        .arg("run")
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        if rt.exists() {
            let ps = json_of(&rt, &["ps", "--json"]);
            if let Some(id) = ps
                .as_array()
                .and_then(|a| a.first())
                .map(|p| p["id"].clone())
            {
                break id.as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "never listed");
        std::thread::sleep(Duration::from_millis(50));
    };
    // `inspect` shows each bound import with its provider.
    let inspection = json_of(&rt, &["inspect", &id, "--json"]);
    let p = inspection["beads"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "p"))
        .unwrap_or_else(|| panic!("no bead p: {inspection}"));
    let wires = p["imports"]["beads"].as_array().unwrap();
    assert!(
        wires
            .iter()
            .any(|w| w["symbol"] == "env.memory" && w["bead"] == "s"),
        "{p}"
    );
    assert_eq!(wires.len(), 6, "{p}");
    let image = dir.join("x.wvimg");
    weaves_cmd(&rt, &["checkpoint", &id, "-o", image.to_str().unwrap()]).expect_error(&[
        "not supported",
        "`w`",
        "binds imports",
    ]);
    weaves_cmd(&rt, &["migrate", &id, "prog", "--engine", "wasmi"]).expect_error(&[
        "not supported",
        "`prog`",
        "`p`",
    ]);
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn native_string_calls_exports_of_wasm_beads_under_two_engines() {
    let native = run_native("links_native_caller", &[]);
    // fib from a bead under wasmtime, the stateful calls from one under
    // wasmi: what the program prints is its native build's.
    let text = r#"
[tapestry]
name = "two_engines"

[[module]]
name = "store"
path = "@MODS@/wasm_store.wasm"

[[module]]
name = "native"
path = "@MODS@/links_native.so"

[[bead]]
name = "fast"
module = "store"
engine = "wasmtime"

[[bead]]
name = "slow"
module = "store"
engine = "wasmi"

[[bead]]
name = "n"
module = "native"

[[weave]]
name = "w"
beads = ["n", "fast", "slow"]

[[weave.import]]
bead = "n"
import = "store_fib"
from = "fast:store_fib"
params = ["i32"]
results = ["i64"]

[[weave.import]]
bead = "n"
import = "store_put"
from = "slow:store_put"
params = ["i32", "i32"]
results = []

[[weave.import]]
bead = "n"
import = "store_sum"
from = "slow:store_sum"
params = ["i32"]
results = ["i64"]

[[weave.import]]
bead = "n"
import = "store_scale"
from = "slow:store_scale"
params = ["f64", "f32"]
results = ["f64"]
"#;
    let out = run_tapestry("wasm_links_two_engines", &format!("{text}{NATIVE_CALLER}"));
    expect_like(&out, &native, "two engines");
}
