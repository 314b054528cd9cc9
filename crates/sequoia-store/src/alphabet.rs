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
