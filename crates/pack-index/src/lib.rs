//! Hash → location indexes of SEQUOIA stores: sorted, fanned-out, memory-mapped files, one
//! per pack (`pack_NNNN.idx`) and one over many packs (`multi-pack-index`), and alias
//! indexes (MD5, `sha512t24u`, accession → an entry of the sequence, or its SHA-256
//! prefix) in the same layout, so that one reader serves all of them.
//!
//! ```text
//! header 64 bytes | pack ids u32 × n (padded to 8) | fan-out u64 × 2^bits
//! | bucket CRC-32 u32 × 2^bits | keys [key_len - implied] × count (sorted; alias and
//!   entry indexes leave out the leading bytes their fan-out slot gives)
//! | values × count: locations (pack, block, offset, length) u32 × 4, a SHA-256
//!   prefix [4] or [5] (alias kinds, by the store's size; [8] in files of builds
//!   before 2026-12-01), or
//!   (pack, entry number) packed into one integer of the fewest bytes that hold
//!   the file's largest of each (entry rows, [`EntryWidths`])
//! | CRC-32 u32 | 0 u32 | "SQIXEND1"
//! ```
//! Entry and alias indexes of the widths this version writes are of layout version 2
//! ([`PACKED_VERSION`]): the keys and values sections are one section of rows, each row one
//! integer of the key's bits past the fan-out's and the value's bits, in the fewest bytes
//! that hold them.
//!
//! Opening reads the header only; a lookup reads one fan-out slot, the keys and locations
//! of one bucket (8 to 64 rows on average) and checks them against the bucket's CRC.
//!
//! The code follows the file kinds: `file/` is the layout every kind shares (opening in
//! `mod.rs`, walks in `walk.rs`, full checks in `verify.rs`, writing in `write.rs`), and
//! `location/`, `entry/` and `alias/` each hold their kind's lookups (`access.rs`) and
//! writers (`write.rs`). [`PackIndex`] is the file, with what every kind has (header,
//! counts, walks, `verify`); its kind's lookups are on the view it gives:
//! [`PackIndex::as_locations`] ([`LocationIndex`]), [`PackIndex::as_entries`]
//! ([`EntryIndex`]) or [`PackIndex::as_alias`] ([`AliasIndex`]), each an error for another
//! kind.
//!
//! # Examples
//! ```
//! use pack_index::{write_index, IndexCounts, IndexEntry, IndexKind, PackIndex};
//! use pack_format::{PackId, PackLocation, SequenceHash};
//! let h = SequenceHash::of_residues(b"MKV");
//! let loc = PackLocation { pack: 3, block: 0, offset: 16, length: 80 };
//! let mut entries = vec![IndexEntry { hash: h, location: loc }];
//! let bytes = write_index(Vec::new(), IndexKind::Pack, &[3], IndexCounts::default(), None, &mut entries).unwrap();
//! let index = PackIndex::parse(bytes).unwrap();
//! assert_eq!(index.as_locations().unwrap().lookup(&h).unwrap().collect::<Vec<_>>(), vec![loc]);
//! ```
#![warn(missing_docs)]

mod alias;
mod entry;
mod file;
mod location;
#[cfg(test)]
mod tests;

pub use alias::access::{AliasIndex, AliasLookup};
pub use alias::write::{
    write_alias_index, write_merged_alias_entry_index, write_merged_alias_index,
    write_sorted_alias_index,
};
pub use entry::access::{EntryIndex, EntryLookup};
pub use entry::write::{write_entry_index, write_merged_entry_index, write_sorted_entry_index};
pub use file::{open, CheckedIndex, PackIndex};
pub use location::access::{LocationIndex, Lookup, PrefixLookup};
pub use location::write::{write_index, write_merged_index};

use pack_format::{PackId, PackLocation, SequenceHash};

/// First bytes of every index file.
pub const MAGIC: &[u8; 4] = b"SQIX";
/// Last bytes of every index file.
pub const TRAILER_MAGIC: &[u8; 8] = b"SQIXEND1";
/// Layout version of files whose keys and values lie in two sections of whole bytes:
/// location indexes, and files of the widths of earlier builds.
pub const VERSION: u8 = 1;
/// Layout version of files whose rows are packed integers (docs/format.md, "Packed
/// rows"): entry and alias indexes of the widths this version writes.
pub const PACKED_VERSION: u8 = 2;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 16;
/// Bytes of a key of a location index (SHA-256).
pub const KEY_LEN: usize = 32;
/// Bytes of a location row.
pub const LOCATION_LEN: usize = 16;
/// Bytes of the longest alias key (a `sha512t24u` digest): the size of the key buffer of
/// an [`AliasLookup`].
pub const ALIAS_KEY_MAX: usize = 24;
/// Bytes of the SHA-256 prefix an alias row holds: the location index finds the full
/// hashes with it ([`LocationIndex::lookup_prefix`]).
pub const PREFIX_LEN: usize = 8;

/// The first [`PREFIX_LEN`] bytes of a SHA-256.
pub type HashPrefix = [u8; PREFIX_LEN];

/// Bytes of an alias key as written for a store of [`SMALL_STORE`] sequences or more
/// ([`SMALL_ALIAS_KEY_LEN`] below), and the width of [`AliasKey`]: the first bytes of an
/// MD5 or `sha512t24u` digest (a lookup checks the digest of the residues it finds) or of
/// an accession key (a lookup checks the headers). Files of earlier builds hold 8 bytes
/// (2026-12-01) or whole keys; they are still read.
pub const ALIAS_KEY_LEN: usize = 6;
/// Bytes of an alias key as written for a store of fewer than [`SMALL_STORE`] sequences
/// ([`AliasLayout::for_store`]): a lookup meets the rows of another key under the same 4
/// bytes with a chance of (rows / 2^32), which costs one more row lookup and entry read,
/// never a wrong answer.
pub const SMALL_ALIAS_KEY_LEN: usize = 4;
/// Bytes of the SHA-256 prefix an alias row holds as written for a store of
/// [`SMALL_STORE`] sequences or more (4 below): a lookup reads the rows of the location
/// index with that prefix and keeps those that answer to the key.
pub const ALIAS_VALUE_LEN: usize = 5;
/// The sequence count below which an alias index written from nothing holds 4-byte
/// SHA-256 prefixes ([`AliasLayout::for_store`]): 2^24, where a lookup meets another
/// sequence under the same 4 bytes once in 256.
pub const SMALL_STORE: u64 = 1 << 24;

/// Bytes of an [`IndexKind::Entries`] row's value in the narrow rows of 2026-12-01's
/// builds: pack and entry number in 3 bytes each. Still read; this version writes
/// [`EntryWidths::for_max`].
pub const NARROW_ENTRY_VALUE_LEN: usize = 6;
/// Bytes of an [`IndexKind::Entries`] row's key as written: the first 6 bytes of the
/// SHA-256 (a lookup reads the entry table row, which holds the whole hash). Files of
/// earlier builds hold 8; they are read, and the commits onto them keep 8.
pub const ENTRY_KEY_LEN: usize = 6;
/// The bound of pack ids and entry numbers that the narrow entry rows of 2026-12-01's
/// builds hold.
pub const NARROW_ENTRY_LIMIT: u32 = 1 << 24;

/// How the values of an [`IndexKind::Entries`] index hold a pack id and an entry number:
/// one little-endian integer of [`len`](Self::len) bytes, the pack id in its low
/// [`pack_bits`](Self::pack_bits) bits, the entry number in the
/// [`entry_bits`](Self::entry_bits) above them, any bits above both zero.
///
/// # Examples
/// ```
/// use pack_index::EntryWidths;
/// // 4 packs of up to 200,000 entries: 3 bits and 18 bits, 3 bytes a value.
/// let w = EntryWidths::for_max(4, 199_999);
/// assert_eq!((w.len, w.pack_bits, w.entry_bits), (3, 3, 18));
/// assert_eq!(w.decode(&w.encode(4, 199_999)[..w.len]), (4, 199_999));
/// assert!(!w.fits(8, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryWidths {
    /// Bytes of a value (1 to 8).
    pub len: usize,
    /// Bits of the pack id (1 to 32).
    pub pack_bits: u8,
    /// Bits of the entry number (1 to 32).
    pub entry_bits: u8,
}

/// Bits needed to write `x` (at least 1).
pub(crate) fn bits_for(x: u32) -> u8 {
    (32 - x.leading_zeros()).max(1) as u8
}

impl EntryWidths {
    /// The narrowest widths that hold pack ids up to `max_pack` and entry numbers up to
    /// `max_entry`: what this version writes.
    pub fn for_max(max_pack: u32, max_entry: u32) -> EntryWidths {
        Self::for_bits(bits_for(max_pack), bits_for(max_entry))
    }

    /// The narrowest widths of `pack_bits` and `entry_bits` (1 to 32 each).
    pub(crate) fn for_bits(pack_bits: u8, entry_bits: u8) -> EntryWidths {
        EntryWidths {
            len: (pack_bits as usize + entry_bits as usize).div_ceil(8),
            pack_bits,
            entry_bits,
        }
    }

    /// The widths of files that state none (header bytes 61 and 62 zero): `len` 6 (3
    /// bytes each, 2026-12-01) or 8 (4 bytes each, builds before). `None` for others.
    pub fn legacy(len: usize) -> Option<EntryWidths> {
        // Built only for those lengths: 4 * len fits a byte.
        matches!(len, NARROW_ENTRY_VALUE_LEN | 8).then(|| EntryWidths {
            len,
            pack_bits: 4 * len as u8,
            entry_bits: 4 * len as u8,
        })
    }

    /// The widths header bytes 60..63 state (`None` if they are not valid ones): value
    /// length (0: 8), pack bits and entry bits (both 0: [`legacy`](Self::legacy)). Stated
    /// widths are the narrowest for their bits, as [`for_max`](Self::for_max) gives them.
    pub fn from_header(len: u8, pack_bits: u8, entry_bits: u8) -> Option<EntryWidths> {
        let len = if len == 0 { 8 } else { len as usize };
        if pack_bits == 0 && entry_bits == 0 {
            return Self::legacy(len);
        }
        let ok = (1..=32).contains(&pack_bits)
            && (1..=32).contains(&entry_bits)
            && len == (pack_bits as usize + entry_bits as usize).div_ceil(8);
        ok.then_some(EntryWidths {
            len,
            pack_bits,
            entry_bits,
        })
    }

    /// Whether `pack` and `entry` fit these widths.
    pub fn fits(self, pack: u32, entry: u32) -> bool {
        bits_for(pack) <= self.pack_bits && bits_for(entry) <= self.entry_bits
    }

    /// The value of (`pack`, `entry`), in the first [`len`](Self::len) bytes (the rest
    /// zero). The caller checks [`fits`](Self::fits); bits past the widths are dropped.
    pub fn encode(self, pack: u32, entry: u32) -> [u8; 8] {
        let mask = |bits: u8| (1u64 << bits) - 1;
        let x = (pack as u64 & mask(self.pack_bits))
            | ((entry as u64 & mask(self.entry_bits)) << self.pack_bits);
        x.to_le_bytes()
    }

    /// (pack, entry number) of a value of [`len`](Self::len) bytes (bits above both
    /// widths, which [`has_spare_bits`](Self::has_spare_bits) tells of, are not read).
    pub fn decode(self, value: &[u8]) -> (u32, u32) {
        let x = Self::word(value);
        let mask = |bits: u8| (1u64 << bits) - 1;
        (
            (x & mask(self.pack_bits)) as u32,
            ((x >> self.pack_bits) & mask(self.entry_bits)) as u32,
        )
    }

    /// Whether a value has a bit set above both widths: damage, or a writer's bug.
    pub fn has_spare_bits(self, value: &[u8]) -> bool {
        let used = self.pack_bits as u32 + self.entry_bits as u32;
        used < 64 && Self::word(value) >> used != 0
    }

    fn word(value: &[u8]) -> u64 {
        let mut b = [0u8; 8];
        let n = value.len().min(8);
        b[..n].copy_from_slice(&value[..n]);
        u64::from_le_bytes(b)
    }

    /// Whether these are the widths of a file that states none ([`legacy`](Self::legacy)).
    pub fn is_legacy(self) -> bool {
        Self::legacy(self.len) == Some(self)
    }

    /// Header bytes 60..63 of these widths: legacy ones as the builds that wrote them had
    /// them (8 bytes as 0; no bits), others stated.
    pub(crate) fn header(self) -> [u8; 3] {
        match self.len {
            8 if self.is_legacy() => [0, 0, 0],
            len if self.is_legacy() => [len as u8, 0, 0],
            len => [len as u8, self.pack_bits, self.entry_bits],
        }
    }
}

/// The widths of an entry index's rows, for [`write_entry_index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryLayout {
    /// Bytes of a key: [`ENTRY_KEY_LEN`], or 8 as builds before 6-byte keys wrote them.
    pub key_len: usize,
    /// How values hold pack and entry number: `None` for the narrowest that hold the rows,
    /// as this version writes them; [`EntryWidths::legacy`] ones as earlier builds did.
    pub widths: Option<EntryWidths>,
}

impl EntryLayout {
    /// What this version writes: [`ENTRY_KEY_LEN`]-byte keys, the narrowest values.
    pub const CURRENT: EntryLayout = EntryLayout {
        key_len: ENTRY_KEY_LEN,
        widths: None,
    };
}

/// An alias key as written: [`ALIAS_KEY_LEN`] bytes.
pub type AliasKey = [u8; ALIAS_KEY_LEN];

/// The widths of an alias index's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AliasLayout {
    /// Bytes of a key.
    pub key_len: usize,
    /// Bytes of the SHA-256 prefix a row holds (4 to 8).
    pub value_len: usize,
}

impl AliasLayout {
    /// 6-byte keys, 5-byte SHA-256 prefixes: what this version writes for a store of
    /// [`SMALL_STORE`] sequences or more (and every index of 2026-12-01's builds).
    pub const COMPACT: AliasLayout = AliasLayout {
        key_len: ALIAS_KEY_LEN,
        value_len: ALIAS_VALUE_LEN,
    };

    /// [`SMALL_ALIAS_KEY_LEN`]-byte keys, 4-byte SHA-256 prefixes: what this version
    /// writes for a store of fewer than [`SMALL_STORE`] sequences.
    pub const SMALL: AliasLayout = AliasLayout {
        key_len: SMALL_ALIAS_KEY_LEN,
        value_len: 4,
    };

    /// What this version writes from nothing (a new store's first commit, `rebuild-index`)
    /// for a store of `sequences`: [`SMALL`](Self::SMALL) below [`SMALL_STORE`]
    /// sequences, [`COMPACT`](Self::COMPACT) from there. Commits onto an index keep its
    /// layout.
    ///
    /// # Examples
    /// ```
    /// use pack_index::AliasLayout;
    /// assert_eq!(AliasLayout::for_store(435_059), AliasLayout { key_len: 4, value_len: 4 });
    /// assert_eq!(AliasLayout::for_store(1 << 30), AliasLayout::COMPACT);
    /// ```
    pub fn for_store(sequences: u64) -> AliasLayout {
        if sequences < SMALL_STORE {
            Self::SMALL
        } else {
            Self::COMPACT
        }
    }

    /// Whether this version writes these widths into a new file as they are (commits onto
    /// an index of them keep them): keys of [`SMALL_ALIAS_KEY_LEN`] or [`ALIAS_KEY_LEN`]
    /// bytes, SHA-256 prefixes of 4 to 8 bytes. Other widths are read, and cut to the
    /// narrowest of these by the commit onto them.
    pub fn is_written(self) -> bool {
        Self::is_written_key_len(self.key_len) && (4..=PREFIX_LEN).contains(&self.value_len)
    }

    /// Whether this version writes alias keys of `len` bytes: [`SMALL_ALIAS_KEY_LEN`] or
    /// [`ALIAS_KEY_LEN`].
    pub fn is_written_key_len(len: usize) -> bool {
        matches!(len, SMALL_ALIAS_KEY_LEN | ALIAS_KEY_LEN)
    }

    /// The key length this version writes for keys that can hold at most `len` bytes (the
    /// narrowest of the files merged and of a file written from nothing):
    /// [`ALIAS_KEY_LEN`] from there, [`SMALL_ALIAS_KEY_LEN`] below.
    ///
    /// # Examples
    /// ```
    /// use pack_index::AliasLayout;
    /// assert_eq!(AliasLayout::written_key_len(16), 6);
    /// assert_eq!(AliasLayout::written_key_len(5), 4);
    /// ```
    pub fn written_key_len(len: usize) -> usize {
        if len < ALIAS_KEY_LEN {
            SMALL_ALIAS_KEY_LEN
        } else {
            ALIAS_KEY_LEN
        }
    }

    /// What builds before 2026-12-01 wrote: whole digests (16 bytes for MD5, 24 for
    /// `sha512t24u`), 8-byte accession keys, 8-byte SHA-256 prefixes. Still read.
    pub fn legacy(kind: IndexKind) -> AliasLayout {
        AliasLayout {
            key_len: kind.key_len(),
            value_len: PREFIX_LEN,
        }
    }

    /// Whether an alias index of `kind` may have these widths: keys of
    /// [`SMALL_ALIAS_KEY_LEN`] bytes up to the whole key (8-byte keys were written on
    /// 2026-12-01, whole ones before), SHA-256 prefixes of 4 to 8 bytes.
    pub fn fits(self, kind: IndexKind) -> bool {
        kind.is_alias()
            && (SMALL_ALIAS_KEY_LEN..=kind.key_len()).contains(&self.key_len)
            && (4..=PREFIX_LEN).contains(&self.value_len)
    }
}

/// `prefix` with every byte past the first `len` zeroed: the value an alias row of
/// `len`-byte prefixes holds, as a reader gives it back.
pub fn cut_prefix(mut prefix: HashPrefix, len: usize) -> HashPrefix {
    prefix[len.min(PREFIX_LEN)..].fill(0);
    prefix
}

/// `key` with every byte past the first `len` zeroed: the key an alias row of `len`-byte
/// keys holds, as a reader gives it back.
pub fn cut_key(mut key: AliasKey, len: usize) -> AliasKey {
    key[len.min(ALIAS_KEY_LEN)..].fill(0);
    key
}

/// The prefix of `hash` that alias rows hold.
pub fn hash_prefix(hash: &SequenceHash) -> HashPrefix {
    let mut p = [0u8; PREFIX_LEN];
    p.copy_from_slice(&hash.0[..PREFIX_LEN]);
    p
}

/// Which file an index is: location indexes map a SHA-256 to where its entries are,
/// alias indexes map another key to the SHA-256 of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexKind {
    /// The index of one pack.
    Pack = 1,
    /// The index of several packs.
    Multi = 2,
    /// MD5 of the residues (16 bytes) → SHA-256 prefix.
    Md5 = 3,
    /// First 24 bytes of the SHA-512 of the residues (`sha512t24u`, `trunc512`) → SHA-256
    /// prefix.
    Sha512t24u = 4,
    /// First 8 bytes of the SHA-256 of an upper-cased accession → SHA-256 prefix.
    Accession = 5,
    /// Several v2 packs, compactly: SHA-256 prefix → (pack, entry number), the entry
    /// table row of the pack holding the whole hash and the entry's place (a 6-byte key
    /// and a value of [`EntryWidths`], 9 bytes a row on a store of a few packs, instead of
    /// 48).
    Entries = 6,
}

impl IndexKind {
    /// The kind stored as `byte` in a header.
    pub fn from_byte(byte: u8) -> Option<IndexKind> {
        Some(match byte {
            1 => IndexKind::Pack,
            2 => IndexKind::Multi,
            3 => IndexKind::Md5,
            4 => IndexKind::Sha512t24u,
            5 => IndexKind::Accession,
            6 => IndexKind::Entries,
            _ => return None,
        })
    }

    /// Whether rows map a key to a SHA-256 rather than to a location.
    pub fn is_alias(self) -> bool {
        !matches!(
            self,
            IndexKind::Pack | IndexKind::Multi | IndexKind::Entries
        )
    }

    /// Whether rows map a whole SHA-256 to a location row (kinds 1 and 2).
    pub fn has_locations(self) -> bool {
        matches!(self, IndexKind::Pack | IndexKind::Multi)
    }

    /// Bytes of a key: a whole key (for alias kinds the whole digest, which indexes of
    /// builds before 2026-12-01 hold; now they hold [`ALIAS_KEY_LEN`] bytes of it).
    pub fn key_len(self) -> usize {
        match self {
            IndexKind::Pack | IndexKind::Multi => KEY_LEN,
            IndexKind::Md5 => 16,
            IndexKind::Sha512t24u => 24,
            IndexKind::Accession | IndexKind::Entries => PREFIX_LEN,
        }
    }

    /// Whether header byte 60 states the value length (alias kinds and entry rows; 0
    /// there means [`value_len`](Self::value_len), as files of builds before 2026-12-01
    /// have it).
    pub fn states_value_len(self) -> bool {
        self.is_alias() || self == IndexKind::Entries
    }

    /// Bytes of a value: a location row, a SHA-256 prefix for alias kinds (as builds
    /// before 2026-12-01 wrote it; see [`AliasLayout`]), or a pack id and entry number.
    pub fn value_len(self) -> usize {
        if self.has_locations() {
            LOCATION_LEN
        } else {
            8
        }
    }
}

/// Totals over the packs an index covers, so that statistics read headers only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexCounts {
    /// Distinct sequences (entries with residues).
    pub sequences: u64,
    /// Representations.
    pub representations: u64,
    /// Residue bytes.
    pub residue_bytes: u64,
    /// Encoded entry bytes before compression.
    pub uncompressed_bytes: u64,
}

impl IndexCounts {
    /// Sums two counts.
    pub fn add(&mut self, other: &IndexCounts) {
        self.sequences += other.sequences;
        self.representations += other.representations;
        self.residue_bytes += other.residue_bytes;
        self.uncompressed_bytes += other.uncompressed_bytes;
    }
}

/// A pack's own counts (its trailer's, or a writer's) as index totals.
impl From<&pack_format::v2::PackCounts> for IndexCounts {
    fn from(c: &pack_format::v2::PackCounts) -> Self {
        IndexCounts {
            sequences: c.sequences.into(),
            representations: c.representations.into(),
            residue_bytes: c.residue_bytes,
            uncompressed_bytes: c.uncompressed_bytes,
        }
    }
}

/// One row: a hash and where one of its entries lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    /// The key.
    pub hash: SequenceHash,
    /// The entry's place.
    pub location: PackLocation,
}

/// One row of an [`IndexKind::Entries`] index: the first bytes of a SHA-256 and the entry
/// table row of a v2 pack that holds the whole hash and where the entry is. Rows sort by
/// prefix, then pack, then entry number (the order the entries were written in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryRow {
    /// The first [`PREFIX_LEN`] bytes of the entry's SHA-256.
    pub prefix: HashPrefix,
    /// The pack.
    pub pack: PackId,
    /// The row of the pack's entry table (its entries in write order, from 0).
    pub entry: u32,
}

/// An index file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or mapping the file failed.
    #[error("cannot read index {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing failed.
    #[error("cannot write index: {0}")]
    Write(#[from] std::io::Error),
    /// Not an index file, or a version this build does not read.
    #[error("not a SEQUOIA index ({0})")]
    NotAnIndex(String),
    /// Values that cannot be right.
    #[error("corrupt index at byte {offset}: {message}")]
    Corrupt {
        /// Byte offset of the bad structure.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The trailer checksum does not match.
    #[error("index checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// Stored value.
        stored: u32,
        /// Computed value.
        computed: u32,
    },
}

/// Fan-out width for `count` rows whose size does not depend on it (location rows): the
/// fewest bits that leave at most 64 rows a bucket (32 to 64 on average), at most 24.
///
/// # Examples
/// ```
/// use pack_index::fanout_bits;
/// assert_eq!(fanout_bits(435_059), 13); // 53 rows a bucket
/// assert_eq!(fanout_bits(64), 0);
/// ```
pub fn fanout_bits(count: u64) -> u8 {
    let mut bits = 0u8;
    while bits < 24 && (count >> bits) > 64 {
        bits += 1;
    }
    bits
}

/// Fan-out width for `count` rows that take `row_len(b)` bytes each behind `b` fan-out
/// bits (a row leaves the bits, or whole bytes, its slot implies): of the widths from
/// [`fanout_bits`] to two more (64 down to 8 rows a bucket on average, at most 24 bits),
/// the one that makes the file smallest, a slot costing 12 bytes (fan-out and bucket
/// CRC); the fewest bits of equal ones.
///
/// # Examples
/// ```
/// use pack_index::fanout_bits_for;
/// // Packed entry rows of protein_all repacked: 48 key bits and 22 value bits, less the
/// // fan-out's. 13 bits leave 57 bits (8 bytes a row), 14 leave 56 (7 bytes).
/// assert_eq!(fanout_bits_for(435_059, |b| (48 - b as u64 + 22).div_ceil(8)), 14);
/// // Rows whose size does not change: the fewest bits.
/// assert_eq!(fanout_bits_for(435_059, |_| 7), 13);
/// ```
pub fn fanout_bits_for(count: u64, row_len: impl Fn(u8) -> u64) -> u8 {
    let least = fanout_bits(count);
    (least..=(least + 2).min(24))
        .min_by_key(|&b| (12u64 << b) + count.saturating_mul(row_len(b)))
        .unwrap_or(least)
}

/// The first position in `lo..hi` where `below` turns false (`hi` if it never does), for
/// a `below` that is true up to some position and false after it.
pub(crate) fn partition_point(mut lo: u64, mut hi: u64, below: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Bucket of a key under `bits` of fan-out: its leading `bits` bits.
pub(crate) fn bucket(key: &[u8], bits: u8) -> usize {
    if bits == 0 {
        return 0;
    }
    let top = u32::from_be_bytes(key[..4].try_into().expect("every key kind has >= 16 bytes"));
    (top >> (32 - bits as u32)) as usize
}
