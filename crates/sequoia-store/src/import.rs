//! Importing FASTA: a parser thread reads and hashes records in batches while the calling
//! thread de-duplicates them into the store, whose writer thread compresses and writes.

use std::io::BufRead;
use std::time::Instant;

use crossbeam_channel::bounded;
use pack_format::{Representation, SequenceHash};

use crate::error::StoreError;
use crate::fasta::{FastaError, FastaReader, FastaRecord};
use crate::store::PackedSequenceStorage;

/// What one import added.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// Records read.
    pub records: u64,
    /// Sequences not stored before.
    pub new_sequences: u64,
    /// Representations not stored before.
    pub new_representations: u64,
    /// Bytes of FASTA read (after decompression).
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

impl ImportSummary {
    /// Adds another import's figures.
    pub fn add(&mut self, o: &ImportSummary) {
        self.records += o.records;
        self.new_sequences += o.new_sequences;
        self.new_representations += o.new_representations;
        self.bytes += o.bytes;
        self.seconds += o.seconds;
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input is not valid FASTA or could not be read.
    #[error(transparent)]
    Fasta(#[from] FastaError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Batch = Vec<(SequenceHash, Vec<u8>, String)>;

const BATCH_RECORDS: usize = 4096;

/// One record per header: NCBI nr joins the headers of one sequence with `\x01`.
fn split_headers(
    hash: SequenceHash,
    residues: Vec<u8>,
    header: String,
    source: &str,
) -> Vec<(SequenceHash, Vec<u8>, Representation)> {
    if header.contains('\u{1}') {
        let parts: Vec<&str> = header
            .split('\u{1}')
            .filter(|h| !h.trim().is_empty())
            .collect();
        if !parts.is_empty() {
            return parts
                .into_iter()
                .map(|h| (hash, residues.clone(), Representation::new(h, source)))
                .collect();
        }
    }
    vec![(
        hash,
        residues,
        Representation {
            header,
            source: source.to_string(),
        },
    )]
}

/// Reads every record of `input` into `store` (not committed: the caller commits, or rolls
/// back on error). `progress(bytes, records)` is called after each batch.
pub fn import_fasta(
    store: &PackedSequenceStorage,
    input: Box<dyn BufRead + Send>,
    input_name: &str,
    source: &str,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let (tx, rx) = bounded::<Result<(Batch, u64), FastaError>>(8);
    let name = input_name.to_string();
    let parser = std::thread::Builder::new()
        .name("sequoia-fasta".into())
        .spawn(move || {
            let mut reader = FastaReader::new(input, &name);
            let mut rec = FastaRecord::default();
            loop {
                let mut batch: Batch = Vec::with_capacity(BATCH_RECORDS);
                let mut end = false;
                while batch.len() < BATCH_RECORDS {
                    match reader.next_record(&mut rec) {
                        Ok(true) => {
                            let residues = std::mem::take(&mut rec.residues);
                            let hash = SequenceHash::of_residues(&residues);
                            batch.push((hash, residues, std::mem::take(&mut rec.header)));
                        }
                        Ok(false) => {
                            end = true;
                            break;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
                if tx.send(Ok((batch, reader.bytes_read()))).is_err() || end {
                    return;
                }
            }
        })
        .map_err(|e| StoreError::Io {
            path: input_name.into(),
            source: e,
        })?;
    let mut summary = ImportSummary::default();
    let result = (|| {
        for item in rx.iter() {
            let (batch, bytes) = item?;
            summary.records += batch.len() as u64;
            summary.bytes = bytes;
            store.put_normalized_batch(
                batch
                    .into_iter()
                    .flat_map(|(h, r, header)| split_headers(h, r, header, source)),
                |o| {
                    summary.new_sequences += o.new_sequence as u64;
                    summary.new_representations += o.new_representation as u64;
                },
            )?;
            progress(summary.bytes, summary.records);
        }
        Ok::<_, ImportError>(())
    })();
    drop(rx);
    let _ = parser.join();
    result?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
