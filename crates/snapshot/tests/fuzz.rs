//! Fuzz target: the checkpoint image reader ([`decode_image`], and
//! [`merge_chain`] on what it accepts), with inputs whose checksums are
//! recomputed after their length fields and headers were changed — a
//! checksum only says the writer meant what it wrote, so crafted lengths
//! behind valid checksums must be refused, never panic, overflow or
//! allocate without bound. Then regression tests for what it found.
//!
//! `WEAVES_FUZZ_ITERS=1000000 cargo test --release -p weaves-snapshot
//! --test fuzz -- --nocapture` runs a long search (see the `weaves-fuzz`
//! crate for the other knobs).

use std::path::Path;

use serde_json::{json, Value};
use weaves_fuzz::{get_le, interesting, put_le, Fuzzer, Rng};
use weaves_snapshot::image::Header;
use weaves_snapshot::{decode_image, encode_image, merge_chain, Layout, PageRun, Parent, Vma};

const MAGIC: &[u8] = b"WVCKPT01";
const END: &[u8] = b"WVEND!!!";
const BASE: u64 = 0x2000_0000_0000;

fn header(vmas: Vec<Vma>, parent: Option<Parent>, fresh: Vec<(u64, u64)>) -> Header {
    Header {
        layout: Layout {
            objects: vec![
                ("".into(), 0x5555_5555_4000),
                ("libc.so.6".into(), 0x7fff_f7c0_0000),
            ],
            build_ids: vec![("libc.so.6".into(), "0123abcd".into())],
        },
        vmas,
        tapestry: json!({
            "source": "[tapestry]\nname = \"t\"\n",
            "source_path": "/tmp/t.toml",
            "workers": 2,
            "modules": [{"path": "/tmp/m.so", "build_id": null, "size": 4096, "crc32": 7}],
            "beads": [["b0", 1, BASE]],
            "strings": [],
        }),
        taken_us: 1_700_000_000_000_000,
        id: 42,
        parent,
        fresh,
    }
}

fn page(fill: u8, pages: usize) -> Vec<u8> {
    vec![fill; pages * 4096]
}

/// Valid images: full, incremental, several mappings, no pages at all.
fn corpus() -> Vec<Vec<u8>> {
    let vma = |addr: u64, len: u64| Vma { addr, len, prot: 3 };
    let images = [
        (
            header(vec![vma(BASE, 0x4000)], None, vec![]),
            vec![PageRun {
                addr: BASE,
                bytes: page(1, 2),
            }],
        ),
        (
            header(
                vec![vma(BASE, 0x4000), vma(BASE + 0x10000, 0x2000)],
                Some(Parent {
                    file: "ckpt-000001.wvimg".into(),
                    id: 41,
                }),
                vec![(BASE + 0x10000, 0x2000)],
            ),
            vec![
                PageRun {
                    addr: BASE + 0x1000,
                    bytes: page(2, 1),
                },
                PageRun {
                    addr: BASE + 0x10000,
                    bytes: page(3, 2),
                },
            ],
        ),
        (header(vec![vma(BASE, 0x1000)], None, vec![]), vec![]),
    ];
    images
        .iter()
        .map(|(h, runs)| encode_image(h, runs).expect("encode"))
        .collect()
}

/// The sections of an image as (offset of the section head, payload
/// length), as far as they can be followed.
fn sections(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = MAGIC.len();
    while data.len().saturating_sub(at) >= 16 && &data[at..at + 8] != END {
        let len = get_le(data, at + 4, 8);
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (at + 16).checked_add(l))
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        out.push((at, end - at - 16));
        at = end;
    }
    out
}

/// Recomputes every section checksum the lengths let it reach, and the
/// trailer's count and total: what a writer that meant these bytes would
/// have written.
fn seal(data: &mut [u8]) {
    let mut crcs = Vec::new();
    let mut at = MAGIC.len();
    for (head, len) in sections(data) {
        let crc = crc32fast::hash(&data[head + 16..head + 16 + len]);
        put_le(data, head + 12, 4, u64::from(crc));
        crcs.push(crc);
        at = head + 16 + len;
    }
    if data.len().saturating_sub(at) >= 16 && &data[at..at + 8] == END {
        let mut total = crc32fast::Hasher::new();
        for c in &crcs {
            total.update(&c.to_le_bytes());
        }
        put_le(data, at + 8, 4, crcs.len() as u64);
        put_le(data, at + 12, 4, u64::from(total.finalize()));
    }
}

/// Replaces section `(head, len)`'s payload with `payload`, fixing its
/// length field.
fn replace_payload(data: &mut Vec<u8>, (head, len): (usize, usize), payload: Vec<u8>) {
    put_le(data, head + 4, 8, payload.len() as u64);
    data.splice(head + 16..head + 16 + len, payload);
}

/// A JSON value changed somewhere: a number made interesting, an address
/// pair pushed to the edge of the address space, a string made a path.
fn mutate_json(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Number(_) => {
            *v = match rng.below(4) {
                0 => json!(-(rng.below(1 << 20) as i64) - 1),
                1 => json!(1e300),
                _ => json!(interesting(rng)),
            }
        }
        Value::String(s) => {
            *s = rng
                .pick(&[
                    "",
                    "/dev/zero",
                    "../outside.wvimg",
                    "ckpt-000001.wvimg",
                    "\u{0}",
                ])
                .to_string()
        }
        Value::Array(items) if !items.is_empty() && rng.chance(3, 4) => {
            let i = rng.index(items.len());
            mutate_json(rng, &mut items[i]);
        }
        Value::Array(items) => {
            // An (addr, len) pair that ends past the address space.
            let addr = if rng.chance(1, 2) {
                BASE
            } else {
                interesting(rng)
            };
            items.push(json!([addr, u64::MAX - rng.below(0x2000)]));
        }
        Value::Object(map) if !map.is_empty() => {
            let i = rng.index(map.len());
            if let Some((_, x)) = map.iter_mut().nth(i) {
                mutate_json(rng, x);
            }
        }
        _ => *v = json!(interesting(rng)),
    }
}

/// Structure-aware mutations: section lengths, page-run fields, header
/// JSON, section order and kinds.
fn mutate_image(rng: &mut Rng, data: &mut Vec<u8>) {
    let secs = sections(data);
    if secs.is_empty() {
        return;
    }
    let (head, len) = *rng.pick(&secs);
    match rng.below(6) {
        0 => {
            let v = if rng.chance(1, 2) {
                interesting(rng)
            } else {
                (len as u64).wrapping_add(rng.below(64)).wrapping_sub(32)
            };
            put_le(data, head + 4, 8, v);
        }
        1 | 2 => {
            // A page run's address or length, inside the PAGE section.
            let Some(&(ph, plen)) = secs.iter().find(|(h, _)| &data[*h..*h + 4] == b"PAGE") else {
                return;
            };
            let mut runs = Vec::new();
            let mut p = 0usize;
            while plen - p.min(plen) >= 16 {
                runs.push(ph + 16 + p);
                let l = get_le(data, ph + 16 + p + 8, 8) as usize;
                p = match l.checked_add(16).and_then(|n| p.checked_add(n)) {
                    Some(n) if n <= plen => n,
                    _ => break,
                };
            }
            if runs.is_empty() {
                return;
            }
            let r = *rng.pick(&runs);
            let (field, old) = if rng.chance(1, 2) {
                (r, get_le(data, r, 8))
            } else {
                (r + 8, get_le(data, r + 8, 8))
            };
            let v = match rng.below(3) {
                0 => interesting(rng),
                1 => old.wrapping_add(4096),
                _ => old.wrapping_sub(4096),
            };
            put_le(data, field, 8, v);
        }
        3 => {
            let Some(&sec) = secs.iter().find(|(h, _)| &data[*h..*h + 4] == b"HEAD") else {
                return;
            };
            let payload = &data[sec.0 + 16..sec.0 + 16 + sec.1];
            let Ok(mut v) = serde_json::from_slice::<Value>(payload) else {
                return;
            };
            mutate_json(rng, &mut v);
            replace_payload(data, sec, serde_json::to_vec(&v).expect("json"));
        }
        4 => {
            // A copy of a section, at another section boundary.
            let copy = data[head..head + 16 + len].to_vec();
            let (at, _) = *rng.pick(&secs);
            data.splice(at..at, copy);
        }
        _ => {
            let kind = *rng.pick(&[*b"HEAD", *b"PAGE", *b"XTRA"]);
            data[head..head + 4].copy_from_slice(&kind);
        }
    }
}

#[test]
fn fuzz_checkpoint_image_reader() {
    let now = Layout {
        objects: vec![("".into(), 0x5555_5555_4000)],
        build_ids: vec![],
    };
    let report = Fuzzer::new("checkpoint-image", corpus())
        .iterations(20_000)
        .dictionary(&[b"HEAD", b"PAGE", END, MAGIC])
        .mutator(mutate_image)
        .fixup(|rng, data| {
            // Most inputs get valid checksums, so they reach the checks
            // behind them; some keep broken ones.
            if !rng.chance(1, 16) {
                seal(data);
            }
        })
        .run(|input| {
            let image = decode_image(Path::new("fuzz.wvimg"), input).map_err(|e| e.to_string())?;
            let _ = image.header.layout.mismatch(&now);
            let older = image.clone();
            let merged = merge_chain(image, vec![older]);
            std::hint::black_box(merged.runs.len());
            Ok(())
        });
    report.expect_depth(100, 20);
}

/// The corpus round-trips: what the fuzzer starts from is valid.
#[test]
fn corpus_images_decode() {
    for (k, bytes) in corpus().iter().enumerate() {
        let image =
            decode_image(Path::new("c.wvimg"), bytes).unwrap_or_else(|e| panic!("#{k}: {e}"));
        assert!(!image.header.vmas.is_empty());
    }
}

// Regressions. Each was found by the target above (or, for the file
// cases, by reading the reader after it) against the code before its fix.

fn vma(addr: u64, len: u64) -> Vma {
    Vma { addr, len, prot: 3 }
}

/// Found by the fuzzer: an incremental image whose `fresh` range runs past
/// the end of the address space made the chain merge compute `addr + len`
/// with overflow (a panic; `BTreeMap::range` with start > end after a
/// wrap). Its checksums are valid.
#[test]
fn fresh_range_past_the_end_of_the_address_space_does_not_panic_the_merge() {
    let newest = header(
        vec![vma(BASE, 0x4000)],
        None,
        vec![(BASE, u64::MAX - 0x3d3)],
    );
    let older = header(vec![vma(BASE, 0x4000)], None, vec![]);
    let run = |fill| {
        vec![PageRun {
            addr: BASE,
            bytes: page(fill, 2),
        }]
    };
    let newest = decode_image(Path::new("n"), &encode_image(&newest, &[]).unwrap()).unwrap();
    let older = decode_image(Path::new("o"), &encode_image(&older, &run(7)).unwrap()).unwrap();
    let merged = merge_chain(newest, vec![older]);
    // The fresh range covers everything from BASE on: nothing older shows.
    assert!(merged.runs.is_empty(), "{:?}", merged.runs.len());
}

/// Found by the fuzzer: a page run of length 0xffff_ffff_ffff_efff (with a
/// valid checksum) overflowed `addr + len` in the bounds check — a panic in
/// debug builds, and in release a wrapped sum that passed the check and
/// sliced out of bounds. It is a damaged image now.
#[test]
fn page_run_whose_length_overflows_is_damaged_not_a_panic() {
    let mut bytes = encode_image(
        &header(vec![vma(BASE, 0x4000)], None, vec![]),
        &[PageRun {
            addr: BASE + 0x1000,
            bytes: page(1, 1),
        }],
    )
    .unwrap();
    // The run's length field: the last 8 bytes before its page.
    let secs = sections(&bytes);
    let (page_sec, _) = secs[1];
    put_le(&mut bytes, page_sec + 16 + 8, 8, 0xffff_ffff_ffff_efff);
    seal(&mut bytes);
    let err = decode_image(Path::new("x.wvimg"), &bytes).unwrap_err();
    assert!(
        err.to_string().contains("lies outside its mappings"),
        "{err}"
    );
}

/// The same for a mapping whose end wraps, found by the fuzzer in the
/// run check (`v.addr + v.len`). Mappings must now be whole pages of the
/// arena — a restore makes them writable and writes into them, and its
/// SAFETY argument said the reader had checked that, which it had not.
#[test]
fn mapping_whose_end_wraps_or_lies_outside_the_arena_is_refused() {
    let top = u64::MAX - 0xfff;
    let bytes = encode_image(
        &header(vec![vma(top, 0x2000)], None, vec![]),
        &[PageRun {
            addr: top,
            bytes: page(1, 1),
        }],
    )
    .unwrap();
    let err = decode_image(Path::new("x.wvimg"), &bytes).unwrap_err();
    assert!(
        err.to_string().contains("not whole pages of the arena"),
        "{err}"
    );
    // Outside the arena (the runtime's own data, say), or not page-aligned.
    for (addr, len) in [
        (0x5555_5555_4000, 0x1000),
        (BASE + 8, 0x1000),
        (BASE, 0x800),
        (BASE, 0),
    ] {
        let bytes = encode_image(&header(vec![vma(addr, len)], None, vec![]), &[]).unwrap();
        let err = decode_image(Path::new("x.wvimg"), &bytes).unwrap_err();
        assert!(
            err.to_string().contains("not whole pages of the arena"),
            "{addr:#x}: {err}"
        );
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("weaves-image-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An image that names `/dev/zero` (or any path) as its parent: the chain
/// reader took the name as a path and would have read `/dev/zero` forever.
/// A parent is a file of the image's own directory.
#[test]
fn image_naming_dev_zero_as_its_parent_is_refused_without_reading_it() {
    let dir = scratch("parent");
    for name in ["/dev/zero", "../elsewhere.wvimg", "sub/x.wvimg", ".."] {
        let h = header(
            vec![vma(BASE, 0x1000)],
            Some(Parent {
                file: name.into(),
                id: 1,
            }),
            vec![],
        );
        let path = dir.join("ckpt-000002.wvimg");
        std::fs::write(&path, encode_image(&h, &[]).unwrap()).unwrap();
        let err = weaves_snapshot::read_chain(&path).unwrap_err().to_string();
        assert!(
            err.contains("not a file name in its directory"),
            "{name}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An image path that is a FIFO or a device: refused from its type, never
/// opened for a blocking read.
#[test]
fn image_path_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let dir = scratch("fifo");
    let fifo = dir.join("image.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let err = weaves_snapshot::read_image(path).unwrap_err().to_string();
        assert!(
            err.contains("not a regular file"),
            "{}: {err}",
            path.display()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
