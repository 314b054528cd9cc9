//! Importing FASTA: a parser thread reads and hashes records in batches while the calling
//! thread de-duplicates them into the store, whose writer thread compresses and writes.

use std::io::BufRead;
use std::time::Instant;

use crossbeam_channel::bounded;
use pack_format::SequenceHash;

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

/// Records read by the parser thread: their residues and headers back to back in two
/// buffers, reused from batch to batch. A record of a sequence already seen costs no
/// allocation; the store copies out only a new sequence's entry.
#[derive(Default)]
struct RecordBatch {
    residues: Vec<u8>,
    headers: String,
    /// Per record: its hash and where its residues and its header end in the buffers.
    records: Vec<(SequenceHash, usize, usize)>,
}

impl RecordBatch {
    fn push(&mut self, hash: SequenceHash, residues: &[u8], header: &str) {
        self.residues.extend_from_slice(residues);
        self.headers.push_str(header);
        self.records
            .push((hash, self.residues.len(), self.headers.len()));
    }

    /// Each record's hash, residues and header, in input order.
    fn iter(&self) -> impl Iterator<Item = (SequenceHash, &[u8], &str)> {
        let (mut r, mut h) = (0, 0);
        self.records.iter().map(move |&(hash, r_end, h_end)| {
            let rec = (hash, &self.residues[r..r_end], &self.headers[h..h_end]);
            (r, h) = (r_end, h_end);
            rec
        })
    }

    fn clear(&mut self) {
        self.residues.clear();
        self.headers.clear();
        self.records.clear();
    }
}

const BATCH_RECORDS: usize = 4096;

/// One record per header: NCBI nr joins the headers of one sequence with `\x01` (a header
/// with nothing but blanks between them stays whole).
fn split_headers(header: &str) -> impl Iterator<Item = &str> {
    let joined = header.contains('\u{1}') && header.split('\u{1}').any(|h| !h.trim().is_empty());
    let whole = (!joined).then_some(header);
    let parts = joined.then(|| header.split('\u{1}').filter(|h| !h.trim().is_empty()));
    whole.into_iter().chain(parts.into_iter().flatten())
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
    let (tx, rx) = bounded::<Result<(RecordBatch, u64), FastaError>>(8);
    // Batches the store is done with go back to the parser, buffers and all.
    let (free_tx, free_rx) = bounded::<RecordBatch>(2);
    let name = input_name.to_string();
    let parser = std::thread::Builder::new()
        .name("sequoia-fasta".into())
        .spawn(move || {
            let mut reader = FastaReader::new(input, &name);
            let mut rec = FastaRecord::default();
            loop {
                let mut batch = free_rx.try_recv().unwrap_or_default();
                let mut end = false;
                while batch.records.len() < BATCH_RECORDS {
                    match reader.next_record(&mut rec) {
                        Ok(true) => {
                            let hash = SequenceHash::of_residues(&rec.residues);
                            batch.push(hash, &rec.residues, &rec.header);
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
            let (mut batch, bytes) = item?;
            summary.records += batch.records.len() as u64;
            summary.bytes = bytes;
            store.put_normalized_batch(
                batch.iter().flat_map(|(hash, residues, header)| {
                    split_headers(header).map(move |h| (hash, residues, h))
                }),
                source,
                |o| {
                    summary.new_sequences += o.new_sequence as u64;
                    summary.new_representations += o.new_representation as u64;
                },
            )?;
            progress(summary.bytes, summary.records);
            batch.clear();
            let _ = free_tx.try_send(batch);
        }
        Ok::<_, ImportError>(())
    })();
    drop(rx);
    let _ = parser.join();
    result?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_headers_are_split_and_blank_ones_dropped() {
        fn split(h: &str) -> Vec<&str> {
            split_headers(h).collect()
        }
        assert_eq!(split("sp|P1 one"), ["sp|P1 one"]);
        assert_eq!(split("a b\u{1}c d"), ["a b", "c d"]);
        assert_eq!(split("a\u{1} \u{1}b\u{1}"), ["a", "b"]);
        assert_eq!(
            split(" \u{1} "),
            [" \u{1} "],
            "nothing but blanks: kept whole"
        );
        assert_eq!(split(""), [""]);
    }

    #[test]
    fn a_batch_gives_back_its_records_and_is_reused_empty() {
        let recs = [
            (b"MKV".as_slice(), "a"),
            (b"".as_slice(), ""),
            (b"AC", "b c"),
        ];
        let mut batch = RecordBatch::default();
        for round in 0..2 {
            for (r, h) in recs {
                batch.push(SequenceHash::of_residues(r), r, h);
            }
            let got: Vec<_> = batch.iter().collect();
            let want: Vec<_> = recs
                .iter()
                .map(|&(r, h)| (SequenceHash::of_residues(r), r, h))
                .collect();
            assert_eq!(got, want, "round {round}");
            batch.clear();
            assert_eq!(batch.iter().count(), 0);
        }
    }
}
