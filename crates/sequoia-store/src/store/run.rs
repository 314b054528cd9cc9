//! A write session's runs: when the sequences a session holds in memory reach
//! [`StoreOptions::run_sequences`](super::StoreOptions::run_sequences), its packs are
//! finished under their temporary names, their entry and alias rows written as an
//! unpublished index layer (a *run*), and its de-duplication state starts afresh, so that
//! an import's memory stays bounded whatever the size of its input. Later puts find the
//! sequences of earlier runs through the runs' layers and the packs' entry tables; the
//! commit merges the runs into its own layer and publishes their packs with its own
//! (docs/format.md, "Committing").

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use pack_format::{PackId, SequenceHash};
use pack_index::{IndexCounts, IndexKind};
use pack_io::{FinishedPack, PackRows};

use crate::alias::{AliasRows, AliasTarget, EntryNames};
use crate::commit_record::LayerName;
use crate::error::StoreError;
use crate::layer::{checked_aliases, merge_within, write_layer_rows, Layer, LayerRows};
use crate::snapshot::{PackSlot, Snapshot};

use super::session::WriteSession;
use super::PackedSequenceStorage;

/// The runs a session has sealed since its last commit.
pub(crate) struct Runs {
    /// Their layers over their packs (temporary files): what puts look sequences up in.
    pub view: Snapshot,
    /// Their packs, finished, to be published by the commit; their rows are in the runs'
    /// layers, not here.
    pub packs: Vec<FinishedPack>,
}

impl Runs {
    /// The files of the runs' layers (never published: removed once a commit merged them,
    /// else leftovers of an interrupted commit for `gc`).
    pub fn files(&self) -> Vec<PathBuf> {
        self.view.layers.iter().flat_map(Layer::files).collect()
    }
}

impl PackedSequenceStorage {
    /// Whether the session may seal runs: its packs are v2 and every layer of the store
    /// holds entry rows, so that the commit's layer holds entry rows too (location rows
    /// are read through committed packs only).
    pub(super) fn may_seal(&self) -> bool {
        self.options.format.has_row_table()
            && (self.snapshot().layers.iter()).all(|l| l.rows.kind() == IndexKind::Entries)
    }

    /// Seals the session's packs and rows into a run: sends what is held (additions
    /// too), finishes the packs, writes their entry rows and alias rows as an unpublished
    /// layer numbered for the coming commit, and forgets the session's sequences.
    pub(super) fn seal_run(&self, s: &mut WriteSession) -> Result<(), StoreError> {
        let additions = s.dedup.take_additions();
        self.write_additions(s, additions)?;
        self.send_batch(s)?;
        s.dedup.clear();
        let Some(writer) = s.writer.take() else {
            return Ok(());
        };
        let mut packs = writer.finish()?;
        let aliases = match s.aliases.take() {
            Some(worker) => worker.finish()?,
            None => AliasRows::default(),
        };
        if packs.is_empty() {
            return Ok(());
        }
        let snap = self.snapshot();
        let name = LayerName::new(snap.max_record_seq.map_or(0, |s| s + 1));
        let ids: Vec<PackId> = packs.iter().map(|p| p.id).collect();
        let mut rows = LayerRows::Entries(Vec::new());
        rows.reserve_exact(packs.iter().map(|p| p.rows.len()).sum());
        let mut counts = IndexCounts::default();
        for p in packs.iter_mut() {
            counts.add(&IndexCounts::from(&p.counts));
            match std::mem::replace(&mut p.rows, PackRows::Prefixes(Vec::new())) {
                PackRows::Prefixes(prefixes) => rows.add_v2_pack(p, prefixes)?,
                PackRows::Locations(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "pack {} of a run is a v1 pack: runs hold entry rows of v2 packs",
                        p.id
                    )))
                }
            }
        }
        let runs = s.runs.get_or_insert_with(|| Runs {
            view: Snapshot::of_layers(Vec::new(), BTreeMap::new()),
            packs: Vec::new(),
        });
        let before: u64 = (runs.view.layers.iter())
            .map(|l| l.rows.counts().sequences)
            .sum();
        let sequences = snap.counts().sequences + before + counts.sequences;
        // Runs merge by the geometric rule, without a budget, so that a put probes about
        // log3(session / run) of them, not one per run.
        let sizes: Vec<u64> = runs.view.layers.iter().map(|l| l.rows.len()).collect();
        let from = merge_within(&sizes, rows.len() as u64, u64::MAX);
        let merged = &runs.view.layers[from..];
        let mut layer_ids = ids.clone();
        let mut layer_counts = counts;
        let mut old = Vec::new();
        for run in merged {
            layer_ids.extend(run.rows.packs());
            layer_counts.add(&run.rows.counts());
            old.push(run.checked_rows()?);
        }
        let old_aliases = checked_aliases(merged)?;
        layer_ids.sort_unstable();
        // Runs hold entry rows; their alias rows name entries where the store's do (the
        // rows' whole 8-byte prefixes, before the rows file cuts them).
        let names = match &rows {
            LayerRows::Entries(r)
                if Snapshot::aliases_name_entries(snap.layers.iter().chain(&runs.view.layers)) =>
            {
                Some(EntryNames::new(r.clone()))
            }
            _ => None,
        };
        let n = rows.len() as u64 + old.iter().map(|c| c.index().len()).sum::<u64>();
        write_layer_rows(
            &self.layout,
            name,
            &layer_ids,
            layer_counts,
            &old,
            &mut rows,
        )?;
        drop(rows);
        let indices = self.layout.indices_dir();
        let hash_of = |pack, entry| snap.entry_hash(pack, entry, &indices).map(|(h, _)| h);
        let target = AliasTarget::new(names.as_ref(), &hash_of);
        aliases.write_layer(
            &self.layout,
            name,
            &layer_ids,
            &old_aliases,
            sequences,
            target,
        )?;
        drop((old, old_aliases));
        let layer = Layer::open(&self.layout, name, n)?;
        // The merged runs' files go: never published, now in the new run.
        for run in runs.view.layers.drain(from..) {
            let files = run.files();
            drop(run);
            for path in files {
                let _ = pack_io::fs::remove_file(&path);
            }
        }
        runs.view.layers.push(layer);
        for p in &packs {
            runs.view
                .packs
                .insert(p.id, Arc::new(PackSlot::new(p.temp_path.clone())));
        }
        runs.packs.extend(packs);
        Ok(())
    }
}

/// The fingerprints of the representations `view` holds for `hash` (a committed snapshot,
/// or the session's runs), `None` when it holds no entry of it.
pub(super) fn fingerprints_in(
    view: &Snapshot,
    hash: &SequenceHash,
) -> Result<Option<Vec<u64>>, StoreError> {
    let locs = view.locations(hash)?;
    if locs.is_empty() {
        return Ok(None);
    }
    let mut fps = Vec::new();
    super::CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        for loc in &locs {
            view.with_entry(hash, loc, &mut cache, |e| {
                e.for_each_representation(|h, s| fps.push(super::dedup::fingerprint(h, s)))
            })?
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(Some(fps))
}
