//! Writing alias indexes (kinds 3-5), new or merged with an old one.

use std::io::Write;

use pack_format::PackId;

use crate::file::write::{
    write_rows, FileRows, Merge, Row, SliceRows, SortedRows, ValueBytes, Widths,
};
use crate::{
    cut_key, cut_prefix, AliasKey, AliasLayout, CheckedIndex, EntryRow, Error, HashPrefix,
    IndexCounts, IndexKind, PackIndex, ALIAS_KEY_LEN, SMALL_ALIAS_KEY_LEN,
};

/// An alias layout's widths, for [`write_rows`].
impl From<AliasLayout> for Widths {
    fn from(l: AliasLayout) -> Self {
        Widths {
            key_len: l.key_len,
            value_len: l.value_len,
            entry: None,
            // The widths this version writes are packed; others (of earlier builds, for
            // tests of what they left) keep the layout of version 1.
            packed: l.is_written(),
        }
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

/// Writes `rows` (key, SHA-256 prefix) as an alias index of `kind` over `packs` in
/// `layout`: keys cut to its key length, prefixes to its value length, sorted, each row
/// once. [`AliasLayout::for_store`] is what a store writes from nothing;
/// [`AliasLayout::legacy`] writes the files of earlier builds (for tests of what they left
/// behind). Every key must have `kind.key_len()` bytes (16 for MD5, 24 for `sha512t24u`,
/// 8 for accessions).
///
/// # Examples
/// ```
/// use pack_index::{cut_prefix, hash_prefix, write_alias_index, AliasLayout, IndexKind, PackIndex, ALIAS_VALUE_LEN};
/// use pack_format::SequenceHash;
/// let h = SequenceHash::of_residues(b"MKV");
/// let rows = vec![([7u8; 16], hash_prefix(&h))];
/// let bytes = write_alias_index(Vec::new(), IndexKind::Md5, AliasLayout::COMPACT, &[0], &rows).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// let found: Vec<_> = index.as_alias().unwrap().lookup(&[7; 16]).unwrap().collect();
/// assert_eq!(found, vec![cut_prefix(hash_prefix(&h), ALIAS_VALUE_LEN)]);
/// ```
pub fn write_alias_index<W: Write, K: AsRef<[u8]>>(
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

/// Writes an alias index of `kind` over `packs` in `layout` of the `count` rows (key of
/// `layout.key_len` bytes, SHA-256 prefix) that `rows` hands out in key order, each once
/// (it is called three times, each time from the first row): the file
/// [`write_alias_index`] gives for them, without holding them in memory (rows merged from
/// sorted runs, or generated). A key of another length, a row out of order, or another
/// number of rows than `count`, is an error.
///
/// # Examples
/// ```
/// use pack_index::{write_sorted_alias_index, AliasLayout, IndexKind, PackIndex};
/// let row = |i: u64| ((i << 20).to_be_bytes()[2..].to_vec(), [i as u8; 8]);
/// let bytes = write_sorted_alias_index(Vec::new(), IndexKind::Md5, AliasLayout::COMPACT, &[0], 100, || (0..100).map(row)).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// // Looked up by the whole MD5, whose first 6 bytes are the key.
/// let mut md5 = [0u8; 16];
/// md5[..6].copy_from_slice(&row(42).0);
/// let found: Vec<_> = index.as_alias().unwrap().lookup(&md5).unwrap().collect();
/// assert_eq!(found, vec![[42, 42, 42, 42, 42, 0, 0, 0]]);
/// ```
pub fn write_sorted_alias_index<W: Write, K: AsRef<[u8]>, I: Iterator<Item = (K, HashPrefix)>>(
    out: W,
    kind: IndexKind,
    layout: AliasLayout,
    packs: &[PackId],
    count: u64,
    rows: impl Fn() -> I,
) -> Result<W, Error> {
    if !layout.fits(kind) {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_sorted_alias_index of {kind:?} in {layout:?}: not a layout of that kind"
        ))));
    }
    write_alias_rows(out, kind, layout, packs, count, rows)
}

/// [`write_rows`] of an alias index: no counts, no pack CRC.
pub(crate) fn write_alias_rows<W: Write, R: Row, I: Iterator<Item = R>>(
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

/// Writes the alias index of `kind` over `packs` holding the rows of the `old` indexes and
/// the `new` rows (keys of [`ALIAS_KEY_LEN`] bytes: whole accession keys, digests' first
/// bytes), each row once, in `layout` (one [`AliasLayout::is_written`]: keys of 4 or 6
/// bytes, SHA-256 prefixes of 4 to 8 bytes; [`AliasLayout::for_store`] for a file written
/// from nothing): the file [`write_alias_index`] gives for all of them, without holding
/// the old rows in memory. The old indexes come checked ([`PackIndex::check_buckets`])
/// and must be of that layout (rows of another come through
/// [`AliasIndex::checked_rows_as`](crate::AliasIndex::checked_rows_as) into `new`).
pub fn write_merged_alias_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    layout: AliasLayout,
    packs: &[PackId],
    old: &[CheckedIndex<'_, T>],
    new: &mut Vec<(AliasKey, HashPrefix)>,
) -> Result<W, Error> {
    if !layout.fits(kind)
        || !layout.is_written()
        || old.iter().map(|c| c.index()).any(|ix| {
            // Rows naming entries hold no prefixes, whatever their widths.
            let prefixes = ix.as_alias().ok().filter(|a| !a.names_entries());
            ix.kind() != kind || prefixes.map(|a| a.layout()) != Some(layout)
        })
    {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_merged_alias_index of {kind:?} in {layout:?} needs keys of \
             {SMALL_ALIAS_KEY_LEN} or {ALIAS_KEY_LEN} bytes and an old index of the same kind \
             and layout"
        ))));
    }
    for row in new.iter_mut() {
        *row = (
            cut_key(row.0, layout.key_len),
            cut_prefix(row.1, layout.value_len),
        );
    }
    new.sort_unstable();
    new.dedup();
    // Old rows come with their keys zero-padded to ALIAS_KEY_LEN bytes, as `new` is cut.
    let old: Vec<_> = (old.iter())
        .map(|c| FileRows::new(c.index(), PackIndex::alias_row_in::<ALIAS_KEY_LEN>))
        .collect();
    let new = SliceRows(new);
    let rows = || {
        let mut sources: Vec<&dyn SortedRows<(AliasKey, HashPrefix)>> = vec![&new];
        sources.extend((old.iter()).map(|o| o as &dyn SortedRows<(AliasKey, HashPrefix)>));
        Merge::new(sources, true).map(|row| CutRow(row, layout.key_len))
    };
    let count = rows().count() as u64;
    write_alias_rows(out, kind, layout, packs, count, rows)
}

/// An alias row whose key is written cut to its first `.1` bytes.
struct CutRow((AliasKey, HashPrefix), usize);

impl Row for CutRow {
    fn key(&self) -> &[u8] {
        &self.0 .0[..self.1]
    }
    fn value(&self) -> ValueBytes {
        ValueBytes::Short(self.0 .1)
    }
}

/// Writes the alias index of `kind` over `packs` whose rows name entries (pack and entry
/// table row, as entry rows do; docs/format.md, "Alias rows naming entries"): the rows of
/// the `old` indexes (checked; of `kind`, naming entries, keys of `key_len` bytes) and the
/// `new` rows (the key in `prefix`, cut here to `key_len` bytes: 4 or 6), each once, in
/// the narrowest [`EntryWidths`](crate::EntryWidths) that hold every row's pack and entry
/// number and the largest of `packs`, without holding the old rows in memory.
///
/// # Examples
/// ```
/// use pack_index::{write_merged_alias_entry_index, EntryRow, IndexKind, PackIndex};
/// let md5 = [9u8; 16];
/// let mut key = [0u8; 8];
/// key[..6].copy_from_slice(&md5[..6]);
/// let mut rows = vec![EntryRow { prefix: key, pack: 3, entry: 17 }];
/// let bytes = write_merged_alias_entry_index::<_, &[u8]>(Vec::new(), IndexKind::Md5, 4, &[3], &[], &mut rows).unwrap();
/// let index = PackIndex::parse(bytes).unwrap();
/// let alias = index.as_alias().unwrap();
/// assert!(alias.names_entries());
/// let found: Vec<_> = alias.lookup_entries(&md5).unwrap().map(|r| (r.pack, r.entry)).collect();
/// assert_eq!(found, vec![(3, 17)]);
/// ```
pub fn write_merged_alias_entry_index<W: Write, T: AsRef<[u8]>>(
    out: W,
    kind: IndexKind,
    key_len: usize,
    packs: &[PackId],
    old: &[CheckedIndex<'_, T>],
    new: &mut Vec<EntryRow>,
) -> Result<W, Error> {
    if !kind.is_alias() || !matches!(key_len, SMALL_ALIAS_KEY_LEN | ALIAS_KEY_LEN) {
        return Err(Error::Write(std::io::Error::other(format!(
            "write_merged_alias_entry_index of {kind:?}: an alias kind and keys of \
             {SMALL_ALIAS_KEY_LEN} or {ALIAS_KEY_LEN} bytes, not {key_len}"
        ))));
    }
    for r in new.iter_mut() {
        r.prefix = cut_prefix(r.prefix, key_len);
    }
    new.sort_unstable();
    new.dedup();
    crate::entry::write::merge_entry_rows(
        out,
        kind,
        packs,
        IndexCounts::default(),
        old,
        new,
        key_len,
        None,
    )
}
