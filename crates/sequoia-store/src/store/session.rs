//! The write session: puts de-duplicated against the store and the session, batched to
//! the pack writer and the alias worker until [`PackedSequenceStorage::commit`].

use pack_format::{PackId, Representation, SequenceHash};
use pack_io::{PackWriter, PackWriterConfig, PutEntry};

use super::dedup::{fingerprint, SessionDedup};
use super::run::{fingerprints_in, Runs};
use crate::alias::AliasWorker;
use crate::error::StoreError;
use crate::lock::WriterLock;

use super::*;

/// What a put changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutOutcome {
    /// The residues were not stored before.
    pub new_sequence: bool,
    /// The representation was not stored before.
    pub new_representation: bool,
}

pub(crate) struct WriteSession {
    pub(super) _lock: WriterLock,
    pub(super) writer: Option<PackWriter>,
    pub next_pack_id: PackId,
    pub(super) batch: Vec<PutEntry>,
    pub(super) batch_bytes: usize,
    /// Sequences touched since the last commit, with their representations' fingerprints;
    /// new representations of sequences already written are kept there, grouped per
    /// sequence, and written at commit as one entry each (in first-seen order), so that a
    /// sequence seen in three sources costs two entries, not three.
    pub(super) dedup: SessionDedup,
    /// Computes alias-index rows (digests of new sequences, accessions of new
    /// representations) on its own thread, from the batches the writer is sent (shared).
    pub(super) aliases: Option<AliasWorker>,
    /// Runs sealed since the last commit (`store/run.rs`).
    pub(super) runs: Option<Runs>,
    pub poisoned: Option<String>,
}

impl WriteSession {
    /// Whether anything was put since the last commit.
    pub fn has_uncommitted(&self) -> bool {
        self.writer.is_some()
            || !self.batch.is_empty()
            || !self.dedup.is_empty()
            || self.runs.is_some()
    }

    /// The id of the next pack to write: past the packs of the runs.
    fn next_writer_id(&self) -> PackId {
        (self.runs.as_ref().and_then(|r| r.packs.last())).map_or(self.next_pack_id, |p| p.id + 1)
    }
}

pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// The default [`StoreOptions::additions_limit`]: one pack's worth.
pub const ADDITIONS_LIMIT: usize = 64 << 20;

/// The default [`StoreOptions::run_sequences`]: about 400 MB of a session's
/// de-duplication state and rows. Lower bounds cost imports with repeated sequences: a
/// sequence seen again after a run is looked up in the run's packs (a block read) and gets
/// an addition entry of its own (at 2^18, importing protein_all took three times as long).
pub const RUN_SEQUENCES: usize = 1 << 21;

/// What `representations` count for towards [`BATCH_BYTES`].
pub(crate) fn representations_bytes(representations: &[Representation]) -> usize {
    representations
        .iter()
        .map(|r| r.header.len() + r.source.len() + 8)
        .sum()
}

impl PackedSequenceStorage {
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
        for (hash, residues, header) in records {
            counted(self.put_locked(&mut s, hash, residues, header, source)?);
        }
        Ok(())
    }

    /// Stores a record, copying its residues and representation only when the sequence is
    /// new (a known sequence's new representation is kept by `dedup` until the commit or
    /// the next run), and seals a run when the session holds enough sequences.
    fn put_locked<R: Into<Vec<u8>>>(
        &self,
        s: &mut WriteSession,
        hash: SequenceHash,
        residues: R,
        header: &str,
        source: &str,
    ) -> Result<PutOutcome, StoreError> {
        let outcome = self.put_one(s, hash, residues, header, source)?;
        if s.dedup.len() >= self.options.run_sequences && self.may_seal() {
            if let Err(e) = self.seal_run(s) {
                // Packs finished but not in a run would be left out of the commit: the
                // session is over (a rollback removes what it wrote).
                s.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        Ok(outcome)
    }

    fn put_one<R: Into<Vec<u8>>>(
        &self,
        s: &mut WriteSession,
        hash: SequenceHash,
        residues: R,
        header: &str,
        source: &str,
    ) -> Result<PutOutcome, StoreError> {
        let mut outcome = PutOutcome::default();
        // Touched since the session's last run, else stored by an earlier commit or in
        // one of the session's runs (or both: a run may hold an addition to it), else new.
        let mut seen = s.dedup.add_representation(&hash, header, source);
        if seen.is_none() {
            let stored = fingerprints_in(&self.snapshot(), &hash)?;
            let in_runs = match &s.runs {
                Some(runs) => fingerprints_in(&runs.view, &hash)?,
                None => None,
            };
            let fps = match (stored, in_runs) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    Some(a)
                }
                (a, b) => a.or(b),
            };
            if let Some(fps) = fps {
                s.dedup.insert_sequence(hash, fps);
                seen = s.dedup.add_representation(&hash, header, source);
            }
        }
        if let Some(new_representation) = seen {
            outcome.new_representation = new_representation;
            if new_representation && s.dedup.additions_bytes() >= self.options.additions_limit {
                // Bounded, whatever the input's size: written now, as the commit would,
                // a batch at a time.
                loop {
                    let batch = s.dedup.flush_additions(BATCH_BYTES);
                    if batch.is_empty() {
                        break;
                    }
                    self.write_additions(s, batch)?;
                }
            }
            return Ok(outcome);
        }
        s.dedup.insert_sequence(hash, [fingerprint(header, source)]);
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

    /// How this store writes packs, the first numbered `first_id`.
    pub(crate) fn writer_config(&self, first_id: PackId) -> PackWriterConfig {
        let mut config = PackWriterConfig::new(&self.layout.packs_dir(), first_id);
        config.version = self.options.format;
        config.pack_size_limit = self.options.pack_size_limit;
        if let Some(size) = self.options.block_size {
            config.block_size = size;
            config.dictionary_block_size = size;
            config.v3.residue_block = size;
            config.v3.header_block = size;
        }
        config.level = self.options.level;
        config.on_closed = self.options.on_pack_closed.clone();
        config
    }

    pub(super) fn send_batch(&self, s: &mut WriteSession) -> Result<(), StoreError> {
        if s.batch.is_empty() {
            return Ok(());
        }
        if s.writer.is_none() {
            s.writer = Some(PackWriter::spawn(self.writer_config(s.next_writer_id()))?);
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
}
