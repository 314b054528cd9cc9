//! The commit record (`indices/multi-pack-index`): the rows a commit writes into it and
//! the crash-safe way it is staged and published. Publishing it is what makes a commit
//! visible (docs/format.md, "Committing").

use memmap2::Mmap;
use pack_format::PackId;
use pack_index::{
    hash_prefix, write_merged_entry_index, write_merged_index, CheckedIndex, EntryRow, HashPrefix,
    IndexCounts, IndexEntry, IndexKind,
};
use pack_io::FinishedPack;

use crate::error::StoreError;
use crate::layout::{StagedFile, StoreLayout};

/// The rows of a commit record to write: location rows (any pack), or entry rows (every
/// pack v2: the pack's entry table holds the whole hash and the place).
pub(crate) enum CommitRows {
    /// Rows of kind [`IndexKind::Multi`].
    Locations(Vec<IndexEntry>),
    /// Rows of kind [`IndexKind::Entries`].
    Entries(Vec<EntryRow>),
}

impl CommitRows {
    pub(crate) fn reserve_exact(&mut self, n: usize) {
        match self {
            CommitRows::Locations(r) => r.reserve_exact(n),
            CommitRows::Entries(r) => r.reserve_exact(n),
        }
    }

    /// Adds the rows of pack `id`, whose entries are `entries` in write order (the order
    /// of a v2 pack's entry table).
    pub(crate) fn add_pack(&mut self, id: PackId, entries: Vec<IndexEntry>) {
        match self {
            CommitRows::Locations(r) => r.extend(entries),
            CommitRows::Entries(r) => {
                add_entry_rows(r, id, entries.iter().map(|e| hash_prefix(&e.hash)))
            }
        }
    }

    /// Adds the rows of a v2 pack the writer finished, from the hash prefixes of its
    /// entries in write order. Location rows (v1 packs in the commit, or a commit record
    /// from an older build) are read from the pack's own entry table.
    pub(crate) fn add_v2_pack(
        &mut self,
        pack: &FinishedPack,
        prefixes: Vec<HashPrefix>,
    ) -> Result<(), StoreError> {
        match self {
            CommitRows::Locations(r) => r.extend(pack.entries()?),
            CommitRows::Entries(r) => add_entry_rows(r, pack.id, prefixes),
        }
        Ok(())
    }
}

/// Appends the entry rows of pack `pack` whose entries, in entry table order, have these
/// hash prefixes.
fn add_entry_rows(
    rows: &mut Vec<EntryRow>,
    pack: PackId,
    prefixes: impl IntoIterator<Item = HashPrefix>,
) {
    rows.extend(
        (prefixes.into_iter().zip(0u32..)).map(|(prefix, entry)| EntryRow {
            prefix,
            pack,
            entry,
        }),
    );
}

/// Writes the multi-pack index over `packs` (the commit record), atomically.
pub(crate) fn write_commit_record(
    layout: &StoreLayout,
    packs: &[PackId],
    counts: IndexCounts,
    rows: &mut CommitRows,
) -> Result<(), StoreError> {
    stage_commit_record(layout, packs, counts, &[], rows)?.publish()
}

/// Writes the multi-pack index over `packs`, holding the rows of the `old` indexes (of the
/// kind of `rows`: at most one for entry rows) and `rows`, under its temporary name, to be
/// published.
pub(crate) fn stage_commit_record(
    layout: &StoreLayout,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, Mmap>],
    rows: &mut CommitRows,
) -> Result<StagedFile, StoreError> {
    let path = layout.multi_index_path();
    StagedFile::write(&path, |w| {
        match rows {
            CommitRows::Locations(rows) => {
                write_merged_index(w, IndexKind::Multi, packs, counts, old, rows).map(|_| ())
            }
            CommitRows::Entries(_) if old.len() > 1 => Err(pack_index::Error::Write(
                std::io::Error::other("entry rows are merged with one old index at most"),
            )),
            CommitRows::Entries(rows) => {
                write_merged_entry_index(w, packs, counts, old.first().copied(), rows).map(|_| ())
            }
        }
        .map_err(|source| StoreError::Index {
            path: path.clone(),
            source,
        })
    })
}
