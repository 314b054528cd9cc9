//! Walking every stored sequence in store order: on the calling thread
//! ([`for_each_sequence`](PackedSequenceStorage::for_each_sequence)), or formatted on
//! several threads and handed out in order ([`export`](PackedSequenceStorage::export)).

use std::ops::Range;

use pack_format::{PackId, Representation};
use pack_io::{BlockCache, PackReader};

use crate::error::StoreError;
use crate::ordered::block_ranges;
use crate::snapshot::Snapshot;
use crate::store::{PackedSequenceStorage, StoredSequence};

/// A part of the store walked by one thread: some blocks of one pack.
struct Unit<'a> {
    pack: PackId,
    reader: &'a PackReader,
    blocks: Range<u32>,
}

/// The units of every indexed pack, in store order.
fn units(snap: &Snapshot) -> Result<Vec<Unit<'_>>, StoreError> {
    let mut out = Vec::new();
    for pack in snap.indexed_packs() {
        let Some(slot) = snap.packs.get(&pack) else {
            continue;
        };
        let reader = slot
            .reader()
            .map_err(|reason| StoreError::Corrupt(format!("{}: {reason}", slot.path.display())))?;
        out.extend(block_ranges(reader.block_count()?).map(|blocks| Unit {
            pack,
            reader,
            blocks,
        }));
    }
    Ok(out)
}

/// Calls `f` with every sequence of `unit` (its representations from every entry of it),
/// reusing `rec`'s buffers.
fn walk_unit(
    snap: &Snapshot,
    unit: &Unit<'_>,
    side_cache: &mut BlockCache,
    rec: &mut StoredSequence,
    f: &mut dyn FnMut(&StoredSequence) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    unit.reader
        .for_each_entry_in::<StoreError>(unit.pack, unit.blocks.clone(), |loc, e| {
            if !e.has_sequence() {
                return Ok(());
            }
            rec.hash = e.hash;
            rec.residues.clear();
            rec.residues.extend_from_slice(e.sequence);
            // The strings of the previous record are overwritten, not reallocated.
            let mut n = 0;
            let mut add = |h: &str, s: &str| {
                match rec.representations.get_mut(n) {
                    Some(r) => {
                        r.header.clear();
                        r.header.push_str(h);
                        r.source.clear();
                        r.source.push_str(s);
                    }
                    None => rec.representations.push(Representation::new(h, s)),
                }
                n += 1;
            };
            e.for_each_representation(&mut add)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?;
            let locs = snap.locations(&e.hash)?;
            for other in locs.iter().filter(|l| **l != loc) {
                snap.with_entry(&e.hash, other, side_cache, |x| {
                    x.for_each_representation(&mut add)
                })?
                .map_err(|err| StoreError::Corrupt(err.to_string()))?;
            }
            rec.representations.truncate(n);
            f(rec)
        })
}

fn empty_record() -> StoredSequence {
    StoredSequence {
        hash: pack_format::SequenceHash([0; 32]),
        residues: Vec::new(),
        representations: Vec::new(),
    }
}

impl PackedSequenceStorage {
    /// Calls `f` for every committed sequence with all its representations, pack by pack in
    /// file order.
    pub fn for_each_sequence(
        &self,
        mut f: impl FnMut(&StoredSequence) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let snap = self.snapshot();
        let mut side_cache = BlockCache::default();
        let mut rec = empty_record();
        for unit in units(&snap)? {
            walk_unit(&snap, &unit, &mut side_cache, &mut rec, &mut f)?;
        }
        Ok(())
    }

    /// Formats every committed sequence with `format` on `threads` threads and hands the
    /// output to `sink` in the order of [`for_each_sequence`](Self::for_each_sequence), in
    /// chunks of many sequences. Stops at the first error of the store or of `sink`;
    /// output already handed out stays handed out.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, StoreOptions, StoreError};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MKV", Representation::new("a", "src")).unwrap();
    /// store.put(b"MKV", Representation::new("b", "src")).unwrap();
    /// store.commit().unwrap();
    /// let mut out = Vec::new();
    /// store
    ///     .export(
    ///         2,
    ///         |rec, buf| {
    ///             for r in &rec.representations {
    ///                 buf.extend_from_slice(format!(">{}\n", r.header).as_bytes());
    ///                 buf.extend_from_slice(&rec.residues);
    ///                 buf.push(b'\n');
    ///             }
    ///         },
    ///         |chunk| {
    ///             out.extend_from_slice(chunk);
    ///             Ok::<(), StoreError>(())
    ///         },
    ///     )
    ///     .unwrap();
    /// assert_eq!(out, b">a\nMKV\n>b\nMKV\n");
    /// ```
    pub fn export<E: From<StoreError> + Send>(
        &self,
        threads: usize,
        format: impl Fn(&StoredSequence, &mut Vec<u8>) + Sync,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let snap = self.snapshot();
        let units = units(&snap)?;
        crate::ordered::ordered_parallel(
            units.len(),
            threads,
            || (BlockCache::default(), empty_record()),
            |(side_cache, rec), i| {
                let mut buf = Vec::with_capacity(1 << 20);
                walk_unit(&snap, &units[i], side_cache, rec, &mut |s| {
                    format(s, &mut buf);
                    Ok(())
                })
                .map(|()| buf)
                .map_err(E::from)
            },
            |buf| sink(&buf),
            |m| E::from(StoreError::Corrupt(format!("export: {m}"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn store_with(n: usize) -> (tempfile::TempDir, PackedSequenceStorage) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            pack_size_limit: 40_000,
            block_size: 512,
            ..StoreOptions::default()
        };
        let store = PackedSequenceStorage::open_writer(dir.path(), options).unwrap();
        for i in 0..n {
            // Distinct residues: the number spelled with one residue letter per digit.
            let digits: String = i
                .to_string()
                .bytes()
                .map(|d| b"ACDEFGHIKL"[(d - b'0') as usize] as char)
                .collect();
            let residues = format!("M{}W{digits}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 7 + 1));
            store
                .put(
                    residues.as_bytes(),
                    Representation::new(format!("s{i}"), "one"),
                )
                .unwrap();
            if i % 3 == 0 {
                // Seen again: a representations-only entry, found through the index.
                store
                    .put(
                        residues.as_bytes(),
                        Representation::new(format!("again{i}"), "two"),
                    )
                    .unwrap();
            }
        }
        store.commit().unwrap();
        (dir, store)
    }

    fn line(rec: &StoredSequence, buf: &mut Vec<u8>) {
        let heads: Vec<&str> = rec
            .representations
            .iter()
            .map(|r| r.header.as_str())
            .collect();
        buf.extend_from_slice(format!("{} {}\n", rec.hash, heads.join(",")).as_bytes());
    }

    #[test]
    fn export_on_threads_matches_the_sequential_walk() {
        let (_dir, store) = store_with(3000);
        let mut want = Vec::new();
        store
            .for_each_sequence(|rec| {
                line(rec, &mut want);
                Ok(())
            })
            .unwrap();
        let snap = store.snapshot();
        assert!(units(&snap).unwrap().len() > 4, "several units of work");
        assert!(String::from_utf8_lossy(&want).contains(",again"));
        for threads in [1, 2, 3] {
            let mut got = Vec::new();
            let mut chunks = 0;
            store
                .export(threads, line, |c| {
                    got.extend_from_slice(c);
                    chunks += 1;
                    Ok::<(), StoreError>(())
                })
                .unwrap();
            assert_eq!(got, want, "{threads} threads");
            assert!(chunks > 1);
        }
    }

    #[test]
    fn a_failing_sink_stops_the_export() {
        let (_dir, store) = store_with(3000);
        let mut calls = 0;
        let r = store.export(2, line, |_| {
            calls += 1;
            if calls == 2 {
                Err(StoreError::Corrupt("disk full".into()))
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(StoreError::Corrupt(m)) if m == "disk full"));
        assert_eq!(calls, 2, "nothing is handed out after the error");
    }
}
