//! The `weaves` executable exports exactly the symbols the runtime defines
//! for the whole process (`weaves_interpose::GLOBAL_EXPORTS`): the build
//! script's list is that list, and the built binary's dynamic symbol table
//! has every one of them.

use std::process::Command;

/// The names in `crates/cli/build.rs`'s `EXPORTS`.
fn build_script_list() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"))
        .expect("build.rs");
    let start = text
        .find("const EXPORTS: &[&str] = &[")
        .expect("build.rs has `const EXPORTS`");
    let body = &text[start..];
    let body = &body[body.find("&[").unwrap() + 2..];
    let body = &body[body.find('[').unwrap() + 1..body.find("];").expect("its end")];
    body.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn the_build_script_exports_what_the_runtime_defines() {
    let mut script = build_script_list();
    let mut runtime: Vec<String> = weaves_interpose::GLOBAL_EXPORTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    script.sort();
    runtime.sort();
    assert_eq!(
        script, runtime,
        "crates/cli/build.rs's EXPORTS must be weaves_interpose::GLOBAL_EXPORTS"
    );
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", env!("CARGO_BIN_EXE_weaves")])
        .output()
        .expect("nm (binutils) lists the binary's dynamic symbols");
    assert!(nm.status.success());
    let table = String::from_utf8_lossy(&nm.stdout);
    for name in &runtime {
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().last() == Some(name.as_str())),
            "the weaves binary does not export `{name}`"
        );
    }
}
