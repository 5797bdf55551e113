//! Live changes: `weaves apply` adds modules (even ones built after the
//! tapestry started), beads, weaves, strings and bindings to a running
//! tapestry; a refused change leaves it exactly as it was.

mod common;

use std::path::Path;

use common::running::*;
use common::*;

/// Runs for a few seconds: a sleeper string, and a counter bead nothing
/// uses yet.
const BASE: &str = r#"
[tapestry]
name = "grower"
workers = 2

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[bead]]
name = "sleepy"
module = "sleeper"

[[bead]]
name = "tally"
module = "counter"

[[weave]]
name = "nap"
beads = ["sleepy"]

[[string]]
name = "napper"
weave = "nap"
entry = "sleeper_main"
args = ["sleeper", "n", "300", "10000"]
"#;

/// Builds app.c into `dir/name` now (after the tapestry started).
fn build_late_module(dir: &Path, name: &str) {
    let source = repo_root().join("tests/modules/app.c");
    let status = std::process::Command::new("cc")
        .args(["-O2", "-fPIC", "-shared"])
        .arg(&source)
        .arg("-o")
        .arg(dir.join(name))
        .status()
        .expect("cc runs");
    assert!(status.success());
}

#[test]
fn apply_adds_a_module_built_after_the_start_and_its_strings_run() {
    let (running, ps) = start_running("apply_late_module", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let dir = running.dir.clone();
    build_late_module(&dir, "late_app.so");
    let fragment = write_file(
        &dir,
        "late.toml",
        r#"
[[module]]
name = "late"
path = "late_app.so"        # relative to the fragment

[[bead]]
name = "late{i}"
module = "late"
count = 2

# New weaves that share the running counter bead.
[[weave]]
name = "lw{i}"
count = 2
beads = ["late{i}", "tally"]

[[string]]
name = "latecomer{i}"
weave = "lw{i}"
entry = "app_main"
args = ["app", "L{i}", "4"]
count = 2
"#,
    );
    let applied = json_of(&running.rt, &["apply", &id, &fragment, "--json"]);
    assert_eq!(
        applied,
        serde_json::json!({
            "modules": ["late"],
            "beads": ["late0", "late1"],
            "weaves": ["lw0", "lw1"],
            "strings": ["latecomer0", "latecomer1"],
            "bindings": []
        })
    );
    let i = inspect_until(&running.rt, &id, "ran the new strings", |i| {
        string_state(i, "latecomer0") == "done" && string_state(i, "latecomer1") == "done"
    });
    let module = i["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "late")
        .expect("the new module is listed");
    assert_eq!(
        module["path"],
        dir.join("late_app.so").display().to_string()
    );
    assert_eq!(module["beads"], 2);
    let tally = i["beads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "tally")
        .unwrap();
    assert_eq!(tally["weaves"], serde_json::json!(["lw0", "lw1"]));
    for s in i["strings"].as_array().unwrap() {
        if s["name"] != "napper" {
            assert_eq!(s["status"], 0, "{s}");
        }
    }
    let (status, stdout) = running.finish();
    assert!(status.success(), "{stdout}");
    // Both new strings counted on the one running counter bead: 8 in all.
    let counters: Vec<i64> = stdout
        .lines()
        .filter(|l| l.starts_with("app L"))
        .map(|l| field(l, "counter"))
        .collect();
    assert_eq!(counters.len(), 2, "{stdout}");
    assert_eq!(counters.iter().max(), Some(&8), "{stdout}");
}

/// Each refused fragment: its one-line error, and an unchanged tapestry.
#[test]
fn a_refused_change_changes_nothing() {
    let (running, ps) = start_running("apply_refused", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let dir = running.dir.clone();
    let before = stable(json_of(&running.rt, &["inspect", &id, "--json"]));
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown_module.toml",
            "[[bead]]\nname = \"x\"\nmodule = \"countr\"\n",
            &["unknown module `countr`", "counter", "line 3"],
        ),
        (
            "missing_file.toml",
            "[[module]]\nname = \"gone\"\npath = \"no/such.so\"\n[[bead]]\nname = \"g\"\nmodule = \"gone\"\n",
            &["no/such.so"],
        ),
        (
            // Maps the bead, then cannot bind it: it reads a variable
            // nothing defines (a missing function would bind lazily).
            "unbound.toml",
            "[[module]]\nname = \"lonely\"\npath = \"@MODS@/missing_data.so\"\n[[bead]]\nname = \"alone\"\nmodule = \"lonely\"\n[[weave]]\nname = \"solo\"\nbeads = [\"alone\"]\n",
            &["unresolved symbols", "bead `alone`", "no_such_variable"],
        ),
        (
            "bad_entry.toml",
            "[[weave]]\nname = \"again\"\nbeads = [\"sleepy\"]\n[[string]]\nweave = \"again\"\nentry = \"sleeper_mian\"\n",
            &["entry `sleeper_mian`", "sleeper_main"],
        ),
        (
            "settings.toml",
            "[tapestry]\nworkers = 9\n",
            &["cannot change the [tapestry] settings"],
        ),
        (
            "duplicate.toml",
            "[[bead]]\nname = \"tally\"\nmodule = \"counter\"\n",
            &["duplicate bead name `tally`"],
        ),
        (
            "bad_binding.toml",
            "[[binding]]\nfrom = \"sleepy.out\"\nto = \"nobody.in\"\n",
            &["unknown bead `nobody`"],
        ),
    ];
    for (file, text, mentions) in cases {
        let fragment = write_file(&dir, file, text);
        let out = weaves_cmd(&running.rt, &["apply", &id, &fragment]);
        out.expect_error(mentions);
        let after = stable(json_of(&running.rt, &["inspect", &id, "--json"]));
        assert_eq!(before, after, "{file} changed the tapestry");
    }
    // And a good change still works afterwards.
    let fragment = write_file(
        &dir,
        "good.toml",
        "[[bead]]\nname = \"tally2\"\nmodule = \"counter\"\n",
    );
    let applied = json_of(&running.rt, &["apply", &id, &fragment, "--json"]);
    assert_eq!(applied["beads"], serde_json::json!(["tally2"]));
}

/// `weaves remove`: refused while in use, with the reason; once free, a
/// bead's finalisers run, it leaves the inspection, and its name can be
/// used again.
#[test]
fn remove_takes_out_what_nothing_uses_and_runs_its_fini() {
    let (running, ps) = start_running("remove", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let dir = running.dir.clone();
    let fragment = write_file(
        &dir,
        "parts.toml",
        r#"
[[module]]
name = "fini"
path = "@MODS@/fini_mod.so"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[bead]]
name = "gone"
module = "fini"

[[bead]]
name = "user"
module = "app"

[[weave]]
name = "gw"
beads = ["gone"]

[[weave]]
name = "uw"
beads = ["user", "tally"]

[[binding]]
from = "user.out"
to = "tally.in"

[[string]]
name = "once"
weave = "gw"
entry = "fini_main"
args = ["fini", "first"]

[[string]]
name = "counting"
weave = "uw"
entry = "app_main"
args = ["app", "U", "2"]
"#,
    );
    json_of(&rt, &["apply", &id, &fragment, "--json"]);
    inspect_until(&rt, &id, "ran the new strings", |i| {
        string_state(i, "once") == "done" && string_state(i, "counting") == "done"
    });

    let refused = |args: &[&str], mentions: &[&str]| {
        let before = stable(json_of(&rt, &["inspect", &id, "--json"]));
        let mut all = vec!["remove", id.as_str()];
        all.extend_from_slice(args);
        weaves_cmd(&rt, &all).expect_error(mentions);
        let after = stable(json_of(&rt, &["inspect", &id, "--json"]));
        assert_eq!(
            before,
            after,
            "a refused `remove {}` changed the tapestry",
            args.join(" ")
        );
    };
    refused(&["bead", "gone"], &["bead `gone` is still in weave(s) gw"]);
    refused(
        &["weave", "nap"],
        &["weave `nap` still has running strings: napper"],
    );
    refused(&["string", "napper"], &["string `napper` is running"]);
    refused(&["bead", "gnoe"], &["no bead `gnoe`", "gone"]);
    refused(&["module", "app"], &["cannot remove a `module`"]);

    // The fini bead: out of its weave, then out.
    weaves_cmd(&rt, &["remove", &id, "weave", "gw"]).expect_success();
    weaves_cmd(&rt, &["remove", &id, "bead", "gone"]).expect_success();
    let stdout = std::fs::read_to_string(&running.stdout).unwrap();
    let mine: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("fini_mod"))
        .collect();
    assert_eq!(
        mine,
        [
            "fini_mod gone: ran first",
            "fini_mod gone: destructor",
            "fini_mod gone: atexit handler after 1 run(s)"
        ],
        "{stdout}"
    );

    // The counter bead: in a weave, then bound by `user`.
    refused(
        &["bead", "tally"],
        &["bead `tally` is still in weave(s) uw"],
    );
    weaves_cmd(&rt, &["remove", &id, "weave", "uw"]).expect_success();
    refused(
        &["bead", "tally"],
        &["bead `tally` is still bound by bead(s) `user` (counter_next, counter_get)"],
    );
    refused(
        &["bead", "user"],
        &["message bindings: user.out -> tally.in"],
    );
    weaves_cmd(&rt, &["remove", &id, "binding", "user.out"]).expect_success();
    weaves_cmd(&rt, &["remove", &id, "bead", "user"]).expect_success();
    weaves_cmd(&rt, &["remove", &id, "bead", "tally"]).expect_success();
    weaves_cmd(&rt, &["remove", &id, "string", "once"]).expect_success();

    let i = json_of(&rt, &["inspect", &id, "--json"]);
    let names = |key: &str| -> Vec<String> {
        i[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("beads"), ["sleepy"]);
    assert_eq!(names("weaves"), ["nap"]);
    assert!(!names("strings").contains(&"once".to_owned()));
    assert_eq!(i["bindings"], serde_json::json!([]));
    let fini = i["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "fini")
        .unwrap();
    assert_eq!(fini["beads"], 0);

    // A removed name is free again.
    let again = write_file(
        &dir,
        "again.toml",
        "[[bead]]\nname = \"gone\"\nmodule = \"fini\"\n[[weave]]\nname = \"gw\"\nbeads = [\"gone\"]\n[[string]]\nweave = \"gw\"\nentry = \"fini_main\"\nargs = [\"fini\", \"second\"]\n",
    );
    json_of(&rt, &["apply", &id, &again, "--json"]);
    let (status, stdout) = running.finish();
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("fini_mod gone: ran second"), "{stdout}");
    // The second `gone` is finalised when the tapestry ends, once.
    assert_eq!(
        stdout.matches("fini_mod gone: destructor").count(),
        2,
        "{stdout}"
    );
}

/// Weave-aware modules start strings themselves (`wv_spawn`).
#[test]
fn bead_code_starts_strings_with_wv_spawn() {
    let out = run_tapestry(
        "wv_spawn",
        r#"
[tapestry]
name = "spawny"
workers = 2

[[module]]
name = "s"
path = "@MODS@/spawner.so"

[[bead]]
name = "b"
module = "s"

[[weave]]
name = "w"
beads = ["b"]

[[string]]
name = "boss"
weave = "w"
entry = "spawner_main"
args = ["spawner", "3"]
"#,
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.sorted_lines(),
        [
            "spawner: started 3, bad ids 0, unknown weave refused yes, unknown entry refused yes",
            "worker w0: string 2 in weave w, argc 2",
            "worker w1: string 3 in weave w, argc 2",
            "worker w2: string 4 in weave w, argc 2",
        ],
        "{out}"
    );
    assert!(
        out.stderr
            .contains("weaves: wv_spawn: no weave `no_such_weave`"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("entry `no_such_entry` is not a function of any bead of weave `w`"),
        "{out}"
    );
}
