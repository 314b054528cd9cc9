//! Reads by SHA-256: one sequence, or batches read in pack order, on one or several
//! threads.

use pack_format::{PackLocation, Representation, SequenceHash};
use pack_io::BlockCache;

use crate::error::StoreError;
use crate::snapshot::Snapshot;

use super::*;

/// A sequence with every representation stored for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSequence {
    /// SHA-256 of the residues.
    pub hash: SequenceHash,
    /// Upper-case residues.
    pub residues: Vec<u8>,
    /// Source records, oldest first.
    pub representations: Vec<Representation>,
}

/// How many places ahead [`PackedSequenceStorage::get_many`] asks for the blocks and keys it
/// will read (enough to cover a block's decompression, few enough to stay in cache).
pub(super) const PREFETCH_AHEAD: usize = 4;

impl PackedSequenceStorage {
    /// The residues of `hash`, if stored.
    pub fn get(&self, hash: &SequenceHash) -> Result<Option<Vec<u8>>, StoreError> {
        let snap = self.snapshot();
        // The entries are read in order until one holds the residues (the first one, unless
        // damaged): the addition entries are not even located.
        let (residues, seen) = CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            snap.first_location(hash, |loc| residues_in(&snap, hash, loc, &mut cache))
        })?;
        if residues.is_none() && seen > 0 {
            return Err(no_residues(hash));
        }
        Ok(residues)
    }

    /// The residues of each of `hashes`: `f(i, residues)` for every `i` in
    /// `0..hashes.len()`, `None` when `hashes[i]` is not stored.
    ///
    /// Unlike [`get`](Self::get) in a loop, every key is located first and the entries
    /// are then read in the order of their places in the packs, so that keys in one
    /// block share its decompression and the packs are read forwards. The calls to `f`
    /// come in that order, not in the order of `hashes`; the residues borrowed by `f`
    /// are not copied. On an error, `f` has been called for some keys and not others.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// let rep = Representation::new("sp|P69905|HBA_HUMAN", "sp");
    /// store.put(b"MVLSPADKTN", rep).unwrap();
    /// store.commit().unwrap();
    /// let stored = SequenceHash::of_residues(b"MVLSPADKTN");
    /// let absent = SequenceHash::of_residues(b"ACGT");
    /// let mut lengths = vec![usize::MAX; 2];
    /// store
    ///     .get_many(&[absent, stored], |i, residues| lengths[i] = residues.map_or(0, <[u8]>::len))
    ///     .unwrap();
    /// assert_eq!(lengths, [0, 10]);
    /// ```
    pub fn get_many(
        &self,
        hashes: &[SequenceHash],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let snap = self.snapshot();
        let places = located(&snap, hashes, |i| f(i, None))?;
        self.read_places(&snap, hashes, &places, &mut f)
    }

    /// [`get_many`](Self::get_many) spread over `threads` threads (0 or 1: the calling
    /// thread alone, and never more threads than keys): `f(i, residues)` once for each `i`
    /// in `0..hashes.len()`, from any of them.
    ///
    /// The threads first locate a share of the keys each, then read a share of the places,
    /// cut where a block ends: keys whose entries share a block are read by one thread,
    /// which decompresses it once, as one `get_many` over the whole batch would. (Each
    /// thread calling `get_many` over its own share of the keys decompresses the blocks
    /// its keys share with the others' again.) On an error, `f` has been called for some
    /// keys and not others, and the error of the first share that failed is returned.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// let residues = [&b"MVLSPADKTN"[..], b"MVHLTPEEKS", b"MGLSDGEWQL"];
    /// for r in residues {
    ///     store.put(r, Representation::new("x", "sp")).unwrap();
    /// }
    /// store.commit().unwrap();
    /// let keys: Vec<SequenceHash> = residues.iter().map(|r| SequenceHash::of_residues(r)).collect();
    /// let bytes = AtomicUsize::new(0);
    /// store
    ///     .get_many_parallel(&keys, 2, |_, r| {
    ///         bytes.fetch_add(r.map_or(0, <[u8]>::len), Ordering::Relaxed);
    ///     })
    ///     .unwrap();
    /// assert_eq!(bytes.into_inner(), 30);
    /// ```
    pub fn get_many_parallel(
        &self,
        hashes: &[SequenceHash],
        threads: usize,
        f: impl Fn(usize, Option<&[u8]>) + Sync,
    ) -> Result<(), StoreError> {
        let threads = threads.clamp(1, hashes.len().max(1));
        if threads == 1 {
            return self.get_many(hashes, &f);
        }
        let snap = self.snapshot();
        let (snap, f) = (&snap, &f);
        let places = located_on_threads(snap, hashes, threads, |i| f(i, None))?;
        let cuts = block_cuts(&places, threads);
        let ranges = cuts.windows(2).map(|w| &places[w[0]..w[1]]);
        on_threads(ranges, |range| {
            self.read_places(snap, hashes, range, &mut |i, r| f(i, r))
        })?;
        Ok(())
    }

    /// [`get_many_parallel`](Self::get_many_parallel) that turns each sequence found into a
    /// value with `f(i, residues)` on the thread that read it, and returns the values in
    /// the order of `hashes` (`None`: not stored). Each thread keeps its own values until
    /// the end, so that no two threads write next to each other (what a shared slot per
    /// key costs: the cache line going back and forth).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("x", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let keys = [SequenceHash::of_residues(b"MVLSPADKTN"), SequenceHash::of_residues(b"ACGT")];
    /// let lengths = store.map_many_parallel(&keys, 2, |_, r| r.len()).unwrap();
    /// assert_eq!(lengths, [Some(10), None]);
    /// ```
    pub fn map_many_parallel<T: Send>(
        &self,
        hashes: &[SequenceHash],
        threads: usize,
        f: impl Fn(usize, &[u8]) -> T + Sync,
    ) -> Result<Vec<Option<T>>, StoreError> {
        let mut out: Vec<Option<T>> = Vec::with_capacity(hashes.len());
        out.resize_with(hashes.len(), || None);
        let threads = threads.clamp(1, hashes.len().max(1));
        if threads == 1 {
            self.get_many(hashes, |i, r| out[i] = r.map(|r| f(i, r)))?;
            return Ok(out);
        }
        let snap = self.snapshot();
        let (snap, f) = (&snap, &f);
        let places = located_on_threads(snap, hashes, threads, |_| ())?;
        let cuts = block_cuts(&places, threads);
        let ranges = cuts.windows(2).map(|w| &places[w[0]..w[1]]);
        let parts = on_threads(ranges, |range| {
            let mut mine: Vec<(usize, T)> = Vec::with_capacity(range.len());
            self.read_places(snap, hashes, range, &mut |i, r| {
                if let Some(r) = r {
                    mine.push((i, f(i, r)));
                }
            })?;
            Ok(mine)
        })?;
        for (i, value) in parts.into_iter().flatten() {
            out[i] = Some(value);
        }
        Ok(out)
    }

    /// Reads the entries at `places` (sorted), calling `f(i, residues)` for each.
    fn read_places(
        &self,
        snap: &Snapshot,
        hashes: &[SequenceHash],
        places: &[(PackLocation, usize)],
        f: &mut impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        // The cache is taken for the loop, not borrowed: `f` may read the store too (and
        // gets a cache of its own).
        let mut cache = CACHE.with(|c| c.take());
        let result = (|| {
            if self.layout.remote().is_some() {
                snap.fetch_places(|i| hashes[i], places)?;
            }
            for (j, &(loc, i)) in places.iter().enumerate() {
                if let Some(&(ahead, k)) = places.get(j + PREFETCH_AHEAD) {
                    // The keys are visited out of their order, the blocks with gaps between
                    // them: ask for both a few places ahead instead of waiting on memory.
                    pack_format::prefetch(hashes[k].as_bytes());
                    snap.prefetch(&hashes[k], &ahead);
                }
                let hash = &hashes[i];
                let read = snap.with_residues(hash, &loc, &mut cache, |residues| {
                    if let Some(r) = residues {
                        f(i, Some(r));
                    }
                    residues.is_some()
                })?;
                if !read {
                    // Only damage leaves the first entry without residues: `get` tells
                    // whether another entry holds them.
                    let residues = self.get(hash)?;
                    f(i, residues.as_deref());
                }
            }
            Ok(())
        })();
        CACHE.with(|c| c.replace(cache));
        result
    }

    /// Whether `hash` is stored.
    pub fn contains(&self, hash: &SequenceHash) -> Result<bool, StoreError> {
        let (found, _) = self.snapshot().first_location(hash, |_| Ok(Some(())))?;
        Ok(found.is_some())
    }

    /// Every representation of `hash`, oldest first (empty when not stored).
    pub fn representations(&self, hash: &SequenceHash) -> Result<Vec<Representation>, StoreError> {
        Ok(self
            .get_record(hash)?
            .map(|r| r.representations)
            .unwrap_or_default())
    }

    /// Residues and representations of `hash`.
    pub fn get_record(&self, hash: &SequenceHash) -> Result<Option<StoredSequence>, StoreError> {
        let snap = self.snapshot();
        let locs = snap.locations(hash)?;
        if locs.is_empty() {
            return Ok(None);
        }
        CACHE.with(|c| {
            let mut cache = c.borrow_mut();
            record_at(&snap, hash, &locs, &mut cache).map(Some)
        })
    }
}

/// The first place of each of `hashes` that is stored, with its index in `hashes`, sorted
/// by place; `missing(i)` for each one that is not.
fn located(
    snap: &Snapshot,
    hashes: &[SequenceHash],
    mut missing: impl FnMut(usize),
) -> Result<Vec<(PackLocation, usize)>, StoreError> {
    let mut places = Vec::with_capacity(hashes.len());
    snap.first_locations(hashes, |i, first| match first {
        // The first location holds the residues unless the entry there is damaged, which
        // the read finds (and leaves to `get`, which tries the others).
        Some(loc) => places.push((loc, i)),
        None => missing(i),
    })?;
    places.sort_unstable();
    Ok(places)
}

/// [`located`] on `threads` threads, a share of `hashes` each (`missing(i)` for each key
/// not stored): every place, sorted.
fn located_on_threads(
    snap: &Snapshot,
    hashes: &[SequenceHash],
    threads: usize,
    missing: impl Fn(usize) + Sync,
) -> Result<Vec<(PackLocation, usize)>, StoreError> {
    let share = hashes.len().div_ceil(threads.max(1)).max(1);
    let missing = &missing;
    // Each thread's places, sorted; then all of them, merged (a stable sort merges
    // sorted runs in linear time).
    let runs = on_threads(hashes.chunks(share).enumerate(), |(c, part)| {
        let first = c * share;
        let mut places = located(snap, part, |i| missing(first + i))?;
        for (_, i) in &mut places {
            *i += first;
        }
        Ok(places)
    })?;
    let mut places = runs.concat();
    places.sort();
    Ok(places)
}

/// Where to cut sorted `places` into `parts` shares of about equal length, none starting
/// inside a block another share reads: `parts + 1` ascending bounds from 0 to the length
/// (shares may be empty).
pub(super) fn block_cuts(places: &[(PackLocation, usize)], parts: usize) -> Vec<usize> {
    let same_block = |a: &PackLocation, b: &PackLocation| (a.pack, a.block) == (b.pack, b.block);
    let mut cuts = vec![0];
    for t in 1..parts {
        let mut cut = (places.len() * t / parts).max(cuts[t - 1]);
        while cut > 0 && cut < places.len() && same_block(&places[cut - 1].0, &places[cut].0) {
            cut += 1;
        }
        cuts.push(cut);
    }
    cuts.push(places.len());
    cuts
}

/// `work` on each of `parts`, each on a thread of its own (the last on the calling one);
/// the results in the order of `parts`, or the first part's error. A panic in `work`
/// is resumed on the calling thread.
pub(super) fn on_threads<P: Send, R: Send>(
    parts: impl Iterator<Item = P>,
    work: impl Fn(P) -> Result<R, StoreError> + Sync,
) -> Result<Vec<R>, StoreError> {
    let mut parts: Vec<P> = parts.collect();
    let Some(last) = parts.pop() else {
        return Ok(Vec::new());
    };
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|p| s.spawn(move || work(p)))
            .collect();
        let mine = work(last);
        let mut out: Vec<R> = Vec::with_capacity(handles.len() + 1);
        let mut first_error = None;
        for h in handles {
            match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(r) => out.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (first_error, mine) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(r)) => {
                out.push(r);
                Ok(out)
            }
        }
    })
}

/// One sequence and where its entries are.
pub(super) type Located = (SequenceHash, Vec<pack_format::PackLocation>);

/// The residues of `hash` from its entries at `locs` (none: `None`).
pub(super) fn residues_at(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    for loc in locs {
        if let Some(r) = residues_in(snap, hash, loc, cache)? {
            return Ok(Some(r));
        }
    }
    if locs.is_empty() {
        Ok(None)
    } else {
        Err(no_residues(hash))
    }
}

/// The residues the entry of `hash` at `loc` holds (`None`: an addition entry).
fn residues_in(
    snap: &Snapshot,
    hash: &SequenceHash,
    loc: &pack_format::PackLocation,
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    snap.with_residues(hash, loc, cache, |residues| residues.map(<[u8]>::to_vec))
}

/// A sequence found in the index without an entry holding its residues.
pub(super) fn no_residues(hash: &SequenceHash) -> StoreError {
    StoreError::Corrupt(format!(
        "sequence {hash} has representations but no entry with its residues"
    ))
}

pub(crate) fn record_at(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<StoredSequence, StoreError> {
    let mut buffers = FoundBuffers::default();
    fill_record(snap, hash, locs, cache, &mut buffers, |_| true)?;
    Ok(buffers.view(*hash).to_stored())
}

/// Reads the entries of `hash` at `locs` into `buffers`: the residues, and the
/// representations whose header `keep` accepts.
pub(super) fn fill_record(
    snap: &Snapshot,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
    buffers: &mut FoundBuffers,
    keep: impl Fn(&str) -> bool,
) -> Result<(), StoreError> {
    buffers.clear();
    for loc in locs {
        snap.with_entry(hash, loc, cache, |e| buffers.add(&e, &keep))??;
    }
    if !buffers.has_residues {
        return Err(no_residues(hash));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Sorted places, one per block number of `blocks` (3 blocks per pack).
    fn places(blocks: &[u32]) -> Vec<(PackLocation, usize)> {
        let mut places: Vec<(PackLocation, usize)> = blocks
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                let loc = PackLocation {
                    pack: b / 3,
                    block: b % 3,
                    offset: i as u32,
                    length: 1,
                };
                (loc, i)
            })
            .collect();
        places.sort_unstable();
        places
    }

    #[test]
    fn block_cuts_split_evenly_between_blocks() {
        assert_eq!(block_cuts(&places(&[0, 1, 2, 3, 4, 5]), 2), [0, 3, 6]);
        // The middle falls inside block 1 (places 2..5): the cut moves to its end.
        assert_eq!(block_cuts(&places(&[0, 0, 1, 1, 1, 2]), 2), [0, 5, 6]);
        // Blocks 1 and 4 are in different packs (block 1 of packs 0 and 1).
        assert_eq!(block_cuts(&places(&[1, 1, 4, 4]), 2), [0, 2, 4]);
        // One block: one share reads it all.
        assert_eq!(block_cuts(&places(&[2; 5]), 3), [0, 5, 5, 5]);
        assert_eq!(block_cuts(&[], 2), [0, 0, 0]);
        assert_eq!(block_cuts(&places(&[0, 1]), 1), [0, 2]);
    }

    proptest! {
        #[test]
        fn block_cuts_cover_every_place_and_never_split_a_block(
            blocks in proptest::collection::vec(0u32..9, 0..80),
            parts in 1usize..6,
        ) {
            let places = places(&blocks);
            let cuts = block_cuts(&places, parts);
            prop_assert_eq!(cuts.len(), parts + 1);
            prop_assert_eq!(cuts[0], 0);
            prop_assert_eq!(cuts[parts], places.len());
            prop_assert!(cuts.windows(2).all(|w| w[0] <= w[1]));
            for &c in &cuts[1..parts] {
                if c > 0 && c < places.len() {
                    let (a, b) = (places[c - 1].0, places[c].0);
                    prop_assert_ne!((a.pack, a.block), (b.pack, b.block));
                }
            }
        }
    }
}
