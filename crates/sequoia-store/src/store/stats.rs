//! What a store holds: counts and bytes, from index headers and file sizes.

use std::path::PathBuf;

use pack_format::PackVersion;
use pack_index::IndexKind;

use crate::error::StoreError;
use crate::layout::io_err;
use crate::report::OpenProblem;

use super::*;

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

impl PackedSequenceStorage {
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
