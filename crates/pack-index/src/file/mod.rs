//! The layout every index kind shares: opening and checking the header, the fan-out, the
//! buckets and their CRCs, the keys and values of a row. Each kind's lookups are in its
//! own module (`location`, `entry`, `alias`); walks over every bucket in `walk.rs`, full
//! checks in `verify.rs`, writing in `write.rs`.

pub(crate) mod verify;
pub(crate) mod walk;
pub(crate) mod write;

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use pack_format::PackId;

use crate::{
    bucket, partition_point, AliasLayout, EntryWidths, Error, IndexCounts, IndexKind,
    ENTRY_KEY_LEN, HEADER_LEN, KEY_LEN, MAGIC, PACKED_VERSION, SMALL_ALIAS_KEY_LEN, TRAILER_LEN,
    TRAILER_MAGIC, VERSION,
};

/// An index over its bytes: a memory map from [`open`], or any `AsRef<[u8]>` in tests.
#[derive(Debug)]
pub struct PackIndex<T> {
    pub(crate) bytes: T,
    pub(crate) kind: IndexKind,
    pub(crate) key_len: usize,
    /// Leading key bytes the fan-out slot implies, not stored (header byte 20).
    pub(crate) implied: usize,
    pub(crate) value_len: usize,
    /// How the values of an entry index hold pack and entry number.
    pub(crate) entry_widths: Option<EntryWidths>,
    pub(crate) bits: u8,
    pub(crate) count: u64,
    pub(crate) pack_count: usize,
    pub(crate) counts: IndexCounts,
    pub(crate) fanout_at: usize,
    pub(crate) crcs_at: usize,
    pub(crate) keys_at: usize,
    pub(crate) locations_at: usize,
    /// How rows are packed in a file of layout version 2 (`None`: version 1, keys and
    /// values in two sections of whole bytes).
    pub(crate) packed: Option<Packed>,
    /// What packed entry values add to the pack id they hold: the smallest covered pack
    /// id (0 in version 1 files).
    pub(crate) pack_base: u32,
}

/// The rows of a file of layout version 2: each row one little-endian integer of
/// `row_len` bytes, its key's bits past the `b` its fan-out slot implies above its value's
/// bits (docs/format.md, "Packed rows").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    pub(crate) row_len: usize,
    /// Key bits a row holds: 8 × key length − fan-out bits.
    pub(crate) suffix_bits: u32,
    /// Value bits: 8 × value length (alias kinds), pack bits + entry bits (entry rows).
    pub(crate) value_bits: u32,
}

impl Packed {
    /// The packing of keys of `key_len` bytes (at most 8) behind `bits` fan-out bits, with
    /// values of `value_bits` (1 to 64); `None` for widths outside those.
    pub(crate) fn new(key_len: usize, bits: u8, value_bits: u32) -> Option<Packed> {
        if key_len > 8 || 8 * key_len < bits as usize || !(1..=64).contains(&value_bits) {
            return None;
        }
        let suffix_bits = 8 * key_len as u32 - bits as u32;
        Some(Packed {
            row_len: (suffix_bits + value_bits).div_ceil(8) as usize,
            suffix_bits,
            value_bits,
        })
    }

    /// The integer of a row's bytes.
    pub(crate) fn word(row: &[u8]) -> u128 {
        let mut b = [0u8; 16];
        b[..row.len()].copy_from_slice(row);
        u128::from_le_bytes(b)
    }

    /// The row's key bits past the implied ones.
    pub(crate) fn suffix(self, word: u128) -> u64 {
        ((word >> self.value_bits) & mask(self.suffix_bits)) as u64
    }

    /// The row's value bits.
    pub(crate) fn value(self, word: u128) -> u64 {
        (word & mask(self.value_bits)) as u64
    }

    /// Whether the row has a bit set above its key and value: damage, or a writer's bug.
    pub(crate) fn has_spare_bits(self, word: u128) -> bool {
        word >> (self.suffix_bits + self.value_bits) != 0
    }

    /// The row of `suffix` (past the implied key bits) and `value`.
    pub(crate) fn pack(self, suffix: u64, value: u64) -> u128 {
        ((suffix as u128 & mask(self.suffix_bits)) << self.value_bits)
            | (value as u128 & mask(self.value_bits))
    }
}

/// The low `bits` bits set.
fn mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// A key's bytes as a row holds them (past those its fan-out slot implies), or a value's,
/// handed out by value: packed rows have no bytes to lend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    buf: [u8; 32],
    len: usize,
}

impl Held {
    pub(crate) fn of(bytes: &[u8]) -> Held {
        let mut buf = [0u8; 32];
        buf[..bytes.len()].copy_from_slice(bytes);
        Held {
            buf,
            len: bytes.len(),
        }
    }
}

impl std::ops::Deref for Held {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Whether the first `bits` bits of `a` and `b` (each at least that long) compare less,
/// equal or greater.
pub(crate) fn cmp_bits(a: &[u8], b: &[u8], bits: usize) -> std::cmp::Ordering {
    let whole = bits / 8;
    match a[..whole].cmp(&b[..whole]) {
        std::cmp::Ordering::Equal if !bits.is_multiple_of(8) => {
            let m = 0xffu8 << (8 - bits % 8);
            (a[whole] & m).cmp(&(b[whole] & m))
        }
        o => o,
    }
}

/// An index whose buckets passed [`PackIndex::check_buckets`].
#[derive(Debug)]
pub struct CheckedIndex<'a, T>(pub(crate) &'a PackIndex<T>);

impl<T> Clone for CheckedIndex<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for CheckedIndex<'_, T> {}

impl<'a, T> CheckedIndex<'a, T> {
    /// The index.
    pub fn index(&self) -> &'a PackIndex<T> {
        self.0
    }
}

/// Maps the index at `path` and checks its header (a read of one page).
pub fn open(path: &Path) -> Result<PackIndex<Mmap>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: index files are written under a temporary name and renamed into place once
    // complete; a published index is never modified, so the mapping stays valid.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
    PackIndex::parse(map)
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("caller checked 4 bytes"))
}

/// The first `N` bytes of `bytes`, zero-padded when it is shorter (a key or value of
/// another kind than the caller reads).
pub(crate) fn leading<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("caller checked 8 bytes"))
}

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// Checks header, trailer magic and that the sections fit the length.
    pub fn parse(bytes: T) -> Result<Self, Error> {
        let b = bytes.as_ref();
        if b.len() < HEADER_LEN + TRAILER_LEN {
            return Err(Error::NotAnIndex(format!("{} bytes is too short", b.len())));
        }
        if &b[..4] != MAGIC {
            return Err(Error::NotAnIndex("magic SQIX missing".into()));
        }
        if b[4] != VERSION && b[4] != PACKED_VERSION {
            return Err(Error::NotAnIndex(format!(
                "version {} is not supported",
                b[4]
            )));
        }
        let kind = IndexKind::from_byte(b[5])
            .ok_or_else(|| Error::NotAnIndex(format!("unknown index kind {}", b[5])))?;
        // Byte 60: the value length of alias and entry indexes (0: the kind's).
        let value_len = match b[60] {
            v if v != 0 && kind.states_value_len() => v as usize,
            _ => kind.value_len(),
        };
        // Bytes 61 and 62: an entry index's pack and entry bits (both 0 in files of
        // earlier builds); an alias index's when its rows name entries (packed only).
        let names_entries = kind.is_alias() && b[61..63] != [0, 0];
        let entry_widths = (kind == IndexKind::Entries || names_entries)
            .then(|| EntryWidths::from_header(b[60], b[61], b[62]))
            .flatten();
        let reserved_ok = match kind {
            IndexKind::Entries => b[63] == 0,
            _ if names_entries => b[63] == 0 && b[4] == PACKED_VERSION,
            _ if kind.states_value_len() => b[61..64] == [0, 0, 0],
            _ => le_u32(b, 60) == 0,
        };
        let key_len = if kind.is_alias() || kind == IndexKind::Entries {
            b[6] as usize
        } else {
            kind.key_len()
        };
        // Byte 20: the key bytes each row leaves to its fan-out slot (0 in files of
        // builds before 2026-12-02, and in location indexes).
        let implied = b[20] as usize;
        let implied_ok = implied <= b[7] as usize / 8 && implied < key_len.max(1);
        // Version 2: rows packed; kinds of short keys only, the fan-out implying its bits.
        let packed = if b[4] == PACKED_VERSION {
            let value_bits = match entry_widths {
                Some(w) if !w.is_legacy() => w.pack_bits as u32 + w.entry_bits as u32,
                Some(_) => 0,
                None => 8 * value_len as u32,
            };
            match Packed::new(key_len, b[7], value_bits) {
                Some(p) if implied == 0 && !kind.has_locations() => Some(p),
                _ => {
                    return Err(Error::Corrupt {
                        offset: 4,
                        message: format!(
                            "packed rows of {key_len}-byte keys, {} fan-out bits, {value_bits} \
                             value bits, {implied} implied bytes: not a packed layout",
                            b[7]
                        ),
                    })
                }
            }
        } else {
            None
        };
        let widths_ok = if names_entries {
            (SMALL_ALIAS_KEY_LEN..=kind.key_len()).contains(&key_len) && entry_widths.is_some()
        } else if kind.is_alias() {
            AliasLayout { key_len, value_len }.fits(kind)
        } else if kind == IndexKind::Entries {
            (key_len == kind.key_len() || key_len == ENTRY_KEY_LEN) && entry_widths.is_some()
        } else {
            key_len == kind.key_len() && value_len == kind.value_len()
        };
        if !reserved_ok
            || !widths_ok
            || !implied_ok
            || b[7] > 24
            || b[21..24] != [0, 0, 0]
            || (kind != IndexKind::Pack && le_u32(b, 56) != 0)
        {
            return Err(Error::Corrupt {
                offset: 6,
                message: format!(
                    "key length {} / fan-out bits {} / implied key bytes {} / value widths {:?} / \
                     reserved bytes invalid",
                    b[6],
                    b[7],
                    b[20],
                    &b[60..64]
                ),
            });
        }
        if &b[b.len() - 8..] != TRAILER_MAGIC {
            return Err(Error::Corrupt {
                offset: (b.len() - 8) as u64,
                message: "trailer magic SQIXEND1 missing: the file is truncated".into(),
            });
        }
        let bits = b[7];
        let count = le_u64(b, 8);
        let pack_count = le_u32(b, 16) as usize;
        let fanout_at = HEADER_LEN + (pack_count + pack_count % 2) * 4;
        let crcs_at = fanout_at + (8usize << bits);
        let keys_at = crcs_at + (4usize << bits);
        let stored = key_len - implied;
        let row_len = packed.map_or(stored + value_len, |p| p.row_len);
        let expected = (count as u128) * row_len as u128 + keys_at as u128 + TRAILER_LEN as u128;
        if expected != b.len() as u128 {
            return Err(Error::Corrupt {
                offset: 8,
                message: format!(
                    "header says {count} entries and {pack_count} packs: {expected} bytes, the file has {}",
                    b.len()
                ),
            });
        }
        let locations_at = match packed {
            Some(_) => keys_at,
            None => keys_at + count as usize * stored,
        };
        let pack_base = match (packed, entry_widths) {
            (Some(_), Some(_)) if pack_count > 0 => le_u32(b, HEADER_LEN),
            _ => 0,
        };
        let counts = IndexCounts {
            sequences: le_u64(b, 24),
            representations: le_u64(b, 32),
            residue_bytes: le_u64(b, 40),
            uncompressed_bytes: le_u64(b, 48),
        };
        Ok(PackIndex {
            bytes,
            kind,
            key_len,
            implied,
            value_len,
            entry_widths,
            bits,
            count,
            pack_count,
            counts,
            fanout_at,
            crcs_at,
            keys_at,
            locations_at,
            packed,
            pack_base,
        })
    }

    /// Pack or multi-pack index.
    pub fn kind(&self) -> IndexKind {
        self.kind
    }

    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether the index has no rows.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Totals over the covered packs.
    pub fn counts(&self) -> IndexCounts {
        self.counts
    }

    /// The packs the index covers.
    pub fn packs(&self) -> Vec<PackId> {
        let b = self.bytes.as_ref();
        (0..self.pack_count)
            .map(|i| le_u32(b, HEADER_LEN + 4 * i))
            .collect()
    }

    pub(crate) fn fanout(&self, slot: usize) -> u64 {
        le_u64(self.bytes.as_ref(), self.fanout_at + 8 * slot)
    }

    /// Bytes of a key as stored: past the leading ones its fan-out slot implies.
    pub(crate) fn stored_len(&self) -> usize {
        self.key_len - self.implied
    }

    /// The stored bytes of row `i`'s key (`i < len()`): its key past the bytes its fan-out
    /// slot implies (packed rows: past the bits, shifted to the first bit, the last byte
    /// zero-padded). Rows of one bucket compare by them as by their whole keys.
    pub(crate) fn stored_key(&self, i: u64) -> Held {
        match self.packed {
            None => {
                let n = self.stored_len();
                let at = self.keys_at + i as usize * n;
                Held::of(&self.bytes.as_ref()[at..at + n])
            }
            Some(p) => {
                let s = p.suffix_bits;
                let left = match s {
                    0 => 0,
                    _ => p.suffix(self.word(i)) << (64 - s),
                };
                Held::of(&left.to_be_bytes()[..s.div_ceil(8) as usize])
            }
        }
    }

    /// Row `i`'s integer (`i < len()`) in a file of packed rows.
    pub(crate) fn word(&self, i: u64) -> u128 {
        let n = self.packed.map_or(0, |p| p.row_len);
        let at = self.keys_at + i as usize * n;
        Packed::word(&self.bytes.as_ref()[at..at + n])
    }

    /// Byte offset of row `i`'s key in the file (for messages).
    pub(crate) fn row_offset(&self, i: u64) -> u64 {
        let n = self.packed.map_or(self.stored_len(), |p| p.row_len);
        self.keys_at as u64 + i * n as u64
    }

    /// Whether reading a row's key needs its fan-out slot: some of its leading bytes (or,
    /// packed, bits) are the slot's.
    pub(crate) fn needs_slot(&self) -> bool {
        self.implied > 0 || (self.packed.is_some() && self.bits > 0)
    }

    /// Row `i`'s key in fan-out slot `slot`: its first [`key_len`](Self::key_len) bytes,
    /// the rest zero.
    pub(crate) fn key_in(&self, i: u64, slot: usize) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        if let Some(p) = self.packed {
            // b + suffix bits = 8 × key length <= 64 (the slot is 0 when b is).
            let slot_bits = (slot as u64).checked_shl(p.suffix_bits).unwrap_or(0);
            let whole = slot_bits | p.suffix(self.word(i));
            let left = whole << (64 - 8 * self.key_len as u32);
            k[..self.key_len].copy_from_slice(&left.to_be_bytes()[..self.key_len]);
            return k;
        }
        if self.implied > 0 {
            // implied <= bits / 8, so bits >= 8 and the slot fills those bytes.
            let top = ((slot as u32) << (32 - self.bits as u32)).to_be_bytes();
            k[..self.implied].copy_from_slice(&top[..self.implied]);
        }
        k[self.implied..self.key_len].copy_from_slice(&self.stored_key(i));
        k
    }

    /// The fan-out slot of row `i` (`i < len()`): a binary search over the fan-out, or 0
    /// where keys are stored whole (no slot is needed to read them).
    pub(crate) fn slot_of(&self, i: u64) -> usize {
        if !self.needs_slot() {
            return 0;
        }
        let slots = 1usize << self.bits;
        partition_point(0, slots as u64, |s| self.fanout(s as usize) <= i).min(slots as u64 - 1)
            as usize
    }

    /// Rows `start..end` of fan-out slot `slot` as the fan-out gives them, unchecked
    /// ([`bucket`](Self::bucket) checks them; readers of an index whose buckets were
    /// checked take them as they are).
    pub(crate) fn slot_rows(&self, slot: usize) -> (u64, u64) {
        let start = if slot == 0 { 0 } else { self.fanout(slot - 1) };
        (start, self.fanout(slot))
    }

    /// Row `i`'s key (`i < len()`): its first [`key_len`](Self::key_len) bytes, the rest
    /// zero.
    pub fn key_bytes(&self, i: u64) -> [u8; KEY_LEN] {
        self.key_in(i, self.slot_of(i))
    }

    /// Value bytes of row `i` (`i < len()`): a location row, a SHA-256 prefix, or a pack
    /// and entry number in the file's [`EntryWidths`] (version 1 only). A packed row's value
    /// is a SHA-256 prefix here, given back big-endian as version 1 holds it; packed entry
    /// values are read by [`entry_row_in`](Self::entry_row_in).
    pub(crate) fn value_bytes(&self, i: u64) -> Held {
        match self.packed {
            None => {
                let at = self.locations_at + i as usize * self.value_len;
                Held::of(&self.bytes.as_ref()[at..at + self.value_len])
            }
            Some(p) => {
                let v = p.value(self.word(i));
                Held::of(&v.to_be_bytes()[8 - self.value_len.min(8)..])
            }
        }
    }

    /// Rows `start..end` of fan-out slot `slot`, checked against the slot's CRC.
    pub(crate) fn bucket(&self, slot: usize) -> Result<(u64, u64), Error> {
        let (start, end) = self.slot_rows(slot);
        let corrupt = |message: String| Error::Corrupt {
            offset: (self.fanout_at + 8 * slot) as u64,
            message,
        };
        if start > end || end > self.count {
            return Err(corrupt(format!(
                "fan-out slot {slot} spans rows {start}..{end} of {}",
                self.count
            )));
        }
        let b = self.bytes.as_ref();
        let mut h = crc32fast::Hasher::new();
        h.update(&start.to_le_bytes());
        h.update(&end.to_le_bytes());
        if let Some(p) = self.packed {
            // What decodes the values: widths, and the first covered pack id.
            h.update(&b[60..64]);
            let first = if self.pack_count > 0 {
                &b[HEADER_LEN..HEADER_LEN + 4]
            } else {
                &[0u8; 4][..]
            };
            h.update(first);
            let n = p.row_len;
            h.update(&b[self.keys_at + start as usize * n..self.keys_at + end as usize * n]);
        } else {
            let n = self.stored_len();
            h.update(&b[self.keys_at + start as usize * n..self.keys_at + end as usize * n]);
            h.update(
                &b[self.locations_at + start as usize * self.value_len
                    ..self.locations_at + end as usize * self.value_len],
            );
        }
        let computed = h.finalize();
        let stored = le_u32(b, self.crcs_at + 4 * slot);
        if computed != stored {
            return Err(corrupt(format!(
                "bucket {slot} (rows {start}..{end}) fails its checksum: stored {stored:08x}, computed {computed:08x}"
            )));
        }
        Ok((start, end))
    }

    /// Bytes of each key the file holds, with those its fan-out implies: 32 for location
    /// rows, 6 (or 8, written by earlier builds) for entry rows, 6 to the whole key for
    /// alias rows.
    pub fn key_len(&self) -> usize {
        self.key_len
    }

    /// Leading bytes of each key that the file leaves to its fan-out slot (header byte
    /// 20): `fan-out bits / 8` in alias and entry indexes this version writes, 0 in
    /// location indexes and files of earlier builds.
    pub fn implied_key_bytes(&self) -> usize {
        self.implied
    }

    pub(crate) fn wrong_kind(&self, what: &str) -> Error {
        Error::NotAnIndex(format!("{what} in a {:?} index", self.kind))
    }

    /// The rows whose key starts with `key` (at most [`KEY_LEN`] bytes), found in its
    /// bucket, which is checked against its CRC.
    pub(crate) fn matching(&self, key: &[u8]) -> Result<Matching<'_, T>, Error> {
        let slot = bucket(key, self.bits);
        let (start, end) = self.bucket(slot)?;
        // The bucket's rows share the bytes (packed: bits) its slot implies, which `key`
        // has too (it has at least 4 bytes, more than any index implies): the rest decides.
        let mut k = [0u8; KEY_LEN];
        let bits = match self.packed {
            None => {
                let rest = &key[self.implied.min(key.len())..];
                k[..rest.len()].copy_from_slice(rest);
                8 * rest.len()
            }
            Some(_) => {
                // Keys of packed rows have at most 8 bytes; the key's bits past the slot's,
                // shifted to the first bit, as `stored_key` gives a row's.
                let n = key.len().min(self.key_len);
                let mut word = [0u8; 8];
                word[..n].copy_from_slice(&key[..n]);
                let bits = self.bits as u32;
                let left = match bits {
                    64.. => 0,
                    _ => u64::from_be_bytes(word) << bits,
                };
                k[..8].copy_from_slice(&left.to_be_bytes());
                8 * n - bits as usize
            }
        };
        let row = partition_point(start, end, |i| {
            cmp_bits(&self.stored_key(i), &k, bits).is_lt()
        });
        Ok(Matching {
            index: self,
            key: k,
            bits,
            slot,
            row,
            end,
        })
    }

    /// Fan-out slots (2^b): [`for_each_run_in`](Self::for_each_run_in) takes a range of
    /// them.
    pub fn fanout_slots(&self) -> usize {
        1usize << self.bits
    }
}

/// The rows of one bucket whose key starts with a given key (all of it: an exact match
/// when the given key has the index's key length), in order.
pub(crate) struct Matching<'a, T> {
    pub(crate) index: &'a PackIndex<T>,
    /// The given key past the bytes (packed: bits) the bucket implies, of which the first
    /// `bits` bits are compared.
    pub(crate) key: [u8; KEY_LEN],
    pub(crate) bits: usize,
    pub(crate) slot: usize,
    pub(crate) row: u64,
    pub(crate) end: u64,
}

impl<T: AsRef<[u8]>> Matching<'_, T> {
    pub(crate) fn next_row(&mut self) -> Option<u64> {
        let matches = |i| cmp_bits(&self.index.stored_key(i), &self.key, self.bits).is_eq();
        (self.row < self.end && matches(self.row)).then(|| {
            self.row += 1;
            self.row - 1
        })
    }
}
