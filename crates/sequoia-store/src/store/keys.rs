//! The SHA-256 keys of the committed sequences, pack by pack: what iterating over a store
//! visits (`sequoia-py`'s `iter(store)`), a pack's worth of keys in memory at a time.

use pack_format::{PackId, SequenceHash};

use crate::error::StoreError;

use super::*;

impl PackedSequenceStorage {
    /// The packs the committed sequences are in, in file order.
    pub fn packs(&self) -> Vec<PackId> {
        let mut ids = self.snapshot().indexed_packs();
        ids.dedup();
        ids
    }

    /// The keys of the sequences whose first entry is in pack `pack`, in the pack's order:
    /// over every pack of [`packs`](Self::packs), each committed sequence once. Read from
    /// the pack's entry table (a v1 pack, which has none, is read whole).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MKV", Representation::new("a", "one")).unwrap();
    /// store.commit().unwrap();
    /// store.put(b"MKV", Representation::new("b", "two")).unwrap(); // an addition entry
    /// store.put(b"MVL", Representation::new("c", "two")).unwrap();
    /// store.commit().unwrap();
    /// let mut keys = Vec::new();
    /// for pack in store.packs() {
    ///     keys.extend(store.keys_of_pack(pack).unwrap());
    /// }
    /// let expected = [b"MKV", b"MVL"].map(|r| SequenceHash::of_residues(r));
    /// assert_eq!(keys, expected);
    /// ```
    pub fn keys_of_pack(&self, pack: PackId) -> Result<Vec<SequenceHash>, StoreError> {
        let snap = self.snapshot();
        let slot = snap.packs.get(&pack).ok_or_else(|| {
            StoreError::Corrupt(format!("pack {pack} is not part of the store's commit"))
        })?;
        let reader = slot.reader().map_err(StoreError::Corrupt)?;
        let entries = match reader.entry_table(pack)? {
            Some(table) => table,
            None => reader.index_rows(pack, false)?.entries,
        };
        let mut keys = Vec::with_capacity(entries.len());
        for e in entries {
            // A sequence's first entry holds its residues; later ones (addition entries,
            // in this pack or later ones) are skipped.
            let locations = snap.locations(&e.hash)?;
            if locations.first() == Some(&e.location) {
                keys.push(e.hash);
            }
        }
        Ok(keys)
    }
}
