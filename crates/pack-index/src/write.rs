//! Writing an index file from (hash, location) rows.

use std::io::Write;

use pack_format::PackId;

use crate::{
    bits_for, bucket, cut_prefix, fanout_bits, partition_point, AliasKey, AliasLayout,
    CheckedIndex, EntryRow, EntryWidths, Error, HashPrefix, IndexCounts, IndexEntry, IndexKind,
    PackIndex, ALIAS_KEY_LEN, ENTRY_KEY_LEN, HEADER_LEN, MAGIC, TRAILER_MAGIC, VERSION,
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
    fn as_bytes(&self) -> &[u8] {
        match self {
            ValueBytes::Location(b) => b,
            ValueBytes::Short(b) => b,
        }
    }
}

impl Row for EntryRow {
    fn key(&self) -> &[u8] {
        &self.prefix
    }
    fn value(&self) -> ValueBytes {
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&self.pack.to_le_bytes());
        v[4..].copy_from_slice(&self.entry.to_le_bytes());
        ValueBytes::Short(v)
    }
}

/// An entry row as written: its key's first `key_len` bytes, pack and entry number in the
/// file's [`EntryWidths`].
#[derive(Clone, Copy)]
struct EntryRowAs {
    row: EntryRow,
    widths: EntryWidths,
    key_len: usize,
}

impl Row for EntryRowAs {
    fn key(&self) -> &[u8] {
        &self.row.prefix[..self.key_len]
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Short(self.widths.encode(self.row.pack, self.row.entry))
    }
}

/// Widths other than the kind's, for [`write_rows`]: an alias layout, or an entry index's
/// key length and value widths.
#[derive(Clone, Copy)]
struct Widths {
    key_len: usize,
    value_len: usize,
    entry: Option<EntryWidths>,
}

impl From<AliasLayout> for Widths {
    fn from(l: AliasLayout) -> Self {
        Widths {
            key_len: l.key_len,
            value_len: l.value_len,
            entry: None,
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

impl<R: Row> Row for &R {
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> ValueBytes {
        (**self).value()
    }
}

impl<K: AsRef<[u8]>> Row for (K, HashPrefix) {
    fn key(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Short(self.1)
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
    if !kind.has_locations() {
        return Err(Error::Write(std::io::Error::other(format!(
            "{kind:?} has no location rows: write it with write_alias_index or \
             write_entry_index"
        ))));
    }
    entries.sort_unstable();
    write_rows(
        out,
        kind,
        None,
        packs,
        counts,
        pack_crc32,
        entries.len() as u64,
        || entries.iter(),
    )
}

/// Writes `rows` (key, SHA-256 prefix) as an alias index of `kind` over `packs`, in
/// [`AliasLayout::COMPACT`]: keys cut to their first [`ALIAS_KEY_LEN`] bytes, prefixes to
/// [`ALIAS_VALUE_LEN`](crate::ALIAS_VALUE_LEN), sorted, each row once. Every key must
/// have `kind.key_len()` bytes (16 for MD5, 24 for `sha512t24u`, 8 for accessions).
///
/// # Examples
/// ```
/// use pack_index::{cut_prefix, hash_prefix, write_alias_index, IndexKind, PackIndex, ALIAS_VALUE_LEN};
/// use pack_format::SequenceHash;
/// let h = SequenceHash::of_residues(b"MKV");
/// let rows = vec![([7u8; 16], hash_prefix(&h))];
/// let index = PackIndex::parse(write_alias_index(Vec::new(), IndexKind::Md5, &[0], &rows).unwrap()).unwrap();
/// let found: Vec<_> = index.lookup_alias(&[7; 16]).unwrap().collect();
/// assert_eq!(found, vec![cut_prefix(hash_prefix(&h), ALIAS_VALUE_LEN)]);
/// ```
pub fn write_alias_index<W: Write, K: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    rows: &[(K, HashPrefix)],
) -> Result<W, Error> {
    write_alias_index_with_layout(out, kind, AliasLayout::COMPACT, packs, rows)
}

/// [`write_alias_index`] in another layout: [`AliasLayout::legacy`] writes the files of
/// builds before 2026-12-01 (for tests of what they left behind).
pub fn write_alias_index_with_layout<W: Write, K: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    layout: AliasLayout,
    packs: &[PackId],
    rows: &[(K, HashPrefix)],
) -> Result<W, Error> {
    if !layout.fits(kind) || rows.iter().any(|r| r.0.as_ref().len() != kind.key_len()) {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_alias_index of {kind:?} needs keys of {} bytes and a layout of its kind",
            kind.key_len()
        ))));
    }
    let mut cut: Vec<(Vec<u8>, HashPrefix)> = rows
        .iter()
        .map(|(k, p)| {
            (
                k.as_ref()[..layout.key_len].to_vec(),
                cut_prefix(*p, layout.value_len),
            )
        })
        .collect();
    cut.sort_unstable();
    cut.dedup();
    write_alias_rows(out, kind, layout, packs, cut.len() as u64, || cut.iter())
}

/// [`write_rows`] of an alias index: no counts, no pack CRC.
fn write_alias_rows<W: Write, R: Row, I: Iterator<Item = R>>(
    out: W,
    kind: IndexKind,
    layout: AliasLayout,
    packs: &[PackId],
    count: u64,
    rows: impl Fn() -> I,
) -> Result<W, Error> {
    let counts = IndexCounts::default();
    write_rows(
        out,
        kind,
        Some(layout.into()),
        packs,
        counts,
        None,
        count,
        rows,
    )
}

/// Writes the location index of `kind` over `packs` holding every row of the `old`
/// indexes and the `new` rows: the file [`write_index`] gives for all of them together,
/// without holding the old rows in memory (a commit's cost in memory is its new rows,
/// whatever the size of the store). The old indexes come checked
/// ([`PackIndex::check_buckets`]), so damage is reported instead of copied.
///
/// # Examples
/// ```
/// use pack_format::{PackLocation, SequenceHash};
/// use pack_index::{write_index, write_merged_index, IndexCounts, IndexEntry, IndexKind, PackIndex};
/// let row = |h: u8, pack: u32| IndexEntry {
///     hash: SequenceHash([h; 32]),
///     location: PackLocation { pack, block: 0, offset: 0, length: 9 },
/// };
/// let c = IndexCounts::default();
/// let old = write_index(Vec::new(), IndexKind::Multi, &[1], c, None, &mut [row(5, 1), row(1, 1)]).unwrap();
/// let old = PackIndex::parse(old).unwrap();
/// let checked = old.check_buckets().unwrap();
/// let merged = write_merged_index(Vec::new(), IndexKind::Multi, &[1, 2], c, &[checked], &mut [row(3, 2)]).unwrap();
/// let all = write_index(Vec::new(), IndexKind::Multi, &[1, 2], c, None, &mut [row(5, 1), row(1, 1), row(3, 2)]).unwrap();
/// assert_eq!(merged, all);
/// ```
pub fn write_merged_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, T>],
    new: &mut [IndexEntry],
) -> Result<W, Error> {
    let old: Vec<&PackIndex<T>> = old.iter().map(CheckedIndex::index).collect();
    if !kind.has_locations() || old.iter().any(|ix| !ix.kind().has_locations()) {
        return Err(Error::Write(std::io::Error::other(
            "write_merged_index merges location indexes only",
        )));
    }
    new.sort_unstable();
    let count = new.len() as u64 + old.iter().map(|ix| ix.len()).sum::<u64>();
    let old: Vec<_> = (old.into_iter())
        .map(|index| FileRows::new(index, |ix: &PackIndex<T>, i, _| ix.location_entry(i)))
        .collect();
    let new = SliceRows(new);
    write_rows(out, kind, None, packs, counts, None, count, || {
        let mut sources: Vec<&dyn SortedRows<IndexEntry>> = old
            .iter()
            .map(|s| s as &dyn SortedRows<IndexEntry>)
            .collect();
        sources.push(&new);
        Merge::new(sources, false)
    })
}

/// Sorts `rows` and writes them as an [`IndexKind::Entries`] index over `packs` (v2 packs
/// whose entry tables the rows name), with the packs' totals `counts`.
///
/// # Examples
/// ```
/// use pack_format::SequenceHash;
/// use pack_index::{cut_prefix, hash_prefix, write_entry_index, EntryRow, IndexCounts, PackIndex, ENTRY_KEY_LEN};
/// let h = SequenceHash::of_residues(b"MKV");
/// let row = EntryRow { prefix: hash_prefix(&h), pack: 3, entry: 0 };
/// let bytes = write_entry_index(Vec::new(), &[3], IndexCounts::default(), &mut [row]).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// // The file holds the first ENTRY_KEY_LEN bytes of the prefix.
/// let held = EntryRow { prefix: cut_prefix(row.prefix, ENTRY_KEY_LEN), ..row };
/// assert_eq!(index.lookup_entries(&hash_prefix(&h)).unwrap().collect::<Vec<_>>(), vec![held]);
/// ```
pub fn write_entry_index<W: Write>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    rows: &mut [EntryRow],
) -> Result<W, Error> {
    write_merged_entry_index::<W, &[u8]>(out, packs, counts, None, rows)
}

/// Writes the [`IndexKind::Entries`] index over `packs` holding the rows of `old` (if any)
/// and the `new` rows: the file [`write_entry_index`] gives for all of them, without
/// holding the old rows in memory. The old index comes checked
/// ([`PackIndex::check_buckets`]).
///
/// Keys have [`ENTRY_KEY_LEN`] bytes, or the old index's width when it has rows (8 in
/// files of earlier builds, whose rows are merged as they are, not loaded). Values have
/// the narrowest [`EntryWidths`] that hold every row's pack and entry number: the wider
/// of the old index's stated widths and the new rows' (an old index that states none, as
/// earlier builds wrote them, has its rows read once to see).
pub fn write_merged_entry_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    old: Option<CheckedIndex<'_, T>>,
    new: &mut [EntryRow],
) -> Result<W, Error> {
    let key_len = old
        .map(|c| c.index())
        .filter(|ix| !ix.is_empty())
        .map_or(ENTRY_KEY_LEN, |ix| ix.key_len());
    merge_entry_rows(out, packs, counts, old, new, key_len, None)
}

/// [`write_entry_index`] with keys of `key_len` bytes ([`ENTRY_KEY_LEN`], or 8 as builds
/// before 6-byte keys wrote them) and values of `widths` (`None`: the narrowest, as this
/// version writes them; [`EntryWidths::legacy`] ones as earlier builds wrote them), for
/// tests of what earlier builds left behind.
pub fn write_entry_index_with_layout<W: Write>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    rows: &mut [EntryRow],
    key_len: usize,
    widths: Option<EntryWidths>,
) -> Result<W, Error> {
    if key_len != ENTRY_KEY_LEN && key_len != crate::PREFIX_LEN {
        return Err(Error::Write(std::io::Error::other(format!(
            "entry index keys have {ENTRY_KEY_LEN} or 8 bytes, not {key_len}"
        ))));
    }
    merge_entry_rows::<W, &[u8]>(out, packs, counts, None, rows, key_len, widths)
}

/// The narrowest widths holding pack ids up to the largest covered one and every row's
/// pack and entry number, old and new.
fn entry_widths<T: AsRef<[u8]>>(
    packs: &[PackId],
    old: Option<&PackIndex<T>>,
    new: &[EntryRow],
) -> EntryWidths {
    let max = |a: u8, b: u8| a.max(b);
    let mut pack_bits = packs.iter().map(|&p| bits_for(p)).fold(1, max);
    let mut entry_bits = 1;
    for r in new {
        pack_bits = pack_bits.max(bits_for(r.pack));
        entry_bits = entry_bits.max(bits_for(r.entry));
    }
    if let Some(ix) = old.filter(|ix| !ix.is_empty()) {
        match ix.entry_widths() {
            Some(w) if !w.is_legacy() => {
                pack_bits = pack_bits.max(w.pack_bits);
                entry_bits = entry_bits.max(w.entry_bits);
            }
            // Widths that bound nothing: the rows tell.
            _ => {
                for r in ix.entry_rows(0..ix.len()) {
                    pack_bits = pack_bits.max(bits_for(r.pack));
                    entry_bits = entry_bits.max(bits_for(r.entry));
                }
            }
        }
    }
    EntryWidths::for_bits(pack_bits, entry_bits)
}

fn merge_entry_rows<W: Write, T: AsRef<[u8]>>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    old: Option<CheckedIndex<'_, T>>,
    new: &mut [EntryRow],
    key_len: usize,
    widths: Option<EntryWidths>,
) -> Result<W, Error> {
    let old = old.map(|c| c.index());
    if old.is_some_and(|ix| ix.kind() != IndexKind::Entries) {
        return Err(Error::Write(std::io::Error::other(
            "write_merged_entry_index merges an entry index only",
        )));
    }
    // Cut before sorting: rows that share the kept bytes sort by pack and entry number,
    // as the old file's do.
    for r in new.iter_mut() {
        r.prefix = cut_prefix(r.prefix, key_len);
    }
    new.sort_unstable();
    let count = new.len() as u64 + old.map_or(0, |ix| ix.len());
    let widths = widths.unwrap_or_else(|| entry_widths(packs, old, new));
    if let Some(r) = new.iter().find(|r| !widths.fits(r.pack, r.entry)) {
        return Err(Error::Write(std::io::Error::other(format!(
            "entry row (pack {}, entry {}) does not fit {widths:?}",
            r.pack, r.entry
        ))));
    }
    let old = old.map(|index| FileRows::new(index, PackIndex::entry_row_in));
    let new = SliceRows(new);
    let file_widths = Widths {
        key_len,
        value_len: widths.len,
        entry: Some(widths),
    };
    write_rows(
        out,
        IndexKind::Entries,
        Some(file_widths),
        packs,
        counts,
        None,
        count,
        || {
            let mut sources: Vec<&dyn SortedRows<EntryRow>> = vec![&new];
            if let Some(o) = &old {
                sources.push(o);
            }
            Merge::new(sources, false).map(move |row| EntryRowAs {
                row,
                widths,
                key_len,
            })
        },
    )
}

/// Writes the alias index of `kind` over `packs` holding the rows of `old` (if any) and
/// the `new` rows (keys of [`ALIAS_KEY_LEN`] bytes: whole accession keys, digests' first
/// bytes), each row once, in `layout` ([`ALIAS_KEY_LEN`]-byte keys; SHA-256 prefixes of 4
/// to 8 bytes, [`AliasLayout::for_store`] for a file written from nothing): the file
/// [`write_alias_index_with_layout`] gives for all of them, without holding the old rows
/// in memory. The old index comes checked ([`PackIndex::check_buckets`]) and must be of
/// that layout (rows of another come through [`PackIndex::checked_compact_alias_rows`]
/// into `new`).
pub fn write_merged_alias_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    layout: AliasLayout,
    packs: &[PackId],
    old: Option<CheckedIndex<'_, T>>,
    new: &mut Vec<(AliasKey, HashPrefix)>,
) -> Result<W, Error> {
    let old = old.map(|c| c.index());
    if !layout.fits(kind)
        || layout.key_len != ALIAS_KEY_LEN
        || old.is_some_and(|ix| ix.kind() != kind || ix.alias_layout() != Some(layout))
    {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_merged_alias_index of {kind:?} in {layout:?} needs keys of \
             {ALIAS_KEY_LEN} bytes and an old index of the same kind and layout"
        ))));
    }
    for row in new.iter_mut() {
        row.1 = cut_prefix(row.1, layout.value_len);
    }
    new.sort_unstable();
    new.dedup();
    let old = old.map(|index| FileRows::new(index, PackIndex::alias_row_in::<ALIAS_KEY_LEN>));
    let new = SliceRows(new);
    let rows = || {
        let mut sources: Vec<&dyn SortedRows<(AliasKey, HashPrefix)>> = vec![&new];
        if let Some(o) = &old {
            sources.push(o);
        }
        Merge::new(sources, true)
    };
    let count = rows().count() as u64;
    write_alias_rows(out, kind, layout, packs, count, rows)
}

/// Rows in order, read by position: a slice, or an index file's rows.
trait SortedRows<R> {
    fn count(&self) -> u64;
    fn row(&self, i: u64) -> R;
}

/// Rows in memory.
struct SliceRows<'a, R>(&'a [R]);

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
struct FileRows<'a, T, F> {
    index: &'a PackIndex<T>,
    row: F,
    /// The last bucket read: its rows and slot (rows are mostly read in order).
    bucket: std::cell::Cell<(u64, u64, usize)>,
}

impl<'a, T: AsRef<[u8]>, F> FileRows<'a, T, F> {
    fn new(index: &'a PackIndex<T>, row: F) -> Self {
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
        if self.index.implied_key_bytes() == 0 {
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
struct Merge<'a, R> {
    sources: Vec<&'a dyn SortedRows<R>>,
    pos: Vec<u64>,
    /// The source handing out a run, and where the run ends.
    current: usize,
    run_end: u64,
    dedup: bool,
}

impl<'a, R: Ord + Copy> Merge<'a, R> {
    fn new(sources: Vec<&'a dyn SortedRows<R>>, dedup: bool) -> Self {
        let pos = vec![0; sources.len()];
        Merge {
            sources,
            pos,
            current: 0,
            run_end: 0,
            dedup,
        }
    }

    fn head(&self, s: usize) -> Option<R> {
        (self.pos[s] < self.sources[s].count()).then(|| self.sources[s].row(self.pos[s]))
    }

    /// The first position from `from` in source `s` whose row is not below `bound`.
    fn run_end(&self, s: usize, from: u64, bound: R) -> u64 {
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
fn write_rows<W: Write, R: Row, I: Iterator<Item = R>>(
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
    let bits = fanout_bits(count);
    // The key bytes the fan-out slot implies are not stored (location indexes, the
    // layout of v1 stores, keep theirs whole).
    let implied = if kind.has_locations() {
        0
    } else {
        bits as usize / 8
    };
    let mut w = Crc {
        inner: std::io::BufWriter::with_capacity(1 << 20, out),
        hasher: crc32fast::Hasher::new(),
    };
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(MAGIC);
    header[4] = VERSION;
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
    let mut close =
        |slot: usize, start: u64, end: u64, keys: &mut Vec<u8>, values: &mut Vec<u8>| {
            let mut h = crc32fast::Hasher::new();
            h.update(&start.to_le_bytes());
            h.update(&end.to_le_bytes());
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
        keys.extend_from_slice(&r.key()[implied..]);
        values.extend_from_slice(&r.value().as_bytes()[..value_len]);
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
    for r in rows() {
        w.write_all(&r.key()[implied..])?;
    }
    for r in rows() {
        w.write_all(&r.value().as_bytes()[..value_len])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use pack_format::{PackLocation, SequenceHash};
    use proptest::prelude::*;

    fn entry(h: [u8; 32], pack: u32, offset: u32) -> IndexEntry {
        IndexEntry {
            hash: SequenceHash(h),
            location: PackLocation {
                pack,
                block: offset / 7,
                offset,
                length: 9,
            },
        }
    }

    proptest! {
        #[test]
        fn a_merged_index_is_the_index_of_all_rows(
            olds in proptest::collection::vec(
                proptest::collection::vec((any::<[u8; 32]>(), any::<u32>()), 0..1500), 0..3),
            new in proptest::collection::vec((any::<[u8; 32]>(), any::<u32>()), 0..60),
            shared in 0usize..20,
        ) {
            let c = IndexCounts { sequences: 3, ..IndexCounts::default() };
            let mut all = Vec::new();
            let mut old_files = Vec::new();
            for (p, rows) in olds.iter().enumerate() {
                let mut rows: Vec<IndexEntry> =
                    rows.iter().map(|(h, o)| entry(*h, p as u32, *o)).collect();
                all.extend(rows.iter().copied());
                old_files.push(write_index(Vec::new(), IndexKind::Multi, &[], c, None, &mut rows).unwrap());
            }
            let old: Vec<PackIndex<&[u8]>> =
                old_files.iter().map(|b| PackIndex::parse(&b[..]).unwrap()).collect();
            let old_refs: Vec<CheckedIndex<&[u8]>> = old.iter().map(|ix| ix.check_buckets().unwrap()).collect();
            // Some new rows repeat an old hash elsewhere (a sequence's second entry).
            let mut new: Vec<IndexEntry> = new.iter().map(|(h, o)| entry(*h, 9, *o)).collect();
            for (i, e) in all.iter().take(shared).enumerate() {
                new.push(entry(e.hash.0, 9, i as u32));
            }
            all.extend(new.iter().copied());
            let merged = write_merged_index(Vec::new(), IndexKind::Multi, &[0, 9], c, &old_refs, &mut new).unwrap();
            let whole = write_index(Vec::new(), IndexKind::Multi, &[0, 9], c, None, &mut all).unwrap();
            prop_assert_eq!(merged, whole);
        }

        #[test]
        fn a_merged_alias_index_is_the_index_of_all_rows_once_each(
            old in proptest::collection::vec((0u64..512, any::<u64>()), 0..1500),
            new in proptest::collection::vec((0u64..64, any::<u64>()), 0..300),
            repeated in 0usize..30,
        ) {
            // Keys that differ in the bytes the layout keeps (the first six), prefixes too
            // (the first five).
            let row = |(k, p): (u64, u64)| ((k << 24).to_be_bytes(), ((p % 5) << 32).to_be_bytes());
            let mut old: Vec<([u8; 8], HashPrefix)> = old.into_iter().map(row).collect();
            let mut new: Vec<([u8; 8], HashPrefix)> = new.into_iter().map(row).collect();
            new.extend(old.iter().take(repeated).copied());
            // A session's rows, as the store pushes them: keys cut to the layout's width.
            let cut = |rows: &[([u8; 8], HashPrefix)]| -> Vec<(AliasKey, HashPrefix)> {
                rows.iter().map(|(k, p)| (k[..ALIAS_KEY_LEN].try_into().unwrap(), *p)).collect()
            };
            let mut all: Vec<_> = old.iter().chain(new.iter()).copied().collect();
            let new = cut(&new);
            all.sort_unstable();
            all.dedup();
            old.sort_unstable();
            old.dedup();
            let old_file = write_alias_index(Vec::new(), IndexKind::Accession, &[1], &old).unwrap();
            let old_ix = PackIndex::parse(&old_file[..]).unwrap();
            let compact = AliasLayout::COMPACT;
            let merged = write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], Some(old_ix.check_buckets().unwrap()), &mut new.clone()).unwrap();
            let whole = write_alias_index(Vec::new(), IndexKind::Accession, &[1, 2], &all).unwrap();
            prop_assert_eq!(merged, whole);
            // In 4-byte prefixes (a small store's), merged onto an old index of those.
            let small = AliasLayout { value_len: 4, ..compact };
            let old_small = crate::write_alias_index_with_layout(Vec::new(), IndexKind::Accession, small, &[1], &old).unwrap();
            let old_small = PackIndex::parse(&old_small[..]).unwrap();
            prop_assert!(write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], Some(old_small.check_buckets().unwrap()), &mut new.clone()).is_err(), "layouts differ");
            let merged = write_merged_alias_index(Vec::new(), IndexKind::Accession, small, &[1, 2], Some(old_small.check_buckets().unwrap()), &mut new.clone()).unwrap();
            let whole = crate::write_alias_index_with_layout(Vec::new(), IndexKind::Accession, small, &[1, 2], &all).unwrap();
            prop_assert_eq!(merged, whole);
            // An index of the layout before 2026-12-01 is not merged as it is: its rows
            // come in as new ones.
            let legacy = crate::write_alias_index_with_layout(Vec::new(), IndexKind::Accession, AliasLayout::legacy(IndexKind::Accession), &[1], &old).unwrap();
            let legacy = PackIndex::parse(&legacy[..]).unwrap();
            prop_assert!(write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], Some(legacy.check_buckets().unwrap()), &mut new.clone()).is_err());
            let mut carried = legacy.checked_compact_alias_rows().unwrap();
            carried.extend(new.iter().copied());
            let converted = write_merged_alias_index::<_, &[u8]>(Vec::new(), IndexKind::Accession, compact, &[1, 2], None, &mut carried).unwrap();
            prop_assert_eq!(converted, write_alias_index(Vec::new(), IndexKind::Accession, &[1, 2], &all).unwrap());
        }

        #[test]
        fn a_merged_entry_index_is_the_index_of_all_rows(
            old in proptest::collection::vec((0u64..2048, 0u32..3, any::<u32>()), 0..1500),
            new in proptest::collection::vec((0u64..2048, 3u32..5, any::<u32>()), 0..300),
            with_old in any::<bool>(),
            (old_shift, new_shift) in (0u32..32, 0u32..32),
            legacy_old in any::<bool>(),
        ) {
            // Few distinct prefixes: runs of one prefix over several packs and entries.
            // Entry numbers of any width: each side's are shifted down by a random count.
            // Prefixes that differ in the bytes the file keeps (the first six).
            let row = |shift: u32| move |(p, pack, entry): (u64, u32, u32)| EntryRow {
                prefix: (p << 24).to_be_bytes(),
                pack,
                entry: entry >> shift,
            };
            let mut old: Vec<EntryRow> = if with_old { old.into_iter().map(row(old_shift)).collect() } else { Vec::new() };
            old.sort_unstable();
            old.dedup();
            let mut new: Vec<EntryRow> = new.into_iter().map(row(new_shift)).collect();
            new.sort_unstable();
            new.dedup();
            let mut all: Vec<EntryRow> = old.iter().chain(new.iter()).copied().collect();
            let c = IndexCounts { sequences: 7, representations: 9, residue_bytes: 11, uncompressed_bytes: 13 };
            // The old file as this version writes it, or as earlier builds did (3 bytes
            // each when every number fits, else 4), whose rows are read to see.
            let old_widths = legacy_old.then(|| {
                let fits = old.iter().all(|r| r.entry < crate::NARROW_ENTRY_LIMIT);
                EntryWidths::legacy(if fits { crate::NARROW_ENTRY_VALUE_LEN } else { 8 }).unwrap()
            });
            let old_file = write_entry_index_with_layout(Vec::new(), &[0, 1, 2], c, &mut old, ENTRY_KEY_LEN, old_widths).unwrap();
            let old_ix = PackIndex::parse(&old_file[..]).unwrap();
            old_ix.verify().unwrap();
            prop_assert_eq!(old_ix.entry_widths().unwrap().is_legacy(), legacy_old);
            let old_arg = with_old.then(|| old_ix.check_buckets().unwrap());
            let merged = write_merged_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, old_arg, &mut new).unwrap();
            let whole = write_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, &mut all).unwrap();
            prop_assert_eq!(&merged, &whole);
            let ix = PackIndex::parse(&merged[..]).unwrap();
            ix.verify().unwrap();
            prop_assert_eq!(ix.kind(), IndexKind::Entries);
            // The narrowest values for the largest covered pack and entry number, even
            // when merged from an old index of wider ones.
            let max_entry = all.iter().map(|r| r.entry).max().unwrap_or(0);
            let widths = EntryWidths::for_max(4, max_entry);
            prop_assert_eq!(ix.entry_widths(), Some(widths));
            prop_assert_eq!(widths.len, (3 + (32 - max_entry.leading_zeros()).max(1) as usize).div_ceil(8));
            let n = all.len();
            let fanout = 12usize << fanout_bits(n as u64);
            prop_assert_eq!(merged.len(), HEADER_LEN + 24 + fanout + (ENTRY_KEY_LEN + widths.len) * n + 16);
            prop_assert_eq!(ix.counts(), c);
            // An old index of 8-byte keys (earlier builds) is merged into one of 8-byte
            // keys, the file all rows give with them.
            if with_old && !old.is_empty() {
                let eight = write_entry_index_with_layout(Vec::new(), &[0, 1, 2], c, &mut old.clone(), 8, old_widths).unwrap();
                let eight = PackIndex::parse(&eight[..]).unwrap();
                prop_assert_eq!(eight.key_len(), 8);
                let merged = write_merged_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, Some(eight.check_buckets().unwrap()), &mut new.clone()).unwrap();
                let whole = write_entry_index_with_layout(Vec::new(), &[0, 1, 2, 3, 4], c, &mut all.clone(), 8, None).unwrap();
                prop_assert_eq!(&merged, &whole);
                prop_assert_eq!(PackIndex::parse(&merged[..]).unwrap().key_len(), 8);
            }
            all.sort_unstable();
            prop_assert_eq!((0..ix.len()).map(|i| ix.entry_row(i)).collect::<Vec<_>>(), all.clone());
            // A lookup gives exactly the rows of its prefix, in order.
            for probe in all.iter().map(|r| r.prefix).take(30).chain([[0xee; 8]]) {
                let want: Vec<EntryRow> = all.iter().filter(|r| r.prefix == probe).copied().collect();
                prop_assert_eq!(ix.lookup_entries(&probe).unwrap().collect::<Vec<_>>(), want);
            }
        }

        #[test]
        fn any_header_widths_are_read_or_refused(len in any::<u8>(), pack_bits in any::<u8>(), entry_bits in any::<u8>(), big in any::<usize>()) {
            // Found by the fuzzer: a length past 63 overflowed while the widths of a legacy
            // file were computed for it.
            if let Some(w) = EntryWidths::from_header(len, pack_bits, entry_bits) {
                prop_assert!((1..=8).contains(&w.len));
                prop_assert!(w.pack_bits as usize + w.entry_bits as usize <= 8 * w.len);
            }
            prop_assert_eq!(EntryWidths::legacy(big).is_some(), big == 6 || big == 8);
        }

        #[test]
        fn entry_widths_round_trip(pack in any::<u32>(), entry in any::<u32>(), (pack_shift, entry_shift) in (0u32..32, 0u32..32)) {
            let (pack, entry) = (pack >> pack_shift, entry >> entry_shift);
            let w = EntryWidths::for_max(pack, entry);
            prop_assert!(w.fits(pack, entry));
            let v = w.encode(pack, entry);
            prop_assert_eq!(w.decode(&v[..w.len]), (pack, entry));
            prop_assert!(!w.has_spare_bits(&v[..w.len]));
            prop_assert!(v[w.len..].iter().all(|&b| b == 0), "nothing past the value's bytes");
            prop_assert_eq!(EntryWidths::from_header(w.header()[0], w.header()[1], w.header()[2]), Some(w));
            // One more bit of either does not fit.
            if w.pack_bits < 32 {
                prop_assert!(!w.fits(1 << w.pack_bits, entry));
            }
            if w.entry_bits < 32 {
                prop_assert!(!w.fits(pack, 1 << w.entry_bits));
            }
        }
    }

    #[test]
    fn an_entry_index_is_not_merged_with_other_kinds() {
        let h = SequenceHash::of_residues(b"A");
        let multi = write_index(
            Vec::new(),
            IndexKind::Multi,
            &[1],
            IndexCounts::default(),
            None,
            &mut [IndexEntry {
                hash: h,
                location: pack_format::PackLocation::default(),
            }],
        )
        .unwrap();
        let multi = PackIndex::parse(multi).unwrap();
        let checked = multi.check_buckets().unwrap();
        let mut rows = [EntryRow {
            prefix: crate::hash_prefix(&h),
            pack: 1,
            entry: 0,
        }];
        assert!(write_merged_entry_index(
            Vec::new(),
            &[1],
            IndexCounts::default(),
            Some(checked),
            &mut rows
        )
        .is_err());
        assert!(
            multi.lookup_entries(&crate::hash_prefix(&h)).is_err(),
            "an entry lookup in a multi-pack index"
        );
        let entries = PackIndex::parse(
            write_entry_index(Vec::new(), &[1], IndexCounts::default(), &mut rows).unwrap(),
        )
        .unwrap();
        assert!(
            entries.lookup(&h).is_err(),
            "a SHA-256 lookup in an entry index"
        );
        assert!(entries.lookup_prefix(&h.0[..8]).is_err());
        assert!(entries.checked_entries().is_err());
        assert!(write_merged_index(
            Vec::new(),
            IndexKind::Multi,
            &[1],
            IndexCounts::default(),
            &[entries.check_buckets().unwrap()],
            &mut []
        )
        .is_err());
    }

    #[test]
    fn every_flip_of_an_entry_index_fails_verify_or_lookups_stay_right() {
        let mut rows: Vec<EntryRow> = (0..100u32)
            .map(|i| EntryRow {
                prefix: crate::hash_prefix(&SequenceHash::of_residues(&i.to_le_bytes())),
                pack: 1 + i % 2,
                entry: i,
            })
            .collect();
        let bytes =
            write_entry_index(Vec::new(), &[1, 2], IndexCounts::default(), &mut rows).unwrap();
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let parsed = PackIndex::parse(&bad[..]);
            assert!(
                parsed.as_ref().map_or(true, |i| i.verify().is_err()),
                "flip at byte {at} passed verify"
            );
            if let Ok(index) = parsed {
                for r in &rows {
                    if let Ok(found) = index.lookup_entries(&r.prefix) {
                        assert_eq!(found.collect::<Vec<_>>(), vec![*r], "flip at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn entry_values_take_the_bytes_their_largest_pack_and_entry_need() {
        let c = IndexCounts::default();
        let row = |pack: u32, entry: u32| EntryRow {
            prefix: [9, 9, 9, 9, 9, 9, 0, 0],
            pack,
            entry,
        };
        let widths = |packs: &[u32], rows: &mut [EntryRow]| {
            let file = write_entry_index(Vec::new(), packs, c, rows).unwrap();
            let ix = PackIndex::parse(file).unwrap();
            // verify reports a row naming a pack not covered, as before.
            let covered = rows.iter().all(|r| packs.contains(&r.pack));
            assert_eq!(ix.verify().is_ok(), covered);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(ix.entry_row(i as u64), *r);
            }
            let w = ix.entry_widths().unwrap();
            (w.len, w.pack_bits, w.entry_bits)
        };
        assert_eq!(widths(&[7], &mut [row(7, 5)]), (1, 3, 3));
        // A covered pack past the others widens the values, even with no row in it.
        assert_eq!(widths(&[7, 1 << 24], &mut [row(7, 5)]), (4, 25, 3));
        // protein_all's shape: 4 packs of up to about 200,000 entries, 3 bytes.
        assert_eq!(
            widths(&[1, 4], &mut [row(1, 0), row(4, 199_999)]),
            (3, 3, 18)
        );
        assert_eq!(
            widths(&[u32::MAX], &mut [row(u32::MAX, u32::MAX)]),
            (8, 32, 32)
        );
        // A row naming a pack past the covered ones is written as it is, not cut.
        assert_eq!(widths(&[1], &mut [row(300, 0)]), (2, 9, 1));
    }

    #[test]
    fn entry_indexes_of_earlier_builds_are_read_and_merged_into_the_narrowest_values() {
        let c = IndexCounts::default();
        let rows = |n: u32| -> Vec<EntryRow> {
            (0..n)
                .map(|i| EntryRow {
                    prefix: crate::hash_prefix(&SequenceHash::of_residues(&i.to_le_bytes())),
                    pack: 1 + i % 3,
                    entry: i * 1000,
                })
                .collect()
        };
        for len in [crate::NARROW_ENTRY_VALUE_LEN, 8] {
            let legacy = EntryWidths::legacy(len).unwrap();
            let mut old = rows(50);
            let file = write_entry_index_with_layout(
                Vec::new(),
                &[1, 2, 3],
                c,
                &mut old,
                crate::PREFIX_LEN,
                Some(legacy),
            )
            .unwrap();
            // What those builds wrote: byte 60 the value length (0 for 8), 61..64 zero.
            assert_eq!(
                file[60..64],
                [if len == 8 { 0 } else { len as u8 }, 0, 0, 0]
            );
            let ix = PackIndex::parse(&file[..]).unwrap();
            ix.verify().unwrap();
            assert_eq!(ix.entry_widths(), Some(legacy));
            let mut sorted = old.clone();
            sorted.sort_unstable();
            assert_eq!(
                (0..ix.len()).map(|i| ix.entry_row(i)).collect::<Vec<_>>(),
                sorted
            );
            let merged = write_merged_entry_index(
                Vec::new(),
                &[1, 2, 3],
                c,
                Some(ix.check_buckets().unwrap()),
                &mut [],
            )
            .unwrap();
            let merged = PackIndex::parse(merged).unwrap();
            // Pack 3: 2 bits; entry 49,000: 16 bits.
            assert_eq!(merged.entry_widths(), Some(EntryWidths::for_bits(2, 16)));
            assert_eq!(
                (0..merged.len())
                    .map(|i| merged.entry_row(i))
                    .collect::<Vec<_>>(),
                sorted
            );
        }
        // Stated widths that do not add up are refused at open.
        let mut file = write_entry_index(Vec::new(), &[1, 2, 3], c, &mut rows(5)).unwrap();
        file[62] += 8;
        assert!(PackIndex::parse(&file[..]).is_err());
    }

    /// `n` entry rows of distinct sequences (every 7th with a second row in another pack)
    /// and `n` MD5 alias rows, both of SHA-256s of `salt` and a counter.
    fn many_rows(n: u32, salt: u32) -> (Vec<EntryRow>, Vec<([u8; 16], HashPrefix)>) {
        let hash =
            |i: u32| SequenceHash::of_residues(&[salt.to_le_bytes(), i.to_le_bytes()].concat());
        let mut entries = Vec::new();
        let mut aliases = Vec::new();
        for i in 0..n {
            let h = hash(i);
            entries.push(EntryRow {
                prefix: crate::hash_prefix(&h),
                pack: 1 + i % 3,
                entry: i,
            });
            if i % 7 == 0 {
                entries.push(EntryRow {
                    prefix: crate::hash_prefix(&h),
                    pack: 4,
                    entry: i / 7,
                });
            }
            let md5 = hash(i ^ 0x8000_0000).0;
            aliases.push((md5[..16].try_into().unwrap(), crate::hash_prefix(&h)));
        }
        (entries, aliases)
    }

    #[test]
    fn keys_leave_the_bytes_their_fan_out_slot_implies() {
        let c = IndexCounts::default();
        let packs = [1, 2, 3, 4];
        // 10,000 sequences (11,429 rows): 9 fan-out bits, 1 implied byte; 1.05 million
        // (1.2 million rows): 16 bits, 2 bytes.
        for (n, implied) in [(10_000u32, 1usize), (1_050_000, 2)] {
            let (mut old, old_aliases) = many_rows(n, 1);
            let (mut new, new_aliases) = many_rows(n / 10, 2);
            let mut all: Vec<EntryRow> = old.iter().chain(&new).copied().collect();
            let file = write_entry_index(Vec::new(), &packs, c, &mut old).unwrap();
            let ix = PackIndex::parse(&file[..]).unwrap();
            assert_eq!(ix.implied_key_bytes(), implied, "{n} rows");
            ix.verify().unwrap();
            let w = ix.entry_widths().unwrap();
            let fixed =
                HEADER_LEN + 4 * packs.len() + (12usize << fanout_bits(old.len() as u64)) + 16;
            assert_eq!(
                file.len(),
                fixed + (ENTRY_KEY_LEN - implied + w.len) * old.len()
            );
            // Every row reads back whole, and a lookup of its prefix finds it.
            old.sort_unstable();
            let held = |r: &EntryRow| EntryRow {
                prefix: cut_prefix(r.prefix, ENTRY_KEY_LEN),
                ..*r
            };
            for (i, r) in old.iter().enumerate() {
                assert_eq!(ix.entry_row(i as u64), held(r));
            }
            for r in old.iter().step_by(97) {
                let found: Vec<EntryRow> = ix.lookup_entries(&r.prefix).unwrap().collect();
                assert!(found.contains(&held(r)), "{r:?}");
                assert!(found
                    .iter()
                    .all(|f| f.prefix[..ENTRY_KEY_LEN] == r.prefix[..ENTRY_KEY_LEN]));
            }
            let mut runs = 0;
            ix.for_each_run(|rows| {
                let key = ix.entry_row(rows.start).prefix;
                assert!(rows.clone().all(|i| ix.entry_row(i).prefix == key));
                runs += 1;
                Ok::<(), Error>(())
            })
            .unwrap();
            assert_eq!(runs, n as usize, "one run per sequence");
            // A merge reads the old rows whole: the file all rows give.
            let merged = write_merged_entry_index(
                Vec::new(),
                &packs,
                c,
                Some(ix.check_buckets().unwrap()),
                &mut new,
            )
            .unwrap();
            assert_eq!(
                merged,
                write_entry_index(Vec::new(), &packs, c, &mut all).unwrap()
            );

            // Alias rows alike.
            let all_aliases: Vec<_> = old_aliases.iter().chain(&new_aliases).copied().collect();
            let file = write_alias_index(Vec::new(), IndexKind::Md5, &packs, &old_aliases).unwrap();
            let ax = PackIndex::parse(&file[..]).unwrap();
            ax.verify().unwrap();
            let bits = fanout_bits(old_aliases.len() as u64);
            assert!(bits >= 8);
            assert_eq!(ax.implied_key_bytes(), bits as usize / 8, "{n} alias rows");
            let compact = |rows: &[([u8; 16], HashPrefix)]| -> Vec<(AliasKey, HashPrefix)> {
                let mut v: Vec<(AliasKey, HashPrefix)> = rows
                    .iter()
                    .map(|(k, p)| {
                        (
                            k[..ALIAS_KEY_LEN].try_into().unwrap(),
                            cut_prefix(*p, crate::ALIAS_VALUE_LEN),
                        )
                    })
                    .collect();
                v.sort_unstable();
                v
            };
            assert_eq!(
                ax.checked_compact_alias_rows().unwrap(),
                compact(&old_aliases)
            );
            for (k, p) in old_aliases.iter().step_by(101) {
                let want = cut_prefix(*p, crate::ALIAS_VALUE_LEN);
                assert!(ax.lookup_alias(k).unwrap().any(|f| f == want));
            }
            let merged = write_merged_alias_index(
                Vec::new(),
                IndexKind::Md5,
                AliasLayout::COMPACT,
                &packs,
                Some(ax.check_buckets().unwrap()),
                &mut compact(&new_aliases),
            )
            .unwrap();
            assert_eq!(
                merged,
                write_alias_index(Vec::new(), IndexKind::Md5, &packs, &all_aliases).unwrap()
            );
        }
    }

    #[test]
    fn damage_to_a_key_that_leaves_bytes_to_its_slot_is_found() {
        let (mut rows, _) = many_rows(10_000, 3);
        let file = write_entry_index(Vec::new(), &[1, 2, 3, 4], IndexCounts::default(), &mut rows)
            .unwrap();
        assert_eq!(PackIndex::parse(&file[..]).unwrap().implied_key_bytes(), 1);
        // Flips spread over the file (every byte would take too long): each fails verify,
        // and lookups give the right rows or an error.
        let mut sorted = rows.clone();
        sorted.sort_unstable();
        for at in (0..file.len()).step_by(37) {
            let mut bad = file.clone();
            bad[at] ^= 0x04;
            let parsed = PackIndex::parse(&bad[..]);
            assert!(
                parsed.as_ref().map_or(true, |i| i.verify().is_err()),
                "flip at byte {at} passed verify"
            );
            if let Ok(index) = parsed {
                for r in sorted.iter().step_by(211) {
                    if let Ok(found) = index.lookup_entries(&r.prefix) {
                        let found: Vec<EntryRow> = found.collect();
                        let held = EntryRow {
                            prefix: cut_prefix(r.prefix, ENTRY_KEY_LEN),
                            ..*r
                        };
                        assert!(found.contains(&held), "flip at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_value_with_bits_above_its_widths_fails_verify() {
        let c = IndexCounts::default();
        let mut rows = [EntryRow {
            prefix: [1; 8],
            pack: 1,
            entry: 2,
        }];
        let mut file = write_entry_index(Vec::new(), &[1], c, &mut rows).unwrap();
        let ix = PackIndex::parse(&file[..]).unwrap();
        assert_eq!(ix.entry_widths(), Some(EntryWidths::for_bits(1, 2)));
        // The one row's value byte: pack 1 | entry 2 << 1 = 0b101; set bit 7 and mend the
        // bucket's and the file's CRCs so that only the value check can see it.
        let at = file.len() - 16 - 1;
        assert_eq!(file[at], 0b101);
        file[at] |= 0x80;
        let bits = file[7];
        let fanout_at = HEADER_LEN + 8;
        let slots = 1usize << bits;
        let crcs_at = fanout_at + 8 * slots;
        let slot = bucket(&[1; 8], bits);
        let mut h = crc32fast::Hasher::new();
        h.update(&0u64.to_le_bytes());
        h.update(&1u64.to_le_bytes());
        h.update(&[1; ENTRY_KEY_LEN]);
        h.update(&file[at..at + 1]);
        file[crcs_at + 4 * slot..crcs_at + 4 * slot + 4]
            .copy_from_slice(&h.finalize().to_le_bytes());
        let body = file.len() - 16;
        let crc = crc32fast::hash(&file[..body]);
        file[body..body + 4].copy_from_slice(&crc.to_le_bytes());
        let ix = PackIndex::parse(&file[..]).unwrap();
        let err = ix.verify().unwrap_err().to_string();
        assert!(err.contains("above its widths"), "{err}");
        assert_eq!(
            ix.entry_row(0),
            rows[0],
            "the bits within the widths read as written"
        );
    }

    #[test]
    fn rows_out_of_key_order_are_refused() {
        let rows = [entry([2; 32], 1, 0), entry([1; 32], 1, 9)];
        let err = write_rows(
            Vec::new(),
            IndexKind::Multi,
            None,
            &[1],
            IndexCounts::default(),
            None,
            2,
            || rows.iter(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("out of key order"), "{err}");
    }

    #[test]
    fn damage_in_the_old_index_is_reported_not_copied() {
        let c = IndexCounts::default();
        let mut rows: Vec<IndexEntry> = (0..500u32)
            .map(|i| entry(SequenceHash::of_residues(&i.to_le_bytes()).0, 1, i))
            .collect();
        let mut bytes =
            write_index(Vec::new(), IndexKind::Multi, &[1], c, None, &mut rows).unwrap();
        // A byte of the locations section: only that bucket's CRC sees it.
        let at = bytes.len() - 16 - 8 * 16 + 5;
        bytes[at] ^= 4;
        // The merge takes only checked indexes: a damaged one never gets that far.
        let old = PackIndex::parse(&bytes[..]).unwrap();
        let err = old.check_buckets().unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let alias = vec![([1u8; 8], [2u8; 8]), ([3u8; 8], [4u8; 8])];
        let mut bytes = write_alias_index(Vec::new(), IndexKind::Accession, &[1], &alias).unwrap();
        let at = bytes.len() - 16 - 3;
        bytes[at] ^= 1;
        let old = PackIndex::parse(&bytes[..]).unwrap();
        let err = old.check_buckets().unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
