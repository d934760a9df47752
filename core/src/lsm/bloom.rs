//! A bloom filter with a configurable number of bits per key, its own 64-bit hash, and a
//! serialized form.
//!
//! # Sizing
//! With `b` bits per key and `k` hash functions the false-positive rate is about
//! `(1 − e^(−k/b))^k`, smallest at `k = b·ln 2` (Bloom 1970; the formula as in Broder &
//! Mitzenmacher, "Network applications of bloom filters", §2.1). The filter uses
//! `k = round(b·ln 2)` ([`hashes_for`], integer arithmetic so every platform agrees),
//! clamped to `1..=MAX_HASHES`: 10 bits per key gives `k = 7` and about 0.82 %.
//!
//! # Hashing
//! One 64-bit hash per key ([`hash64`]: xxHash64-style rounds over 8-byte words and the
//! murmur3 finalizer, pure integer arithmetic, so the same on every platform), then
//! double hashing (Kirsch & Mitzenmacher 2006): probe `i` is `(h1 + i·h2) mod m` with
//! `h1` the hash and `h2` a second mix of it, forced odd.
//!
//! # Serialized form
//! ```text
//! offset size  field
//! 0      1     k, the number of hash functions (1..=30)
//! 1      7     zero (reserved)
//! 8      8     m, the number of bits, u64 LE (a positive multiple of 8)
//! 16     m/8   the bits: bit i is byte i/8, mask 1 << (i % 8)
//! ```
//! [`BloomFilter::decode`] never panics: anything else is a [`BloomDecodeError`].

use super::Cursor;

/// The most hash functions a filter uses (and accepts when decoding).
pub const MAX_HASHES: u32 = 30;

/// The fewest bits a filter has, however few keys it holds.
pub const MIN_BITS: u64 = 64;

/// Bytes before the bit array in the serialized form.
pub const HEADER_BYTES: u64 = 16;

const SEED: u64 = 0x4C53_504E_424C_4F4D; // "LSPNBLOM"
const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// A seeded 64-bit hash of `data`: deterministic on every platform.
pub fn hash64(data: &[u8], seed: u64) -> u64 {
    let mut h = seed.wrapping_add(P5).wrapping_add(data.len() as u64);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let k = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        let k = k.wrapping_mul(P2).rotate_left(31).wrapping_mul(P1);
        h = (h ^ k).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    let k = u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56);
    h = (h ^ k.wrapping_mul(P3)).rotate_left(23).wrapping_mul(P2);
    fmix64(h)
}

/// The hash of a key as the filters use it.
pub fn key_hash(key: &[u8]) -> u64 {
    hash64(key, SEED)
}

/// `round(bits_per_key · ln 2)`, clamped to `1..=MAX_HASHES`.
pub fn hashes_for(bits_per_key: u32) -> u32 {
    // ln 2 ≈ 0.693147; integer arithmetic so every platform rounds alike.
    let k = (u64::from(bits_per_key) * 693_147 + 500_000) / 1_000_000;
    u32::try_from(k.clamp(1, u64::from(MAX_HASHES))).expect("clamped")
}

/// The textbook false-positive rate `(1 − e^(−k/b))^k` for `b` bits per key and the `k`
/// the filter would use.
pub fn theoretical_fpr(bits_per_key: u32) -> f64 {
    let b = f64::from(bits_per_key.max(1));
    let k = f64::from(hashes_for(bits_per_key));
    (1.0 - (-k / b).exp()).powf(k)
}

/// Why serialized bytes are not a bloom filter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BloomDecodeError {
    /// Fewer bytes than the header.
    #[error("only {len} bytes, a filter needs at least {HEADER_BYTES}")]
    TooShort {
        /// Bytes present.
        len: u64,
    },
    /// The hash count is 0 or over [`MAX_HASHES`].
    #[error("{k} hash functions (must be 1..={MAX_HASHES})")]
    BadHashCount {
        /// The count found.
        k: u8,
    },
    /// The reserved bytes are not zero.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// The bit count is zero or not a multiple of 8.
    #[error("{bits} bits (must be a positive multiple of 8)")]
    BadBitCount {
        /// The count found.
        bits: u64,
    },
    /// The bit array's length does not match the bit count.
    #[error("the bit array has {found} bytes, the header says {expected}")]
    LengthMismatch {
        /// Bytes the header implies.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
}

/// A bloom filter: "possibly present" or "certainly absent". See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomFilter {
    k: u32,
    num_bits: u64,
    bits: Vec<u8>,
}

impl BloomFilter {
    /// An empty filter sized for `keys` keys at `bits_per_key` bits each (at least
    /// [`MIN_BITS`], rounded up to whole bytes).
    pub fn new(keys: u64, bits_per_key: u32) -> Self {
        let bits = keys
            .saturating_mul(u64::from(bits_per_key))
            .max(MIN_BITS)
            .div_ceil(8)
            * 8;
        BloomFilter {
            k: hashes_for(bits_per_key),
            num_bits: bits,
            bits: vec![0; usize::try_from(bits / 8).expect("a filter that fits in memory")],
        }
    }

    /// A filter holding the keys whose [`key_hash`]es are given.
    pub fn from_hashes(hashes: &[u64], bits_per_key: u32) -> Self {
        let mut f = BloomFilter::new(hashes.len() as u64, bits_per_key);
        for &h in hashes {
            f.insert_hash(h);
        }
        f
    }

    /// The number of hash functions.
    pub fn hashes(&self) -> u32 {
        self.k
    }

    /// The number of bits.
    pub fn num_bits(&self) -> u64 {
        self.num_bits
    }

    fn probes(&self, h: u64) -> impl Iterator<Item = u64> + '_ {
        let h2 = fmix64(h ^ P3) | 1;
        (0..u64::from(self.k)).map(move |i| h.wrapping_add(i.wrapping_mul(h2)) % self.num_bits)
    }

    fn byte_and_mask(bit: u64) -> (usize, u8) {
        let byte = usize::try_from(bit / 8).expect("bit index within the filter");
        (byte, 1u8 << (bit % 8))
    }

    /// Adds a key.
    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(key_hash(key));
    }

    /// Adds a key by its [`key_hash`].
    pub fn insert_hash(&mut self, h: u64) {
        let positions: Vec<u64> = self.probes(h).collect();
        for bit in positions {
            let (byte, mask) = Self::byte_and_mask(bit);
            self.bits[byte] |= mask;
        }
    }

    /// False only if `key` was certainly never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(key))
    }

    /// [`BloomFilter::may_contain`] by the key's [`key_hash`].
    pub fn may_contain_hash(&self, h: u64) -> bool {
        self.probes(h).all(|bit| {
            let (byte, mask) = Self::byte_and_mask(bit);
            self.bits[byte] & mask != 0
        })
    }

    /// The serialized form (module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.bits.len());
        out.push(u8::try_from(self.k).expect("k <= MAX_HASHES"));
        out.extend_from_slice(&[0; 7]);
        out.extend_from_slice(&self.num_bits.to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    /// Decodes the serialized form; never panics.
    pub fn decode(bytes: &[u8]) -> Result<BloomFilter, BloomDecodeError> {
        let len = bytes.len() as u64;
        let mut c = Cursor::new(bytes);
        let (Some(k), Some(reserved), Some(num_bits)) = (c.u8(), c.take(7), c.u64()) else {
            return Err(BloomDecodeError::TooShort { len });
        };
        if k == 0 || u32::from(k) > MAX_HASHES {
            return Err(BloomDecodeError::BadHashCount { k });
        }
        if reserved.iter().any(|&b| b != 0) {
            return Err(BloomDecodeError::Reserved);
        }
        if num_bits == 0 || num_bits & 7 != 0 {
            return Err(BloomDecodeError::BadBitCount { bits: num_bits });
        }
        let found = c.remaining() as u64;
        if found != num_bits / 8 {
            return Err(BloomDecodeError::LengthMismatch {
                expected: num_bits / 8,
                found,
            });
        }
        Ok(BloomFilter {
            k: u32::from(k),
            num_bits,
            bits: bytes[16..].to_vec(),
        })
    }

    /// Checks the invariants; panics on a violation (a bug).
    pub fn validate(&self) {
        assert!((1..=MAX_HASHES).contains(&self.k), "hash count {}", self.k);
        assert!(
            self.num_bits > 0 && self.num_bits & 7 == 0,
            "bit count {}",
            self.num_bits
        );
        assert_eq!(
            self.bits.len() as u64,
            self.num_bits / 8,
            "bit array length"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn hash_is_pinned_and_spreads() {
        // Pinned so a change to the hash (which changes every filter on disk) fails here,
        // natively and in wasm alike.
        assert_eq!(hash64(b"", 0), hash64(b"", 0));
        let pinned = [hash64(b"", 0), hash64(b"a", 0), hash64(b"logspine", 1)];
        assert_eq!(
            pinned,
            [
                0xB963_DB0A_BE33_8556,
                0x6DFB_722E_38EE_E8A3,
                0xB91A_04DF_062C_AEBF
            ],
            "{pinned:#x?}"
        );
        assert_ne!(hash64(b"a", 0), hash64(b"a", 1));
        assert_ne!(hash64(b"a\0", 0), hash64(b"a", 0));
        assert_ne!(hash64(&[0; 8], 0), hash64(&[0; 9], 0));
    }

    #[test]
    fn hash_counts_follow_b_ln2() {
        let ks: Vec<u32> = [1, 2, 4, 8, 10, 16, 20, 100]
            .iter()
            .map(|&b| hashes_for(b))
            .collect();
        assert_eq!(ks, [1, 1, 3, 6, 7, 11, 14, MAX_HASHES]);
        assert!((theoretical_fpr(10) - 0.0082).abs() < 0.0002);
    }

    #[test]
    fn encode_decode_round_trip_and_no_false_negatives() {
        let mut f = BloomFilter::new(100, 10);
        for i in 0..100u32 {
            f.insert(&i.to_le_bytes());
        }
        f.validate();
        let g = BloomFilter::decode(&f.encode()).unwrap();
        assert_eq!(f, g);
        assert!((0..100u32).all(|i| g.may_contain(&i.to_le_bytes())));
        assert_eq!(f.encode().len() as u64, HEADER_BYTES + 1000 / 8);
    }

    #[test]
    fn garbage_is_an_error() {
        let good = BloomFilter::new(10, 10).encode();
        assert!(matches!(
            BloomFilter::decode(&good[..10]),
            Err(BloomDecodeError::TooShort { len: 10 })
        ));
        let mut bad = good.clone();
        bad[0] = 0;
        assert_eq!(
            BloomFilter::decode(&bad),
            Err(BloomDecodeError::BadHashCount { k: 0 })
        );
        let mut bad = good.clone();
        bad[3] = 1;
        assert_eq!(BloomFilter::decode(&bad), Err(BloomDecodeError::Reserved));
        let mut bad = good.clone();
        bad[8] = 7;
        assert!(matches!(
            BloomFilter::decode(&bad),
            Err(BloomDecodeError::BadBitCount { bits: 7 })
        ));
        let mut bad = good.clone();
        bad.push(0);
        assert!(matches!(
            BloomFilter::decode(&bad),
            Err(BloomDecodeError::LengthMismatch { .. })
        ));
    }
}
