//! Alias-index rows (MD5, `sha512t24u`, accession → an entry of the sequence, or its
//! SHA-256 prefix in stores of v1 packs and of earlier builds): collected compactly per
//! kind as (key, SHA-256 prefix), computed on their own thread during an import, turned
//! into entries of the commit's packs and merged into the alias index files at commit and
//! by `rebuild-index` and `repack`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use pack_format::{PackId, SequenceHash};
use pack_index::{
    cut_key, cut_prefix, hash_prefix, write_merged_alias_entry_index, write_merged_alias_index,
    AliasKey, AliasLayout, CheckedIndex, EntryRow, HashPrefix, IndexKind, ALIAS_KEY_LEN,
};
use pack_io::PutEntry;

use crate::commit_record::LayerName;
use crate::error::StoreError;
use crate::ids::SequenceDigests;
use crate::layout::{write_atomically, StoreLayout};
use crate::snapshot::index_error;

/// One alias row: a key of `N` bytes and a SHA-256 prefix (16 to 32 bytes).
type Row<const N: usize> = ([u8; N], HashPrefix);

/// Rows of one kind, kept as a sorted, de-duplicated prefix and an unsorted tail, so that
/// repeated rows (one accession in several sources) do not grow the buffer and no row is
/// sorted more than once.
#[derive(Default)]
pub(crate) struct Rows<const N: usize> {
    rows: Vec<Row<N>>,
    /// `rows[..sorted]` is sorted and free of duplicates.
    sorted: usize,
}

impl<const N: usize> Rows<N> {
    /// Appends `row`; when the buffer is full, compacts it first and grows it only if
    /// compacting freed less than a quarter.
    fn push(&mut self, row: Row<N>) {
        if self.rows.len() == self.rows.capacity() && self.rows.len() >= 4096 {
            self.compact();
            if self.rows.len() >= self.rows.capacity() / 4 * 3 {
                self.rows.reserve(self.rows.len());
            }
        }
        self.rows.push(row);
    }

    /// Sorts the tail, merges it into the sorted prefix and drops duplicates: the cost is
    /// the tail's sort and one pass, whatever the prefix's length.
    fn compact(&mut self) {
        let mut tail = self.rows.split_off(self.sorted);
        tail.sort_unstable();
        tail.dedup();
        let (s, t) = (self.rows.len(), tail.len());
        // Merged from the back into the room the tail left (capacity is unchanged).
        self.rows.resize(s + t, ([0; N], [0; 8]));
        let (mut i, mut j) = (s, t);
        while j > 0 {
            let k = i + j - 1;
            if i > 0 && self.rows[i - 1] > tail[j - 1] {
                self.rows[k] = self.rows[i - 1];
                i -= 1;
            } else {
                self.rows[k] = tail[j - 1];
                j -= 1;
            }
        }
        self.rows.dedup();
        self.sorted = self.rows.len();
    }

    /// Every row, sorted and without duplicates.
    fn into_sorted(mut self) -> Vec<Row<N>> {
        self.compact();
        self.rows
    }
}

/// New alias rows of a session, per kind: keys as the alias indexes hold them (the first
/// [`ALIAS_KEY_LEN`] bytes of a digest, an accession key), so that a session's rows take
/// 16 bytes each.
#[derive(Default)]
pub(crate) struct AliasRows {
    md5: Rows<ALIAS_KEY_LEN>,
    sha512t24u: Rows<ALIAS_KEY_LEN>,
    accession: Rows<ALIAS_KEY_LEN>,
}

/// The first [`ALIAS_KEY_LEN`] bytes of a digest: its key in an alias index.
fn alias_key(digest: &[u8]) -> AliasKey {
    digest[..ALIAS_KEY_LEN]
        .try_into()
        .expect("keys (digests of 16 and 24 bytes, accession keys of 8) are longer than alias keys")
}

impl AliasRows {
    /// The digest rows of new sequences, their SHA-512s and MD5s computed side by side.
    pub fn add_sequences(&mut self, sequences: &[(SequenceHash, &[u8])]) {
        let residues: Vec<&[u8]> = sequences.iter().map(|&(_, r)| r).collect();
        let sha512 = digest_lanes::sha512_each(&residues);
        let md5 = digest_lanes::md5_each(&residues);
        for ((&(hash, _), full), md5) in sequences.iter().zip(&sha512).zip(md5) {
            self.add_digests(SequenceDigests::with_digests(hash, full, md5));
        }
    }

    /// Collects sequences read from somewhere that lends them only for a moment (a pack's
    /// decoded block) and adds their digest rows a batch at a time, so that their SHA-512s
    /// are computed side by side as the import's are.
    pub fn batched(&mut self) -> SequenceBatch<'_> {
        SequenceBatch {
            rows: self,
            residues: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn add_digests(&mut self, d: SequenceDigests) {
        let p = hash_prefix(&d.sha256);
        self.md5.push((alias_key(&d.md5), p));
        self.sha512t24u.push((alias_key(&d.sha512t24u), p));
    }

    /// The accession rows of a representation's header.
    pub fn add_header(&mut self, hash: SequenceHash, header: &str) {
        let p = hash_prefix(&hash);
        for acc in crate::ids::indexed_accessions(header) {
            self.accession
                .push((alias_key(&crate::ids::accession_key(acc)), p));
        }
    }

    /// The rows of every entry of pack `id`: digest rows of its sequences, accession rows
    /// of its representations (what `rebuild-index` reads from the packs). On
    /// an error, the rows of the entries read before it are kept.
    pub fn add_pack(&mut self, reader: &pack_io::PackReader, id: PackId) -> Result<(), StoreError> {
        let mut batch = self.batched();
        reader.for_each_entry::<StoreError>(id, |_, e| {
            if e.has_sequence() {
                batch.add_sequence(e.hash, e.sequence);
            }
            e.for_each_representation(|header, _| batch.rows.add_header(e.hash, header))
                .map_err(|err| StoreError::Corrupt(err.to_string()))
        })
    }

    /// Sorts every kind's rows and drops duplicates.
    fn compact(&mut self) {
        self.md5.compact();
        self.sha512t24u.compact();
        self.accession.compact();
    }

    /// Writes the three alias indexes of layer `name` over `packs`: these rows merged
    /// with those of the `old` indexes (per kind; checked by the caller before anything is
    /// written), in a store of `sequences` sequences (for the layout of a file written
    /// from nothing), rows naming entries or holding SHA-256 prefixes as `target` says.
    pub fn write_layer(
        self,
        layout: &StoreLayout,
        name: LayerName,
        packs: &[PackId],
        old: &OldAliases<'_>,
        sequences: u64,
        target: AliasTarget<'_>,
    ) -> Result<(), StoreError> {
        let fresh = AliasLayout::for_store(sequences);
        let olds = |kind| old.get(&kind).map_or(&[][..], |v| v.as_slice());
        let path = |kind| layout.layer_alias_path(name, kind);
        let kinds = [
            (IndexKind::Md5, self.md5),
            (IndexKind::Sha512t24u, self.sha512t24u),
            (IndexKind::Accession, self.accession),
        ];
        for (kind, rows) in kinds {
            match &target {
                AliasTarget::Entries(names) => {
                    entry_write(&path(kind), kind, packs, rows, olds(kind), fresh, names)?
                }
                AliasTarget::Prefixes(hash_of) => {
                    merge_write(&path(kind), kind, packs, rows, olds(kind), fresh, *hash_of)?
                }
            }
        }
        Ok(())
    }
}

/// What a layer's alias rows hold: entries (docs/format.md, "Alias rows naming entries"),
/// for a layer of entry rows in a store whose alias indexes all name entries; or SHA-256
/// prefixes, for a store of v1 packs or one whose indexes were written before entries.
pub(crate) enum AliasTarget<'a> {
    /// Rows name entries; the new rows' entries are found among these, the entry rows of
    /// the layer's new packs.
    Entries(&'a EntryNames),
    /// Rows hold SHA-256 prefixes; an old index whose rows name entries has them read
    /// through this (the hash of a pack's entry).
    Prefixes(&'a (dyn Fn(PackId, u32) -> Result<SequenceHash, StoreError> + Sync)),
}

impl<'a> AliasTarget<'a> {
    /// Entries found among `names` if given, else prefixes (named entries' hashes read
    /// through `hash_of`).
    pub(crate) fn new(
        names: Option<&'a EntryNames>,
        hash_of: &'a (dyn Fn(PackId, u32) -> Result<SequenceHash, StoreError> + Sync),
    ) -> AliasTarget<'a> {
        match names {
            Some(names) => AliasTarget::Entries(names),
            None => AliasTarget::Prefixes(hash_of),
        }
    }
}

/// The entry rows of the new packs `packs` (v2 and v3: row `i` of a pack is entry `i`),
/// unsorted: [`EntryNames::new`] sorts them (on the thread that writes the alias indexes).
pub(crate) fn entry_rows_of(packs: &[pack_io::FinishedPack]) -> Vec<EntryRow> {
    let mut rows = Vec::new();
    for p in packs {
        if let pack_io::PackRows::Prefixes(prefixes) = &p.rows {
            rows.extend(
                (prefixes.iter().zip(0u32..)).map(|(&prefix, entry)| EntryRow {
                    prefix,
                    pack: p.id,
                    entry,
                }),
            );
        }
    }
    rows
}

/// Entry rows sorted by SHA-256 prefix behind a directory of their first bits (about 4
/// rows a slot): finding an alias row's entry costs a slot and a few rows, not the cache
/// misses of a binary search over all of them (3 million searches for an import of a
/// million sequences).
pub(crate) struct EntryNames {
    rows: Vec<EntryRow>,
    /// `starts[s]`: the first row whose prefix's top `bits` bits are `s` or more.
    starts: Vec<u32>,
    bits: u32,
}

impl EntryNames {
    pub(crate) fn new(mut rows: Vec<EntryRow>) -> EntryNames {
        rows.sort_unstable();
        let bits = (usize::BITS - (rows.len() / 4).leading_zeros()).min(24);
        let mut starts = vec![0u32; (1usize << bits) + 1];
        for r in &rows {
            starts[top_bits(&r.prefix, bits) + 1] += 1;
        }
        for s in 1..starts.len() {
            starts[s] += starts[s - 1];
        }
        EntryNames { rows, starts, bits }
    }

    /// The first entry row of `prefix` (in (pack, entry) order).
    fn first(&self, prefix: &HashPrefix) -> Option<&EntryRow> {
        let s = top_bits(prefix, self.bits);
        let slot = &self.rows[self.starts[s] as usize..self.starts[s + 1] as usize];
        let at = slot.partition_point(|r| r.prefix < *prefix);
        slot.get(at).filter(|r| r.prefix == *prefix)
    }
}

/// The first `bits` bits (at most 24) of a prefix.
fn top_bits(prefix: &HashPrefix, bits: u32) -> usize {
    // No bits: every prefix in slot 0 (a shift by 64 is none).
    u64::from_be_bytes(*prefix)
        .checked_shr(64 - bits)
        .unwrap_or(0) as usize
}

/// Writes the alias index of `kind` over `packs` at `path`, atomically, with rows naming
/// entries: `rows` (each a key and a sequence's SHA-256 prefix) name the first entry of
/// `names` with that prefix (the sequence's first entry in the new packs: its residues
/// entry when it is new), merged with the rows of the `old` indexes (which name entries too) in
/// their key length when they share one, else in the narrowest of theirs and `fresh`'s,
/// the others' rows loaded once and cut to it.
fn entry_write(
    path: &Path,
    kind: IndexKind,
    packs: &[PackId],
    rows: Rows<ALIAS_KEY_LEN>,
    old: &[(PathBuf, CheckedIndex<'_, Mmap>)],
    fresh: AliasLayout,
    names: &EntryNames,
) -> Result<(), StoreError> {
    let old: Vec<&(PathBuf, CheckedIndex<'_, Mmap>)> = old
        .iter()
        .filter(|(_, ix)| !ix.index().is_empty())
        .collect();
    let lens: Vec<usize> = old.iter().map(|(_, ix)| ix.index().key_len()).collect();
    let key_len = match lens.first() {
        Some(&l) if lens.iter().all(|&m| m == l) && AliasLayout::is_written_key_len(l) => l,
        _ => AliasLayout::written_key_len(lens.iter().copied().fold(fresh.key_len, usize::min)),
    };
    let mut new: Vec<EntryRow> = Vec::new();
    for (key, prefix) in rows.into_sorted() {
        let mut k = [0u8; 8];
        k[..ALIAS_KEY_LEN].copy_from_slice(&key);
        // The first entry of the prefix (the residues entry of a new sequence): a lookup
        // reads its hash and then every sequence whose SHA-256 starts as it does, so one
        // entry serves all of them (another sequence of the same first 8 bytes too).
        if let Some(r) = names.first(&prefix) {
            new.push(EntryRow {
                prefix: k,
                pack: r.pack,
                entry: r.entry,
            });
        } else {
            return Err(StoreError::Corrupt(format!(
                "{}: an alias row names sequence {} (first bytes), which no entry of the \
                 new packs holds",
                path.display(),
                pack_format::to_hex(&prefix)
            )));
        }
    }
    let mut streamed = Vec::new();
    for (file, ix) in old {
        if ix.index().key_len() == key_len {
            streamed.push(*ix);
            continue;
        }
        let alias = ix.index().as_alias().map_err(index_error(file))?;
        new.extend(alias.checked_entry_rows().map_err(index_error(file))?);
    }
    write_atomically(path, |w| {
        write_merged_alias_entry_index(w, kind, key_len, packs, &streamed, &mut new)
            .map(|_| ())
            .map_err(index_error(path))
    })
}

/// The alias indexes a new layer merges, per kind, each with its file.
pub(crate) type OldAliases<'a> = BTreeMap<IndexKind, Vec<(PathBuf, CheckedIndex<'a, Mmap>)>>;

/// Writes the alias index of `kind` over `packs` at `path`, atomically: `rows` and those of
/// the `old` indexes, merged as they are written (the old rows are not loaded) in their
/// layout when they share one this version writes ([`AliasLayout::is_written`]), else in
/// the narrowest of theirs and `fresh` (the layout of an index written from nothing), with
/// the rows of the others (of earlier builds, or wider) loaded once and cut to it.
///
/// Old rows that name entries have each entry's hash read through `hash_of`.
fn merge_write(
    path: &Path,
    kind: IndexKind,
    packs: &[PackId],
    rows: Rows<ALIAS_KEY_LEN>,
    old: &[(PathBuf, CheckedIndex<'_, Mmap>)],
    fresh: AliasLayout,
    hash_of: &(dyn Fn(PackId, u32) -> Result<SequenceHash, StoreError> + Sync),
) -> Result<(), StoreError> {
    let mut rows = rows.into_sorted();
    // Indexes whose rows name entries have no layout of prefixes: never streamed.
    let layout_of = |ix: &CheckedIndex<'_, Mmap>| {
        (ix.index().as_alias().ok())
            .filter(|a| !a.names_entries())
            .map(|a| a.layout())
    };
    let old: Vec<&(PathBuf, CheckedIndex<'_, Mmap>)> = old
        .iter()
        .filter(|(_, ix)| !ix.index().is_empty())
        .collect();
    let layouts: Vec<Option<AliasLayout>> = old.iter().map(|(_, ix)| layout_of(ix)).collect();
    let target = match layouts.first() {
        Some(Some(l)) if l.is_written() && layouts.iter().all(|m| *m == Some(*l)) => *l,
        _ => AliasLayout {
            // 4 or 6 bytes, the narrowest of theirs and `fresh`'s.
            key_len: AliasLayout::written_key_len(
                (layouts.iter().flatten())
                    .map(|l| l.key_len)
                    .fold(fresh.key_len, usize::min),
            ),
            value_len: (layouts.iter().flatten())
                .map(|l| l.value_len)
                .fold(fresh.value_len, usize::min),
        },
    };
    let mut streamed = Vec::new();
    for ((file, ix), l) in old.into_iter().zip(layouts) {
        if l == Some(target) {
            streamed.push(*ix);
            continue;
        }
        let alias = ix.index().as_alias().map_err(index_error(file))?;
        if alias.names_entries() {
            // Rows naming entries (a store whose packs were all v2 or v3 until v1 packs
            // joined): each entry's hash read from its pack.
            for r in alias.checked_entry_rows().map_err(index_error(file))? {
                let key: AliasKey = r.prefix[..ALIAS_KEY_LEN]
                    .try_into()
                    .expect("8 bytes hold an alias key");
                let hash = hash_of(r.pack, r.entry)?;
                rows.push((
                    cut_key(key, target.key_len),
                    cut_prefix(hash_prefix(&hash), target.value_len),
                ));
            }
            continue;
        }
        rows.extend(alias.checked_rows_as(target).map_err(index_error(file))?);
    }
    write_atomically(path, |w| {
        write_merged_alias_index(w, kind, target, packs, &streamed, &mut rows)
            .map(|_| ())
            .map_err(index_error(path))
    })
}

/// Sequences waiting for their digest rows (see [`AliasRows::batched`]); the rest are
/// added when it is dropped.
pub(crate) struct SequenceBatch<'a> {
    /// The rows, for what is added at once (headers' accessions).
    pub rows: &'a mut AliasRows,
    residues: Vec<u8>,
    /// Per sequence: its hash and where its residues end in `residues`.
    ends: Vec<(SequenceHash, usize)>,
}

impl SequenceBatch<'_> {
    /// Residue bytes collected before a batch's digests are computed.
    const BYTES: usize = 1 << 20;

    /// Copies `residues` in; adds the batch's rows once it holds [`Self::BYTES`].
    pub fn add_sequence(&mut self, hash: SequenceHash, residues: &[u8]) {
        self.residues.extend_from_slice(residues);
        self.ends.push((hash, self.residues.len()));
        if self.residues.len() >= Self::BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut start = 0;
        let sequences: Vec<(SequenceHash, &[u8])> = self
            .ends
            .iter()
            .map(|&(hash, end)| {
                let r = &self.residues[start..end];
                start = end;
                (hash, r)
            })
            .collect();
        self.rows.add_sequences(&sequences);
        self.residues.clear();
        self.ends.clear();
    }
}

impl Drop for SequenceBatch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A thread that turns entries into alias rows while the writer compresses them.
pub(crate) struct AliasWorker {
    tx: Option<crossbeam_channel::Sender<Arc<Vec<PutEntry>>>>,
    handle: std::thread::JoinHandle<AliasRows>,
}

impl AliasWorker {
    pub fn spawn() -> Result<AliasWorker, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded::<Arc<Vec<PutEntry>>>(8);
        let handle = std::thread::Builder::new()
            .name("sequoia-alias".into())
            .spawn(move || {
                let mut rows = AliasRows::default();
                // The batches the writer compresses, shared: read here, never copied.
                for batch in rx {
                    let sequences: Vec<(SequenceHash, &[u8])> = batch
                        .iter()
                        .filter(|e| !e.residues.is_empty())
                        .map(|e| (e.hash, e.residues.as_slice()))
                        .collect();
                    rows.add_sequences(&sequences);
                    for e in batch.iter() {
                        for r in &e.representations {
                            rows.add_header(e.hash, &r.header);
                        }
                    }
                }
                // Sorted here, while the writer finishes its last pack, not at commit.
                rows.compact();
                rows
            })
            .map_err(|e| StoreError::Io {
                path: PathBuf::from("sequoia-alias thread"),
                source: e,
            })?;
        Ok(AliasWorker {
            tx: Some(tx),
            handle,
        })
    }

    /// Queues a batch (the one sent to the pack writer): new sequences' digests and every
    /// header's accessions become rows.
    pub fn send(&self, batch: Arc<Vec<PutEntry>>) -> Result<(), StoreError> {
        self.tx
            .as_ref()
            .expect("the sender lives until finish")
            .send(batch)
            .map_err(|_| StoreError::Corrupt("the alias thread stopped".into()))
    }

    /// Every row computed, once every job sent has been handled.
    pub fn finish(mut self) -> Result<AliasRows, StoreError> {
        drop(self.tx.take());
        self.handle
            .join()
            .map_err(|_| StoreError::Corrupt("the alias thread panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows from a small xorshift generator: `distinct` keys, each prefix derived from it.
    fn pseudo_random_rows(n: usize, distinct: u64, seed: u64) -> Vec<Row<8>> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = x % distinct;
                (k.to_le_bytes(), (k * 31).to_be_bytes())
            })
            .collect()
    }

    #[test]
    fn a_batch_gives_each_sequence_the_digest_rows_it_gives_alone() {
        // 3 MiB of sequences: the batch computes its digests three times on the way and
        // once more when dropped.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let sequences: Vec<Vec<u8>> = (0..6_000)
            .map(|i| {
                (0..100 + i % 900)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b"ACDEFGHIKLMNPQRSTVWY"[(x % 20) as usize]
                    })
                    .collect()
            })
            .collect();
        let mut batched = AliasRows::default();
        let mut batch = batched.batched();
        for s in &sequences {
            batch.add_sequence(SequenceHash::of_residues(s), s);
        }
        drop(batch);
        let mut alone = AliasRows::default();
        for s in &sequences {
            alone.add_digests(SequenceDigests::of(s));
        }
        let md5 = batched.md5.into_sorted();
        assert_eq!(
            md5.len(),
            sequences.len(),
            "one row per (distinct) sequence"
        );
        assert_eq!(md5, alone.md5.into_sorted());
        assert_eq!(
            batched.sha512t24u.into_sorted(),
            alone.sha512t24u.into_sorted()
        );
    }

    use crate::{PackedSequenceStorage, Representation, SequenceId, StoreOptions};

    /// A store of three committed sequences, their headers naming P1, P2 and P3.
    fn three_sequences(dir: &std::path::Path) -> Vec<&'static [u8]> {
        let store = PackedSequenceStorage::open_writer(dir, StoreOptions::default()).unwrap();
        let residues: Vec<&'static [u8]> = vec![b"MKVLAAGIV", b"MSTNPKPQRKTKRNTNRR", b"MDEKRS"];
        for (i, r) in residues.iter().enumerate() {
            let header = format!("sp|P{}|TEST_{i}", i + 1);
            store.put(r, Representation::new(&header, "sp")).unwrap();
        }
        store.commit().unwrap();
        residues
    }

    fn md5_id(residues: &[u8]) -> SequenceId {
        SequenceId::parse(&SequenceDigests::of(residues).md5_hex()).unwrap()
    }

    fn sq_id(residues: &[u8]) -> SequenceId {
        SequenceId::parse(&SequenceDigests::of(residues).ga4gh()).unwrap()
    }

    /// Rewrites the alias index of `kind` in `layout` with `rows` (whole keys), over the
    /// packs the current one covers.
    fn rewrite_alias_index(
        dir: &std::path::Path,
        kind: IndexKind,
        layout: AliasLayout,
        rows: &[(Vec<u8>, HashPrefix)],
    ) {
        let path = newest_alias_path(dir, kind);
        let packs = pack_index::open(&path).unwrap().packs();
        let bytes = pack_index::write_alias_index(Vec::new(), kind, layout, &packs, rows).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }

    #[test]
    fn entry_names_find_the_first_entry_of_a_prefix_as_a_search_of_all_does() {
        for n in [0usize, 1, 3, 17, 5_000] {
            let rows = pseudo_random_rows(n, (n as u64 / 2).max(1), 7 + n as u64);
            // Prefixes repeat (several entries of one sequence) and spread over the space.
            let entries: Vec<EntryRow> = (rows.iter().zip(0u32..))
                .map(|(&(_, p), i)| EntryRow {
                    prefix: u64::from_be_bytes(p)
                        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                        .to_be_bytes(),
                    pack: i % 3,
                    entry: i,
                })
                .collect();
            let names = EntryNames::new(entries.clone());
            let mut probes: Vec<HashPrefix> = entries.iter().map(|r| r.prefix).collect();
            probes.extend((0..50u64).map(|i| (i << 58 | i).to_be_bytes()));
            for p in probes {
                let want = entries.iter().filter(|r| r.prefix == p).min();
                assert_eq!(names.first(&p), want, "{n} rows, prefix {p:?}");
            }
        }
    }

    #[test]
    fn a_row_naming_another_sequences_entry_finds_nothing() {
        // Rows naming entries lead to a sequence by its entry: a lookup reads its hash
        // and checks the residues (digests) or headers (accessions) it finds.
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        assert_eq!(names_entries(dir.path()), [true; 3]);
        let digests: Vec<SequenceDigests> = r.iter().map(|r| SequenceDigests::of(r)).collect();
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        // The entry each sequence was written to, from the rows file.
        let snap = store.snapshot();
        let entry_of = |i: usize| {
            let rows = snap.layers[0].rows.as_entries().unwrap();
            let found: Vec<EntryRow> = rows
                .lookup(&hash_prefix(&digests[i].sha256))
                .unwrap()
                .collect();
            assert_eq!(found.len(), 1);
            (found[0].pack, found[0].entry)
        };
        let (e1, e2) = (entry_of(1), entry_of(2));
        drop(snap);
        drop(store);
        let key = |bytes: &[u8]| {
            let mut k = [0u8; 8];
            k[..6].copy_from_slice(&bytes[..6]);
            k
        };
        let row = |k: &[u8], (pack, entry): (PackId, u32)| EntryRow {
            prefix: key(k),
            pack,
            entry,
        };
        let rewrite = |kind: IndexKind, mut rows: Vec<EntryRow>| {
            let path = newest_alias_path(dir.path(), kind);
            let packs = pack_index::open(&path).unwrap().packs();
            let bytes = pack_index::write_merged_alias_entry_index::<_, &[u8]>(
                Vec::new(),
                kind,
                4,
                &packs,
                &[],
                &mut rows,
            )
            .unwrap();
            std::fs::write(&path, bytes).unwrap();
        };
        // The MD5 of sequence 0 names sequence 1's entry; sequence 1's own row is right.
        rewrite(
            IndexKind::Md5,
            vec![row(&digests[0].md5, e1), row(&digests[1].md5, e1)],
        );
        // Accession P1 (sequence 0's) names sequence 2's entry.
        let p1 = crate::ids::accession_key("P1");
        rewrite(IndexKind::Accession, vec![row(&p1, e2)]);
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        assert_eq!(store.resolve(&md5_id(r[0])).unwrap(), vec![]);
        assert_eq!(
            store.resolve(&md5_id(r[1])).unwrap(),
            vec![digests[1].sha256]
        );
        let p1 = SequenceId::parse("P1").unwrap();
        assert_eq!(store.resolve(&p1).unwrap(), vec![]);
        // The untouched index still finds sequence 0.
        assert_eq!(
            store.resolve(&sq_id(r[0])).unwrap(),
            vec![digests[0].sha256]
        );
    }

    #[test]
    fn v1_packs_joining_a_store_whose_rows_name_entries_get_prefix_rows_and_all_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        assert_eq!(names_entries(dir.path()), [true; 3]);
        let options = StoreOptions {
            format: pack_format::PackVersion::V1,
            ..StoreOptions::default()
        };
        let more: Vec<&[u8]> = vec![b"MQQQW", b"MWWWY"];
        {
            let store = PackedSequenceStorage::open_writer(dir.path(), options.clone()).unwrap();
            for (i, s) in more.iter().enumerate() {
                let header = format!("sp|Q{i}|V1_{i}");
                store.put(s, Representation::new(&header, "sp")).unwrap();
            }
            // An accession of a sequence stored before, in a v1 pack.
            store
                .put(r[0], Representation::new("sp|P9|AGAIN", "sp"))
                .unwrap();
            store.commit().unwrap();
        }
        // The new layer holds SHA-256 prefixes (v1 packs have no row tables).
        assert_eq!(names_entries(dir.path()), [false; 3]);
        let all_found = |store: &PackedSequenceStorage| {
            for s in r.iter().chain(&more) {
                let sha = SequenceHash::of_residues(s);
                for id in [md5_id(s), sq_id(s)] {
                    assert_eq!(store.resolve(&id).unwrap(), vec![sha], "{id}");
                }
            }
            for (acc, s) in [("P1", r[0]), ("P2", r[1]), ("Q1", more[1]), ("P9", r[0])] {
                let id = SequenceId::parse(acc).unwrap();
                let sha = SequenceHash::of_residues(s);
                assert_eq!(store.resolve(&id).unwrap(), vec![sha], "{acc}");
            }
        };
        let store = PackedSequenceStorage::open_writer(dir.path(), options).unwrap();
        all_found(&store);
        // Compacting merges the layer naming entries into prefix rows, read through the
        // packs.
        store.compact().unwrap();
        assert_eq!(store.stats().unwrap().layers, 1);
        assert_eq!(names_entries(dir.path()), [false; 3]);
        all_found(&store);
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_digest_row_naming_another_sequence_finds_nothing() {
        // The rows hold the first bytes of digests and SHA-256s only, so a lookup can
        // meet a sequence with another digest: it must check the residues it finds.
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        let digests: Vec<SequenceDigests> = r.iter().map(|r| SequenceDigests::of(r)).collect();
        let prefix = |i: usize| hash_prefix(&digests[i].sha256);
        // The MD5 of sequence 0 names sequence 1; sequence 1's own row is right.
        let rows = vec![
            (digests[0].md5.to_vec(), prefix(1)),
            (digests[1].md5.to_vec(), prefix(1)),
        ];
        rewrite_alias_index(dir.path(), IndexKind::Md5, AliasLayout::COMPACT, &rows);
        let rows = vec![
            (digests[0].sha512t24u.to_vec(), prefix(2)),
            (digests[2].sha512t24u.to_vec(), prefix(2)),
        ];
        let kind = IndexKind::Sha512t24u;
        rewrite_alias_index(dir.path(), kind, AliasLayout::COMPACT, &rows);
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        for id in [md5_id(r[0]), sq_id(r[0])] {
            assert_eq!(store.resolve(&id).unwrap(), vec![], "{id}");
            assert_eq!(store.get_by(&id).unwrap(), vec![], "{id}");
            assert!(store.find(&id).unwrap().is_empty(), "{id}");
            assert_eq!(
                store
                    .find_many(std::slice::from_ref(&id), |_, _| ())
                    .unwrap(),
                vec![0]
            );
        }
        assert_eq!(
            store.resolve(&md5_id(r[1])).unwrap(),
            vec![digests[1].sha256]
        );
        assert_eq!(
            store.get_by(&sq_id(r[2])).unwrap(),
            vec![(digests[2].sha256, r[2].to_vec())]
        );
        assert_eq!(
            store.find_many(&[md5_id(r[1])], |_, _| ()).unwrap(),
            vec![1]
        );
        // In one batch, whose digests are checked side by side (several to a lane
        // group): the right candidates answer, the wrong ones do not.
        let ids = [
            md5_id(r[0]),
            md5_id(r[1]),
            sq_id(r[0]),
            sq_id(r[2]),
            md5_id(r[1]),
        ];
        let mut found = Vec::new();
        let counts = store
            .find_many(&ids, |i, f| found.push((i, f.hash)))
            .unwrap();
        assert_eq!(counts, vec![0, 1, 0, 1, 1]);
        let want = [(1, 1), (3, 2), (4, 1)].map(|(i, s)| (i, digests[s].sha256));
        assert_eq!(found, want);
    }

    #[test]
    fn an_accession_row_naming_another_sequence_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        let sha = |i: usize| SequenceHash::of_residues(r[i]);
        let key = |acc: &str| crate::ids::accession_key(acc).to_vec();
        // P1 names sequence 2 as well as its own; P2 names only sequence 0.
        let rows = vec![
            (key("P1"), hash_prefix(&sha(0))),
            (key("P1"), hash_prefix(&sha(2))),
            (key("P2"), hash_prefix(&sha(0))),
        ];
        let kind = IndexKind::Accession;
        rewrite_alias_index(dir.path(), kind, AliasLayout::COMPACT, &rows);
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        let p1 = SequenceId::parse("P1").unwrap();
        assert_eq!(store.resolve(&p1).unwrap(), vec![sha(0)]);
        assert_eq!(store.get_by(&p1).unwrap(), vec![(sha(0), r[0].to_vec())]);
        let p2 = SequenceId::parse("P2").unwrap();
        assert_eq!(store.resolve(&p2).unwrap(), vec![]);
        assert!(store.find(&p2).unwrap().is_empty());
    }

    #[test]
    fn an_accession_answered_only_by_a_later_entry_is_found() {
        // A representation that came after its sequence's residues entry was written is
        // in an addition entry: get_by reads on until a header answers.
        let dir = tempfile::tempdir().unwrap();
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        store
            .put(b"MKVLAAGIV", Representation::new("sp|P1|FIRST", "sp"))
            .unwrap();
        store.commit().unwrap();
        store
            .put(b"MKVLAAGIV", Representation::new("tr|Q9|LATER", "tr"))
            .unwrap();
        store.commit().unwrap();
        let sha = SequenceHash::of_residues(b"MKVLAAGIV");
        assert_eq!(
            store.snapshot().locations(&sha).unwrap().len(),
            2,
            "two entries"
        );
        for acc in ["P1", "Q9", "LATER"] {
            let id = SequenceId::parse(acc).unwrap();
            assert_eq!(
                store.get_by(&id).unwrap(),
                vec![(sha, b"MKVLAAGIV".to_vec())],
                "{acc}"
            );
            assert_eq!(store.resolve(&id).unwrap(), vec![sha], "{acc}");
        }
        assert!(store
            .get_by(&SequenceId::parse("Q8").unwrap())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_small_store_holds_4_byte_keys_and_prefixes_and_wider_layers_are_read_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        let kinds = ALIAS_KINDS;
        let small = AliasLayout::for_store(3);
        assert_eq!(small, AliasLayout::SMALL);
        // A new store's rows name entries, under 4-byte keys.
        assert_eq!(names_entries(dir.path()), kinds.map(|_| true));
        assert!(layouts(dir.path()).iter().all(|l| l.unwrap().key_len == 4));
        // An index of 6-byte keys and 5-byte prefixes (builds before 2026-12-07, or a store
        // of 2^24 sequences) is read beside the new layers of 4, and merged into 4: the
        // store keeps prefixes until `rebuild-index`.
        for kind in kinds {
            rewrite_alias_index(dir.path(), kind, AliasLayout::COMPACT, &rows_of(kind, &r));
        }
        assert_eq!(
            layouts(dir.path()),
            kinds.map(|_| Some(AliasLayout::COMPACT))
        );
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        store
            .put(b"MQQQW", Representation::new("sp|P4|FOURTH", "sp"))
            .unwrap();
        store.commit().unwrap();
        assert_eq!(store.stats().unwrap().layers, 2);
        assert_eq!(layouts(dir.path()), kinds.map(|_| Some(small)));
        let all_found = |store: &PackedSequenceStorage| {
            for residues in r.iter().chain([&&b"MQQQW"[..]]) {
                let sha = SequenceHash::of_residues(residues);
                for id in [md5_id(residues), sq_id(residues)] {
                    assert_eq!(store.resolve(&id).unwrap(), vec![sha], "{id}");
                }
            }
        };
        all_found(&store);
        store.compact().unwrap();
        assert_eq!(store.stats().unwrap().layers, 1);
        assert_eq!(layouts(dir.path()), kinds.map(|_| Some(small)));
        all_found(&store);
        // rebuild-index writes them from nothing: rows naming entries, 4-byte keys.
        drop(store);
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        store.rebuild_index().unwrap();
        assert_eq!(names_entries(dir.path()), kinds.map(|_| true));
        assert!(layouts(dir.path()).iter().all(|l| l.unwrap().key_len == 4));
        all_found(&store);
    }

    #[test]
    fn indexes_of_the_earlier_layout_are_read_and_the_next_commit_writes_them_compact() {
        earlier_layout_is_read_and_rewritten(AliasLayout::legacy);
    }

    #[test]
    fn indexes_of_8_byte_keys_are_read_and_the_next_commit_writes_them_compact() {
        // What this version's builds of 2026-12-01 wrote before 6-byte keys.
        earlier_layout_is_read_and_rewritten(|_| AliasLayout {
            key_len: 8,
            value_len: 5,
        });
    }

    const ALIAS_KINDS: [IndexKind; 3] =
        [IndexKind::Md5, IndexKind::Sha512t24u, IndexKind::Accession];

    /// The alias index of `kind` of the newest layer of the store at `dir`.
    fn newest_alias_path(dir: &std::path::Path, kind: IndexKind) -> std::path::PathBuf {
        let snap = crate::snapshot::Snapshot::open(&StoreLayout::new(dir)).unwrap();
        snap.layers.last().unwrap().aliases[&kind].0.clone()
    }

    /// Whether the store's three alias indexes (of its newest layer) name entries, in
    /// [`ALIAS_KINDS`] order.
    fn names_entries(dir: &std::path::Path) -> Vec<bool> {
        (ALIAS_KINDS.iter())
            .map(|k| {
                let ix = pack_index::open(&newest_alias_path(dir, *k)).unwrap();
                ix.as_alias().is_ok_and(|a| a.names_entries())
            })
            .collect()
    }

    /// The layouts of the store's three alias indexes, in [`ALIAS_KINDS`] order.
    fn layouts(dir: &std::path::Path) -> Vec<Option<AliasLayout>> {
        (ALIAS_KINDS.iter())
            .map(|k| {
                pack_index::open(&newest_alias_path(dir, *k))
                    .unwrap()
                    .as_alias()
                    .ok()
                    .map(|v| v.layout())
            })
            .collect()
    }

    /// The alias rows of `kind` (whole keys) of [`three_sequences`], `residues`.
    fn rows_of(kind: IndexKind, residues: &[&[u8]]) -> Vec<(Vec<u8>, HashPrefix)> {
        let digests: Vec<SequenceDigests> =
            residues.iter().map(|r| SequenceDigests::of(r)).collect();
        let p = |i: usize| hash_prefix(&digests[i].sha256);
        match kind {
            IndexKind::Md5 => (0..3).map(|i| (digests[i].md5.to_vec(), p(i))).collect(),
            IndexKind::Sha512t24u => (0..3)
                .map(|i| (digests[i].sha512t24u.to_vec(), p(i)))
                .collect(),
            _ => (0..3)
                .flat_map(|i| {
                    let header = format!("sp|P{}|TEST_{i}", i + 1);
                    crate::ids::indexed_accessions(&header)
                        .into_iter()
                        .map(|a| (crate::ids::accession_key(a).to_vec(), p(i)))
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    fn earlier_layout_is_read_and_rewritten(earlier: fn(IndexKind) -> AliasLayout) {
        let dir = tempfile::tempdir().unwrap();
        let r = three_sequences(dir.path());
        let kinds = ALIAS_KINDS;
        for kind in kinds {
            rewrite_alias_index(dir.path(), kind, earlier(kind), &rows_of(kind, &r));
        }
        assert_eq!(layouts(dir.path()), kinds.map(|k| Some(earlier(k))));
        assert!(kinds.iter().all(|k| earlier(*k) != AliasLayout::COMPACT));
        let found = |store: &PackedSequenceStorage, i: usize, residues: &[u8]| {
            let sha = SequenceHash::of_residues(residues);
            let acc = SequenceId::parse(&format!("P{}", i + 1)).unwrap();
            for id in [md5_id(residues), sq_id(residues), acc] {
                assert_eq!(store.resolve(&id).unwrap(), vec![sha], "{id}");
            }
        };
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        for (i, residues) in r.iter().enumerate() {
            found(&store, i, residues);
        }
        store
            .put(b"MQQQW", Representation::new("sp|P4|FOURTH", "sp"))
            .unwrap();
        store.commit().unwrap();
        for (i, residues) in r.iter().chain([&&b"MQQQW"[..]]).enumerate() {
            found(&store, i, residues);
        }
        store.compact().unwrap();
        // Written as from nothing: a store of a few sequences holds 4-byte keys and
        // 4-byte prefixes.
        let small = AliasLayout::SMALL;
        assert_eq!(layouts(dir.path()), kinds.map(|_| Some(small)));
        for (i, residues) in r.iter().chain([&&b"MQQQW"[..]]).enumerate() {
            found(&store, i, residues);
        }
        // What the commit carried over is what the packs give: the store rebuilt (its
        // rows now naming entries) answers alike.
        drop(store);
        let repair = PackedSequenceStorage::open_for_repair(dir.path()).unwrap();
        repair.rebuild_index().unwrap();
        assert_eq!(names_entries(dir.path()), kinds.map(|_| true));
        for (i, residues) in r.iter().chain([&&b"MQQQW"[..]]).enumerate() {
            found(&repair, i, residues);
        }
    }

    #[test]
    fn rows_come_out_sorted_once_each_whatever_the_order_of_pushes() {
        for (n, distinct) in [
            (0, 1),
            (10, 3),
            (5_000, 4_000),
            (100_000, 70_000),
            (100_000, 1 << 40),
        ] {
            let input = pseudo_random_rows(n, distinct, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
            let mut rows = Rows::<8>::default();
            for (i, r) in input.iter().enumerate() {
                rows.push(*r);
                if i == n / 2 {
                    // A compaction in the middle (as the alias thread does when its input
                    // ends) changes nothing in the result.
                    rows.compact();
                }
            }
            let expected: Vec<Row<8>> = input
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(rows.into_sorted(), expected, "{n} rows of {distinct} keys");
        }
    }

    #[test]
    fn a_full_buffer_drops_duplicates_before_growing() {
        let mut rows = Rows::<8>::default();
        for r in pseudo_random_rows(1_000_000, 256, 7) {
            rows.push(r);
        }
        assert!(
            rows.rows.capacity() <= 8192,
            "256 distinct rows kept in {} slots",
            rows.rows.capacity()
        );
        assert_eq!(rows.into_sorted().len(), 256, "one row per distinct key");
    }
}
