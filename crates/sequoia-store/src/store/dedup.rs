//! The write session's de-duplication state: per sequence touched since the last commit,
//! the fingerprints of its representations (to skip repeated records), and its
//! *additions* (new representations of a sequence already written), held compactly until
//! the commit writes them as one addition entry per sequence.
//!
//! Everything lives in a few large buffers (a map entry per sequence, a 24-byte node per
//! addition, the headers' bytes in one arena) instead of a `String` per header
//! and a `Vec` per sequence: the import's memory is the data itself, and freeing it at the
//! commit leaves no scattered small allocations behind.

use std::collections::HashSet;

use pack_format::{Representation, SequenceHash, SequenceHashBuilder};

/// "No node": the end of a sequence's list.
const NONE: u32 = u32::MAX;
/// Fingerprint nodes a sequence's list may have before its fingerprints are also kept in
/// the session's set (`SessionDedup::many`): checking a record against a list is a
/// walk of cache misses, and a sequence with hundreds of records would make it quadratic.
const WALK_LIMIT: u16 = 16;
/// A node's `len` for a fingerprint of a representation stored in an earlier commit (no
/// text to write).
const STORED: u32 = u32::MAX;

/// One sequence touched since the last commit.
#[derive(Clone, Copy, Default)]
struct Known {
    /// The fingerprint of its first representation.
    first: u64,
    /// Its last fingerprint node (a list linked backwards), or `NONE`.
    last: u32,
    /// Whether it is in `additions` (it has representations to write at commit).
    has_additions: bool,
    /// Nodes in its list (saturating); past `WALK_LIMIT` its fingerprints are in `many`.
    nodes: u16,
}

/// A fingerprint beyond a sequence's first; for a representation to write at commit, where
/// its source index and header are in the text arena.
#[derive(Clone, Copy)]
struct Node {
    fp: u64,
    at: u64,
    prev: u32,
    /// Bytes of the header in the arena, or `STORED`.
    len: u32,
}

/// The fingerprints and additions of a write session.
#[derive(Default)]
pub(crate) struct SessionDedup {
    sequences: SeqTable,
    nodes: Vec<Node>,
    /// Sequences with representations to write, in first-seen order.
    additions: Vec<SequenceHash>,
    /// Headers of additions.
    text: TextArena,
    /// Source names, each once; a node's arena record starts with its index (u32 LE).
    sources: Vec<String>,
    /// (hash, fingerprint) of every node of the sequences with more than `WALK_LIMIT`
    /// nodes: the few with many records are checked here, not walked.
    many: HashSet<(SequenceHash, u64), SequenceHashBuilder>,
    /// A flush under way: the headers and sequences it takes from.
    flushing: Option<Flushing>,
}

/// What [`SessionDedup::flush_additions`] takes from, batch by batch.
#[derive(Default)]
struct Flushing {
    text: TextArena,
    additions: Vec<SequenceHash>,
    next: usize,
}

impl SessionDedup {
    /// Records a sequence with the fingerprints of its representations (of a new sequence:
    /// the one being written; of a stored one: those on disk, possibly none).
    pub fn insert_sequence(&mut self, hash: SequenceHash, fps: impl IntoIterator<Item = u64>) {
        let mut fps = fps.into_iter();
        // A sequence stored with no representation: no fingerprint can match this one.
        let first = fps.next().unwrap_or_else(|| fingerprint("\u{0}", "\u{0}"));
        let mut k = Known {
            first,
            last: NONE,
            has_additions: false,
            nodes: 0,
        };
        for fp in fps {
            let node = Node {
                fp,
                at: 0,
                prev: k.last,
                len: STORED,
            };
            add_node(&mut self.nodes, &mut self.many, &hash, &mut k, node);
        }
        self.sequences.insert(hash, k);
    }

    /// Adds a representation of a sequence recorded with
    /// [`insert_sequence`](Self::insert_sequence), to be written at commit: `Some(true)`,
    /// or `Some(false)` (keeping nothing) when the sequence already has it; `None` when the
    /// sequence was not recorded.
    pub fn add_representation(
        &mut self,
        hash: &SequenceHash,
        header: &str,
        source: &str,
    ) -> Option<bool> {
        let k = self.sequences.get_mut(hash)?;
        let fp = fingerprint(header, source);
        let seen = k.first == fp
            || if k.nodes > WALK_LIMIT {
                self.many.contains(&(*hash, fp))
            } else {
                list(&self.nodes, k.last).any(|n| n.fp == fp)
            };
        if seen {
            return Some(false);
        }
        let source_ix = match self.sources.iter().rposition(|s| s == source) {
            Some(i) => i,
            None => {
                self.sources.push(source.to_string());
                self.sources.len() - 1
            }
        } as u32;
        let at = self.text.push(source_ix, header.as_bytes());
        let node = Node {
            fp,
            at,
            prev: k.last,
            len: header.len() as u32,
        };
        add_node(&mut self.nodes, &mut self.many, hash, k, node);
        if !k.has_additions {
            k.has_additions = true;
            self.additions.push(*hash);
        }
        Some(true)
    }

    /// Takes the additions, per sequence in first-seen order and in the
    /// order they were added, and forgets everything else (the commit's end).
    pub fn take_additions(
        &mut self,
    ) -> impl Iterator<Item = (SequenceHash, Vec<Representation>)> + use<> {
        let taken = std::mem::take(self);
        let SessionDedup {
            sequences,
            nodes,
            additions,
            text,
            sources,
            many,
            flushing,
        } = taken;
        drop(many);
        debug_assert!(
            flushing.is_none(),
            "a flush runs to its end, or fails and poisons the session, before a commit"
        );
        drop(flushing);
        // The map is needed for each sequence with additions's last node only: those are kept and
        // the map (48 bytes per sequence touched) freed before the commit's peak.
        let lasts: Vec<(SequenceHash, u32)> = additions
            .into_iter()
            .map(|h| {
                let k = sequences
                    .get(&h)
                    .expect("a sequence with additions is in the map (added together)");
                (h, k.last)
            })
            .collect();
        drop(sequences);
        lasts
            .into_iter()
            .map(move |(hash, last)| (hash, additions_of(&nodes, last, &text, &sources)))
    }

    /// Bytes the additions' headers take (their arena's chunks).
    pub fn additions_bytes(&self) -> usize {
        self.text.chunks.iter().map(|c| c.capacity()).sum()
    }

    /// Takes additions as [`take_additions`](Self::take_additions) does, a
    /// batch of about `bytes` of headers at a time, but remembers every fingerprint: the
    /// session goes on refusing repeats. For a session whose additions' headers pass a bound:
    /// the caller writes each batch, as the commit would, until one comes back empty; the
    /// headers' memory is freed with the last. Representations added between two batches
    /// wait for the next flush or the commit.
    pub fn flush_additions(&mut self, bytes: usize) -> Vec<(SequenceHash, Vec<Representation>)> {
        let flushing = self.flushing.get_or_insert_with(|| Flushing {
            text: std::mem::take(&mut self.text),
            additions: std::mem::take(&mut self.additions),
            next: 0,
        });
        let (mut out, mut taken) = (Vec::new(), 0);
        while taken < bytes && flushing.next < flushing.additions.len() {
            let hash = flushing.additions[flushing.next];
            flushing.next += 1;
            let k = self
                .sequences
                .get_mut(&hash)
                .expect("a sequence with additions is in the map (added together)");
            k.has_additions = false;
            let reps = additions_of(&self.nodes, k.last, &flushing.text, &self.sources);
            taken += reps.iter().map(|r| r.header.len() + 32).sum::<usize>();
            // Written from here on: their fingerprints stay, their text goes.
            let mut at = k.last;
            while let Some(n) = self.nodes.get_mut(at as usize) {
                at = n.prev;
                n.len = STORED;
            }
            out.push((hash, reps));
        }
        if out.is_empty() {
            self.flushing = None;
        }
        out
    }

    /// Sequences touched since the last commit (or run).
    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// Whether the session has seen nothing since its last commit.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    /// Forgets everything (a rollback), freeing the memory.
    pub fn clear(&mut self) {
        *self = SessionDedup::default();
    }
}

/// The sequences a session touched, in a `hashbrown` table keyed by the SHA-256's first 8
/// bytes mixed with a per-table random seed. The seed keeps input made to share the first
/// bits of its SHA-256s (cheap for 20 bits) from piling up on one run of buckets.
///
/// A table of our own with linear probing and slots prefetched a few records ahead was
/// tried against this one: side by side, 7 alternating imports of protein_all, it was no
/// faster (wall median 4.67 s against hashbrown's 4.38), so this is hashbrown's.
#[derive(Default)]
struct SeqTable {
    table: hashbrown::HashTable<(SequenceHash, Known)>,
    /// Drawn when the first sequence goes in.
    seed: u64,
}

/// The table hash of `hash`: its first 8 bytes xor `seed` through MurmurHash3's 64-bit
/// finaliser, so that every input bit reaches every output bit.
fn mix(seed: u64, hash: &SequenceHash) -> u64 {
    let first = u64::from_le_bytes(
        hash.as_bytes()[..8]
            .try_into()
            .expect("a SHA-256 has more than 8 bytes"),
    );
    let mut x = first ^ seed;
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl SeqTable {
    fn get(&self, hash: &SequenceHash) -> Option<&Known> {
        self.table
            .find(mix(self.seed, hash), |(h, _)| h == hash)
            .map(|(_, k)| k)
    }

    fn get_mut(&mut self, hash: &SequenceHash) -> Option<&mut Known> {
        self.table
            .find_mut(mix(self.seed, hash), |(h, _)| h == hash)
            .map(|(_, k)| k)
    }

    /// Sets `hash`'s entry to `k`.
    fn insert(&mut self, hash: SequenceHash, k: Known) {
        if self.table.is_empty() {
            use std::hash::BuildHasher;
            self.seed = std::collections::hash_map::RandomState::new().hash_one(0u64);
        }
        let seed = self.seed;
        match self.table.find_mut(mix(seed, &hash), |(h, _)| *h == hash) {
            Some(slot) => slot.1 = k,
            None => {
                self.table
                    .insert_unique(mix(seed, &hash), (hash, k), |(h, _)| mix(seed, h));
            }
        }
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Bytes of one chunk of the text arena.
const TEXT_CHUNK: usize = 4 << 20;

/// Records of (source index u32 LE, header bytes) in chunks that are never reallocated: a
/// growing `Vec` would hold its old and new buffers at once while it copies, and up to twice
/// its contents in capacity.
#[derive(Default)]
struct TextArena {
    chunks: Vec<Vec<u8>>,
}

impl TextArena {
    /// Appends a record; its place is the chunk (high 32 bits) and the offset in it.
    fn push(&mut self, source_ix: u32, header: &[u8]) -> u64 {
        let need = 4 + header.len();
        if self
            .chunks
            .last()
            .is_none_or(|c| c.capacity() - c.len() < need)
        {
            self.chunks.push(Vec::with_capacity(need.max(TEXT_CHUNK)));
        }
        let ix = self.chunks.len() - 1;
        let chunk = &mut self.chunks[ix];
        let at = ((ix as u64) << 32) | chunk.len() as u64;
        chunk.extend_from_slice(&source_ix.to_le_bytes());
        chunk.extend_from_slice(header);
        at
    }

    /// The record at `at` whose header has `len` bytes.
    fn get(&self, at: u64, len: u32) -> (u32, &[u8]) {
        let chunk = &self.chunks[(at >> 32) as usize];
        let start = (at & 0xffff_ffff) as usize;
        let source_ix = u32::from_le_bytes(
            chunk[start..start + 4]
                .try_into()
                .expect("a record starts with 4 bytes of source index"),
        );
        (source_ix, &chunk[start + 4..start + 4 + len as usize])
    }
}

/// Appends `n` (whose `prev` is `k.last`) to the list of `k`, the sequence `hash`; once the
/// list is longer than `WALK_LIMIT`, its fingerprints are in `many` too.
fn add_node(
    nodes: &mut Vec<Node>,
    many: &mut HashSet<(SequenceHash, u64), SequenceHashBuilder>,
    hash: &SequenceHash,
    k: &mut Known,
    n: Node,
) {
    let ix = nodes.len();
    assert!(
        ix < NONE as usize,
        "fewer than 2^32 - 1 extra representations per session"
    );
    nodes.push(n);
    k.last = ix as u32;
    k.nodes = k.nodes.saturating_add(1);
    if k.nodes == WALK_LIMIT + 1 {
        many.extend(list(nodes, k.last).map(|n| (*hash, n.fp)));
    } else if k.nodes > WALK_LIMIT {
        many.insert((*hash, n.fp));
    }
}

/// The representations held in `text` for the list ending at `last`, in the order they
/// were added (those with no text, stored or already written, left out).
fn additions_of(
    nodes: &[Node],
    last: u32,
    text: &TextArena,
    sources: &[String],
) -> Vec<Representation> {
    let mut reps: Vec<Representation> = list(nodes, last)
        .filter(|n| n.len != STORED)
        .map(|n| {
            let (source_ix, header) = text.get(n.at, n.len);
            Representation {
                header: std::str::from_utf8(header)
                    .expect("the arena holds headers pushed as &str, each whole")
                    .to_owned(),
                source: sources[source_ix as usize].clone(),
            }
        })
        .collect();
    reps.reverse();
    reps
}

fn list(nodes: &[Node], last: u32) -> impl Iterator<Item = &Node> {
    let mut at = last;
    std::iter::from_fn(move || {
        let n = nodes.get(at as usize)?;
        at = n.prev;
        Some(n)
    })
}

/// A representation's fingerprint among the few of one sequence (not persisted).
pub(crate) fn fingerprint(header: &str, source: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    header.hash(&mut h);
    source.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_table_finds_what_it_holds_across_growth_and_shared_homes() {
        assert_eq!(std::mem::size_of::<(SequenceHash, Known)>(), 48);
        let mut t = SeqTable::default();
        assert!(t.get(&h(1)).is_none() && t.is_empty());
        // Every third hash shares its first 8 bytes (its home) with the one before.
        let hash = |i: u32| {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&(i / 3).to_le_bytes());
            b[8..12].copy_from_slice(&i.to_le_bytes());
            SequenceHash(b)
        };
        let known = |i: u32| Known {
            first: u64::from(i) * 7,
            last: i,
            ..Known::default()
        };
        let n = 5000;
        for i in 0..n {
            t.insert(hash(i), known(i));
        }
        assert_eq!(t.len(), n as usize);
        for i in 0..n {
            let k = t.get(&hash(i)).unwrap_or_else(|| panic!("hash {i}"));
            assert_eq!((k.first, k.last), (u64::from(i) * 7, i));
        }
        for i in n..n + 100 {
            assert!(t.get(&hash(i)).is_none(), "hash {i} was never inserted");
        }
        // Setting an entry again replaces it.
        t.insert(hash(7), known(70));
        t.get_mut(&hash(8)).unwrap().last = 80;
        assert_eq!(t.len(), n as usize);
        assert_eq!(t.get(&hash(7)).unwrap().last, 70);
        assert_eq!(t.get(&hash(8)).unwrap().last, 80);

        // Hashes that share their first 3 bytes (as input built for it could) still get
        // table hashes whose low bits (where hashbrown takes a bucket from) spread.
        let mut t = SeqTable::default();
        let alike = |i: u32| {
            let mut b = [7u8; 32];
            b[3..7].copy_from_slice(&i.to_le_bytes());
            SequenceHash(b)
        };
        for i in 0..4000 {
            t.insert(alike(i), known(i));
        }
        let homes: HashSet<u64> = (0..4000).map(|i| mix(t.seed, &alike(i)) & 4095).collect();
        assert!(
            homes.len() > 2000,
            "{} buckets of 4096 for 4000 hashes",
            homes.len()
        );
        assert!((0..4000).all(|i| t.get(&alike(i)).is_some_and(|k| k.last == i)));
    }

    fn h(i: u8) -> SequenceHash {
        SequenceHash::of_residues(&[b'A' + i])
    }

    #[test]
    fn repeats_are_refused_and_new_representations_come_back_in_order() {
        let mut k = SessionDedup::default();
        k.insert_sequence(h(0), [fingerprint("a", "s1")]);
        k.insert_sequence(h(1), [fingerprint("x", "s1"), fingerprint("y", "s1")]);
        assert_eq!(k.add_representation(&h(2), "a", "s1"), None, "not recorded");
        assert_eq!(
            k.add_representation(&h(0), "a", "s1"),
            Some(false),
            "the first one"
        );
        assert_eq!(
            k.add_representation(&h(1), "y", "s1"),
            Some(false),
            "stored on disk"
        );
        assert_eq!(k.add_representation(&h(1), "z", "s2"), Some(true));
        assert_eq!(k.add_representation(&h(0), "b", "s1"), Some(true));
        assert_eq!(
            k.add_representation(&h(0), "a", "s2"),
            Some(true),
            "another source"
        );
        assert_eq!(
            k.add_representation(&h(0), "b", "s1"),
            Some(false),
            "added before"
        );
        let got: Vec<_> = k.take_additions().collect();
        assert_eq!(
            got,
            vec![
                (h(1), vec![Representation::new("z", "s2")]),
                (
                    h(0),
                    vec![
                        Representation::new("b", "s1"),
                        Representation::new("a", "s2")
                    ]
                ),
            ]
        );
        assert_eq!(
            k.add_representation(&h(0), "c", "s1"),
            None,
            "taking forgets"
        );
        assert_eq!(k.take_additions().count(), 0);
    }

    #[test]
    fn flushed_representations_are_not_held_again_and_still_refused() {
        let mut k = SessionDedup::default();
        k.insert_sequence(h(0), [fingerprint("a", "s1")]);
        k.insert_sequence(h(1), [fingerprint("x", "s1")]);
        assert_eq!(k.add_representation(&h(0), "b", "s1"), Some(true));
        assert_eq!(k.add_representation(&h(1), "y", "s1"), Some(true));
        assert_eq!(k.add_representation(&h(0), "c", "s2"), Some(true));
        assert!(k.additions_bytes() > 0);
        // A batch of at least one sequence, whatever the bytes asked for.
        assert_eq!(
            k.flush_additions(1),
            vec![(
                h(0),
                vec![
                    Representation::new("b", "s1"),
                    Representation::new("c", "s2")
                ]
            )]
        );
        assert_eq!(k.additions_bytes(), 0, "no new header held");
        assert_eq!(
            k.flush_additions(1),
            vec![(h(1), vec![Representation::new("y", "s1")])]
        );
        assert_eq!(k.flush_additions(1), vec![], "the end of the flush");
        assert!(k.flushing.is_none(), "the headers are freed");
        // Repeats of what was flushed, or of the first, are still refused.
        for (i, header, source) in [
            (0, "a", "s1"),
            (0, "b", "s1"),
            (0, "c", "s2"),
            (1, "y", "s1"),
        ] {
            assert_eq!(
                k.add_representation(&h(i), header, source),
                Some(false),
                "{header}"
            );
        }
        assert_eq!(k.flush_additions(1 << 20), vec![], "nothing new");
        // New ones after the flush come back alone, at the next flush or at commit.
        assert_eq!(k.add_representation(&h(0), "d", "s1"), Some(true));
        assert_eq!(
            k.take_additions().collect::<Vec<_>>(),
            vec![(h(0), vec![Representation::new("d", "s1")])]
        );
    }

    #[test]
    fn a_sequence_stored_with_many_representations_refuses_each_of_them() {
        let mut k = SessionDedup::default();
        let stored: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        k.insert_sequence(h(0), stored.iter().map(|s| fingerprint(s, "s")));
        k.insert_sequence(h(1), [fingerprint("h0", "s")]);
        for s in &stored {
            assert_eq!(k.add_representation(&h(0), s, "s"), Some(false), "{s}");
        }
        assert_eq!(k.add_representation(&h(0), "h0", "t"), Some(true));
        assert_eq!(k.add_representation(&h(0), "h0", "t"), Some(false));
        // Another sequence's representations are its own, whatever h(0)'s set holds.
        assert_eq!(k.add_representation(&h(1), "h1", "s"), Some(true));
        assert_eq!(k.add_representation(&h(1), "h0", "t"), Some(true));
        let got: Vec<_> = k.take_additions().collect();
        assert_eq!(
            got,
            vec![
                (h(0), vec![Representation::new("h0", "t")]),
                (
                    h(1),
                    vec![
                        Representation::new("h1", "s"),
                        Representation::new("h0", "t")
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_sequence_stored_without_representations_takes_any() {
        let mut k = SessionDedup::default();
        k.insert_sequence(h(0), []);
        assert_eq!(k.add_representation(&h(0), "", ""), Some(true));
        assert_eq!(k.add_representation(&h(0), "", ""), Some(false));
    }

    proptest::proptest! {
        #[test]
        // Up to 40 distinct representations per sequence: lists longer than WALK_LIMIT are
        // checked through the set, shorter ones by their walk.
        fn matches_a_model(ops in proptest::collection::vec((0u8..3, 0u8..20, 0u8..2), 0..300)) {
            let mut k = SessionDedup::default();
            // Per sequence, its representations in order; the first is written with it.
            let mut model: Vec<(SequenceHash, Vec<(String, String)>)> = Vec::new();
            for (seq, head, src) in ops {
                let (header, source) = (format!("h{head}"), format!("s{src}"));
                let hash = h(seq);
                match model.iter_mut().find(|m| m.0 == hash) {
                    None => {
                        k.insert_sequence(hash, [fingerprint(&header, &source)]);
                        model.push((hash, vec![(header, source)]));
                    }
                    Some(m) => {
                        let new = !m.1.contains(&(header.clone(), source.clone()));
                        proptest::prop_assert_eq!(k.add_representation(&hash, &header, &source), Some(new));
                        if new {
                            m.1.push((header, source));
                        }
                    }
                }
            }
            let want: Vec<_> = model
                .into_iter()
                .filter(|m| m.1.len() > 1)
                .map(|m| (m.0, m.1[1..].iter().map(|(a, b)| Representation::new(a.as_str(), b.as_str())).collect::<Vec<_>>()))
                .collect();
            let mut got: Vec<_> = k.take_additions().collect();
            // First-seen order of the sequence with additions is the order of their second
            // representation; the model lists them by first representation.
            got.sort_by_key(|g| want.iter().position(|w| w.0 == g.0));
            proptest::prop_assert_eq!(got, want);
        }
    }
}
