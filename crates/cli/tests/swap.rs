//! Hot-swap (`weaves swap ID BEAD NEW_MODULE`): a live bead is replaced by
//! another version of its module while client strings call it in a tight
//! loop. Every call returns and is counted once (the bead checks each
//! client's sequence numbers), the state moves in the negotiated format,
//! and a swap that cannot finish leaves the tapestry as it was.

mod common;

use common::running::*;

const TWO_WORKERS: &str = r#"
[tapestry]
name = "@NAME@"
workers = 2

[[module]]
name = "ctr"
path = "@MODS@/swap_v1.so"

[[module]]
name = "drv"
path = "@MODS@/swap_driver.so"

[[bead]]
name = "counter"
module = "ctr"

[[bead]]
name = "d{i}"
module = "drv"
count = @DRIVERS@

[[weave]]
name = "w{i}"
beads = ["d{i}", "counter"]
count = @DRIVERS@

[[string]]
name = "driver{i}"
weave = "w{i}"
entry = "swap_driver_main"
args = ["drv", "{i}", "0", "@STOP@"]
count = @DRIVERS@

[[string]]
name = "keeper"
weave = "w0"
entry = "swap_keep_main"
args = ["keep", "@STOP@.end"]
"#;

fn tapestry(name: &str, drivers: usize, stop: &std::path::Path) -> String {
    TWO_WORKERS
        .replace("@NAME@", name)
        .replace("@DRIVERS@", &drivers.to_string())
        .replace("@STOP@", &stop.display().to_string())
}

fn swap(rt: &std::path::Path, id: &str, module: &str, extra: &[&str]) -> serde_json::Value {
    let path = common::module(module).display().to_string();
    let mut args = vec!["swap", id, "counter", path.as_str(), "--json"];
    args.extend_from_slice(extra);
    json_of(rt, &args)
}

fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// Stops the drivers, waits for them, then runs the report string; returns
/// the whole output and the total of the drivers' calls.
fn stop_and_report(
    running: Running,
    id: &str,
    stop: &std::path::Path,
    drivers: usize,
) -> (String, i64) {
    std::fs::write(stop, "").unwrap();
    inspect_until(&running.rt, id, "drivers ended", |i| {
        (0..drivers).all(|k| string_state(i, &format!("driver{k}")) == "done")
    });
    let fragment = write_file(
        &running.dir,
        "report.toml",
        "[[string]]\nname = \"report\"\nweave = \"w0\"\nentry = \"swap_report_main\"\n",
    );
    weaves_cmd(&running.rt, &["apply", id, &fragment]).expect_success();
    inspect_until(&running.rt, id, "report ended", |i| {
        string_state(i, "report") == "done"
    });
    std::fs::write(stop.with_extension("end"), "").unwrap();
    let (status, out) = running.finish();
    assert!(status.success(), "{status}: {out}");
    let mut total = 0;
    for k in 0..drivers {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("driver {k}: ")) && l.ends_with("bad answers"))
            .unwrap_or_else(|| panic!("driver {k} did not finish:\n{out}"));
        assert!(line.ends_with(", 0 bad answers"), "{line}");
        total += number_after(line, ": ");
    }
    (out, total)
}

#[test]
fn swap_keeps_every_call_and_the_state_through_each_transfer_format() {
    let dir = common::scratch_dir("swap_formats");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    let (running, ps) = start_running("swap_formats", &tapestry("formats", 1, &stop));
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();

    // v1 -> v2: v2 has one more variable: by symbol, everything of v1 moves.
    let r = swap(&rt, &id, "swap_v2.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    let moved = strings(&r["transferred"]);
    for v in ["calls", "misordered", "last_seq", "ballast"] {
        assert!(moved.contains(&v), "{v} not moved: {r}");
    }
    assert!(r["bytes_transferred"].as_u64().unwrap() > 1 << 20, "{r}");
    for k in ["forward", "block", "transfer", "complete"] {
        assert!(r["phases_us"][k].as_f64().unwrap() >= 0.0, "{r}");
    }
    assert!(r["blocked_us"].as_f64().unwrap() > 0.0, "{r}");
    // v2 -> v4: v4 lacks v2's extra variable, which is listed.
    let r = swap(&rt, &id, "swap_v4.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    assert_eq!(
        strings(&r["not_transferred"]),
        ["only_in_v2 (not in the new version)"],
        "{r}"
    );
    // v4 -> v1: the same data layout: by reference.
    let r = swap(&rt, &id, "swap_v1.so", &[]);
    assert_eq!(r["transfer"], "by-reference", "{r}");
    // v1 -> v5: `tick` kept its name and size but became a double.
    let r = swap(&rt, &id, "swap_v5.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    assert_eq!(
        strings(&r["not_transferred"]),
        ["tick (type long int → double)"],
        "{r}"
    );
    assert!(strings(&r["transferred"]).contains(&"calls"), "{r}");
    let r = swap(&rt, &id, "swap_v1.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    // v1 -> v3: the counts moved into a struct; v3's import hook converts.
    let r = swap(&rt, &id, "swap_v3.so", &[]);
    assert_eq!(r["transfer"], "hooks", "{r}");

    let i = json_of(&rt, &["inspect", &id, "--json"]);
    let counter = i["beads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "counter")
        .unwrap_or_else(|| panic!("no bead `counter`: {i}"));
    let module = i["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == counter["module"])
        .unwrap();
    assert!(
        module["path"].as_str().unwrap().ends_with("swap_v3.so"),
        "{i}"
    );

    let (out, total) = stop_and_report(running, &id, &stop, 1);
    // Each version answered, in the order they were swapped in.
    let versions: Vec<i64> = out
        .lines()
        .filter(|l| l.contains("answered by version"))
        .map(|l| number_after(l, "version "))
        .collect();
    assert_eq!(versions, [1, 2, 4, 1, 5, 1, 3], "{out}");
    let report = out.lines().find(|l| l.starts_with("report:")).unwrap();
    assert_eq!(
        report,
        format!("report: version 3, {total} calls, 0 misordered"),
        "{out}"
    );
}

#[test]
fn an_aborted_swap_leaves_the_tapestry_running_on_the_old_version() {
    let dir = common::scratch_dir("swap_abort");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    let text = tapestry("abort", 1, &stop)
        + r#"
[[string]]
name = "napper"
weave = "w0"
entry = "swap_nap_main"
args = ["nap", "1500"]
"#;
    let (running, ps) = start_running("swap_abort", &text);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    inspect_until(&rt, &id, "napper parked", |i| {
        string_state(i, "napper") == "parked"
    });
    let before = stable(json_of(&rt, &["inspect", &id, "--json"]));

    // A string parked inside the old bead outlasts the timeout.
    let v2 = common::module("swap_v2.so").display().to_string();
    let out = weaves_cmd(&rt, &["swap", &id, "counter", &v2, "--timeout", "200"]);
    let err = out.expect_error(&["aborted", "string `napper` is inside", "sc_nap"]);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(stable(json_of(&rt, &["inspect", &id, "--json"])), before);

    // A new version whose import hook refuses the state.
    inspect_until(&rt, &id, "napper ended", |i| {
        string_state(i, "napper") == "done"
    });
    let before = stable(json_of(&rt, &["inspect", &id, "--json"]));
    let refuses = common::module("swap_v3_refuses.so").display().to_string();
    let out = weaves_cmd(&rt, &["swap", &id, "counter", &refuses]);
    out.expect_error(&["aborted", "wv_state_import", "returned 7"]);
    assert_eq!(stable(json_of(&rt, &["inspect", &id, "--json"])), before);

    // What cannot be swapped in is refused before anything happens.
    let other = common::module("counter.so").display().to_string();
    weaves_cmd(&rt, &["swap", &id, "counter", &other]).expect_error(&["define", "`sc_nap`"]);
    weaves_cmd(&rt, &["swap", &id, "nobody", &v2]).expect_error(&["no running bead `nobody`"]);
    weaves_cmd(
        &rt,
        &["swap", &id, "counter", &v2, "--transfer", "sideways"],
    )
    .expect_error(&["unknown transfer format `sideways`"]);
    assert_eq!(stable(json_of(&rt, &["inspect", &id, "--json"])), before);

    // The tapestry is healthy: a swap now goes through.
    let r = swap(&rt, &id, "swap_v2.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    let (out, total) = stop_and_report(running, &id, &stop, 1);
    assert!(out.contains("nap: answered by version 1"), "{out}");
    let report = out.lines().find(|l| l.starts_with("report:")).unwrap();
    assert_eq!(
        report,
        format!("report: version 2, {total} calls, 0 misordered"),
        "{out}"
    );
}

#[test]
fn hundred_swaps_under_eight_busy_strings_lose_and_duplicate_no_call() {
    let dir = common::scratch_dir("swap_hundred");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    // Eight driver beads in one weave (the counter calls back into the
    // first: re-entrant calls during the swaps), and a ninth string on a
    // dedicated thread: drained like the fibers.
    let text = format!(
        r#"
[tapestry]
name = "hundred"
workers = 2

[[module]]
name = "ctr"
path = "@MODS@/swap_v1.so"

[[module]]
name = "drv"
path = "@MODS@/swap_driver.so"

[[bead]]
name = "counter"
module = "ctr"

[[bead]]
name = "d{{i}}"
module = "drv"
count = 8

[[weave]]
name = "w0"
beads = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "counter"]

[[string]]
name = "driver{{i}}"
weave = "w0"
entry = "d{{i}}:swap_driver_main"
args = ["drv", "{{i}}", "0", "{stop}"]
count = 8

[[string]]
name = "driver8"
weave = "w0"
entry = "d0:swap_driver_main"
args = ["drv", "8", "0", "{stop}"]
mode = "thread"

[[string]]
name = "keeper"
weave = "w0"
entry = "d0:swap_keep_main"
args = ["keep", "{stop}.end"]
"#,
        stop = stop.display()
    );
    let (running, ps) = start_running("swap_hundred", &text);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let mut blocked = Vec::new();
    for k in 0..100 {
        let module = if k % 2 == 0 {
            "swap_v2.so"
        } else {
            "swap_v1.so"
        };
        let r = swap(&rt, &id, module, &["--timeout", "5000"]);
        blocked.push(r["blocked_us"].as_f64().unwrap());
    }
    assert_eq!(blocked.len(), 100);
    let (out, total) = stop_and_report(running, &id, &stop, 9);
    let report = out.lines().find(|l| l.starts_with("report:")).unwrap();
    // 100 swaps, the last one to v1.
    assert_eq!(
        report,
        format!("report: version 1, {total} calls, 0 misordered"),
        "{out}"
    );
}

#[test]
fn a_bead_shared_by_two_weaves_is_swapped_for_both_at_once() {
    let dir = common::scratch_dir("swap_shared");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    let text = tapestry("shared", 2, &stop).replace("swap_driver.so", "swap_driver_quiet.so");
    let (running, ps) = start_running("swap_shared", &text);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let r = swap(&rt, &id, "swap_v2.so", &[]);
    assert_eq!(r["transfer"], "by-symbol", "{r}");
    let i = json_of(&rt, &["inspect", &id, "--json"]);
    for w in ["w0", "w1"] {
        let weave = i["weaves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == w)
            .unwrap();
        assert!(
            weave["beads"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b == "counter"),
            "{i}"
        );
    }
    let (out, total) = stop_and_report(running, &id, &stop, 2);
    for k in 0..2 {
        assert!(
            out.contains(&format!("driver {k}: call 1 answered by version 1")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("driver {k}: call "))
                    && l.ends_with("answered by version 2")),
            "{out}"
        );
    }
    let report = out.lines().find(|l| l.starts_with("report:")).unwrap();
    assert_eq!(
        report,
        format!("report: version 2, {total} calls, 0 misordered"),
        "{out}"
    );
}

#[test]
fn swap_lines_of_an_atomic_block_change_over_together_or_not_at_all() {
    let dir = common::scratch_dir("swap_script");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    // Two weaves, each a driver and its own counter bead.
    let text = format!(
        r#"
[tapestry]
name = "script"
workers = 2

[[module]]
name = "ctr"
path = "@MODS@/swap_v1.so"

[[module]]
name = "drv"
path = "@MODS@/swap_driver_quiet.so"

[[bead]]
name = "c{{i}}"
module = "ctr"
count = 2

[[bead]]
name = "d{{i}}"
module = "drv"
count = 2

[[weave]]
name = "w{{i}}"
beads = ["d{{i}}", "c{{i}}"]
count = 2

[[string]]
name = "driver{{i}}"
weave = "w{{i}}"
entry = "swap_driver_main"
args = ["drv", "{{i}}", "0", "{stop}"]
count = 2

[[string]]
name = "keeper"
weave = "w0"
entry = "swap_keep_main"
args = ["keep", "{stop}.end"]
"#,
        stop = stop.display()
    );
    let (running, ps) = start_running("swap_script", &text);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let before = stable(json_of(&rt, &["inspect", &id, "--json"]));

    // The second bead's new version refuses the state: neither changes.
    let refused = write_file(
        &running.dir,
        "refused.wvs",
        "atomic {\n  swap c0 @MODS@/swap_v2.so\n  swap c1 @MODS@/swap_v3_refuses.so --transfer hooks\n}\n",
    );
    let out = weaves_cmd(&rt, &["script", &id, &refused]);
    out.expect_error(&["aborted", "`c1`", "returned 7"]);
    assert_eq!(stable(json_of(&rt, &["inspect", &id, "--json"])), before);

    let both = write_file(
        &running.dir,
        "both.wvs",
        "atomic {\n  swap c0 @MODS@/swap_v2.so\n  swap c1 @MODS@/swap_v2.so --transfer by-symbol --timeout 2000\n}\n",
    );
    let out = weaves_cmd(&rt, &["script", &id, &both]);
    out.expect_success();
    assert!(out.stdout.contains("line 2: swap c0"), "{out}");
    assert!(out.stdout.contains("line 3: swap c1"), "{out}");
    assert!(out.stdout.contains("transfer by-symbol"), "{out}");

    std::fs::write(&stop, "").unwrap();
    inspect_until(&rt, &id, "drivers ended", |i| {
        (0..2).all(|k| string_state(i, &format!("driver{k}")) == "done")
    });
    std::fs::write(stop.with_extension("end"), "").unwrap();
    let (status, out) = running.finish();
    assert!(status.success(), "{out}");
    for k in 0..2 {
        let versions: Vec<i64> = out
            .lines()
            .filter(|l| l.starts_with(&format!("driver {k}: call ")))
            .map(|l| number_after(l, "version "))
            .collect();
        assert_eq!(versions, [1, 2], "{out}");
    }
}

/// The bug this pins: moving a C++ bead's variables was not enough — the
/// heap nodes of its `std::map` pointed back at the old map's header and
/// its heap object's vtable pointer at the old version (a crash after the
/// swap). The heaps that can hold such pointers are translated too.
#[test]
fn a_cxx_beads_map_and_heap_objects_survive_a_swap() {
    let dir = common::scratch_dir("swap_cxx");
    let stop = dir.join("stop");
    let _ = std::fs::remove_file(&stop);
    let text = format!(
        r#"
[tapestry]
name = "cxx"
workers = 2

[[module]]
name = "lib"
path = "@MODS@/swap_cxx_v1.so"

[[module]]
name = "client"
path = "@MODS@/swap_cxx_client.so"

[[bead]]
name = "table"
module = "lib"

[[bead]]
name = "c"
module = "client"

[[weave]]
name = "w"
beads = ["c", "table"]

[[string]]
name = "adder"
weave = "w"
entry = "swap_cxx_main"
args = ["adder", "{stop}"]
"#,
        stop = stop.display()
    );
    let (running, ps) = start_running("swap_cxx", &text);
    let id = ps["id"].as_str().unwrap().to_owned();
    let rt = running.rt.clone();
    let path = common::module("swap_cxx_v2.so").display().to_string();
    let r = json_of(&rt, &["swap", &id, "table", &path, "--json"]);
    assert!(r["pointers_translated"].as_u64().unwrap() > 0, "{r}");
    assert!(r["heap_bytes_scanned"].as_u64().unwrap() > 0, "{r}");
    std::fs::write(&stop, "").unwrap();
    let (status, out) = running.finish();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("before: alpha=1 (total 1) | hello from v1"),
        "{out}"
    );
    let after = out.lines().find(|l| l.starts_with("after:")).unwrap();
    let added = number_after(
        out.lines().find(|l| l.starts_with("added")).unwrap(),
        "added ",
    );
    assert!(
        after.ends_with(&format!("(total {added}) | hello from v2")),
        "{out}"
    );
    for key in [
        "alpha=",
        "beta=",
        "gamma=",
        "a key long enough to live on the heap=",
    ] {
        assert!(after.contains(key), "{after}");
    }
}
