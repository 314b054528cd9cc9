//! SHA-512 of many messages at once: eight messages side by side in the 64-bit lanes of
//! AVX-512 registers where the CPU has them, four in AVX2 registers where it has those,
//! else one after another with `sha2`.
//!
//! An import computes the GA4GH `sha512t24u` of every new sequence, and SHA-512 has no
//! instructions of its own on most CPUs: one message at a time, its 80 rounds are a
//! chain of dependent 64-bit operations (about 220 MB/s on the bench machine, 7% of an
//! import's CPU). The lanes run eight such chains in the time of about one. Each lane
//! takes the next message as soon as its own is done, so messages of any mix of lengths
//! keep every lane busy but for the last few blocks.

use sha2::Digest;

/// SHA-512 of each of `messages`, in order.
///
/// The same digests as `sha2::Sha512` (property-tested); with AVX-512F eight at a time,
/// with AVX2 four.
pub fn sha512_each(messages: &[&[u8]]) -> Vec<[u8; 64]> {
    #[cfg(target_arch = "x86_64")]
    if messages.len() > 1 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), the only target feature
            // `lanes::sha512_each` is compiled with.
            return unsafe { lanes::sha512_each(messages) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), the only target feature
            // `lanes4::sha512_each` is compiled with.
            return unsafe { lanes4::sha512_each(messages) };
        }
    }
    messages.iter().map(|m| one(m)).collect()
}

/// SHA-512 of one message, with `sha2`.
fn one(m: &[u8]) -> [u8; 64] {
    sha2::Sha512::digest(m).into()
}

/// Initial hash value (FIPS 180-4, 5.3.5).
const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// Round constants (FIPS 180-4, 4.2.3).
const K: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];

/// The 80 rounds of one SHA-512 block (FIPS 180-4 6.4.2) over lane vectors: `$w` the 16
/// message words (the schedule rolls through them), `$v` the working variables a..h, with
/// the vector operations given (`$ror!`/`$shr!` take a literal count).
#[cfg(target_arch = "x86_64")]
macro_rules! sha512_rounds {
    ($w:ident, $v:ident, $add:expr, $xor3:expr, $ror:ident, $shr:ident, $ch:expr, $maj:expr, $splat:expr) => {
        for t in 0..80 {
            let j = t % 16;
            if t >= 16 {
                let w15 = $w[(t + 1) % 16];
                let w2 = $w[(t + 14) % 16];
                let s0 = $xor3($ror!(w15, 1), $ror!(w15, 8), $shr!(w15, 7));
                let s1 = $xor3($ror!(w2, 19), $ror!(w2, 61), $shr!(w2, 6));
                $w[j] = $add($add($w[j], s0), $add($w[(t + 9) % 16], s1));
            }
            let [a, b, c, d, e, f, g, h] = $v;
            let big_s1 = $xor3($ror!(e, 14), $ror!(e, 18), $ror!(e, 41));
            let t1 = $add(
                $add(h, big_s1),
                $add($ch(e, f, g), $add($splat(K[t]), $w[j])),
            );
            let big_s0 = $xor3($ror!(a, 28), $ror!(a, 34), $ror!(a, 39));
            let t2 = $add(big_s0, $maj(a, b, c));
            $v = [$add(t1, t2), a, b, c, $add(d, t1), e, f, g];
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::*;

    use super::{IV, K};
    use crate::schedule::each;

    const LANES: usize = 8;

    /// SHA-512 of each message, eight lanes at a time.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sha512_each(messages: &[&[u8]]) -> Vec<[u8; 64]> {
        each::<u64, LANES, 8, 64>(messages, true, IV, |state, words| compress(state, words))
    }

    /// One block of every lane: `state` (variable by lane) updated with `words` (word by
    /// lane), FIPS 180-4 6.4.2.
    #[target_feature(enable = "avx512f")]
    fn compress(state: &mut [[u64; LANES]; 8], words: &[[u64; LANES]; 16]) {
        // SAFETY (of the loads and stores): each row is 8 u64 = 64 bytes, the width of
        // the unaligned loads and stores used.
        let load = |row: &[u64; LANES]| unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        let mut w: [__m512i; 16] = std::array::from_fn(|i| load(&words[i]));
        let mut v: [__m512i; 8] = std::array::from_fn(|i| load(&state[i]));
        let start = v;
        // 0x96: a ^ b ^ c; 0xCA: a ? b : c (Ch); 0xE8: majority (Maj).
        macro_rules! ror {
            ($x:expr, $n:literal) => {
                _mm512_ror_epi64::<$n>($x)
            };
        }
        macro_rules! shr {
            ($x:expr, $n:literal) => {
                _mm512_srli_epi64::<$n>($x)
            };
        }
        sha512_rounds!(
            w,
            v,
            |a, b| _mm512_add_epi64(a, b),
            |a, b, c| _mm512_ternarylogic_epi64::<0x96>(a, b, c),
            ror,
            shr,
            |e, f, g| _mm512_ternarylogic_epi64::<0xCA>(e, f, g),
            |a, b, c| _mm512_ternarylogic_epi64::<0xE8>(a, b, c),
            |k: u64| _mm512_set1_epi64(k as i64)
        );
        for (i, row) in state.iter_mut().enumerate() {
            let sum = _mm512_add_epi64(v[i], start[i]);
            // SAFETY: as for the loads above.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), sum) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes4 {
    use std::arch::x86_64::*;

    use super::{IV, K};
    use crate::schedule::each;

    const LANES: usize = 4;

    /// SHA-512 of each message, four lanes at a time.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sha512_each(messages: &[&[u8]]) -> Vec<[u8; 64]> {
        each::<u64, LANES, 8, 64>(messages, true, IV, |state, words| compress(state, words))
    }

    /// One block of every lane, as [`super::lanes`] does it, with AVX2's operations
    /// (rotations as two shifts and an or; Ch as `g ^ (e & (f ^ g))`, Maj as
    /// `(a & b) ^ (c & (a ^ b))`).
    #[target_feature(enable = "avx2")]
    fn compress(state: &mut [[u64; LANES]; 8], words: &[[u64; LANES]; 16]) {
        // SAFETY (of the loads and stores): each row is 4 u64 = 32 bytes, the width of
        // the unaligned loads and stores used.
        let load = |row: &[u64; LANES]| unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
        let mut w: [__m256i; 16] = std::array::from_fn(|i| load(&words[i]));
        let mut v: [__m256i; 8] = std::array::from_fn(|i| load(&state[i]));
        let start = v;
        macro_rules! ror {
            ($x:expr, $n:literal) => {
                _mm256_or_si256(
                    _mm256_srli_epi64::<$n>($x),
                    _mm256_slli_epi64::<{ 64 - $n }>($x),
                )
            };
        }
        macro_rules! shr {
            ($x:expr, $n:literal) => {
                _mm256_srli_epi64::<$n>($x)
            };
        }
        sha512_rounds!(
            w,
            v,
            |a, b| _mm256_add_epi64(a, b),
            |a, b, c| _mm256_xor_si256(_mm256_xor_si256(a, b), c),
            ror,
            shr,
            |e, f, g| _mm256_xor_si256(g, _mm256_and_si256(e, _mm256_xor_si256(f, g))),
            |a, b, c| _mm256_xor_si256(
                _mm256_and_si256(a, b),
                _mm256_and_si256(c, _mm256_xor_si256(a, b))
            ),
            |k: u64| _mm256_set1_epi64x(k as i64)
        );
        for (i, row) in state.iter_mut().enumerate() {
            let sum = _mm256_add_epi64(v[i], start[i]);
            // SAFETY: as for the loads above.
            unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), sum) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Each = fn(&[&[u8]]) -> Vec<[u8; 64]>;

    /// Every way this CPU can take: the dispatcher, and each lane width it has.
    fn ways() -> Vec<(&'static str, Each)> {
        let mut ways: Vec<(&'static str, Each)> = vec![("sha512_each", sha512_each)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above).
                ways.push(("8 lanes", |m| unsafe { lanes::sha512_each(m) }));
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                ways.push(("4 lanes", |m| unsafe { lanes4::sha512_each(m) }));
            }
        }
        ways
    }

    #[test]
    fn every_padding_boundary_gives_sha2s_digest() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i * 31 + 7) as u8).collect();
        let msgs: Vec<&[u8]> = crate::schedule::boundary_lengths(128)
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
    fn a_published_digest() {
        // FIPS 180-2 appendix C.1: SHA-512("abc"), in a lane beside another message.
        let want = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                    2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
        for (way, each) in ways() {
            let d = each(&[&b"abc"[..], &b"abcd"[..]]);
            let hex: String = d[0].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want, "{way}");
        }
    }

    proptest! {
        #[test]
        fn any_mix_of_messages_gives_sha2s_digests(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 0..40)
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
