//! Lookups in entry indexes (kind 6, the commit record of a store of v2 packs): SHA-256
//! prefix → (pack, entry table row).

use crate::file::{leading, Matching, PackIndex};
use crate::{EntryRow, EntryWidths, Error, IndexKind, PREFIX_LEN};

impl<T: AsRef<[u8]>> PackIndex<T> {
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
