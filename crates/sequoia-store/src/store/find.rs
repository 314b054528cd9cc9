//! Reads by any identifier (SHA-256, MD5, `SQ.` digest, accession): resolve, find and
//! their batched forms.

use std::cell::RefCell;

use pack_format::{PackLocation, Representation, SequenceHash};
use pack_io::BlockCache;

use crate::error::StoreError;
use crate::ids::SequenceId;
use crate::snapshot::Snapshot;

use super::get::{
    block_cuts, fill_record, no_residues, on_threads, residues_at, Located, PREFETCH_AHEAD,
};
use super::*;

thread_local! {
    /// Buffers of `find_each`, taken while in use (a nested call gets fresh ones).
    static FOUND: RefCell<FoundBuffers> = RefCell::new(FoundBuffers::default());
}

/// A sequence found by [`PackedSequenceStorage::find_each`], borrowed from buffers that
/// the next sequence reuses.
#[derive(Clone, Copy, Debug)]
pub struct FoundSequence<'a> {
    /// SHA-256 of the residues.
    pub hash: SequenceHash,
    /// Upper-case residues.
    pub residues: &'a [u8],
    /// Headers and sources back to back.
    text: &'a str,
    /// Per representation: where its header ends and its source starts, and where its
    /// source ends, in `text` (the header starts where the previous source ended).
    ends: &'a [(usize, usize)],
}

impl<'a> FoundSequence<'a> {
    /// Each representation as (header, source), oldest first.
    pub fn representations(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + '_ {
        let text = self.text;
        self.ends
            .iter()
            .enumerate()
            .map(move |(i, &(header_end, end))| {
                let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
                (&text[start..header_end], &text[header_end..end])
            })
    }

    /// An owned copy.
    pub fn to_stored(&self) -> StoredSequence {
        StoredSequence {
            hash: self.hash,
            residues: self.residues.to_vec(),
            representations: self
                .representations()
                .map(|(h, s)| Representation::new(h, s))
                .collect(),
        }
    }
}

/// The buffers a [`FoundSequence`] borrows.
#[derive(Default)]
pub(crate) struct FoundBuffers {
    residues: Vec<u8>,
    text: String,
    ends: Vec<(usize, usize)>,
    /// `residues` holds an entry's residues (an empty sequence included).
    pub(super) has_residues: bool,
    /// A place read for it held another sequence with the same key prefix (skipped).
    other_sequence: bool,
}

impl FoundBuffers {
    pub(super) fn clear(&mut self) {
        self.residues.clear();
        self.text.clear();
        self.ends.clear();
        self.has_residues = false;
        self.other_sequence = false;
    }

    /// Joins `other`, read from entries after this one's: its residues if this has none,
    /// and its representations after this one's.
    fn append(&mut self, other: FoundBuffers) {
        if self.ends.is_empty() && !self.has_residues {
            let other_sequence = self.other_sequence;
            *self = other;
            self.other_sequence |= other_sequence;
            return;
        }
        self.other_sequence |= other.other_sequence;
        if other.has_residues && !self.has_residues {
            self.residues = other.residues;
            self.has_residues = true;
        }
        let shift = self.text.len();
        self.text.push_str(&other.text);
        (self.ends).extend(other.ends.iter().map(|&(h, e)| (h + shift, e + shift)));
    }

    /// Adds what entry `e` holds: its residues, unless an entry before gave them, and its
    /// representations whose header `keep` accepts.
    pub(super) fn add(
        &mut self,
        e: &pack_format::EntryRef<'_>,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        if e.has_sequence() && !self.has_residues {
            self.residues.extend_from_slice(e.sequence);
            self.has_residues = true;
        }
        let FoundBuffers { text, ends, .. } = self;
        e.for_each_representation(|h, s| {
            if keep(h) {
                text.push_str(h);
                let header_end = text.len();
                text.push_str(s);
                ends.push((header_end, text.len()));
            }
        })
        .map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    /// Whether the record read for `id` answers to it: an accession's candidate with no
    /// representation that answers (a row whose representation was never committed, or a
    /// key collision) does not, nor an MD5's or `sha512t24u`'s candidate whose residues
    /// have another digest (the alias rows hold digests' and SHA-256s' first bytes only).
    fn answers(&self, id: &SequenceId) -> bool {
        match id {
            SequenceId::Accession(_) => !self.ends.is_empty(),
            _ => id.answered_by_residues(&self.residues),
        }
    }

    pub(super) fn view(&self, hash: SequenceHash) -> FoundSequence<'_> {
        FoundSequence {
            hash,
            residues: &self.residues,
            text: &self.text,
            ends: &self.ends,
        }
    }
}

impl PackedSequenceStorage {
    /// The committed sequences `id` names: one for a digest, any number for an accession
    /// (the sequences of every representation that answers to it), none when unknown.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let by_acc = store.resolve(&SequenceId::parse("HBA_HUMAN").unwrap()).unwrap();
    /// let by_md5 = store.resolve(&SequenceId::parse("a3c9b6a3c4ba5d4e1d4c2d5e32b6a4c5").unwrap()).unwrap();
    /// assert_eq!(by_acc.len(), 1);
    /// assert!(by_md5.is_empty());
    /// ```
    pub fn resolve(&self, id: &SequenceId) -> Result<Vec<SequenceHash>, StoreError> {
        Ok(answering(&self.snapshot(), id)?
            .into_iter()
            .map(|(hash, _)| hash)
            .collect())
    }

    /// The residues of every committed sequence `id` names (for a digest at most one):
    /// [`resolve`](Self::resolve) then [`get`](Self::get), with one index lookup less.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let found = store.get_by(&SequenceId::parse("P69905").unwrap()).unwrap();
    /// assert_eq!(found[0].1, b"MVLSPADKTN");
    /// ```
    pub fn get_by(&self, id: &SequenceId) -> Result<Vec<(SequenceHash, Vec<u8>)>, StoreError> {
        answering(&self.snapshot(), id)
    }

    /// Every committed sequence `id` names, with the representations that match it: all of
    /// them for a digest, those answering to the accession for an accession.
    pub fn find(&self, id: &SequenceId) -> Result<Vec<StoredSequence>, StoreError> {
        let mut out = Vec::new();
        self.find_each(id, |found| out.push(found.to_stored()))?;
        Ok(out)
    }

    /// Calls `f` with every sequence [`find`](Self::find) would return, borrowed from
    /// buffers reused from one sequence and one call to the next (no allocation per
    /// sequence); returns how many there were.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN Hemoglobin", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let mut headers = Vec::new();
    /// let n = store
    ///     .find_each(&SequenceId::parse("P69905").unwrap(), |found| {
    ///         assert_eq!(found.residues, b"MVLSPADKTN");
    ///         headers.extend(found.representations().map(|(h, _)| h.to_string()));
    ///     })
    ///     .unwrap();
    /// assert_eq!((n, headers), (1, vec!["sp|P69905|HBA_HUMAN Hemoglobin".to_string()]));
    /// ```
    pub fn find_each(
        &self,
        id: &SequenceId,
        mut f: impl FnMut(&FoundSequence<'_>),
    ) -> Result<usize, StoreError> {
        let snap = self.snapshot();
        let mut buffers = FOUND.with(|b| b.take());
        let mut found = 0;
        let result = candidates(&snap, id).and_then(|candidates| {
            for (hash, locs) in candidates {
                CACHE.with(|c| {
                    fill_record(
                        &snap,
                        &hash,
                        &locs,
                        &mut c.borrow_mut(),
                        &mut buffers,
                        |h| id.matches_header(h),
                    )
                })?;
                if !buffers.answers(id) {
                    continue;
                }
                f(&buffers.view(hash));
                found += 1;
            }
            Ok(found)
        });
        FOUND.with(|b| b.replace(buffers));
        result
    }

    /// [`find_each`](Self::find_each) of every id of `ids`, read together: `f(i, found)`
    /// for each sequence `ids[i]` names, in the order of `ids` (and for one id in
    /// `find_each`'s order). Returns how many sequences each id named.
    ///
    /// As in [`get_many`](Self::get_many), the entries of the whole batch are read in the
    /// order of their places in the packs; each sequence is held until its id's turn, so a
    /// batch should be of thousands of ids, not millions.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use sequoia_store::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};
    /// let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    /// store.put(b"MVLSPADKTN", Representation::new("sp|P69905|HBA_HUMAN", "sp")).unwrap();
    /// store.commit().unwrap();
    /// let ids = [SequenceId::parse("Q99999").unwrap(), SequenceId::parse("P69905").unwrap()];
    /// let mut found = Vec::new();
    /// let counts = store.find_many(&ids, |i, rec| found.push((i, rec.residues.to_vec()))).unwrap();
    /// assert_eq!((counts, found), (vec![0, 1], vec![(1, b"MVLSPADKTN".to_vec())]));
    /// ```
    pub fn find_many(
        &self,
        ids: &[SequenceId],
        f: impl FnMut(usize, &FoundSequence<'_>),
    ) -> Result<Vec<usize>, StoreError> {
        self.find_many_parallel(ids, 1, f)
    }

    /// [`find_many`](Self::find_many) on `threads` threads: a share of the ids each finds
    /// its sequences' places, then the places, sorted, are read in `threads` shares cut
    /// between blocks, so that each block is decompressed by one thread, once; `f` is
    /// called on the calling thread, in the order of the ids.
    pub fn find_many_parallel(
        &self,
        ids: &[SequenceId],
        threads: usize,
        mut f: impl FnMut(usize, &FoundSequence<'_>),
    ) -> Result<Vec<usize>, StoreError> {
        let threads = threads.clamp(1, ids.len().max(1));
        let snap = self.snapshot();
        let snap = &snap;
        let share = ids.len().div_ceil(threads).max(1);
        let found = on_threads(ids.chunks(share).enumerate(), |(c, part)| {
            named_places(snap, part, c * share)
        })?;
        // Every sequence the ids name (in the order of the ids), and every entry of each.
        let mut named: Vec<(usize, SequenceHash)> = Vec::new();
        let mut places: Vec<(PackLocation, usize)> = Vec::new();
        for (part_named, part_places) in found {
            let base = named.len();
            named.extend(part_named);
            places.extend(part_places.into_iter().map(|(l, n)| (l, n + base)));
        }
        // Sorted by place, each sequence's entries keep their order (`locations` sorts them).
        places.sort_unstable();
        if self.layout.remote().is_some() {
            snap.fetch_places(|n| named[n].1, &places)?;
        }
        let named = &named;
        let cuts = block_cuts(&places, threads);
        let read = on_threads(cuts.windows(2).map(|w| &places[w[0]..w[1]]), |range| {
            read_records(snap, ids, named, range)
        })?;
        // Each thread's records in the order of its places; a sequence whose entries two
        // threads read is joined in place order (the threads' order).
        let mut records: Vec<FoundBuffers> = Vec::new();
        records.resize_with(named.len(), FoundBuffers::default);
        for part in read {
            for (n, record) in part {
                records[n].append(record);
            }
        }
        // A sequence none of whose places held its residues is damage, unless a place held
        // another sequence of its key prefix: then it is not stored.
        if let Some(((_, hash), _)) =
            (named.iter().zip(&records)).find(|(_, r)| !r.has_residues && !r.other_sequence)
        {
            return Err(no_residues(hash));
        }
        let answers = answers_of_many(ids, named, &records);
        let mut counts = vec![0; ids.len()];
        for (((i, hash), record), answers) in named.iter().zip(&records).zip(answers) {
            if !answers || !record.has_residues {
                continue;
            }
            f(*i, &record.view(*hash));
            counts[*i] += 1;
        }
        Ok(counts)
    }
}

/// The sequences `ids` name, as (index of the id + `base`, key), in the order of the ids,
/// and the places of their entries, as (location, index into the first list). SHA-256 ids
/// are looked up together ([`Snapshot::locations_many`]).
#[allow(clippy::type_complexity)]
fn named_places(
    snap: &Snapshot,
    ids: &[SequenceId],
    base: usize,
) -> Result<(Vec<(usize, SequenceHash)>, Vec<(PackLocation, usize)>), StoreError> {
    let mut named: Vec<(usize, SequenceHash)> = Vec::new();
    let mut places: Vec<(PackLocation, usize)> = Vec::new();
    let sha256: Vec<SequenceHash> = (ids.iter())
        .filter_map(|id| match id {
            SequenceId::Sha256(h) => Some(*h),
            _ => None,
        })
        .collect();
    let mut located = snap.locations_many(&sha256)?.into_iter();
    for (i, id) in ids.iter().enumerate() {
        let found = match id {
            SequenceId::Sha256(h) => {
                let locs = located.next().unwrap_or_default();
                if locs.is_empty() {
                    Vec::new()
                } else {
                    vec![(*h, locs)]
                }
            }
            _ => candidates(snap, id)?,
        };
        for (hash, locs) in found {
            places.extend(locs.into_iter().map(|loc| (loc, named.len())));
            named.push((base + i, hash));
        }
    }
    Ok((named, places))
}

/// Reads the entries at `places` (sorted) into a record per sequence, in the order the
/// places first name them.
fn read_records(
    snap: &Snapshot,
    ids: &[SequenceId],
    named: &[(usize, SequenceHash)],
    places: &[(PackLocation, usize)],
) -> Result<Vec<(usize, FoundBuffers)>, StoreError> {
    let mut slot = vec![u32::MAX; named.len()];
    let mut records: Vec<(usize, FoundBuffers)> = Vec::new();
    CACHE.with(|c| -> Result<(), StoreError> {
        let mut cache = c.borrow_mut();
        for (j, &(loc, n)) in places.iter().enumerate() {
            if let Some(&(ahead, m)) = places.get(j + PREFETCH_AHEAD) {
                snap.prefetch(&named[m].1, &ahead);
            }
            let (i, hash) = &named[n];
            let id = &ids[*i];
            if slot[n] == u32::MAX {
                slot[n] = records.len() as u32;
                records.push((n, FoundBuffers::default()));
            }
            let record = &mut records[slot[n] as usize].1;
            let read = snap.with_entry(hash, &loc, &mut cache, |e| {
                record.add(&e, |h| id.matches_header(h))
            });
            match read {
                Ok(added) => added?,
                // A v3 row found by its key prefix holds another sequence: not this one's.
                Err(StoreError::Pack(pack_io::Error::Format {
                    source: pack_format::Error::OtherSequence { .. },
                    ..
                })) => record.other_sequence = true,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    Ok(records)
}

/// The committed sequences `id` may name, with their locations: one index lookup for a
/// SHA-256, an alias lookup and one lookup by prefix otherwise. An alias row holds the
/// first bytes of a digest and of a SHA-256, so candidates may include sequences that do
/// not answer to `id`: the caller reads them and keeps those that do
/// ([`FoundBuffers::answers`], [`answering`]). Locations come from `snap`, which the
/// caller reads them in.
fn candidates(snap: &Snapshot, id: &SequenceId) -> Result<Vec<Located>, StoreError> {
    if let SequenceId::Sha256(h) = id {
        let locs = snap.locations(h)?;
        return Ok(if locs.is_empty() {
            Vec::new()
        } else {
            vec![(*h, locs)]
        });
    }
    let Some((kind, keys)) = id.alias_keys() else {
        return Ok(Vec::new());
    };
    let mut found = snap.alias_locations(kind, &keys[0])?;
    if keys.len() > 1 {
        // An identifier with `|`, looked up through its fields too: a sequence found
        // under several keys is one candidate.
        for key in &keys[1..] {
            found.extend(snap.alias_locations(kind, key)?);
        }
        found.sort_by_key(|(hash, _)| *hash);
        found.dedup_by(|a, b| a.0 == b.0);
    }
    Ok(found)
}

/// Whether each record of `find_many` answers to its id ([`FoundBuffers::answers`]), the
/// MD5s of those found for MD5 ids and the SHA-512s of those found for `sha512t24u` ids
/// each computed side by side in SIMD lanes.
fn answers_of_many(
    ids: &[SequenceId],
    named: &[(usize, SequenceHash)],
    records: &[FoundBuffers],
) -> Vec<bool> {
    // Records of the other ids answer by themselves; those of digest ids are set below,
    // once the digests of all of them are computed (each record with its id's key).
    let mut md5: Vec<(usize, &[u8; 16])> = Vec::new();
    let mut sha512: Vec<(usize, &[u8; 24])> = Vec::new();
    let mut answers: Vec<bool> = named
        .iter()
        .zip(records)
        .enumerate()
        .map(|(n, (&(i, _), r))| match &ids[i] {
            SequenceId::Md5(key) => {
                md5.push((n, key));
                false
            }
            SequenceId::Sha512t24u(key) => {
                sha512.push((n, key));
                false
            }
            id => r.answers(id),
        })
        .collect();
    let residues = |n: usize| &records[n].residues[..];
    let of_md5: Vec<&[u8]> = md5.iter().map(|&(n, _)| residues(n)).collect();
    for (&(n, key), digest) in md5.iter().zip(digest_lanes::md5_each(&of_md5)) {
        answers[n] = digest == *key;
    }
    let of_sha512: Vec<&[u8]> = sha512.iter().map(|&(n, _)| residues(n)).collect();
    for (&(n, key), digest) in sha512.iter().zip(digest_lanes::sha512_each(&of_sha512)) {
        answers[n] = digest[..24] == key[..];
    }
    answers
}

/// The committed sequences `id` names, with their residues: the [`candidates`] that
/// answer to it ([`FoundBuffers::answers`]), a digest's checked by the digest of its
/// residues, an accession's by its headers.
fn answering(snap: &Snapshot, id: &SequenceId) -> Result<Vec<(SequenceHash, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for (hash, locs) in candidates(snap, id)? {
        let residues =
            CACHE.with(|c| {
                let cache = &mut c.borrow_mut();
                match id {
                    SequenceId::Accession(_) => accession_residues(snap, id, &hash, &locs, cache),
                    _ => Ok(residues_at(snap, &hash, &locs, cache)?
                        .filter(|r| id.answered_by_residues(r))),
                }
            })?;
        out.extend(residues.map(|r| (hash, r)));
    }
    Ok(out)
}

/// The residues of the sequence at `locs` if one of its headers answers to accession
/// `id`: its entries are read in order only until one header answers and the residues
/// are read (usually the residues entry alone).
fn accession_residues(
    snap: &Snapshot,
    id: &SequenceId,
    hash: &SequenceHash,
    locs: &[pack_format::PackLocation],
    cache: &mut BlockCache,
) -> Result<Option<Vec<u8>>, StoreError> {
    let (mut residues, mut answers) = (None, false);
    for loc in locs {
        snap.with_entry(hash, loc, cache, |e| {
            if e.has_sequence() && residues.is_none() {
                residues = Some(e.sequence.to_vec());
            }
            if answers {
                return Ok(());
            }
            e.for_each_representation(|h, _| answers |= id.matches_header(h))
                .map_err(|err| StoreError::Corrupt(err.to_string()))
        })??;
        if answers && residues.is_some() {
            break;
        }
    }
    match residues {
        None => Err(no_residues(hash)),
        Some(r) => Ok(answers.then_some(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn residues(i: usize) -> Vec<u8> {
        format!("M{}W", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 7 + 1))
            .into_bytes()
            .into_iter()
            .chain(
                i.to_string()
                    .bytes()
                    .map(|d| b"KLMNPQRSTV"[(d - b'0') as usize]),
            )
            .collect()
    }

    /// Three commits in small packs: the later two add representations to sequences of
    /// the first, whose addition rows land in other packs (and other threads' shares).
    fn store_in(dir: &std::path::Path, format: pack_format::PackVersion) -> PackedSequenceStorage {
        let options = StoreOptions {
            format,
            pack_size_limit: 6_000,
            block_size: Some(600),
            ..StoreOptions::default()
        };
        let store = PackedSequenceStorage::open_writer(dir, options).unwrap();
        for (round, step) in [(0, 1), (1, 3), (2, 7)] {
            for i in (0..900).step_by(step) {
                let r = Representation::new(format!("r{round}_{i} ACC{i}"), format!("s{round}"));
                store.put(&residues(i), r).unwrap();
            }
            store.commit().unwrap();
        }
        store
    }

    fn found(
        store: &PackedSequenceStorage,
        ids: &[SequenceId],
        threads: usize,
    ) -> (Vec<usize>, Vec<(usize, StoredSequence)>) {
        let mut out = Vec::new();
        let counts = store
            .find_many_parallel(ids, threads, |i, rec| out.push((i, rec.to_stored())))
            .unwrap();
        (counts, out)
    }

    #[test]
    fn find_many_on_threads_answers_as_on_one_in_every_layout() {
        for format in [pack_format::PackVersion::V2, pack_format::PackVersion::V3] {
            let dir = tempfile::tempdir().unwrap();
            let store = store_in(dir.path(), format);
            let packs = store.stats().unwrap().packs;
            assert!(packs > 4, "{packs} packs of {format:?}");
            // SHA-256 keys (stored and not), accessions naming one or no sequence, in an
            // order unlike the packs'.
            let mut ids: Vec<SequenceId> = Vec::new();
            for i in (0..1000).rev().step_by(3) {
                ids.push(SequenceId::Sha256(SequenceHash::of_residues(&residues(i))));
                ids.push(SequenceId::parse(&format!("r0_{i}")).unwrap());
            }
            let (one_counts, one) = found(&store, &ids, 1);
            assert_eq!(one_counts.iter().sum::<usize>(), one.len());
            // Every stored key found, with all its representations, oldest first.
            let rec = &one.iter().find(|(i, _)| *i == 2 * 100).unwrap().1;
            assert_eq!(rec.residues, residues(999 - 300));
            for n in 0..ids.len() {
                let k = 999 - 3 * (n / 2);
                assert_eq!(one_counts[n], usize::from(k < 900), "{:?}", ids[n]);
            }
            let seven = &one
                .iter()
                .find(|(_, r)| r.residues == residues(693))
                .unwrap()
                .1;
            let headers: Vec<&str> = seven
                .representations
                .iter()
                .map(|r| r.header.as_str())
                .collect();
            assert_eq!(
                headers,
                ["r0_693 ACC693", "r1_693 ACC693", "r2_693 ACC693"],
                "{format:?}"
            );
            for threads in [2, 3, 8] {
                assert_eq!(
                    found(&store, &ids, threads),
                    (one_counts.clone(), one.clone()),
                    "{format:?} on {threads} threads"
                );
            }
        }
    }
}
