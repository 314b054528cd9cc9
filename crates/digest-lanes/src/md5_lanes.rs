//! MD5 of many messages at once: sixteen messages side by side in the 32-bit lanes of
//! AVX-512 registers where the CPU has them, eight in AVX2 registers where it has those,
//! else one after another with `md-5`.
//!
//! An import computes the MD5 of every new sequence (the refget v1 identifier), and MD5
//! has no instructions of its own: one message at a time, its 64 steps are a chain of
//! dependent 32-bit operations (`md5::compress::soft` was 4.7% of an import's CPU). The
//! lanes run sixteen such chains in the time of about one, as [`crate::sha512_lanes`]
//! does for SHA-512: each lane takes the next message as soon as its own is done.

use md5::Digest;

/// MD5 of each of `messages`, in order.
///
/// The same digests as `md5::Md5` (property-tested); with AVX-512F sixteen at a time,
/// with AVX2 eight.
pub fn md5_each(messages: &[&[u8]]) -> Vec<[u8; 16]> {
    #[cfg(target_arch = "x86_64")]
    if messages.len() > 1 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), the only target feature
            // `lanes::md5_each` is compiled with.
            return unsafe { lanes::md5_each(messages) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), the only target feature
            // `lanes8::md5_each` is compiled with.
            return unsafe { lanes8::md5_each(messages) };
        }
    }
    messages.iter().map(|m| one(m)).collect()
}

/// MD5 of one message, with `md-5`.
fn one(m: &[u8]) -> [u8; 16] {
    md5::Md5::digest(m).into()
}

/// Initial state (RFC 1321, 3.3).
const IV: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// Step constants (RFC 1321, 3.4: the integer part of 2^32 |sin(i + 1)|).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// One of MD5's four rounds (RFC 1321 3.4) over lane vectors: sixteen steps of
/// `$step::<S>(a, b, f(b, c, d), k, w)`, with the round's function `$f`, its constants
/// from `K[$g.0]`, message words `w[($g.1 * i + $g.2) % 16]` and rotations `$s`.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $w:ident, $step:ident, $f:expr, $g:expr, $s:expr) => {
        for i in 0..16 {
            let t = $f($b, $c, $d);
            let k = K[$g.0 + i];
            let m = $w[($g.1 * i + $g.2) % 16];
            let next = match i % 4 {
                0 => $step::<{ $s[0] }>($a, $b, t, k, m),
                1 => $step::<{ $s[1] }>($a, $b, t, k, m),
                2 => $step::<{ $s[2] }>($a, $b, t, k, m),
                _ => $step::<{ $s[3] }>($a, $b, t, k, m),
            };
            ($a, $b, $c, $d) = ($d, next, $b, $c);
        }
    };
}

/// MD5's 64 steps (RFC 1321 3.4) over lane vectors: the four rounds with their
/// functions `$f`, `$g`, `$h`, `$i` (each of `(b, c, d)`), constants, message word orders
/// and rotations.
#[cfg(target_arch = "x86_64")]
macro_rules! md5_rounds {
    ($a:ident, $b:ident, $c:ident, $d:ident, $w:ident, $step:ident, $f:expr, $g:expr, $h:expr, $i:expr $(,)?) => {
        md5_round!($a, $b, $c, $d, $w, $step, $f, (0, 1, 0), [7, 12, 17, 22]);
        md5_round!($a, $b, $c, $d, $w, $step, $g, (16, 5, 1), [5, 9, 14, 20]);
        md5_round!($a, $b, $c, $d, $w, $step, $h, (32, 3, 5), [4, 11, 16, 23]);
        md5_round!($a, $b, $c, $d, $w, $step, $i, (48, 7, 0), [6, 10, 15, 21]);
    };
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::*;

    use super::{IV, K};
    use crate::schedule::each;

    const LANES: usize = 16;

    /// MD5 of each message, sixteen lanes at a time.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn md5_each(messages: &[&[u8]]) -> Vec<[u8; 16]> {
        each::<u32, LANES, 4, 16>(messages, false, IV, |state, words| compress(state, words))
    }

    /// One step: `b + rotl(a + f + k + w, S)`.
    #[target_feature(enable = "avx512f")]
    fn step<const S: i32>(a: __m512i, b: __m512i, f: __m512i, k: u32, w: __m512i) -> __m512i {
        let sum = _mm512_add_epi32(
            _mm512_add_epi32(a, f),
            _mm512_add_epi32(_mm512_set1_epi32(k as i32), w),
        );
        _mm512_add_epi32(b, _mm512_rol_epi32::<S>(sum))
    }

    /// One block of every lane: `state` (word by lane) updated with `words` (word by
    /// lane), RFC 1321 3.4.
    #[target_feature(enable = "avx512f")]
    fn compress(state: &mut [[u32; LANES]; 4], words: &[[u32; LANES]; 16]) {
        // SAFETY (of the loads and stores): each row is 16 u32 = 64 bytes, the width of
        // the unaligned loads and stores used.
        let load = |row: &[u32; LANES]| unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        let w: [__m512i; 16] = std::array::from_fn(|i| load(&words[i]));
        let start: [__m512i; 4] = std::array::from_fn(|i| load(&state[i]));
        let [mut a, mut b, mut c, mut d] = start;
        // Ternary logic of (b, c, d): 0xCA b ? c : d (F); 0x96 b ^ c ^ d (H);
        // 0x39 c ^ (b | !d) (I). G is d ? b : c, 0xCA of (d, b, c).
        md5_rounds!(
            a,
            b,
            c,
            d,
            w,
            step,
            |b, c, d| _mm512_ternarylogic_epi32::<0xCA>(b, c, d),
            |b, c, d| _mm512_ternarylogic_epi32::<0xCA>(d, b, c),
            |b, c, d| _mm512_ternarylogic_epi32::<0x96>(b, c, d),
            |b, c, d| _mm512_ternarylogic_epi32::<0x39>(b, c, d),
        );
        for (i, (row, v)) in state.iter_mut().zip([a, b, c, d]).enumerate() {
            let sum = _mm512_add_epi32(v, start[i]);
            // SAFETY: as for the loads above.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), sum) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes8 {
    use std::arch::x86_64::*;

    use super::{IV, K};
    use crate::schedule::each;

    const LANES: usize = 8;

    /// MD5 of each message, eight lanes at a time.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn md5_each(messages: &[&[u8]]) -> Vec<[u8; 16]> {
        each::<u32, LANES, 4, 16>(messages, false, IV, |state, words| compress(state, words))
    }

    /// One step: `b + rotl(a + f + k + w, S)` (AVX2 has no rotation: two shifts).
    #[target_feature(enable = "avx2")]
    fn step<const S: i32>(a: __m256i, b: __m256i, f: __m256i, k: u32, w: __m256i) -> __m256i {
        let sum = _mm256_add_epi32(
            _mm256_add_epi32(a, f),
            _mm256_add_epi32(_mm256_set1_epi32(k as i32), w),
        );
        let rot = _mm256_or_si256(
            _mm256_sll_epi32(sum, _mm_cvtsi32_si128(S)),
            _mm256_srl_epi32(sum, _mm_cvtsi32_si128(32 - S)),
        );
        _mm256_add_epi32(b, rot)
    }

    /// One block of every lane: `state` (word by lane) updated with `words` (word by
    /// lane), RFC 1321 3.4.
    #[target_feature(enable = "avx2")]
    fn compress(state: &mut [[u32; LANES]; 4], words: &[[u32; LANES]; 16]) {
        // SAFETY (of the loads and stores): each row is 8 u32 = 32 bytes, the width of
        // the unaligned loads and stores used.
        let load = |row: &[u32; LANES]| unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
        let w: [__m256i; 16] = std::array::from_fn(|i| load(&words[i]));
        let start: [__m256i; 4] = std::array::from_fn(|i| load(&state[i]));
        let [mut a, mut b, mut c, mut d] = start;
        let ones = _mm256_set1_epi32(-1);
        // F: d ^ (b & (c ^ d)); G: c ^ (d & (b ^ c)); H: b ^ c ^ d; I: c ^ (b | !d).
        md5_rounds!(
            a,
            b,
            c,
            d,
            w,
            step,
            |b, c, d| _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d))),
            |b, c, d| _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c))),
            |b, c, d| _mm256_xor_si256(_mm256_xor_si256(b, c), d),
            |b, c, d| _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones))),
        );
        for (i, (row, v)) in state.iter_mut().zip([a, b, c, d]).enumerate() {
            let sum = _mm256_add_epi32(v, start[i]);
            // SAFETY: as for the loads above.
            unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), sum) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Each = fn(&[&[u8]]) -> Vec<[u8; 16]>;

    /// Every way this CPU can take: the dispatcher, and each lane width it has.
    fn ways() -> Vec<(&'static str, Each)> {
        let mut ways: Vec<(&'static str, Each)> = vec![("md5_each", md5_each)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                ways.push(("16 lanes", |m| unsafe { lanes::md5_each(m) }));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                ways.push(("8 lanes", |m| unsafe { lanes8::md5_each(m) }));
            }
        }
        ways
    }

    #[test]
    fn every_padding_boundary_gives_md5s_digest() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i * 31 + 7) as u8).collect();
        let msgs: Vec<&[u8]> = crate::schedule::boundary_lengths(64)
            .iter()
            .map(|&n| &data[..n])
            .collect();
        for (way, each) in ways() {
            let got = each(&msgs);
            for (m, d) in msgs.iter().zip(&got) {
                assert_eq!(*d, one(m), "{way}, length {}", m.len());
            }
        }
    }

    #[test]
    fn published_digests() {
        // RFC 1321 appendix A.5, each in a lane beside others.
        let suite: [(&[u8], &str); 4] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        let msgs: Vec<&[u8]> = suite.iter().map(|(m, _)| *m).collect();
        for (way, each) in ways() {
            for ((_, want), d) in suite.iter().zip(each(&msgs)) {
                let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, *want, "{way}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_mix_of_messages_gives_md5s_digests(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 0..60)
        ) {
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            for (way, each) in ways() {
                let got = each(&refs);
                prop_assert_eq!(got.len(), refs.len());
                for (m, d) in refs.iter().zip(&got) {
                    prop_assert_eq!(*d, one(m), "{}", way);
                }
            }
        }
    }
}
