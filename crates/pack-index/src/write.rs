//! Writing an index file from (hash, location) rows.

use std::io::Write;

use pack_format::PackId;

use crate::{
    bucket, fanout_bits, Error, HashPrefix, IndexCounts, IndexEntry, IndexKind, HEADER_LEN, MAGIC,
    TRAILER_MAGIC, VERSION,
};

/// A row of an index file: a key and a fixed-size value.
pub(crate) trait Row {
    fn key(&self) -> &[u8];
    fn value(&self) -> ValueBytes;
}

/// A value as written: a location row (16 bytes) or a SHA-256 prefix (8 bytes).
pub(crate) enum ValueBytes {
    Location([u8; 16]),
    Prefix(crate::HashPrefix),
}

impl ValueBytes {
    fn as_bytes(&self) -> &[u8] {
        match self {
            ValueBytes::Location(b) => b,
            ValueBytes::Prefix(b) => b,
        }
    }
}

impl Row for IndexEntry {
    fn key(&self) -> &[u8] {
        self.hash.as_bytes()
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Location(location_row(&self.location))
    }
}

impl<K: AsRef<[u8]>> Row for (K, HashPrefix) {
    fn key(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Prefix(self.1)
    }
}

/// Forwards writes and keeps a CRC-32 of everything written.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 of a bucket: its bounds, then its keys, then its values.
fn bucket_crc<R: Row>(start: u64, end: u64, rows: &[R]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&start.to_le_bytes());
    h.update(&end.to_le_bytes());
    for e in rows {
        h.update(e.key());
    }
    for e in rows {
        h.update(e.value().as_bytes());
    }
    h.finalize()
}

pub(crate) fn location_row(l: &pack_format::PackLocation) -> [u8; 16] {
    let mut row = [0u8; 16];
    row[..4].copy_from_slice(&l.pack.to_le_bytes());
    row[4..8].copy_from_slice(&l.block.to_le_bytes());
    row[8..12].copy_from_slice(&l.offset.to_le_bytes());
    row[12..16].copy_from_slice(&l.length.to_le_bytes());
    row
}

/// Sorts `entries` (by hash, then location) and writes them as an index to `out`.
///
/// `packs` lists the packs the index covers; `counts` are their totals; `pack_crc32` is the
/// CRC-32 of the whole pack file for a [`IndexKind::Pack`] index (so that `verify` catches
/// any changed byte, even one a decoder would not notice), `None` for a multi-pack index.
pub fn write_index<W: Write>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    counts: IndexCounts,
    pack_crc32: Option<u32>,
    entries: &mut [IndexEntry],
) -> Result<W, Error> {
    if kind.is_alias() {
        return Err(Error::Write(std::io::Error::other(format!(
            "{kind:?} is an alias kind: write it with write_alias_index"
        ))));
    }
    entries.sort_unstable();
    write_rows(out, kind, packs, counts, pack_crc32, entries)
}

/// Sorts `rows` (key, SHA-256 prefix) and writes them as an alias index of `kind` over
/// `packs`; every key must have `kind.key_len()` bytes. Keys are any byte arrays, so that
/// callers keep rows of one kind compact (24 bytes for MD5, 16 for accessions).
///
/// # Examples
/// ```
/// use pack_index::{hash_prefix, write_alias_index, IndexKind, PackIndex};
/// use pack_format::SequenceHash;
/// let h = SequenceHash::of_residues(b"MKV");
/// let mut rows = vec![([7u8; 16], hash_prefix(&h))];
/// let index = PackIndex::parse(write_alias_index(Vec::new(), IndexKind::Md5, &[0], &mut rows).unwrap()).unwrap();
/// assert_eq!(index.lookup_alias(&[7; 16]).unwrap().collect::<Vec<_>>(), vec![hash_prefix(&h)]);
/// ```
pub fn write_alias_index<W: Write, K: AsRef<[u8]> + Ord>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    rows: &mut [(K, HashPrefix)],
) -> Result<W, Error> {
    if !kind.is_alias() || rows.iter().any(|r| r.0.as_ref().len() != kind.key_len()) {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_alias_index of {kind:?} needs keys of {} bytes",
            kind.key_len()
        ))));
    }
    rows.sort_unstable();
    write_rows(out, kind, packs, IndexCounts::default(), None, rows)
}

fn write_rows<W: Write, R: Row>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    counts: IndexCounts,
    pack_crc32: Option<u32>,
    entries: &[R],
) -> Result<W, Error> {
    let count = entries.len() as u64;
    let bits = fanout_bits(count);
    let mut w = Crc {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        hasher: crc32fast::Hasher::new(),
    };
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = VERSION;
    header[5] = kind as u8;
    header[6] = kind.key_len() as u8;
    header[7] = bits;
    header[8..16].copy_from_slice(&count.to_le_bytes());
    header[16..20].copy_from_slice(&(packs.len() as u32).to_le_bytes());
    header[24..32].copy_from_slice(&counts.sequences.to_le_bytes());
    header[32..40].copy_from_slice(&counts.representations.to_le_bytes());
    header[40..48].copy_from_slice(&counts.residue_bytes.to_le_bytes());
    header[48..56].copy_from_slice(&counts.uncompressed_bytes.to_le_bytes());
    header[56..60].copy_from_slice(&pack_crc32.unwrap_or(0).to_le_bytes());
    w.write_all(&header)?;
    for p in packs {
        w.write_all(&p.to_le_bytes())?;
    }
    if packs.len() % 2 == 1 {
        w.write_all(&[0; 4])?;
    }
    let mut fanout = vec![0u64; 1 << bits];
    for e in entries.iter() {
        fanout[bucket(e.key(), bits)] += 1;
    }
    let mut total = 0u64;
    for slot in fanout.iter_mut() {
        total += *slot;
        *slot = total;
        w.write_all(&total.to_le_bytes())?;
    }
    // One CRC per bucket over its bounds, keys and locations: a lookup checks what it reads.
    let mut start = 0u64;
    for &end in &fanout {
        let rows = &entries[start as usize..end as usize];
        w.write_all(&bucket_crc(start, end, rows).to_le_bytes())?;
        start = end;
    }
    for e in entries.iter() {
        w.write_all(e.key())?;
    }
    for e in entries.iter() {
        w.write_all(e.value().as_bytes())?;
    }
    let crc = w.hasher.clone().finalize();
    let mut trailer = [0u8; 16];
    trailer[..4].copy_from_slice(&crc.to_le_bytes());
    trailer[8..].copy_from_slice(TRAILER_MAGIC);
    w.inner.write_all(&trailer)?;
    w.inner
        .into_inner()
        .map_err(|e| Error::Write(e.into_error()))
}
