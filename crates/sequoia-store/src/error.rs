//! Errors of store operations: what failed, on which file, and what to do about it.

use std::path::PathBuf;

use pack_format::SequenceHash;

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holds no store and the operation does not create one.
    #[error("no SEQUOIA store at {path} (import something to create one)")]
    NoStore {
        /// The directory.
        path: PathBuf,
    },
    /// Another process holds the writer lock.
    #[error("the store is locked by another writer ({path}); wait for it to finish (a lock left by a killed process is released by the kernel)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The commit a reader was asked to open is not in the store (never made, or removed
    /// by `gc` after a later one).
    #[error(
        "{path}: no such commit in the store (gc removes older commits); open the newest instead"
    )]
    NoCommit {
        /// The commit record's path.
        path: PathBuf,
    },
    /// The operation needs write access, and the store was opened read-only.
    #[error("the store was opened read-only")]
    ReadOnly,
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A pack cannot be read or written.
    #[error(transparent)]
    Pack(#[from] pack_io::Error),
    /// An index cannot be read or written.
    #[error("index {path}: {source}; run `sequoia rebuild-index` to recreate it from the packs")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        source: pack_index::Error,
    },
    /// An entry's content contradicts its index (the hash stored in the pack differs).
    #[error("{0}")]
    Corrupt(String),
    /// A sequence handed to `put` is not valid.
    #[error("invalid sequence: {0}")]
    InvalidSequence(String),
    /// An index row points to a pack that is missing or unreadable.
    #[error("sequence {hash} is in pack {pack}, which cannot be read: {reason}")]
    PackUnavailable {
        /// The sequence looked up.
        hash: SequenceHash,
        /// The pack id.
        pack: u32,
        /// Why the pack is unavailable.
        reason: String,
    },
    /// The store has damaged index files; writing would build on them.
    #[error("the store needs repair before it can be written: {0}; run `sequoia rebuild-index`")]
    NeedsRepair(String),
    /// The operation needs every write of this session committed first.
    #[error("{0}: this session has uncommitted writes; commit them first")]
    Uncommitted(&'static str),
    /// A repack was refused or found the store inconsistent; nothing was changed.
    #[error("repack: {0}")]
    Repack(String),
    /// A write failed earlier in this session; nothing more is accepted until it is dropped.
    #[error("an earlier write failed, so this session accepts no more writes (nothing of it was committed): {0}")]
    Poisoned(String),
}
