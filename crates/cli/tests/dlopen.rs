//! `dlopen` from bead code loads a private library into the caller's weave:
//! the plugin calls back into its host, each opening program has its own
//! plugin state (and its own beads of the plugin's private dependencies),
//! and `dlsym`/`dlerror` answer as they do natively. Every run is compared
//! with the same program run natively.
//!
//! The bug these pin: bead code's `dlopen` went to the system loader, which
//! loaded the plugin outside the weave, so the plugin's call back into its
//! host failed (`undefined symbol: host_fn`) and opening programs would
//! have shared its globals.

mod common;

use common::*;

/// Runs `host_module` (the PIE or the shared object) as three beads in
/// three weaves on `workers` workers, each string dlopening the plugin.
fn run_hosts(test: &str, host_module: &str, workers: u32) -> Outcome {
    run_tapestry(
        test,
        &format!(
            r#"
[tapestry]
name = "{test}"
workers = {workers}

[[module]]
name = "host"
path = "@MODS@/{host_module}"

[[bead]]
name = "h{{i}}"
module = "host"
count = 3

[[weave]]
name = "w{{i}}"
count = 3
beads = ["h{{i}}"]

[[string]]
count = 3
weave = "w{{i}}"
entry = "main"
args = ["dl_host", "h{{i}}", "3", "@MODS@/libdlplugin.so", "@MODS@/libdlbad.so"]
"#
        ),
    )
}

fn native_hosts() -> Vec<String> {
    let plugin = module("libdlplugin.so");
    let bad = module("libdlbad.so");
    let (plugin, bad) = (plugin.to_str().unwrap(), bad.to_str().unwrap());
    native_lines(
        "dl_host",
        &[
            &["h0", "3", plugin, bad],
            &["h1", "3", plugin, bad],
            &["h2", "3", plugin, bad],
        ],
    )
}

fn check(test: &str, host_module: &str, workers: u32) {
    let out = run_hosts(test, host_module, workers);
    out.expect_success();
    let expected = native_hosts();
    // Each program counts from 1: the plugin's globals (and its private
    // dependency's) are its own.
    assert!(expected.contains(&"h2: dep count 3".to_owned()));
    assert!(expected.contains(&"h1: host_fn from the plugin: 103".to_owned()));
    assert_eq!(out.sorted_lines(), expected);
}

#[test]
fn dlopened_plugin_calls_back_into_its_pie_host_one_worker() {
    check("dlopen_pie_1", "dl_host", 1);
}

#[test]
fn dlopened_plugin_calls_back_into_its_pie_host_two_workers() {
    check("dlopen_pie_2", "dl_host", 2);
}

#[test]
fn dlopened_plugin_calls_back_into_its_shared_object_host_one_worker() {
    check("dlopen_so_1", "dl_host.so", 1);
}

#[test]
fn dlopened_plugin_calls_back_into_its_shared_object_host_two_workers() {
    check("dlopen_so_2", "dl_host.so", 2);
}
