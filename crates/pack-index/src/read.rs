//! Opening an index and looking hashes up in it.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use pack_format::{PackId, PackLocation, SequenceHash};

use crate::{
    bucket, cut_prefix, partition_point, AliasKey, AliasLayout, EntryRow, EntryWidths, Error,
    HashPrefix, IndexCounts, IndexEntry, IndexKind, ALIAS_KEY_LEN, ENTRY_KEY_LEN, HEADER_LEN,
    KEY_LEN, LOCATION_LEN, MAGIC, PREFIX_LEN, TRAILER_LEN, TRAILER_MAGIC, VERSION,
};

/// An index over its bytes: a memory map from [`open`], or any `AsRef<[u8]>` in tests.
#[derive(Debug)]
pub struct PackIndex<T> {
    bytes: T,
    kind: IndexKind,
    key_len: usize,
    /// Leading key bytes the fan-out slot implies, not stored (header byte 20).
    implied: usize,
    value_len: usize,
    /// How the values of an entry index hold pack and entry number.
    entry_widths: Option<EntryWidths>,
    bits: u8,
    count: u64,
    pack_count: usize,
    counts: IndexCounts,
    fanout_at: usize,
    crcs_at: usize,
    keys_at: usize,
    locations_at: usize,
}

/// An index whose buckets passed [`PackIndex::check_buckets`].
#[derive(Debug)]
pub struct CheckedIndex<'a, T>(&'a PackIndex<T>);

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

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("caller checked 4 bytes"))
}

/// The first `N` bytes of `bytes`, zero-padded when it is shorter (a key or value of
/// another kind than the caller reads).
fn leading<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

fn le_u64(b: &[u8], at: usize) -> u64 {
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
        if b[4] != VERSION {
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
        // earlier builds).
        let entry_widths = (kind == IndexKind::Entries)
            .then(|| EntryWidths::from_header(b[60], b[61], b[62]))
            .flatten();
        let reserved_ok = match kind {
            IndexKind::Entries => b[63] == 0,
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
        let widths_ok = if kind.is_alias() {
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
        let expected =
            (count as u128) * (stored + value_len) as u128 + keys_at as u128 + TRAILER_LEN as u128;
        if expected != b.len() as u128 {
            return Err(Error::Corrupt {
                offset: 8,
                message: format!(
                    "header says {count} entries and {pack_count} packs: {expected} bytes, the file has {}",
                    b.len()
                ),
            });
        }
        let locations_at = keys_at + count as usize * stored;
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

    /// CRC-32 of the whole pack file, for the index of one pack.
    pub fn pack_crc32(&self) -> Option<u32> {
        (self.kind == IndexKind::Pack).then(|| le_u32(self.bytes.as_ref(), 56))
    }

    /// The widths of an alias index's rows (`None` for other kinds).
    pub fn alias_layout(&self) -> Option<AliasLayout> {
        self.kind.is_alias().then_some(AliasLayout {
            key_len: self.key_len,
            value_len: self.value_len,
        })
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

    fn fanout(&self, slot: usize) -> u64 {
        le_u64(self.bytes.as_ref(), self.fanout_at + 8 * slot)
    }

    /// Bytes of a key as stored: past the leading ones its fan-out slot implies.
    fn stored_len(&self) -> usize {
        self.key_len - self.implied
    }

    /// The stored bytes of row `i`'s key (`i < len()`): its key past the bytes its fan-out
    /// slot implies. Rows of one bucket compare by them as by their whole keys.
    fn stored_key(&self, i: u64) -> &[u8] {
        let n = self.stored_len();
        let at = self.keys_at + i as usize * n;
        &self.bytes.as_ref()[at..at + n]
    }

    /// Row `i`'s key in fan-out slot `slot`: its first [`key_len`](Self::key_len) bytes,
    /// the rest zero.
    fn key_in(&self, i: u64, slot: usize) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        if self.implied > 0 {
            // implied <= bits / 8, so bits >= 8 and the slot fills those bytes.
            let top = ((slot as u32) << (32 - self.bits as u32)).to_be_bytes();
            k[..self.implied].copy_from_slice(&top[..self.implied]);
        }
        k[self.implied..self.key_len].copy_from_slice(self.stored_key(i));
        k
    }

    /// The fan-out slot of row `i` (`i < len()`): a binary search over the fan-out, or 0
    /// where keys are stored whole (no slot is needed to read them).
    pub(crate) fn slot_of(&self, i: u64) -> usize {
        if self.implied == 0 {
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

    /// Value bytes of row `i` (`i < len()`): a location row or a SHA-256.
    fn value_bytes(&self, i: u64) -> &[u8] {
        let at = self.locations_at + i as usize * self.value_len;
        &self.bytes.as_ref()[at..at + self.value_len]
    }

    /// Key of row `i` (`i < len()`) of a location index.
    pub fn key(&self, i: u64) -> SequenceHash {
        SequenceHash(self.key_bytes(i))
    }

    /// The SHA-256 prefix of row `i` (`i < len()`) of an alias index: its
    /// [`AliasLayout::value_len`] bytes, the rest zero.
    pub fn alias_prefix(&self, i: u64) -> HashPrefix {
        leading(self.value_bytes(i))
    }

    /// Location of row `i` (`i < len()`) of a location index.
    pub fn location(&self, i: u64) -> PackLocation {
        let b = self.bytes.as_ref();
        let at = self.locations_at + i as usize * self.value_len;
        if self.value_len < LOCATION_LEN {
            return PackLocation::default();
        }
        PackLocation {
            pack: le_u32(b, at),
            block: le_u32(b, at + 4),
            offset: le_u32(b, at + 8),
            length: le_u32(b, at + 12),
        }
    }

    /// Rows `start..end` of fan-out slot `slot`, checked against the slot's CRC.
    fn bucket(&self, slot: usize) -> Result<(u64, u64), Error> {
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
        let n = self.stored_len();
        let mut h = crc32fast::Hasher::new();
        h.update(&start.to_le_bytes());
        h.update(&end.to_le_bytes());
        h.update(&b[self.keys_at + start as usize * n..self.keys_at + end as usize * n]);
        h.update(
            &b[self.locations_at + start as usize * self.value_len
                ..self.locations_at + end as usize * self.value_len],
        );
        let computed = h.finalize();
        let stored = le_u32(b, self.crcs_at + 4 * slot);
        if computed != stored {
            return Err(corrupt(format!(
                "bucket {slot} (rows {start}..{end}) fails its checksum: stored {stored:08x}, computed {computed:08x}"
            )));
        }
        Ok((start, end))
    }

    /// Every location stored for `hash`, in (pack, block, offset) order. The bucket read is
    /// checked against its CRC, so a damaged index gives an error, never a wrong answer.
    pub fn lookup(&self, hash: &SequenceHash) -> Result<Lookup<'_, T>, Error> {
        if !self.kind.has_locations() {
            return Err(self.wrong_kind("a SHA-256 lookup"));
        }
        self.matching(hash.as_bytes()).map(Lookup)
    }

    /// Every row of a location index whose hash starts with `prefix` (1 to 32 bytes), as
    /// (hash, location) in order. The bucket read is checked against its CRC.
    pub fn lookup_prefix(&self, prefix: &[u8]) -> Result<PrefixLookup<'_, T>, Error> {
        if !self.kind.has_locations() || prefix.len() < 4 || prefix.len() > KEY_LEN {
            return Err(self.wrong_kind(&format!("a prefix lookup of {} bytes", prefix.len())));
        }
        self.matching(prefix).map(PrefixLookup)
    }

    /// Every SHA-256 prefix stored under `key` in an alias index, in order, each of the
    /// index's [`AliasLayout::value_len`] bytes (the rest zero). `key` is the whole key of
    /// the kind (16 bytes for MD5, 24 for `sha512t24u`, 8 for an accession key); an index
    /// whose keys are shorter is read under its first bytes, so that rows of another key
    /// with those first bytes may come too: the caller checks what it finds. The bucket
    /// read is checked against its CRC.
    pub fn lookup_alias(&self, key: &[u8]) -> Result<AliasLookup<'_, T>, Error> {
        if !self.kind.is_alias() || key.len() != self.kind.key_len() {
            return Err(self.wrong_kind(&format!("an alias lookup of {} bytes", key.len())));
        }
        self.matching(&key[..self.key_len]).map(AliasLookup)
    }

    /// Every row of an [`IndexKind::Entries`] index whose SHA-256 prefix starts with
    /// `prefix` (4 to 8 bytes; those past the index's [`key_len`](Self::key_len) are not
    /// looked at), in (prefix, pack, entry) order. The bucket read is checked against its
    /// CRC; the caller reads each entry table row and keeps those whose whole hash is the
    /// one it looks for.
    pub fn lookup_entries(&self, prefix: &[u8]) -> Result<EntryLookup<'_, T>, Error> {
        if self.kind != IndexKind::Entries || !(4..=PREFIX_LEN).contains(&prefix.len()) {
            return Err(self.wrong_kind(&format!("an entry lookup of {} bytes", prefix.len())));
        }
        self.matching(&prefix[..prefix.len().min(self.key_len)])
            .map(EntryLookup)
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

    /// Row `i` (`i < len()`) of an [`IndexKind::Entries`] index (`verify` reports a value
    /// with bits set above its widths, which this does not read).
    pub fn entry_row(&self, i: u64) -> EntryRow {
        self.entry_row_in(i, self.slot_of(i))
    }

    /// Rows `rows` of an [`IndexKind::Entries`] index, in order: [`entry_row`](Self::entry_row)
    /// of each, with one search of the fan-out for the whole range instead of one per row.
    pub fn entry_rows(&self, rows: std::ops::Range<u64>) -> impl Iterator<Item = EntryRow> + '_ {
        let slots = 1usize << self.bits;
        let mut slot = if rows.is_empty() {
            0
        } else {
            self.slot_of(rows.start)
        };
        rows.map(move |i| {
            while self.implied > 0 && slot + 1 < slots && self.fanout(slot) <= i {
                slot += 1;
            }
            self.entry_row_in(i, slot)
        })
    }

    /// [`entry_row`](Self::entry_row) of row `i` in fan-out slot `slot` (the slot
    /// [`for_each_run_in`](Self::for_each_run_in) gives its runs), without a search of the
    /// fan-out: a row of another slot would get that slot's implied key bytes.
    pub fn entry_row_in_slot(&self, i: u64, slot: usize) -> EntryRow {
        self.entry_row_in(i, slot)
    }

    /// [`entry_row`](Self::entry_row) of a row in fan-out slot `slot`.
    pub(crate) fn entry_row_in(&self, i: u64, slot: usize) -> EntryRow {
        let (pack, entry) = self
            .entry_widths
            .map_or((0, 0), |w| w.decode(self.value_bytes(i)));
        EntryRow {
            prefix: leading(&self.key_in(i, slot)),
            pack,
            entry,
        }
    }

    /// How an [`IndexKind::Entries`] index's values hold pack and entry number (`None` for
    /// other kinds).
    pub fn entry_widths(&self) -> Option<EntryWidths> {
        self.entry_widths
    }

    fn wrong_kind(&self, what: &str) -> Error {
        Error::NotAnIndex(format!("{what} in a {:?} index", self.kind))
    }

    /// The rows whose key starts with `key` (at most [`KEY_LEN`] bytes), found in its
    /// bucket, which is checked against its CRC.
    fn matching(&self, key: &[u8]) -> Result<Matching<'_, T>, Error> {
        let slot = bucket(key, self.bits);
        let (start, end) = self.bucket(slot)?;
        // The bucket's rows share the bytes its slot implies, which `key` has too (it
        // has at least 4 bytes, more than any index implies): the rest decides.
        let rest = &key[self.implied.min(key.len())..];
        let row = partition_point(start, end, |i| self.stored_key(i) < rest);
        let mut k = [0u8; KEY_LEN];
        k[..rest.len()].copy_from_slice(rest);
        Ok(Matching {
            index: self,
            key: k,
            len: rest.len(),
            slot,
            row,
            end,
        })
    }

    /// Every row of an alias index whose keys have `N` bytes, in key order, each bucket
    /// checked against its CRC first.
    pub fn checked_alias_rows<const N: usize>(&self) -> Result<Vec<([u8; N], HashPrefix)>, Error> {
        if !self.kind.is_alias() || self.key_len != N {
            return Err(self.wrong_kind(&format!("reading alias rows of {N}-byte keys")));
        }
        self.checked_rows(|i, slot| self.alias_row_in::<N>(i, slot))
    }

    /// Every row of an alias index of any layout as [`AliasLayout::COMPACT`] holds it:
    /// keys cut to [`ALIAS_KEY_LEN`] bytes, prefixes to [`ALIAS_VALUE_LEN`](crate::ALIAS_VALUE_LEN),
    /// sorted, each row once; each bucket checked against its CRC first. This is how a
    /// commit carries the rows of an index written by an earlier build into its own.
    pub fn checked_compact_alias_rows(&self) -> Result<Vec<(AliasKey, HashPrefix)>, Error> {
        if !self.kind.is_alias() {
            return Err(self.wrong_kind("reading alias rows"));
        }
        let layout = AliasLayout::COMPACT;
        let mut rows = self.checked_rows(|i, slot| {
            let key: AliasKey = leading(&self.key_in(i, slot)[..ALIAS_KEY_LEN]);
            (key, cut_prefix(self.alias_prefix(i), layout.value_len))
        })?;
        rows.sort_unstable();
        rows.dedup();
        Ok(rows)
    }

    /// Row `i` (`i < len()`, in fan-out slot `slot`) of an alias index whose keys have `N`
    /// bytes (callers check).
    pub(crate) fn alias_row_in<const N: usize>(
        &self,
        i: u64,
        slot: usize,
    ) -> ([u8; N], HashPrefix) {
        (leading(&self.key_in(i, slot)), self.alias_prefix(i))
    }

    /// Checks every bucket against its CRC and that the buckets hold the header's row
    /// count: what a reader of every row needs before trusting them. The result is the
    /// proof the merging writers ([`write_merged_index`](crate::write_merged_index),
    /// [`write_merged_alias_index`](crate::write_merged_alias_index)) take, so that an
    /// index is checked once, where its caller chooses, and never merged unchecked.
    pub fn check_buckets(&self) -> Result<CheckedIndex<'_, T>, Error> {
        self.for_each_bucket(|_, _| Ok::<(), Error>(()))?;
        Ok(CheckedIndex(self))
    }

    /// Every row of a location index in key order, each bucket checked against its CRC first.
    pub fn checked_entries(&self) -> Result<Vec<IndexEntry>, Error> {
        if !self.kind.has_locations() {
            return Err(self.wrong_kind("reading location rows"));
        }
        self.checked_rows(|i, _| self.location_entry(i))
    }

    /// `row(i)` of every row, bucket by bucket, each bucket checked against its CRC first,
    /// and the buckets checked to hold the header's row count.
    fn checked_rows<R>(&self, row: impl Fn(u64, usize) -> R) -> Result<Vec<R>, Error> {
        let mut out = Vec::with_capacity(self.count as usize);
        self.for_each_bucket(|slot, rows| {
            out.extend(rows.map(|i| row(i, slot)));
            Ok::<(), Error>(())
        })?;
        Ok(out)
    }

    /// Calls `f(slot, rows)` for the rows of every bucket in order, each checked against
    /// its CRC first, then checks that the buckets hold the header's row count.
    fn for_each_bucket<E: From<Error>>(
        &self,
        f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_bucket_in(0..self.fanout_slots(), f)
    }

    /// [`for_each_bucket`](Self::for_each_bucket) over the fan-out slots `slots`; the
    /// buckets' total is checked against the header's row count by a range that ends at
    /// the last slot (the buckets partition rows `0..fanout(last)`).
    fn for_each_bucket_in<E: From<Error>>(
        &self,
        slots: std::ops::Range<usize>,
        mut f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        let all = self.fanout_slots();
        for slot in slots.start..slots.end.min(all) {
            let (start, end) = self.bucket(slot)?;
            f(slot, start..end)?;
        }
        if slots.end >= all && self.fanout(all - 1) != self.count {
            return Err(Error::Corrupt {
                offset: self.fanout_at as u64,
                message: format!(
                    "buckets hold {} rows, the header {}",
                    self.fanout(all - 1),
                    self.count
                ),
            }
            .into());
        }
        Ok(())
    }

    /// Fan-out slots (2^b): [`for_each_run_in`](Self::for_each_run_in) takes a range of
    /// them.
    pub fn fanout_slots(&self) -> usize {
        1usize << self.bits
    }

    /// Calls `f(rows)` for every run of rows sharing one key, in key order, each bucket
    /// checked against its CRC before its runs are handed out (a key's rows are all in its
    /// bucket); stops at the first error of the index or of `f`.
    ///
    /// # Examples
    /// ```
    /// use pack_format::{PackLocation, SequenceHash};
    /// use pack_index::{write_index, IndexCounts, IndexEntry, IndexKind, PackIndex};
    /// let row = |h: u8, offset: u32| IndexEntry {
    ///     hash: SequenceHash([h; 32]),
    ///     location: PackLocation { pack: 1, block: 0, offset, length: 9 },
    /// };
    /// let mut rows = [row(2, 9), row(1, 0), row(2, 18)];
    /// let bytes =
    ///     write_index(Vec::new(), IndexKind::Pack, &[1], IndexCounts::default(), None, &mut rows)
    ///         .unwrap();
    /// let index = PackIndex::parse(bytes).unwrap();
    /// let mut runs = Vec::new();
    /// index
    ///     .for_each_run(|rows| {
    ///         runs.push(rows);
    ///         Ok::<(), pack_index::Error>(())
    ///     })
    ///     .unwrap();
    /// assert_eq!(runs, [0..1, 1..3]);
    /// ```
    pub fn for_each_run<E: From<Error>>(
        &self,
        mut f: impl FnMut(std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_run_in(0..self.fanout_slots(), |_, rows| f(rows))
    }

    /// [`for_each_run`](Self::for_each_run) over the buckets of fan-out slots `slots`
    /// (of `0..`[`fanout_slots`](Self::fanout_slots)), handing each run's slot too (for
    /// [`entry_row_in_slot`](Self::entry_row_in_slot)): threads can walk an index a share
    /// of the slots each.
    pub fn for_each_run_in<E: From<Error>>(
        &self,
        slots: std::ops::Range<usize>,
        mut f: impl FnMut(usize, std::ops::Range<u64>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_bucket_in(slots, |slot, rows| {
            let mut run = rows.start;
            for i in rows.start + 1..=rows.end {
                if i == rows.end || self.stored_key(i) != self.stored_key(run) {
                    f(slot, run..i)?;
                    run = i;
                }
            }
            Ok(())
        })
    }

    /// Whether `hash` has at least one row.
    pub fn contains(&self, hash: &SequenceHash) -> Result<bool, Error> {
        Ok(self.lookup(hash)?.next().is_some())
    }

    /// Every row in key order.
    pub fn entries(&self) -> impl Iterator<Item = IndexEntry> + '_ {
        (0..self.count).map(|i| self.location_entry(i))
    }

    /// Full check: trailer checksum, monotonic fan-out, sorted keys in their buckets,
    /// locations naming covered packs.
    pub fn verify(&self) -> Result<(), Error> {
        let b = self.bytes.as_ref();
        let body = b.len() - TRAILER_LEN;
        let stored = le_u32(b, body);
        let computed = crc32fast::hash(&b[..body]);
        if stored != computed || le_u32(b, body + 4) != 0 {
            return Err(Error::Checksum { stored, computed });
        }
        let mut prev = 0;
        for slot in 0..(1usize << self.bits) {
            let v = self.fanout(slot);
            if v < prev {
                return Err(Error::Corrupt {
                    offset: (self.fanout_at + 8 * slot) as u64,
                    message: "fan-out decreases".into(),
                });
            }
            prev = v;
        }
        if prev != self.count {
            return Err(Error::Corrupt {
                offset: self.fanout_at as u64,
                message: format!("fan-out totals {prev} rows, the header {}", self.count),
            });
        }
        for slot in 0..(1usize << self.bits) {
            self.bucket(slot)?;
        }
        let packs = self.packs();
        // Each row decoded once: the previous row's is kept for the order check.
        let mut slot = 0usize;
        let mut prev: Option<VerifiedRow<'_>> = None;
        for i in 0..self.count {
            let at = self.keys_at as u64 + i * self.stored_len() as u64;
            while self.fanout(slot) <= i {
                slot += 1;
            }
            let whole = self.key_in(i, slot);
            let key = &whole[..self.key_len];
            if bucket(key, self.bits) != slot {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!(
                        "key {} lies outside its fan-out bucket",
                        pack_format::to_hex(key)
                    ),
                });
            }
            let row = match self.kind {
                // Location rows sort by key, then by location fields as numbers.
                IndexKind::Pack | IndexKind::Multi => VerifiedRow::Location(IndexEntry {
                    hash: SequenceHash(whole),
                    location: self.location(i),
                }),
                // Rows of one bucket compare by their stored bytes as by their keys; the
                // first of a bucket is above every row of the ones before.
                IndexKind::Entries => VerifiedRow::Entry(self.entry_row_in(i, slot)),
                _ => VerifiedRow::Alias(whole, self.value_bytes(i)),
            };
            if prev.is_some_and(|p| p > row) {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!("key {} is out of order", pack_format::to_hex(key)),
                });
            }
            prev = Some(row);
            if self
                .entry_widths
                .is_some_and(|w| w.has_spare_bits(self.value_bytes(i)))
            {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!(
                        "key {}: the entry row's value has bits set above its widths",
                        pack_format::to_hex(key)
                    ),
                });
            }
            let pack = match row {
                VerifiedRow::Location(e) => e.location.pack,
                VerifiedRow::Entry(e) => e.pack,
                VerifiedRow::Alias(..) => continue,
            };
            if packs.binary_search(&pack).is_err() {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!(
                        "key {} points to pack {pack}, not covered",
                        pack_format::to_hex(key)
                    ),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn location_entry(&self, i: u64) -> IndexEntry {
        IndexEntry {
            hash: self.key(i),
            location: self.location(i),
        }
    }
}

/// A row as [`PackIndex::verify`] orders it; rows of one index are all of one variant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum VerifiedRow<'a> {
    Location(IndexEntry),
    Entry(EntryRow),
    Alias([u8; KEY_LEN], &'a [u8]),
}

/// The rows of one bucket whose key starts with a given key (all of it: an exact match
/// when the given key has the index's key length), in order.
struct Matching<'a, T> {
    index: &'a PackIndex<T>,
    /// The given key past the bytes the bucket implies.
    key: [u8; KEY_LEN],
    len: usize,
    slot: usize,
    row: u64,
    end: u64,
}

impl<T: AsRef<[u8]>> Matching<'_, T> {
    fn next_row(&mut self) -> Option<u64> {
        let key = &self.key[..self.len];
        (self.row < self.end && self.index.stored_key(self.row).starts_with(key)).then(|| {
            self.row += 1;
            self.row - 1
        })
    }
}

/// The SHA-256 prefixes stored under one alias key, from [`PackIndex::lookup_alias`].
pub struct AliasLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for AliasLookup<'_, T> {
    type Item = HashPrefix;

    fn next(&mut self) -> Option<HashPrefix> {
        self.0.next_row().map(|i| self.0.index.alias_prefix(i))
    }
}

/// The rows of one SHA-256 prefix, from [`PackIndex::lookup_entries`].
pub struct EntryLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for EntryLookup<'_, T> {
    type Item = EntryRow;

    fn next(&mut self) -> Option<EntryRow> {
        let slot = self.0.slot;
        self.0
            .next_row()
            .map(|i| self.0.index.entry_row_in(i, slot))
    }
}

/// The rows whose hash starts with a prefix, from [`PackIndex::lookup_prefix`].
pub struct PrefixLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for PrefixLookup<'_, T> {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        self.0.next_row().map(|i| self.0.index.location_entry(i))
    }
}

/// The locations of one hash, from [`PackIndex::lookup`].
pub struct Lookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for Lookup<'_, T> {
    type Item = PackLocation;

    fn next(&mut self) -> Option<PackLocation> {
        self.0.next_row().map(|i| self.0.index.location(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_index;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn arb_entry() -> impl Strategy<Value = IndexEntry> {
        (
            any::<[u8; 32]>(),
            0u32..4,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(h, pack, block, offset, length)| IndexEntry {
                hash: SequenceHash(h),
                location: PackLocation {
                    pack,
                    block,
                    offset,
                    length,
                },
            })
    }

    proptest! {
        #[test]
        fn lookups_match_a_model(mut entries in proptest::collection::vec(arb_entry(), 0..400),
                                 dup in 0usize..20, probes in proptest::collection::vec(any::<[u8; 32]>(), 0..20)) {
            // Duplicate some hashes at other locations: one hash may have several rows.
            for i in 0..dup.min(entries.len()) {
                let mut e = entries[i];
                e.location.offset = e.location.offset.wrapping_add(1);
                entries.push(e);
            }
            let mut model: BTreeMap<SequenceHash, Vec<PackLocation>> = BTreeMap::new();
            for e in &entries { model.entry(e.hash).or_default().push(e.location); }
            let bytes = write_index(Vec::new(), IndexKind::Multi, &[0, 1, 2, 3], IndexCounts::default(), None, &mut entries).unwrap();
            let index = PackIndex::parse(bytes).unwrap();
            index.verify().unwrap();
            for (h, locs) in &model {
                let mut want = locs.clone();
                want.sort();
                prop_assert_eq!(index.lookup(h).unwrap().collect::<Vec<_>>(), want);
            }
            // Runs are the model's keys in order, each with all its rows.
            let mut runs = Vec::new();
            index.for_each_run(|rows| {
                let key = index.key(rows.start);
                let locs: Vec<PackLocation> = rows.clone().map(|i| index.location(i)).collect();
                assert!(rows.clone().all(|i| index.key(i) == key), "a run holds one key");
                runs.push((key, locs));
                Ok::<(), Error>(())
            }).unwrap();
            let want: Vec<(SequenceHash, Vec<PackLocation>)> = model.iter()
                .map(|(h, l)| { let mut l = l.clone(); l.sort(); (*h, l) }).collect();
            prop_assert_eq!(runs, want);
            for p in probes {
                let h = SequenceHash(p);
                let got: Vec<_> = index.lookup(&h).unwrap().collect();
                prop_assert_eq!(got.is_empty(), !model.contains_key(&h));
            }
            // A prefix finds exactly the rows whose hash starts with it.
            for e in entries.iter().take(20) {
                for len in [4usize, 8, 32] {
                    let want: Vec<IndexEntry> = entries.iter().filter(|x| x.hash.0[..len] == e.hash.0[..len]).copied().collect();
                    let got: Vec<IndexEntry> = index.lookup_prefix(&e.hash.0[..len]).unwrap().collect();
                    prop_assert_eq!(got, want);
                }
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000), probe in any::<[u8; 32]>()) {
            if let Ok(index) = PackIndex::parse(&bytes[..]) {
                let _ = index.verify();
                if let Ok(l) = index.lookup(&SequenceHash(probe)) { let _ = l.count(); }
            }
        }

        #[test]
        fn every_flip_fails_verify(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut entries: Vec<IndexEntry> = (0..100u32).map(|i| IndexEntry {
                hash: SequenceHash::of_residues(&i.to_le_bytes()),
                location: PackLocation { pack: 1, block: i, offset: i, length: 9 },
            }).collect();
            let mut bytes = write_index(Vec::new(), IndexKind::Pack, &[1], IndexCounts::default(), None, &mut entries).unwrap();
            let original = entries.clone();
            let at = pos.index(bytes.len());
            bytes[at] ^= 1 << bit;
            let ok = PackIndex::parse(&bytes[..]).and_then(|i| i.verify()).is_ok();
            prop_assert!(!ok, "flip at byte {} passed verify", at);
            // Lookups either fail or give the original answer: never a wrong one.
            if let Ok(index) = PackIndex::parse(&bytes[..]) {
                for e in &original {
                    if let Ok(found) = index.lookup(&e.hash) {
                        prop_assert_eq!(found.collect::<Vec<_>>(), vec![e.location], "flip at {}", at);
                    }
                }
            }
        }
    }

    fn alias_kind() -> impl Strategy<Value = IndexKind> {
        prop_oneof![
            Just(IndexKind::Md5),
            Just(IndexKind::Sha512t24u),
            Just(IndexKind::Accession)
        ]
    }

    proptest! {
        #[test]
        fn alias_lookups_match_a_model(kind in alias_kind(), legacy in any::<bool>(),
                                       rows in proptest::collection::vec((any::<[u8; 24]>(), any::<[u8; 32]>()), 0..300),
                                       dup in 0usize..20, probes in proptest::collection::vec(any::<[u8; 24]>(), 0..20)) {
            let layout = if legacy { AliasLayout::legacy(kind) } else { AliasLayout::COMPACT };
            let mut entries: Vec<(Vec<u8>, HashPrefix)> = rows.iter()
                .map(|(k, h)| (k[..kind.key_len()].to_vec(), crate::hash_prefix(&SequenceHash(*h)))).collect();
            for i in 0..dup.min(entries.len()) {
                // One accession may name several sequences.
                let mut e = entries[i].clone();
                e.1[0] ^= 0xff;
                entries.push(e);
                // Two digests may share their first bytes.
                let mut e = entries[i].clone();
                e.0[kind.key_len() - 1] ^= 1;
                entries.push(e);
            }
            // What the index holds: keys and prefixes cut to the layout, each row once.
            let cut = |k: &[u8]| k[..layout.key_len].to_vec();
            let mut model: BTreeMap<Vec<u8>, std::collections::BTreeSet<HashPrefix>> = BTreeMap::new();
            for e in &entries {
                model.entry(cut(&e.0)).or_default().insert(crate::cut_prefix(e.1, layout.value_len));
            }
            let bytes = crate::write_alias_index_with_layout(Vec::new(), kind, layout, &[0, 5], &entries).unwrap();
            let index = PackIndex::parse(bytes).unwrap();
            index.verify().unwrap();
            prop_assert_eq!(index.kind(), kind);
            prop_assert_eq!(index.alias_layout(), Some(layout));
            prop_assert_eq!(index.packs(), vec![0, 5]);
            prop_assert!(index.lookup(&SequenceHash([0; 32])).is_err(), "a SHA-256 lookup in an alias index");
            for e in &entries {
                let want: Vec<HashPrefix> = model[&cut(&e.0)].iter().copied().collect();
                prop_assert_eq!(index.lookup_alias(&e.0).unwrap().collect::<Vec<_>>(), want);
            }
            for p in probes {
                let k = &p[..kind.key_len()];
                let got: Vec<_> = index.lookup_alias(k).unwrap().collect();
                prop_assert_eq!(got.is_empty(), !model.contains_key(&cut(k)));
            }
            let rows: usize = model.values().map(|v| v.len()).sum();
            prop_assert_eq!(index.len() as usize, rows);
            // Any layout reads back as the compact rows.
            let compact: Vec<(AliasKey, HashPrefix)> = entries.iter()
                .map(|(k, p)| (leading(&k[..ALIAS_KEY_LEN]), crate::cut_prefix(*p, crate::ALIAS_VALUE_LEN)))
                .collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(index.checked_compact_alias_rows().unwrap(), compact);
            if layout.key_len == 8 {
                prop_assert_eq!(index.checked_alias_rows::<8>().unwrap().len(), rows);
                prop_assert!(index.checked_alias_rows::<16>().is_err());
            }
        }

        #[test]
        fn every_flip_of_an_alias_index_fails_verify(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let entries: Vec<([u8; 16], HashPrefix)> = (0..100u32).map(|i| (
                SequenceHash::of_residues(&i.to_le_bytes()).0[..16].try_into().unwrap(),
                crate::hash_prefix(&SequenceHash::of_residues(&(i + 1000).to_le_bytes())))).collect();
            let mut bytes = crate::write_alias_index(Vec::new(), IndexKind::Md5, &[1], &entries).unwrap();
            let at = pos.index(bytes.len());
            bytes[at] ^= 1 << bit;
            let parsed = PackIndex::parse(&bytes[..]);
            prop_assert!(parsed.as_ref().map_or(true, |i| i.verify().is_err()), "flip at byte {} passed verify", at);
            if let Ok(index) = parsed {
                for e in &entries {
                    if let Ok(found) = index.lookup_alias(&e.0) {
                        let want = crate::cut_prefix(e.1, crate::ALIAS_VALUE_LEN);
                        prop_assert_eq!(found.collect::<Vec<_>>(), vec![want], "flip at {}", at);
                    }
                }
            }
        }
    }

    /// `bytes` with rows `i` and `i + 1` (of one bucket) swapped, keys and values, and
    /// the CRCs of their bucket and of the file made right again.
    fn swapped_and_resealed(bytes: &[u8], i: u64) -> Vec<u8> {
        let ix = PackIndex::parse(bytes).unwrap();
        let (n, v) = (ix.stored_len(), ix.value_len);
        let slot = ix.slot_of(i);
        let (start, end) = ix.slot_rows(slot);
        assert!(
            start <= i && i + 1 < end,
            "rows {i} and {} share a bucket",
            i + 1
        );
        let (keys_at, values_at, crcs_at) = (ix.keys_at, ix.locations_at, ix.crcs_at);
        let mut out = bytes.to_vec();
        let (k, l) = (keys_at + i as usize * n, values_at + i as usize * v);
        let (a, b) = out[k..k + 2 * n].split_at_mut(n);
        a.swap_with_slice(b);
        let (a, b) = out[l..l + 2 * v].split_at_mut(v);
        a.swap_with_slice(b);
        let mut h = crc32fast::Hasher::new();
        h.update(&start.to_le_bytes());
        h.update(&end.to_le_bytes());
        h.update(&out[keys_at + start as usize * n..keys_at + end as usize * n]);
        h.update(&out[values_at + start as usize * v..values_at + end as usize * v]);
        out[crcs_at + 4 * slot..crcs_at + 4 * slot + 4]
            .copy_from_slice(&h.finalize().to_le_bytes());
        let body = out.len() - TRAILER_LEN;
        let crc = crc32fast::hash(&out[..body]);
        out[body..body + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn verify_finds_rows_out_of_order_in_every_kind_of_index() {
        let hash = |i: u32| SequenceHash::of_residues(&i.to_le_bytes());
        let mut locations: Vec<IndexEntry> = (0..5000u32)
            .map(|i| IndexEntry {
                hash: hash(i),
                location: PackLocation {
                    pack: 1,
                    block: i,
                    offset: 0,
                    length: 9,
                },
            })
            .collect();
        let mut entries: Vec<EntryRow> = (0..5000u32)
            .map(|i| EntryRow {
                prefix: crate::hash_prefix(&hash(i)),
                pack: 1,
                entry: i,
            })
            .collect();
        let aliases: Vec<([u8; 16], HashPrefix)> = (0..5000u32)
            .map(|i| {
                (
                    hash(i + 9000).0[..16].try_into().unwrap(),
                    crate::hash_prefix(&hash(i)),
                )
            })
            .collect();
        let files = [
            write_index(
                Vec::new(),
                IndexKind::Multi,
                &[1],
                IndexCounts::default(),
                None,
                &mut locations,
            )
            .unwrap(),
            crate::write_entry_index(Vec::new(), &[1], IndexCounts::default(), &mut entries)
                .unwrap(),
            crate::write_alias_index(Vec::new(), IndexKind::Md5, &[1], &aliases).unwrap(),
        ];
        for bytes in files {
            let ix = PackIndex::parse(&bytes[..]).unwrap();
            ix.verify().unwrap();
            // Two rows of the first bucket with at least two.
            let slot = (0..1usize << ix.bits)
                .find(|&s| {
                    let (a, b) = ix.slot_rows(s);
                    b - a >= 2
                })
                .unwrap();
            let i = ix.slot_rows(slot).0;
            let kind = ix.kind();
            let swapped = swapped_and_resealed(&bytes, i);
            let err = PackIndex::parse(&swapped[..])
                .unwrap()
                .verify()
                .unwrap_err()
                .to_string();
            assert!(err.contains("out of order"), "{kind:?}: {err}");
        }
    }

    #[test]
    fn runs_walked_in_shares_of_slots_are_the_runs_of_the_whole_index() {
        let hash = |i: u32| SequenceHash::of_residues(&(i % 3000).to_le_bytes());
        // 3000 sequences, 2000 of them with a second row.
        let mut rows: Vec<EntryRow> = (0..5000u32)
            .map(|i| EntryRow {
                prefix: crate::hash_prefix(&hash(i)),
                pack: 1 + i / 3000,
                entry: i % 3000,
            })
            .collect();
        let bytes =
            crate::write_entry_index(Vec::new(), &[1, 2], IndexCounts::default(), &mut rows)
                .unwrap();
        let ix = PackIndex::parse(&bytes[..]).unwrap();
        assert!(
            ix.implied_key_bytes() > 0,
            "keys imply bytes: a run needs its slot"
        );
        let mut whole = Vec::new();
        ix.for_each_run(|r| {
            whole.push((r.clone(), ix.entry_rows(r).collect::<Vec<_>>()));
            Ok::<(), Error>(())
        })
        .unwrap();
        assert_eq!(whole.len(), 3000);
        assert_eq!(
            whole.iter().filter(|(r, _)| r.end - r.start == 2).count(),
            2000
        );
        let slots = ix.fanout_slots();
        for cut in [0, 1, slots / 3, slots / 2, slots - 1, slots] {
            let mut shares = Vec::new();
            for range in [0..cut, cut..slots] {
                ix.for_each_run_in(range, |slot, r| {
                    assert_eq!(ix.slot_of(r.start), slot);
                    let got = r
                        .clone()
                        .map(|i| ix.entry_row_in_slot(i, slot))
                        .collect::<Vec<_>>();
                    shares.push((r, got));
                    Ok::<(), Error>(())
                })
                .unwrap();
            }
            assert_eq!(shares, whole, "cut at slot {cut}");
        }
    }

    #[test]
    fn kinds_are_not_mixed() {
        let h = SequenceHash::of_residues(b"A");
        let rows = vec![([1u8; 16], crate::hash_prefix(&h))];
        assert!(crate::write_alias_index(Vec::new(), IndexKind::Accession, &[], &rows).is_err());
        assert!(crate::write_alias_index(Vec::new(), IndexKind::Multi, &[], &rows).is_err());
        let index = PackIndex::parse(
            crate::write_alias_index(Vec::new(), IndexKind::Md5, &[], &rows).unwrap(),
        )
        .unwrap();
        assert!(
            index.lookup_alias(&[1; 24]).is_err(),
            "key of the wrong length"
        );
        assert!(index.checked_entries().is_err());
        assert_eq!(
            index.lookup_alias(&[1; 16]).unwrap().collect::<Vec<_>>(),
            vec![crate::cut_prefix(
                crate::hash_prefix(&h),
                crate::ALIAS_VALUE_LEN
            )]
        );
        assert_eq!(index.alias_layout(), Some(AliasLayout::COMPACT));
        assert!(
            crate::write_alias_index_with_layout(
                Vec::new(),
                IndexKind::Md5,
                AliasLayout {
                    key_len: crate::ALIAS_KEY_LEN - 1,
                    value_len: 5
                },
                &[],
                &rows
            )
            .is_err(),
            "keys shorter than any layout's"
        );
        assert!(
            crate::write_alias_index_with_layout(
                Vec::new(),
                IndexKind::Md5,
                AliasLayout {
                    key_len: 17,
                    value_len: 5
                },
                &[],
                &rows
            )
            .is_err(),
            "keys longer than the whole key"
        );
        assert!(
            crate::write_alias_index_with_layout(
                Vec::new(),
                IndexKind::Md5,
                AliasLayout {
                    key_len: 8,
                    value_len: 3
                },
                &[],
                &rows
            )
            .is_err(),
            "prefixes shorter than 4 bytes"
        );
    }

    #[test]
    fn the_legacy_layout_is_the_old_bytes_and_reads_alike() {
        // Byte 60 stays zero and the widths are the kind's: what builds before
        // 2026-12-01 wrote.
        let h = SequenceHash::of_residues(b"MKV");
        let rows = vec![([3u8; 24], crate::hash_prefix(&h))];
        let kind = IndexKind::Sha512t24u;
        let old = crate::write_alias_index_with_layout(
            Vec::new(),
            kind,
            AliasLayout::legacy(kind),
            &[2],
            &rows,
        )
        .unwrap();
        assert_eq!((old[6], old[60]), (24, 0));
        let new = crate::write_alias_index(Vec::new(), kind, &[2], &rows).unwrap();
        assert_eq!((new[6], new[60]), (6, 5));
        assert_eq!(
            old.len() - new.len(),
            18 + 3,
            "18 key bytes and 3 value bytes fewer"
        );
        // The rows of 2026-12-01's first compact layout: 8-byte keys.
        let eight = crate::write_alias_index_with_layout(
            Vec::new(),
            kind,
            AliasLayout {
                key_len: 8,
                value_len: 5,
            },
            &[2],
            &rows,
        )
        .unwrap();
        assert_eq!(eight[6], 8);
        let (old, new, eight) = (
            PackIndex::parse(old).unwrap(),
            PackIndex::parse(new).unwrap(),
            PackIndex::parse(eight).unwrap(),
        );
        assert_eq!(
            old.lookup_alias(&[3; 24]).unwrap().collect::<Vec<_>>(),
            vec![crate::hash_prefix(&h)]
        );
        for ix in [&new, &eight] {
            assert_eq!(
                ix.lookup_alias(&[3; 24]).unwrap().collect::<Vec<_>>(),
                vec![crate::cut_prefix(crate::hash_prefix(&h), 5)]
            );
        }
        for ix in [&old, &eight] {
            assert_eq!(
                ix.checked_compact_alias_rows().unwrap(),
                new.checked_compact_alias_rows().unwrap()
            );
        }
    }

    #[test]
    fn opens_from_a_file_through_a_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.idx");
        let h = SequenceHash::of_residues(b"A");
        let loc = PackLocation {
            pack: 9,
            block: 1,
            offset: 2,
            length: 3,
        };
        let counts = IndexCounts {
            sequences: 1,
            representations: 2,
            residue_bytes: 1,
            uncompressed_bytes: 50,
        };
        let bytes = write_index(
            Vec::new(),
            IndexKind::Pack,
            &[9],
            counts,
            Some(0xabcd),
            &mut [IndexEntry {
                hash: h,
                location: loc,
            }],
        )
        .unwrap();
        std::fs::write(&path, bytes).unwrap();
        let index = open(&path).unwrap();
        assert_eq!(index.kind(), IndexKind::Pack);
        assert_eq!(index.packs(), vec![9]);
        assert_eq!(index.counts(), counts);
        assert_eq!(index.pack_crc32(), Some(0xabcd));
        assert_eq!(index.lookup(&h).unwrap().collect::<Vec<_>>(), vec![loc]);
        let err = open(&dir.path().join("missing.idx")).unwrap_err();
        assert!(err.to_string().contains("missing.idx"), "{err}");
    }
}
