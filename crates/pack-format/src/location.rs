//! Where an entry lives: pack, block, offset and length.

/// Identifier of a pack file (`packs/pack_NNNN.tal`).
pub type PackId = u32;

/// The place of one entry inside a pack.
///
/// In a v2 pack `block` is the index of the compressed block in the pack's block table
/// and `offset` is the entry's byte offset inside that block once decompressed. In a v1
/// pack there is one block (0): the whole decompressed file, and `offset` counts from
/// its first byte (the `PKSQ` magic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PackLocation {
    /// The pack holding the entry.
    pub pack: PackId,
    /// The block inside the pack.
    pub block: u32,
    /// Byte offset of the entry inside the decompressed block.
    pub offset: u32,
    /// Length of the entry in bytes, its length prefix included.
    pub length: u32,
}
