//! The order a writer gives sequences: similar ones next to each other, so that a block
//! (and the window of its compressor) holds homologs, whose shared stretches compress to
//! back-references. Readers need no part of it: any order reads alike.
//!
//! Measured on protein_all's 435,059 distinct sequences (`cargo xtask layout-experiment`,
//! level 1, a dictionary per stream): residues and headers as v2 blocks of 2 KiB hold
//! them, 113.0 MB in import order, 101.8 MB sorted within each 64 MB of residues, 95.4 MB
//! sorted over the whole set; residues alone in 16 KiB blocks 85.3 MB against 64.7 MB.

/// Residues in a k-mer of the sketch.
const K: usize = 6;

/// The sort key that puts similar sequences together: the smallest hash over the
/// sequence's 6-mers (a one-value MinHash sketch: two sequences sharing much of their
/// 6-mers likely share their minimum), `u64::MAX` for a sequence shorter than 6.
/// Writers sort by (key, length).
///
/// ```
/// use pack_format::similarity_key;
/// let a = b"MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF";
/// // Every 6-mer of a stretch is one of the whole's: its key is no smaller.
/// assert!(similarity_key(a) <= similarity_key(&a[10..30]));
/// // A homolog with one substitution (6 of its 42 6-mers changed) keeps the key here.
/// let mut b = a.to_vec();
/// b[3] = b'A';
/// assert_eq!(similarity_key(a), similarity_key(&b));
/// assert_eq!(similarity_key(b"MKV"), u64::MAX);
/// ```
pub fn similarity_key(residues: &[u8]) -> u64 {
    if residues.len() < K {
        return u64::MAX;
    }
    // Each residue as 5 bits (A-Z, * and - differ in their low 5 bits): a 6-mer is 30
    // bits, rolled one residue at a time, then mixed by one multiplication.
    let mut window: u64 = 0;
    let mut min = u64::MAX;
    for (i, &b) in residues.iter().enumerate() {
        window = ((window << 5) | u64::from(b & 31)) & ((1 << (5 * K)) - 1);
        if i + 1 >= K {
            min = min.min(mix(window));
        }
    }
    min
}

/// A bijective mix of the 30-bit window (so that the minimum is not the alphabetically
/// smallest 6-mer, which would gather unrelated sequences rich in A).
fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}
