//! A captured Wasm computation, independent of the engine that ran it.

/// The value of a global, as its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

/// Everything needed to resume a string's Wasm call in any engine: linear
/// memory (which holds asyncify's unwound stack), every mutable global, and
/// where the unwound stack lies. The WASI state travels beside it, in the
/// string's host record.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    pub memory: Vec<u8>,
    /// `(export name, value)` of each mutable global.
    pub globals: Vec<(String, GlobalValue)>,
    pub unwind_area: u32,
    /// The reconfiguration point it was captured at (counted from 1).
    pub point: u64,
}
