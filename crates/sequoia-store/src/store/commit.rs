//! Commits: the session's packs finished, their index files and alias rows written, and
//! the commit record published last (docs/format.md, "Committing"); rollback.

use memmap2::Mmap;
use pack_format::{PackId, PackVersion, Representation, SequenceHash};
use pack_index::{write_index, CheckedIndex, IndexCounts, IndexEntry, IndexKind};
use pack_io::{FinishedPack, PackRows, PutEntry};

use crate::alias::AliasRows;
use crate::commit_record::{stage_commit_record, CommitRows};
use crate::error::StoreError;
use crate::layout::{fsync_dir, io_err, write_atomically};

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
        let Some(writer) = s.writer.take() else {
            return Ok(CommitSummary::default());
        };
        let mut packs = writer.finish()?;
        let aliases = match s.aliases.take() {
            Some(worker) => worker.finish()?,
            None => AliasRows::default(),
        };
        let summary = self.publish_packs(&mut packs, aliases, Publish::Add)?;
        if let Some(last) = packs.last() {
            s.next_pack_id = last.id + 1;
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

    /// Publishes finished packs: their indexes, the packs under their names, the alias
    /// indexes (`new_aliases` merged with the current ones), then the commit record: over
    /// the committed packs and these (`Publish::Add`), or these alone (`Publish::Replace`).
    pub(crate) fn publish_packs(
        &self,
        packs: &mut [FinishedPack],
        new_aliases: AliasRows,
        how: Publish,
    ) -> Result<CommitSummary, StoreError> {
        let mut summary = CommitSummary::default();
        if packs.is_empty() {
            return Ok(summary);
        }
        let snap = self.snapshot();
        let committed = snap.indexed_packs();
        let (mut ids, mut counts) = match how {
            Publish::Add => (committed.clone(), snap.counts()),
            Publish::Replace => (Vec::new(), IndexCounts::default()),
        };
        // The old rows are merged from the committed indexes as the new commit record is
        // written, not loaded: a commit holds its own rows, whatever the store's size.
        // Their buckets are checked here, once, before anything is written or renamed (the
        // merges take only checked indexes), so that damage in the old commit record is
        // reported, naming the file, instead of being copied into the new one, and leaves
        // every file as it was.
        //
        // The commit record holds entry rows (hash prefix, pack and entry number: 8 bytes a
        // row on protein_all) when every pack it covers is a v2 pack and the old one holds
        // entry rows too (or there is none); else location rows (48 bytes), which v1 packs
        // need. A store
        // written before entry rows keeps location rows until `rebuild-index` or `repack`.
        let entry_rows = packs.iter().all(|p| p.version == PackVersion::V2)
            && match how {
                Publish::Replace => true,
                Publish::Add => {
                    snap.extras.is_empty()
                        && (snap.multi.as_ref()).is_none_or(|m| m.kind() == IndexKind::Entries)
                }
            };
        let mut rows = if entry_rows {
            CommitRows::Entries(Vec::new())
        } else {
            CommitRows::Locations(Vec::new())
        };
        let mut old: Vec<CheckedIndex<'_, Mmap>> = Vec::new();
        if how == Publish::Add {
            let multi = snap
                .multi
                .iter()
                .map(|m| (self.layout.multi_index_path(), m));
            let extras =
                (snap.extras.iter()).map(|(id, ix)| (self.layout.pack_index_path(*id), ix));
            for (path, ix) in multi.chain(extras) {
                let checked = ix
                    .check_buckets()
                    .map_err(|source| StoreError::Index { path, source })?;
                match &mut rows {
                    // v1 packs join a store whose commit record holds entry rows: its rows
                    // become location rows, read through the packs' entry tables (a commit
                    // that holds the store's rows in memory once).
                    CommitRows::Locations(r) if ix.kind() == IndexKind::Entries => {
                        r.extend(snap.location_rows(&checked)?);
                    }
                    _ => old.push(checked),
                }
            }
        }
        // The alias indexes' too: one damaged kind must not leave the others rewritten.
        let mut old_aliases = std::collections::BTreeMap::new();
        for (kind, ix) in &snap.aliases {
            let checked = ix.check_buckets().map_err(|source| StoreError::Index {
                path: self.layout.alias_index_path(*kind),
                source,
            })?;
            old_aliases.insert(*kind, checked);
        }
        // Alias indexes before the commit record: a crash in between leaves rows that name
        // sequences no committed pack holds, which lookups filter out. They cover the packs
        // committed now as well, so that they stay complete whether or not the commit
        // record below is written (replaced packs hold the same sequences). They are
        // written on their own thread while the packs' indexes are written here.
        let mut alias_ids: Vec<PackId> = committed
            .iter()
            .copied()
            .chain(packs.iter().map(|p| p.id))
            .collect();
        alias_ids.sort_unstable();
        alias_ids.dedup();
        // Room for the new packs' rows at once, not by doubling.
        rows.reserve_exact(packs.iter().map(|p| p.rows.len()).sum());
        let (aliases_written, commit_record) = std::thread::scope(|scope| {
            let aliases = scope.spawn(|| new_aliases.write(&self.layout, &alias_ids, &old_aliases));
            // The commit record is written (under its temporary name) while the alias
            // indexes are, and renamed into place only after them.
            let staged = self
                .publish_pack_files(packs, &mut summary, &mut ids, &mut counts, &mut rows)
                .and_then(|()| {
                    ids.sort_unstable();
                    stage_commit_record(&self.layout, &ids, counts, &old, &mut rows)
                });
            let written = aliases.join().unwrap_or_else(|_| {
                Err(StoreError::Corrupt(
                    "the alias index writer panicked".into(),
                ))
            });
            (written, staged)
        });
        let commit_record = commit_record?;
        // An alias error drops the staged commit record, which removes its file.
        aliases_written?;
        // The commit point: the new multi-pack index lists the new packs.
        commit_record.publish()?;
        self.refresh()?;
        Ok(summary)
    }

    /// Writes the index of each finished v1 pack (a v2 pack's footer holds its entry table,
    /// which stands in for one), renames the packs into place and adds their rows, ids and
    /// counts to the commit record's.
    fn publish_pack_files(
        &self,
        packs: &mut [FinishedPack],
        summary: &mut CommitSummary,
        ids: &mut Vec<PackId>,
        counts: &mut IndexCounts,
        rows: &mut CommitRows,
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
            counts.add(&pack_counts);
            ids.push(p.id);
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
        // Files that could not be removed keep their ids: never reuse them.
        if self.refresh().is_ok() {
            if let Some(max) = self.snapshot().max_id_seen {
                s.next_pack_id = s.next_pack_id.max(max + 1);
            }
        }
    }
}
