//! Walking every stored sequence in store order: on the calling thread
//! ([`for_each_sequence`](PackedSequenceStorage::for_each_sequence)), or formatted on
//! several threads and handed out in order ([`export`](PackedSequenceStorage::export)).

mod read_ahead;

use std::ops::Range;

use pack_format::{PackId, Representation};
use pack_io::{BlockCache, PackReader};

use crate::error::StoreError;
use crate::pool::block_ranges;
use crate::snapshot::Snapshot;
use crate::store::{PackedSequenceStorage, StoredSequence};
use read_ahead::{place, AdditionEntries, Additions, Cursors};

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
        // A pack the index lists but the directory lacks is an error, not a gap in the
        // output (opening the store reported it too).
        let Some(slot) = snap.packs.get(&pack) else {
            return Err(StoreError::Corrupt(format!(
                "pack {pack} is listed in the multi-pack index but its file is missing: \
                 nothing of it can be exported"
            )));
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
/// reusing `rec`'s buffers. The other entries of a sequence come from `additions` when it
/// was read ahead, else from an index lookup each.
fn walk_unit(
    snap: &Snapshot,
    additions: Option<&AdditionEntries>,
    unit: &Unit<'_>,
    additions_cache: &mut BlockCache,
    rec: &mut StoredSequence,
    f: &mut dyn FnMut(&StoredSequence) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Cursors {
        mut group,
        mut block,
    } = additions.map_or_else(Cursors::default, |s| {
        s.cursors_from((unit.pack, unit.blocks.start, 0))
    });
    // Blocks whose entries were all read ahead are not decompressed again.
    let known = |b| additions.map_or(0, |s| s.known(&mut block, unit.pack, b));
    unit.reader.for_each_entry_skipping::<StoreError>(
        unit.pack,
        unit.blocks.clone(),
        known,
        |loc, e| {
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
            let additions = match additions {
                Some(s) => s.additions(&mut group, place(&loc), &e.hash),
                None => Additions::Lookup,
            };
            match additions {
                Additions::None => {}
                Additions::Read(s, spans) => s.for_each(spans, &mut add),
                Additions::Lookup => {
                    for other in snap.locations(&e.hash)?.iter().filter(|l| **l != loc) {
                        snap.with_entry(&e.hash, other, additions_cache, |x| {
                            x.for_each_representation(&mut add)
                        })?
                        .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                    }
                }
            }
            rec.representations.truncate(n);
            f(rec)
        },
    )
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
        let additions = AdditionEntries::read(&snap, 1)?;
        let mut additions_cache = BlockCache::default();
        let mut rec = empty_record();
        for unit in units(&snap)? {
            walk_unit(
                &snap,
                additions.as_ref(),
                &unit,
                &mut additions_cache,
                &mut rec,
                &mut f,
            )?;
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
        let additions = AdditionEntries::read(&snap, threads)?;
        let units = units(&snap)?;
        // Buffers handed out come back to be filled again: fresh ones would cost a page
        // fault per 4 KiB of output.
        let (spare_tx, spare) = crossbeam_channel::unbounded::<Vec<u8>>();
        crate::pool::ordered_parallel(
            units.len(),
            threads,
            || (BlockCache::default(), empty_record()),
            |(additions_cache, rec), i| {
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.clear();
                walk_unit(
                    &snap,
                    additions.as_ref(),
                    &units[i],
                    additions_cache,
                    rec,
                    &mut |s| {
                        format(s, &mut buf);
                        Ok(())
                    },
                )
                .map(|()| buf)
                .map_err(E::from)
            },
            |buf| {
                sink(&buf)?;
                // The receiver lives until the walk is over.
                let _ = spare_tx.send(buf);
                Ok(())
            },
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
            block_size: Some(512),
            ..StoreOptions::default()
        };
        let store = PackedSequenceStorage::open_writer(dir.path(), options).unwrap();
        // Distinct residues: the number spelled with one residue letter per digit.
        let residues = |i: usize| {
            let digits: String = i
                .to_string()
                .bytes()
                .map(|d| b"ACDEFGHIKL"[(d - b'0') as usize] as char)
                .collect();
            format!("M{}W{digits}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 7 + 1))
        };
        for i in 0..n {
            let residues = residues(i);
            store
                .put(
                    residues.as_bytes(),
                    Representation::new(format!("s{i}"), "one"),
                )
                .unwrap();
            if i % 3 == 0 {
                // Seen again: an addition entry, found through the index.
                store
                    .put(
                        residues.as_bytes(),
                        Representation::new(format!("again{i}"), "two"),
                    )
                    .unwrap();
            }
        }
        store.commit().unwrap();
        // A later session sees half of them again: packs of addition entries.
        for i in (0..n).step_by(2) {
            store
                .put(
                    residues(i).as_bytes(),
                    Representation::new(format!("later{i}"), "three"),
                )
                .unwrap();
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

    /// Every sequence's line, from a walk with the other entries read ahead or looked up.
    fn walk_lines(store: &PackedSequenceStorage, read_ahead: bool) -> Vec<u8> {
        let snap = store.snapshot();
        let additions = if read_ahead {
            Some(
                AdditionEntries::read(&snap, 2)
                    .unwrap()
                    .expect("within the budget"),
            )
        } else {
            None
        };
        let (mut cache, mut rec, mut out) = (BlockCache::default(), empty_record(), Vec::new());
        for unit in units(&snap).unwrap() {
            walk_unit(
                &snap,
                additions.as_ref(),
                &unit,
                &mut cache,
                &mut rec,
                &mut |r| {
                    line(r, &mut out);
                    Ok(())
                },
            )
            .unwrap();
        }
        out
    }

    #[test]
    fn reading_other_entries_ahead_matches_looking_them_up() {
        let (_dir, store) = store_with(3000);
        let want = walk_lines(&store, false);
        let text = String::from_utf8_lossy(&want).into_owned();
        assert!(text.contains(",again0,later0\n"), "{}", &text[..200]);
        // A sequence's rows in two layers (its residues and first addition entry in one,
        // its later addition in the other), and in one after `compact`.
        assert_eq!(store.stats().unwrap().layers, 2);
        assert_eq!(walk_lines(&store, true), want);
        store.compact().unwrap();
        assert_eq!(store.stats().unwrap().layers, 1);
        assert_eq!(walk_lines(&store, false), want);
        assert_eq!(walk_lines(&store, true), want);
    }

    #[test]
    fn a_second_residues_entry_is_looked_up_as_before() {
        // Store b holds the sequence in its third pack; copied into store a, whose
        // multi-pack index is lost and rebuilt, it is a second residues entry there.
        let x: &[u8] = b"MKVLAAGIW";
        let b = tempfile::tempdir().unwrap();
        let store_b =
            PackedSequenceStorage::open_writer(b.path(), StoreOptions::default()).unwrap();
        for (residues, header) in [(&b"MKK"[..], "y1"), (b"MKKK", "y2"), (x, "late")] {
            store_b
                .put(residues, Representation::new(header, "b"))
                .unwrap();
            store_b.commit().unwrap();
        }
        drop(store_b);
        let a = tempfile::tempdir().unwrap();
        let store_a =
            PackedSequenceStorage::open_writer(a.path(), StoreOptions::default()).unwrap();
        store_a.put(x, Representation::new("early", "a")).unwrap();
        store_a.put(b"MWW", Representation::new("y3", "a")).unwrap();
        store_a.commit().unwrap();
        store_a.put(x, Representation::new("again", "a")).unwrap();
        store_a.commit().unwrap();
        let layout_a = store_a.layout().clone();
        drop(store_a);
        let from = crate::layout::StoreLayout::new(b.path()).pack_path(2);
        std::fs::copy(&from, layout_a.pack_path(2)).unwrap();
        for seq in crate::commit_record::list_commit_records(&layout_a).unwrap() {
            std::fs::remove_file(layout_a.commit_record_path(seq)).unwrap();
        }
        PackedSequenceStorage::open_for_repair(a.path())
            .unwrap()
            .rebuild_index()
            .unwrap();
        let store = PackedSequenceStorage::open(a.path()).unwrap();
        let snap = store.snapshot();
        let additions = AdditionEntries::read(&snap, 1).unwrap().unwrap();
        assert_eq!(
            additions.odd.len(),
            1,
            "the sequence with two residues entries"
        );
        let want = walk_lines(&store, false);
        let text = String::from_utf8_lossy(&want).into_owned();
        assert_eq!(text.matches("early").count(), 2, "{text}");
        assert_eq!(walk_lines(&store, true), want);
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
