//! `PackedSequenceStorage`: puts, commits and reads over packs and indexes.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use memmap2::Mmap;
use pack_format::{PackId, PackLocation, PackVersion, Representation, SequenceHash};
use pack_index::{
    hash_prefix, write_index, write_merged_entry_index, write_merged_index, CheckedIndex, EntryRow,
    HashPrefix, IndexCounts, IndexEntry, IndexKind,
};
use pack_io::{BlockCache, FinishedPack, PackRows, PackWriter, PackWriterConfig, PutEntry};

use crate::alias::{AliasRows, AliasWorker};
use crate::error::StoreError;
use crate::ids::SequenceId;
use crate::known::{fingerprint, KnownRepresentations};
use crate::layout::{fsync_dir, io_err, write_atomically, StagedFile, StoreLayout};
use crate::lock::WriterLock;
use crate::snapshot::{OpenProblem, Snapshot};

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
    /// later representations, written at commit as one representations-only entry per
    /// sequence). Past it they are written at once, so that an import's memory stays
    /// bounded whatever its input: a sequence seen again after that gets one more entry.
    /// Default [`HELD_HEADERS_BYTES`] (counted in the 4 MiB chunks that hold them).
    pub held_headers_limit: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            format: PackVersion::V2,
            pack_size_limit: 64 << 20,
            block_size: None,
            level: None,
            held_headers_limit: HELD_HEADERS_BYTES,
        }
    }
}

/// A sequence with every representation stored for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSequence {
    /// SHA-256 of the residues.
    pub hash: SequenceHash,
    /// Upper-case residues.
    pub residues: Vec<u8>,
    /// Source records, oldest first.
    pub representations: Vec<Representation>,
}

/// A sequence found by [`PackedSequenceStorage::find_each`], borrowed from buffers that
/// the next sequence reuses.
#[derive(Clone, Copy, Debug)]
pub struct FoundSequence<'a> {
    /// SHA-256 of the residues.
    pub hash: SequenceHash,
    /// Upper-case residues.
    pub residues: &'a [u8],
    /// Headers and sources back to back.
    text: &'a str,
    /// Per representation: where its header ends and its source starts, and where its
    /// source ends, in `text` (the header starts where the previous source ended).
    ends: &'a [(usize, usize)],
}

impl<'a> FoundSequence<'a> {
    /// Each representation as (header, source), oldest first.
    pub fn representations(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + '_ {
        let text = self.text;
        self.ends
            .iter()
            .enumerate()
            .map(move |(i, &(header_end, end))| {
                let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
                (&text[start..header_end], &text[header_end..end])
            })
    }

    /// An owned copy.
    pub fn to_stored(&self) -> StoredSequence {
        StoredSequence {
            hash: self.hash,
            residues: self.residues.to_vec(),
            representations: self
                .representations()
                .map(|(h, s)| Representation::new(h, s))
                .collect(),
        }
    }
}

/// The buffers a [`FoundSequence`] borrows.
#[derive(Default)]
pub(crate) struct FoundBuffers {
    residues: Vec<u8>,
    text: String,
    ends: Vec<(usize, usize)>,
    /// `residues` holds an entry's residues (an empty sequence included).
    has_residues: bool,
}

impl FoundBuffers {
    fn clear(&mut self) {
        self.residues.clear();
        self.text.clear();
        self.ends.clear();
        self.has_residues = false;
    }

    /// Adds what entry `e` holds: its residues, unless an entry before gave them, and its
    /// representations whose header `keep` accepts.
    fn add(
        &mut self,
        e: &pack_format::EntryRef<'_>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        if e.has_sequence() && !self.has_residues {
            self.residues.extend_from_slice(e.sequence);
            self.has_residues = true;
        }
        let FoundBuffers { text, ends, .. } = self;
        e.for_each_representation(|h, s| {
            if keep(h) {
                text.push_str(h);
                let header_end = text.len();
                text.push_str(s);
                ends.push((header_end, text.len()));
            }
        })
        .map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    /// Whether the record read for `id` answers to it: an accession's candidate with no
    /// representation that answers (a row whose representation was never committed, or a
    /// key collision) does not, nor an MD5's or `sha512t24u`'s candidate whose residues
    /// have another digest (the alias rows hold digests' and SHA-256s' first bytes only).
    fn answers(&self, id: &SequenceId) -> bool {
        match id {
            SequenceId::Accession(_) => !self.ends.is_empty(),
            _ => id.answered_by_residues(&self.residues),
        }
    }

    fn view(&self, hash: SequenceHash) -> FoundSequence<'_> {
        FoundSequence {
            hash,
            residues: &self.residues,
            text: &self.text,
            ends: &self.ends,
        }
    }
}

/// What a put changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The residues were not stored before.
    pub new_sequence: bool,
    /// The representation was not stored before.
    pub new_representation: bool,
}

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

/// Figures of a store, read from index headers and file sizes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Published packs.
    pub packs: usize,
    /// Of those, v1 packs.
    pub v1_packs: usize,
    /// Distinct sequences.
    pub sequences: u64,
    /// Representations.
    pub representations: u64,
    /// Residue bytes.
    pub residue_bytes: u64,
    /// Encoded entry bytes before compression.
    pub uncompressed_bytes: u64,
    /// Bytes of pack files.
    pub pack_bytes: u64,
    /// Bytes of index files.
    pub index_bytes: u64,
    /// Index files.
    pub index_files: usize,
    /// The commit record's kind: [`IndexKind::Entries`] (16-byte rows naming entry table
    /// rows), [`IndexKind::Multi`] (48-byte location rows: v1 packs, or a store written
    /// before entry rows; `rebuild_index` rewrites them as entry rows when every pack is
    /// a v2 pack), `None` without a usable one.
    pub commit_record: Option<IndexKind>,
    /// Its rows (one per entry of every committed pack).
    pub commit_record_rows: u64,
    /// Leftover temporary files of interrupted writes.
    pub stray_temp_files: Vec<PathBuf>,
    /// Files that could not be used.
    pub problems: Vec<OpenProblem>,
}

impl StoreStats {
    /// Uncompressed entry bytes per byte of pack.
    pub fn compression_ratio(&self) -> f64 {
        if self.pack_bytes == 0 {
            0.0
        } else {
            self.uncompressed_bytes as f64 / self.pack_bytes as f64
        }
    }
}

/// Whether published packs add to the committed ones or replace them (repacking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Publish {
    Add,
    Replace,
}

pub(crate) struct WriteSession {
    _lock: WriterLock,
    writer: Option<PackWriter>,
    pub next_pack_id: PackId,
    batch: Vec<PutEntry>,
    batch_bytes: usize,
    /// Sequences touched since the last commit, with their representations' fingerprints;
    /// new representations of sequences already written are kept there, grouped per
    /// sequence, and written at commit as one entry each (in first-seen order), so that a
    /// sequence seen in three sources costs two entries, not three.
    known: KnownRepresentations,
    /// Computes alias-index rows (digests of new sequences, accessions of new
    /// representations) on its own thread, from the batches the writer is sent (shared).
    aliases: Option<AliasWorker>,
    pub poisoned: Option<String>,
}

impl WriteSession {
    /// Whether anything was put since the last commit.
    pub fn has_uncommitted(&self) -> bool {
        self.writer.is_some() || !self.batch.is_empty() || !self.known.is_empty()
    }
}

pub(crate) const BATCH_BYTES: usize = 1 << 20;
/// How many records ahead [`PackedSequenceStorage::put_normalized_batch`] prefetches
/// the session's slot of a record.
const SESSION_PREFETCH_AHEAD: usize = 8;

/// The default [`StoreOptions::held_headers_limit`]: one pack's worth.
pub const HELD_HEADERS_BYTES: usize = 64 << 20;

/// What `representations` count for towards [`BATCH_BYTES`].
pub(crate) fn representations_bytes(representations: &[Representation]) -> usize {
    representations
        .iter()
        .map(|r| r.header.len() + r.source.len() + 8)
        .sum()
}

/// How many places ahead [`PackedSequenceStorage::get_many`] asks for the blocks and keys it
/// will read (enough to cover a block's decompression, few enough to stay in cache).
const PREFETCH_AHEAD: usize = 4;

thread_local! {
    static CACHE: RefCell<BlockCache> = RefCell::new(BlockCache::default());
    /// Buffers of `find_each`, taken while in use (a nested call gets fresh ones).
    static FOUND: RefCell<FoundBuffers> = RefCell::new(FoundBuffers::default());
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
        let layout = StoreLayout::new(root);
        if !layout.packs_dir().is_dir() || !layout.indices_dir().is_dir() {
            return Err(StoreError::NoStore {
                path: root.to_path_buf(),
            });
        }
        let snapshot = Snapshot::open(&layout)?;
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
        let store = Self::open_writer_unchecked(root, options)?;
        store.snapshot().sound_for_writing()?;
        Ok(store)
    }

    /// Like [`open_writer`](Self::open_writer) but accepts damaged indexes (for repair).
    pub fn open_for_repair(root: &Path) -> Result<Self, StoreError> {
        Self::open_writer_unchecked(root, StoreOptions::default())
    }

    fn open_writer_unchecked(root: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let layout = StoreLayout::new(root);
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
        if snapshot.multi.is_none() && snapshot.packs.is_empty() && snapshot.problems.is_empty() {
            // A new store starts with an empty commit record, so that its first commit is
            // atomic like every other.
            write_multi_index_file(
                &layout,
                &[],
                IndexCounts::default(),
                &mut MultiRows::Entries(Vec::new()),
            )?;
            snapshot = Snapshot::open(&layout)?;
        }
        let next_pack_id = snapshot.max_id_seen.map_or(0, |m| m + 1);
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
                known: KnownRepresentations::default(),
                aliases: None,
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

    /// Re-reads the store's indexes to see commits made by other handles or processes.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let fresh = Arc::new(Snapshot::open(&self.layout)?);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Files found unreadable when the store was opened (reported, left in place).
    pub fn problems(&self) -> Vec<OpenProblem> {
        self.snapshot().problems.clone()
    }

    pub(crate) fn session(&self) -> Result<std::sync::MutexGuard<'_, WriteSession>, StoreError> {
        let s = self.session.as_ref().ok_or(StoreError::ReadOnly)?;
        let guard = s.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &guard.poisoned {
            return Err(StoreError::Poisoned(why.clone()));
        }
        Ok(guard)
    }

    pub(crate) fn session_guard(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, impl Sized>, StoreError> {
        let s = self.session.as_ref().ok_or(StoreError::ReadOnly)?;
        Ok(s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Stores `residues` (checked and upper-cased) with one representation.
    pub fn put(
        &self,
        residues: &[u8],
        representation: Representation,
    ) -> Result<PutOutcome, StoreError> {
        let residues =
            crate::alphabet::normalize_residues(residues).map_err(StoreError::InvalidSequence)?;
        let hash = SequenceHash::of_residues(&residues);
        let mut s = self.session()?;
        self.put_locked(
            &mut s,
            hash,
            residues,
            &representation.header,
            &representation.source,
        )
    }

    /// Stores many records whose residues are already upper-case and valid, with their
    /// hashes computed (the import path), all from `source`.
    pub(crate) fn put_normalized_batch<'a>(
        &self,
        records: impl IntoIterator<Item = (SequenceHash, &'a [u8], &'a str)>,
        source: &str,
        mut counted: impl FnMut(PutOutcome),
    ) -> Result<(), StoreError> {
        let mut s = self.session()?;
        let records: Vec<_> = records.into_iter().collect();
        for (i, &(hash, residues, header)) in records.iter().enumerate() {
            // Each record's session lookup misses the cache in a large import: started
            // a few records ahead, it overlaps the work on the records in between.
            if let Some((ahead, _, _)) = records.get(i + SESSION_PREFETCH_AHEAD) {
                s.known.prefetch(ahead);
            }
            counted(self.put_locked(&mut s, hash, residues, header, source)?);
        }
        Ok(())
    }

    /// Stores a record, copying its residues and representation only when the sequence is
    /// new (a known sequence's new representation is kept by `known` until the commit).
    fn put_locked<R: Into<Vec<u8>>>(
        &self,
        s: &mut WriteSession,
        hash: SequenceHash,
        residues: R,
        header: &str,
        source: &str,
    ) -> Result<PutOutcome, StoreError> {
        let mut outcome = PutOutcome::default();
        // Touched in this session, else stored by an earlier commit, else new.
        let mut seen = s.known.add_representation(&hash, header, source);
        if seen.is_none() {
            if let Some(fps) = self.stored_fingerprints(&hash)? {
                s.known.insert_sequence(hash, fps);
                seen = s.known.add_representation(&hash, header, source);
            }
        }
        if let Some(new_representation) = seen {
            outcome.new_representation = new_representation;
            if new_representation && s.known.held_bytes() >= self.options.held_headers_limit {
                // Bounded, whatever the input's size: written now, as the commit would,
                // a batch at a time.
                loop {
                    let batch = s.known.flush_deferred(BATCH_BYTES);
                    if batch.is_empty() {
                        break;
                    }
                    self.write_deferred(s, batch)?;
                }
            }
            return Ok(outcome);
        }
        s.known.insert_sequence(hash, [fingerprint(header, source)]);
        outcome.new_sequence = true;
        outcome.new_representation = true;
        let residues = residues.into();
        s.batch_bytes += residues.len() + header.len() + source.len() + 48;
        s.batch.push(PutEntry {
            hash,
            residues,
            representations: vec![Representation::new(header, source)],
        });
        if s.batch_bytes >= BATCH_BYTES {
            self.send_batch(s)?;
        }
        Ok(outcome)
    }

    /// The fingerprints of the representations stored for `hash`, `None` when it is not
    /// stored.
    fn stored_fingerprints(&self, hash: &SequenceHash) -> Result<Option<Vec<u64>>, StoreError> {
        let snap = self.snapshot();
        let locs = snap.locations(hash)?;
        if locs.is_empty() {
            return Ok(None);
        }
        let mut fps = Vec::new();
        CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            for loc in &locs {
                snap.with_entry(hash, loc, &mut cache, |e| {
                    e.for_each_representation(|h, s| fps.push(fingerprint(h, s)))
                })?
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(Some(fps))
    }

    /// How this store writes packs, the first numbered `first_id`.
    pub(crate) fn writer_config(&self, first_id: PackId) -> PackWriterConfig {
        let mut config = PackWriterConfig::new(&self.layout.packs_dir(), first_id);
        config.version = self.options.format;
        config.pack_size_limit = self.options.pack_size_limit;
        if let Some(size) = self.options.block_size {
            config.block_size = size;
            config.dictionary_block_size = size;
        }
        config.level = self.options.level;
        config
    }

    fn send_batch(&self, s: &mut WriteSession) -> Result<(), StoreError> {
        if s.batch.is_empty() {
            return Ok(());
        }
        if s.writer.is_none() {
            s.writer = Some(PackWriter::spawn(self.writer_config(s.next_pack_id))?);
        }
        // One batch, shared by the writer and the alias thread.
        let batch = std::sync::Arc::new(std::mem::take(&mut s.batch));
        s.batch_bytes = 0;
        if s.aliases.is_none() {
            s.aliases = Some(AliasWorker::spawn()?);
        }
        s.aliases
            .as_ref()
            .expect("an alias worker was just started")
            .send(batch.clone())?;
        let sent = s
            .writer
            .as_ref()
            .expect("a writer was just started")
            .put_shared(batch);
        if let Err(e) = sent {
            // The thread stopped on an error: collect it and poison the session.
            let err = match s.writer.take().map(|w| w.finish()) {
                Some(Err(inner)) => StoreError::from(inner),
                _ => StoreError::from(e),
            };
            s.poisoned = Some(err.to_string());
            return Err(err);
        }
        Ok(())
    }

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
        // Taking the deferred representations frees the session's memory of what it saw
        // before the packs and indexes are finished.
        let deferred = s.known.take_deferred();
        self.write_deferred(s, deferred)?;
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

    /// Sends representations of sequences already written, as one representations-only
    /// entry per sequence, to the session's packs.
    fn write_deferred(
        &self,
        s: &mut WriteSession,
        deferred: impl IntoIterator<Item = (SequenceHash, Vec<Representation>)>,
    ) -> Result<(), StoreError> {
        for (hash, representations) in deferred {
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
            MultiRows::Entries(Vec::new())
        } else {
            MultiRows::Locations(Vec::new())
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
                    MultiRows::Locations(r) if ix.kind() == IndexKind::Entries => {
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
                    stage_multi_index_file(&self.layout, &ids, counts, &old, &mut rows)
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
        rows: &mut MultiRows,
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

    /// The committed sequences `id` names: one for a digest, any number for an accession
    /// (the sequences of every representation that answers to it), none when unknown.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let by_acc = store.resolve(&SequenceId::parse("HBA_HUMAN").unwrap()).unwrap();
    /// let by_md5 = store.resolve(&SequenceId::parse("a3c9b6a3c4ba5d4e1d4c2d5e32b6a4c5").unwrap()).unwrap();
    /// assert_eq!(by_acc.len(), 1);
    /// assert!(by_md5.is_empty());
    /// ```
    pub fn resolve(&self, id: &SequenceId) -> Result<Vec<SequenceHash>, StoreError> {
        Ok(answering(&self.snapshot(), id)?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect())
    }

    /// The residues of every committed sequence `id` names (for a digest at most one):
    /// [`resolve`](Self::resolve) then [`get`](Self::get), with one index lookup less.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let found = store.get_by(&SequenceId::parse("P69905").unwrap()).unwrap();
    /// assert_eq!(found[0].1, b"MVLSPADKTN");
    /// ```
    pub fn get_by(&self, id: &SequenceId) -> Result<Vec<(SequenceHash, Vec<u8>)>, StoreError> {
        answering(&self.snapshot(), id)
    }

    /// Every committed sequence `id` names, with the representations that match it: all of
    /// them for a digest, those answering to the accession for an accession.
    pub fn find(&self, id: &SequenceId) -> Result<Vec<StoredSequence>, StoreError> {
        let mut out = Vec::new();
        self.find_each(id, |found| out.push(found.to_stored()))?;
        Ok(out)
    }

    /// Calls `f` with every sequence [`find`](Self::find) would return, borrowed from
    /// buffers reused from one sequence and one call to the next (no allocation per
    /// sequence); returns how many there were.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let mut headers = Vec::new();
    /// let n = store
    ///     .find_each(&SequenceId::parse("P69905").unwrap(), |found| {
    ///         assert_eq!(found.residues, b"MVLSPADKTN");
    ///         headers.extend(found.representations().map(|(h, _)| h.to_string()));
    ///     })
    ///     .unwrap();
    /// assert_eq!((n, headers), (1, vec!["sp|P69905|HBA_HUMAN Hemoglobin".to_string()]));
    /// ```
    pub fn find_each(
        &self,
        id: &SequenceId,
        mut f: impl FnMut(&FoundSequence<'_>),
    ) -> Result<usize, StoreError> {
        let snap = self.snapshot();
        let mut buffers = FOUND.with(|b| b.take());
        let mut found = 0;
        let result = candidates(&snap, id).and_then(|candidates| {
            for (hash, locs) in candidates {
                CACHE.with(|c| {
                    fill_record(
                        &snap,
                        &hash,
                        &locs,
                        &mut c.borrow_mut(),
                        &mut buffers,
                        |h| id.matches_header(h),
                    )
                })?;
                if !buffers.answers(id) {
                    continue;
                }
                f(&buffers.view(hash));
                found += 1;
            }
            Ok(found)
        });
        FOUND.with(|b| b.replace(buffers));
        result
    }

    /// [`find_each`](Self::find_each) of every id of `ids`, read together: `f(i, found)`
    /// for each sequence `ids[i]` names, in the order of `ids` (and for one id in
    /// `find_each`'s order). Returns how many sequences each id named.
    ///
    /// As in [`get_many`](Self::get_many), the entries of the whole batch are read in the
    /// order of their places in the packs; each sequence is held until its id's turn, so a
    /// batch should be of thousands of ids, not millions.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let ids = [SequenceId::parse("Q99999").unwrap(), SequenceId::parse("P69905").unwrap()];
    /// let mut found = Vec::new();
    /// let counts = store.find_many(&ids, |i, rec| found.push((i, rec.residues.to_vec()))).unwrap();
    /// assert_eq!((counts, found), (vec![0, 1], vec![(1, b"MVLSPADKTN".to_vec())]));
    /// ```
    pub fn find_many(
        &self,
        ids: &[SequenceId],
        mut f: impl FnMut(usize, &FoundSequence<'_>),
    ) -> Result<Vec<usize>, StoreError> {
        let snap = self.snapshot();
        // Every sequence the ids name (in the order of the ids), and every entry of each.
        let mut named: Vec<(usize, SequenceHash)> = Vec::new();
        let mut places: Vec<(PackLocation, usize)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            for (hash, locs) in candidates(&snap, id)? {
                places.extend(locs.into_iter().map(|loc| (loc, named.len())));
                named.push((i, hash));
            }
        }
        // Sorted by place, each sequence's entries keep their order (`locations` sorts them).
        places.sort_unstable();
        let mut records: Vec<FoundBuffers> = Vec::new();
        records.resize_with(named.len(), FoundBuffers::default);
        CACHE.with(|c| -> Result<(), StoreError> {
            let mut cache = c.borrow_mut();
            for (j, &(loc, n)) in places.iter().enumerate() {
                if let Some(&(ahead, m)) = places.get(j + PREFETCH_AHEAD) {
                    snap.prefetch(&named[m].1, &ahead);
                }
                let (i, hash) = &named[n];
                let id = &ids[*i];
                let record = &mut records[n];
                snap.with_entry(hash, &loc, &mut cache, |e| {
                    record.add(&e, |h| id.matches_header(h))
                })??;
            }
            Ok(())
        })?;
        if let Some(((_, hash), _)) = named.iter().zip(&records).find(|(_, r)| !r.has_residues) {
            return Err(no_residues(hash));
        }
        let answers = answers_of_many(ids, &named, &records);
        let mut counts = vec![0; ids.len()];
        for (((i, hash), record), answers) in named.iter().zip(&records).zip(answers) {
            if !answers {
                continue;
            }
            f(*i, &record.view(*hash));
            counts[*i] += 1;
        }
        Ok(counts)
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

    fn discard(&self, s: &mut WriteSession) {
        s.batch.clear();
        s.batch_bytes = 0;
        s.known.clear();
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

    /// The residues of `hash`, if stored.
    pub fn get(&self, hash: &SequenceHash) -> Result<Option<Vec<u8>>, StoreError> {
        let snap = self.snapshot();
        // The entries are read in order until one holds the residues (the first one, unless
        // damaged): the representations-only entries are not even located.
        let (residues, seen) = CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            snap.first_location(hash, |loc| residues_in(&snap, hash, loc, &mut cache))
        })?;
        if residues.is_none() && seen > 0 {
            return Err(no_residues(hash));
        }
        Ok(residues)
    }

    /// The residues of each of `hashes`: `f(i, residues)` for every `i` in
    /// `0..hashes.len()`, `None` when `hashes[i]` is not stored.
    ///
    /// Unlike [`get`](Self::get) in a loop, every key is located first and the entries
    /// are then read in the order of their places in the packs, so that keys in one
    /// block share its decompression and the packs are read forwards. The calls to `f`
    /// come in that order, not in the order of `hashes`; the residues borrowed by `f`
    /// are not copied. On an error, `f` has been called for some keys and not others.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// let rep = Representation::new("sp|P69905|HBA_HUMAN", "sp");
    /// store.put(b"MVLSPADKTN", rep).unwrap();
    /// store.commit().unwrap();
    /// let stored = SequenceHash::of_residues(b"MVLSPADKTN");
    /// let absent = SequenceHash::of_residues(b"ACGT");
    /// let mut lengths = vec![usize::MAX; 2];
    /// store
    ///     .get_many(&[absent, stored], |i, residues| lengths[i] = residues.map_or(0, <[u8]>::len))
    ///     .unwrap();
    /// assert_eq!(lengths, [0, 10]);
    /// ```
    pub fn get_many(
        &self,
        hashes: &[SequenceHash],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let snap = self.snapshot();
        let places = located(&snap, hashes, |i| f(i, None))?;
        self.read_places(&snap, hashes, &places, &mut f)
    }

    /// [`get_many`](Self::get_many) spread over `threads` threads (0 or 1: the calling
    /// thread alone, and never more threads than keys): `f(i, residues)` once for each `i`
    /// in `0..hashes.len()`, from any of them.
    ///
    /// The threads first locate a share of the keys each, then read a share of the places,
    /// cut where a block ends: keys whose entries share a block are read by one thread,
    /// which decompresses it once, as one `get_many` over the whole batch would. (Each
    /// thread calling `get_many` over its own share of the keys decompresses the blocks
    /// its keys share with the others' again.) On an error, `f` has been called for some
    /// keys and not others, and the error of the first share that failed is returned.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// let residues = [&b"MVLSPADKTN"[..], b"MVHLTPEEKS", b"MGLSDGEWQL"];
    /// for r in residues {
    ///     store.put(r, Representation::new("x", "sp")).unwrap();
    /// }
    /// store.commit().unwrap();
    /// let keys: Vec<SequenceHash> = residues.iter().map(|r| SequenceHash::of_residues(r)).collect();
    /// let bytes = AtomicUsize::new(0);
    /// store
    ///     .get_many_parallel(&keys, 2, |_, r| {
    ///         bytes.fetch_add(r.map_or(0, <[u8]>::len), Ordering::Relaxed);
    ///     })
    ///     .unwrap();
    /// assert_eq!(bytes.into_inner(), 30);
    /// ```
    pub fn get_many_parallel(
        &self,
        hashes: &[SequenceHash],
        threads: usize,
        f: impl Fn(usize, Option<&[u8]>) + Sync,
    ) -> Result<(), StoreError> {
        let threads = threads.clamp(1, hashes.len().max(1));
        if threads == 1 {
            return self.get_many(hashes, &f);
        }
        let snap = self.snapshot();
        let share = hashes.len().div_ceil(threads);
        let (snap, f) = (&snap, &f);
        // Each thread's places, sorted; then all of them, merged (a stable sort merges
        // sorted runs in linear time).
        let runs = on_threads(hashes.chunks(share).enumerate(), |(c, part)| {
            let first = c * share;
            let mut places = located(snap, part, |i| f(first + i, None))?;
            for (_, i) in &mut places {
                *i += first;
            }
            Ok(places)
        })?;
        let mut places = runs.concat();
        places.sort();
        let cuts = block_cuts(&places, threads);
        let ranges = cuts.windows(2).map(|w| &places[w[0]..w[1]]);
        on_threads(ranges, |range| {
            self.read_places(snap, hashes, range, &mut |i, r| f(i, r))
        })?;
        Ok(())
    }

    /// Reads the entries at `places` (sorted), calling `f(i, residues)` for each.
    fn read_places(
        &self,
        snap: &Snapshot,
        hashes: &[SequenceHash],
        places: &[(PackLocation, usize)],
        f: &mut impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        // The cache is taken for the loop, not borrowed: `f` may read the store too (and
        // gets a cache of its own).
        let mut cache = CACHE.with(|c| c.take());
        let result = (|| {
            for (j, &(loc, i)) in places.iter().enumerate() {
                if let Some(&(ahead, k)) = places.get(j + PREFETCH_AHEAD) {
                    // The keys are visited out of their order, the blocks with gaps between
                    // them: ask for both a few places ahead instead of waiting on memory.
                    pack_format::prefetch(hashes[k].as_bytes());
                    snap.prefetch(&hashes[k], &ahead);
                }
                let hash = &hashes[i];
                let read = snap.with_entry(hash, &loc, &mut cache, |e| {
                    let has = e.has_sequence();
                    if has {
                        f(i, Some(e.sequence));
                    }
                    has
                })?;
                if !read {
                    // Only damage leaves the first entry without residues: `get` tells
                    // whether another entry holds them.
                    let residues = self.get(hash)?;
                    f(i, residues.as_deref());
                }
            }
            Ok(())
        })();
        CACHE.with(|c| c.replace(cache));
        result
    }

    /// Whether `hash` is stored.
    pub fn contains(&self, hash: &SequenceHash) -> Result<bool, StoreError> {
        let (found, _) = self.snapshot().first_location(hash, |_| Ok(Some(())))?;
        Ok(found.is_some())
    }

    /// Every representation of `hash`, oldest first (empty when not stored).
    pub fn representations(&self, hash: &SequenceHash) -> Result<Vec<Representation>, StoreError> {
        Ok(self
            .get_record(hash)?
            .map(|r| r.representations)
            .unwrap_or_default())
    }

    /// Residues and representations of `hash`.
    pub fn get_record(&self, hash: &SequenceHash) -> Result<Option<StoredSequence>, StoreError> {
        let snap = self.snapshot();
        let locs = snap.locations(hash)?;
        if locs.is_empty() {
            return Ok(None);
        }
        CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            record_at(&snap, hash, &locs, &mut cache).map(Some)
        })
    }

    /// Figures from index headers and file sizes; nothing is decompressed.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let snap = self.snapshot();
        let counts = snap.counts();
        let mut stats = StoreStats {
            packs: snap.packs.len(),
            sequences: counts.sequences,
            representations: counts.representations,
            residue_bytes: counts.residue_bytes,
            uncompressed_bytes: counts.uncompressed_bytes,
            commit_record: snap.multi.as_ref().map(|m| m.kind()),
            commit_record_rows: snap.multi.as_ref().map_or(0, |m| m.len()),
            stray_temp_files: snap.leftovers(),
            problems: snap.problems.clone(),
            ..StoreStats::default()
        };
        for slot in snap.packs.values() {
            let meta = std::fs::metadata(&slot.path).map_err(io_err(&slot.path))?;
            stats.pack_bytes += meta.len();
            if matches!(slot.reader().map(|r| r.version()), Ok(PackVersion::V1)) {
                stats.v1_packs += 1;
            }
        }
        let dir = self.layout.indices_dir();
        let leftovers = &stats.stray_temp_files;
        for item in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let item = item.map_err(io_err(&dir))?;
            if item.file_name().to_string_lossy().ends_with(".tmp")
                || leftovers.contains(&item.path())
            {
                continue;
            }
            stats.index_files += 1;
            stats.index_bytes += item.metadata().map_err(io_err(&item.path()))?.len();
        }
        Ok(stats)
    }
}

/// The rows of a commit record to write: location rows (any pack), or entry rows (every
/// pack v2: the pack's entry table holds the whole hash and the place).
pub(crate) enum MultiRows {
    /// Rows of kind [`IndexKind::Multi`].
    Locations(Vec<IndexEntry>),
    /// Rows of kind [`IndexKind::Entries`].
    Entries(Vec<EntryRow>),
}

impl MultiRows {
    fn reserve_exact(&mut self, n: usize) {
        match self {
            MultiRows::Locations(r) => r.reserve_exact(n),
            MultiRows::Entries(r) => r.reserve_exact(n),
        }
    }

    /// Adds the rows of pack `id`, whose entries are `entries` in write order (the order
    /// of a v2 pack's entry table).
    pub(crate) fn add_pack(&mut self, id: PackId, entries: Vec<IndexEntry>) {
        match self {
            MultiRows::Locations(r) => r.extend(entries),
            MultiRows::Entries(r) => {
                add_entry_rows(r, id, entries.iter().map(|e| hash_prefix(&e.hash)))
            }
        }
    }

    /// Adds the rows of a v2 pack the writer finished, from the hash prefixes of its
    /// entries in write order. Location rows (v1 packs in the commit, or a commit record
    /// from an older build) are read from the pack's own entry table.
    fn add_v2_pack(
        &mut self,
        pack: &FinishedPack,
        prefixes: Vec<HashPrefix>,
    ) -> Result<(), StoreError> {
        match self {
            MultiRows::Locations(r) => r.extend(pack.entries()?),
            MultiRows::Entries(r) => add_entry_rows(r, pack.id, prefixes),
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
pub(crate) fn write_multi_index_file(
    layout: &StoreLayout,
    packs: &[PackId],
    counts: IndexCounts,
    rows: &mut MultiRows,
) -> Result<(), StoreError> {
    stage_multi_index_file(layout, packs, counts, &[], rows)?.publish()
}

/// Writes the multi-pack index over `packs`, holding the rows of the `old` indexes (of the
/// kind of `rows`: at most one for entry rows) and `rows`, under its temporary name, to be
/// published.
pub(crate) fn stage_multi_index_file(
    layout: &StoreLayout,
    packs: &[PackId],
    counts: IndexCounts,
    old: &[CheckedIndex<'_, Mmap>],
    rows: &mut MultiRows,
) -> Result<StagedFile, StoreError> {
    let path = layout.multi_index_path();
    StagedFile::write(&path, |w| {
        match rows {
            MultiRows::Locations(rows) => {
                write_merged_index(w, IndexKind::Multi, packs, counts, old, rows).map(|_| ())
            }
            MultiRows::Entries(_) if old.len() > 1 => Err(pack_index::Error::Write(
                std::io::Error::other("entry rows are merged with one old index at most"),
            )),
            MultiRows::Entries(rows) => {
                write_merged_entry_index(w, packs, counts, old.first().copied(), rows).map(|_| ())
            }
        }
        .map_err(|source| StoreError::Index {
            path: path.clone(),
            source,
        })
    })
}

/// The committed sequences `id` may name, with their locations: one index lookup for a
/// SHA-256, an alias lookup and one lookup by prefix otherwise. An alias row holds the
/// first bytes of a digest and of a SHA-256, so candidates may include sequences that do
/// not answer to `id`: the caller reads them and keeps those that do
/// ([`FoundBuffers::answers`], [`answering`]). Locations come from `snap`, which the
/// caller reads them in.
fn candidates(snap: &Snapshot, id: &SequenceId) -> Result<Vec<Located>, StoreError> {
    if let SequenceId::Sha256(h) = id {
        let locs = snap.locations(h)?;
        return Ok(if locs.is_empty() {
            Vec::new()
        } else {
            vec![(*h, locs)]
        });
    }
    let Some((kind, keys)) = id.alias_keys() else {
        return Ok(Vec::new());
    };
    let mut found = snap.alias_locations(kind, &keys[0])?;
    if keys.len() > 1 {
        // An identifier with `|`, looked up through its fields too: a sequence found
        // under several keys is one candidate.
        for key in &keys[1..] {
            found.extend(snap.alias_locations(kind, key)?);
        }
        found.sort_by_key(|(hash, _)| *hash);
        found.dedup_by(|a, b| a.0 == b.0);
    }
    Ok(found)
}

/// Whether each record of `find_many` answers to its id ([`FoundBuffers::answers`]), the
/// MD5s of those found for MD5 ids and the SHA-512s of those found for `sha512t24u` ids
/// each computed side by side in SIMD lanes.
fn answers_of_many(
    ids: &[SequenceId],
    named: &[(usize, SequenceHash)],
    records: &[FoundBuffers],
) -> Vec<bool> {
    // Records of the other ids answer by themselves; those of digest ids are set below,
    // once the digests of all of them are computed (each record with its id's key).
    let mut md5: Vec<(usize, &[u8; 16])> = Vec::new();
    let mut sha512: Vec<(usize, &[u8; 24])> = Vec::new();
    let mut answers: Vec<bool> = named
        .iter()
        .zip(records)
        .enumerate()
        .map(|(n, (&(i, _), r))| match &ids[i] {
            SequenceId::Md5(key) => {
                md5.push((n, key));
                false
            }
            SequenceId::Sha512t24u(key) => {
                sha512.push((n, key));
                false
            }
            id => r.answers(id),
        })
        .collect();
    let residues = |n: usize| &records[n].residues[..];
    let of_md5: Vec<&[u8]> = md5.iter().map(|&(n, _)| residues(n)).collect();
    for (&(n, key), digest) in md5.iter().zip(crate::md5_lanes::md5_each(&of_md5)) {
        answers[n] = digest == *key;
    }
    let of_sha512: Vec<&[u8]> = sha512.iter().map(|&(n, _)| residues(n)).collect();
    for (&(n, key), digest) in sha512
        .iter()
        .zip(crate::sha512_lanes::sha512_each(&of_sha512))
    {
        answers[n] = digest[..24] == key[..];
    }
    answers
}

/// The committed sequences `id` names, with their residues: the [`candidates`] that
/// answer to it ([`FoundBuffers::answers`]), a digest's checked by the digest of its
/// residues, an accession's by its headers.
fn answering(snap: &Snapshot, id: &SequenceId) -> Result<Vec<(SequenceHash, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for (hash, locs) in candidates(snap, id)? {
        let residues =
            CACHE.with(|c| {
                let cache = &mut c.borrow_mut();
                match id {
                    SequenceId::Accession(_) => accession_residues(snap, id, &hash, &locs, cache),
                    _ => Ok(residues_at(snap, &hash, &locs, cache)?
                        .filter(|r| id.answered_by_residues(r))),
                }
            })?;
        out.extend(residues.map(|r| (hash, r)));
    }
    Ok(out)
}

/// The residues of the sequence at `locs` if one of its headers answers to accession
/// `id`: its entries are read in order only until one header answers and the residues
/// are read (usually the residues entry alone).
fn accession_residues(
    snap: &Snapshot,
    id: &SequenceId,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (mut residues, mut answers) = (None, false);
    for loc in locs {
        snap.with_entry(hash, loc, cache, |e| {
            if e.has_sequence() && residues.is_none() {
                residues = Some(e.sequence.to_vec());
            }
            if answers {
                return Ok(());
            }
            e.for_each_representation(|h, _| answers |= id.matches_header(h))
                .map_err(|err| StoreError::Corrupt(err.to_string()))
        })??;
        if answers && residues.is_some() {
            break;
        }
    }
    match residues {
        None => Err(no_residues(hash)),
        Some(r) => Ok(answers.then_some(r)),
    }
}

/// The first place of each of `hashes` that is stored, with its index in `hashes`, sorted
/// by place; `missing(i)` for each one that is not.
fn located(
    snap: &Snapshot,
    hashes: &[SequenceHash],
    mut missing: impl FnMut(usize),
) -> Result<Vec<(PackLocation, usize)>, StoreError> {
    let mut places = Vec::with_capacity(hashes.len());
    snap.first_locations(hashes, |i, first| match first {
        // The first location holds the residues unless the entry there is damaged, which
        // the read finds (and leaves to `get`, which tries the others).
        Some(loc) => places.push((loc, i)),
        None => missing(i),
    })?;
    places.sort_unstable();
    Ok(places)
}

/// Where to cut sorted `places` into `parts` shares of about equal length, none starting
/// inside a block another share reads: `parts + 1` ascending bounds from 0 to the length
/// (shares may be empty).
fn block_cuts(places: &[(PackLocation, usize)], parts: usize) -> Vec<usize> {
    let same_block = |a: &PackLocation, b: &PackLocation| (a.pack, a.block) == (b.pack, b.block);
    let mut cuts = vec![0];
    for t in 1..parts {
        let mut cut = (places.len() * t / parts).max(cuts[t - 1]);
        while cut > 0 && cut < places.len() && same_block(&places[cut - 1].0, &places[cut].0) {
            cut += 1;
        }
        cuts.push(cut);
    }
    cuts.push(places.len());
    cuts
}

/// `work` on each of `parts`, each on a thread of its own (the last on the calling one);
/// the results in the order of `parts`, or the first part's error. A panic in `work`
/// is resumed on the calling thread.
fn on_threads<P: Send, R: Send>(
    parts: impl Iterator<Item = P>,
    work: impl Fn(P) -> Result<R, StoreError> + Sync,
) -> Result<Vec<R>, StoreError> {
    let mut parts: Vec<P> = parts.collect();
    let Some(last) = parts.pop() else {
        return Ok(Vec::new());
    };
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| s.spawn(move || work(p)))
            .collect();
        let mine = work(last);
        let mut out: Vec<R> = Vec::with_capacity(handles.len() + 1);
        let mut first_error = None;
        for h in handles {
            match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(r) => out.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (first_error, mine) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(r)) => {
                out.push(r);
                Ok(out)
            }
        }
    })
}

/// One sequence and where its entries are.
type Located = (SequenceHash, Vec<pack_format::PackLocation>);

/// The residues of `hash` from its entries at `locs` (none: `None`).
fn residues_at(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    for loc in locs {
        if let Some(r) = residues_in(snap, hash, loc, cache)? {
            return Ok(Some(r));
        }
    }
    if locs.is_empty() {
        Ok(None)
    } else {
        Err(no_residues(hash))
    }
}

/// The residues the entry of `hash` at `loc` holds (`None`: a representations-only entry).
fn residues_in(
    snap: &Snapshot,
    hash: &SequenceHash,
    loc: &pack_format::PackLocation,
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    snap.with_entry(hash, loc, cache, |e| {
        e.has_sequence().then(|| e.sequence.to_vec())
    })
}

/// A sequence found in the index without an entry holding its residues.
fn no_residues(hash: &SequenceHash) -> StoreError {
    StoreError::Corrupt(format!(
        "sequence {hash} has representations but no entry with its residues"
    ))
}

pub(crate) fn record_at(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<StoredSequence, StoreError> {
    let mut buffers = FoundBuffers::default();
    fill_record(snap, hash, locs, cache, &mut buffers, |_| true)?;
    Ok(buffers.view(*hash).to_stored())
}

/// Reads the entries of `hash` at `locs` into `buffers`: the residues, and the
/// representations whose header `keep` accepts.
fn fill_record(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
    buffers: &mut FoundBuffers,
    keep: impl Fn(&str) -> bool,
) -> Result<(), StoreError> {
    buffers.clear();
    for loc in locs {
        snap.with_entry(hash, loc, cache, |e| buffers.add(&e, &keep))??;
    }
    if !buffers.has_residues {
        return Err(no_residues(hash));
    }
    Ok(())
}

impl Drop for PackedSequenceStorage {
    fn drop(&mut self) {
        if let Some(session) = &self.session {
            let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
            self.discard(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted places, one per block number of `blocks` (3 blocks per pack).
    fn places(blocks: &[u32]) -> Vec<(PackLocation, usize)> {
        let mut places: Vec<(PackLocation, usize)> = blocks
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let loc = PackLocation {
                    pack: b / 3,
                    block: b % 3,
                    offset: i as u32,
                    length: 1,
                };
                (loc, i)
            })
            .collect();
        places.sort_unstable();
        places
    }

    #[test]
    fn block_cuts_split_evenly_between_blocks() {
        assert_eq!(block_cuts(&places(&[0, 1, 2, 3, 4, 5]), 2), [0, 3, 6]);
        // The middle falls inside block 1 (places 2..5): the cut moves to its end.
        assert_eq!(block_cuts(&places(&[0, 0, 1, 1, 1, 2]), 2), [0, 5, 6]);
        // Blocks 1 and 4 are in different packs (block 1 of packs 0 and 1).
        assert_eq!(block_cuts(&places(&[1, 1, 4, 4]), 2), [0, 2, 4]);
        // One block: one share reads it all.
        assert_eq!(block_cuts(&places(&[2; 5]), 3), [0, 5, 5, 5]);
        assert_eq!(block_cuts(&[], 2), [0, 0, 0]);
        assert_eq!(block_cuts(&places(&[0, 1]), 1), [0, 2]);
    }

    proptest! {
        #[test]
        fn block_cuts_cover_every_place_and_never_split_a_block(
            blocks in proptest::collection::vec(0u32..9, 0..80),
            parts in 1usize..6,
        ) {
            let places = places(&blocks);
            let cuts = block_cuts(&places, parts);
            prop_assert_eq!(cuts.len(), parts + 1);
            prop_assert_eq!(cuts[0], 0);
            prop_assert_eq!(cuts[parts], places.len());
            prop_assert!(cuts.windows(2).all(|w| w[0] <= w[1]));
            for &c in &cuts[1..parts] {
                if c > 0 && c < places.len() {
                    let (a, b) = (places[c - 1].0, places[c].0);
                    prop_assert_ne!((a.pack, a.block), (b.pack, b.block));
                }
            }
        }
    }
}
