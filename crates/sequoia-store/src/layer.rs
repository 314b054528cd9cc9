//! Index layers: the immutable index files one commit (or a merge of several) writes over
//! the packs it adds, found through the commit record. A layer is four files, one rows file
//! (`layer-….rows.idx`: location or entry rows) and one alias index per kind
//! (`layer-….md5.idx`, `.sha512t24u.idx`, `.accession.idx`), all over the same packs.
//! Which layers a commit merges is [`merge_from`]'s geometric rule (docs/format.md,
//! "Index layers").

use std::collections::BTreeMap;
use std::path::PathBuf;

use memmap2::Mmap;
use pack_format::PackId;
use pack_index::{
    hash_prefix, write_merged_entry_index, write_merged_index, CheckedIndex, EntryRow, HashPrefix,
    IndexCounts, IndexEntry, IndexKind, PackIndex,
};
use pack_io::FinishedPack;

use crate::alias::OldAliases;
use crate::commit_record::LayerName;
use crate::error::StoreError;
use crate::layout::{write_atomically, StoreLayout, ALIAS_KINDS};

/// An open layer: its rows file and its alias indexes, mapped.
pub(crate) struct Layer {
    /// `None`: the index files of a store written before layers (`multi-pack-index` and
    /// `alias-*.idx`), read as one layer until a commit merges them into one of its own.
    pub name: Option<LayerName>,
    pub rows_path: PathBuf,
    pub rows: PackIndex<Mmap>,
    /// Per alias kind: the file and its index (a legacy layer may lack some: reported).
    pub aliases: BTreeMap<IndexKind, (PathBuf, PackIndex<Mmap>)>,
}

impl Layer {
    /// The row of its rows file naming entry `entry` of `pack` for `hash`, whose key
    /// the file holds cut to its key length.
    pub fn entry_row(
        &self,
        hash: &pack_format::SequenceHash,
        pack: PackId,
        entry: u32,
    ) -> EntryRow {
        EntryRow {
            prefix: pack_index::cut_prefix(hash_prefix(hash), self.rows.key_len()),
            pack,
            entry,
        }
    }

    /// Its rows file, every bucket checked against its CRC: what a merge reads (damage is
    /// reported naming the file, never copied into the merged layer).
    pub fn checked_rows(&self) -> Result<CheckedIndex<'_, Mmap>, StoreError> {
        (self.rows.check_buckets()).map_err(crate::snapshot::index_error(&self.rows_path))
    }

    /// Its files: the rows file, then the alias indexes.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.rows_path.clone()];
        files.extend(self.aliases.values().map(|(p, _)| p.clone()));
        files
    }

    /// Opens the four files of layer `name`, checking that its rows file holds `rows` rows
    /// and that every file covers the same packs.
    pub fn open(layout: &StoreLayout, name: LayerName, rows: u64) -> Result<Layer, StoreError> {
        let rows_path = layout.layer_rows_path(name);
        let index_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| StoreError::Index { path, source }
        };
        let ix = pack_index::open(&rows_path).map_err(index_err(&rows_path))?;
        if !matches!(ix.kind(), IndexKind::Multi | IndexKind::Entries) {
            return Err(StoreError::Corrupt(format!(
                "{}: holds a {:?} index, not layer rows",
                rows_path.display(),
                ix.kind()
            )));
        }
        if ix.len() != rows {
            return Err(StoreError::Corrupt(format!(
                "{}: holds {} rows, the commit record says {rows}",
                rows_path.display(),
                ix.len()
            )));
        }
        let packs = ix.packs();
        let mut aliases = BTreeMap::new();
        for kind in ALIAS_KINDS {
            let path = layout.layer_alias_path(name, kind);
            let a = pack_index::open(&path).map_err(index_err(&path))?;
            if a.kind() != kind || a.packs() != packs {
                return Err(StoreError::Corrupt(format!(
                    "{}: a {:?} index over packs {:?}, not the {kind:?} index of the layer's packs {packs:?}",
                    path.display(),
                    a.kind(),
                    a.packs()
                )));
            }
            aliases.insert(kind, (path, a));
        }
        Ok(Layer {
            name: Some(name),
            rows_path,
            rows: ix,
            aliases,
        })
    }
}

/// The alias indexes of `layers`, by kind, every bucket checked: the old rows of a merge.
pub(crate) fn checked_aliases<'a>(
    layers: impl IntoIterator<Item = &'a Layer>,
) -> Result<OldAliases<'a>, StoreError> {
    let mut old = OldAliases::new();
    for layer in layers {
        for (kind, (path, ix)) in &layer.aliases {
            let checked = ix
                .check_buckets()
                .map_err(crate::snapshot::index_error(path))?;
            old.entry(*kind).or_default().push((path.clone(), checked));
        }
    }
    Ok(old)
}

/// Rows per layer below which a commit merges, whatever their proportions: merging a
/// million rows takes a fraction of a second (`cargo xtask bench`, "layered commits").
pub(crate) const MERGE_BUDGET_ROWS: u64 = 1 << 20;

/// The geometric rule: the first of the layers (row counts `rows`, oldest first) that a
/// commit of `new` rows merges with, `rows.len()` for none. Going from the newest, a layer
/// joins the merge while it holds at most twice the rows of everything newer (itself
/// merged), so that every layer left holds more than twice the rows of all newer ones
/// together: a store of N rows keeps at most about log₃(N / new) layers. A merge larger
/// than [`MERGE_BUDGET_ROWS`] (or four times the commit's own rows, if more) is left to
/// `sequoia compact`: a commit costs what it adds.
pub(crate) fn merge_from(rows: &[u64], new: u64) -> usize {
    merge_within(rows, new, MERGE_BUDGET_ROWS.max(new.saturating_mul(4)))
}

/// The geometric rule of [`merge_from`] with a merge of at most `budget` rows (a session's
/// runs merge without one: they are its own, and their number is what each put probes).
pub(crate) fn merge_within(rows: &[u64], new: u64, budget: u64) -> usize {
    let mut total = new;
    let mut from = rows.len();
    while from > 0 {
        let r = rows[from - 1];
        if r > total.saturating_mul(2) || total + r > budget {
            break;
        }
        total += r;
        from -= 1;
    }
    from
}

/// The rows of a new layer's rows file: location rows (any pack), or entry rows (every
/// pack v2: the pack's entry table holds the whole hash and the place).
pub(crate) enum LayerRows {
    /// Rows of kind [`IndexKind::Multi`].
    Locations(Vec<IndexEntry>),
    /// Rows of kind [`IndexKind::Entries`].
    Entries(Vec<EntryRow>),
}

impl LayerRows {
    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        match self {
            LayerRows::Locations(r) => r.len(),
            LayerRows::Entries(r) => r.len(),
        }
    }

    pub(crate) fn reserve_exact(&mut self, n: usize) {
        match self {
            LayerRows::Locations(r) => r.reserve_exact(n),
            LayerRows::Entries(r) => r.reserve_exact(n),
        }
    }

    /// Adds the rows of pack `id`, whose entries are `entries` in write order (the order
    /// of a v2 pack's entry table).
    pub(crate) fn add_pack(&mut self, id: PackId, entries: Vec<IndexEntry>) {
        match self {
            LayerRows::Locations(r) => r.extend(entries),
            LayerRows::Entries(r) => {
                add_entry_rows(r, id, entries.iter().map(|e| hash_prefix(&e.hash)))
            }
        }
    }

    /// Adds the rows of a v2 pack the writer finished, from the hash prefixes of its
    /// entries in write order (location rows are read from the pack's own entry table).
    pub(crate) fn add_v2_pack(
        &mut self,
        pack: &FinishedPack,
        prefixes: Vec<HashPrefix>,
    ) -> Result<(), StoreError> {
        match self {
            LayerRows::Locations(r) => r.extend(pack.entries()?),
            LayerRows::Entries(r) => add_entry_rows(r, pack.id, prefixes),
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

/// Writes the rows file of layer `name` over `packs` (totals `counts`), holding the rows of
/// the `old` layers' rows files (of the kind of `rows`; entry rows of the current key
/// length) and `rows`, atomically.
pub(crate) fn write_layer_rows(
    layout: &StoreLayout,
    name: LayerName,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, Mmap>],
    rows: &mut LayerRows,
) -> Result<(), StoreError> {
    let path = layout.layer_rows_path(name);
    write_atomically(&path, |w| {
        match rows {
            LayerRows::Locations(rows) => {
                write_merged_index(w, IndexKind::Multi, packs, counts, old, rows).map(|_| ())
            }
            LayerRows::Entries(rows) => {
                write_merged_entry_index(w, packs, counts, old, rows).map(|_| ())
            }
        }
        .map_err(|source| StoreError::Index {
            path: path.clone(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_geometric_rule_merges_small_layers_and_leaves_big_ones() {
        // Nothing to merge with.
        assert_eq!(merge_from(&[], 10), 0);
        // A layer much bigger than the commit stays.
        assert_eq!(merge_from(&[435_000], 1_000), 1);
        // Small layers of the same size merge, and carry on into the next.
        assert_eq!(merge_from(&[435_000, 10], 10), 1);
        assert_eq!(merge_from(&[435_000, 40, 20, 10], 10), 1);
        assert_eq!(merge_from(&[435_000, 100, 10], 10), 2);
        // The budget leaves big merges to `compact`.
        assert_eq!(merge_from(&[700_000, 400_000], 300_000), 1);
        // Unless the commit itself is big: four times its rows may merge.
        assert_eq!(merge_from(&[2_000_000], 1_500_000), 0);
    }

    #[test]
    fn ten_thousand_small_commits_keep_few_layers() {
        let mut layers: Vec<u64> = vec![435_000];
        let mut most = 0;
        for _ in 0..10_000 {
            let from = merge_from(&layers, 10);
            let merged: u64 = layers.drain(from..).sum::<u64>() + 10;
            layers.push(merged);
            // Older layers are bigger.
            assert!(layers.windows(2).all(|w| w[0] >= w[1]), "{layers:?}");
            most = most.max(layers.len());
        }
        assert_eq!(layers.iter().sum::<u64>(), 435_000 + 100_000);
        // log3(535,000 / 10) is about 10.
        assert!(most <= 12, "{most} layers");
    }
}
