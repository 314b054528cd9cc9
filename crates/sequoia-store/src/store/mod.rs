//! [`PackedSequenceStorage`]: the store type, its options and opening. Its methods are
//! grouped by what they do, one file each:
//!
//! | file | methods |
//! |---|---|
//! | `store/mod.rs` | open, open_at_in, open_writer, open_for_repair, commit_seq, refresh, problems |
//! | `store/session.rs` | the write session: put, put_normalized_batch |
//! | `store/dedup.rs` | the write session's de-duplication state and held additions |
//! | `store/run.rs` | the write session's runs: rows past a bound, sealed as unpublished layers |
//! | `store/commit.rs` | commit, rollback, and publishing packs and index files |
//! | `store/get.rs` | reads by SHA-256: get, get_many, get_many_parallel, map_many_parallel, get_record |
//! | `store/find.rs` | reads by any identifier: resolve, find, find_each, find_many, find_many_parallel |
//! | `store/keys.rs` | the SHA-256 keys, pack by pack: packs, keys_of_pack |
//! | `store/stats.rs` | stats, sequence_count |
//!
//! Whole-store operations add their methods in their own modules: `verify`,
//! `rebuild` (rebuild_index), `repack` and `export`.

mod commit;
mod dedup;
mod find;
mod get;
mod keys;
mod run;
mod session;
mod stats;

pub(crate) use commit::Publish;
pub use commit::{CommitSummary, CompactSummary};
pub(crate) use find::FoundBuffers;
pub use find::FoundSequence;
pub use get::StoredSequence;
pub(crate) use session::{representations_bytes, WriteSession, BATCH_BYTES};
pub use session::{PutOutcome, ADDITIONS_LIMIT, RUN_SEQUENCES};
pub use stats::StoreStats;

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use pack_format::PackVersion;
use pack_io::BlockCache;

use crate::commit_record::{CommitRecord, StagedRecord};
use crate::error::StoreError;
use crate::layout::{fsync_dir, io_err, StoreLayout};
use crate::lock::WriterLock;
use crate::report::OpenProblem;
use crate::snapshot::Snapshot;
use dedup::SessionDedup;

thread_local! {
    pub(super) static CACHE: RefCell<BlockCache> = RefCell::new(BlockCache::default());
}

/// How new packs are written.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Layout of new packs (v2 unless asked otherwise).
    pub format: PackVersion,
    /// Size at which packs rotate.
    pub pack_size_limit: u64,
    /// Uncompressed bytes at which a v2 block of entries with residues closes; `None` (the
    /// default): [`pack_io::DICTIONARY_BLOCK_SIZE`] in packs with a dictionary (every pack
    /// large enough to train one), [`pack_format::v2::DEFAULT_BLOCK_SIZE`] without. `Some(1)`
    /// puts every sequence in a block of its own: a random read decompresses that sequence
    /// alone (faster), and the packs are larger (one block table row and frame header per
    /// sequence, no context shared between neighbours).
    pub block_size: Option<usize>,
    /// Zstandard level; `None` (the default) chooses per pack: v1 packs
    /// [`pack_format::v1::DEFAULT_LEVEL`], v2 packs [`pack_format::v2::default_level`] of
    /// their first entries (1 for protein, 3 for nucleotide sequences).
    pub level: Option<i32>,
    /// Bytes of headers a write session holds for sequences it has already written (their
    /// later representations, written at commit as one addition entry per
    /// sequence). Past it they are written at once, so that an import's memory stays
    /// bounded whatever its input: a sequence seen again after that gets one more entry.
    /// Default [`ADDITIONS_LIMIT`] (counted in the 4 MiB chunks that hold them).
    pub additions_limit: usize,
    /// Sequences a write session holds in memory before it seals them into a run: its
    /// packs finished and their rows written as an unpublished index layer, which the
    /// commit merges (v2 packs over layers of entry rows; others hold everything until the
    /// commit). Default [`RUN_SEQUENCES`].
    pub run_sequences: usize,
    /// Told of every pack a write session closes, fsynced under its temporary name (a
    /// store on object storage uploads it while the import goes on).
    pub on_pack_closed: Option<pack_io::PackClosedHook>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            format: PackVersion::V2,
            pack_size_limit: 64 << 20,
            block_size: None,
            level: None,
            additions_limit: ADDITIONS_LIMIT,
            run_sequences: RUN_SEQUENCES,
            on_pack_closed: None,
        }
    }
}

/// SEQUOIA's store: every distinct sequence once, keyed by SHA-256, with every source
/// record of it, in pack files found through memory-mapped indexes.
///
/// Reads see the last commit; writes become visible to readers when [`commit`] returns,
/// and are durable then. Any number of threads may read while one writes.
///
/// [`commit`]: PackedSequenceStorage::commit
///
/// # Examples
/// ```
/// use sequoia_store::{PackedSequenceStorage, StoreOptions};
/// use pack_format::{Representation, SequenceHash};
/// let dir = tempfile::tempdir().unwrap();
/// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
/// let put = store.put(b"mkvla", Representation::new("sp|P1|X_HUMAN test", "uniprot")).unwrap();
/// assert!(put.new_sequence);
/// store.commit().unwrap();
/// let hash = SequenceHash::of_residues(b"MKVLA");
/// assert_eq!(store.get(&hash).unwrap().unwrap(), b"MKVLA");
/// assert_eq!(store.representations(&hash).unwrap().len(), 1);
/// ```
pub struct PackedSequenceStorage {
    layout: StoreLayout,
    options: StoreOptions,
    snapshot: RwLock<Arc<Snapshot>>,
    session: Option<Mutex<WriteSession>>,
}

impl PackedSequenceStorage {
    /// Opens an existing store for reading.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        Self::open_in(StoreLayout::new(root))
    }

    /// Opens an existing store for reading, laid out as `layout` says (a store that lives
    /// elsewhere, read through its local cache: [`StoreLayout::with_remote`]).
    pub fn open_in(layout: StoreLayout) -> Result<Self, StoreError> {
        Self::open_at_in(layout, None)
    }

    /// Opens a store for reading at commit `at` (`None`: the newest), so that readers in
    /// several processes see the same sequences: a commit stays readable until `gc` runs
    /// after a later one ([`StoreError::NoCommit`] then). [`refresh`](Self::refresh)
    /// moves it to the newest commit.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::layout::StoreLayout;
    /// use sequoia_store::{PackedSequenceStorage, Representation, StoreError, StoreOptions};
    /// let w = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// w.put(b"MKV", Representation::new("a", "s")).unwrap();
    /// w.commit().unwrap();
    /// let first = w.commit_seq();
    /// w.put(b"MVL", Representation::new("b", "s")).unwrap();
    /// w.commit().unwrap();
    /// let layout = StoreLayout::new(dir.path());
    /// let old = PackedSequenceStorage::open_at_in(layout.clone(), first).unwrap();
    /// assert_eq!((old.sequence_count(), w.sequence_count()), (1, 2));
    /// old.refresh().unwrap();
    /// assert_eq!(old.sequence_count(), 2);
    /// let gone = PackedSequenceStorage::open_at_in(layout, Some(99));
    /// assert!(matches!(gone, Err(StoreError::NoCommit { .. })));
    /// ```
    pub fn open_at_in(layout: StoreLayout, at: Option<u64>) -> Result<Self, StoreError> {
        if !layout.packs_dir().is_dir() || !layout.indices_dir().is_dir() {
            return Err(StoreError::NoStore {
                path: layout.root().to_path_buf(),
            });
        }
        let snapshot = Snapshot::open_at(&layout, at)?;
        Ok(PackedSequenceStorage {
            layout,
            options: StoreOptions::default(),
            snapshot: RwLock::new(Arc::new(snapshot)),
            session: None,
        })
    }

    /// Opens a store for writing, creating it if needed, and takes the writer lock.
    /// Fails when an index is damaged (run [`rebuild_index`] first).
    ///
    /// [`rebuild_index`]: PackedSequenceStorage::rebuild_index
    pub fn open_writer(root: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        Self::open_writer_in(StoreLayout::new(root), options)
    }

    /// Like [`open_writer`](Self::open_writer), laid out as `layout` says. For a store that
    /// lives elsewhere the commit is made in the local cache, and publishing it is the
    /// caller's (`sequoia-remote`).
    pub fn open_writer_in(layout: StoreLayout, options: StoreOptions) -> Result<Self, StoreError> {
        let store = Self::open_writer_unchecked(layout, options)?;
        store.snapshot().sound_for_writing()?;
        Ok(store)
    }

    /// Like [`open_writer`](Self::open_writer) but accepts damaged indexes (for repair).
    pub fn open_for_repair(root: &Path) -> Result<Self, StoreError> {
        Self::open_for_repair_in(StoreLayout::new(root))
    }

    /// Like [`open_for_repair`](Self::open_for_repair), laid out as `layout` says.
    pub fn open_for_repair_in(layout: StoreLayout) -> Result<Self, StoreError> {
        Self::open_writer_unchecked(layout, StoreOptions::default())
    }

    fn open_writer_unchecked(
        layout: StoreLayout,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        for dir in [
            layout.root().to_path_buf(),
            layout.packs_dir(),
            layout.indices_dir(),
        ] {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                if let Some(parent) = dir.parent() {
                    fsync_dir(if parent.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        parent
                    })?;
                }
            }
        }
        let lock = WriterLock::acquire(&layout.lock_path())?;
        let mut snapshot = Snapshot::open(&layout)?;
        if snapshot.max_record_seq.is_none()
            && snapshot.layers.is_empty()
            && snapshot.packs.is_empty()
            && snapshot.problems.is_empty()
        {
            // A new store starts with an empty commit record, so that its first commit is
            // atomic like every other.
            StagedRecord::write(&layout, &CommitRecord::default())?.publish()?;
            snapshot = Snapshot::open(&layout)?;
        }
        let mut next_pack_id = snapshot.max_id_seen.map_or(0, |m| m + 1);
        if let Some(remote) = layout.remote() {
            // Packs of failed writers are in the remote store too, under no commit: new
            // packs are numbered past them.
            let listed = remote.pack_ids().map_err(io_err(layout.root()))?;
            next_pack_id = (listed.into_iter().map(|m| m + 1)).fold(next_pack_id, u32::max);
        }
        Ok(PackedSequenceStorage {
            layout,
            options,
            snapshot: RwLock::new(Arc::new(snapshot)),
            session: Some(Mutex::new(WriteSession {
                _lock: lock,
                writer: None,
                next_pack_id,
                batch: Vec::new(),
                batch_bytes: 0,
                dedup: SessionDedup::default(),
                aliases: None,
                runs: None,
                poisoned: None,
            })),
        })
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub(crate) fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The number of the commit this handle reads (`None`: a store written before commit
    /// records, or one whose record cannot be read).
    pub fn commit_seq(&self) -> Option<u64> {
        self.snapshot().record.as_ref().map(|r| r.seq)
    }

    /// Re-reads the store's indexes to see commits made by other handles or processes.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let fresh = Arc::new(Snapshot::open(&self.layout)?);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The snapshot after this handle's own commit `record`, which added the packs
    /// `added`, without listing the store's directories; a full refresh if a layer
    /// cannot be opened (reported there).
    pub(crate) fn refresh_after_commit(
        &self,
        record: CommitRecord,
        added: &[pack_format::PackId],
    ) -> Result<(), StoreError> {
        match self.snapshot().after_commit(&self.layout, record, added) {
            Ok(snap) => {
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
                Ok(())
            }
            Err(_) => self.refresh(),
        }
    }

    /// The snapshot with the listing of the store's files (leftovers, superseded
    /// files), re-read if this handle's last commit skipped it.
    pub(crate) fn listed_snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        let snap = self.snapshot();
        if snap.listed {
            return Ok(snap);
        }
        self.refresh()?;
        Ok(self.snapshot())
    }

    /// Files found unreadable when the store was opened (reported, left in place).
    pub fn problems(&self) -> Vec<OpenProblem> {
        self.snapshot().problems.clone()
    }
}

impl Drop for PackedSequenceStorage {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
            self.discard(&mut s);
        }
    }
}
