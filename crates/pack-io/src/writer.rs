//! The pack writer thread: entries arrive through a bounded channel, are encoded,
//! compressed and written to temporary pack files that rotate at a size limit.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use pack_format::v1::V1PackEncoder;
use pack_format::v2::{PackCounts, V2PackEncoder};
use pack_format::v3::V3PackEncoder;
use pack_format::{PackId, PackLocation, PackVersion, Representation, SequenceHash};
use pack_index::{hash_prefix, HashPrefix, IndexEntry};

use crate::fs::DurableFile;
use crate::{pack_temp_name, Error};

/// One entry to write: residues (empty to add representations to a stored sequence) and
/// representations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutEntry {
    /// SHA-256 of `residues`, or of the stored sequence for an addition entry.
    pub hash: SequenceHash,
    /// Upper-case residues; empty for an addition entry.
    pub residues: Vec<u8>,
    /// Source records.
    pub representations: Vec<Representation>,
}

/// Called by the writer thread with each pack it closes (fsynced under its temporary
/// name, the path given): a store on object storage starts uploading it there. It must
/// be quick (send the pack on, do not upload in it).
#[derive(Clone)]
pub struct PackClosedHook(pub std::sync::Arc<PackClosedFn>);

/// What a [`PackClosedHook`] calls: the pack's id and its (temporary) path.
pub type PackClosedFn = dyn Fn(PackId, &Path) + Send + Sync;

impl std::fmt::Debug for PackClosedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackClosedHook")
    }
}

/// How packs are written.
#[derive(Clone, Debug)]
pub struct PackWriterConfig {
    /// Directory that receives `pack_NNNN.tal.tmp` files.
    pub dir: PathBuf,
    /// Id of the first pack; later packs count up.
    pub first_pack_id: PackId,
    /// Layout of new packs.
    pub version: PackVersion,
    /// A pack is closed once it reaches this many bytes (compressed for v2, uncompressed
    /// for v1, whose size is only known at the end).
    pub pack_size_limit: u64,
    /// Uncompressed bytes per v2 block.
    pub block_size: usize,
    /// Zstandard level; `None`: v1 packs [`pack_format::v1::DEFAULT_LEVEL`], v2 packs the
    /// level [`pack_format::v2::default_level`] gives for the entries their dictionary is
    /// trained on (with `dictionary: false` nothing is held back to look at, and such packs
    /// get [`pack_format::v2::DEFAULT_LEVEL`]).
    pub level: Option<i32>,
    /// v2 only: train a dictionary per pack (on its first entries, or ahead on the previous
    /// pack's last ones) and compress every block with it (falls back to blocks without
    /// one when a pack is too small to train on).
    pub dictionary: bool,
    /// Uncompressed bytes per block when a dictionary is used.
    pub dictionary_block_size: usize,
    /// Uncompressed bytes per block of addition entries when a dictionary is
    /// used: such an entry is read on its own, so its block is kept small.
    pub additions_block_size: usize,
    /// Entry bytes a dictionary is trained on (`TRAINING_BYTES`).
    pub training_bytes: usize,
    /// Told of every pack closed, once it is fsynced.
    pub on_closed: Option<PackClosedHook>,
    /// v3 only: block sizes of the two streams and the level (`level`, when set, wins).
    pub v3: pack_format::v3::Options,
}

/// Default block size with a dictionary (see docs/format.md).
pub const DICTIONARY_BLOCK_SIZE: usize = 2048;

/// Default size of blocks holding only addition entries, with a dictionary
/// (see docs/format.md).
pub const ADDITIONS_BLOCK_SIZE: usize = 512;

/// Entry bytes a dictionary is trained on by default: a pack's first entries, which it
/// holds back before writing anything, or the previous pack's last ones.
pub const TRAINING_BYTES: usize = 1 << 20;

/// How close to its size limit a pack gets before its entries are sampled to train the
/// next pack's dictionary (an eighth of the limit, at most 8 MiB: about 18 MiB of
/// protein entries in a 64 MiB pack, of which the first 1 MiB is sampled; the training,
/// about 0.1 s, runs on its own thread while the rest is written).
fn ahead_window(limit: u64) -> u64 {
    (limit / 8).min(8 << 20)
}

impl PackWriterConfig {
    /// Defaults: v2 with a trained dictionary per pack (8 KiB blocks when a pack is too
    /// small to train on), 64 MiB packs, zstd level chosen per pack (`level: None`).
    pub fn new(dir: &Path, first_pack_id: PackId) -> Self {
        PackWriterConfig {
            dir: dir.to_path_buf(),
            first_pack_id,
            version: PackVersion::V2,
            pack_size_limit: 64 << 20,
            block_size: pack_format::v2::DEFAULT_BLOCK_SIZE,
            level: None,
            dictionary: true,
            dictionary_block_size: DICTIONARY_BLOCK_SIZE,
            additions_block_size: ADDITIONS_BLOCK_SIZE,
            training_bytes: TRAINING_BYTES,
            on_closed: None,
            v3: pack_format::v3::Options::default(),
        }
    }
}

/// What the writer keeps of a pack's entries until the pack is published.
#[derive(Debug)]
pub enum PackRows {
    /// A v1 pack's entries, each with its location, in write order (its index file is
    /// written from them: a v1 pack has no table of its own).
    Locations(Vec<IndexEntry>),
    /// The first 8 bytes of the hash of each of a v2 pack's entries, in write order (the
    /// order of its entry table, which holds the whole hash and place: row `i` is entry
    /// `i`). 8 bytes per entry instead of 48 while an import runs.
    Prefixes(Vec<HashPrefix>),
}

impl PackRows {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            PackRows::Locations(r) => r.len(),
            PackRows::Prefixes(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A pack the writer closed: fsynced under its temporary name, not yet published.
#[derive(Debug)]
pub struct FinishedPack {
    /// The pack id.
    pub id: PackId,
    /// Where it was written (`pack_NNNN.tal.tmp`).
    pub temp_path: PathBuf,
    /// Its entries, in write order.
    pub rows: PackRows,
    /// Sequence and representation counts.
    pub counts: PackCounts,
    /// Bytes of the file.
    pub file_len: u64,
    /// CRC-32 of the whole file.
    pub crc32: u32,
    /// Its layout: a v2 pack carries its own entry table, a v1 pack does not.
    pub version: PackVersion,
}

impl FinishedPack {
    /// Every entry with its location, in write order: a v1 pack's from memory, a v2
    /// pack's read from its entry table.
    pub fn entries(&self) -> Result<Vec<IndexEntry>, Error> {
        match &self.rows {
            PackRows::Locations(r) => Ok(r.clone()),
            PackRows::Prefixes(_) => {
                let reader = crate::PackReader::open(&self.temp_path)?;
                // The writer keeps prefixes for v2 packs only: a file without an entry
                // table is not the pack it wrote.
                reader.entry_table(self.id)?.ok_or_else(|| Error::Format {
                    path: self.temp_path.clone(),
                    source: pack_format::Error::Corrupt {
                        offset: 0,
                        message: "a v1 pack where a v2 pack was written (no entry table)".into(),
                    },
                })
            }
        }
    }
}

enum Message {
    Put(Arc<Vec<PutEntry>>),
}

/// Handle to the writer thread.
pub struct PackWriter {
    tx: Option<Sender<Message>>,
    /// Batches the writer is done with (two at most), dropped by the sending thread at its
    /// next put: freeing their entries (allocated there) is then a local free, off the
    /// writer, which bounds an import while new sequences arrive.
    written: Receiver<Arc<Vec<PutEntry>>>,
    handle: Option<JoinHandle<Result<Vec<FinishedPack>, Error>>>,
}

impl PackWriter {
    /// Starts the thread.
    pub fn spawn(config: PackWriterConfig) -> Result<PackWriter, Error> {
        let (tx, rx) = bounded::<Message>(16);
        // Two batches at most wait to be dropped by the sender; the writer drops the rest
        // (those written after the last put: a commit's), so that memory stays as it was.
        let (written_tx, written) = bounded::<Arc<Vec<PutEntry>>>(2);
        let handle = std::thread::Builder::new()
            .name("sequoia-pack-writer".into())
            .spawn(move || {
                let mut state = WriterState::new(config);
                // After a failure keep draining so senders never block, but write nothing.
                let mut failed: Option<Error> = None;
                for Message::Put(batch) in rx {
                    if failed.is_none() {
                        if let Err(e) = state.put_batch(&batch) {
                            failed = Some(e);
                        }
                    }
                    // Dropped here when two wait already, or the handle is gone.
                    let _ = written_tx.try_send(batch);
                }
                match failed {
                    Some(e) => Err(e),
                    None => state.finish(),
                }
            })
            .map_err(|source| Error::Io {
                path: PathBuf::from("<pack writer thread>"),
                source,
            })?;
        Ok(PackWriter {
            tx: Some(tx),
            written,
            handle: Some(handle),
        })
    }

    /// Queues a batch of entries; blocks while the queue is full.
    pub fn put(&self, batch: Vec<PutEntry>) -> Result<(), Error> {
        self.put_shared(Arc::new(batch))
    }

    /// Like [`put`](Self::put), for a batch that another thread reads too: the writer only
    /// borrows the entries (it copies the few it holds back to train a dictionary on).
    pub fn put_shared(&self, batch: Arc<Vec<PutEntry>>) -> Result<(), Error> {
        self.written.try_iter().for_each(drop);
        let tx = self.tx.as_ref().expect("the sender lives until finish");
        tx.send(Message::Put(batch)).map_err(|_| {
            Error::Poisoned("the writer thread has stopped; finish() gives its error".into())
        })
    }

    /// Closes the last pack and returns every pack written, each fsynced under its
    /// temporary name. The first write error, if any, is returned instead.
    pub fn finish(mut self) -> Result<Vec<FinishedPack>, Error> {
        self.join()
    }

    fn join(&mut self) -> Result<Vec<FinishedPack>, Error> {
        drop(self.tx.take());
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(Error::Poisoned("the writer thread panicked".into()))),
            None => Ok(Vec::new()),
        }
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

enum Open {
    V1(V1PackEncoder),
    V2(Box<V2PackEncoder<BufWriter<DurableFile>>>),
    V3(Box<V3PackEncoder<BufWriter<DurableFile>>>),
    /// A v2 pack collecting its first entries to train a dictionary on: nothing written yet.
    Training {
        pending: Vec<PutEntry>,
        samples: Vec<Vec<u8>>,
        bytes: usize,
    },
}

struct OpenPack {
    id: PackId,
    path: PathBuf,
    encoder: Open,
    rows: PackRows,
    counts: PackCounts,
}

struct WriterState {
    config: PackWriterConfig,
    next_id: PackId,
    open: Option<OpenPack>,
    done: Vec<FinishedPack>,
    /// The next pack's dictionary, sampled from the open pack's last entries.
    ahead: Option<NextDictionary>,
    /// Packs that started with a dictionary trained ahead (for tests and profiles).
    trained_ahead: usize,
}

/// The next pack's dictionary: sampled from the entries a pack writes in its last
/// [`ahead_window`] bytes, trained on another thread while the pack is finished, so that
/// the next pack starts without the writer stopping to train (which it must for the first
/// pack, or when a pack closes before enough was sampled). The samples are chosen by
/// sizes alone, so the packs are the same bytes however the threads run.
#[derive(Default)]
struct NextDictionary {
    samples: Vec<Vec<u8>>,
    bytes: usize,
    /// The sampled entries' residues, back to back: the next pack's level is chosen by them.
    residues: Vec<u8>,
    /// How many sampled entries have residues: a pack whose first entry is of the other
    /// kind (the addition entries a commit writes after the new sequences)
    /// trains its own dictionary, on entries like those it will hold.
    with_residues: usize,
    /// Whether most samples had residues (set when the training starts).
    residues_majority: bool,
    /// Started once the samples reach the training bytes: the dictionary and the level.
    training: Option<JoinHandle<(Option<Vec<u8>>, i32)>>,
}

/// `e` encoded as a dictionary sample: as the blocks will hold it, with a hash tag.
fn training_sample(e: &PutEntry, path: &Path) -> Result<Vec<u8>, Error> {
    let mut sample = Vec::new();
    pack_format::entry::encode_as(
        &mut sample,
        pack_format::entry::HashField::Tag,
        &e.hash,
        &e.residues,
        &e.representations,
    )
    .map_err(WriterState::format(path))?;
    Ok(sample)
}

impl NextDictionary {
    /// Samples `e`; once there is enough, starts the training.
    fn sample(&mut self, e: &PutEntry, path: &Path, enough: usize) -> Result<(), Error> {
        if self.bytes >= enough {
            return Ok(());
        }
        let sample = training_sample(e, path)?;
        self.bytes += sample.len();
        self.samples.push(sample);
        self.residues.extend_from_slice(&e.residues);
        self.with_residues += usize::from(!e.residues.is_empty());
        if self.bytes >= enough {
            self.residues_majority = self.with_residues * 2 > self.samples.len();
            let samples = std::mem::take(&mut self.samples);
            let residues = std::mem::take(&mut self.residues);
            // A thread that cannot start costs only the head start: the next pack then
            // trains its own, as the first one does.
            self.training = std::thread::Builder::new()
                .name("sequoia-dictionary".into())
                .spawn(move || {
                    let level = pack_format::v2::default_level([residues.as_slice()]);
                    (pack_format::v2::train_dictionary(&samples), level)
                })
                .ok();
        }
        Ok(())
    }
}

impl WriterState {
    fn new(config: PackWriterConfig) -> Self {
        WriterState {
            next_id: config.first_pack_id,
            config,
            open: None,
            done: Vec::new(),
            ahead: None,
            trained_ahead: 0,
        }
    }

    fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn format(path: &Path) -> impl Fn(pack_format::Error) -> Error + '_ {
        move |e| match e {
            pack_format::Error::Io(source) => Error::Io {
                path: path.to_path_buf(),
                source,
            },
            source => Error::Format {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// Opens the next pack, whose first entry will be `first`.
    fn start_pack(&mut self, first: &PutEntry) -> Result<(), Error> {
        let id = self.next_id;
        self.next_id = id
            .checked_add(1)
            .ok_or_else(|| Error::Poisoned("pack ids are exhausted (2^32 packs)".into()))?;
        let path = self.config.dir.join(pack_temp_name(id));
        // A dictionary trained on the previous pack's last entries, if they were enough
        // and of the first entry's kind (with or without residues); otherwise, or if the
        // training thread failed, the pack trains its own.
        let first_has_residues = !first.residues.is_empty();
        let ahead = self
            .ahead
            .take()
            .filter(|a| a.residues_majority == first_has_residues)
            .and_then(|a| a.training)
            .and_then(|t| t.join().ok());
        let encoder = match self.config.version {
            PackVersion::V1 => Open::V1(V1PackEncoder::new(id)),
            PackVersion::V2 if self.config.dictionary => match ahead {
                Some((dictionary, level)) => {
                    self.trained_ahead += 1;
                    let level = self.config.level.unwrap_or(level);
                    self.v2_encoder(id, &path, dictionary.as_deref(), level)?
                }
                None => Open::Training {
                    pending: Vec::new(),
                    samples: Vec::new(),
                    bytes: 0,
                },
            },
            PackVersion::V2 => {
                let level = self.config.level.unwrap_or(pack_format::v2::DEFAULT_LEVEL);
                self.v2_encoder(id, &path, None, level)?
            }
            PackVersion::V3 => {
                let file = DurableFile::create_new(&path).map_err(Self::io(&path))?;
                let out = BufWriter::with_capacity(1 << 20, file);
                let mut options = self.config.v3;
                options.level = self.config.level.unwrap_or(options.level);
                // Nucleotide packs code their residue blocks two bits a base.
                options.coded_residues |= pack_format::v3::codes_residues(&first.residues);
                let encoder = V3PackEncoder::new(out, id, options).map_err(Self::format(&path))?;
                Open::V3(Box::new(encoder))
            }
        };
        let rows = match self.config.version {
            PackVersion::V1 => PackRows::Locations(Vec::new()),
            PackVersion::V2 | PackVersion::V3 => PackRows::Prefixes(Vec::new()),
        };
        self.open = Some(OpenPack {
            id,
            path,
            encoder,
            rows,
            counts: PackCounts::default(),
        });
        Ok(())
    }

    /// Creates the pack file and its v2 encoder, with `dictionary` or with blocks.
    fn v2_encoder(
        &self,
        id: PackId,
        path: &Path,
        dictionary: Option<&[u8]>,
        level: i32,
    ) -> Result<Open, Error> {
        let file = DurableFile::create_new(path).map_err(Self::io(path))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let encoder = match dictionary {
            Some(d) => {
                V2PackEncoder::with_dictionary(out, id, level, self.config.dictionary_block_size, d)
                    .map(|mut e| {
                        e.set_additions_block_size(self.config.additions_block_size);
                        e
                    })
            }
            None => V2PackEncoder::new(out, id, level, self.config.block_size),
        };
        Ok(Open::V2(Box::new(encoder.map_err(Self::format(path))?)))
    }

    /// Ends a pack's training: trains (or gives up), creates the file, writes what waited.
    fn finish_training(&mut self) -> Result<(), Error> {
        let Some(pack) = self.open.as_mut() else {
            return Ok(());
        };
        let Open::Training {
            pending, samples, ..
        } = &mut pack.encoder
        else {
            return Ok(());
        };
        let pending = std::mem::take(pending);
        let dictionary = pack_format::v2::train_dictionary(samples);
        let level = self.config.level.unwrap_or_else(|| {
            pack_format::v2::default_level(pending.iter().map(|e| e.residues.as_slice()))
        });
        let (id, path) = (pack.id, pack.path.clone());
        let encoder = self.v2_encoder(id, &path, dictionary.as_deref(), level)?;
        let pack = self.open.as_mut().expect("the pack is still open");
        pack.encoder = encoder;
        for e in &pending {
            Self::push(pack, e)?;
        }
        Ok(())
    }

    /// Encodes one entry into the open pack and records its location.
    fn push(pack: &mut OpenPack, e: &PutEntry) -> Result<(), Error> {
        let (block, offset, length) = match &mut pack.encoder {
            Open::V1(enc) => {
                let (o, l) = enc
                    .push(&e.hash, &e.residues, &e.representations)
                    .map_err(Self::format(&pack.path))?;
                (0, o, l)
            }
            Open::V2(enc) => enc
                .push(&e.hash, &e.residues, &e.representations)
                .map_err(Self::format(&pack.path))?,
            Open::V3(enc) => {
                let (row, length) = enc
                    .push(&e.hash, &e.residues, &e.representations)
                    .map_err(Self::format(&pack.path))?;
                // The block is known to readers only: v3 rows are indexed by number.
                (0, row, length)
            }
            Open::Training { .. } => unreachable!("entries are pushed only once training ended"),
        };
        pack.counts
            .add_entry(e.residues.len(), e.representations.len(), length as usize);
        match &mut pack.rows {
            PackRows::Locations(r) => r.push(IndexEntry {
                hash: e.hash,
                location: PackLocation {
                    pack: pack.id,
                    block,
                    offset,
                    length,
                },
            }),
            PackRows::Prefixes(r) => r.push(hash_prefix(&e.hash)),
        }
        Ok(())
    }

    fn put_batch(&mut self, batch: &[PutEntry]) -> Result<(), Error> {
        for e in batch {
            if self.open.is_none() {
                self.start_pack(e)?;
            }
            let limit = self.config.pack_size_limit;
            let pack = self.open.as_mut().expect("a pack was just opened");
            if let Open::Training {
                pending,
                samples,
                bytes,
            } = &mut pack.encoder
            {
                let sample = training_sample(e, &pack.path)?;
                *bytes += sample.len();
                samples.push(sample);
                pending.push(e.clone());
                let full = *bytes as u64 >= limit;
                if *bytes >= self.config.training_bytes || full {
                    self.finish_training()?;
                    if full {
                        self.close_pack()?;
                    }
                }
                continue;
            }
            Self::push(pack, e)?;
            let size = match &pack.encoder {
                Open::V1(enc) => enc.len() as u64,
                Open::V2(enc) => enc.size_estimate(),
                Open::V3(enc) => enc.size_estimate(),
                Open::Training { .. } => 0,
            };
            if self.config.dictionary
                && matches!(pack.encoder, Open::V2(_))
                && size.saturating_add(ahead_window(limit)) >= limit
            {
                self.ahead
                    .get_or_insert_with(NextDictionary::default)
                    .sample(e, &pack.path, self.config.training_bytes)?;
            }
            if size >= limit {
                self.close_pack()?;
            }
        }
        Ok(())
    }

    fn close_pack(&mut self) -> Result<(), Error> {
        self.finish_training()?;
        let Some(pack) = self.open.take() else {
            return Ok(());
        };
        let path = pack.path;
        let version = match pack.encoder {
            Open::V1(_) => PackVersion::V1,
            Open::V3(_) => PackVersion::V3,
            _ => PackVersion::V2,
        };
        let file = match pack.encoder {
            Open::V1(enc) => {
                let file = DurableFile::create_new(&path).map_err(Self::io(&path))?;
                let w = enc
                    .finish(
                        BufWriter::with_capacity(1 << 20, file),
                        self.config.level.unwrap_or(pack_format::v1::DEFAULT_LEVEL),
                    )
                    .map_err(Self::format(&path))?;
                w.into_inner()
                    .map_err(|e| Self::io(&path)(e.into_error()))?
            }
            Open::V2(enc) => {
                let (w, _trailer) = enc.finish().map_err(Self::format(&path))?;
                w.into_inner()
                    .map_err(|e| Self::io(&path)(e.into_error()))?
            }
            Open::V3(enc) => {
                let (w, _trailer) = enc.finish().map_err(Self::format(&path))?;
                w.into_inner()
                    .map_err(|e| Self::io(&path)(e.into_error()))?
            }
            Open::Training { .. } => unreachable!("finish_training ended the training"),
        };
        file.sync_all().map_err(|e| {
            Error::Poisoned(format!(
                "fsync of {} failed ({e}): its data may not be on disk, so the writer stops here",
                path.display()
            ))
        })?;
        let file_len = file.len();
        let crc32 = file.crc32();
        if let Some(hook) = &self.config.on_closed {
            (hook.0)(pack.id, &path);
        }
        self.done.push(FinishedPack {
            id: pack.id,
            temp_path: path,
            rows: pack.rows,
            counts: pack.counts,
            file_len,
            crc32,
            version,
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<FinishedPack>, Error> {
        self.close_pack()?;
        // A dictionary still training for a pack that will not come is left to finish on
        // its thread (it holds only its samples): the commit need not wait for it.
        Ok(self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCache, PackReader};

    fn entries(n: usize) -> Vec<PutEntry> {
        (0..n)
            .map(|i| {
                let residues =
                    format!("MK{}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 50 + 1)).into_bytes();
                PutEntry {
                    hash: SequenceHash::of_residues(&residues),
                    residues,
                    representations: vec![Representation::new(format!("seq{i} test"), "unit")],
                }
            })
            .collect()
    }

    fn write_and_read_back(version: PackVersion) {
        write_and_read_back_sized(version, 20_000, 300, false);
    }

    fn write_and_read_back_sized(version: PackVersion, limit: u64, n: usize, dictionary: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PackWriterConfig::new(dir.path(), 5);
        config.version = version;
        config.pack_size_limit = limit;
        config.block_size = 1000;
        let writer = PackWriter::spawn(config).unwrap();
        let input = entries(n);
        for chunk in input.chunks(7) {
            writer.put(chunk.to_vec()).unwrap();
        }
        let packs = writer.finish().unwrap();
        assert!(
            packs.len() > 2,
            "packs rotate at the size limit: {}",
            packs.len()
        );
        assert_eq!(packs[0].id, 5);
        let mut cache = BlockCache::default();
        let mut seen = 0;
        for p in &packs {
            let r = PackReader::open(&p.temp_path).unwrap();
            assert_eq!(r.version(), version);
            assert_eq!(r.has_dictionary(), dictionary, "pack {}", p.id);
            r.verify_footer().unwrap();
            assert_eq!(r.pack_id().unwrap(), p.id);
            let entries = p.entries().unwrap();
            assert_eq!(entries.len(), p.rows.len());
            for e in &entries {
                let got = r
                    .read_entry(&e.hash, &e.location, &mut cache, |x| {
                        (x.hash, x.sequence.to_vec())
                    })
                    .unwrap();
                assert_eq!(got.0, e.hash);
                assert_eq!(got.1, input[seen].residues);
                seen += 1;
            }
            let mut walked = Vec::new();
            r.for_each_entry::<Error>(p.id, |loc, _| {
                walked.push(loc);
                Ok(())
            })
            .unwrap();
            assert_eq!(
                walked,
                entries.iter().map(|e| e.location).collect::<Vec<_>>()
            );
            // Walked in two parts split at any block, the pack gives the same entries.
            let blocks = r.block_count().unwrap();
            assert!(version == PackVersion::V1 || blocks > 2, "{blocks} blocks");
            for split in 0..=blocks {
                let mut parts = Vec::new();
                for range in [0..split, split..blocks, blocks..blocks + 3] {
                    r.for_each_entry_in::<Error>(p.id, range, |loc, _| {
                        parts.push(loc);
                        Ok(())
                    })
                    .unwrap();
                }
                assert_eq!(parts, walked, "split at block {split} of {blocks}");
            }
            if version == PackVersion::V2 {
                // A block whose entries the caller has all is skipped; a count that is
                // not the block's skips nothing.
                for block in 0..blocks {
                    let n = walked.iter().filter(|l| l.block == block).count() as u32;
                    for (claimed, skipped) in [(n, true), (n + 1, false), (n - 1, false)] {
                        let mut got = Vec::new();
                        r.for_each_entry_skipping::<Error>(
                            p.id,
                            0..blocks,
                            |b| if b == block { claimed } else { 0 },
                            |loc, _| {
                                got.push(loc);
                                Ok(())
                            },
                        )
                        .unwrap();
                        let want: Vec<PackLocation> = walked
                            .iter()
                            .filter(|l| !skipped || l.block != block)
                            .copied()
                            .collect();
                        assert!(got == want, "block {block}, {claimed} of {n} entries");
                    }
                }
            }
        }
        assert_eq!(seen, input.len());
    }

    #[test]
    fn v2_packs_rotate_and_read_back() {
        write_and_read_back(PackVersion::V2);
    }

    #[test]
    fn v2_dictionary_packs_rotate_and_read_back() {
        // Large enough packs to train on: every pack gets a dictionary.
        write_and_read_back_sized(PackVersion::V2, 400_000, 3000, true);
    }

    /// `n` random protein entries of 200-300 residues.
    fn random_proteins(n: usize) -> Vec<PutEntry> {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        (0..n)
            .map(|i| {
                let residues: Vec<u8> = (0..200 + i % 100)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b"ACDEFGHIKLMNPQRSTVWY"[(x % 20) as usize]
                    })
                    .collect();
                PutEntry {
                    hash: SequenceHash::of_residues(&residues),
                    residues,
                    representations: vec![Representation::new(format!("seq{i} test"), "unit")],
                }
            })
            .collect()
    }

    #[test]
    fn later_packs_start_with_a_dictionary_trained_ahead_and_the_bytes_do_not_depend_on_it() {
        let input = random_proteins(20_000);
        let write = |chunk: usize| {
            let dir = tempfile::tempdir().unwrap();
            let mut config = PackWriterConfig::new(dir.path(), 1);
            // Windows of 125,000 bytes, of which the first 64 KiB of entries are sampled.
            config.pack_size_limit = 1_000_000;
            config.training_bytes = 64 << 10;
            let mut state = WriterState::new(config);
            for c in input.chunks(chunk) {
                state.put_batch(c).unwrap();
            }
            let trained_ahead = state.trained_ahead;
            let packs = state.finish().unwrap();
            let files: Vec<Vec<u8>> = packs
                .iter()
                .map(|p| std::fs::read(&p.temp_path).unwrap())
                .collect();
            (dir, packs, files, trained_ahead)
        };
        let (_dir, packs, files, trained_ahead) = write(7);
        assert!(packs.len() >= 3, "{} packs", packs.len());
        // Every pack but the first started without holding entries back to train on.
        assert_eq!(trained_ahead, packs.len() - 1);
        let mut cache = BlockCache::default();
        let mut read = 0;
        for p in &packs {
            let r = PackReader::open(&p.temp_path).unwrap();
            assert!(r.has_dictionary(), "pack {}", p.id);
            r.verify_footer().unwrap();
            for e in p.entries().unwrap() {
                let got = r
                    .read_entry(&e.hash, &e.location, &mut cache, |x| x.sequence.to_vec())
                    .unwrap();
                assert_eq!(got, input[read].residues, "pack {} entry {read}", p.id);
                read += 1;
            }
        }
        assert_eq!(read, input.len());
        // Other batch sizes, other thread timing: the same files.
        let (_dir2, _, files2, _) = write(500);
        assert!(
            files == files2,
            "the packs depend on how entries were batched"
        );
    }

    #[test]
    fn a_pack_of_representations_after_packs_of_sequences_trains_its_own_dictionary() {
        // As a commit writes them: new sequences, then addition entries.
        let sequences = random_proteins(8_000);
        let mut x = 7u64;
        let representations: Vec<PutEntry> = (0..60_000)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                PutEntry {
                    hash: sequences[i % sequences.len()].hash,
                    residues: Vec::new(),
                    representations: vec![Representation::new(
                        format!(
                            "P{:05}|GO:{:07},GO:{:07}",
                            x >> 47,
                            (x >> 20) % 9_999_999,
                            x % 9_999_999
                        ),
                        "unit",
                    )],
                }
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut config = PackWriterConfig::new(dir.path(), 1);
        config.pack_size_limit = 400_000;
        config.training_bytes = 48 << 10;
        let mut state = WriterState::new(config);
        // Sequences until a second pack has its successor's dictionary training, then the
        // pack closes and the representations begin: the next pack's first entry is not
        // of the kind the dictionary was trained on.
        let mut fed = 0;
        while state.done.len() < 2 || state.ahead.as_ref().is_none_or(|a| a.training.is_none()) {
            assert!(fed < sequences.len(), "too few sequences for two packs");
            state.put_batch(&sequences[fed..fed + 1]).unwrap();
            fed += 1;
        }
        state.close_pack().unwrap();
        let sequence_packs = state.done.len();
        for c in representations.chunks(100) {
            state.put_batch(c).unwrap();
        }
        let trained_ahead = state.trained_ahead;
        let packs = state.finish().unwrap();
        assert!(
            sequence_packs >= 2 && packs.len() >= sequence_packs + 2,
            "{} packs",
            packs.len()
        );
        // The first pack and the first pack of representations train their own.
        assert_eq!(trained_ahead, packs.len() - 2);
        let mut cache = BlockCache::default();
        for p in &packs[sequence_packs..] {
            let r = PackReader::open(&p.temp_path).unwrap();
            assert!(r.has_dictionary(), "pack {}", p.id);
            for e in p.entries().unwrap() {
                let n = r
                    .read_entry(&e.hash, &e.location, &mut cache, |x| x.sequence.len())
                    .unwrap();
                assert_eq!(n, 0);
            }
        }
    }

    #[test]
    fn one_cache_reads_more_packs_than_it_keeps_contexts_for() {
        // More dictionary packs than a cache keeps decompression contexts: read round
        // robin, every read hands a context used with another pack's dictionary to this
        // one, and must still decode this pack's blocks.
        let dir = tempfile::tempdir().unwrap();
        let mut config = PackWriterConfig::new(dir.path(), 1);
        // A pack closes once its training samples reach the limit: 180 or so entries of
        // 330 bytes, enough to train on (128 samples, 32 KiB).
        config.pack_size_limit = 60_000;
        config.dictionary = true;
        let writer = PackWriter::spawn(config).unwrap();
        let input = random_proteins(4000);
        for chunk in input.chunks(50) {
            writer.put(chunk.to_vec()).unwrap();
        }
        let packs = writer.finish().unwrap();
        let readers: Vec<PackReader> = packs
            .iter()
            .map(|p| PackReader::open(&p.temp_path).unwrap())
            .collect();
        assert!(
            readers.len() > 2 * crate::reader::DECODERS,
            "{} packs",
            readers.len()
        );
        assert!(readers.iter().all(|r| r.has_dictionary()));
        let want: std::collections::HashMap<SequenceHash, &[u8]> = input
            .iter()
            .map(|e| (e.hash, e.residues.as_slice()))
            .collect();
        let mut cache = BlockCache::default();
        let entries: Vec<_> = packs.iter().map(|p| p.entries().unwrap()).collect();
        let longest = entries.iter().map(Vec::len).max().unwrap();
        let mut read = 0;
        for i in 0..longest {
            for ((p, r), entries) in packs.iter().zip(&readers).zip(&entries) {
                let Some(e) = entries.get(i) else { continue };
                let got = r
                    .read_entry(&e.hash, &e.location, &mut cache, |x| x.sequence.to_vec())
                    .unwrap();
                assert_eq!(got, want[&e.hash], "pack {} entry {i}", p.id);
                read += 1;
            }
        }
        assert_eq!(read, input.len());
    }

    #[test]
    fn v1_packs_rotate_and_read_back() {
        write_and_read_back(PackVersion::V1);
    }

    #[test]
    fn a_failing_directory_poisons_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let config = PackWriterConfig::new(&dir.path().join("missing"), 0);
        let writer = PackWriter::spawn(config).unwrap();
        let _ = writer.put(entries(3));
        let err = writer.finish().unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
