//! SEQUOIA's store: [`PackedSequenceStorage`] keeps every distinct biological sequence once,
//! keyed by the SHA-256 of its residues, with every source record of it, in pack files
//! (`pack-format`, `pack-io`) found through memory-mapped indexes (`pack-index`).
//!
//! ```text
//! ROOT/LOCK  ROOT/packs/pack_NNNN.tal  ROOT/indices/commit-NNNNNNNNNN (commit records)
//! ROOT/indices/layer-NNNNNNNNNN-TTTTTTTT.{rows,md5,sha512t24u,accession}.idx (index layers)
//! ROOT/indices/pack_NNNN.idx  (v1 packs only: a v2 pack's footer is its own index)
//! ```
//!
//! Guarantees: a commit is durable when it returns (files fsynced, renamed into place,
//! directories fsynced); a crash at any moment leaves a store that opens without repair;
//! nothing is rewritten in place, and nothing is deleted but by `gc`; a second writer gets [`StoreError::Locked`].
//!
//! # Examples
//! ```
//! use sequoia_store::{import_fasta, PackedSequenceStorage, StoreOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
//! let fasta = b">sp|P69905|HBA_HUMAN Hemoglobin\nMVLSPADKTNVKAAW\n".to_vec();
//! let input = Box::new(std::io::Cursor::new(fasta));
//! let summary = import_fasta(&store, input, "hba.fa", "uniprot", &mut |_, _| {}).unwrap();
//! store.commit().unwrap();
//! assert_eq!(summary.new_sequences, 1);
//! assert_eq!(store.stats().unwrap().sequences, 1);
//! ```
#![warn(missing_docs)]

mod alias;
mod alphabet;
pub mod commit_record;
mod error;
mod export;
pub mod fasta;
mod gc;
mod ids;
mod import;
mod layer;
pub mod layout;
mod lock;
mod pool;
pub mod query;
mod rebuild;
mod repack;
mod report;
mod snapshot;
mod store;
mod verify;

pub use alphabet::normalize_residues;
pub use error::StoreError;
pub use gc::GcSummary;
pub use ids::{accessions, header_answers_to, IdQuery, SequenceDigests, SequenceId};
pub use import::{import_fasta, ImportError, ImportSummary};
pub use lock::WriterLock;
pub use pool::ordered_parallel;
pub use rebuild::RebuildSummary;
pub use repack::{RepackOrder, RepackSummary, ORDER_WINDOW};
pub use report::{OpenProblem, Problem};
pub use store::{
    CommitSummary, CompactSummary, FoundSequence, PackedSequenceStorage, PutOutcome, StoreOptions,
    StoreStats, StoredSequence, ADDITIONS_LIMIT, RUN_SEQUENCES,
};
pub use verify::VerifyReport;

pub use pack_format::{PackVersion, Representation, SequenceHash};
pub use pack_index::IndexKind;
