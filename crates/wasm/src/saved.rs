//! A Wasm string's computation saved for a checkpoint, and the image
//! section that carries saved strings and their modules' bytes.
//!
//! The section is engine-independent and byte-order-fixed: every number is
//! little-endian, linear memory is the bytes Wasm defines (little-endian
//! too), globals are their bits with a type tag, and the unwound call
//! stack lies inside linear memory (Asyncify's data area). A string saved
//! under wasmtime is resumed under wasmi from it, or the other way round.
//!
//! ```text
//! "WVWASM01"
//! u32 modules   { str name, bytes module }
//! u32 strings   { u32 id, u32 module, u8 engine, u64 point, u32 area,
//!                 bytes memory, u32 globals { str name, u8 tag, u64 bits },
//!                 i32 fds[3], u8 closed[3], u32 args { bytes }, u32 env { bytes } }
//! ```
//! (`str` and `bytes`: a u64 length and the bytes.)

use crate::state::{Captured, GlobalValue};
use crate::wasi::Wasi;
use crate::EngineKind;

/// The kind of the image section holding saved Wasm strings.
pub const SECTION_KIND: [u8; 4] = *b"WASM";

const MAGIC: &[u8; 8] = b"WVWASM01";

/// One string's Wasm computation, stopped at a reconfiguration point with
/// its call stack unwound into linear memory: what resumes it in any
/// engine.
#[derive(Clone, Debug)]
pub struct Saved {
    pub captured: Captured,
    pub wasi: Wasi,
    /// The engine it ran under when it was saved.
    pub engine: EngineKind,
}

/// What an image holds of its Wasm strings.
#[derive(Clone, Debug, Default)]
pub struct SavedSection {
    /// `(name, bytes)` of each module, as loaded (before any transform).
    pub modules: Vec<(String, Vec<u8>)>,
    /// `(string id, module index, state)`.
    pub strings: Vec<(u32, u32, Saved)>,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| format!("the Wasm section is cut short at byte {}", self.at))?;
        let b = &self.data[self.at..end];
        self.at = end;
        Ok(b)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u64()?;
        // The length is checked against the bytes that are there before
        // anything is allocated for it.
        let n = usize::try_from(n).map_err(|_| "a length in the Wasm section is too large")?;
        self.take(n)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| "a name in the Wasm section is not UTF-8".to_owned())
    }
    /// A count of items each at least `min` bytes long (so a damaged count
    /// cannot make a large allocation).
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.data.len() - self.at {
            return Err(format!(
                "a count in the Wasm section ({n}) exceeds its bytes"
            ));
        }
        Ok(n)
    }
}

impl SavedSection {
    /// The section's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.0.extend_from_slice(MAGIC);
        w.u32(self.modules.len() as u32);
        for (name, bytes) in &self.modules {
            w.bytes(name.as_bytes());
            w.bytes(bytes);
        }
        w.u32(self.strings.len() as u32);
        for (id, module, s) in &self.strings {
            w.u32(*id);
            w.u32(*module);
            w.u8(s.engine as u8);
            w.u64(s.captured.point);
            w.u32(s.captured.unwind_area);
            w.bytes(&s.captured.memory);
            w.u32(s.captured.globals.len() as u32);
            for (name, v) in &s.captured.globals {
                w.bytes(name.as_bytes());
                let (tag, bits) = match *v {
                    GlobalValue::I32(x) => (0, x as u32 as u64),
                    GlobalValue::I64(x) => (1, x as u64),
                    GlobalValue::F32(x) => (2, x as u64),
                    GlobalValue::F64(x) => (3, x),
                };
                w.u8(tag);
                w.u64(bits);
            }
            for fd in s.wasi.fds {
                w.u32(fd as u32);
            }
            for c in s.wasi.closed {
                w.u8(c as u8);
            }
            for list in [&s.wasi.args, &s.wasi.env] {
                w.u32(list.len() as u32);
                for item in list {
                    w.bytes(item);
                }
            }
        }
        w.0
    }

    /// Reads a section [`SavedSection::encode`] wrote; any damage is one
    /// line, never a panic or an allocation beyond the bytes given.
    pub fn decode(data: &[u8]) -> Result<SavedSection, String> {
        let mut r = Reader { data, at: 0 };
        if r.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err("the Wasm section has a bad magic".into());
        }
        let mut out = SavedSection::default();
        for _ in 0..r.count(16)? {
            let name = r.string()?;
            out.modules.push((name, r.bytes()?.to_vec()));
        }
        for _ in 0..r.count(40)? {
            let id = r.u32()?;
            let module = r.u32()?;
            if module as usize >= out.modules.len() {
                return Err(format!("string {id} of the Wasm section names no module"));
            }
            let engine = EngineKind::from_index(r.u8()?)
                .ok_or_else(|| format!("string {id} of the Wasm section names no engine"))?;
            let point = r.u64()?;
            let unwind_area = r.u32()?;
            let memory = r.bytes()?.to_vec();
            let mut globals = Vec::new();
            for _ in 0..r.count(17)? {
                let name = r.string()?;
                let tag = r.u8()?;
                let bits = r.u64()?;
                globals.push((
                    name,
                    match tag {
                        0 => GlobalValue::I32(bits as u32 as i32),
                        1 => GlobalValue::I64(bits as i64),
                        2 => GlobalValue::F32(bits as u32),
                        3 => GlobalValue::F64(bits),
                        _ => return Err(format!("string {id}: a global of unknown type {tag}")),
                    },
                ));
            }
            let mut wasi = Wasi::default();
            for fd in &mut wasi.fds {
                *fd = r.u32()? as i32;
            }
            for c in &mut wasi.closed {
                *c = r.u8()? != 0;
            }
            for list in [&mut wasi.args, &mut wasi.env] {
                for _ in 0..r.count(8)? {
                    list.push(r.bytes()?.to_vec());
                }
            }
            out.strings.push((
                id,
                module,
                Saved {
                    captured: Captured {
                        memory,
                        globals,
                        unwind_area,
                        point,
                    },
                    wasi,
                    engine,
                },
            ));
        }
        if r.at != data.len() {
            return Err("bytes after the end of the Wasm section".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedSection {
        SavedSection {
            modules: vec![("m".into(), b"\0asm\x01\0\0\0".to_vec())],
            strings: vec![(
                7,
                0,
                Saved {
                    captured: Captured {
                        memory: (0..=255u8).cycle().take(70_000).collect(),
                        globals: vec![
                            ("__wv_global_0".into(), GlobalValue::I32(-5)),
                            ("__wv_global_1".into(), GlobalValue::I64(-1 << 40)),
                            ("__wv_global_2".into(), GlobalValue::F32(0x3f80_0000)),
                            (
                                "__wv_global_3".into(),
                                GlobalValue::F64(0x4000_0000_0000_0000),
                            ),
                        ],
                        unwind_area: 65536,
                        point: 12,
                    },
                    wasi: Wasi {
                        closed: [false, true, false],
                        ..Wasi::new(vec![b"p".to_vec(), b"1".to_vec()], vec![b"A=b".to_vec()])
                    },
                    engine: EngineKind::Wasmi,
                },
            )],
        }
    }

    #[test]
    fn saved_section_reads_back_what_was_written() {
        let s = sample();
        let back = SavedSection::decode(&s.encode()).unwrap();
        assert_eq!(back.modules, s.modules);
        let (a, b) = (&s.strings[0], &back.strings[0]);
        assert_eq!((a.0, a.1), (b.0, b.1));
        assert_eq!(a.2.captured.memory, b.2.captured.memory);
        assert_eq!(a.2.captured.globals, b.2.captured.globals);
        assert_eq!(
            (a.2.captured.point, a.2.captured.unwind_area),
            (b.2.captured.point, b.2.captured.unwind_area)
        );
        assert_eq!(a.2.wasi.args, b.2.wasi.args);
        assert_eq!(a.2.wasi.env, b.2.wasi.env);
        assert_eq!(a.2.wasi.closed, b.2.wasi.closed);
        assert_eq!(a.2.engine, b.2.engine);
    }

    #[test]
    fn damaged_saved_section_is_refused_not_panicked_on() {
        let bytes = sample().encode();
        for cut in [0, 5, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(SavedSection::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(SavedSection::decode(&huge).is_err());
        let mut longer = bytes;
        longer.push(0);
        assert!(SavedSection::decode(&longer).is_err());
    }
}
