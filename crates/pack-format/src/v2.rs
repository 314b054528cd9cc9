//! The v2 pack layout: independently decodable, checksummed Zstandard blocks and a footer
//! from which the pack's index can be rebuilt without decompressing anything.
//!
//! ```text
//! header   16 bytes  "PKSQ" | version u8 = 2 | pack id u32 LE | flags u8 | 6 zero bytes
//! dict     (flag bit 0 only) a Zstandard dictionary trained on the pack's entries
//! blocks   zstd frames (content size set; no content checksum, no dictionary id), back to back;
//!          each frame holds whole entries (the entry codec of `entry`; with flag bit 1
//!          their hash field is a 4-byte tag), compressed with the dictionary if any
//! blocks   block_count × 20 bytes: offset u64 | compressed length u32
//!          | uncompressed length u32 | CRC-32 of the compressed bytes u32
//! entries  entry_count × 44 bytes, in write order: hash [32] | block u32
//!          | offset in block u32 | entry length u32
//! trailer  64 bytes (see `Trailer`), ending in "SQPKEND2"
//! ```
//! All integers little-endian. See `docs/format.md` for the reasons.

use std::io::Write;

use crate::entry::{self, EntryRef, HashField};
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
/// Zstandard level of a v2 pack of protein (or other non-nucleotide) sequences unless asked
/// otherwise. With a pack dictionary and 2 KiB blocks, level 1 compresses 1.7 times as fast
/// as level 3 for 1% more pack bytes on protein, and its blocks decode a little faster
/// (docs/format.md, "Why level 1").
pub const DEFAULT_LEVEL: i32 = 1;
/// Zstandard level of a v2 pack of nucleotide sequences unless asked otherwise: their
/// repeats reward level 3's search (19% fewer pack bytes than level 1 on the nucleotide
/// fixture, in the same time).
pub const NUCLEOTIDE_LEVEL: i32 = 3;

/// The level a v2 pack gets unless asked otherwise, from residues of its entries:
/// [`NUCLEOTIDE_LEVEL`] when at least 90% of them are `A`, `C`, `G`, `T`, `U` or `N`
/// (upper case, as stored), else [`DEFAULT_LEVEL`] (also when there are none).
///
/// ```
/// use pack_format::v2::{default_level, DEFAULT_LEVEL, NUCLEOTIDE_LEVEL};
/// assert_eq!(default_level([&b"ACGTTGCAN"[..]]), NUCLEOTIDE_LEVEL);
/// assert_eq!(default_level([&b"MKVLAAGIT"[..]]), DEFAULT_LEVEL);
/// assert_eq!(default_level(std::iter::empty::<&[u8]>()), DEFAULT_LEVEL);
/// ```
pub fn default_level<'a>(residues: impl IntoIterator<Item = &'a [u8]>) -> i32 {
    let (mut nucleotide, mut all) = (0u64, 0u64);
    for r in residues {
        all += r.len() as u64;
        nucleotide += r
            .iter()
            .filter(|b| matches!(b, b'A' | b'C' | b'G' | b'T' | b'U' | b'N'))
            .count() as u64;
    }
    if all > 0 && nucleotide * 10 >= all * 9 {
        NUCLEOTIDE_LEVEL
    } else {
        DEFAULT_LEVEL
    }
}
/// Header flag bit 0: the pack has a dictionary that every block is compressed with.
pub const FLAG_DICTIONARY: u8 = 1;
/// Header flag bit 1: entries inside blocks carry a [`entry::TAG_LEN`]-byte tag of their
/// hash ([`HashField::Tag`]); the entry table holds the whole hash.
pub const FLAG_HASH_TAGS: u8 = 2;
/// Largest dictionary the writer trains.
pub const MAX_DICTIONARY: usize = 64 * 1024;

/// Segment size (`k`) of the dictionary trainer. zstd's default trainer tries four
/// sizes, each learnt from three quarters of the samples and scored by compressing the
/// rest; on protein entries it picks 1024 for most packs. Training once at that size on all
/// samples takes about a third of the time (0.37-0.44 s -> 0.14-0.19 s per pack on the
/// machine of run Q) and gives slightly smaller packs (docs/format.md, "Dictionary").
const TRAINING_SEGMENT: u32 = 1024;

/// Trains a dictionary on encoded entries (zstd's fast cover trainer, segments of
/// `TRAINING_SEGMENT` bytes, 8-byte d-mers); `None` when there is too little to learn
/// from.
pub fn train_dictionary(samples: &[Vec<u8>]) -> Option<Vec<u8>> {
    let total: usize = samples.iter().map(Vec::len).sum();
    if samples.len() < 128 || total < 32 * 1024 {
        return None;
    }
    use zstd::zstd_safe::zstd_sys as sys;
    let size = (total / 8).clamp(4 * 1024, MAX_DICTIONARY);
    let flat = samples.concat();
    let sizes: Vec<usize> = samples.iter().map(Vec::len).collect();
    let mut dict = vec![0u8; size];
    let params = sys::ZDICT_fastCover_params_t {
        k: TRAINING_SEGMENT,
        d: 8,
        f: 20,
        steps: 0,
        nbThreads: 1,
        // Every sample is learnt from (no part held back to score candidates).
        splitPoint: 1.0,
        accel: 1,
        shrinkDict: 0,
        shrinkDictMaxRegression: 0,
        zParams: sys::ZDICT_params_t {
            // The entropy tables stored in the dictionary are measured at zstd's default.
            compressionLevel: 3,
            notificationLevel: 0,
            // 0: an id derived from the dictionary's content (packs stay reproducible).
            dictID: 0,
        },
    };
    // SAFETY: `dict` is writable for `size` bytes, `flat` holds exactly the bytes that
    // `sizes` (one length per sample, `samples.len()` of them) describes, and zstd reads
    // nothing else; it returns the dictionary's length or an error code.
    let n = unsafe {
        sys::ZDICT_trainFromBuffer_fastCover(
            dict.as_mut_ptr().cast(),
            size,
            flat.as_ptr().cast(),
            sizes.as_ptr(),
            u32::try_from(samples.len()).ok()?,
            params,
        )
    };
    // SAFETY: only inspects the code.
    if unsafe { sys::ZDICT_isError(n) } != 0 || n == 0 {
        return None;
    }
    dict.truncate(n);
    Some(dict)
}

/// A pack's dictionary, prepared for decompression (build once per pack, share).
pub struct PackDictionary {
    ddict: zstd::zstd_safe::DDict<'static>,
}

impl std::fmt::Debug for PackDictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PackDictionary")
    }
}

impl PackDictionary {
    /// The dictionary of `pack`, checked against its CRC; `None` for a pack without one.
    pub fn of(pack: &V2Pack<'_>) -> Result<Option<PackDictionary>, Error> {
        let Some(bytes) = pack.dictionary() else {
            return Ok(None);
        };
        check_crc32(
            "dictionary",
            HEADER_LEN as u64,
            bytes,
            pack.trailer.dictionary_crc32,
        )?;
        let ddict = zstd::zstd_safe::DDict::try_create(bytes).ok_or_else(|| Error::Corrupt {
            offset: HEADER_LEN as u64,
            message: "the dictionary is not a valid Zstandard dictionary".into(),
        })?;
        Ok(Some(PackDictionary { ddict }))
    }
}

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
/// 32 uncompressed bytes u64                         40 dictionary length u32
/// 44 dictionary CRC-32 u32
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
    /// Length of the dictionary after the header (0: none).
    pub dictionary_len: u32,
    /// CRC-32 of the dictionary.
    pub dictionary_crc32: u32,
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
/// pack.read_block(block, &mut dec, None, &mut buf).unwrap();
/// let e = v2::entry_in_block(&buf, offset, len, pack.hash_field(), &h).unwrap();
/// assert_eq!(e.sequence, b"MKV");
/// ```
pub struct V2PackEncoder<W: Write> {
    out: W,
    pack_id: PackId,
    written: u64,
    block: Vec<u8>,
    block_size: usize,
    /// Block size for blocks of addition entries (`block_size` unless set).
    additions_block_size: usize,
    /// Whether the open block holds an entry with residues.
    block_has_residues: bool,
    compressed: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    blocks: Vec<BlockInfo>,
    entries: Vec<EntryInfo>,
    counts: PackCounts,
    dictionary_len: u32,
    dictionary_crc32: u32,
    hash_field: HashField,
}

impl<W: Write> V2PackEncoder<W> {
    /// Writes the header and `dictionary`; blocks (closed at `block_size` bytes, 1 for one
    /// entry per block) are compressed with the dictionary. Entries carry hash tags.
    pub fn with_dictionary(
        out: W,
        pack_id: PackId,
        level: i32,
        block_size: usize,
        dictionary: &[u8],
    ) -> Result<Self, Error> {
        if dictionary.is_empty() || u32::try_from(dictionary.len()).is_err() {
            return Err(Error::TooLarge(
                "a dictionary must hold 1 byte to 4 GiB".into(),
            ));
        }
        Self::with_options(out, pack_id, level, block_size, dictionary, HashField::Tag)
    }

    /// Writes the header and starts the first block (no dictionary). Entries carry hash
    /// tags.
    pub fn new(out: W, pack_id: PackId, level: i32, block_size: usize) -> Result<Self, Error> {
        Self::with_options(out, pack_id, level, block_size, &[], HashField::Tag)
    }

    /// Writes the header and `dictionary` (empty: none), with entries whose hash field
    /// is `hash_field` ([`HashField::Full`] writes packs as versions before the tag flag
    /// did; [`new`](Self::new) and [`with_dictionary`](Self::with_dictionary) write tags).
    pub fn with_options(
        mut out: W,
        pack_id: PackId,
        level: i32,
        block_size: usize,
        dictionary: &[u8],
        hash_field: HashField,
    ) -> Result<Self, Error> {
        if u32::try_from(dictionary.len()).is_err() {
            return Err(Error::TooLarge("a dictionary over 4 GiB".into()));
        }
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = 2;
        header[5..9].copy_from_slice(&pack_id.to_le_bytes());
        if !dictionary.is_empty() {
            header[9] |= FLAG_DICTIONARY;
        }
        if hash_field == HashField::Tag {
            header[9] |= FLAG_HASH_TAGS;
        }
        out.write_all(&header)?;
        out.write_all(dictionary)?;
        let compressor = block_compressor(level, dictionary)?;
        Ok(V2PackEncoder {
            out,
            pack_id,
            written: (HEADER_LEN + dictionary.len()) as u64,
            block: Vec::with_capacity(block_size + 4096),
            block_size: block_size.max(1),
            additions_block_size: block_size.max(1),
            block_has_residues: false,
            compressed: Vec::new(),
            compressor,
            blocks: Vec::new(),
            entries: Vec::new(),
            counts: PackCounts::default(),
            dictionary_len: dictionary.len() as u32,
            dictionary_crc32: if dictionary.is_empty() {
                0
            } else {
                crc32fast::hash(dictionary)
            },
            hash_field,
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
        let len = entry::encode_as(
            &mut self.block,
            self.hash_field,
            hash,
            residues,
            representations,
        )?;
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
        self.block_has_residues |= !residues.is_empty();
        let limit = if self.block_has_residues {
            self.block_size
        } else {
            self.additions_block_size
        };
        if self.block.len() >= limit {
            self.flush_block()?;
        }
        Ok((block, offset as u32, len as u32))
    }

    /// Closes blocks that hold only addition entries at `size` bytes instead
    /// of the block size: such an entry is read alone (`get` of all representations),
    /// and a smaller block decompresses faster.
    pub fn set_additions_block_size(&mut self, size: usize) {
        self.additions_block_size = size.max(1);
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
        let info = compress_block(
            &mut self.compressor,
            &self.block,
            self.written,
            &mut self.compressed,
        )?;
        self.out.write_all(&self.compressed)?;
        self.blocks.push(info);
        self.written += self.compressed.len() as u64;
        self.block.clear();
        self.block_has_residues = false;
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
            dictionary_len: self.dictionary_len,
            dictionary_crc32: self.dictionary_crc32,
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
    out.extend_from_slice(&t.dictionary_len.to_le_bytes());
    out.extend_from_slice(&t.dictionary_crc32.to_le_bytes());
    out.extend_from_slice(&t.pack_id.to_le_bytes());
    out.extend_from_slice(&t.crc32.to_le_bytes());
    out.extend_from_slice(TRAILER_MAGIC);
}

/// The CRC-32 of `bytes` must be `stored`.
pub(crate) fn check_crc32(
    what: &'static str,
    offset: u64,
    bytes: &[u8],
    stored: u32,
) -> Result<(), Error> {
    let computed = crc32fast::hash(bytes);
    if computed == stored {
        Ok(())
    } else {
        Err(Error::Checksum {
            what,
            offset,
            stored,
            computed,
        })
    }
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("caller checked 4 bytes"))
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("caller checked 8 bytes"))
}

/// A reusable Zstandard decompression context.
pub struct BlockDecoder {
    pub(crate) inner: zstd::zstd_safe::DCtx<'static>,
    /// A coded block before it is decoded (v3 residue blocks of coded packs).
    pub(crate) scratch: Vec<u8>,
}

impl BlockDecoder {
    /// A fresh context.
    pub fn new() -> Self {
        BlockDecoder {
            inner: zstd::zstd_safe::DCtx::create(),
            scratch: Vec::new(),
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
        if bytes[9] & !(FLAG_DICTIONARY | FLAG_HASH_TAGS) != 0
            || bytes[10..HEADER_LEN].iter().any(|&b| b != 0)
        {
            return Err(Error::Corrupt {
                offset: 9,
                message: format!(
                    "header flags {:#04x} name features this build does not know (bit 0: \
                     dictionary, bit 1: hash tags), or reserved header bytes are not zero: \
                     damage, or a pack written by a newer SEQUOIA",
                    bytes[9]
                ),
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
            dictionary_len: le_u32(t, 40),
            dictionary_crc32: le_u32(t, 44),
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
        if trailer.pack_id != pack_id {
            return Err(Error::Corrupt {
                offset: trailer_at + 48,
                message: format!(
                    "trailer names pack {}, the header pack {}",
                    trailer.pack_id, pack_id
                ),
            });
        }
        let has_dictionary = bytes[9] & FLAG_DICTIONARY != 0;
        let dictionary_fits = (HEADER_LEN as u64)
            .checked_add(trailer.dictionary_len as u64)
            .is_some_and(|end| end <= trailer.footer_offset);
        if has_dictionary != (trailer.dictionary_len > 0)
            || (!has_dictionary && trailer.dictionary_crc32 != 0)
            || !dictionary_fits
        {
            return Err(Error::Corrupt {
                offset: trailer_at + 40,
                message: format!(
                    "header flags {:#04x} disagree with a {}-byte dictionary in the trailer",
                    bytes[9], trailer.dictionary_len
                ),
            });
        }
        Ok(V2Pack {
            bytes,
            pack_id,
            trailer,
        })
    }

    /// The pack [`parse`](Self::parse) gave for `bytes` before, from its pack id and
    /// trailer, without checking the header and trailer again (a reader that keeps an
    /// unchanged memory map checks them once, not on every read). `None` when the trailer
    /// does not place its tables at the end of `bytes`, so that every access stays in
    /// bounds whatever it is given.
    pub fn from_parsed(bytes: &'a [u8], pack_id: PackId, trailer: Trailer) -> Option<Self> {
        let tables = trailer.block_count as u64 * BLOCK_ROW_LEN as u64
            + trailer.entry_count as u64 * ENTRY_ROW_LEN as u64;
        let fits = bytes.len() >= HEADER_LEN + TRAILER_LEN
            && trailer.footer_offset >= HEADER_LEN as u64
            && trailer.footer_offset.checked_add(tables)
                == Some((bytes.len() - TRAILER_LEN) as u64)
            && HEADER_LEN as u64 + trailer.dictionary_len as u64 <= trailer.footer_offset;
        fits.then_some(V2Pack {
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

    /// What the hash field of the pack's entries holds (header flag bit 1).
    pub fn hash_field(&self) -> HashField {
        if self.bytes[9] & FLAG_HASH_TAGS != 0 {
            HashField::Tag
        } else {
            HashField::Full
        }
    }

    /// The dictionary bytes (not yet checked), if the pack has one.
    pub fn dictionary(&self) -> Option<&'a [u8]> {
        (self.trailer.dictionary_len > 0)
            .then(|| &self.bytes[HEADER_LEN..HEADER_LEN + self.trailer.dictionary_len as usize])
    }

    /// Checks the footer's CRC-32 (block table, entry table, trailer).
    pub fn verify_footer(&self) -> Result<(), Error> {
        let start = self.trailer.footer_offset as usize;
        let end = self.bytes.len() - TRAILER_LEN + 52;
        check_crc32(
            "pack footer",
            start as u64,
            &self.bytes[start..end],
            self.trailer.crc32,
        )?;
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
        let first = HEADER_LEN as u64 + self.trailer.dictionary_len as u64;
        block_row(self.bytes, at, i, first..self.trailer.footer_offset)
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

    /// Asks the CPU to start loading block `i`'s compressed bytes into its caches, so that
    /// a read of it soon after does not wait on memory (a hint: nothing is checked, an
    /// invalid `i` does nothing).
    pub fn prefetch_block(&self, i: u32) {
        if let Ok(info) = self.block_info(i) {
            prefetch_frame(self.bytes, &info);
        }
    }

    /// Checks block `i`'s CRC and decompresses it into `out` (cleared first). `dictionary`
    /// must be the pack's own ([`PackDictionary::of`]) when it has one.
    pub fn read_block(
        &self,
        i: u32,
        dec: &mut BlockDecoder,
        dictionary: Option<&PackDictionary>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let info = self.block_info(i)?;
        if dictionary.is_some() != (self.trailer.dictionary_len > 0) {
            return Err(Error::Corrupt {
                offset: info.offset,
                message: "block read without the pack's dictionary, or with one it does not have"
                    .into(),
            });
        }
        decode_block(self.bytes, i, &info, dec, dictionary, out)
    }
}

/// A compressor of blocks at `level`, with `dictionary` (empty: none): frames with their
/// content size and without checksum or dictionary id (a block's CRC-32 covers its bytes
/// and a pack has one dictionary: they would cost 8 bytes a block and an XXH64 a read).
pub(crate) fn block_compressor(
    level: i32,
    dictionary: &[u8],
) -> Result<zstd::bulk::Compressor<'static>, Error> {
    // An empty dictionary is no dictionary.
    let mut compressor = zstd::bulk::Compressor::with_dictionary(level, dictionary)?;
    compressor.include_checksum(false)?;
    compressor.include_dictid(false)?;
    compressor.include_contentsize(true)?;
    Ok(compressor)
}

/// Compresses `content` into `frame` (cleared first), a block whose frame will be at
/// file offset `offset`: its block table row.
pub(crate) fn compress_block(
    compressor: &mut zstd::bulk::Compressor<'static>,
    content: &[u8],
    offset: u64,
    frame: &mut Vec<u8>,
) -> Result<BlockInfo, Error> {
    frame.clear();
    frame.reserve(zstd::zstd_safe::compress_bound(content.len()));
    compressor.compress_to_buffer(content, frame)?;
    Ok(BlockInfo {
        offset,
        compressed_len: u32::try_from(frame.len())
            .map_err(|_| Error::TooLarge("a compressed block over 4 GiB".into()))?,
        uncompressed_len: u32::try_from(content.len())
            .map_err(|_| Error::TooLarge("a block over 4 GiB".into()))?,
        crc32: crc32fast::hash(frame),
    })
}

/// Row `i` of a block table, at byte `at` of `bytes`, checked to lie in `area` (the bytes
/// between a pack's header and its footer).
pub(crate) fn block_row(
    bytes: &[u8],
    at: usize,
    i: u32,
    area: std::ops::Range<u64>,
) -> Result<BlockInfo, Error> {
    let b = &bytes[at..at + BLOCK_ROW_LEN];
    let info = BlockInfo {
        offset: le_u64(b, 0),
        compressed_len: le_u32(b, 8),
        uncompressed_len: le_u32(b, 12),
        crc32: le_u32(b, 16),
    };
    if info.offset < area.start || info.offset.saturating_add(info.compressed_len as u64) > area.end
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

/// Asks the CPU to start loading the frame `info` places in `bytes` (a hint).
pub(crate) fn prefetch_frame(bytes: &[u8], info: &BlockInfo) {
    if let Some(frame) = bytes
        .get(info.offset as usize..)
        .and_then(|b| b.get(..info.compressed_len as usize))
    {
        crate::prefetch(frame);
    }
}

/// Checks block `i`'s frame (placed by `info`, a row [`block_row`] checked) against its
/// CRC and declared size, and decompresses it into `out` (cleared first), with
/// `dictionary` if given.
pub(crate) fn decode_block(
    bytes: &[u8],
    i: u32,
    info: &BlockInfo,
    dec: &mut BlockDecoder,
    dictionary: Option<&PackDictionary>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let frame = &bytes[info.offset as usize..][..info.compressed_len as usize];
    check_crc32("block", info.offset, frame, info.crc32)?;
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
    let result = match dictionary {
        Some(d) => dec.inner.decompress_using_ddict(out, frame, &d.ddict),
        None => dec.inner.decompress(out, frame),
    };
    let n = result.map_err(|code| Error::Decompress {
        offset: info.offset,
        source: std::io::Error::other(zstd::zstd_safe::get_error_name(code)),
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

/// The entry at `offset` of a decompressed block, exactly `length` bytes long, checked to
/// be an entry of `hash` (whole or tag, as the pack's [`V2Pack::hash_field`] says).
pub fn entry_in_block<'b>(
    block: &'b [u8],
    offset: u32,
    length: u32,
    field: HashField,
    hash: &SequenceHash,
) -> Result<EntryRef<'b>, Error> {
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
    let (e, used) = entry::decode_as(bytes, offset as u64, field, hash)?;
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
        build_as(seqs, block, HashField::Tag)
    }

    fn build_as(
        seqs: &[(String, String)],
        block: usize,
        field: HashField,
    ) -> (Vec<u8>, Vec<(u32, u32, u32)>) {
        let mut enc = V2PackEncoder::with_options(Vec::new(), 42, 3, block, &[], field).unwrap();
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
            tags in any::<bool>(),
        ) {
            let field = if tags { HashField::Tag } else { HashField::Full };
            let (file, locs) = build_as(&seqs, block, field);
            let pack = V2Pack::parse(&file).unwrap();
            prop_assert_eq!(pack.hash_field(), field);
            pack.verify_footer().unwrap();
            prop_assert_eq!(pack.trailer().entry_count as usize, seqs.len());
            let mut dec = BlockDecoder::new();
            let mut buf = Vec::new();
            for (i, ((s, h), (b, o, l))) in seqs.iter().zip(&locs).enumerate() {
                let row = pack.entry_info(i as u32).unwrap();
                prop_assert_eq!((row.block, row.offset, row.length), (*b, *o, *l));
                pack.read_block(*b, &mut dec, None, &mut buf).unwrap();
                let e = entry_in_block(&buf, *o, *l, field, &row.hash).unwrap();
                prop_assert_eq!(e.sequence, s.as_bytes());
                prop_assert_eq!(e.hash, row.hash);
                prop_assert_eq!(SequenceHash::of_residues(e.sequence), row.hash);
                // An entry is never taken for another sequence's.
                let other = SequenceHash::of_residues(format!("{s}X").as_bytes());
                prop_assert!(entry_in_block(&buf, *o, *l, field, &other).is_err());
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
        let dict = PackDictionary::of(&pack)?;
        let mut dec = BlockDecoder::new();
        let mut buf = Vec::new();
        for i in 0..pack.trailer().entry_count {
            let row = pack.entry_info(i)?;
            pack.read_block(row.block, &mut dec, dict.as_ref(), &mut buf)?;
            let e = entry_in_block(&buf, row.offset, row.length, pack.hash_field(), &row.hash)?;
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
            let dict = PackDictionary::of(&p).ok().flatten();
            let mut dec = BlockDecoder::new();
            let mut buf = Vec::new();
            for i in 0..p.trailer().block_count.min(8) {
                let _ = p.read_block(i, &mut dec, dict.as_ref(), &mut buf);
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
            .read_block(0, &mut BlockDecoder::new(), None, &mut Vec::new())
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

    /// A pack with a trained dictionary: protein-like entries, enough to train on.
    fn build_with_dictionary(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let aa = b"ACDEFGHIKLMNPQRSTVWY";
        let mut x = 12345u64;
        let mut seqs = Vec::new();
        let mut samples = Vec::new();
        for i in 0..n {
            let len = 80 + (i * 37) % 300;
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    aa[(x % 20) as usize]
                })
                .collect();
            let mut buf = Vec::new();
            let reps = [Representation::new(
                format!("sp|Q{i:05}|P{i}_HUMAN protein {i} OS=Homo sapiens"),
                "uniprot",
            )];
            entry::encode(&mut buf, &SequenceHash::of_residues(&s), &s, &reps).unwrap();
            samples.push(buf);
            seqs.push(s);
        }
        let dict = train_dictionary(&samples).expect("enough samples to train on");
        let mut enc = V2PackEncoder::with_dictionary(Vec::new(), 9, 3, 1, &dict).unwrap();
        for (i, s) in seqs.iter().enumerate() {
            let reps = [Representation::new(
                format!("sp|Q{i:05}|P{i}_HUMAN protein {i} OS=Homo sapiens"),
                "uniprot",
            )];
            enc.push(&SequenceHash::of_residues(s), s, &reps).unwrap();
        }
        (enc.finish().unwrap().0, seqs)
    }

    #[test]
    fn a_trained_dictionary_is_the_same_bytes_every_time_and_shrinks_small_frames() {
        let (_, seqs) = build_with_dictionary(400);
        let samples: Vec<Vec<u8>> = seqs.iter().map(|s| s.to_vec()).collect();
        let dict = train_dictionary(&samples).expect("400 samples of 80-380 bytes");
        assert_eq!(train_dictionary(&samples).as_deref(), Some(dict.as_slice()));
        assert!(dict.len() <= MAX_DICTIONARY && dict.len() >= 4 * 1024);
        // Frames of one sample each: with the dictionary, smaller than without.
        let mut with = zstd::bulk::Compressor::with_dictionary(1, &dict).unwrap();
        let mut without = zstd::bulk::Compressor::new(1).unwrap();
        let (a, b): (usize, usize) = samples
            .iter()
            .map(|s| {
                let x = with.compress(s).unwrap();
                let mut d = zstd::bulk::Decompressor::with_dictionary(&dict).unwrap();
                assert_eq!(&d.decompress(&x, s.len()).unwrap(), s);
                (x.len(), without.compress(s).unwrap().len())
            })
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        assert!(a < b, "with the dictionary {a} bytes, without {b}");
    }

    #[test]
    fn dictionary_packs_round_trip_one_entry_per_block() {
        let (file, seqs) = build_with_dictionary(300);
        let pack = V2Pack::parse(&file).unwrap();
        assert_eq!(file[9], FLAG_DICTIONARY | FLAG_HASH_TAGS);
        assert!(pack.dictionary().is_some());
        assert_eq!(pack.trailer().block_count as usize, seqs.len());
        check_all(&file).unwrap();
        let dict = PackDictionary::of(&pack).unwrap().unwrap();
        let mut dec = BlockDecoder::new();
        let mut buf = Vec::new();
        for (i, s) in seqs.iter().enumerate() {
            let row = pack.entry_info(i as u32).unwrap();
            pack.read_block(row.block, &mut dec, Some(&dict), &mut buf)
                .unwrap();
            assert_eq!(
                entry_in_block(&buf, row.offset, row.length, HashField::Tag, &row.hash)
                    .unwrap()
                    .sequence,
                &s[..]
            );
        }
        // Without the dictionary a block is refused, not misread.
        assert!(pack.read_block(0, &mut dec, None, &mut buf).is_err());
        // Frames carry neither a content checksum nor a dictionary id (frame header
        // descriptor after the 4-byte magic: bit 2 checksum, bits 0-1 dictionary id size).
        for i in 0..pack.trailer().block_count {
            let descriptor = file[pack.block_info(i).unwrap().offset as usize + 4];
            assert_eq!(
                descriptor & 0b111,
                0,
                "block {i}: descriptor {descriptor:#04x}"
            );
        }
    }

    #[test]
    fn dictionary_packs_detect_every_sampled_flip_and_truncation() {
        let (file, _) = build_with_dictionary(200);
        let mut x = 99u64;
        for k in 0..1500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = if k < 64 {
                k * 1531 % file.len()
            } else {
                (x % file.len() as u64) as usize
            };
            let mut bad = file.clone();
            bad[at] ^= [1u8, 0x80, 0xff][k % 3];
            assert!(check_all(&bad).is_err(), "flip at {at} not detected");
        }
        for cut in (0..file.len()).step_by(97) {
            assert!(
                V2Pack::parse(&file[..cut]).is_err(),
                "truncation at {cut} accepted"
            );
        }
    }

    #[test]
    fn tagged_packs_are_smaller_and_full_hash_packs_still_read() {
        let seqs: Vec<(String, String)> = (0..50)
            .map(|i| {
                (
                    format!("MKV{}", "ACDEFGHIK".repeat(i % 9 + 1)),
                    format!("s{i}"),
                )
            })
            .collect();
        let (full, _) = build_as(&seqs, 1, HashField::Full);
        let (tagged, _) = build_as(&seqs, 1, HashField::Tag);
        assert_eq!(full[9], 0, "a full-hash pack sets no flag, as before tags");
        assert_eq!(tagged[9], FLAG_HASH_TAGS);
        let (pf, pt) = (
            V2Pack::parse(&full).unwrap(),
            V2Pack::parse(&tagged).unwrap(),
        );
        let sum = |p: &V2Pack<'_>| -> u32 {
            (0..p.trailer().block_count)
                .map(|i| p.block_info(i).unwrap().uncompressed_len)
                .sum()
        };
        // One entry per block: every entry is exactly 28 bytes shorter.
        assert_eq!(sum(&pf) - sum(&pt), 50 * (32 - entry::TAG_LEN as u32));
        check_all(&full).unwrap();
        check_all(&tagged).unwrap();
        // A tagged block read as if its entries had whole hashes is refused.
        let mut buf = Vec::new();
        pt.read_block(0, &mut BlockDecoder::new(), None, &mut buf)
            .unwrap();
        let row = pt.entry_info(0).unwrap();
        assert!(entry_in_block(&buf, row.offset, row.length, HashField::Full, &row.hash).is_err());
    }

    #[test]
    fn blocks_of_representations_only_entries_close_at_their_own_size() {
        let mut enc = V2PackEncoder::new(Vec::new(), 1, 3, 1000).unwrap();
        enc.set_additions_block_size(200);
        let reps = |i: usize| {
            [Representation::new(
                format!("sp|Q{i:05}|X some protein"),
                "src",
            )]
        };
        let seq = |i: usize| format!("MKV{}", "ACDEFGHIKLMNPQRSTVWY".repeat(3 + i % 4));
        // Sequences, then addition entries, then a sequence again.
        let mut places = Vec::new();
        for i in 0..20 {
            let h = SequenceHash::of_residues(seq(i).as_bytes());
            places.push((h, enc.push(&h, seq(i).as_bytes(), &reps(i)).unwrap()));
        }
        let first_reps_block = enc.blocks.len() as u32 + 1;
        for i in 0..20 {
            let h = SequenceHash::of_residues(seq(i).as_bytes());
            places.push((h, enc.push(&h, b"", &reps(i + 100)).unwrap()));
        }
        let h = SequenceHash::of_residues(b"MKVVV");
        places.push((h, enc.push(&h, b"MKVVV", &reps(7)).unwrap()));
        let (file, _) = enc.finish().unwrap();
        let pack = V2Pack::parse(&file).unwrap();
        let sizes: Vec<u32> = (0..pack.trailer().block_count)
            .map(|i| pack.block_info(i).unwrap().uncompressed_len)
            .collect();
        // Blocks of sequences reach 1000 bytes; blocks of additions only are closed
        // once they reach 200 (one entry is ~45 bytes), not 1000.
        let (seq_blocks, rest) = sizes.split_at(first_reps_block as usize - 1);
        assert!(seq_blocks.iter().all(|&n| n >= 1000), "{sizes:?}");
        let reps_only = &rest[1..rest.len() - 1];
        assert!(reps_only.len() >= 3, "{sizes:?}");
        assert!(
            reps_only.iter().all(|&n| (200..300).contains(&n)),
            "{sizes:?}"
        );
        pack.verify_footer().unwrap();
        let mut dec = BlockDecoder::new();
        let mut buf = Vec::new();
        for (h, (b, o, l)) in places {
            pack.read_block(b, &mut dec, None, &mut buf).unwrap();
            entry_in_block(&buf, o, l, HashField::Tag, &h).unwrap();
        }
    }

    #[test]
    fn unknown_header_flags_are_named() {
        let seqs = vec![("MKV".to_string(), "s".to_string())];
        let (mut file, _) = build(&seqs, 64);
        file[9] |= 0x04;
        let err = V2Pack::parse(&file).unwrap_err().to_string();
        assert!(
            err.contains("0x06") && err.contains("newer SEQUOIA"),
            "{err}"
        );
    }

    #[test]
    fn too_little_data_trains_no_dictionary() {
        assert!(train_dictionary(&vec![vec![1u8, 2, 3]; 10]).is_none());
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
