//! The full check of an index file: its CRC, fan-out, every bucket, key order, and the
//! values of its kind.

use pack_format::SequenceHash;

use crate::file::{le_u32, PackIndex};
use crate::{bucket, EntryRow, Error, IndexEntry, IndexKind, KEY_LEN, TRAILER_LEN};

impl<T: AsRef<[u8]>> PackIndex<T> {
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
        let mut prev: Option<VerifiedRow> = None;
        for i in 0..self.count {
            let at = self.row_offset(i);
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
                // Alias rows naming entries sort, and name packs, as entry rows do.
                _ if self.entry_widths.is_some() => VerifiedRow::Entry(self.entry_row_in(i, slot)),
                _ => VerifiedRow::Alias(whole, self.alias_prefix(i)),
            };
            if prev.is_some_and(|p| p > row) {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!("key {} is out of order", pack_format::to_hex(key)),
                });
            }
            prev = Some(row);
            let spare = match self.packed {
                Some(p) => p.has_spare_bits(self.word(i)),
                None => (self.entry_widths).is_some_and(|w| w.has_spare_bits(&self.value_bytes(i))),
            };
            if spare {
                return Err(Error::Corrupt {
                    offset: at,
                    message: format!(
                        "key {}: the row has bits set above its widths",
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
}

/// A row as [`PackIndex::verify`] orders it; rows of one index are all of one variant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum VerifiedRow {
    Location(IndexEntry),
    Entry(EntryRow),
    Alias([u8; KEY_LEN], crate::HashPrefix),
}
