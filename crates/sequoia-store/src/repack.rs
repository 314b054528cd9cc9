//! Rewriting every pack of a store into new ones, each sequence as one entry with all its
//! representations: the addition entries that later imports add are merged
//! into their sequence's entry, so reads decompress one block per sequence and the store
//! and its indexes get smaller.

use pack_format::{similarity_key, PackId};
use pack_io::{PackWriter, PutEntry};
use std::sync::Arc;

use crate::alias::AliasWorker;
use crate::error::StoreError;
use crate::store::{
    representations_bytes, PackedSequenceStorage, Publish, StoredSequence, BATCH_BYTES,
};

/// The order in which [`repack`](PackedSequenceStorage::repack_with) writes the sequences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RepackOrder {
    /// Similar sequences next to each other: sorted by [`similarity_key`] and length, so
    /// that homologs share blocks and compress against each other (protein_all: 147 MB
    /// against 165 MB in store order, docs/format.md). Sorted in windows of
    /// [`ORDER_WINDOW`] bytes of records, in store order: the whole of a smaller store.
    #[default]
    Similar,
    /// The store's order, pack by pack: one walk, nothing held.
    Store,
}

/// Bytes of records (residues and representations) a similar-order repack holds and
/// sorts at a time: what bounds its memory (about twice this), and how far apart two
/// sequences may be in the store and still be brought together.
pub const ORDER_WINDOW: usize = 1 << 30;

/// What [`repack`](PackedSequenceStorage::repack) did.
#[derive(Clone, Debug, Default)]
pub struct RepackSummary {
    /// The packs replaced: no longer part of the store, left in place (with their
    /// indexes) for the user to delete.
    pub old_packs: Vec<PackId>,
    /// Bytes of the replaced pack files.
    pub old_pack_bytes: u64,
    /// Entries in the replaced packs.
    pub old_entries: u64,
    /// The packs written.
    pub new_packs: Vec<PackId>,
    /// Bytes of the new pack files.
    pub new_pack_bytes: u64,
    /// Entries in the new packs: one per sequence.
    pub new_entries: u64,
}

impl PackedSequenceStorage {
    /// Rewrites every committed sequence, similar ones together ([`RepackOrder::Similar`]),
    /// into new packs with one entry each holding all its representations (in the order
    /// [`for_each_sequence`](Self::for_each_sequence) gives them), then commits the new
    /// packs in place of the old ones: new pack and alias indexes, then a multi-pack index
    /// listing the new packs only. The old pack files and their indexes are left where
    /// they are, no longer part of the store (reported as leftovers), for the caller to
    /// delete.
    ///
    /// Refused when this session has uncommitted puts, when the store has problems (run
    /// `rebuild-index` first), and, before anything is committed, when the new packs do
    /// not hold exactly the sequences and representations of the old ones. A crash before
    /// the multi-pack index is written leaves the store as it was.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MKV", Representation::new("a", "one")).unwrap();
    /// store.commit().unwrap();
    /// store.put(b"MKV", Representation::new("b", "two")).unwrap();
    /// store.commit().unwrap();
    /// let summary = store.repack().unwrap();
    /// assert_eq!((summary.old_entries, summary.new_entries), (2, 1));
    /// let got = store.get_record(&pack_format::SequenceHash::of_residues(b"MKV")).unwrap().unwrap();
    /// assert_eq!(got.representations.len(), 2);
    /// ```
    pub fn repack(&self) -> Result<RepackSummary, StoreError> {
        self.repack_with(RepackOrder::default())
    }

    /// [`repack`](Self::repack), writing the sequences in `order`.
    pub fn repack_with(&self, order: RepackOrder) -> Result<RepackSummary, StoreError> {
        self.repack_windowed(order, ORDER_WINDOW)
    }

    /// [`repack_with`](Self::repack_with), sorting windows of `window` bytes.
    fn repack_windowed(
        &self,
        order: RepackOrder,
        window: usize,
    ) -> Result<RepackSummary, StoreError> {
        let mut s = self.session()?;
        if s.has_uncommitted() {
            return Err(StoreError::Repack(
                "this session has uncommitted writes: commit them first".into(),
            ));
        }
        let snap = self.snapshot();
        snap.sound_for_writing()?;
        let mut summary = RepackSummary {
            old_packs: snap.indexed_packs(),
            ..RepackSummary::default()
        };
        if summary.old_packs.is_empty() {
            return Ok(summary);
        }
        for id in &summary.old_packs {
            if let Some(slot) = snap.packs.get(id) {
                summary.old_pack_bytes += std::fs::metadata(&slot.path)
                    .map_err(crate::layout::io_err(&slot.path))?
                    .len();
            }
        }
        let before = snap.counts();
        summary.old_entries = snap.layers.iter().map(|l| l.rows.len()).sum();
        drop(snap);

        let writer = PackWriter::spawn(self.writer_config(s.next_pack_id))?;
        // The new packs' alias rows, from the batches the writer takes (as an import's).
        let aliases = AliasWorker::spawn()?;
        let sent = match order {
            RepackOrder::Store => self.write_in_store_order(&writer, &aliases),
            RepackOrder::Similar => self.write_similar_together(&writer, &aliases, window),
        };
        // The writer's own error says more than the closed channel the walk saw.
        let finished = writer.finish();
        let aliases = aliases.finish();
        let mut packs = match (sent, finished) {
            (_, Err(e)) => return Err(e.into()),
            (Err(e), Ok(packs)) => {
                discard(&packs);
                return Err(e);
            }
            (Ok(()), Ok(packs)) => packs,
        };
        let mut after = pack_index::IndexCounts::default();
        for p in &packs {
            after.add(&(&p.counts).into());
        }
        if (after.sequences, after.representations) != (before.sequences, before.representations) {
            discard(&packs);
            return Err(StoreError::Repack(format!(
                "the store lists {} sequences and {} representations, the walk found {} and {} (a sequence stored twice, or representations of a sequence that is not stored): nothing was changed; `sequoia verify` names the entries",
                before.sequences, before.representations, after.sequences, after.representations
            )));
        }
        summary.new_entries = packs.iter().map(|p| p.rows.len() as u64).sum();
        // The alias rows of the new packs only (they name the new packs' entries).
        let aliases = match aliases {
            Ok(rows) => rows,
            Err(e) => {
                discard(&packs);
                return Err(e);
            }
        };
        let published = self.publish_packs(&mut packs, aliases, Publish::Replace, &[]);
        if let Some(last) = packs.last() {
            s.next_pack_id = last.id + 1;
        }
        let published = published.inspect_err(|e| s.poisoned = Some(e.to_string()))?;
        summary.new_packs = published.packs;
        summary.new_pack_bytes = published.pack_bytes;
        Ok(summary)
    }
}

impl PackedSequenceStorage {
    /// Sends every sequence to `writer` in store order, as one walk reads them.
    fn write_in_store_order(
        &self,
        writer: &PackWriter,
        aliases: &AliasWorker,
    ) -> Result<(), StoreError> {
        let mut out = Batches::new(writer, aliases);
        self.for_each_sequence(|rec| out.push(entry_of(rec)))?;
        out.finish()
    }

    /// Sends every sequence to `writer` with similar ones together ([`RepackOrder::Similar`]):
    /// the walk's records are held until they reach `window_bytes` ([`ORDER_WINDOW`]),
    /// sorted, sent, and the walk goes on. One walk, no second read; a store smaller than
    /// the window (protein_all: 251 MB of records) is ordered as a whole.
    fn write_similar_together(
        &self,
        writer: &PackWriter,
        aliases: &AliasWorker,
        window_bytes: usize,
    ) -> Result<(), StoreError> {
        let mut out = Batches::new(writer, aliases);
        let mut window: Vec<(u64, PutEntry)> = Vec::new();
        let mut held = 0usize;
        let mut send = |window: &mut Vec<(u64, PutEntry)>| -> Result<(), StoreError> {
            // Length, then the hash, break ties: the order, and so the packs, depend on
            // the sequences alone.
            window.sort_unstable_by(|(a, x), (b, y)| {
                (a, x.residues.len(), &x.hash).cmp(&(b, y.residues.len(), &y.hash))
            });
            window.drain(..).try_for_each(|(_, e)| out.push(e))
        };
        self.for_each_sequence(|rec| {
            held += rec.residues.len() + representations_bytes(&rec.representations);
            window.push((similarity_key(&rec.residues), entry_of(rec)));
            if held >= window_bytes {
                held = 0;
                send(&mut window)?;
            }
            Ok(())
        })?;
        send(&mut window)?;
        out.finish()
    }
}

/// A sequence as the writer takes it.
fn entry_of(rec: &StoredSequence) -> PutEntry {
    PutEntry {
        hash: rec.hash,
        residues: rec.residues.clone(),
        representations: rec.representations.clone(),
    }
}

/// Entries handed to a pack writer, and to the alias thread beside it, in batches of about
/// [`BATCH_BYTES`].
struct Batches<'w> {
    writer: &'w PackWriter,
    aliases: &'w AliasWorker,
    batch: Vec<PutEntry>,
    bytes: usize,
}

impl<'w> Batches<'w> {
    fn new(writer: &'w PackWriter, aliases: &'w AliasWorker) -> Self {
        Batches {
            writer,
            aliases,
            batch: Vec::new(),
            bytes: 0,
        }
    }

    fn push(&mut self, e: PutEntry) -> Result<(), StoreError> {
        self.bytes += e.residues.len() + representations_bytes(&e.representations);
        self.batch.push(e);
        if self.bytes >= BATCH_BYTES {
            self.bytes = 0;
            let batch = std::mem::take(&mut self.batch);
            self.send(batch)?;
        }
        Ok(())
    }

    /// One batch, shared by the writer and the alias thread.
    fn send(&self, batch: Vec<PutEntry>) -> Result<(), StoreError> {
        let batch = Arc::new(batch);
        self.aliases.send(batch.clone())?;
        Ok(self.writer.put_shared(batch)?)
    }

    fn finish(mut self) -> Result<(), StoreError> {
        let batch = std::mem::take(&mut self.batch);
        self.send(batch)
    }
}

/// Removes the temporary files of packs that will not be published (written by this
/// repack, never part of the store), through `pack_io::fs` like every other file
/// operation of the write path.
fn discard(packs: &[pack_io::FinishedPack]) {
    for p in packs {
        let _ = pack_io::fs::remove_file(&p.temp_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Representation, SequenceId, StoreOptions};

    fn options() -> StoreOptions {
        StoreOptions {
            pack_size_limit: 30_000,
            block_size: Some(512),
            ..StoreOptions::default()
        }
    }

    fn residues(i: usize) -> Vec<u8> {
        let digits: String = i
            .to_string()
            .bytes()
            .map(|d| b"ACDEFGHIKL"[(d - b'0') as usize] as char)
            .collect();
        format!("M{}W{digits}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 5 + 1)).into_bytes()
    }

    /// Three sessions: the later two see many sequences again, as imports of overlapping
    /// files do.
    fn store_in(dir: &std::path::Path) -> PackedSequenceStorage {
        let store = PackedSequenceStorage::open_writer(dir, options()).unwrap();
        for (session, step) in [(0, 1), (1, 2), (2, 3)] {
            for i in (0..1500).step_by(step) {
                let header = format!("s{session}_{i} ACC{session}X{i}");
                store
                    .put(
                        &residues(i),
                        Representation::new(header, format!("src{session}")),
                    )
                    .unwrap();
            }
            store.commit().unwrap();
        }
        store
    }

    fn export(store: &PackedSequenceStorage) -> Vec<u8> {
        let mut out = Vec::new();
        store
            .for_each_sequence(|rec| {
                out.extend_from_slice(&rec.hash.0);
                out.extend_from_slice(&rec.residues);
                for r in &rec.representations {
                    out.extend_from_slice(format!("|{}|{}", r.header, r.source).as_bytes());
                }
                out.push(b'\n');
                Ok(())
            })
            .unwrap();
        out
    }

    /// The records of an export, one a line, sorted: what a repack in another order keeps.
    fn sorted_records(export: Vec<u8>) -> Vec<Vec<u8>> {
        let mut lines: Vec<Vec<u8>> = export.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        lines.sort();
        lines
    }

    #[test]
    fn repacking_in_many_small_windows_keeps_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let before = export(&store);
        // About 25 sequences a window: each sorted on its own.
        let summary = store.repack_windowed(RepackOrder::Similar, 4096).unwrap();
        assert_eq!(summary.new_entries, 1500);
        let after = export(&store);
        assert_ne!(after, before);
        assert_eq!(sorted_records(after), sorted_records(before));
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn repacking_in_store_order_keeps_the_export_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let before = export(&store);
        store.repack_with(RepackOrder::Store).unwrap();
        assert_eq!(export(&store), before);
    }

    #[test]
    fn repacking_merges_entries_and_keeps_every_answer() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let before = export(&store);
        let stats = store.stats().unwrap();
        let summary = store.repack().unwrap();
        assert_eq!(summary.old_entries, 1500 + 750 + 500);
        assert_eq!(summary.new_entries, 1500, "one entry per sequence");
        assert!(summary.new_pack_bytes < summary.old_pack_bytes);
        assert!(summary
            .new_packs
            .iter()
            .all(|n| summary.old_packs.iter().all(|o| n > o)));
        // Similar sequences together: the same records, in another order.
        let repacked = export(&store);
        assert_ne!(repacked, before);
        assert_eq!(sorted_records(repacked.clone()), sorted_records(before));
        let after = store.stats().unwrap();
        assert_eq!(
            (after.sequences, after.representations),
            (stats.sequences, stats.representations)
        );
        // The replaced packs and their indexes are not counted as the store's.
        assert_eq!(after.packs, summary.new_packs.len());
        assert_eq!(after.pack_bytes, summary.new_pack_bytes);
        assert!(after.index_bytes < stats.index_bytes, "{after:?}");
        // One layer: its rows file and three alias indexes, and the commit record (v2
        // packs have no index file).
        assert_eq!(after.index_files, 5);
        assert_eq!(after.layers, 1);
        // Alias lookups still answer, with the same residues.
        for i in [0, 6, 999] {
            let id = SequenceId::parse(&format!("s2_{i}")).unwrap();
            assert_eq!(store.get_by(&id).unwrap()[0].1, residues(i));
        }
        // The old packs are leftovers; everything else verifies.
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        for id in &summary.old_packs {
            let path = store.layout().pack_path(*id);
            assert!(report.leftovers.contains(&path), "{path:?}");
        }
        // gc deletes them and nothing the store uses.
        drop(store);
        let store = PackedSequenceStorage::open_writer(dir.path(), options()).unwrap();
        let gc = store.gc(false).unwrap();
        // The leftovers, and the superseded commit records and layers.
        let deleted: Vec<&std::path::PathBuf> = gc.files.iter().map(|(p, _)| p).collect();
        assert!(report.leftovers.iter().all(|p| deleted.contains(&p)));
        assert!(deleted.len() > report.leftovers.len());
        assert!(store.layout().pack_path(summary.new_packs[0]).exists());
        assert_eq!(export(&store), repacked);
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
        drop(store);
        // Reopened from disk, it reads the same, and takes new writes.
        let store = PackedSequenceStorage::open_writer(dir.path(), options()).unwrap();
        assert_eq!(export(&store), repacked);
        store
            .put(&residues(3), Representation::new("late", "src3"))
            .unwrap();
        store.commit().unwrap();
        let rec = store
            .get_record(&pack_format::SequenceHash::of_residues(&residues(3)))
            .unwrap()
            .unwrap();
        let headers: Vec<&str> = rec
            .representations
            .iter()
            .map(|r| r.header.as_str())
            .collect();
        assert_eq!(headers, ["s0_3 ACC0X3", "s2_3 ACC2X3", "late"]);
    }

    #[test]
    fn repacking_into_v3_packs_keeps_every_answer_and_takes_new_writes() {
        let dir = tempfile::tempdir().unwrap();
        let before = export(&store_in(dir.path()));
        let v3 = StoreOptions {
            format: pack_format::PackVersion::V3,
            ..options()
        };
        let store = PackedSequenceStorage::open_writer(dir.path(), v3.clone()).unwrap();
        let summary = store.repack().unwrap();
        assert_eq!(summary.new_entries, 1500, "one row per sequence");
        assert!(summary.new_pack_bytes < summary.old_pack_bytes);
        let stats = store.stats().unwrap();
        assert_eq!(stats.v3_packs, stats.packs);
        let repacked = export(&store);
        assert_eq!(sorted_records(repacked.clone()), sorted_records(before));
        for i in [0, 6, 999] {
            let id = SequenceId::parse(&format!("s2_{i}")).unwrap();
            assert_eq!(store.get_by(&id).unwrap()[0].1, residues(i));
        }
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        // The index rebuilt from the packs alone (their keys re-hashed) answers alike.
        store.rebuild_index().unwrap();
        assert_eq!(export(&store), repacked);
        // New sequences and representations of stored ones: rows and addition rows.
        store
            .put(&residues(3), Representation::new("late", "src3"))
            .unwrap();
        store
            .put(&residues(5000), Representation::new("new", "src3"))
            .unwrap();
        store.commit().unwrap();
        drop(store);
        let store = PackedSequenceStorage::open_writer(dir.path(), v3).unwrap();
        let rec = store
            .get_record(&pack_format::SequenceHash::of_residues(&residues(3)))
            .unwrap()
            .unwrap();
        let headers: Vec<&str> = (rec.representations.iter())
            .map(|r| r.header.as_str())
            .collect();
        assert_eq!(headers, ["s0_3 ACC0X3", "s2_3 ACC2X3", "late"]);
        let id = SequenceId::parse("new").unwrap();
        assert_eq!(store.get_by(&id).unwrap()[0].1, residues(5000));
        assert_eq!(
            store.stats().unwrap().v3_packs,
            store.stats().unwrap().packs
        );
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_repack_whose_commit_record_is_lost_leaves_the_old_store() {
        // As a crash between the new layer and the commit record naming it would.
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let before = export(&store);
        let layout = store.layout().clone();
        let summary = store.repack().unwrap();
        let newest = crate::commit_record::list_commit_records(&layout).unwrap()[0];
        drop(store);
        std::fs::remove_file(layout.commit_record_path(newest)).unwrap();
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        assert!(store.problems().is_empty(), "{:?}", store.problems());
        assert_eq!(export(&store), before);
        let id = SequenceId::parse("s1_4").unwrap();
        assert_eq!(store.get_by(&id).unwrap()[0].1, residues(4));
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        for id in &summary.new_packs {
            assert!(report.leftovers.contains(&layout.pack_path(*id)));
        }
    }

    #[test]
    fn uncommitted_writes_refuse_a_repack() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        store
            .put(&residues(1), Representation::new("pending", "x"))
            .unwrap();
        let err = store.repack().unwrap_err();
        assert!(err.to_string().contains("commit them first"), "{err}");
        store.commit().unwrap();
        store.repack().unwrap();
    }
}
