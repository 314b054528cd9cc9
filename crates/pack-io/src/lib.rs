//! Pack files on disk: [`PackReader`] maps a finished pack and reads entries from it
//! without decompressing more than the block that holds them (v2) or, for v1 packs, the
//! whole pack once; [`PackWriter`] is a thread fed through a channel that encodes,
//! compresses and writes packs, rotating them at a size limit.
//!
//! # Examples
//! ```
//! use pack_format::{PackVersion, Representation, SequenceHash};
//! use pack_io::{BlockCache, PackReader, PackWriter, PackWriterConfig, PutEntry};
//! let dir = tempfile::tempdir().unwrap();
//! let writer = PackWriter::spawn(PackWriterConfig::new(dir.path(), 0)).unwrap();
//! let residues = b"MKVLA".to_vec();
//! writer.put(vec![PutEntry {
//!     hash: SequenceHash::of_residues(&residues),
//!     residues,
//!     representations: vec![Representation::new("id1 a protein", "test")],
//! }]).unwrap();
//! let packs = writer.finish().unwrap();
//! let reader = PackReader::open(&packs[0].temp_path).unwrap();
//! let mut cache = BlockCache::default();
//! let row = &packs[0].entries().unwrap()[0];
//! let seq = reader.read_entry(&row.hash, &row.location, &mut cache, |e| e.sequence.to_vec()).unwrap();
//! assert_eq!(seq, b"MKVLA");
//! ```
#![warn(missing_docs)]

pub mod fs;
mod reader;
pub mod remote;
mod rows;
mod writer;

pub use reader::{BlockCache, PackReader};
pub use rows::PackIndexRows;
pub use writer::{
    FinishedPack, PackClosedHook, PackRows, PackWriter, PackWriterConfig, PutEntry,
    ADDITIONS_BLOCK_SIZE, DICTIONARY_BLOCK_SIZE,
};

use std::path::PathBuf;

use pack_format::PackId;

/// File name of a finished pack.
pub fn pack_file_name(id: PackId) -> String {
    format!("pack_{id:04}.tal")
}

/// File name of a pack being written.
pub fn pack_temp_name(id: PackId) -> String {
    format!("pack_{id:04}.tal.tmp")
}

/// The pack id in a file name made by [`pack_file_name`], if it is one.
pub fn parse_pack_file_name(name: &str) -> Option<PackId> {
    let digits = name.strip_prefix("pack_")?.strip_suffix(".tal")?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A pack file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system refused an operation on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file's bytes do not decode.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset.
        source: pack_format::Error,
    },
    /// The pack's header names another pack than its file name does.
    #[error("the pack calls itself pack {inner}; its file name says {named}")]
    WrongId {
        /// The id in the pack's header.
        inner: PackId,
        /// The id in its file name.
        named: PackId,
    },
    /// An earlier write or fsync failed; the writer accepts nothing more.
    #[error("the pack writer stopped after an earlier failure and accepts no more writes: {0}")]
    Poisoned(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_names_round_trip() {
        assert_eq!(pack_file_name(7), "pack_0007.tal");
        assert_eq!(parse_pack_file_name("pack_0007.tal"), Some(7));
        assert_eq!(parse_pack_file_name("pack_123456.tal"), Some(123456));
        assert_eq!(parse_pack_file_name("pack_0007.tal.tmp"), None);
        assert_eq!(parse_pack_file_name("pack_7.tal"), None);
        assert_eq!(parse_pack_file_name("pack_x007.tal"), None);
    }
}
