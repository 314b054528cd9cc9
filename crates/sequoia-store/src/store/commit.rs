//! Commits: the session's packs finished, their index files and alias rows written, and
//! the commit record published last (docs/format.md, "Committing"); rollback.

use memmap2::Mmap;
use pack_format::{PackId, Representation, SequenceHash};
use pack_index::{write_index, CheckedIndex, IndexCounts, IndexEntry, IndexKind};
use pack_io::{FinishedPack, PackRows, PutEntry};

use crate::alias::{entry_rows_of, AliasRows, AliasTarget, EntryNames};
use crate::commit_record::{CommitRecord, LayerEntry, LayerName, StagedRecord};
use crate::error::StoreError;
use crate::layer::{checked_aliases, merge_from, write_layer_rows, Layer, LayerRows};
use crate::layout::{fsync_dir, io_err, write_atomically};
use crate::snapshot::{index_error, Snapshot};

use super::*;

/// What a commit published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitSummary {
    /// Packs published.
    pub packs: Vec<PackId>,
    /// Entries written.
    pub entries: u64,
    /// Bytes of the new pack files.
    pub pack_bytes: u64,
}

/// What `compact` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactSummary {
    /// Index layers before.
    pub layers_before: usize,
    /// Index layers after (1, or as before when there was nothing to merge).
    pub layers_after: usize,
    /// Rows of the layers' rows files (one per entry of every committed pack).
    pub rows: u64,
}

/// Whether published packs add to the committed ones or replace them (repacking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    Add,
    Replace,
}

impl PackedSequenceStorage {
    /// Makes every put so far durable and visible: closes the open pack, fsyncs it, writes
    /// and fsyncs its index, renames both into place, then writes the multi-pack index.
    /// After a failure the session is poisoned and nothing of it is published.
    pub fn commit(&self) -> Result<CommitSummary, StoreError> {
        let mut s = self.session()?;
        let result = self.commit_locked(&mut s);
        if let Err(e) = &result {
            s.poisoned = Some(e.to_string());
        }
        result
    }

    fn commit_locked(&self, s: &mut WriteSession) -> Result<CommitSummary, StoreError> {
        // Taking the additions representations frees the session's memory of what it saw
        // before the packs and indexes are finished.
        let additions = s.dedup.take_additions();
        self.write_additions(s, additions)?;
        self.send_batch(s)?;
        let mut packs = match s.writer.take() {
            Some(writer) => writer.finish()?,
            None => Vec::new(),
        };
        let aliases = match s.aliases.take() {
            Some(worker) => worker.finish()?,
            None => AliasRows::default(),
        };
        // The runs' packs come first (lower ids), their rows in the runs' layers.
        let runs = s.runs.take();
        let (run_layers, run_files) = match runs {
            Some(runs) => {
                let files = runs.files();
                let mut all = runs.packs;
                all.append(&mut packs);
                packs = all;
                (runs.view.layers, files)
            }
            None => (Vec::new(), Vec::new()),
        };
        let summary = self.publish_packs(&mut packs, aliases, Publish::Add, &run_layers)?;
        if let Some(last) = packs.last() {
            s.next_pack_id = last.id + 1;
        }
        // The runs' files were never published and are merged into the commit's layer.
        drop(run_layers);
        for path in run_files {
            let _ = pack_io::fs::remove_file(&path);
        }
        Ok(summary)
    }

    /// Sends representations of sequences already written, as one addition
    /// entry per sequence, to the session's packs.
    pub(super) fn write_additions(
        &self,
        s: &mut WriteSession,
        additions: impl IntoIterator<Item = (SequenceHash, Vec<Representation>)>,
    ) -> Result<(), StoreError> {
        for (hash, representations) in additions {
            s.batch_bytes += representations_bytes(&representations);
            s.batch.push(PutEntry {
                hash,
                residues: Vec::new(),
                representations,
            });
            if s.batch_bytes >= BATCH_BYTES {
                self.send_batch(s)?;
            }
        }
        Ok(())
    }

    /// Publishes finished packs: their indexes, the packs under their names, a new index
    /// layer over them (merged with the newest layers as [`merge_from`] says), then the
    /// commit record: over the committed packs and these (`Publish::Add`), or these alone
    /// (`Publish::Replace`, whose layer holds every alias row of the store).
    pub(crate) fn publish_packs(
        &self,
        packs: &mut [FinishedPack],
        new_aliases: AliasRows,
        how: Publish,
        runs: &[Layer],
    ) -> Result<CommitSummary, StoreError> {
        if packs.is_empty() {
            return Ok(CommitSummary::default());
        }
        let snap = self.snapshot();
        let new_rows: u64 = packs.iter().map(|p| p.rows.len() as u64).sum::<u64>()
            + runs.iter().map(|l| l.rows.len()).sum::<u64>();
        let from = match how {
            Publish::Add if snap.record.is_some() => {
                let rows: Vec<u64> = snap.layers.iter().map(|l| l.rows.len()).collect();
                merge_from(&rows, new_rows)
            }
            // The files of a store written before layers become a layer of this build.
            Publish::Add => 0,
            Publish::Replace => snap.layers.len(),
        };
        self.publish_layer(&snap, packs, new_aliases, how, from, runs)
    }

    /// Merges every index layer into one (`sequoia compact`): a commit that adds no pack.
    /// Lookups then probe one layer; the merged layers' files stay until `gc`.
    pub fn compact(&self) -> Result<CompactSummary, StoreError> {
        let mut s = self.session()?;
        if s.has_uncommitted() {
            return Err(StoreError::Uncommitted("compact"));
        }
        let snap = self.snapshot();
        snap.sound_for_writing()?;
        let mut summary = CompactSummary {
            layers_before: snap.layers.len(),
            layers_after: snap.layers.len(),
            rows: snap.layers.iter().map(|l| l.rows.len()).sum(),
        };
        let legacy = snap.record.is_none() && !snap.layers.is_empty();
        if snap.layers.len() > 1 || legacy {
            let result =
                self.publish_layer(&snap, &mut [], AliasRows::default(), Publish::Add, 0, &[]);
            if let Err(e) = &result {
                s.poisoned = Some(e.to_string());
            }
            result?;
            summary.layers_after = 1;
        }
        Ok(summary)
    }

    /// Writes the layer of `packs` and `new_aliases` merged with `snap.layers[from..]` and
    /// the session's `runs` (unpublished layers over some of `packs`, whose rows they
    /// hold), and publishes the commit record naming it after `snap.layers[..from]`.
    fn publish_layer(
        &self,
        snap: &Snapshot,
        packs: &mut [FinishedPack],
        new_aliases: AliasRows,
        how: Publish,
        from: usize,
        runs: &[Layer],
    ) -> Result<CommitSummary, StoreError> {
        let mut summary = CommitSummary::default();
        if !snap.extras.is_empty() {
            return Err(StoreError::NeedsRepair(
                "the store has no usable commit record".into(),
            ));
        }
        let merged = &snap.layers[from..];
        // A repack's layer holds alias rows of its new packs alone (`new_aliases`, read
        // from them): rows of the old layers may name entries of the packs it replaces.
        let (alias_layers, kept) = match how {
            Publish::Add => (merged, &snap.layers[..from]),
            Publish::Replace => (&snap.layers[..0], &snap.layers[..0]),
        };
        // The new layer holds entry rows (hash prefix, pack and entry number: 8 bytes a row
        // on protein_all) when every pack it covers is a v2 pack and the layers it merges
        // hold entry rows too; else location rows (48 bytes), which v1 packs need.
        let entry_rows = packs.iter().all(|p| p.version.has_row_table())
            && merged.iter().all(|l| l.rows.kind() == IndexKind::Entries);
        let mut rows = if entry_rows {
            LayerRows::Entries(Vec::new())
        } else {
            LayerRows::Locations(Vec::new())
        };
        // The merged rows are read from the mapped files as the new one is written, not
        // loaded. Their buckets are checked here, once, before anything is written or
        // renamed (the merges take only checked indexes), so that damage is reported,
        // naming the file, instead of being copied into the new layer, and leaves every
        // file as it was.
        let mut old: Vec<CheckedIndex<'_, Mmap>> = Vec::new();
        let mut layer_packs: Vec<PackId> = Vec::new();
        let mut layer_counts = IndexCounts::default();
        for layer in merged {
            let path = &layer.rows_path;
            let ix = &layer.rows;
            let checked = layer.checked_rows()?;
            layer_packs.extend(ix.packs());
            layer_counts.add(&ix.counts());
            match &mut rows {
                // v1 packs join entry rows: those become location rows, read through the
                // packs' entry tables (the one merge that holds them in memory).
                LayerRows::Locations(r) if ix.kind() == IndexKind::Entries => {
                    r.extend(snap.location_rows(&checked, path)?);
                }
                // Entry rows of the 8-byte keys of earlier builds: loaded once, cut.
                LayerRows::Entries(r) if ix.key_len() != pack_index::ENTRY_KEY_LEN => {
                    let entries = ix.as_entries().map_err(index_error(path))?;
                    r.extend(entries.rows(0..ix.len()));
                }
                _ => old.push(checked),
            }
        }
        // The runs' rows, of packs listed with the new ones (their counts and ids come
        // from there): entry rows like the new layer's (a session seals runs only then).
        for run in runs {
            if !matches!(rows, LayerRows::Entries(_)) {
                return Err(StoreError::Corrupt(format!(
                    "{}: a run of entry rows cannot join a layer of location rows",
                    run.rows_path.display()
                )));
            }
            summary.entries += run.rows.len();
            old.push(run.checked_rows()?);
        }
        let old_aliases = checked_aliases(alias_layers.iter().chain(runs))?;
        let seq = snap.max_record_seq.map_or(0, |s| s + 1);
        let name = LayerName::new(seq);
        let (mut committed, mut counts) = match how {
            Publish::Add => (snap.indexed_packs(), snap.counts()),
            Publish::Replace => (Vec::new(), IndexCounts::default()),
        };
        let new_counts = packs.iter().fold(IndexCounts::default(), |mut c, p| {
            c.add(&IndexCounts::from(&p.counts));
            c
        });
        counts.add(&new_counts);
        layer_counts.add(&new_counts);
        committed.extend(packs.iter().map(|p| p.id));
        committed.sort_unstable();
        layer_packs.extend(packs.iter().map(|p| p.id));
        layer_packs.sort_unstable();
        let sequences = counts.sequences;
        // Room for the new packs' rows at once, not by doubling.
        rows.reserve_exact(packs.iter().map(|p| p.rows.len()).sum());
        // Alias rows name entries (of the new packs, found by the rows their writer kept)
        // in a layer of entry rows of a store whose alias indexes all do; else they hold
        // SHA-256 prefixes, those of old rows naming entries read through the packs.
        let entry_rows = (matches!(rows, LayerRows::Entries(_))
            && Snapshot::aliases_name_entries(kept.iter().chain(alias_layers).chain(runs)))
        .then(|| entry_rows_of(packs));
        let indices = self.layout.indices_dir();
        let hash_of = |pack, entry| snap.entry_hash(pack, entry, &indices).map(|(h, _)| h);
        let (aliases_written, rows_written) = std::thread::scope(|scope| {
            let aliases = scope.spawn(|| {
                // Sorted here, beside the packs' publishing.
                let names = entry_rows.map(EntryNames::new);
                let target = AliasTarget::new(names.as_ref(), &hash_of);
                new_aliases.write_layer(
                    &self.layout,
                    name,
                    &layer_packs,
                    &old_aliases,
                    sequences,
                    target,
                )
            });
            let written = self
                .publish_pack_files(packs, &mut summary, &mut rows)
                .and_then(|()| {
                    let n = rows.len() as u64 + old.iter().map(|c| c.index().len()).sum::<u64>();
                    write_layer_rows(
                        &self.layout,
                        name,
                        &layer_packs,
                        layer_counts,
                        &old,
                        &mut rows,
                    )?;
                    Ok(n)
                });
            let aliases = aliases.join().unwrap_or_else(|_| {
                Err(StoreError::Corrupt(
                    "the alias index writer panicked".into(),
                ))
            });
            (aliases, written)
        });
        let layer_rows = rows_written?;
        aliases_written?;
        let mut layers: Vec<LayerEntry> = Vec::new();
        if how == Publish::Add {
            for l in &snap.layers[..from] {
                let Some(name) = l.name else {
                    return Err(StoreError::Corrupt(
                        "the index files of a store written before layers are merged by the first commit".into(),
                    ));
                };
                layers.push(LayerEntry {
                    name,
                    rows: l.rows.len(),
                });
            }
        }
        layers.push(LayerEntry {
            name,
            rows: layer_rows,
        });
        let record = CommitRecord {
            seq,
            packs: committed,
            counts,
            layers,
        };
        // The commit point: the new commit record lists the new packs.
        StagedRecord::write(&self.layout, &record)?.publish()?;
        match how {
            Publish::Add => self.refresh_after_commit(record, &summary.packs)?,
            // The replaced packs become leftovers: listed again.
            Publish::Replace => self.refresh()?,
        }
        Ok(summary)
    }

    /// Writes the index of each finished v1 pack (a v2 pack's footer holds its entry table,
    /// which stands in for one), renames the packs into place and adds their rows, ids and
    /// counts to the commit record's.
    fn publish_pack_files(
        &self,
        packs: &mut [FinishedPack],
        summary: &mut CommitSummary,
        rows: &mut LayerRows,
    ) -> Result<(), StoreError> {
        for p in packs.iter_mut() {
            summary.entries += p.rows.len() as u64;
            let pack_counts = IndexCounts::from(&p.counts);
            // Moved, not copied: the rows go into the multi-pack index.
            match std::mem::replace(&mut p.rows, PackRows::Prefixes(Vec::new())) {
                PackRows::Locations(mut entries) => {
                    // A v1 pack: its index file from the writer's rows.
                    self.write_pack_index(p.id, pack_counts, p.crc32, &mut entries)?;
                    rows.add_pack(p.id, entries);
                }
                PackRows::Prefixes(prefixes) => rows.add_v2_pack(p, prefixes)?,
            }
        }
        for p in packs.iter() {
            pack_io::fs::rename(&p.temp_path, &self.layout.pack_path(p.id))
                .map_err(io_err(&p.temp_path))?;
            summary.packs.push(p.id);
            summary.pack_bytes += p.file_len;
        }
        fsync_dir(&self.layout.packs_dir())
    }

    pub(crate) fn write_pack_index(
        &self,
        id: PackId,
        counts: IndexCounts,
        pack_crc32: u32,
        entries: &mut [IndexEntry],
    ) -> Result<(), StoreError> {
        let path = self.layout.pack_index_path(id);
        write_atomically(&path, |w| {
            write_index(w, IndexKind::Pack, &[id], counts, Some(pack_crc32), entries)
                .map(|_| ())
                .map_err(|source| StoreError::Index {
                    path: path.clone(),
                    source,
                })
        })
    }

    /// Drops every put since the last commit and removes the temporary packs they made.
    pub fn rollback(&self) -> Result<(), StoreError> {
        let Some(session) = &self.session else {
            return Err(StoreError::ReadOnly);
        };
        let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
        self.discard(&mut s);
        Ok(())
    }

    pub(super) fn discard(&self, s: &mut WriteSession) {
        s.batch.clear();
        s.batch_bytes = 0;
        s.dedup.clear();
        s.aliases = None;
        s.runs = None;
        s.poisoned = None;
        if let Some(w) = s.writer.take() {
            let _ = w.finish();
        }
        // Temporary packs with ids from next_pack_id on were started by this session after
        // its last commit (we hold the lock): uncommitted, never part of the store.
        let dir = self.layout.packs_dir();
        if let Ok(listing) = std::fs::read_dir(&dir) {
            for item in listing.flatten() {
                let name = item.file_name();
                let id = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".tmp"))
                    .and_then(pack_io::parse_pack_file_name);
                if id.is_some_and(|id| id >= s.next_pack_id) {
                    let _ = pack_io::fs::remove_file(&item.path());
                }
            }
        }
        // Indexes written for packs of this session that were never published.
        if let Ok(listing) = std::fs::read_dir(self.layout.indices_dir()) {
            for item in listing.flatten() {
                let name = item.file_name();
                let id = name.to_str().and_then(crate::layout::parse_pack_index_name);
                if let Some(id) = id.filter(|id| *id >= s.next_pack_id) {
                    if !self.layout.pack_path(id).exists() {
                        let _ = pack_io::fs::remove_file(&item.path());
                    }
                }
            }
        }
        // Packs this session published in a commit that failed before its multi-pack index
        // was written: not part of any commit, so they go with the rest of the session.
        let _ = self.refresh();
        let snap = self.snapshot();
        for (id, pack, index) in &snap.orphans {
            if *id >= s.next_pack_id {
                let _ = pack_io::fs::remove_file(pack);
                if let Some(index) = index {
                    let _ = pack_io::fs::remove_file(index);
                }
            }
        }
        // Layer files of a commit that failed before its commit record (numbered past the
        // current one: we hold the lock, so they are this session's).
        for path in &snap.unreferenced {
            let _ = pack_io::fs::remove_file(path);
        }
        // Files that could not be removed keep their ids: never reuse them.
        if self.refresh().is_ok() {
            if let Some(max) = self.snapshot().max_id_seen {
                s.next_pack_id = s.next_pack_id.max(max + 1);
            }
        }
    }
}
