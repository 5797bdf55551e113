//! Generic byte-level mutations, and helpers for structure-aware ones.

use crate::Rng;

/// Values that break arithmetic and bounds checks: zero, one, sign
/// boundaries at every width, all-ones, and large powers of two.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    16,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xfff,
    0x1000,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 40,
    1 << 48,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_fff0,
    u64::MAX,
];

/// An interesting value (see the list above), sometimes nudged by ±1.
pub fn interesting(rng: &mut Rng) -> u64 {
    let v = *rng.pick(INTERESTING);
    match rng.below(4) {
        0 => v.wrapping_add(1),
        1 => v.wrapping_sub(1),
        _ => v,
    }
}

/// The `width`-byte little-endian integer at `at` (0 past the end).
pub fn get_le(data: &[u8], at: usize, width: usize) -> u64 {
    let mut v = 0u64;
    for k in 0..width.min(8) {
        let byte = at.checked_add(k).and_then(|i| data.get(i)).copied();
        v |= u64::from(byte.unwrap_or(0)) << (8 * k);
    }
    v
}

/// Writes `v` as a `width`-byte little-endian integer at `at` (what lies
/// past the end is dropped).
pub fn put_le(data: &mut [u8], at: usize, width: usize, v: u64) {
    for k in 0..width.min(8) {
        if let Some(b) = at.checked_add(k).and_then(|i| data.get_mut(i)) {
            *b = (v >> (8 * k)) as u8;
        }
    }
}

/// One generic mutation of `data`, drawing on the `corpus` (for splices)
/// and the `dictionary` (tokens of the format).
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>], dictionary: &[Vec<u8>]) {
    let len = data.len();
    let width = *rng.pick(&[1usize, 2, 4, 8]);
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.index(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.index(len);
            data[i] = rng.next_u64() as u8;
        }
        2 | 3 if len > 0 => {
            // Interesting integers land on aligned offsets more often:
            // that is where binary formats keep their fields.
            let mut at = rng.index(len);
            if rng.chance(3, 4) {
                at &= !(width - 1);
            }
            put_le(data, at, width, interesting(rng));
        }
        4 if len > 0 => {
            let at = rng.index(len) & !(width - 1);
            let delta = 1 + rng.below(35);
            let v = get_le(data, at, width);
            let v = if rng.chance(1, 2) {
                v.wrapping_add(delta)
            } else {
                v.wrapping_sub(delta)
            };
            put_le(data, at, width, v);
        }
        5 if len > 0 => {
            let at = rng.index(len);
            let n = 1 + rng.index((len - at).min(64));
            data.drain(at..at + n);
        }
        6 => {
            let at = rng.index(len + 1);
            let n = 1 + rng.below(32) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            data.splice(at..at, bytes);
        }
        7 if len > 0 => {
            // Duplicate a range somewhere else.
            let from = rng.index(len);
            let n = 1 + rng.index((len - from).min(256));
            let piece = data[from..from + n].to_vec();
            let at = rng.index(len + 1);
            data.splice(at..at, piece);
        }
        8 if len > 1 => {
            // Copy a range over another.
            let from = rng.index(len);
            let to = rng.index(len);
            let n = 1 + rng.index((len - from).min(len - to).min(256));
            data.copy_within(from..from + n, to);
        }
        9 if !corpus.is_empty() => {
            // Splice: this input's head, another entry's tail.
            let other = rng.pick(corpus);
            let cut = rng.index(len + 1);
            let from = rng.index(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        10 => data.truncate(rng.index(len + 1)),
        _ if !dictionary.is_empty() => {
            let token = rng.pick(dictionary).clone();
            let at = rng.index(len + 1);
            if rng.chance(1, 2) || at + token.len() > len {
                data.splice(at..at, token);
            } else {
                data[at..at + token.len()].copy_from_slice(&token);
            }
        }
        _ => {
            let at = rng.index(len + 1);
            data.insert(at, rng.next_u64() as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_and_clip_at_the_end() {
        let mut d = vec![0u8; 6];
        put_le(&mut d, 1, 4, 0xdead_beef);
        assert_eq!(get_le(&d, 1, 4), 0xdead_beef);
        put_le(&mut d, 4, 8, u64::MAX);
        assert_eq!(d[4..], [0xff, 0xff]);
        assert_eq!(get_le(&d, 5, 8), 0xff);
    }

    #[test]
    fn mutations_never_panic_on_any_length() {
        let corpus = vec![vec![], vec![1], b"some bytes".to_vec()];
        let dict = vec![b"token".to_vec()];
        let mut rng = Rng::new(1);
        for n in 0..20_000 {
            let mut d = corpus[n % 3].clone();
            mutate(&mut rng, &mut d, &corpus, &dict);
        }
    }
}
