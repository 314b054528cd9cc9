//! FASTA out: a record per representation, residues wrapped at a width, and regions named
//! as samtools names them (`NAME:START-END description`).

use std::io::Write;

use crate::ids::IdQuery;
use crate::store::{FoundSequence, StoredSequence};

/// Writes one record: `>header`, then `residues` in lines of `width` (0: one line).
///
/// # Examples
/// ```
/// let mut out = Vec::new();
/// sequoia_store::fasta::write_record(&mut out, "P1 a protein", b"MKVLAA", 4).unwrap();
/// assert_eq!(out, b">P1 a protein\nMKVL\nAA\n");
/// ```
pub fn write_record(
    out: &mut impl Write,
    header: &str,
    residues: &[u8],
    width: usize,
) -> std::io::Result<()> {
    out.write_all(b">")?;
    out.write_all(header.as_bytes())?;
    out.write_all(b"\n")?;
    if width == 0 {
        out.write_all(residues)?;
        out.write_all(b"\n")?;
    } else {
        for line in residues.chunks(width) {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// Writes a stored sequence: one record per representation, or with `dedup` one record
/// whose header joins them all with `\x01` (as NCBI nr); a sequence without
/// representations is named by its SHA-256.
pub fn write_sequence(
    out: &mut impl Write,
    rec: &StoredSequence,
    dedup: bool,
    width: usize,
) -> std::io::Result<()> {
    if rec.representations.is_empty() {
        return write_record(out, &rec.hash.to_hex(), &rec.residues, width);
    }
    if dedup {
        let joined: Vec<&str> = rec
            .representations
            .iter()
            .map(|r| r.header.as_str())
            .collect();
        write_record(out, &joined.join("\u{1}"), &rec.residues, width)
    } else {
        for r in &rec.representations {
            write_record(out, &r.header, &rec.residues, width)?;
        }
        Ok(())
    }
}

/// Writes `q`'s region of `rec`, once per representation (or under its hash when it has
/// none), the region appended to each record's name as samtools does. A region outside the
/// sequence writes nothing and is the error, a message naming the identifier.
pub fn write_found(
    out: &mut Vec<u8>,
    rec: &FoundSequence<'_>,
    q: &IdQuery,
    width: usize,
) -> Result<(), String> {
    let len = rec.residues.len() as u64;
    let range = q.range(len)?;
    let residues = &rec.residues[range];
    let suffix = q.region_suffix(len);
    // Writing to a Vec cannot fail.
    let mut write = |header: &str| {
        write_record(out, header, residues, width).expect("writing to a Vec does not fail")
    };
    if rec.representations().len() == 0 {
        write(&format!("{}{suffix}", rec.hash));
    }
    for (header, _) in rec.representations() {
        if suffix.is_empty() {
            write(header);
        } else {
            match header.split_once(char::is_whitespace) {
                Some((name, rest)) => write(&format!("{name}{suffix} {rest}")),
                None => write(&format!("{header}{suffix}")),
            }
        }
    }
    Ok(())
}
