//! Alias-index rows (MD5, `sha512t24u`, accession → SHA-256 prefix): collected compactly
//! per kind, computed on their own thread during an import, merged into the alias index
//! files at commit and by `rebuild-index`.

use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pack_format::{PackId, SequenceHash};
use pack_index::{hash_prefix, write_alias_index, HashPrefix, IndexKind, PackIndex};

use crate::error::StoreError;
use crate::ids::SequenceDigests;
use crate::layout::{write_atomically, StoreLayout};

/// Rows of one kind: a key of `N` bytes and a SHA-256 prefix (16 to 32 bytes a row).
type Rows<const N: usize> = Vec<([u8; N], HashPrefix)>;

/// New alias rows of a session, per kind.
#[derive(Default)]
pub(crate) struct AliasRows {
    md5: Rows<16>,
    sha512t24u: Rows<24>,
    accession: Rows<8>,
}

/// Appends `row`; when the buffer is full, sorts it and drops duplicates first, so that
/// repeated rows (one accession in several sources) do not grow it.
fn push<const N: usize>(rows: &mut Rows<N>, row: ([u8; N], HashPrefix)) {
    if rows.len() == rows.capacity() && rows.len() >= 4096 {
        rows.sort_unstable();
        rows.dedup();
        if rows.len() < rows.capacity() / 4 * 3 {
            rows.push(row);
            return;
        }
    }
    rows.push(row);
}

impl AliasRows {
    /// The digest rows of a new sequence.
    pub fn add_sequence(&mut self, hash: SequenceHash, residues: &[u8]) {
        let d = SequenceDigests::with_sha256(hash, residues);
        let p = hash_prefix(&hash);
        push(&mut self.md5, (d.md5, p));
        push(&mut self.sha512t24u, (d.sha512t24u, p));
    }

    /// The accession rows of a representation's header.
    pub fn add_header(&mut self, hash: SequenceHash, header: &str) {
        let p = hash_prefix(&hash);
        for acc in crate::ids::accessions(header) {
            push(&mut self.accession, (crate::ids::accession_key(acc), p));
        }
    }

    /// Merges these rows with those of the current alias indexes (`old`) and writes the
    /// three files over `packs`.
    pub fn write(
        mut self,
        layout: &StoreLayout,
        packs: &[PackId],
        old: &std::collections::BTreeMap<IndexKind, PackIndex<Mmap>>,
    ) -> Result<(), StoreError> {
        merge_write(layout, IndexKind::Md5, packs, &mut self.md5, old)?;
        merge_write(
            layout,
            IndexKind::Sha512t24u,
            packs,
            &mut self.sha512t24u,
            old,
        )?;
        merge_write(
            layout,
            IndexKind::Accession,
            packs,
            &mut self.accession,
            old,
        )
    }
}

fn merge_write<const N: usize>(
    layout: &StoreLayout,
    kind: IndexKind,
    packs: &[PackId],
    rows: &mut Rows<N>,
    old: &std::collections::BTreeMap<IndexKind, PackIndex<Mmap>>,
) -> Result<(), StoreError> {
    let path = layout.alias_index_path(kind);
    if let Some(ix) = old.get(&kind).filter(|ix| !ix.is_empty()) {
        // Every bucket is checked as it is read: damage is reported, not copied.
        rows.extend(
            ix.checked_alias_rows::<N>()
                .map_err(|source| StoreError::Index {
                    path: path.clone(),
                    source,
                })?,
        );
    }
    rows.sort_unstable();
    rows.dedup();
    write_alias_file(&path, kind, packs, rows)
}

/// Writes the alias index of `kind` over `packs`, atomically.
fn write_alias_file<const N: usize>(
    path: &Path,
    kind: IndexKind,
    packs: &[PackId],
    rows: &mut [([u8; N], HashPrefix)],
) -> Result<(), StoreError> {
    write_atomically(path, |w| {
        write_alias_index(w, kind, packs, rows)
            .map(|_| ())
            .map_err(|source| StoreError::Index {
                path: path.to_path_buf(),
                source,
            })
    })
}

/// What the alias worker needs of one entry sent to the writer.
pub(crate) struct AliasJob {
    pub hash: SequenceHash,
    /// The residues of a new sequence (its digests are computed), `None` for added
    /// representations only.
    pub residues: Option<Vec<u8>>,
    pub headers: Vec<String>,
}

/// A thread that turns entries into alias rows while the writer compresses them.
pub(crate) struct AliasWorker {
    tx: Option<crossbeam_channel::Sender<Vec<AliasJob>>>,
    handle: std::thread::JoinHandle<AliasRows>,
}

impl AliasWorker {
    pub fn spawn() -> Result<AliasWorker, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<AliasJob>>(8);
        let handle = std::thread::Builder::new()
            .name("sequoia-alias".into())
            .spawn(move || {
                let mut rows = AliasRows::default();
                for jobs in rx {
                    for job in jobs {
                        if let Some(r) = &job.residues {
                            rows.add_sequence(job.hash, r);
                        }
                        for h in &job.headers {
                            rows.add_header(job.hash, h);
                        }
                    }
                }
                rows
            })
            .map_err(|e| StoreError::Io {
                path: PathBuf::from("sequoia-alias thread"),
                source: e,
            })?;
        Ok(AliasWorker {
            tx: Some(tx),
            handle,
        })
    }

    pub fn send(&self, jobs: Vec<AliasJob>) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .expect("the sender lives until finish")
            .send(jobs)
            .map_err(|_| StoreError::Corrupt("the alias thread stopped".into()))
    }

    /// Every row computed, once every job sent has been handled.
    pub fn finish(mut self) -> Result<AliasRows, StoreError> {
        drop(self.tx.take());
        self.handle
            .join()
            .map_err(|_| StoreError::Corrupt("the alias thread panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_drops_duplicates_before_growing() {
        let mut rows: Rows<8> = Vec::with_capacity(4096);
        for i in 0..100_000u32 {
            push(&mut rows, ([(i % 1000) as u8; 8], [1; 8]));
        }
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 256, "one row per distinct key");
        let mut plain: Rows<8> = Vec::new();
        for i in 0..10_000u32 {
            push(
                &mut plain,
                (i.to_le_bytes().repeat(2).try_into().unwrap(), [0; 8]),
            );
        }
        assert_eq!(plain.len(), 10_000, "distinct rows are all kept");
    }
}
