//! Live rebinding (`rebind BEAD SYMBOL PROVIDER` in a reconfiguration
//! script): one import of a running bead is pointed at another bead's
//! definition; every import slot is one atomic store, and inspection shows
//! the new wiring.

mod common;

use common::running::*;

const BASE: &str = r#"
[tapestry]
name = "rewire"
workers = 2

[[module]]
name = "counter"
path = "@MODS@/counter.so"

[[module]]
name = "app"
path = "@MODS@/app.so"

[[module]]
name = "sleeper"
path = "@MODS@/sleeper.so"

[[bead]]
name = "c{i}"
module = "counter"
count = 2

[[bead]]
name = "a"
module = "app"

[[bead]]
name = "nap"
module = "sleeper"

[[weave]]
name = "wa"
beads = ["a", "c0"]

[[weave]]
name = "wn"
beads = ["nap"]

[[string]]
name = "napper"
weave = "wn"
entry = "sleeper_main"
args = ["sleeper", "n", "300", "10000"]

[[string]]
name = "first"
weave = "wa"
entry = "app_main"
args = ["app", "first", "3"]
"#;

fn wire_of(i: &serde_json::Value, bead: &str, symbol: &str) -> String {
    i["beads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == bead)
        .and_then(|b| {
            b["imports"]["beads"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["symbol"] == symbol)
        })
        .map(|w| w["bead"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn rebind_points_a_running_beads_import_at_another_bead() {
    let (running, ps) = start_running("rebind_live", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    inspect_until(&rt, &id, "first ended", |i| {
        string_state(i, "first") == "done"
    });

    let script = write_file(
        &running.dir,
        "rewire.wvs",
        "rebind a counter_next c1\nrebind a counter_get c1\n",
    );
    let out = weaves_cmd(&rt, &["script", &id, &script]);
    out.expect_success();
    assert!(
        out.stdout
            .contains("`counter_next` of `a` now binds to `c1`"),
        "{out}"
    );
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert_eq!(wire_of(&i, "a", "counter_next"), "c1");
    assert_eq!(wire_of(&i, "a", "counter_get"), "c1");

    // A new string through bead `a` now counts on c1, from 1 again.
    let fragment = write_file(
        &running.dir,
        "second.toml",
        r#"
[[string]]
name = "second"
weave = "wa"
entry = "app_main"
args = ["app", "second", "3"]
"#,
    );
    weaves_cmd(&rt, &["apply", &id, &fragment]).expect_success();
    inspect_until(&rt, &id, "second ended", |i| {
        string_state(i, "second") == "done"
    });
    let stdout = std::fs::read_to_string(&running.stdout).unwrap();
    assert!(
        stdout.contains("app first: calls=1 counter=3 heap=first*3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("app second: calls=2 counter=3 heap=second*3"),
        "bead `a` still counted on c0:\n{stdout}"
    );

    // c1 is now bound by `a`, so it cannot go; nothing binds to c0 any
    // more, but the weave still lists it.
    let refused = weaves_cmd(&rt, &["remove", &id, "bead", "c1"]);
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("still"), "{refused}");
}

#[test]
fn rebind_refuses_what_cannot_be_rebound() {
    let (running, ps) = start_running("rebind_refused", BASE);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    for (line, why) in [
        (
            "rebind a counter_next nap",
            "does not export `counter_next`",
        ),
        (
            "rebind a no_such_import c1",
            "does not import `no_such_import`",
        ),
        ("rebind a counter_next ghost", "no running bead `ghost`"),
        ("rebind a counter_next a", "from itself"),
    ] {
        let script = write_file(&running.dir, "bad.wvs", &format!("{line}\n"));
        let out = weaves_cmd(&rt, &["script", &id, &script]);
        assert!(!out.status.success(), "{line}: {out}");
        assert!(out.stderr.contains(why), "{line}: {out}");
    }
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    assert_eq!(wire_of(&i, "a", "counter_next"), "c0");
}
