//! The loader on real and on damaged ELF files: every real library of the
//! system parses; no damaged file makes it panic (each gets an error or, if
//! the damage is harmless, parses).

use std::path::{Path, PathBuf};

use weaves_fuzz::{get_le, interesting, put_le, Rng};
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

/// Small real modules of every kind the loader takes: system shared
/// objects, a PIE executable, and (when a C compiler is there) a module
/// with thread-locals, constructors, versioned symbols and RELR
/// relocations built for this test.
fn corpus() -> Vec<Vec<u8>> {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu");
    let mut files: Vec<PathBuf> = ["libdl.so.2", "libutil.so.1", "librt.so.1", "libz.so.1"]
        .iter()
        .map(|n| lib.join(n))
        .chain([PathBuf::from("/usr/bin/true")])
        .collect();
    files.extend(built_module());
    let mut corpus: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|d| d.starts_with(b"\x7fELF") && d.len() < 1 << 20)
        .collect();
    if corpus.is_empty() {
        corpus.extend(
            system_libraries()
                .into_iter()
                .find_map(|p| std::fs::read(&p).ok().filter(|d| d.starts_with(b"\x7fELF"))),
        );
    }
    assert!(!corpus.is_empty(), "no ELF module to start from");
    corpus
}

/// A module with what system libraries rarely have all at once.
fn built_module() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("loader-fuzz");
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("m.c");
    let map = dir.join("m.map");
    let out = dir.join("m.so");
    std::fs::write(
        &src,
        "__thread int tls_counter = 3;\n\
         int shared_value = 7;\n\
         int *pointers[] = { &shared_value, &shared_value };\n\
         static int ready;\n\
         __attribute__((constructor)) static void init(void) { ready = 1; }\n\
         int old_api(void) { return 1; }\n\
         int new_api(void) { return ready + tls_counter + *pointers[1]; }\n\
         __asm__(\".symver old_api,api@V1\");\n\
         __asm__(\".symver new_api,api@@V2\");\n",
    )
    .ok()?;
    std::fs::write(
        &map,
        "V1 { global: api; shared_value; local: *; };\nV2 { global: api; } V1;\n",
    )
    .ok()?;
    let build = |extra: &[&str]| {
        std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-ftls-model=global-dynamic"])
            .arg(format!("-Wl,--version-script={}", map.display()))
            .args(extra)
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success())
    };
    (build(&["-Wl,-z,pack-relative-relocs"]) || build(&[])).then_some(out)
}

/// Dynamic tags the mutator writes (those the loader reads, and some it
/// refuses).
const TAGS: &[u64] = &[
    0,
    1,
    2,
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    13,
    14,
    15,
    16,
    17,
    20,
    22,
    23,
    25,
    26,
    27,
    28,
    29,
    30,
    32,
    33,
    35,
    36,
    0x6fff_fef5,
    0x6fff_fff0,
    0x6fff_fffb,
    0x6fff_fffc,
    0x6fff_fffd,
    0x6fff_fffe,
    0x6fff_ffff,
];

/// The file offset of `vaddr`, through the PT_LOAD headers.
fn file_offset(data: &[u8], vaddr: u64) -> Option<usize> {
    let (phoff, phnum) = (
        get_le(data, 0x20, 8) as usize,
        get_le(data, 0x38, 2) as usize,
    );
    (0..phnum.min(64)).find_map(|i| {
        let ph = phoff.checked_add(i * 56)?;
        if get_le(data, ph, 4) != 1 {
            return None;
        }
        let (off, va, filesz) = (
            get_le(data, ph.saturating_add(8), 8),
            get_le(data, ph.saturating_add(16), 8),
            get_le(data, ph.saturating_add(32), 8),
        );
        (vaddr >= va && vaddr - va < filesz)
            .then(|| usize::try_from(off.checked_add(vaddr - va)?).ok())?
    })
}

/// A small value nearby, an interesting one, or one a page away.
fn nudge(rng: &mut Rng, old: u64) -> u64 {
    match rng.below(4) {
        0 => interesting(rng),
        1 => old.wrapping_add(1 + rng.below(32)),
        2 => old.wrapping_sub(1 + rng.below(32)),
        _ => old ^ 0x1000,
    }
}

/// Structure-aware damage: the fields of the ELF header, program headers,
/// dynamic entries, the tables those point at (symbols, relocations,
/// hashes, versions), and section headers.
fn mutate_elf(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.len() < 64 {
        return;
    }
    let (phoff, phnum) = (
        get_le(data, 0x20, 8) as usize,
        get_le(data, 0x38, 2) as usize,
    );
    let phdr = |i: usize| phoff.saturating_add(i * 56);
    match rng.below(6) {
        0 => {
            let (at, w) = *rng.pick(&[
                (0x10, 2),
                (0x12, 2),
                (0x18, 8),
                (0x20, 8),
                (0x28, 8),
                (0x36, 2),
                (0x38, 2),
                (0x3a, 2),
                (0x3c, 2),
                (0x3e, 2),
                (4, 1),
                (5, 1),
            ]);
            let v = nudge(rng, get_le(data, at, w));
            put_le(data, at, w, v);
        }
        1 if phnum > 0 => {
            let ph = phdr(rng.index(phnum.min(64)));
            let (field, w) =
                *rng.pick(&[(0, 4), (4, 4), (8, 8), (16, 8), (32, 8), (40, 8), (48, 8)]);
            let v = if field == 0 && rng.chance(1, 2) {
                *rng.pick(&[1u64, 2, 3, 4, 6, 7, 0x6474_e550, 0x6474_e552])
            } else {
                nudge(rng, get_le(data, ph.saturating_add(field), w))
            };
            put_le(data, ph.saturating_add(field), w, v);
        }
        2 | 3 => {
            let Some(dynamic) = (0..phnum.min(64))
                .map(phdr)
                .find(|&ph| get_le(data, ph, 4) == 2)
                .map(|ph| {
                    (
                        get_le(data, ph.saturating_add(8), 8) as usize,
                        get_le(data, ph.saturating_add(32), 8) as usize,
                    )
                })
            else {
                return;
            };
            let entries = dynamic.1 / 16;
            if entries == 0 {
                return;
            }
            let entry = dynamic.0.saturating_add(16 * rng.index(entries));
            if rng.chance(1, 2) {
                // The entry itself: its tag or its value.
                if rng.chance(1, 3) {
                    put_le(data, entry, 8, *rng.pick(TAGS));
                } else {
                    let v = nudge(rng, get_le(data, entry.saturating_add(8), 8));
                    put_le(data, entry.saturating_add(8), 8, v);
                }
            } else if let Some(table) = file_offset(data, get_le(data, entry.saturating_add(8), 8))
            {
                // What it points at: a symbol, relocation, hash word or
                // version record near the start of the table.
                let w = *rng.pick(&[1usize, 2, 4, 8]);
                let at = table.saturating_add(rng.index(1024) & !(w - 1));
                let v = if get_le(data, entry, 8) == 7 && rng.chance(1, 2) {
                    // A RELA entry's type: any relocation type x86-64 has.
                    put_le(data, (at & !7) | 8, 4, rng.below(44));
                    return;
                } else {
                    nudge(rng, get_le(data, at, w))
                };
                put_le(data, at, w, v);
            }
        }
        4 => {
            let (shoff, shnum) = (
                get_le(data, 0x28, 8) as usize,
                get_le(data, 0x3c, 2) as usize,
            );
            if shnum == 0 {
                return;
            }
            let sh = shoff.saturating_add(64 * rng.index(shnum.min(256)));
            let (field, w) =
                *rng.pick(&[(0, 4), (4, 4), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8)]);
            let v = nudge(rng, get_le(data, sh.saturating_add(field), w));
            put_le(data, sh.saturating_add(field), w, v);
        }
        _ => {
            // Truncate inside a segment the headers claim.
            if phnum > 0 {
                let ph = phdr(rng.index(phnum.min(64)));
                let end = get_le(data, ph.saturating_add(8), 8).saturating_add(get_le(
                    data,
                    ph.saturating_add(32),
                    8,
                ));
                if let Ok(end) = usize::try_from(end) {
                    data.truncate(end.saturating_sub(1 + rng.index(64)));
                }
            }
        }
    }
}

/// The ELF parser's fuzz target (it was a damaged-file loop: the same
/// search, now structure-aware and in memory). Every input either parses
/// or is refused; what a parsed module answers is asked too.
///
/// `WEAVES_FUZZ_ITERS=1000000 cargo test --release -p weaves-loader --test
/// robustness fuzz -- --nocapture` runs a long search.
#[test]
fn fuzz_elf_module_parser() {
    let path = Path::new("fuzzed.so");
    let report = weaves_fuzz::Fuzzer::new("elf-module", corpus())
        .iterations(20_000)
        .dictionary(&[
            b"\x7fELF\x02\x01\x01",
            b"main",
            b"GLIBC_2.2.5",
            b"$ORIGIN",
            b"GNU\0",
        ])
        .mutator(mutate_elf)
        .run(|input| {
            let m = Module::parse_bytes(path, input).map_err(|e| e.to_string())?;
            std::hint::black_box((
                m.entry_offset("main"),
                m.entry_offset("api"),
                m.function_at(0x1234),
                m.entry_names().len(),
                m.mappings_per_bead(),
                m.image_span(),
                m.find_export("api", Some("V1")),
            ));
            Ok(())
        });
    report.expect_depth(100, 50);
}
