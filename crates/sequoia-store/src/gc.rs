//! Deleting what is not part of the store (`sequoia gc`): temporary files of interrupted
//! writes, packs no commit record lists (of interrupted commits, or replaced by a repack),
//! and index files no commit record names (layers merged into others, older commit
//! records, the index files of a store written before layers).

use std::path::PathBuf;

use crate::error::StoreError;
use crate::layout::{fsync_dir, io_err};
use crate::store::PackedSequenceStorage;

/// What `gc` deleted, or would delete with `dry_run`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcSummary {
    /// Each file with its size in bytes, in the order deleted.
    pub files: Vec<(PathBuf, u64)>,
    /// Their bytes.
    pub bytes: u64,
    /// Nothing was deleted: the files are what `gc` would delete.
    pub dry_run: bool,
}

impl PackedSequenceStorage {
    /// Deletes every file of the store's directories that the current commit record does
    /// not name, never one it does. Needs a writer ([`open_writer`](Self::open_writer)):
    /// its lock keeps any other writer from creating files meanwhile, and this session must
    /// have nothing uncommitted. Older commit records go first, so that no commit record
    /// is ever left naming a deleted file; a crash part-way leaves a sound store with fewer
    /// leftovers. Readers of an older snapshot keep the index files they mapped; a pack a
    /// repack replaced is gone for one that has not opened it yet.
    pub fn gc(&self, dry_run: bool) -> Result<GcSummary, StoreError> {
        let s = self.session()?;
        if s.has_uncommitted() {
            return Err(StoreError::Uncommitted("gc"));
        }
        self.refresh()?;
        let snap = self.snapshot();
        let mut files = snap.garbage();
        // Commit records first (older ones name files deleted below), then the rest.
        let is_record = |p: &PathBuf| {
            (p.file_name().and_then(|n| n.to_str()))
                .and_then(crate::commit_record::parse_commit_record_name)
                .is_some()
        };
        files.sort_by_key(|p| !is_record(p));
        let mut summary = GcSummary {
            dry_run,
            ..GcSummary::default()
        };
        for path in files {
            let len = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&path)(e)),
            };
            if !dry_run {
                match pack_io::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
            summary.bytes += len;
            summary.files.push((path, len));
        }
        if !dry_run && !summary.files.is_empty() {
            fsync_dir(&self.layout().indices_dir())?;
            fsync_dir(&self.layout().packs_dir())?;
            drop(s);
            self.refresh()?;
        }
        Ok(summary)
    }
}
