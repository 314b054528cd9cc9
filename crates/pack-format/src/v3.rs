//! The v3 pack layout: residues and headers in two streams of independent Zstandard
//! blocks, and a sequence table without hashes (the key is the SHA-256 of the residues,
//! so a reader re-hashes what it reads and `rebuild-index` recomputes it).
//!
//! ```text
//! header    16 bytes  "PKSQ" | version u8 = 3 | pack id u32 LE | flags u8 = 0 | 6 zero bytes
//! blocks    the residue blocks, then the header blocks: zstd frames (content size set, no
//!           checksum, no dictionary id); a block holds whole rows of its stream
//! footer    block table   (R + H) × 20 bytes: offset u64 | compressed length u32
//!                         | uncompressed length u32 | CRC-32 of the frame u32
//!           source table  u32 count, then per source: u16 length | UTF-8 bytes
//!           group table   ⌈N / 64⌉ × 24 bytes: residue block u32 | offset u32
//!                         | header block u32 | offset u32 | lengths offset u32
//!                         | addition rows before the group u32
//!           lengths       per row: varint residue length | varint item length
//!           additions     A × 32 bytes: the SHA-256 of each addition row, in row order
//!           trailer       64 bytes (see [`Trailer`]), ending in "SQPKEND3"
//! item      varint representation count, then per representation:
//!           varint source number | varint header length | header bytes
//! ```
//! Row `i`'s residues follow row `i - 1`'s in the residue stream: at the same offset of
//! the same block, unless they do not fit what is left of that block, and then at offset
//! 0 of the next one (rows never straddle blocks). The same holds for items in the header
//! stream. The group table gives the place of every 64th row. A row without residues (an
//! *addition row*: more representations of a sequence stored earlier) has its SHA-256 in
//! the additions table, since there are no residues to hash. See `docs/format.md`.

use std::collections::HashMap;
use std::io::Write;

use crate::entry::EntryRef;
use crate::error::Error;
use crate::hash::SequenceHash;
use crate::v2::{
    block_compressor, block_row, check_crc32, compress_block, decode_block, le_u32, le_u64,
    prefetch_frame, BlockDecoder, BlockInfo, PackCounts,
};
use crate::{PackId, Representation, MAGIC};

/// The version byte of a v3 pack.
pub const VERSION: u8 = 3;
/// Bytes of the header.
pub const HEADER_LEN: usize = 16;
/// Bytes of one block-table row.
pub const BLOCK_ROW_LEN: usize = 20;
/// Bytes of one group-table row.
pub const GROUP_ROW_LEN: usize = 24;
/// Bytes of one additions-table row.
pub const ADDITION_ROW_LEN: usize = 32;
/// Rows per group: the group table places every `GROUP`-th row.
pub const GROUP: u32 = 64;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 64;
/// Last 8 bytes of every v3 pack.
pub const TRAILER_MAGIC: &[u8; 8] = b"SQPKEND3";
/// Default uncompressed size at which a residue block is closed (docs/format.md).
pub const RESIDUE_BLOCK_SIZE: usize = 16 * 1024;
/// Default uncompressed size at which a header block is closed (docs/format.md).
pub const HEADER_BLOCK_SIZE: usize = 16 * 1024;
/// Default Zstandard level.
pub const DEFAULT_LEVEL: i32 = 1;
/// Bytes of a key that an index finds a v3 row by (it keeps no more): a row whose
/// residues hash to another key with these bytes in common is another sequence
/// ([`Error::OtherSequence`]), one that differs in them is damage.
pub const KEY_PREFIX: usize = 6;
/// Header flag (byte 9): every residue block starts with a coding byte, [`CODING_PLAIN`]
/// or [`CODING_2BIT`] (set for packs of nucleotide sequences, see [`codes_residues`]).
pub const FLAG_CODED_RESIDUES: u8 = 1;
/// Coding byte: the residues follow as they are.
pub const CODING_PLAIN: u8 = 0;
/// Coding byte: the residues follow two bits a base (A, C, G, T), with the runs of other
/// bytes listed before them.
pub const CODING_2BIT: u8 = 1;

/// Whether a pack whose first residues are `sample` codes its residue blocks: when at
/// least 90% of them are `A`, `C`, `G`, `T`, `U` or `N` (what [`crate::v2::default_level`]
/// calls nucleotide).
pub fn codes_residues(sample: &[u8]) -> bool {
    crate::v2::default_level([sample]) == crate::v2::NUCLEOTIDE_LEVEL
}

/// Whether `b` is one of `A`, `C`, `G`, `T`.
fn is_base(b: u8) -> bool {
    matches!(b, b'A' | b'C' | b'G' | b'T')
}

/// The two bits of base `b` (`A` 0, `C` 1, `G` 2, `T` 3; other bytes give some value,
/// overwritten by their runs): bits 1 and 2 of the ASCII code, xored, without a branch.
fn base_bits(b: u8) -> u8 {
    ((b >> 1) ^ (b >> 2)) & 3
}

/// The four bases each byte of packed bases stands for.
const UNPACKED: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let mut k = 0;
        while k < 4 {
            t[i][k] = b"ACGT"[(i >> (2 * k)) & 3];
            k += 1;
        }
        i += 1;
    }
    t
};

/// Appends residue block `residues` coded: [`CODING_2BIT`] when its runs of bytes other
/// than `A`, `C`, `G`, `T` are few (at most one per 32 residues: a run costs about 3
/// bytes against a quarter byte a base), else [`CODING_PLAIN`].
fn code_residues(residues: &[u8], out: &mut Vec<u8>) {
    let mut runs: Vec<(usize, usize, u8)> = Vec::new();
    // Whole stretches of bases are passed over 64 at a time (the test vectorises).
    let mut i = 0;
    while i < residues.len() {
        let end = (i + 64).min(residues.len());
        if residues[i..end].iter().all(|&b| is_base(b)) {
            i = end;
            continue;
        }
        while i < end {
            let b = residues[i];
            if is_base(b) {
                i += 1;
                continue;
            }
            let start = i;
            while i < residues.len() && residues[i] == b {
                i += 1;
            }
            runs.push((start, i - start, b));
            if runs.len() * 32 > residues.len() {
                out.push(CODING_PLAIN);
                out.extend_from_slice(residues);
                return;
            }
        }
    }
    out.push(CODING_2BIT);
    put_varint(out, residues.len() as u64);
    put_varint(out, runs.len() as u64);
    let mut end = 0;
    for &(start, len, b) in &runs {
        put_varint(out, (start - end) as u64);
        put_varint(out, len as u64);
        out.push(b);
        end = start + len;
    }
    let quads = residues.chunks_exact(4);
    let rest = quads.remainder();
    out.extend(quads.map(|q| {
        base_bits(q[0]) | base_bits(q[1]) << 2 | base_bits(q[2]) << 4 | base_bits(q[3]) << 6
    }));
    if !rest.is_empty() {
        let byte = (rest.iter().enumerate()).fold(0, |acc, (k, &b)| acc | base_bits(b) << (2 * k));
        out.push(byte);
    }
}

/// Decodes a coded residue block (`coded`, starting with its coding byte) of `len`
/// residues into `out` (cleared first); `offset` is the block's file offset, for errors.
fn decode_residues(coded: &[u8], len: u32, offset: u64, out: &mut Vec<u8>) -> Result<(), Error> {
    let corrupt = |message: String| Error::Corrupt { offset, message };
    out.clear();
    let n = len as usize;
    match coded.first() {
        Some(&CODING_PLAIN) if coded.len() - 1 == n => {
            out.extend_from_slice(&coded[1..]);
            Ok(())
        }
        Some(&CODING_2BIT) => {
            let mut pos = 1;
            let declared = get_varint(coded, &mut pos, offset, "coded residue count")?;
            if declared != n as u64 {
                return Err(corrupt(format!(
                    "a coded residue block of {declared} residues, the table says {n}"
                )));
            }
            let count = get_varint(coded, &mut pos, offset, "run count")?;
            let mut runs = Vec::with_capacity((count as usize).min(n));
            let mut end = 0u64;
            for _ in 0..count {
                let gap = get_varint(coded, &mut pos, offset, "run gap")?;
                let run = get_varint(coded, &mut pos, offset, "run length")?;
                let byte = *coded
                    .get(pos)
                    .ok_or_else(|| corrupt("a run's byte is missing".into()))?;
                pos += 1;
                let start = end.saturating_add(gap);
                end = start.saturating_add(run);
                if end > n as u64 {
                    return Err(corrupt(format!(
                        "a run of other bytes ends at {end}, past the block's {n} residues"
                    )));
                }
                runs.push((start as usize, run as usize, byte));
            }
            let packed = &coded[pos..];
            if packed.len() != n.div_ceil(4) {
                return Err(corrupt(format!(
                    "{} bytes of packed bases for {n} residues",
                    packed.len()
                )));
            }
            out.reserve(n + 4);
            for &byte in packed {
                out.extend_from_slice(&UNPACKED[byte as usize]);
            }
            out.truncate(n);
            for (start, run, byte) in runs {
                out[start..start + run].fill(byte);
            }
            Ok(())
        }
        Some(&CODING_PLAIN) => Err(corrupt(format!(
            "a plain residue block of {} bytes, the table says {n}",
            coded.len() - 1
        ))),
        Some(&c) => Err(corrupt(format!("residue block coding {c} is not known"))),
        None => Err(corrupt("an empty coded residue block".into())),
    }
}

/// Most sources one pack's source table holds.
pub const MAX_SOURCES: usize = u16::MAX as usize;

/// How a v3 pack is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Zstandard level of every block.
    pub level: i32,
    /// A residue block is closed once it holds this many bytes.
    pub residue_block: usize,
    /// A header block is closed once it holds this many bytes.
    pub header_block: usize,
    /// Code residue blocks ([`FLAG_CODED_RESIDUES`]; see [`codes_residues`]).
    pub coded_residues: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: DEFAULT_LEVEL,
            residue_block: RESIDUE_BLOCK_SIZE,
            header_block: HEADER_BLOCK_SIZE,
            coded_residues: false,
        }
    }
}

/// The fixed 64 bytes at the end of a v3 pack.
///
/// ```text
/// 0  footer offset u64        8  residue blocks R u32    12 header blocks H u32
/// 16 rows N u32               20 representations u32     24 residue bytes u64
/// 32 header stream bytes u64  40 source table bytes u32  44 lengths bytes u32
/// 48 pack id u32              52 CRC-32 of bytes footer offset .. end - 12
/// 56 "SQPKEND3"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Offset of the block table.
    pub footer_offset: u64,
    /// Blocks of the residue stream (block table rows 0..R).
    pub residue_blocks: u32,
    /// Blocks of the header stream (block table rows R..R+H).
    pub header_blocks: u32,
    /// Rows of the sequence table: sequences and addition rows.
    pub rows: u32,
    /// Representations over all rows.
    pub representations: u32,
    /// Bytes of the residue stream.
    pub residue_bytes: u64,
    /// Bytes of the header stream.
    pub header_bytes: u64,
    /// Bytes of the source table.
    pub sources_len: u32,
    /// Bytes of the lengths.
    pub lengths_len: u32,
    /// The pack id, repeated from the header.
    pub pack_id: PackId,
    /// Stored footer checksum.
    pub crc32: u32,
}

impl Trailer {
    /// Rows of the block table.
    pub fn block_count(&self) -> u64 {
        self.residue_blocks as u64 + self.header_blocks as u64
    }

    /// Rows of the group table.
    pub fn group_count(&self) -> u64 {
        (self.rows as u64).div_ceil(GROUP as u64)
    }

    fn block_table(&self) -> u64 {
        self.footer_offset
    }

    fn source_table(&self) -> u64 {
        self.block_table() + self.block_count() * BLOCK_ROW_LEN as u64
    }

    fn group_table(&self) -> u64 {
        self.source_table() + self.sources_len as u64
    }

    fn lengths(&self) -> u64 {
        self.group_table() + self.group_count() * GROUP_ROW_LEN as u64
    }

    /// Where the additions table starts.
    fn additions(&self) -> u64 {
        self.lengths() + self.lengths_len as u64
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.footer_offset.to_le_bytes());
        out.extend_from_slice(&self.residue_blocks.to_le_bytes());
        out.extend_from_slice(&self.header_blocks.to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.representations.to_le_bytes());
        out.extend_from_slice(&self.residue_bytes.to_le_bytes());
        out.extend_from_slice(&self.header_bytes.to_le_bytes());
        out.extend_from_slice(&self.sources_len.to_le_bytes());
        out.extend_from_slice(&self.lengths_len.to_le_bytes());
        out.extend_from_slice(&self.pack_id.to_le_bytes());
        out.extend_from_slice(&self.crc32.to_le_bytes());
        out.extend_from_slice(TRAILER_MAGIC);
    }

    fn decode(t: &[u8]) -> Trailer {
        Trailer {
            footer_offset: le_u64(t, 0),
            residue_blocks: le_u32(t, 8),
            header_blocks: le_u32(t, 12),
            rows: le_u32(t, 16),
            representations: le_u32(t, 20),
            residue_bytes: le_u64(t, 24),
            header_bytes: le_u64(t, 32),
            sources_len: le_u32(t, 40),
            lengths_len: le_u32(t, 44),
            pack_id: le_u32(t, 48),
            crc32: le_u32(t, 52),
        }
    }
}

/// Where one row's residues and item are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Place {
    /// Block of the residues (block table row).
    pub residue_block: u32,
    /// Offset of the residues in their decompressed block.
    pub residue_offset: u32,
    /// Bytes of residues.
    pub residue_len: u32,
    /// Block of the item (block table row, R or more).
    pub header_block: u32,
    /// Offset of the item in its decompressed block.
    pub header_offset: u32,
    /// Bytes of the item.
    pub header_len: u32,
    /// An addition row's number in the additions table (`None`: a row with residues).
    pub addition: Option<u32>,
}

/// Appends `v` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*pos` of `bytes` (at most 10 bytes, no overflow), moving
/// `*pos` past it; `base` is the offset of `bytes[0]` for errors.
fn get_varint(bytes: &[u8], pos: &mut usize, base: u64, what: &'static str) -> Result<u64, Error> {
    let start = *pos;
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or(Error::Truncated {
            what,
            offset: base + start as u64,
        })?;
        *pos += 1;
        let bits = (b & 0x7f) as u64;
        if shift == 63 && bits > 1 {
            break;
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Error::Corrupt {
        offset: base + start as u64,
        message: format!("{what}: a varint over 64 bits"),
    })
}

/// Appends the header-stream item of `representations`, numbering sources through
/// `number` (which adds new ones to the pack's table).
fn encode_item(
    out: &mut Vec<u8>,
    representations: &[Representation],
    mut number: impl FnMut(&str) -> Result<u32, Error>,
) -> Result<(), Error> {
    put_varint(out, representations.len() as u64);
    for r in representations {
        put_varint(out, number(&r.source)? as u64);
        put_varint(out, r.header.len() as u64);
        out.extend_from_slice(r.header.as_bytes());
    }
    Ok(())
}

/// Calls `f(header, source)` for each representation of a header-stream item, checking
/// that it is well formed and exactly fills `item`; `offset` is where `item` starts in its
/// block, for errors.
pub(crate) fn decode_item<'a>(
    item: &'a [u8],
    sources: &'a [String],
    offset: u64,
    mut f: impl FnMut(&'a str, &'a str),
) -> Result<(), Error> {
    let mut pos = 0usize;
    let n = get_varint(item, &mut pos, offset, "representation count")?;
    for _ in 0..n {
        let at = pos;
        let source = get_varint(item, &mut pos, offset, "source number")?;
        let source = sources.get(source as usize).ok_or_else(|| Error::Corrupt {
            offset: offset + at as u64,
            message: format!(
                "source number {source}, the pack's source table has {}",
                sources.len()
            ),
        })?;
        let len = get_varint(item, &mut pos, offset, "header length")?;
        let header = usize::try_from(len)
            .ok()
            .and_then(|len| item.get(pos..)?.get(..len))
            .ok_or(Error::Truncated {
                what: "representation header",
                offset: offset + pos as u64,
            })?;
        let header = std::str::from_utf8(header).map_err(|e| Error::Corrupt {
            offset: offset + pos as u64,
            message: format!("a representation header is not UTF-8: {e}"),
        })?;
        pos += header.len();
        f(header, source);
    }
    if pos != item.len() {
        return Err(Error::Corrupt {
            offset: offset + pos as u64,
            message: "bytes left after the representations".into(),
        });
    }
    Ok(())
}

/// One block of a stream being written.
struct Stream {
    open: Vec<u8>,
    block_size: usize,
    /// Rows of closed blocks: offsets relative to the stream's first frame.
    closed: Vec<BlockInfo>,
    /// Bytes of all frames so far.
    frames_len: u64,
    /// Total uncompressed bytes.
    bytes: u64,
    /// Blocks are coded before they are compressed ([`code_residues`]), into this buffer.
    coded: Option<Vec<u8>>,
}

impl Stream {
    fn new(block_size: usize) -> Self {
        Stream {
            open: Vec::with_capacity(block_size + 4096),
            block_size: block_size.max(1),
            closed: Vec::new(),
            frames_len: 0,
            bytes: 0,
            coded: None,
        }
    }

    /// Where the next `len` bytes go: the open block (numbered after the closed ones)
    /// and their offset in it. The open block is closed (by `close`) once it reaches the
    /// block size, so a row never starts past it.
    fn place(&self) -> Result<(u32, u32), Error> {
        let block = u32::try_from(self.closed.len())
            .map_err(|_| Error::TooLarge("more than 2^32 blocks".into()))?;
        Ok((block, self.open.len() as u32))
    }

    /// Appends bytes of one row; `Some(frame)` when the block closes with them.
    fn push(
        &mut self,
        bytes: &[u8],
        compressor: &mut zstd::bulk::Compressor<'static>,
        frame: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        if self.open.len() + bytes.len() > u32::MAX as usize {
            return Err(Error::TooLarge("a block over 4 GiB".into()));
        }
        self.open.extend_from_slice(bytes);
        self.bytes += bytes.len() as u64;
        if self.open.len() >= self.block_size {
            self.close(compressor, frame)
        } else {
            Ok(false)
        }
    }

    /// Compresses the open block into `frame` (`false`: it was empty).
    fn close(
        &mut self,
        compressor: &mut zstd::bulk::Compressor<'static>,
        frame: &mut Vec<u8>,
    ) -> Result<bool, Error> {
        if self.open.is_empty() {
            return Ok(false);
        }
        let mut info = match &mut self.coded {
            Some(coded) => {
                coded.clear();
                code_residues(&self.open, coded);
                compress_block(compressor, coded, self.frames_len, frame)?
            }
            None => compress_block(compressor, &self.open, self.frames_len, frame)?,
        };
        // The table gives the residues' length, not the coded bytes' (rows are placed by
        // it; the frame header holds the other).
        info.uncompressed_len = self.open.len() as u32;
        self.closed.push(info);
        self.frames_len += frame.len() as u64;
        self.open.clear();
        Ok(true)
    }
}

/// Writes a v3 pack to any `Write`: residue blocks as they close, the header blocks
/// (held compressed in memory) and the tables at [`finish`](Self::finish).
///
/// # Examples
/// ```
/// use pack_format::{v3, Representation, SequenceHash};
/// let mut enc = v3::V3PackEncoder::new(Vec::new(), 7, v3::Options::default()).unwrap();
/// let key = SequenceHash::of_residues(b"MKV");
/// let (row, _) = enc.push(&key, b"MKV", &[Representation::new("sp|P1|X", "uniprot")]).unwrap();
/// let (file, _) = enc.finish().unwrap();
/// let pack = v3::V3Pack::parse(&file).unwrap();
/// let sources = pack.sources().unwrap();
/// let place = pack.place(row).unwrap();
/// let (mut dec, mut residues, mut items) = (Default::default(), Vec::new(), Vec::new());
/// pack.read_block(place.residue_block, &mut dec, &mut residues).unwrap();
/// pack.read_block(place.header_block, &mut dec, &mut items).unwrap();
/// let e = pack.entry_at(&place, &residues, &items, &sources, Some(&key)).unwrap();
/// assert_eq!(e.sequence, b"MKV");
/// assert_eq!(e.representations().unwrap()[0].header, "sp|P1|X");
/// ```
pub struct V3PackEncoder<W: Write> {
    out: W,
    pack_id: PackId,
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
    residues: Stream,
    headers: Stream,
    /// The header stream's closed frames, written after the residue stream's.
    header_frames: Vec<u8>,
    sources: Vec<String>,
    source_numbers: HashMap<String, u32>,
    groups: Vec<u8>,
    lengths: Vec<u8>,
    additions: Vec<u8>,
    item: Vec<u8>,
    rows: u32,
    representations: u32,
}

impl<W: Write> V3PackEncoder<W> {
    /// Writes the header.
    pub fn new(mut out: W, pack_id: PackId, options: Options) -> Result<Self, Error> {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4] = VERSION;
        header[5..9].copy_from_slice(&pack_id.to_le_bytes());
        if options.coded_residues {
            header[9] |= FLAG_CODED_RESIDUES;
        }
        out.write_all(&header)?;
        let compressor = block_compressor(options.level, &[])?;
        Ok(V3PackEncoder {
            out,
            pack_id,
            compressor,
            frame: Vec::new(),
            residues: Stream {
                coded: options.coded_residues.then(Vec::new),
                ..Stream::new(options.residue_block)
            },
            headers: Stream::new(options.header_block),
            header_frames: Vec::new(),
            sources: Vec::new(),
            source_numbers: HashMap::new(),
            groups: Vec::new(),
            lengths: Vec::new(),
            additions: Vec::new(),
            item: Vec::new(),
            rows: 0,
            representations: 0,
        })
    }

    /// Appends a sequence of key `hash` with its representations (`residues` empty: an
    /// addition row, more representations of a sequence stored earlier; `hash` is stored
    /// for these only, the others' is their residues'); returns its row, which a reader
    /// asks for with [`V3Pack::place`], and its bytes (residues and item) before
    /// compression.
    pub fn push(
        &mut self,
        hash: &SequenceHash,
        residues: &[u8],
        representations: &[Representation],
    ) -> Result<(u32, u32), Error> {
        if self.rows == u32::MAX {
            return Err(Error::TooLarge("more than 2^32 - 1 rows in a pack".into()));
        }
        let representations_after = u32::try_from(representations.len())
            .ok()
            .and_then(|n| self.representations.checked_add(n))
            .ok_or_else(|| Error::TooLarge("more than 2^32 representations in a pack".into()))?;
        self.item.clear();
        let (sources, numbers) = (&mut self.sources, &mut self.source_numbers);
        encode_item(&mut self.item, representations, |source| {
            if let Some(&n) = numbers.get(source) {
                return Ok(n);
            }
            if sources.len() == MAX_SOURCES || source.len() > u16::MAX as usize {
                return Err(Error::TooLarge(format!(
                    "a pack holds at most {MAX_SOURCES} source names of at most 65535 bytes each"
                )));
            }
            let n = sources.len() as u32;
            sources.push(source.to_string());
            numbers.insert(source.to_string(), n);
            Ok(n)
        })?;
        if self.lengths.len() + 20 > u32::MAX as usize {
            return Err(Error::TooLarge("a sequence table over 4 GiB".into()));
        }
        let row = self.rows;
        if row.is_multiple_of(GROUP) {
            let (rb, ro) = self.residues.place()?;
            let (hb, ho) = self.headers.place()?;
            let additions = (self.additions.len() / ADDITION_ROW_LEN) as u32;
            for v in [rb, ro, hb, ho, self.lengths.len() as u32, additions] {
                self.groups.extend_from_slice(&v.to_le_bytes());
            }
        }
        put_varint(&mut self.lengths, residues.len() as u64);
        put_varint(&mut self.lengths, self.item.len() as u64);
        if residues.is_empty() {
            self.additions.extend_from_slice(hash.as_bytes());
        }
        if self
            .residues
            .push(residues, &mut self.compressor, &mut self.frame)?
        {
            self.out.write_all(&self.frame)?;
        }
        if self
            .headers
            .push(&self.item, &mut self.compressor, &mut self.frame)?
        {
            self.header_frames.extend_from_slice(&self.frame);
        }
        self.rows += 1;
        self.representations = representations_after;
        Ok((row, (residues.len() + self.item.len()) as u32))
    }

    /// Rows pushed so far.
    pub fn row_count(&self) -> u32 {
        self.rows
    }

    /// Bytes the pack would have if it were finished now, the open blocks counted
    /// uncompressed: what a writer rotates packs by.
    pub fn size_estimate(&self) -> u64 {
        (HEADER_LEN + TRAILER_LEN) as u64
            + self.residues.frames_len
            + self.residues.open.len() as u64
            + self.headers.frames_len
            + self.headers.open.len() as u64
            + ((self.residues.closed.len() + self.headers.closed.len()) * BLOCK_ROW_LEN) as u64
            + (self.groups.len() + self.lengths.len() + self.additions.len()) as u64
    }

    /// Closes the open blocks, writes the header stream and the footer, and returns the
    /// writer and the trailer.
    pub fn finish(mut self) -> Result<(W, Trailer), Error> {
        if self.residues.close(&mut self.compressor, &mut self.frame)? {
            self.out.write_all(&self.frame)?;
        }
        if self.headers.close(&mut self.compressor, &mut self.frame)? {
            self.header_frames.extend_from_slice(&self.frame);
        }
        self.out.write_all(&self.header_frames)?;
        let residues_at = HEADER_LEN as u64;
        let headers_at = residues_at + self.residues.frames_len;
        let footer_offset = headers_at + self.headers.frames_len;
        let too_many = |_| Error::TooLarge("more than 2^32 blocks".into());
        let mut footer = Vec::new();
        for (b, at) in self
            .residues
            .closed
            .iter()
            .map(|b| (b, residues_at))
            .chain(self.headers.closed.iter().map(|b| (b, headers_at)))
        {
            footer.extend_from_slice(&(b.offset + at).to_le_bytes());
            footer.extend_from_slice(&b.compressed_len.to_le_bytes());
            footer.extend_from_slice(&b.uncompressed_len.to_le_bytes());
            footer.extend_from_slice(&b.crc32.to_le_bytes());
        }
        let sources_at = footer.len();
        footer.extend_from_slice(&(self.sources.len() as u32).to_le_bytes());
        for s in &self.sources {
            footer.extend_from_slice(&(s.len() as u16).to_le_bytes());
            footer.extend_from_slice(s.as_bytes());
        }
        let sources_len = u32::try_from(footer.len() - sources_at)
            .map_err(|_| Error::TooLarge("a source table over 4 GiB".into()))?;
        footer.extend_from_slice(&self.groups);
        footer.extend_from_slice(&self.lengths);
        footer.extend_from_slice(&self.additions);
        let mut trailer = Trailer {
            footer_offset,
            residue_blocks: u32::try_from(self.residues.closed.len()).map_err(too_many)?,
            header_blocks: u32::try_from(self.headers.closed.len()).map_err(too_many)?,
            rows: self.rows,
            representations: self.representations,
            residue_bytes: self.residues.bytes,
            header_bytes: self.headers.bytes,
            sources_len,
            lengths_len: self.lengths.len() as u32,
            pack_id: self.pack_id,
            crc32: 0,
        };
        // The header blocks are numbered after the residue blocks in the table.
        trailer
            .residue_blocks
            .checked_add(trailer.header_blocks)
            .ok_or_else(|| Error::TooLarge("more than 2^32 blocks".into()))?;
        let at = footer.len();
        trailer.encode(&mut footer);
        trailer.crc32 = crc32fast::hash(&footer[..at + 52]);
        footer[at + 52..at + 56].copy_from_slice(&trailer.crc32.to_le_bytes());
        self.out.write_all(&footer)?;
        Ok((self.out, trailer))
    }
}

/// A v3 pack over its bytes: header, trailer and the footer's extent are checked by
/// [`V3Pack::parse`], the rest on access or by [`V3Pack::verify_footer`].
#[derive(Debug, Clone, Copy)]
pub struct V3Pack<'a> {
    bytes: &'a [u8],
    trailer: Trailer,
    /// Rows of the additions table (what is left between the lengths and the trailer).
    additions: u32,
}

impl<'a> V3Pack<'a> {
    /// Checks magic, version, flags, trailer magic and that the footer's parts fill the
    /// space between the blocks and the trailer.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::Truncated {
                what: "v3 pack header and trailer",
                offset: bytes.len() as u64,
            });
        }
        if &bytes[..4] != MAGIC {
            return Err(Error::NotAPack {
                message: "file does not start with PKSQ".into(),
            });
        }
        if bytes[4] != VERSION {
            return Err(Error::UnsupportedVersion { version: bytes[4] });
        }
        if bytes[9] & !FLAG_CODED_RESIDUES != 0 || bytes[10..HEADER_LEN].iter().any(|&b| b != 0) {
            return Err(Error::Corrupt {
                offset: 9,
                message: format!(
                    "header flags {:#04x} name features this build does not know (bit 0: coded \
                     residue blocks), or reserved header bytes are not zero: damage, or a pack \
                     written by a newer SEQUOIA",
                    bytes[9]
                ),
            });
        }
        let trailer_at = (bytes.len() - TRAILER_LEN) as u64;
        let t = &bytes[bytes.len() - TRAILER_LEN..];
        if &t[56..64] != TRAILER_MAGIC {
            return Err(Error::Corrupt {
                offset: trailer_at + 56,
                message:
                    "trailer magic SQPKEND3 missing: the pack is truncated or was never finished"
                        .into(),
            });
        }
        let trailer = Trailer::decode(t);
        let pack_id = le_u32(bytes, 5);
        if trailer.pack_id != pack_id {
            return Err(Error::Corrupt {
                offset: trailer_at + 48,
                message: format!(
                    "trailer names pack {}, the header pack {pack_id}",
                    trailer.pack_id
                ),
            });
        }
        Self::from_parsed(bytes, trailer).ok_or_else(|| Error::Corrupt {
            offset: trailer_at,
            message: format!(
                "trailer places {} blocks, {} rows and {} + {} table bytes at byte {}, which does not fit a file of {} bytes",
                trailer.block_count(),
                trailer.rows,
                trailer.sources_len,
                trailer.lengths_len,
                trailer.footer_offset,
                bytes.len()
            ),
        })
    }

    /// The pack [`parse`](Self::parse) gave for `bytes` before, from its trailer, without
    /// checking the header again; `None` when the trailer does not place the footer
    /// exactly before the trailer of `bytes` (every access then stays in bounds).
    pub fn from_parsed(bytes: &'a [u8], trailer: Trailer) -> Option<Self> {
        if bytes.len() < HEADER_LEN + TRAILER_LEN
            || trailer.footer_offset < HEADER_LEN as u64
            || trailer.footer_offset > bytes.len() as u64
            || trailer.sources_len < 4
        {
            return None;
        }
        // The footer offset is within the file and each part below 2^32 rows of at most
        // 24 bytes: no sum below overflows u64.
        let additions = ((bytes.len() - TRAILER_LEN) as u64).checked_sub(trailer.additions())?;
        let rows = additions / ADDITION_ROW_LEN as u64;
        if additions % ADDITION_ROW_LEN as u64 != 0 || rows > trailer.rows as u64 {
            return None;
        }
        Some(V3Pack {
            bytes,
            trailer,
            additions: rows as u32,
        })
    }

    /// The counts a v2 trailer would carry: rows with residues are sequences; a row's
    /// entry bytes are its residues and its item.
    pub fn counts(&self) -> PackCounts {
        let t = &self.trailer;
        PackCounts {
            sequences: t.rows - self.additions,
            representations: t.representations,
            residue_bytes: t.residue_bytes,
            // Damaged trailers may hold any values: counts saturate.
            uncompressed_bytes: t.residue_bytes.saturating_add(t.header_bytes),
        }
    }

    /// The SHA-256 of addition row number `i` (of the additions table).
    pub fn addition_hash(&self, i: u32) -> Result<SequenceHash, Error> {
        if i >= self.additions {
            return Err(Error::Corrupt {
                offset: self.trailer.additions(),
                message: format!(
                    "addition row {i} requested, the additions table has {}",
                    self.additions
                ),
            });
        }
        let at = self.trailer.additions() as usize + i as usize * ADDITION_ROW_LEN;
        Ok(SequenceHash(
            self.bytes[at..at + ADDITION_ROW_LEN]
                .try_into()
                .expect("a row of 32 bytes"),
        ))
    }

    /// The trailer.
    pub fn trailer(&self) -> &Trailer {
        &self.trailer
    }

    /// The pack id.
    pub fn pack_id(&self) -> PackId {
        self.trailer.pack_id
    }

    /// Checks the footer CRC (block, source and group tables, lengths, trailer).
    pub fn verify_footer(&self) -> Result<(), Error> {
        let start = self.trailer.footer_offset as usize;
        let end = self.bytes.len() - 12;
        check_crc32(
            "footer",
            self.trailer.footer_offset,
            &self.bytes[start..end],
            self.trailer.crc32,
        )
    }

    /// The source table: every source name, by number.
    pub fn sources(&self) -> Result<Vec<String>, Error> {
        let at = self.trailer.source_table() as usize;
        let table = &self.bytes[at..at + self.trailer.sources_len as usize];
        let count = le_u32(table, 0) as usize;
        let mut pos = 4usize;
        let mut out = Vec::with_capacity(count.min(MAX_SOURCES));
        for i in 0..count {
            let corrupt = |message: String| Error::Corrupt {
                offset: (at + pos) as u64,
                message,
            };
            let len = table
                .get(pos..pos + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| corrupt(format!("source {i} of {count} runs past the table")))?;
            let name = table
                .get(pos + 2..pos + 2 + len)
                .ok_or_else(|| corrupt(format!("source {i} of {count} runs past the table")))?;
            let name = std::str::from_utf8(name)
                .map_err(|e| corrupt(format!("source {i} is not UTF-8: {e}")))?;
            out.push(name.to_string());
            pos += 2 + len;
        }
        if pos != table.len() {
            return Err(Error::Corrupt {
                offset: (at + pos) as u64,
                message: "bytes left after the source table".into(),
            });
        }
        Ok(out)
    }

    /// Blocks of the residue stream; rows `0..residue_blocks` of the block table.
    pub fn residue_blocks(&self) -> u32 {
        self.trailer.residue_blocks
    }

    /// Row `i` of the block table, checked to lie in its stream's part of the file.
    pub fn block_info(&self, i: u32) -> Result<BlockInfo, Error> {
        let t = &self.trailer;
        if i as u64 >= t.block_count() {
            return Err(Error::Corrupt {
                offset: t.footer_offset,
                message: format!("block {i} requested, the pack has {}", t.block_count()),
            });
        }
        let at = t.footer_offset as usize + i as usize * BLOCK_ROW_LEN;
        block_row(self.bytes, at, i, HEADER_LEN as u64..t.footer_offset)
    }

    /// Asks the CPU to start loading block `i`'s compressed bytes (a hint).
    pub fn prefetch_block(&self, i: u32) {
        if let Ok(info) = self.block_info(i) {
            prefetch_frame(self.bytes, &info);
        }
    }

    /// Whether residue blocks are coded ([`FLAG_CODED_RESIDUES`]).
    pub fn codes_residues(&self) -> bool {
        self.bytes[9] & FLAG_CODED_RESIDUES != 0
    }

    /// Checks block `i`'s CRC and decompresses it into `out` (cleared first), decoding a
    /// coded residue block: `out` holds the block's residues or items as rows place them.
    pub fn read_block(
        &self,
        i: u32,
        dec: &mut BlockDecoder,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let info = self.block_info(i)?;
        if !(self.codes_residues() && i < self.trailer.residue_blocks) {
            return decode_block(self.bytes, i, &info, dec, None, out);
        }
        // The frame holds the coded block, at most a little longer than the residues (a
        // coding that would be longer is not chosen): its size is checked against that
        // before anything is allocated, and the residues against the table.
        let frame = &self.bytes[info.offset as usize..][..info.compressed_len as usize];
        let declared = zstd::zstd_safe::get_frame_content_size(frame)
            .ok()
            .flatten()
            .filter(|&d| d <= info.uncompressed_len as u64 + 64)
            .ok_or_else(|| Error::Corrupt {
                offset: info.offset,
                message: format!(
                    "coded residue block {i}: the frame declares no size, or more than its {} residues take",
                    info.uncompressed_len
                ),
            })?;
        let coded_info = BlockInfo {
            uncompressed_len: declared as u32,
            ..info
        };
        let mut coded = std::mem::take(&mut dec.scratch);
        let decoded = decode_block(self.bytes, i, &coded_info, dec, None, &mut coded)
            .and_then(|()| decode_residues(&coded, info.uncompressed_len, info.offset, out));
        dec.scratch = coded;
        decoded
    }

    /// Where row `row` is: from its group's row, stepping over the rows before it.
    pub fn place(&self, row: u32) -> Result<Place, Error> {
        if row >= self.trailer.rows {
            return Err(Error::Corrupt {
                offset: self.trailer.footer_offset,
                message: format!("row {row} requested, the pack has {}", self.trailer.rows),
            });
        }
        let mut places = self.places_from(row / GROUP * GROUP)?;
        let mut place = Place::default();
        for _ in 0..=row % GROUP {
            place = places.next_place()?;
        }
        Ok(place)
    }

    /// The places of rows `first..` in order ([`Places::next_place`]); `first` must start a
    /// group (a multiple of [`GROUP`]).
    pub fn places_from(&self, first: u32) -> Result<Places<'a>, Error> {
        let t = &self.trailer;
        let g = first / GROUP;
        let at = t.group_table() as usize + g as usize * GROUP_ROW_LEN;
        let r = self
            .bytes
            .get(at..at + GROUP_ROW_LEN)
            .filter(|_| first.is_multiple_of(GROUP) && (g as u64) < t.group_count())
            .ok_or_else(|| Error::Corrupt {
                offset: t.footer_offset,
                message: format!(
                    "group of row {first} requested, the pack has {} rows",
                    t.rows
                ),
            })?;
        let lengths_at = t.lengths() as usize;
        let lengths = &self.bytes[lengths_at..lengths_at + t.lengths_len as usize];
        let pos = le_u32(r, 16) as usize;
        if pos > lengths.len() {
            return Err(Error::Corrupt {
                offset: at as u64,
                message: format!(
                    "group {g} starts its lengths at byte {pos} of {}",
                    lengths.len()
                ),
            });
        }
        Ok(Places {
            pack: *self,
            lengths,
            lengths_at: lengths_at as u64,
            c: Cursor {
                pos,
                row: first,
                first_of_group: true,
                residue: (le_u32(r, 0), le_u32(r, 4)),
                header: (le_u32(r, 8).saturating_add(t.residue_blocks), le_u32(r, 12)),
                addition: le_u32(r, 20),
                residue_end: None,
                header_end: None,
            },
        })
    }

    /// [`place`](Self::place) of `row`, walking on from `after` (where an earlier call
    /// stopped, of this pack) when `row` comes after it in its group: reads of rows in
    /// order then step over each row once. Returns the place and where the walk stopped.
    pub fn place_after(&self, after: Option<Cursor>, row: u32) -> Result<(Place, Cursor), Error> {
        let mut places = match after {
            Some(c) if c.row <= row && c.row / GROUP == row / GROUP && row < self.trailer.rows => {
                self.places_at(c)
            }
            _ => {
                if row >= self.trailer.rows {
                    return Err(Error::Corrupt {
                        offset: self.trailer.footer_offset,
                        message: format!("row {row} requested, the pack has {}", self.trailer.rows),
                    });
                }
                self.places_from(row / GROUP * GROUP)?
            }
        };
        let mut place = places.next_place()?;
        while places.c.row <= row {
            place = places.next_place()?;
        }
        Ok((place, places.c))
    }

    /// The walk [`Places::cursor`] stopped at, of this pack, resumed.
    fn places_at(&self, c: Cursor) -> Places<'a> {
        let t = &self.trailer;
        let lengths_at = t.lengths() as usize;
        Places {
            pack: *self,
            lengths: &self.bytes[lengths_at..lengths_at + t.lengths_len as usize],
            lengths_at: lengths_at as u64,
            c,
        }
    }
}

/// Where a walk over a v3 pack's rows is ([`V3Pack::place_after`]): plain data, kept
/// between reads by a reader that holds the pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pos: usize,
    row: u32,
    first_of_group: bool,
    /// Block and offset where the next row's bytes go, if they fit.
    residue: (u32, u32),
    header: (u32, u32),
    /// The number the next addition row has in the additions table.
    addition: u32,
    /// Uncompressed length of the current residue and header blocks, once looked up.
    residue_end: Option<u32>,
    header_end: Option<u32>,
}

/// The places of consecutive rows of a v3 pack (from [`V3Pack::places_from`]).
pub struct Places<'a> {
    pack: V3Pack<'a>,
    lengths: &'a [u8],
    lengths_at: u64,
    c: Cursor,
}

impl Places<'_> {
    /// The next row's place (an error past the last row, or where the tables disagree
    /// with the blocks' sizes).
    pub fn next_place(&mut self) -> Result<Place, Error> {
        let t = *self.pack.trailer();
        if self.c.row >= t.rows {
            return Err(Error::Corrupt {
                offset: t.footer_offset,
                message: format!("row {} requested, the pack has {}", self.c.row, t.rows),
            });
        }
        if self.c.row.is_multiple_of(GROUP) && !self.c.first_of_group {
            // Each group starts where its row says (the walk so far must agree, which
            // `verify` checks through the footer CRC).
            *self = self.pack.places_from(self.c.row)?;
        }
        self.c.first_of_group = false;
        let base = self.lengths_at;
        let residue_len = get_varint(self.lengths, &mut self.c.pos, base, "residue length")?;
        let header_len = get_varint(self.lengths, &mut self.c.pos, base, "item length")?;
        let (rb, ro, addition) = if residue_len == 0 {
            // No residues to place: the row counts as the block the next residues go in
            // (the last one, if that is past the end).
            let block = self.c.residue.0.min(t.residue_blocks.saturating_sub(1));
            // A damaged group row may start anywhere: `addition_hash` checks the number.
            let number = self.c.addition;
            self.c.addition = number.saturating_add(1);
            (block, 0, Some(number))
        } else {
            let (b, o) = Self::advance(
                &self.pack,
                &mut self.c.residue,
                &mut self.c.residue_end,
                residue_len,
                0..t.residue_blocks,
                self.c.row,
            )?;
            (b, o, None)
        };
        let (hb, ho) = Self::advance(
            &self.pack,
            &mut self.c.header,
            &mut self.c.header_end,
            header_len,
            t.residue_blocks..t.residue_blocks + t.header_blocks,
            self.c.row,
        )?;
        self.c.row += 1;
        Ok(Place {
            residue_block: rb,
            residue_offset: ro,
            residue_len: residue_len as u32,
            header_block: hb,
            header_offset: ho,
            header_len: header_len as u32,
            addition,
        })
    }

    /// Places `len` bytes at `at` (or at the start of the next block if they do not fit
    /// what is left of the current one) and moves `at` past them.
    fn advance(
        pack: &V3Pack<'_>,
        at: &mut (u32, u32),
        end: &mut Option<u32>,
        len: u64,
        blocks: std::ops::Range<u32>,
        row: u32,
    ) -> Result<(u32, u32), Error> {
        let size = |b: u32| -> Result<u32, Error> {
            if !blocks.contains(&b) {
                return Err(Error::Corrupt {
                    offset: pack.trailer.footer_offset,
                    message: format!(
                        "row {row} lies in block {b}, outside its stream's blocks {blocks:?}"
                    ),
                });
            }
            Ok(pack.block_info(b)?.uncompressed_len)
        };
        let current = match *end {
            Some(e) => e,
            None => size(at.0)?,
        };
        if at.1 as u64 + len > current as u64 {
            at.0 = at.0.saturating_add(1);
            at.1 = 0;
            let next = size(at.0)?;
            if len > next as u64 {
                return Err(Error::Corrupt {
                    offset: pack.trailer.footer_offset,
                    message: format!(
                        "row {row} has {len} bytes, more than block {} holds ({next})",
                        at.0
                    ),
                });
            }
            *end = Some(next);
        } else {
            *end = Some(current);
        }
        let place = *at;
        at.1 += len as u32;
        Ok(place)
    }
}

impl<'a> V3Pack<'a> {
    /// The row at `place` as an entry, from its decompressed residue block (not read, and
    /// may be empty, for an addition row) and header block and the pack's sources. The
    /// entry's hash is the residues' SHA-256, or an addition row's stored one; with
    /// `expected`, it must be that ([`residues_at`](Self::residues_at)).
    pub fn entry_at<'b>(
        &self,
        place: &Place,
        residue_block: &'b [u8],
        header_block: &'b [u8],
        sources: &'b [String],
        expected: Option<&SequenceHash>,
    ) -> Result<EntryRef<'b>, Error> {
        let (hash, residues) = self.residues_at(place, residue_block, expected)?;
        let item = slice_of(
            header_block,
            place.header_offset,
            place.header_len,
            "an item",
        )?;
        Ok(EntryRef::from_item(
            hash,
            residues,
            item,
            sources,
            place.header_offset as u64,
        ))
    }

    /// The key and residues of the row at `place` (empty for an addition row, whose
    /// residue block is not read), from its decompressed residue block. With `expected`,
    /// the key must be that: one that shares its first [`KEY_PREFIX`] bytes is
    /// [`Error::OtherSequence`], any other is damage.
    pub fn residues_at<'b>(
        &self,
        place: &Place,
        residue_block: &'b [u8],
        expected: Option<&SequenceHash>,
    ) -> Result<(SequenceHash, &'b [u8]), Error> {
        let (residues, hash) = match place.addition {
            Some(i) => (&[][..], self.addition_hash(i)?),
            None => {
                let r = slice_of(
                    residue_block,
                    place.residue_offset,
                    place.residue_len,
                    "residues",
                )?;
                (r, SequenceHash::of_residues(r))
            }
        };
        match expected {
            Some(expected) if hash != *expected => {
                if hash.0[..KEY_PREFIX] == expected.0[..KEY_PREFIX] {
                    return Err(Error::OtherSequence {
                        offset: place.residue_offset as u64,
                        found: hash.to_string(),
                        wanted: expected.to_string(),
                    });
                }
                Err(Error::Corrupt {
                    offset: place.residue_offset as u64,
                    message: match place.addition {
                        None => format!(
                            "the residues at offset {} of block {} are sequence {hash}, not {expected}",
                            place.residue_offset, place.residue_block
                        ),
                        Some(i) => format!("addition row {i} adds to sequence {hash}, not {expected}"),
                    },
                })
            }
            _ => Ok((hash, residues)),
        }
    }
}

/// The `len` bytes at `offset` of a decompressed block: a row's residues or item.
fn slice_of<'b>(block: &'b [u8], offset: u32, len: u32, what: &str) -> Result<&'b [u8], Error> {
    block
        .get(offset as usize..)
        .and_then(|b| b.get(..len as usize))
        .ok_or_else(|| Error::Corrupt {
            offset: offset as u64,
            message: format!(
                "{what} of {len} bytes at {offset} lie outside their block of {} bytes",
                block.len()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key a row is pushed with: its residues', or for an addition row one made up
    /// from its number.
    fn key(i: usize, residues: &[u8]) -> SequenceHash {
        if residues.is_empty() {
            SequenceHash::of_residues(format!("addition {i}").as_bytes())
        } else {
            SequenceHash::of_residues(residues)
        }
    }

    /// Rows as pushed: residues (empty for an addition row) and representations.
    type Rows = Vec<(Vec<u8>, Vec<Representation>)>;

    fn build(rows: &Rows, options: Options) -> Vec<u8> {
        let mut enc = V3PackEncoder::new(Vec::new(), 9, options).unwrap();
        for (i, (r, reps)) in rows.iter().enumerate() {
            assert_eq!(enc.push(&key(i, r), r, reps).unwrap().0, i as u32);
        }
        enc.finish().unwrap().0
    }

    fn read_all(file: &[u8]) -> Result<Rows, Error> {
        let pack = V3Pack::parse(file)?;
        let sources = pack.sources()?;
        let mut dec = BlockDecoder::new();
        let (mut rb, mut hb) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        for row in 0..pack.trailer().rows {
            let place = pack.place(row)?;
            if place.addition.is_none() {
                pack.read_block(place.residue_block, &mut dec, &mut rb)?;
            }
            pack.read_block(place.header_block, &mut dec, &mut hb)?;
            let e = pack.entry_at(&place, &rb, &hb, &sources, None)?;
            if e.hash != key(row as usize, e.sequence) {
                return Err(Error::Corrupt {
                    offset: 0,
                    message: format!("row {row}: another hash"),
                });
            }
            out.push((e.sequence.to_vec(), e.representations()?));
        }
        Ok(out)
    }

    fn arb_rows() -> impl Strategy<Value = Rows> {
        let rep = (
            "[ -~]{0,40}",
            prop::sample::select(vec!["a", "bb", "uniprot"]),
        )
            .prop_map(|(h, s)| Representation::new(h, s));
        prop::collection::vec(
            (
                // Empty: an addition row.
                prop::collection::vec(
                    prop::sample::select(b"ACDEFGHIKLMNPQRSTVWY".to_vec()),
                    0..300,
                ),
                prop::collection::vec(rep, 0..4),
            ),
            0..300,
        )
    }

    /// Nucleotide rows: bases with runs of `N` and now and then another letter.
    fn arb_nucleotide_rows() -> impl Strategy<Value = Rows> {
        let piece = prop_oneof![
            8 => prop::collection::vec(prop::sample::select(b"ACGT".to_vec()), 1..200),
            1 => (1usize..50).prop_map(|n| vec![b'N'; n]),
            1 => prop::sample::select(b"RYKMUX".to_vec()).prop_map(|b| vec![b]),
        ];
        let residues = prop::collection::vec(piece, 0..8).prop_map(|p| p.concat());
        let rep = "[ -~]{0,20}".prop_map(|h| Representation::new(h, "nt"));
        prop::collection::vec((residues, prop::collection::vec(rep, 0..2)), 0..200)
    }

    proptest! {
        #[test]
        fn every_row_reads_back_at_any_block_size(
            rows in prop_oneof![arb_rows(), arb_nucleotide_rows()],
            residue_block in 1usize..2000,
            header_block in 1usize..600,
            coded_residues in any::<bool>(),
        ) {
            let file = build(&rows, Options { level: 1, residue_block, header_block, coded_residues });
            prop_assert_eq!(V3Pack::parse(&file).unwrap().codes_residues(), coded_residues);
            prop_assert_eq!(read_all(&file).unwrap(), rows.clone());
            let pack = V3Pack::parse(&file).unwrap();
            pack.verify_footer().unwrap();
            let t = pack.trailer();
            prop_assert_eq!(t.rows as usize, rows.len());
            prop_assert_eq!(t.representations as usize, rows.iter().map(|r| r.1.len()).sum::<usize>());
            prop_assert_eq!(t.residue_bytes as usize, rows.iter().map(|r| r.0.len()).sum::<usize>());
            prop_assert_eq!(pack.counts().sequences as usize, rows.iter().filter(|r| !r.0.is_empty()).count());
            // A walk of every row gives the places the group rows give.
            if !rows.is_empty() {
                let mut walk = pack.places_from(0).unwrap();
                let mut cursor = None;
                for row in 0..t.rows {
                    let place = pack.place(row).unwrap();
                    prop_assert_eq!(walk.next_place().unwrap(), place);
                    // Every third row, as a reader of rows in order asks for them.
                    if row % 3 == 0 {
                        let (after, c) = pack.place_after(cursor, row).unwrap();
                        prop_assert_eq!(after, place);
                        cursor = Some(c);
                    }
                }
                prop_assert!(walk.next_place().is_err());
                prop_assert!(pack.place_after(cursor, t.rows).is_err());
            }
        }

        #[test]
        fn damaged_bytes_are_errors_never_panics(
            rows in arb_rows(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let coded_residues = rows.len() % 2 == 0;
            let mut file = build(&rows, Options { level: 1, residue_block: 700, header_block: 200, coded_residues });
            let i = at.index(file.len());
            file[i] ^= byte | 1;
            // Anything may be reported, nothing may panic; a read that succeeds with
            // damage in the blocks would have failed a CRC, so only footer damage can
            // go unnoticed here (verify_footer catches it).
            if let Ok(read) = read_all(&file) {
                if read != rows {
                    prop_assert!(V3Pack::parse(&file).unwrap().verify_footer().is_err());
                }
            }
        }
    }

    #[test]
    fn sources_are_numbered_once_per_pack() {
        let rows: Vec<_> = (0..200)
            .map(|i| {
                (
                    format!("MK{i}").replace(char::is_numeric, "W").into_bytes(),
                    vec![Representation::new(
                        format!("id{i}"),
                        ["uniprot", "nr"][i % 2],
                    )],
                )
            })
            .collect();
        let file = build(&rows, Options::default());
        let pack = V3Pack::parse(&file).unwrap();
        assert_eq!(pack.sources().unwrap(), ["uniprot", "nr"]);
        assert_eq!(read_all(&file).unwrap(), rows);
    }

    #[test]
    fn a_pack_of_addition_rows_only_reads_back() {
        let rows = vec![(Vec::new(), vec![Representation::new("x", "y")]); 130];
        let file = build(&rows, Options::default());
        assert_eq!(read_all(&file).unwrap(), rows);
        assert_eq!(V3Pack::parse(&file).unwrap().counts().sequences, 0);
    }

    #[test]
    fn a_read_expecting_another_key_tells_another_sequence_from_damage() {
        let rows = vec![(b"MKV".to_vec(), vec![Representation::new("x", "y")])];
        let file = build(&rows, Options::default());
        let pack = V3Pack::parse(&file).unwrap();
        let sources = pack.sources().unwrap();
        let place = pack.place(0).unwrap();
        assert!(pack.place(1).is_err());
        let (mut dec, mut rb, mut hb) = (BlockDecoder::new(), Vec::new(), Vec::new());
        pack.read_block(place.residue_block, &mut dec, &mut rb)
            .unwrap();
        pack.read_block(place.header_block, &mut dec, &mut hb)
            .unwrap();
        let read = |key: &SequenceHash| {
            pack.entry_at(&place, &rb, &hb, &sources, Some(key))
                .map(|e| e.hash)
        };
        // Another key altogether: damage (an index row that names the wrong row).
        let other = SequenceHash::of_residues(b"MKW");
        let err = read(&other).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { .. }) && err.to_string().contains("not"),
            "{err}"
        );
        // The same first bytes: another sequence an index of prefixes led to.
        let mut near = SequenceHash::of_residues(b"MKV");
        assert_eq!(read(&near).unwrap(), near);
        near.0[KEY_PREFIX] ^= 1;
        assert!(matches!(read(&near), Err(Error::OtherSequence { .. })));
        near.0[KEY_PREFIX - 1] ^= 1;
        assert!(matches!(read(&near), Err(Error::Corrupt { .. })));
    }

    /// Everything a reader does with a pack's bytes, as the pack_v3 fuzzer does.
    fn exercise(bytes: &[u8]) {
        let Ok(pack) = V3Pack::parse(bytes) else {
            return;
        };
        let _ = (pack.verify_footer(), pack.counts());
        let Ok(sources) = pack.sources() else {
            return;
        };
        let (mut dec, mut rb, mut hb) = (BlockDecoder::new(), Vec::new(), Vec::new());
        let mut cursor = None;
        for row in 0..pack.trailer().rows.min(4096) {
            let Ok((place, c)) = pack.place_after(cursor, row) else {
                break;
            };
            cursor = Some(c);
            let _ = pack.read_block(place.residue_block, &mut dec, &mut rb);
            if pack
                .read_block(place.header_block, &mut dec, &mut hb)
                .is_ok()
            {
                if let Ok(e) = pack.entry_at(&place, &rb, &hb, &sources, None) {
                    let _ = e.representations();
                }
            }
        }
    }

    #[test]
    fn fuzzer_regressions_decode_without_panicking() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/pack_v3");
        let mut n = 0;
        for item in std::fs::read_dir(dir).unwrap() {
            exercise(&std::fs::read(item.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the regression inputs are committed");
    }

    #[test]
    fn nucleotide_blocks_are_coded_two_bits_a_base_and_others_kept_plain() {
        let mut x = 7u64;
        let mut bases = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"ACGT"[(x >> 62) as usize]
                })
                .collect()
        };
        let nucleotide: Rows = (0..40)
            .map(|i| {
                let mut r = bases(2000);
                r[100..100 + i].fill(b'N');
                (r, vec![Representation::new(format!("chr{i}"), "nt")])
            })
            .collect();
        let options = Options {
            coded_residues: true,
            ..Options::default()
        };
        let coded = build(&nucleotide, options);
        let plain = build(&nucleotide, Options::default());
        assert_eq!(read_all(&coded).unwrap(), nucleotide);
        // Random bases: zstd alone gets about 2.2 bits a base, the coding 2 (and zstd
        // then nothing).
        assert!(
            coded.len() * 100 < plain.len() * 95,
            "{} against {}",
            coded.len(),
            plain.len()
        );
        assert!(coded.len() < 40 * 2000 / 4 + 4000, "{}", coded.len());
        // Protein residues in a coded pack: every block stays plain, one byte longer.
        let protein: Rows = (0..40)
            .map(|i| {
                (
                    b"MKVLAAGICW".repeat(i + 1),
                    vec![Representation::new("p", "s")],
                )
            })
            .collect();
        let file = build(&protein, options);
        assert_eq!(read_all(&file).unwrap(), protein);
    }

    #[test]
    fn damaged_coded_blocks_are_errors() {
        let n = 1000u32;
        let mut coded = Vec::new();
        let residues: Vec<u8> = (0..n)
            .map(|i| {
                if i % 100 == 7 {
                    b'N'
                } else {
                    b"ACGT"[(i % 4) as usize]
                }
            })
            .collect();
        code_residues(&residues, &mut coded);
        assert_eq!(coded[0], CODING_2BIT);
        let mut out = Vec::new();
        decode_residues(&coded, n, 0, &mut out).unwrap();
        assert_eq!(out, residues);
        assert!(
            decode_residues(&coded, n + 1, 0, &mut out).is_err(),
            "another length"
        );
        assert!(
            decode_residues(&coded[..coded.len() - 1], n, 0, &mut out).is_err(),
            "short"
        );
        let mut unknown = coded.clone();
        unknown[0] = 9;
        assert!(
            decode_residues(&unknown, n, 0, &mut out).is_err(),
            "unknown coding"
        );
        assert!(decode_residues(&[], n, 0, &mut out).is_err());
        // A run past the end.
        let mut long_run = vec![CODING_2BIT];
        put_varint(&mut long_run, 8);
        put_varint(&mut long_run, 1);
        put_varint(&mut long_run, 4);
        put_varint(&mut long_run, 9);
        long_run.push(b'N');
        long_run.extend([0, 0]);
        assert!(decode_residues(&long_run, 8, 0, &mut out).is_err());
    }

    #[test]
    fn a_trailer_placing_its_footer_past_the_file_is_refused() {
        let rows = vec![(b"MKV".to_vec(), vec![Representation::new("x", "y")])];
        let mut file = build(&rows, Options::default());
        let at = file.len() - TRAILER_LEN;
        for offset in [u64::MAX, u64::MAX - 100, file.len() as u64 + 1] {
            file[at..at + 8].copy_from_slice(&offset.to_le_bytes());
            assert!(V3Pack::parse(&file).is_err(), "footer at {offset}");
        }
    }

    #[test]
    fn a_truncated_pack_is_refused_at_parse() {
        let rows = vec![(b"MKV".to_vec(), vec![Representation::new("x", "y")])];
        let file = build(&rows, Options::default());
        for cut in [0, 10, file.len() - 1, file.len() - 30] {
            assert!(V3Pack::parse(&file[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn varints_round_trip_and_overlong_ones_are_refused() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(get_varint(&b, &mut pos, 0, "v").unwrap(), v);
            assert_eq!(pos, b.len());
        }
        let mut pos = 0;
        assert!(get_varint(&[0xff; 11], &mut pos, 0, "v").is_err());
        let mut pos = 0;
        assert!(get_varint(&[0x80], &mut pos, 0, "v").is_err());
    }
}
