//! Lookups in location indexes (kinds 1, one pack, and 2, the multi-pack index of
//! location rows): SHA-256 → (pack, block, offset, length).

use pack_format::{PackLocation, SequenceHash};

use crate::file::{le_u32, Matching, PackIndex};
use crate::{Error, IndexEntry, IndexKind, KEY_LEN, LOCATION_LEN};

/// A location index: one pack's `pack_NNNN.idx` (kind 1) or a multi-pack index of location
/// rows (kind 2), from [`PackIndex::as_locations`].
#[derive(Debug)]
pub struct LocationIndex<'a, T>(pub(crate) &'a PackIndex<T>);

impl<T> Clone for LocationIndex<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for LocationIndex<'_, T> {}

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// This index as a location index (kinds 1 and 2), or an error naming its kind.
    pub fn as_locations(&self) -> Result<LocationIndex<'_, T>, Error> {
        if !self.kind.has_locations() {
            return Err(self.wrong_kind("location lookups"));
        }
        Ok(LocationIndex(self))
    }

    /// Key of row `i` (`i < len()`) of a location index.
    pub(crate) fn key(&self, i: u64) -> SequenceHash {
        SequenceHash(self.key_bytes(i))
    }

    /// Location of row `i` (`i < len()`) of a location index.
    pub(crate) fn location(&self, i: u64) -> PackLocation {
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

    pub(crate) fn location_entry(&self, i: u64) -> IndexEntry {
        IndexEntry {
            hash: self.key(i),
            location: self.location(i),
        }
    }
}

impl<'a, T: AsRef<[u8]>> LocationIndex<'a, T> {
    /// The index file.
    pub fn index(&self) -> &'a PackIndex<T> {
        self.0
    }

    /// CRC-32 of the whole pack file, for the index of one pack.
    pub fn pack_crc32(&self) -> Option<u32> {
        (self.0.kind == IndexKind::Pack).then(|| le_u32(self.0.bytes.as_ref(), 56))
    }

    /// Key of row `i` (`i < len()`).
    pub fn key(&self, i: u64) -> SequenceHash {
        self.0.key(i)
    }

    /// Location of row `i` (`i < len()`).
    pub fn location(&self, i: u64) -> PackLocation {
        self.0.location(i)
    }

    /// Every location stored for `hash`, in (pack, block, offset) order. The bucket read is
    /// checked against its CRC, so a damaged index gives an error, never a wrong answer.
    pub fn lookup(&self, hash: &SequenceHash) -> Result<Lookup<'a, T>, Error> {
        self.0.matching(hash.as_bytes()).map(Lookup)
    }

    /// Every row whose hash starts with `prefix` (4 to 32 bytes), as (hash, location) in
    /// order. The bucket read is checked against its CRC.
    pub fn lookup_prefix(&self, prefix: &[u8]) -> Result<PrefixLookup<'a, T>, Error> {
        if prefix.len() < 4 || prefix.len() > KEY_LEN {
            return Err(self
                .0
                .wrong_kind(&format!("a prefix lookup of {} bytes", prefix.len())));
        }
        self.0.matching(prefix).map(PrefixLookup)
    }

    /// Every row in key order, each bucket checked against its CRC first.
    pub fn checked_entries(&self) -> Result<Vec<IndexEntry>, Error> {
        let ix = self.0;
        ix.checked_rows(|i, _| ix.location_entry(i))
    }

    /// Whether `hash` has at least one row.
    pub fn contains(&self, hash: &SequenceHash) -> Result<bool, Error> {
        Ok(self.lookup(hash)?.next().is_some())
    }

    /// Every row in key order.
    pub fn entries(&self) -> impl Iterator<Item = IndexEntry> + 'a {
        let ix = self.0;
        (0..ix.count).map(move |i| ix.location_entry(i))
    }
}

/// The rows whose hash starts with a prefix, from [`LocationIndex::lookup_prefix`].
pub struct PrefixLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for PrefixLookup<'_, T> {
    type Item = IndexEntry;

    fn next(&mut self) -> Option<IndexEntry> {
        self.0.next_row().map(|i| self.0.index.location_entry(i))
    }
}

/// The locations of one hash, from [`LocationIndex::lookup`].
pub struct Lookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for Lookup<'_, T> {
    type Item = PackLocation;

    fn next(&mut self) -> Option<PackLocation> {
        self.0.next_row().map(|i| self.0.index.location(i))
    }
}
