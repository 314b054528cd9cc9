//! Writing entry indexes (kind 6), new or merged with an old one, in the narrowest values
//! that hold their pack ids and entry numbers.

use std::io::Write;

use pack_format::PackId;

use crate::entry::access::EntryIndex;
use crate::file::write::{
    write_rows, FileRows, Merge, Row, SliceRows, SortedRows, ValueBytes, Widths,
};
use crate::{
    bits_for, cut_prefix, CheckedIndex, EntryLayout, EntryRow, EntryWidths, Error, IndexCounts,
    IndexKind, PackIndex, ENTRY_KEY_LEN,
};

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
pub(crate) struct EntryRowAs {
    pub(crate) row: EntryRow,
    pub(crate) widths: EntryWidths,
    pub(crate) key_len: usize,
    /// Subtracted from the pack id ([`pack_base`]).
    pub(crate) base: PackId,
}

impl Row for EntryRowAs {
    fn key(&self) -> &[u8] {
        &self.row.prefix[..self.key_len]
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Short(
            (self.widths).encode(self.row.pack.wrapping_sub(self.base), self.row.entry),
        )
    }
}

/// Sorts `rows` and writes them as an [`IndexKind::Entries`] index over `packs` (v2 packs
/// whose entry tables the rows name), with the packs' totals `counts`, in `layout`
/// ([`EntryLayout::CURRENT`], or the keys and values of earlier builds for tests of what
/// they left behind).
///
/// # Examples
/// ```
/// use pack_format::SequenceHash;
/// use pack_index::{cut_prefix, hash_prefix, write_entry_index, EntryLayout, EntryRow, IndexCounts, PackIndex, ENTRY_KEY_LEN};
/// let h = SequenceHash::of_residues(b"MKV");
/// let row = EntryRow { prefix: hash_prefix(&h), pack: 3, entry: 0 };
/// let bytes = write_entry_index(Vec::new(), &[3], IndexCounts::default(), EntryLayout::CURRENT, &mut [row]).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// // The file holds the first ENTRY_KEY_LEN bytes of the prefix.
/// let held = EntryRow { prefix: cut_prefix(row.prefix, ENTRY_KEY_LEN), ..row };
/// assert_eq!(index.as_entries().unwrap().lookup(&hash_prefix(&h)).unwrap().collect::<Vec<_>>(), vec![held]);
/// ```
pub fn write_entry_index<W: Write>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    layout: EntryLayout,
    rows: &mut [EntryRow],
) -> Result<W, Error> {
    let EntryLayout { key_len, widths } = layout;
    if key_len != ENTRY_KEY_LEN && key_len != crate::PREFIX_LEN {
        return Err(Error::Write(std::io::Error::other(format!(
            "entry index keys have {ENTRY_KEY_LEN} or 8 bytes, not {key_len}"
        ))));
    }
    merge_entry_rows::<W, &[u8]>(
        out,
        IndexKind::Entries,
        packs,
        counts,
        &[],
        rows,
        key_len,
        widths,
    )
}

/// Writes an [`IndexKind::Entries`] index over `packs` of the `count` rows `rows` hands out
/// in key order (it is called three times, each time from the first row), in `widths`: the
/// file [`write_entry_index`] gives for them, without holding them in memory (rows merged
/// from sorted runs, or generated). A row out of order or that does not fit `widths`, or
/// another number of rows than `count`, is an error.
///
/// # Examples
/// ```
/// use pack_index::{write_sorted_entry_index, EntryRow, EntryWidths, IndexCounts, PackIndex};
/// let row = |i: u64| EntryRow { prefix: (i << 40).to_be_bytes(), pack: 0, entry: i as u32 };
/// let widths = EntryWidths::for_max(0, 999);
/// let bytes = write_sorted_entry_index(Vec::new(), &[0], IndexCounts::default(), widths, 1000, || (0..1000).map(row)).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// assert_eq!(index.len(), 1000);
/// assert_eq!(index.as_entries().unwrap().lookup(&row(7).prefix).unwrap().next(), Some(row(7)));
/// ```
pub fn write_sorted_entry_index<W: Write, I: Iterator<Item = EntryRow>>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    widths: EntryWidths,
    count: u64,
    rows: impl Fn() -> I,
) -> Result<W, Error> {
    write_entry_rows(
        out,
        IndexKind::Entries,
        packs,
        counts,
        ENTRY_KEY_LEN,
        widths,
        count,
        rows,
    )
}

/// A row whose pack or entry number `widths` cannot hold.
fn misfit_error(r: &EntryRow, widths: EntryWidths) -> Error {
    Error::Write(std::io::Error::other(format!(
        "entry row (pack {}, entry {}) does not fit {widths:?}",
        r.pack, r.entry
    )))
}

/// Whether entry rows of `kind` in keys of `key_len` bytes and `widths` are written
/// packed (layout version 2): those this version writes, not the widths of earlier builds.
fn packs_rows(kind: IndexKind, key_len: usize, widths: Option<EntryWidths>) -> bool {
    (kind.is_alias() || key_len == ENTRY_KEY_LEN) && !widths.is_some_and(|w| w.is_legacy())
}

/// The pack id that packed rows hold pack ids as offsets from: the smallest covered one
/// (`packs` ascend), so that a layer over packs 3 and 4 spends one bit on them.
pub(crate) fn pack_base(packed: bool, packs: &[PackId]) -> PackId {
    if packed {
        packs.first().copied().unwrap_or(0)
    } else {
        0
    }
}

/// [`write_rows`] of an entry index (or of an alias index of `kind` whose rows name
/// entries): `rows` in keys of `key_len` bytes and values in `widths` (packed rows: pack
/// ids as offsets from [`pack_base`]), no pack CRC. A row that does not fit is an error.
#[allow(clippy::too_many_arguments)]
fn write_entry_rows<W: Write, I: Iterator<Item = EntryRow>>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    counts: IndexCounts,
    key_len: usize,
    widths: EntryWidths,
    count: u64,
    rows: impl Fn() -> I,
) -> Result<W, Error> {
    let packed = packs_rows(kind, key_len, Some(widths));
    let base = pack_base(packed, packs);
    let file_widths = Widths {
        key_len,
        value_len: widths.len,
        entry: Some(widths),
        packed,
    };
    let misfit = std::cell::Cell::new(None);
    let out = write_rows(
        out,
        kind,
        Some(file_widths),
        packs,
        counts,
        None,
        count,
        || {
            rows().map(|row| {
                if row.pack < base || !widths.fits(row.pack - base, row.entry) {
                    misfit.set(Some(row));
                }
                EntryRowAs {
                    row,
                    widths,
                    key_len,
                    base,
                }
            })
        },
    )?;
    match misfit.get() {
        Some(r) => Err(misfit_error(&r, widths)),
        None => Ok(out),
    }
}

/// Writes the [`IndexKind::Entries`] index over `packs` holding the rows of the `old`
/// indexes and the `new` rows: the file [`write_entry_index`] gives for all of them,
/// without holding the old rows in memory. The old indexes come checked
/// ([`PackIndex::check_buckets`]); each holds rows of packs the others do not.
///
/// Keys have [`ENTRY_KEY_LEN`] bytes, or the old indexes' width when they have rows (8 in
/// files of earlier builds, whose rows are merged as they are, not loaded); old indexes
/// with rows of two widths are an error (read the rows of one into `new`). Values have
/// the narrowest [`EntryWidths`] that hold every row's pack and entry number: the widest
/// of the old indexes' stated widths and the new rows' (an old index that states none, as
/// earlier builds wrote them, has its rows read once to see).
pub fn write_merged_entry_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, T>],
    new: &mut [EntryRow],
) -> Result<W, Error> {
    let mut lens = (old.iter().map(|c| c.index()))
        .filter(|ix| !ix.is_empty())
        .map(|ix| ix.key_len());
    let key_len = lens.next().unwrap_or(ENTRY_KEY_LEN);
    if lens.any(|l| l != key_len) {
        return Err(Error::Write(std::io::Error::other(
            "write_merged_entry_index merges entry indexes of one key length",
        )));
    }
    merge_entry_rows(
        out,
        IndexKind::Entries,
        packs,
        counts,
        old,
        new,
        key_len,
        None,
    )
}

/// The narrowest widths holding pack ids from `base` up to the largest covered one (as
/// offsets from `base`: the smallest covered id in packed files, 0 in version 1) and
/// every row's pack and entry number, old and new.
pub(crate) fn entry_widths<T: AsRef<[u8]>>(
    packs: &[PackId],
    base: PackId,
    old: &[CheckedIndex<'_, T>],
    new: &[EntryRow],
) -> EntryWidths {
    let mut max_pack = packs.iter().copied().max().unwrap_or(0);
    let mut entry_bits = 1;
    for r in new {
        max_pack = max_pack.max(r.pack);
        entry_bits = entry_bits.max(bits_for(r.entry));
    }
    for ix in old.iter().map(|c| c.index()).filter(|ix| !ix.is_empty()) {
        match ix.entry_widths {
            // An old file's rows name its covered packs (among `packs`, `verify` checks).
            Some(w) if !w.is_legacy() => entry_bits = entry_bits.max(w.entry_bits),
            // Widths that bound nothing: the rows tell.
            _ => {
                for r in EntryIndex(ix).rows(0..ix.len()) {
                    max_pack = max_pack.max(r.pack);
                    entry_bits = entry_bits.max(bits_for(r.entry));
                }
            }
        }
    }
    EntryWidths::for_bits(bits_for(max_pack.saturating_sub(base)), entry_bits)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn merge_entry_rows<W: Write, T: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, T>],
    new: &mut [EntryRow],
    key_len: usize,
    widths: Option<EntryWidths>,
) -> Result<W, Error> {
    if old.iter().any(|c| {
        let ix = c.index();
        ix.kind() != kind
            || ix.entry_widths.is_none()
            || (!ix.is_empty() && ix.key_len() != key_len)
    }) {
        return Err(Error::Write(std::io::Error::other(format!(
            "entry rows of {kind:?} merge with entry rows of {kind:?} and {key_len}-byte keys only"
        ))));
    }
    // Cut before sorting: rows that share the kept bytes sort by pack and entry number,
    // as the old file's do.
    for r in new.iter_mut() {
        r.prefix = cut_prefix(r.prefix, key_len);
    }
    new.sort_unstable();
    let count = new.len() as u64 + old.iter().map(|c| c.index().len()).sum::<u64>();
    // Packed files hold pack ids as offsets from the smallest covered one.
    let base = pack_base(packs_rows(kind, key_len, widths), packs);
    let widths = widths.unwrap_or_else(|| entry_widths(packs, base, old, new));
    let old: Vec<_> = (old.iter())
        .map(|c| FileRows::new(c.index(), PackIndex::entry_row_in))
        .collect();
    let new = SliceRows(new);
    write_entry_rows(out, kind, packs, counts, key_len, widths, count, || {
        let mut sources: Vec<&dyn SortedRows<EntryRow>> = vec![&new];
        sources.extend(old.iter().map(|o| o as &dyn SortedRows<EntryRow>));
        Merge::new(sources, false)
    })
}
