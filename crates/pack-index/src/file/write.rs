//! Writing the shared layout: rows in key order into buckets behind a fan-out, every
//! section under its CRC; merging sorted sources of rows.

use std::io::Write;

use pack_format::PackId;

use crate::file::Packed;
use crate::{
    bucket, fanout_bits_for, partition_point, EntryWidths, Error, IndexCounts, IndexKind,
    PackIndex, HEADER_LEN, MAGIC, PACKED_VERSION, TRAILER_MAGIC, VERSION,
};

/// A row of an index file: a key and a fixed-size value.
pub(crate) trait Row {
    fn key(&self) -> &[u8];
    fn value(&self) -> ValueBytes;
}

/// A value as written: a location row (16 bytes), or 8 bytes (a SHA-256 prefix, or a pack
/// id and entry number).
pub(crate) enum ValueBytes {
    Location([u8; 16]),
    Short([u8; 8]),
}

impl ValueBytes {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            ValueBytes::Location(b) => b,
            ValueBytes::Short(b) => b,
        }
    }
}

impl<R: Row> Row for &R {
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> ValueBytes {
        (**self).value()
    }
}

/// Forwards writes and keeps a CRC-32 of everything written.
pub(crate) struct Crc<W> {
    pub(crate) inner: W,
    pub(crate) hasher: crc32fast::Hasher,
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

/// Rows in order, read by position: a slice, or an index file's rows.
pub(crate) trait SortedRows<R> {
    fn count(&self) -> u64;
    fn row(&self, i: u64) -> R;
}

/// Rows in memory.
pub(crate) struct SliceRows<'a, R>(pub(crate) &'a [R]);

impl<R: Copy> SortedRows<R> for SliceRows<'_, R> {
    fn count(&self) -> u64 {
        self.0.len() as u64
    }
    fn row(&self, i: u64) -> R {
        self.0[i as usize]
    }
}

/// The rows of an index file, read with `row(index, i, slot)` (a location, entry or alias
/// row; `slot` the row's fan-out slot, which holds its key's first bytes).
pub(crate) struct FileRows<'a, T, F> {
    pub(crate) index: &'a PackIndex<T>,
    pub(crate) row: F,
    /// The last bucket read: its rows and slot (rows are mostly read in order).
    pub(crate) bucket: std::cell::Cell<(u64, u64, usize)>,
}

impl<'a, T: AsRef<[u8]>, F> FileRows<'a, T, F> {
    pub(crate) fn new(index: &'a PackIndex<T>, row: F) -> Self {
        FileRows {
            index,
            row,
            bucket: std::cell::Cell::new((0, 0, 0)),
        }
    }
}

impl<T: AsRef<[u8]>, R, F: Fn(&PackIndex<T>, u64, usize) -> R> SortedRows<R>
    for FileRows<'_, T, F>
{
    fn count(&self) -> u64 {
        self.index.len()
    }
    fn row(&self, i: u64) -> R {
        if !self.index.needs_slot() {
            // Keys stored whole: no slot needed.
            return (self.row)(self.index, i, 0);
        }
        let (start, end, mut slot) = self.bucket.get();
        if !(start..end).contains(&i) {
            slot = self.index.slot_of(i);
            let (start, end) = self.index.slot_rows(slot);
            self.bucket.set((start, end, slot));
        }
        (self.row)(self.index, i, slot)
    }
}

/// Sorted sources merged into one sorted stream (rows equal across sources once each with
/// `dedup`; each source holds a row once). The source with the lowest row hands out a run
/// of rows below every other source's next one, its end found by galloping: a commit's
/// few new rows among millions of old ones cost a few comparisons each, not one per row.
pub(crate) struct Merge<'a, R> {
    pub(crate) sources: Vec<&'a dyn SortedRows<R>>,
    pub(crate) pos: Vec<u64>,
    /// The source handing out a run, and where the run ends.
    pub(crate) current: usize,
    pub(crate) run_end: u64,
    pub(crate) dedup: bool,
}

impl<'a, R: Ord + Copy> Merge<'a, R> {
    pub(crate) fn new(sources: Vec<&'a dyn SortedRows<R>>, dedup: bool) -> Self {
        let pos = vec![0; sources.len()];
        Merge {
            sources,
            pos,
            current: 0,
            run_end: 0,
            dedup,
        }
    }

    pub(crate) fn head(&self, s: usize) -> Option<R> {
        (self.pos[s] < self.sources[s].count()).then(|| self.sources[s].row(self.pos[s]))
    }

    /// The first position from `from` in source `s` whose row is not below `bound`.
    pub(crate) fn run_end(&self, s: usize, from: u64, bound: R) -> u64 {
        let src = self.sources[s];
        let n = src.count();
        // Gallop: rows before `lo` are known to be below `bound`.
        let (mut lo, mut step) = (from, 1u64);
        while lo < n && src.row(lo) < bound {
            let next = lo + step;
            if next >= n || src.row(next) >= bound {
                return partition_point(lo + 1, next.min(n), |i| src.row(i) < bound);
            }
            lo = next;
            step *= 2;
        }
        lo
    }
}

impl<R: Ord + Copy> Iterator for Merge<'_, R> {
    type Item = R;
    fn next(&mut self) -> Option<R> {
        let c = self.current;
        if self.pos[c] < self.run_end {
            let r = self.sources[c].row(self.pos[c]);
            self.pos[c] += 1;
            return Some(r);
        }
        let mut best: Option<(usize, R)> = None;
        for s in 0..self.sources.len() {
            if let Some(r) = self.head(s) {
                if best.is_none_or(|(_, b)| r < b) {
                    best = Some((s, r));
                }
            }
        }
        let (s, r) = best?;
        self.pos[s] += 1;
        if self.dedup {
            for o in 0..self.sources.len() {
                if o != s && self.head(o) == Some(r) {
                    self.pos[o] += 1;
                }
            }
        }
        let bound = (0..self.sources.len())
            .filter(|&o| o != s)
            .filter_map(|o| self.head(o))
            .min();
        self.current = s;
        self.run_end = match bound {
            None => self.sources[s].count(),
            Some(b) => self.run_end(s, self.pos[s], b),
        };
        Some(r)
    }
}

/// Writes `count` sorted rows, which `rows()` yields afresh for each of three passes
/// (bucket bounds and CRCs, keys, values): only one bucket is held at a time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_rows<W: Write, R: Row, I: Iterator<Item = R>>(
    out: W,
    kind: IndexKind,
    widths: Option<Widths>,
    packs: &[PackId],
    counts: IndexCounts,
    pack_crc32: Option<u32>,
    count: u64,
    rows: impl Fn() -> I,
) -> Result<W, Error> {
    // Widths other than the kind's: alias layouts, entry rows.
    let (key_len, value_len) = match widths {
        Some(l) => (l.key_len, l.value_len),
        None => (kind.key_len(), kind.value_len()),
    };
    // Packed rows: each row one integer of the key's bits past the fan-out's and the
    // value's bits.
    let value_bits = match widths.and_then(|w| w.entry) {
        Some(e) => e.pack_bits as u32 + e.entry_bits as u32,
        None => 8 * value_len as u32,
    };
    let is_packed = widths.is_some_and(|w| w.packed);
    // The fan-out width that makes the file smallest (rows leave out what it implies).
    let bits = fanout_bits_for(count, |b| match () {
        _ if is_packed => (8 * key_len as u64 + value_bits as u64)
            .saturating_sub(b as u64)
            .div_ceil(8),
        _ if kind.has_locations() => (key_len + value_len) as u64,
        _ => (key_len - (b as usize / 8).min(key_len) + value_len) as u64,
    });
    let packed = match widths {
        Some(w) if w.packed => Some(Packed::new(key_len, bits, value_bits).ok_or_else(|| {
            Error::Write(std::io::Error::other(format!(
                "rows of {key_len}-byte keys and {value_bits}-bit values cannot be packed"
            )))
        })?),
        _ => None,
    };
    // The key bytes the fan-out slot implies are not stored (location indexes, the
    // layout of v1 stores, keep theirs whole; packed rows leave out its bits).
    let implied = if kind.has_locations() || packed.is_some() {
        0
    } else {
        bits as usize / 8
    };
    // A row as a packed file holds it.
    let packed_row = |p: Packed, r: &R| -> [u8; 16] {
        let mut k = [0u8; 8];
        k[8 - key_len..].copy_from_slice(r.key());
        let value = r.value();
        let v = match widths.and_then(|w| w.entry) {
            // Pack id above the entry number: rows sort by (pack, entry) as integers.
            Some(e) => {
                let (pack, entry) = e.decode(&value.as_bytes()[..e.len]);
                ((pack as u64) << e.entry_bits) | entry as u64
            }
            None => {
                let mut b = [0u8; 8];
                b[8 - value_len..].copy_from_slice(&value.as_bytes()[..value_len]);
                u64::from_be_bytes(b)
            }
        };
        p.pack(u64::from_be_bytes(k), v).to_le_bytes()
    };
    let mut w = Crc {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        hasher: crc32fast::Hasher::new(),
    };
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = if packed.is_some() {
        PACKED_VERSION
    } else {
        VERSION
    };
    header[5] = kind as u8;
    header[6] = key_len as u8;
    header[7] = bits;
    header[8..16].copy_from_slice(&count.to_le_bytes());
    header[16..20].copy_from_slice(&(packs.len() as u32).to_le_bytes());
    header[20] = implied as u8;
    header[24..32].copy_from_slice(&counts.sequences.to_le_bytes());
    header[32..40].copy_from_slice(&counts.representations.to_le_bytes());
    header[40..48].copy_from_slice(&counts.residue_bytes.to_le_bytes());
    header[48..56].copy_from_slice(&counts.uncompressed_bytes.to_le_bytes());
    header[56..60].copy_from_slice(&pack_crc32.unwrap_or(0).to_le_bytes());
    if let Some(entry) = widths.and_then(|w| w.entry) {
        header[60..63].copy_from_slice(&entry.header());
    } else if kind.states_value_len() && value_len != kind.value_len() {
        header[60] = value_len as u8;
    }
    w.write_all(&header)?;
    for p in packs {
        w.write_all(&p.to_le_bytes())?;
    }
    if packs.len() % 2 == 1 {
        w.write_all(&[0; 4])?;
    }
    // Fan-out and one CRC per bucket over its bounds, keys and values (a lookup checks
    // what it reads), from one bucket's bytes at a time.
    let slots = 1usize << bits;
    let mut fanout = vec![0u64; slots];
    let mut crcs = vec![0u32; slots];
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    let (mut slot, mut start, mut seen) = (0usize, 0u64, 0u64);
    // Packed buckets' CRCs cover what decodes their values too: the value widths (header
    // bytes 60..64) and the first covered pack id.
    let decoding: Option<[u8; 8]> = packed.map(|_| {
        let mut d = [0u8; 8];
        d[..4].copy_from_slice(&header[60..64]);
        d[4..].copy_from_slice(&packs.first().copied().unwrap_or(0).to_le_bytes());
        d
    });
    let mut close =
        |slot: usize, start: u64, end: u64, keys: &mut Vec<u8>, values: &mut Vec<u8>| {
            let mut h = crc32fast::Hasher::new();
            h.update(&start.to_le_bytes());
            h.update(&end.to_le_bytes());
            if let Some(d) = &decoding {
                h.update(d);
            }
            h.update(keys);
            h.update(values);
            fanout[slot] = end;
            crcs[slot] = h.finalize();
            keys.clear();
            values.clear();
        };
    let mut previous: Option<Vec<u8>> = None;
    for r in rows() {
        // The rows come from sorted sources (an old index is only checked bucket by
        // bucket): a key out of order is refused, not written into a wrong bucket.
        match &mut previous {
            Some(p) if r.key() < p.as_slice() => {
                return Err(Error::Corrupt {
                    offset: 0,
                    message: format!("row {seen} to write is out of key order"),
                });
            }
            Some(p) => {
                p.clear();
                p.extend_from_slice(r.key());
            }
            None => previous = Some(r.key().to_vec()),
        }
        let b = bucket(r.key(), bits);
        while slot < b {
            close(slot, start, seen, &mut keys, &mut values);
            start = seen;
            slot += 1;
        }
        if r.key().len() != key_len {
            return Err(Error::Write(std::io::Error::other(format!(
                "row {seen} to write has a key of {} bytes, not {key_len}",
                r.key().len()
            ))));
        }
        match packed {
            Some(p) => keys.extend_from_slice(&packed_row(p, &r)[..p.row_len]),
            None => {
                keys.extend_from_slice(&r.key()[implied..]);
                values.extend_from_slice(&r.value().as_bytes()[..value_len]);
            }
        }
        seen += 1;
    }
    if seen != count {
        return Err(Error::Write(std::io::Error::other(format!(
            "{seen} rows to write, {count} announced"
        ))));
    }
    while slot < slots {
        close(slot, start, seen, &mut keys, &mut values);
        start = seen;
        slot += 1;
    }
    for total in &fanout {
        w.write_all(&total.to_le_bytes())?;
    }
    for crc in &crcs {
        w.write_all(&crc.to_le_bytes())?;
    }
    if let Some(p) = packed {
        for r in rows() {
            w.write_all(&packed_row(p, &r)[..p.row_len])?;
        }
    } else {
        for r in rows() {
            w.write_all(&r.key()[implied..])?;
        }
        for r in rows() {
            w.write_all(&r.value().as_bytes()[..value_len])?;
        }
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

/// Widths other than the kind's, for [`write_rows`]: an alias layout, or an entry index's
/// key length and value widths.
#[derive(Clone, Copy)]
pub(crate) struct Widths {
    pub(crate) key_len: usize,
    pub(crate) value_len: usize,
    pub(crate) entry: Option<EntryWidths>,
    /// Rows packed (layout version 2), or keys and values in sections of whole bytes.
    pub(crate) packed: bool,
}
