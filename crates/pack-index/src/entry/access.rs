//! Lookups in entry indexes (kind 6, the commit record of a store of v2 packs): SHA-256
//! prefix → (pack, entry table row).

use crate::file::{leading, Matching, PackIndex};
use crate::{EntryRow, EntryWidths, Error, IndexKind, PREFIX_LEN};

/// An entry index: the multi-pack index of entry rows (kind 6), from
/// [`PackIndex::as_entries`].
#[derive(Debug)]
pub struct EntryIndex<'a, T>(pub(crate) &'a PackIndex<T>);

impl<T> Clone for EntryIndex<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for EntryIndex<'_, T> {}

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// This index as an entry index (kind 6), or an error naming its kind.
    pub fn as_entries(&self) -> Result<EntryIndex<'_, T>, Error> {
        if self.kind != IndexKind::Entries {
            return Err(self.wrong_kind("entry lookups"));
        }
        Ok(EntryIndex(self))
    }

    /// The entry row of row `i` in fan-out slot `slot`.
    pub(crate) fn entry_row_in(&self, i: u64, slot: usize) -> EntryRow {
        let (pack, entry) = match (self.entry_widths, self.packed) {
            // Packed: the pack's offset from the smallest covered id above the entry.
            (Some(w), Some(p)) => {
                let v = p.value(self.word(i));
                let entry = (v & ((1u64 << w.entry_bits) - 1)) as u32;
                (
                    self.pack_base.wrapping_add((v >> w.entry_bits) as u32),
                    entry,
                )
            }
            (Some(w), None) => w.decode(&self.value_bytes(i)),
            (None, _) => (0, 0),
        };
        EntryRow {
            prefix: leading(&self.key_in(i, slot)),
            pack,
            entry,
        }
    }
}

impl<'a, T: AsRef<[u8]>> EntryIndex<'a, T> {
    /// The index file.
    pub fn index(&self) -> &'a PackIndex<T> {
        self.0
    }

    /// Every row whose SHA-256 prefix starts with `prefix` (4 to 8 bytes; those past the
    /// index's [`key_len`](PackIndex::key_len) are not looked at), in (prefix, pack, entry)
    /// order. The bucket read is checked against its CRC; the caller reads each entry
    /// table row and keeps those whose whole hash is the one it looks for.
    pub fn lookup(&self, prefix: &[u8]) -> Result<EntryLookup<'a, T>, Error> {
        if !(4..=PREFIX_LEN).contains(&prefix.len()) {
            return Err(self
                .0
                .wrong_kind(&format!("an entry lookup of {} bytes", prefix.len())));
        }
        self.0
            .matching(&prefix[..prefix.len().min(self.0.key_len)])
            .map(EntryLookup)
    }

    /// Row `i` (`i < len()`) (`verify` reports a value with bits set above its widths,
    /// which this does not read).
    pub fn row(&self, i: u64) -> EntryRow {
        self.0.entry_row_in(i, self.0.slot_of(i))
    }

    /// Rows `rows`, in order: [`row`](Self::row) of each, with one search of the fan-out
    /// for the whole range instead of one per row.
    pub fn rows(&self, rows: std::ops::Range<u64>) -> impl Iterator<Item = EntryRow> + 'a {
        let ix = self.0;
        let slots = 1usize << ix.bits;
        let mut slot = if rows.is_empty() {
            0
        } else {
            ix.slot_of(rows.start)
        };
        rows.map(move |i| {
            while ix.needs_slot() && slot + 1 < slots && ix.fanout(slot) <= i {
                slot += 1;
            }
            ix.entry_row_in(i, slot)
        })
    }

    /// [`row`](Self::row) of row `i` in fan-out slot `slot` (the slot
    /// [`for_each_run_in`](PackIndex::for_each_run_in) gives its runs), without a search of
    /// the fan-out: a row of another slot would get that slot's implied key bytes.
    pub fn row_in_slot(&self, i: u64, slot: usize) -> EntryRow {
        self.0.entry_row_in(i, slot)
    }

    /// How the values hold pack and entry number.
    pub fn widths(&self) -> EntryWidths {
        self.0
            .entry_widths
            .expect("an entry index has widths: parse refuses one without")
    }
}

/// The rows of one SHA-256 prefix, from [`EntryIndex::lookup`].
pub struct EntryLookup<'a, T>(pub(crate) Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for EntryLookup<'_, T> {
    type Item = EntryRow;

    fn next(&mut self) -> Option<EntryRow> {
        let slot = self.0.slot;
        self.0
            .next_row()
            .map(|i| self.0.index.entry_row_in(i, slot))
    }
}
