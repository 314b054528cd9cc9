//! The key of a sequence: the SHA-256 of its residues.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// SHA-256 of a sequence's residues (upper-cased, line breaks removed).
///
/// # Examples
/// ```
/// use pack_format::SequenceHash;
/// let h = SequenceHash::of_residues(b"MKV");
/// let parsed: SequenceHash = h.to_hex().parse().unwrap();
/// assert_eq!(h, parsed);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SequenceHash(pub [u8; 32]);

impl SequenceHash {
    /// Length of the hash in bytes.
    pub const LEN: usize = 32;

    /// Hashes residues as they are given (callers normalise them first).
    pub fn of_residues(residues: &[u8]) -> Self {
        SequenceHash(Sha256::digest(residues).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

/// Lower-case hexadecimal of any bytes (two characters per byte).
///
/// # Examples
/// ```
/// assert_eq!(pack_format::to_hex(&[0x0f, 0xa0]), "0fa0");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The `N` bytes written as exactly `2 * N` hexadecimal digits (either case), or `None`.
///
/// # Examples
/// ```
/// assert_eq!(pack_format::from_hex::<2>("0FA0"), Some([0x0f, 0xa0]));
/// assert_eq!(pack_format::from_hex::<2>("0fa"), None);
/// ```
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    // Table lookups without a branch per digit; any invalid digit sets a high bit.
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// The value of each byte as a hexadecimal digit, 0xff for a byte that is not one.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 256 {
        if let Some(v) = hex_value(c as u8) {
            t[c] = v;
        }
        c += 1;
    }
    t
};

/// A SHA-256 is already uniformly distributed: hashing its first 8 bytes is enough for hash
/// tables (equality still compares all 32), and much cheaper than hashing all of them.
impl std::hash::Hash for SequenceHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from_le_bytes(
            self.0[..8].try_into().expect("a hash has 32 bytes"),
        ));
    }
}

/// A [`std::hash::BuildHasher`] for maps keyed by [`SequenceHash`]: passes the 8 bytes
/// through instead of hashing them again.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceHashBuilder;

/// The hasher of [`SequenceHashBuilder`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only reached by keys other than SequenceHash: fold the bytes in (FNV-1a).
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

impl std::hash::BuildHasher for SequenceHashBuilder {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

impl fmt::Display for SequenceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for SequenceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceHash({})", self.to_hex())
    }
}

/// A string that is not 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (64 hexadecimal digits): {input:?}")]
pub struct ParseHashError {
    /// The rejected text.
    pub input: String,
}

impl FromStr for SequenceHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_hex::<32>(s)
            .map(SequenceHash)
            .ok_or_else(|| ParseHashError {
                input: s.to_string(),
            })
    }
}

const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_digest_of_empty_input() {
        assert_eq!(
            SequenceHash::of_residues(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        assert!("abc".parse::<SequenceHash>().is_err());
        let bad = "g".repeat(64);
        assert!(bad.parse::<SequenceHash>().is_err());
    }

    proptest! {
        #[test]
        fn from_hex_accepts_exactly_hex_digits(text in "[0-9a-fA-FgG:x \u{0}\u{ff}]{8}") {
            let want = text.bytes().all(|c| c.is_ascii_hexdigit()).then(|| {
                let mut out = [0u8; 4];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
                }
                out
            });
            prop_assert_eq!(from_hex::<4>(&text), want);
        }

        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let h = SequenceHash(bytes);
            prop_assert_eq!(h.to_hex().parse::<SequenceHash>().unwrap(), h);
            prop_assert_eq!(h.to_hex().to_uppercase().parse::<SequenceHash>().unwrap(), h);
        }
    }
}
