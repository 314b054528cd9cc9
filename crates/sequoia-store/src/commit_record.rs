//! The commit record (`indices/commit-NNNNNNNNNN`): which packs are committed and which
//! index layers find their sequences, in order. A commit publishes a new one, numbered one
//! past the current one; publishing it is what makes the commit visible (docs/format.md,
//! "Committing"). It is small: its size grows with the packs and layers, never with rows.

use std::path::{Path, PathBuf};

use pack_format::PackId;
use pack_index::IndexCounts;

use crate::error::StoreError;
use crate::layout::{io_err, StagedFile, StoreLayout};

const MAGIC: &[u8; 4] = b"SQCR";
const VERSION: u8 = 1;
const TRAILER_MAGIC: &[u8; 8] = b"SQCREND1";
const HEADER_LEN: usize = 64;
const LAYER_LEN: usize = 24;

/// The name of an index layer: the commit record that first listed it, and a random token
/// that tells apart layers of writers that raced for the same number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerName {
    /// The number of the commit record that first listed the layer.
    pub seq: u64,
    /// Random: no two writers name a layer alike.
    pub token: u32,
}

impl LayerName {
    /// A new layer's name, for the commit record `seq`.
    pub fn new(seq: u64) -> LayerName {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS once per process and stepped per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(seq);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        LayerName {
            seq,
            token: h.finish() as u32,
        }
    }

    /// The stem of the layer's files: `layer-NNNNNNNNNN-TTTTTTTT`.
    pub fn stem(&self) -> String {
        format!("layer-{:010}-{:08x}", self.seq, self.token)
    }

    /// The layer a file name `layer-NNNNNNNNNN-TTTTTTTT.<part>.idx` belongs to.
    pub fn parse_file_name(name: &str) -> Option<LayerName> {
        let rest = name.strip_prefix("layer-")?;
        let (seq, rest) = rest.split_once('-')?;
        let (token, _) = rest.split_once('.')?;
        if seq.len() < 10 || token.len() != 8 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(LayerName {
            seq: seq.parse().ok()?,
            token: u32::from_str_radix(token, 16).ok()?,
        })
    }
}

impl std::fmt::Display for LayerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.stem())
    }
}

/// One layer as the commit record lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerEntry {
    /// Its name.
    pub name: LayerName,
    /// Rows of its rows file (one per entry of its packs), checked against the file's
    /// header at open.
    pub rows: u64,
}

/// A commit record: the committed packs, their totals, and the index layers over them,
/// oldest first (each layer covers packs no other covers; together, every listed pack).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitRecord {
    /// Its number: one past the record it followed (0: a new store's first).
    pub seq: u64,
    /// Committed packs, ascending.
    pub packs: Vec<PackId>,
    /// Totals over the committed packs.
    pub counts: IndexCounts,
    /// Index layers, oldest first.
    pub layers: Vec<LayerEntry>,
}

/// What is wrong with a commit record's bytes.
fn corrupt(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt(format!(
        "commit record {}: {}; run `sequoia rebuild-index`",
        path.display(),
        message.into()
    ))
}

impl CommitRecord {
    /// Its bytes (docs/format.md, "Commit record").
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(
            HEADER_LEN + 4 * self.packs.len() + 4 + LAYER_LEN * self.layers.len() + 16,
        );
        b.extend_from_slice(MAGIC);
        b.push(VERSION);
        b.extend_from_slice(&[0; 3]);
        b.extend_from_slice(&self.seq.to_le_bytes());
        b.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.layers.len() as u32).to_le_bytes());
        let c = &self.counts;
        for v in [
            c.sequences,
            c.representations,
            c.residue_bytes,
            c.uncompressed_bytes,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[0; 8]);
        for p in &self.packs {
            b.extend_from_slice(&p.to_le_bytes());
        }
        if self.packs.len() % 2 == 1 {
            b.extend_from_slice(&[0; 4]);
        }
        for l in &self.layers {
            b.extend_from_slice(&l.name.seq.to_le_bytes());
            b.extend_from_slice(&l.name.token.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&l.rows.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(TRAILER_MAGIC);
        b
    }

    /// Parses the bytes of the record at `path` (named in errors), checking every field.
    pub fn decode(path: &Path, b: &[u8]) -> Result<CommitRecord, StoreError> {
        if b.len() < HEADER_LEN + 16 || &b[..4] != MAGIC {
            return Err(corrupt(path, "not a commit record (magic or length)"));
        }
        if b[4] != VERSION {
            return Err(corrupt(
                path,
                format!(
                    "version {} (this build reads {VERSION}): a newer sequoia wrote it",
                    b[4]
                ),
            ));
        }
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let end = b.len() - 16;
        if &b[end + 8..] != TRAILER_MAGIC || b[end + 4..end + 8] != [0; 4] {
            return Err(corrupt(path, "trailer magic missing (truncated?)"));
        }
        if u32_at(end) != crc32fast::hash(&b[..end]) {
            return Err(corrupt(path, "CRC mismatch"));
        }
        let seq = u64_at(8);
        let pack_count = u32_at(16) as usize;
        let layer_count = u32_at(20) as usize;
        let packs_len = 4 * (pack_count + pack_count % 2);
        if HEADER_LEN as u128 + packs_len as u128 + (LAYER_LEN as u128 * layer_count as u128)
            != end as u128
        {
            return Err(corrupt(
                path,
                format!(
                    "{pack_count} packs and {layer_count} layers do not fill its {} bytes",
                    b.len()
                ),
            ));
        }
        let counts = IndexCounts {
            sequences: u64_at(24),
            representations: u64_at(32),
            residue_bytes: u64_at(40),
            uncompressed_bytes: u64_at(48),
        };
        let packs: Vec<PackId> = (0..pack_count)
            .map(|i| u32_at(HEADER_LEN + 4 * i))
            .collect();
        if packs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(corrupt(path, "pack ids out of order"));
        }
        let at = HEADER_LEN + packs_len;
        let layers = (0..layer_count)
            .map(|i| {
                let r = at + LAYER_LEN * i;
                LayerEntry {
                    name: LayerName {
                        seq: u64_at(r),
                        token: u32_at(r + 8),
                    },
                    rows: u64_at(r + 16),
                }
            })
            .collect();
        Ok(CommitRecord {
            seq,
            packs,
            counts,
            layers,
        })
    }
}

/// The file name of commit record `seq`.
pub fn commit_record_name(seq: u64) -> String {
    format!("commit-{seq:010}")
}

/// The number of a commit record's file name.
pub fn parse_commit_record_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("commit-")?;
    if digits.len() < 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The numbers of the commit records in `indices/`, newest first.
pub fn list_commit_records(layout: &StoreLayout) -> Result<Vec<u64>, StoreError> {
    let dir = layout.indices_dir();
    let mut seqs = Vec::new();
    for item in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
        let item = item.map_err(io_err(&dir))?;
        if let Some(seq) = item.file_name().to_str().and_then(parse_commit_record_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    Ok(seqs)
}

/// Reads commit record `seq`.
pub fn read_commit_record(layout: &StoreLayout, seq: u64) -> Result<CommitRecord, StoreError> {
    let path = layout.commit_record_path(seq);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let record = CommitRecord::decode(&path, &bytes)?;
    if record.seq != seq {
        return Err(corrupt(&path, format!("holds number {}", record.seq)));
    }
    Ok(record)
}

/// A commit record written and fsynced under its temporary name, to be published by a
/// caller that holds the writer lock (or builds a store no one else sees).
#[must_use = "a staged commit record is removed unless published"]
pub struct StagedRecord {
    file: StagedFile,
    path: PathBuf,
}

impl StagedRecord {
    /// Writes `record` to `commit-NNNNNNNNNN.tmp` and fsyncs it.
    pub fn write(layout: &StoreLayout, record: &CommitRecord) -> Result<StagedRecord, StoreError> {
        let path = layout.commit_record_path(record.seq);
        let bytes = record.encode();
        let file = StagedFile::write(&path, |w| {
            std::io::Write::write_all(w, &bytes).map_err(io_err(&path))
        })?;
        Ok(StagedRecord { file, path })
    }

    /// The commit point: renames the record into place (never over another: the writer
    /// lock orders local writers, and a record of this number already there is refused)
    /// and fsyncs `indices/`.
    pub fn publish(self) -> Result<(), StoreError> {
        if self.path.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} exists already: another writer committed first; nothing of this commit is visible",
                self.path.display()
            )));
        }
        self.file.publish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CommitRecord {
        CommitRecord {
            seq: 7,
            packs: vec![0, 3, 9],
            counts: IndexCounts {
                sequences: 5,
                representations: 6,
                residue_bytes: 70,
                uncompressed_bytes: 800,
            },
            layers: vec![
                LayerEntry {
                    name: LayerName {
                        seq: 2,
                        token: 0xdead_beef,
                    },
                    rows: 4,
                },
                LayerEntry {
                    name: LayerName::new(7),
                    rows: 2,
                },
            ],
        }
    }

    #[test]
    fn a_commit_record_reads_back_as_written() {
        let r = record();
        let bytes = r.encode();
        assert_eq!(bytes.len(), 64 + 16 + 48 + 16);
        assert_eq!(CommitRecord::decode(Path::new("x"), &bytes).unwrap(), r);
    }

    #[test]
    fn every_damaged_byte_of_a_commit_record_is_an_error() {
        let bytes = record().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            let e = CommitRecord::decode(Path::new("indices/commit-0000000007"), &b);
            assert!(e.is_err(), "byte {i}");
            assert!(e.unwrap_err().to_string().contains("commit-0000000007"));
        }
        for len in 0..bytes.len() {
            assert!(CommitRecord::decode(Path::new("x"), &bytes[..len]).is_err());
        }
    }

    #[test]
    fn layer_and_record_names_parse() {
        let n = LayerName {
            seq: 42,
            token: 0x0abc_def0,
        };
        assert_eq!(n.stem(), "layer-0000000042-0abcdef0");
        assert_eq!(
            LayerName::parse_file_name(&format!("{}.rows.idx", n.stem())),
            Some(n)
        );
        assert_eq!(
            LayerName::parse_file_name("layer-42-0abcdef0.rows.idx"),
            None
        );
        assert_eq!(parse_commit_record_name(&commit_record_name(42)), Some(42));
        assert_eq!(parse_commit_record_name("commit-0000000042.tmp"), None);
        assert_ne!(LayerName::new(1).token, LayerName::new(1).token);
    }
}
