//! Writing an index file from (hash, location) rows.

use std::io::Write;

use pack_format::PackId;

use crate::{
    bucket, fanout_bits, Error, IndexCounts, IndexEntry, IndexKind, HEADER_LEN, MAGIC,
    TRAILER_MAGIC, VERSION,
};

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

/// CRC-32 of a bucket: its bounds, then its keys, then its location rows.
pub(crate) fn bucket_crc(start: u64, end: u64, rows: &[IndexEntry]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&start.to_le_bytes());
    h.update(&end.to_le_bytes());
    for e in rows {
        h.update(e.hash.as_bytes());
    }
    for e in rows {
        h.update(&location_row(&e.location));
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
    entries.sort_unstable();
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
    header[6] = crate::KEY_LEN as u8;
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
        fanout[bucket(&e.hash, bits)] += 1;
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
        w.write_all(e.hash.as_bytes())?;
    }
    for e in entries.iter() {
        w.write_all(&location_row(&e.location))?;
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
