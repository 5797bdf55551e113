//! The loader on real and on damaged ELF files: every real library of the
//! system parses; no damaged file makes it panic (each gets an error or, if
//! the damage is harmless, parses).

use std::path::{Path, PathBuf};

use weaves_loader::{LoadError, Module};

fn system_libraries() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/x86_64-linux-gnu")
        .expect("system library directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".so"))
                && p.is_file()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn real_system_libraries_parse() {
    let mut parsed = 0;
    for path in system_libraries().into_iter().take(300) {
        match Module::load(&path) {
            Ok(m) => {
                parsed += 1;
                assert!(m.image_span() > 0);
            }
            // Linker scripts named .so, and static archives, are not ELF.
            Err(LoadError::NotElf { .. }) => {}
            // Libraries built with initial-exec TLS for their own variables.
            Err(LoadError::UnsupportedRelocation { .. } | LoadError::Unsupported { .. }) => {}
            Err(e) => panic!("{}: a real library was rejected: {e}", path.display()),
        }
    }
    assert!(parsed > 20, "only {parsed} libraries parsed");
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn sample_module() -> Vec<u8> {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu");
    ["libz.so.1", "libm.so.6", "libdl.so.2", "libutil.so.1"]
        .iter()
        .map(|n| lib.join(n))
        .find(|p| p.is_file())
        .map(|p| std::fs::read(p).unwrap())
        .or_else(|| {
            system_libraries()
                .into_iter()
                .find_map(|p| std::fs::read(&p).ok().filter(|d| d.starts_with(b"\x7fELF")))
        })
        .expect("some ELF shared library")
}

#[test]
fn damaged_files_never_panic() {
    let original = sample_module();
    let dir = std::env::temp_dir().join(format!("weaves-robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("damaged.so");
    // WEAVES_DAMAGE_ROUNDS / WEAVES_DAMAGE_SEED run a longer search locally.
    let rounds: u64 = std::env::var("WEAVES_DAMAGE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("WEAVES_DAMAGE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let mut rng = Rng(seed | 1);
    // The headers and dynamic section live in the first pages: damage there.
    let hot = original.len().min(16 << 10);
    for round in 0..rounds {
        let mut data = original.clone();
        match round % 3 {
            0 => data.truncate(rng.next() as usize % original.len()),
            1 => {
                for _ in 0..1 + rng.next() % 8 {
                    let i = rng.next() as usize % hot;
                    data[i] = rng.next() as u8;
                }
            }
            _ => {
                let i = (rng.next() as usize % (hot / 8)) * 8;
                let v = match rng.next() % 4 {
                    0 => u64::MAX,
                    1 => 0,
                    2 => rng.next(),
                    _ => 1 << 40,
                };
                data[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::write(&path, &data).unwrap();
        // Ok or Err are both fine; a panic fails the test.
        let _ = Module::load(&path);
    }
    std::fs::remove_dir_all(&dir).ok();
}
