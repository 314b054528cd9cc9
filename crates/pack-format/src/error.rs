//! The one error type of the codecs: what went wrong and at which byte offset.

/// A pack's bytes could not be decoded, or an encoder's writer failed.
///
/// Offsets are byte offsets in the decoded unit: the file for v2 packs and index files,
/// the decompressed stream for v1 packs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ends before `what` is complete.
    #[error("truncated: {what} runs past the end of the data (at byte {offset})")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Where it starts or where reading stopped.
        offset: u64,
    },
    /// The data does not start with a known pack header.
    #[error("not a SEQUOIA pack: {message}")]
    NotAPack {
        /// What was found instead.
        message: String,
    },
    /// The header names a version this code does not read.
    #[error("unsupported pack version {version} (this build reads versions 1, 2 and 3)")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// A structure holds values that cannot be right.
    #[error("corrupt data at byte {offset}: {message}")]
    Corrupt {
        /// Byte offset of the bad structure.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The row read is of another sequence whose key starts with the same bytes as the
    /// one looked up: an index that keeps key prefixes led there, and the reader should
    /// go on to the key's other rows (not damage: the prefixes agree).
    #[error(
        "the row at byte {offset} holds sequence {found}, which shares the first bytes of {wanted}"
    )]
    OtherSequence {
        /// Where the row's residues start in their block.
        offset: u64,
        /// The sequence the row holds (hex).
        found: String,
        /// The sequence looked up (hex).
        wanted: String,
    },
    /// A stored checksum does not match the bytes it covers.
    #[error("checksum mismatch in {what} at byte {offset}: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// The checksummed structure.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// The stored value.
        stored: u32,
        /// The value computed from the bytes.
        computed: u32,
    },
    /// Zstandard could not decode a frame (corrupt, truncated or failing its checksum).
    #[error("zstd frame at byte {offset} does not decode: {source}")]
    Decompress {
        /// Where the frame starts.
        offset: u64,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// A value does not fit the format (an entry over 4 GiB, a pack over its limits).
    #[error("cannot encode: {0}")]
    TooLarge(String),
    /// The writer an encoder writes to failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}
