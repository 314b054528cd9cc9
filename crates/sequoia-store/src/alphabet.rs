//! Which bytes are residues: IUPAC letters A-Z in either case, `*` (stop) and `-` (gap).

/// Maps a byte to its upper-case residue, or 0 when it is not a residue.
pub(crate) static RESIDUE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = c;
        t[(c + 32) as usize] = c;
        c += 1;
    }
    t[b'*' as usize] = b'*';
    t[b'-' as usize] = b'-';
    t
};

/// Writes each byte of `seg` upper-cased into `out` (as long) and tells whether every one
/// is a residue: for those, `out` is what [`RESIDUE`] maps them to; for a non-residue
/// byte, `out` holds something else (the caller handles such segments byte by byte).
///
/// Compares and selects instead of [`RESIDUE`]'s table lookups, so that it compiles to
/// vector instructions: the import runs every residue through it.
pub(crate) fn upper_residues(out: &mut [u8], seg: &[u8]) -> bool {
    let mut bad = false;
    for (o, &b) in out.iter_mut().zip(seg) {
        let u = if b.wrapping_sub(b'a') < 26 { b - 32 } else { b };
        bad |= !((u.wrapping_sub(b'A') < 26) | (u == b'*') | (u == b'-'));
        *o = u;
    }
    !bad
}

/// The position of the first byte of `residues` that is not an upper-case residue (as
/// stored), if any. Sequences of A-Z only, most of them, are checked 64 bytes at a time.
pub(crate) fn first_non_upper_residue(residues: &[u8]) -> Option<usize> {
    let mut chunks = residues.chunks_exact(64);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        // Compiles to vector compares: any byte outside A-Z sends the chunk to the table.
        if chunk
            .iter()
            .fold(false, |bad, &b| bad | (b.wrapping_sub(b'A') > 25))
        {
            break;
        }
        at += 64;
    }
    residues[at..]
        .iter()
        .position(|&b| RESIDUE[b as usize] != b)
        .map(|p| at + p)
}

/// Describes a byte that is not a residue, for error messages.
pub fn describe_byte(b: u8) -> String {
    match b {
        0 => "a NUL byte".into(),
        b' ' => "a space".into(),
        b'\t' => "a tab".into(),
        b'\r' => "a carriage return".into(),
        b'0'..=b'9' => format!("the digit '{}'", b as char),
        0x21..=0x7e => format!("the character '{}'", b as char),
        _ => format!("the byte 0x{b:02x}"),
    }
}

/// Upper-cases `residues` after checking every byte is a residue; an empty sequence is an
/// error too.
///
/// # Examples
/// ```
/// assert_eq!(sequoia_store::normalize_residues(b"mkV*-").unwrap(), b"MKV*-");
/// assert!(sequoia_store::normalize_residues(b"MK1").is_err());
/// ```
pub fn normalize_residues(residues: &[u8]) -> Result<Vec<u8>, String> {
    if residues.is_empty() {
        return Err("a sequence needs at least one residue".into());
    }
    let mut out = Vec::with_capacity(residues.len());
    for (i, &b) in residues.iter().enumerate() {
        let r = RESIDUE[b as usize];
        if r == 0 {
            return Err(format!(
                "{} at position {} is not a residue (A-Z, a-z, '*', '-')",
                describe_byte(b),
                i + 1
            ));
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_residues_maps_as_the_table_and_finds_every_non_residue() {
        for b in 0..=255u8 {
            let mut out = [0u8; 1];
            let ok = upper_residues(&mut out, &[b]);
            assert_eq!(ok, RESIDUE[b as usize] != 0, "byte {b:#04x}");
            if ok {
                assert_eq!(out[0], RESIDUE[b as usize], "byte {b:#04x}");
            }
        }
        // In a long segment, one bad byte anywhere is found.
        let clean: Vec<u8> = (0..200u32)
            .map(|i| b"acgtMKVL*-wy"[i as usize % 12])
            .collect();
        let mut out = vec![0u8; clean.len()];
        assert!(upper_residues(&mut out, &clean));
        let want: Vec<u8> = clean.iter().map(|&b| RESIDUE[b as usize]).collect();
        assert_eq!(out, want);
        for at in [0, 31, 32, 63, 64, 199] {
            let mut bad = clean.clone();
            bad[at] = b'1';
            assert!(!upper_residues(&mut out, &bad), "a digit at {at}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_check_agrees_with_the_table(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"ACDMWYZ*-a z0".to_vec()),
                0..300,
            ),
            upper in 0usize..300,
        ) {
            // Mostly A-Z for long stretches, so that whole chunks take the fast path.
            let mut v: Vec<u8> = bytes;
            let n = upper.min(v.len());
            for b in &mut v[..n] {
                *b = b.to_ascii_uppercase().clamp(b'A', b'Z');
            }
            let want = v.iter().position(|&b| RESIDUE[b as usize] != b);
            proptest::prop_assert_eq!(first_non_upper_residue(&v), want);
        }
    }
}
