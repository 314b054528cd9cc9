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
    /// Packs of the v3 layout (separate residue and header streams).
    pub v3_packs: usize,
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
    /// The kind of the index layers' rows: [`IndexKind::Entries`] (rows naming entry
    /// table rows) when every layer holds them, else [`IndexKind::Multi`] (48-byte
    /// location rows: v1 packs, or a store written before entry rows; `rebuild_index`
    /// rewrites them as entry rows when every pack is a v2 pack); `None` without layers.
    pub row_kind: Option<IndexKind>,
    /// Rows of the layers (one per entry of every committed pack).
    pub index_rows: u64,
    /// Index layers the commit record lists (`compact` merges them into one).
    pub layers: usize,
    /// Files of interrupted writes that are not part of the store: temporary files, packs
    /// and layer files no commit record names.
    pub leftovers: Vec<PathBuf>,
    /// Index files later commits replaced (merged layers, older commit records).
    pub superseded_files: usize,
    /// Bytes of the leftovers and superseded files: what `gc` reclaims.
    pub reclaimable_bytes: u64,
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
    /// Distinct sequences of the commit this handle reads, from its commit record (or the
    /// index headers): no file is listed or read.
    pub fn sequence_count(&self) -> u64 {
        self.snapshot().counts().sequences
    }

    /// Figures from index headers and file sizes; nothing is decompressed.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let snap = self.listed_snapshot()?;
        let counts = snap.counts();
        let mut stats = StoreStats {
            packs: snap.packs.len(),
            sequences: counts.sequences,
            representations: counts.representations,
            residue_bytes: counts.residue_bytes,
            uncompressed_bytes: counts.uncompressed_bytes,
            row_kind: snap.layers.first().map(|_| {
                if (snap.layers.iter()).all(|l| l.rows.kind() == IndexKind::Entries) {
                    IndexKind::Entries
                } else {
                    IndexKind::Multi
                }
            }),
            index_rows: snap.layers.iter().map(|l| l.rows.len()).sum(),
            layers: snap.layers.len(),
            leftovers: snap.leftovers(),
            problems: snap.problems.clone(),
            ..StoreStats::default()
        };
        for slot in snap.packs.values() {
            stats.pack_bytes += match std::fs::metadata(&slot.path) {
                Ok(meta) => meta.len(),
                // A pack of a store on object storage that the cache does not hold whole.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && self.layout.remote().is_some() =>
                {
                    slot.reader().map_err(StoreError::Corrupt)?.file_len()
                }
                Err(e) => return Err(io_err(&slot.path)(e)),
            };
            match slot.reader().map(|r| r.version()) {
                Ok(PackVersion::V1) => stats.v1_packs += 1,
                Ok(PackVersion::V3) => stats.v3_packs += 1,
                _ => {}
            }
        }
        let dir = self.layout.indices_dir();
        stats.superseded_files = snap.superseded.len();
        let garbage = snap.garbage();
        for p in &garbage {
            // Gone since the snapshot was taken (another gc): nothing to reclaim.
            stats.reclaimable_bytes += std::fs::metadata(p).map_or(0, |m| m.len());
        }
        // A set: a store that has not seen `gc` for 10,000 commits has 50,000 of them.
        let leftovers: std::collections::HashSet<&std::path::Path> =
            garbage.iter().map(|p| p.as_path()).collect();
        for item in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let item = item.map_err(io_err(&dir))?;
            if item.file_name().to_string_lossy().ends_with(".tmp")
                || leftovers.contains(item.path().as_path())
            {
                continue;
            }
            stats.index_files += 1;
            stats.index_bytes += item.metadata().map_err(io_err(&item.path()))?.len();
        }
        Ok(stats)
    }
}
