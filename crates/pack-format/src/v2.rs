//! The v2 pack layout: independently decodable, checksummed Zstandard blocks and a footer
//! from which the pack's index can be rebuilt without decompressing anything.
//!
//! ```text
//! header   16 bytes  "PKSQ" | version u8 = 2 | pack id u32 LE | 7 zero bytes
//! blocks   zstd frames (content size and XXH64 content checksum set), back to back;
//!          each frame holds whole entries (the entry codec of `entry`)
//! blocks   block_count × 20 bytes: offset u64 | compressed length u32
//!          | uncompressed length u32 | CRC-32 of the compressed bytes u32
//! entries  entry_count × 44 bytes, in write order: hash [32] | block u32
//!          | offset in block u32 | entry length u32
//! trailer  64 bytes (see `Trailer`), ending in "SQPKEND2"
//! ```
//! All integers little-endian. See `docs/format.md` for the reasons.

use std::io::Write;

use crate::entry::{self, EntryRef};
use crate::error::Error;
use crate::hash::SequenceHash;
use crate::{PackId, Representation, MAGIC};

/// Bytes of the v2 pack header.
pub const HEADER_LEN: usize = 16;
/// Bytes of one block-table row.
pub const BLOCK_ROW_LEN: usize = 20;
/// Bytes of one entry-table row.
pub const ENTRY_ROW_LEN: usize = 44;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 64;
/// Last 8 bytes of every v2 pack.
pub const TRAILER_MAGIC: &[u8; 8] = b"SQPKEND2";
/// Default uncompressed size at which a block is closed (see `docs/format.md`).
pub const DEFAULT_BLOCK_SIZE: usize = 8 * 1024;

/// One row of the block table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// File offset of the zstd frame.
    pub offset: u64,
    /// Length of the frame in the file.
    pub compressed_len: u32,
    /// Length of the decompressed block.
    pub uncompressed_len: u32,
    /// CRC-32 (IEEE) of the frame's bytes.
    pub crc32: u32,
}

/// One row of the entry table: an entry's hash and place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// The entry's sequence hash.
    pub hash: SequenceHash,
    /// Block index.
    pub block: u32,
    /// Offset inside the decompressed block.
    pub offset: u32,
    /// Entry length.
    pub length: u32,
}

/// Counts a pack carries in its trailer (and its index repeats), so that statistics never
/// need to decompress anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PackCounts {
    /// Entries that carry residues: distinct sequences first stored in this pack.
    pub sequences: u32,
    /// Representations over all entries.
    pub representations: u32,
    /// Residue bytes over all entries.
    pub residue_bytes: u64,
    /// Encoded entry bytes before compression.
    pub uncompressed_bytes: u64,
}

impl PackCounts {
    /// Adds an entry's figures.
    pub fn add_entry(&mut self, residues: usize, representations: usize, entry_len: usize) {
        if residues > 0 {
            self.sequences += 1;
        }
        self.representations += representations as u32;
        self.residue_bytes += residues as u64;
        self.uncompressed_bytes += entry_len as u64;
    }
}

/// The fixed 64 bytes at the end of a v2 pack.
///
/// ```text
/// 0  footer offset u64     8  block count u32       12 entry count u32
/// 16 sequences u32         20 representations u32   24 residue bytes u64
/// 32 uncompressed bytes u64                         40 zero u64
/// 48 pack id u32           52 CRC-32 of block table, entry table and trailer bytes 0..52
/// 56 "SQPKEND2"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Offset of the block table.
    pub footer_offset: u64,
    /// Rows of the block table.
    pub block_count: u32,
    /// Rows of the entry table.
    pub entry_count: u32,
    /// Sequence, representation and byte counts.
    pub counts: PackCounts,
    /// The pack id, repeated from the header.
    pub pack_id: PackId,
    /// Stored footer checksum.
    pub crc32: u32,
}

/// Writes a v2 pack to any `Write`, one block at a time.
///
/// # Examples
/// ```
/// use pack_format::{v2, Representation, SequenceHash};
/// let mut enc = v2::V2PackEncoder::new(Vec::new(), 1, 3, v2::DEFAULT_BLOCK_SIZE).unwrap();
/// let h = SequenceHash::of_residues(b"MKV");
/// let (block, offset, len) = enc.push(&h, b"MKV", &[Representation::new("id", "src")]).unwrap();
/// let (file, _trailer) = enc.finish().unwrap();
/// let pack = v2::V2Pack::parse(&file[..]).unwrap();
/// let mut dec = v2::BlockDecoder::new();
/// let mut buf = Vec::new();
/// pack.read_block(block, &mut dec, &mut buf).unwrap();
/// let e = v2::entry_in_block(&buf, offset, len).unwrap();
/// assert_eq!(e.sequence, b"MKV");
/// ```
pub struct V2PackEncoder<W: Write> {
    out: W,
    pack_id: PackId,
    written: u64,
    block: Vec<u8>,
    block_size: usize,
    compressed: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    blocks: Vec<BlockInfo>,
    entries: Vec<EntryInfo>,
    counts: PackCounts,
}

impl<W: Write> V2PackEncoder<W> {
    /// Writes the header and starts the first block.
    pub fn new(mut out: W, pack_id: PackId, level: i32, block_size: usize) -> Result<Self, Error> {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = 2;
        header[5..9].copy_from_slice(&pack_id.to_le_bytes());
        out.write_all(&header)?;
        let mut compressor = zstd::bulk::Compressor::new(level)?;
        compressor.include_checksum(true)?;
        compressor.include_contentsize(true)?;
        Ok(V2PackEncoder {
            out,
            pack_id,
            written: HEADER_LEN as u64,
            block: Vec::with_capacity(block_size + 4096),
            block_size: block_size.max(1),
            compressed: Vec::new(),
            compressor,
            blocks: Vec::new(),
            entries: Vec::new(),
            counts: PackCounts::default(),
        })
    }

    /// Appends an entry; returns its block, offset in the block and length.
    pub fn push(
        &mut self,
        hash: &SequenceHash,
        residues: &[u8],
        representations: &[Representation],
    ) -> Result<(u32, u32, u32), Error> {
        let offset = self.block.len();
        let len = entry::encode(&mut self.block, hash, residues, representations)?;
        if self.block.len() > u32::MAX as usize {
            self.block.truncate(offset);
            return Err(Error::TooLarge("a block over 4 GiB".into()));
        }
        let block = u32::try_from(self.blocks.len())
            .map_err(|_| Error::TooLarge("more than 2^32 blocks".into()))?;
        if self.entries.len() >= u32::MAX as usize {
            return Err(Error::TooLarge("more than 2^32 entries in a pack".into()));
        }
        self.entries.push(EntryInfo {
            hash: *hash,
            block,
            offset: offset as u32,
            length: len as u32,
        });
        self.counts
            .add_entry(residues.len(), representations.len(), len);
        if self.block.len() >= self.block_size {
            self.flush_block()?;
        }
        Ok((block, offset as u32, len as u32))
    }

    /// Bytes written to the output so far plus the open block's uncompressed bytes: an
    /// upper bound of the pack's size if it were finished now, less the footer.
    pub fn size_estimate(&self) -> u64 {
        self.written + self.block.len() as u64 + (self.entries.len() * ENTRY_ROW_LEN) as u64
    }

    /// Entries pushed so far.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    fn flush_block(&mut self) -> Result<(), Error> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.compressed.clear();
        self.compressed
            .reserve(zstd::zstd_safe::compress_bound(self.block.len()));
        self.compressor
            .compress_to_buffer(&self.block, &mut self.compressed)?;
        let compressed_len = u32::try_from(self.compressed.len())
            .map_err(|_| Error::TooLarge("a compressed block over 4 GiB".into()))?;
        self.out.write_all(&self.compressed)?;
        self.blocks.push(BlockInfo {
            offset: self.written,
            compressed_len,
            uncompressed_len: self.block.len() as u32,
            crc32: crc32fast::hash(&self.compressed),
        });
        self.written += self.compressed.len() as u64;
        self.block.clear();
        Ok(())
    }

    /// Closes the last block, writes the footer and returns the writer and the trailer.
    pub fn finish(mut self) -> Result<(W, Trailer), Error> {
        self.flush_block()?;
        let mut footer = Vec::with_capacity(
            self.blocks.len() * BLOCK_ROW_LEN + self.entries.len() * ENTRY_ROW_LEN + TRAILER_LEN,
        );
        for b in &self.blocks {
            footer.extend_from_slice(&b.offset.to_le_bytes());
            footer.extend_from_slice(&b.compressed_len.to_le_bytes());
            footer.extend_from_slice(&b.uncompressed_len.to_le_bytes());
            footer.extend_from_slice(&b.crc32.to_le_bytes());
        }
        for e in &self.entries {
            footer.extend_from_slice(e.hash.as_bytes());
            footer.extend_from_slice(&e.block.to_le_bytes());
            footer.extend_from_slice(&e.offset.to_le_bytes());
            footer.extend_from_slice(&e.length.to_le_bytes());
        }
        let mut trailer = Trailer {
            footer_offset: self.written,
            block_count: self.blocks.len() as u32,
            entry_count: self.entries.len() as u32,
            counts: self.counts,
            pack_id: self.pack_id,
            crc32: 0,
        };
        let at = footer.len();
        encode_trailer(&trailer, &mut footer);
        trailer.crc32 = crc32fast::hash(&footer[..at + 52]);
        footer[at + 52..at + 56].copy_from_slice(&trailer.crc32.to_le_bytes());
        self.out.write_all(&footer)?;
        Ok((self.out, trailer))
    }
}

fn encode_trailer(t: &Trailer, out: &mut Vec<u8>) {
    out.extend_from_slice(&t.footer_offset.to_le_bytes());
    out.extend_from_slice(&t.block_count.to_le_bytes());
    out.extend_from_slice(&t.entry_count.to_le_bytes());
    out.extend_from_slice(&t.counts.sequences.to_le_bytes());
    out.extend_from_slice(&t.counts.representations.to_le_bytes());
    out.extend_from_slice(&t.counts.residue_bytes.to_le_bytes());
    out.extend_from_slice(&t.counts.uncompressed_bytes.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&t.pack_id.to_le_bytes());
    out.extend_from_slice(&t.crc32.to_le_bytes());
    out.extend_from_slice(TRAILER_MAGIC);
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("caller checked 4 bytes"))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("caller checked 8 bytes"))
}

/// A reusable Zstandard decompression context.
pub struct BlockDecoder {
    inner: zstd::bulk::Decompressor<'static>,
}

impl BlockDecoder {
    /// A fresh context.
    pub fn new() -> Self {
        BlockDecoder {
            inner: zstd::bulk::Decompressor::new()
                .expect("creating a zstd context only fails when out of memory"),
        }
    }
}

impl Default for BlockDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// A v2 pack over its bytes (a memory map in production, a `Vec` in tests): the header
/// and trailer are checked on [`V2Pack::parse`], everything else on access or in
/// [`V2Pack::verify_footer`].
#[derive(Debug, Clone, Copy)]
pub struct V2Pack<'a> {
    bytes: &'a [u8],
    pack_id: PackId,
    trailer: Trailer,
}

impl<'a> V2Pack<'a> {
    /// Checks magic, version, trailer magic and that the tables fit the file.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated {
                what: "v2 pack header",
                offset: 0,
            });
        }
        if &bytes[..4] != MAGIC {
            return Err(Error::NotAPack {
                message: "file does not start with PKSQ".into(),
            });
        }
        if bytes[4] != 2 {
            return Err(Error::UnsupportedVersion { version: bytes[4] });
        }
        if bytes[9..HEADER_LEN].iter().any(|&b| b != 0) {
            return Err(Error::Corrupt {
                offset: 9,
                message: "reserved header bytes are not zero".into(),
            });
        }
        let pack_id = le_u32(bytes, 5);
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::Truncated {
                what: "v2 pack trailer",
                offset: bytes.len() as u64,
            });
        }
        let t = &bytes[bytes.len() - TRAILER_LEN..];
        let trailer_at = (bytes.len() - TRAILER_LEN) as u64;
        if &t[56..64] != TRAILER_MAGIC {
            return Err(Error::Corrupt {
                offset: trailer_at + 56,
                message:
                    "trailer magic SQPKEND2 missing: the pack is truncated or was never finished"
                        .into(),
            });
        }
        let trailer = Trailer {
            footer_offset: le_u64(t, 0),
            block_count: le_u32(t, 8),
            entry_count: le_u32(t, 12),
            counts: PackCounts {
                sequences: le_u32(t, 16),
                representations: le_u32(t, 20),
                residue_bytes: le_u64(t, 24),
                uncompressed_bytes: le_u64(t, 32),
            },
            pack_id: le_u32(t, 48),
            crc32: le_u32(t, 52),
        };
        let tables = trailer.block_count as u64 * BLOCK_ROW_LEN as u64
            + trailer.entry_count as u64 * ENTRY_ROW_LEN as u64;
        if trailer.footer_offset < HEADER_LEN as u64
            || trailer.footer_offset.checked_add(tables) != Some(trailer_at)
        {
            return Err(Error::Corrupt {
                offset: trailer_at,
                message: format!(
                    "trailer places {} blocks and {} entries at byte {}, which does not fit a file of {} bytes",
                    trailer.block_count, trailer.entry_count, trailer.footer_offset, bytes.len()
                ),
            });
        }
        if trailer.pack_id != pack_id || le_u64(t, 40) != 0 {
            return Err(Error::Corrupt {
                offset: trailer_at + 40,
                message: format!(
                    "trailer names pack {} (reserved {}), the header pack {}",
                    trailer.pack_id,
                    le_u64(t, 40),
                    pack_id
                ),
            });
        }
        Ok(V2Pack {
            bytes,
            pack_id,
            trailer,
        })
    }

    /// The pack id of the header.
    pub fn pack_id(&self) -> PackId {
        self.pack_id
    }

    /// The trailer.
    pub fn trailer(&self) -> &Trailer {
        &self.trailer
    }

    /// Checks the footer's CRC-32 (block table, entry table, trailer).
    pub fn verify_footer(&self) -> Result<(), Error> {
        let start = self.trailer.footer_offset as usize;
        let end = self.bytes.len() - TRAILER_LEN + 52;
        let computed = crc32fast::hash(&self.bytes[start..end]);
        if computed != self.trailer.crc32 {
            return Err(Error::Checksum {
                what: "pack footer",
                offset: start as u64,
                stored: self.trailer.crc32,
                computed,
            });
        }
        Ok(())
    }

    /// Row `i` of the block table, checked to lie between header and footer.
    pub fn block_info(&self, i: u32) -> Result<BlockInfo, Error> {
        if i >= self.trailer.block_count {
            return Err(Error::Corrupt {
                offset: self.trailer.footer_offset,
                message: format!(
                    "block {i} requested, the pack has {}",
                    self.trailer.block_count
                ),
            });
        }
        let at = self.trailer.footer_offset as usize + i as usize * BLOCK_ROW_LEN;
        let b = &self.bytes[at..at + BLOCK_ROW_LEN];
        let info = BlockInfo {
            offset: le_u64(b, 0),
            compressed_len: le_u32(b, 8),
            uncompressed_len: le_u32(b, 12),
            crc32: le_u32(b, 16),
        };
        if info.offset < HEADER_LEN as u64
            || info.offset.saturating_add(info.compressed_len as u64) > self.trailer.footer_offset
        {
            return Err(Error::Corrupt {
                offset: at as u64,
                message: format!(
                    "block {i} spans bytes {}..+{} outside the block area",
                    info.offset, info.compressed_len
                ),
            });
        }
        Ok(info)
    }

    /// Row `i` of the entry table.
    pub fn entry_info(&self, i: u32) -> Result<EntryInfo, Error> {
        if i >= self.trailer.entry_count {
            return Err(Error::Corrupt {
                offset: self.trailer.footer_offset,
                message: format!(
                    "entry {i} requested, the pack has {}",
                    self.trailer.entry_count
                ),
            });
        }
        let at = self.trailer.footer_offset as usize
            + self.trailer.block_count as usize * BLOCK_ROW_LEN
            + i as usize * ENTRY_ROW_LEN;
        let r = &self.bytes[at..at + ENTRY_ROW_LEN];
        Ok(EntryInfo {
            hash: SequenceHash(r[..32].try_into().expect("row has 32 hash bytes")),
            block: le_u32(r, 32),
            offset: le_u32(r, 36),
            length: le_u32(r, 40),
        })
    }

    /// Checks block `i`'s CRC and decompresses it into `out` (cleared first).
    pub fn read_block(
        &self,
        i: u32,
        dec: &mut BlockDecoder,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let info = self.block_info(i)?;
        let frame = &self.bytes[info.offset as usize..][..info.compressed_len as usize];
        let computed = crc32fast::hash(frame);
        if computed != info.crc32 {
            return Err(Error::Checksum {
                what: "block",
                offset: info.offset,
                stored: info.crc32,
                computed,
            });
        }
        // The table row is not covered by the block CRC; the frame header is. Both must
        // agree before anything is allocated on their word.
        let declared = zstd::zstd_safe::get_frame_content_size(frame)
            .ok()
            .flatten();
        if declared != Some(info.uncompressed_len as u64) {
            return Err(Error::Corrupt {
                offset: info.offset,
                message: format!(
                    "block {i}: the frame declares {declared:?} bytes, the table {}",
                    info.uncompressed_len
                ),
            });
        }
        out.clear();
        out.reserve(info.uncompressed_len as usize);
        let n = dec
            .inner
            .decompress_to_buffer(frame, out)
            .map_err(|source| Error::Decompress {
                offset: info.offset,
                source,
            })?;
        if n != info.uncompressed_len as usize {
            return Err(Error::Corrupt {
                offset: info.offset,
                message: format!(
                    "block {i} decompresses to {n} bytes, the table says {}",
                    info.uncompressed_len
                ),
            });
        }
        Ok(())
    }
}

/// The entry at `offset` of a decompressed block, exactly `length` bytes long.
pub fn entry_in_block(block: &[u8], offset: u32, length: u32) -> Result<EntryRef<'_>, Error> {
    let bytes = (offset as usize)
        .checked_add(length as usize)
        .and_then(|end| block.get(offset as usize..end))
        .ok_or_else(|| Error::Corrupt {
            offset: offset as u64,
            message: format!(
                "entry of {length} bytes at {offset} lies outside its block of {} bytes",
                block.len()
            ),
        })?;
    let (e, used) = entry::decode(bytes, offset as u64)?;
    if used != length as usize {
        return Err(Error::Corrupt {
            offset: offset as u64,
            message: format!("entry is {used} bytes, its location says {length}"),
        });
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(seqs: &[(String, String)], block: usize) -> (Vec<u8>, Vec<(u32, u32, u32)>) {
        let mut enc = V2PackEncoder::new(Vec::new(), 42, 3, block).unwrap();
        let mut locs = Vec::new();
        for (s, h) in seqs {
            let hash = SequenceHash::of_residues(s.as_bytes());
            locs.push(
                enc.push(
                    &hash,
                    s.as_bytes(),
                    &[Representation::new(h.clone(), "src")],
                )
                .unwrap(),
            );
        }
        (enc.finish().unwrap().0, locs)
    }

    proptest! {
        #[test]
        fn v2_packs_round_trip(
            seqs in proptest::collection::vec(("[A-Z]{1,300}", ".{0,40}"), 0..40),
            block in 1usize..4000,
        ) {
            let (file, locs) = build(&seqs, block);
            let pack = V2Pack::parse(&file).unwrap();
            pack.verify_footer().unwrap();
            prop_assert_eq!(pack.trailer().entry_count as usize, seqs.len());
            let mut dec = BlockDecoder::new();
            let mut buf = Vec::new();
            for (i, ((s, h), (b, o, l))) in seqs.iter().zip(&locs).enumerate() {
                let row = pack.entry_info(i as u32).unwrap();
                prop_assert_eq!((row.block, row.offset, row.length), (*b, *o, *l));
                pack.read_block(*b, &mut dec, &mut buf).unwrap();
                let e = entry_in_block(&buf, *o, *l).unwrap();
                prop_assert_eq!(e.sequence, s.as_bytes());
                prop_assert_eq!(e.hash, row.hash);
                prop_assert_eq!(&e.representations().unwrap()[0].header, h);
            }
        }

        #[test]
        fn v2_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            exercise(&bytes);
        }

        #[test]
        fn every_flipped_byte_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let seqs: Vec<(String, String)> = (0..20)
                .map(|i| (format!("MKV{}", "ACDEFGHIK".repeat(i % 7 + 1)), format!("seq{i}")))
                .collect();
            let (mut file, _) = build(&seqs, 200);
            let at = pos.index(file.len());
            file[at] ^= 1 << bit;
            prop_assert!(check_all(&file).is_err(), "flip at {} not detected", at);
        }
    }

    /// Parses, verifies the footer and reads every block and entry.
    fn check_all(file: &[u8]) -> Result<(), Error> {
        let pack = V2Pack::parse(file)?;
        pack.verify_footer()?;
        let mut dec = BlockDecoder::new();
        let mut buf = Vec::new();
        for i in 0..pack.trailer().entry_count {
            let row = pack.entry_info(i)?;
            pack.read_block(row.block, &mut dec, &mut buf)?;
            let e = entry_in_block(&buf, row.offset, row.length)?;
            if e.hash != row.hash || SequenceHash::of_residues(e.sequence) != e.hash {
                return Err(Error::Corrupt {
                    offset: 0,
                    message: "hash".into(),
                });
            }
        }
        Ok(())
    }

    fn exercise(bytes: &[u8]) {
        let _ = check_all(bytes);
        if let Ok(p) = V2Pack::parse(bytes) {
            let mut dec = BlockDecoder::new();
            let mut buf = Vec::new();
            for i in 0..p.trailer().block_count.min(8) {
                let _ = p.read_block(i, &mut dec, &mut buf);
            }
        }
    }

    #[test]
    fn a_block_table_claiming_a_huge_block_is_refused_before_allocating() {
        // Found by the pack_v2 fuzzer: an uncompressed length raised in the table (which
        // the block CRC does not cover) made read_block reserve gigabytes.
        let seqs: Vec<(String, String)> = (0..3)
            .map(|i| ("MKVL".repeat(i + 1), format!("s{i}")))
            .collect();
        let (mut file, _) = build(&seqs, 64);
        let pack = V2Pack::parse(&file).unwrap();
        let row = pack.trailer().footer_offset as usize;
        file[row + 12..row + 16].copy_from_slice(&0xc900_0000u32.to_le_bytes());
        let pack = V2Pack::parse(&file).unwrap();
        let err = pack
            .read_block(0, &mut BlockDecoder::new(), &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("declares"), "{err}");
    }

    #[test]
    fn fuzzer_regressions_decode_without_panicking() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/pack_v2");
        let mut n = 0;
        for item in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(item.unwrap().path()).unwrap();
            exercise(&bytes);
            n += 1;
        }
        assert!(n > 0, "the regression inputs are committed");
    }

    #[test]
    fn truncations_are_detected() {
        let seqs: Vec<(String, String)> = (0..10)
            .map(|i| ("MKVL".repeat(i + 1), format!("s{i}")))
            .collect();
        let (file, _) = build(&seqs, 64);
        for cut in 0..file.len() {
            assert!(
                V2Pack::parse(&file[..cut]).is_err(),
                "truncation at {cut} accepted"
            );
        }
    }
}
