//! The engines against native runs of the same C programs: same output,
//! same exit status; and a string moved between engines in the middle of a
//! deep recursion computes what an uninterrupted run computes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use weaves_wasm::{
    run, Control, EngineKind, Prepared, RunError, Wasi, WasmModule, DEFAULT_MAX_MEMORY,
};

fn modules() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("modules-wasm");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/modules/build.sh");
        let o = Command::new("bash")
            .arg(&script)
            .arg(&out)
            .output()
            .expect("bash");
        assert!(
            o.status.success(),
            "building the test modules failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

fn prepared(file: &str) -> Prepared {
    let m = WasmModule::load(&modules().join(file), DEFAULT_MAX_MEMORY)
        .unwrap_or_else(|e| panic!("{e}"));
    Prepared::new(m, DEFAULT_MAX_MEMORY).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `file` (a `.wasm`) under `engine` with `args`, its stdout and
/// stderr going to files; returns (status, stdout, stderr).
fn run_wasm(
    file: &str,
    args: &[&str],
    engine: EngineKind,
    control: std::sync::Arc<Control>,
) -> (i32, String, String, usize) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-out");
    std::fs::create_dir_all(&dir).unwrap();
    let tag = format!(
        "{file}-{engine}-{}-{:?}",
        args.join("_"),
        std::thread::current().id()
    );
    let (out_path, err_path) = (
        dir.join(format!("{tag}.out")),
        dir.join(format!("{tag}.err")),
    );
    let out = std::fs::File::create(&out_path).unwrap();
    let err = std::fs::File::create(&err_path).unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    use std::os::fd::AsRawFd;
    let mut wasi = Wasi::new(
        std::iter::once(file.trim_end_matches(".wasm"))
            .chain(args.iter().copied())
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        vec![b"WV_TEST=forty two".to_vec()],
    );
    wasi.fds = [null.as_raw_fd(), out.as_raw_fd(), err.as_raw_fd()];
    let module = prepared(file);
    let ended = on_big_stack(move || run(&module, "_start", wasi, engine, control))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    drop((out, err));
    (
        ended.status,
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap(),
        ended.moves.len(),
    )
}

/// Runs `f` on a thread with a string's default stack (8 MiB): Wasm code
/// recurses on the stack of whoever calls into it.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn run_native(file: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(modules().join(file))
        .args(args)
        .env("WV_TEST", "forty two")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn wasi_subset_matches_native_under_both_engines() {
    for args in [&[][..], &["5", "stdin"][..]] {
        let native = run_native("wasm_hello", args);
        for engine in EngineKind::ALL {
            let (status, out, err, _) = run_wasm("wasm_hello.wasm", args, engine, Control::new());
            assert_eq!(
                (status, out.as_str(), err.as_str()),
                (native.0, native.1.as_str(), native.2.as_str()),
                "{engine} {args:?}"
            );
        }
    }
}

#[test]
fn deep_recursion_matches_native_under_both_engines() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    for engine in EngineKind::ALL {
        let (status, out, _, moves) =
            run_wasm("wasm_recurse.wasm", &["6", "400"], engine, Control::new());
        assert_eq!(
            (status, out.as_str()),
            (native.0, native.1.as_str()),
            "{engine}"
        );
        assert_eq!(moves, 0);
    }
}

#[test]
fn moved_wasmtime_wasmi_wasmtime_mid_recursion_computes_the_same() {
    let native = run_native("wasm_recurse", &["6", "400"]);
    let control = Control::new();
    // Points 2 and 4 are at the bottom of 400 frames of recursion.
    control.at_points(Box::new(|n| match n {
        2 => Some(EngineKind::Wasmi),
        4 => Some(EngineKind::Wasmtime),
        5 => Some(EngineKind::Wasmi),
        _ => None,
    }));
    let (status, out, _, moves) = run_wasm(
        "wasm_recurse.wasm",
        &["6", "400"],
        EngineKind::Wasmtime,
        control,
    );
    assert_eq!((status, out.as_str()), (native.0, native.1.as_str()));
    assert_eq!(moves, 3);
}

#[test]
fn trap_names_the_wasm_function_and_offset() {
    let m = prepared("wasm_trap.wasm");
    let wasi = Wasi::new(vec![b"wasm_trap".to_vec()], Vec::new());
    let (m2, w2) = (m.clone(), wasi.clone());
    let e = on_big_stack(move || run(&m2, "_start", w2, EngineKind::Wasmtime, Control::new()))
        .unwrap_err();
    let RunError::Trap(msg) = &e else {
        panic!("{e:?}")
    };
    assert!(
        msg.contains("divide_by") && msg.contains("offset 0x"),
        "{msg}"
    );
    let e = on_big_stack(move || run(&m, "_start", wasi, EngineKind::Wasmi, Control::new()))
        .unwrap_err();
    assert!(
        matches!(e, RunError::Trap(ref m) if m.contains("division by zero") || m.contains("divide")),
        "{e:?}"
    );
}
