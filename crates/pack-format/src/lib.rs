//! Byte-level codecs of SEQUOIA pack files, v1, v2 and v3, over byte slices and writers: no
//! files, no threads.
//!
//! A pack holds entries; an entry holds one sequence's residues and representations
//! (its source records), or more representations of a sequence stored earlier.
//!
//! ```text
//! v1: zstd( "PKSQ" 01 id | entry* | count )          whole file one frame
//! v2: "PKSQ" 02 id pad | frame* | block table | entry table | trailer "SQPKEND2"
//! v3: "PKSQ" 03 id pad | residue frame* | header frame* | block table | sources
//!     | groups | lengths | trailer "SQPKEND3"      (no hashes: the key is re-hashed)
//! entry: [u32 header length][msgpack {hash, sequence_length, representations_length}]
//!        [msgpack bin residues][msgpack [[header, source]...]]
//!        (hash: the whole SHA-256, or its first 4 bytes in a v2 pack with hash tags,
//!        whose footer holds the whole one)
//! ```
//!
//! # Examples
//! ```
//! use pack_format::{detect, PackVersion, v2, Representation, SequenceHash};
//! let mut enc = v2::V2PackEncoder::new(Vec::new(), 0, 3, v2::DEFAULT_BLOCK_SIZE).unwrap();
//! enc.push(&SequenceHash::of_residues(b"MKV"), b"MKV", &[Representation::new("x", "y")]).unwrap();
//! let (file, _) = enc.finish().unwrap();
//! assert_eq!(detect(&file).unwrap(), PackVersion::V2);
//! ```
#![warn(missing_docs)]

pub mod entry;
mod error;
mod hash;
mod location;
mod msgpack;
mod order;
pub mod v1;
pub mod v2;
pub mod v3;

pub use entry::{EntryRef, Representation};
pub use error::Error;
pub use hash::{
    from_hex, to_hex, ParseHashError, PassThroughHasher, SequenceHash, SequenceHashBuilder,
};
pub use location::{PackId, PackLocation};
pub use order::similarity_key;

/// Asks the CPU to start loading `bytes` into its caches (a hint for reads soon after;
/// nothing on targets without a prefetch instruction).
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: SSE is part of x86_64's baseline, and a prefetch never faults nor
        // changes memory (the address is inside `bytes` anyway).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// The four bytes that open every pack (inside the compressed stream for v1).
pub const MAGIC: &[u8; 4] = b"PKSQ";

/// Zstandard's frame magic, which opens a v1 pack file.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The layout of a pack file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackVersion {
    /// Whole-file Zstandard (the seed layout).
    V1,
    /// Independent blocks with a footer table.
    V2,
    /// Residue and header streams of independent blocks, a sequence table without hashes.
    V3,
}

impl PackVersion {
    /// Whether the pack lists its rows in a table of its own, so that an index names a
    /// row by number (entry rows) rather than by place (v1: location rows).
    pub fn has_row_table(self) -> bool {
        matches!(self, PackVersion::V2 | PackVersion::V3)
    }
}

/// Tells a pack's layout from its first bytes.
pub fn detect(bytes: &[u8]) -> Result<PackVersion, Error> {
    if bytes.len() < 5 {
        return Err(Error::Truncated {
            what: "pack header",
            offset: 0,
        });
    }
    if bytes[..4] == ZSTD_MAGIC {
        return Ok(PackVersion::V1);
    }
    if &bytes[..4] == MAGIC {
        return match bytes[4] {
            2 => Ok(PackVersion::V2),
            3 => Ok(PackVersion::V3),
            1 => Err(Error::NotAPack {
                message: "a v1 pack must be Zstandard-compressed as a whole; this one is not"
                    .into(),
            }),
            v => Err(Error::UnsupportedVersion { version: v }),
        };
    }
    Err(Error::NotAPack {
        message: format!("unknown leading bytes {:02x?}", &bytes[..4]),
    })
}
