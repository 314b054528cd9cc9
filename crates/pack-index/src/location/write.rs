//! Writing location indexes (kinds 1 and 2), new or merged with an old one.

use std::io::Write;

use pack_format::PackId;

use crate::file::write::{write_rows, FileRows, Merge, Row, SliceRows, SortedRows, ValueBytes};
use crate::{CheckedIndex, Error, IndexCounts, IndexEntry, IndexKind, PackIndex};

impl Row for IndexEntry {
    fn key(&self) -> &[u8] {
        self.hash.as_bytes()
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Location(location_row(&self.location))
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
