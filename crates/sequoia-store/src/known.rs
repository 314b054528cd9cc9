//! What a write session knows between commits: per sequence touched, the fingerprints of
//! its representations (to skip repeated records), and the new representations of
//! sequences already written, held compactly until the commit writes them as one entry per
//! sequence.
//!
//! Everything lives in a few large buffers (a map entry per sequence, a 24-byte node per
//! extra representation, the headers' bytes in one arena) instead of a `String` per header
//! and a `Vec` per sequence: the import's memory is the data itself, and freeing it at the
//! commit leaves no scattered small allocations behind.

use std::collections::HashMap;

use pack_format::{Representation, SequenceHash, SequenceHashBuilder};

/// "No node": the end of a sequence's list.
const NONE: u32 = u32::MAX;
/// A node's `len` for a fingerprint of a representation stored in an earlier commit (no
/// text to write).
const STORED: u32 = u32::MAX;

/// One sequence touched since the last commit.
#[derive(Clone, Copy)]
struct Known {
    /// The fingerprint of its first representation.
    first: u64,
    /// Its last fingerprint node (a list linked backwards), or `NONE`.
    last: u32,
    /// Whether it is in `deferred` (it has representations to write at commit).
    deferred: bool,
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

/// The fingerprints and deferred representations of a write session.
#[derive(Default)]
pub(crate) struct KnownRepresentations {
    known: HashMap<SequenceHash, Known, SequenceHashBuilder>,
    nodes: Vec<Node>,
    /// Sequences with representations to write, in first-seen order.
    deferred: Vec<SequenceHash>,
    /// Headers of deferred representations.
    text: TextArena,
    /// Source names, each once; a node's arena record starts with its index (u32 LE).
    sources: Vec<String>,
}

impl KnownRepresentations {
    /// Records a sequence with the fingerprints of its representations (of a new sequence:
    /// the one being written; of a stored one: those on disk, possibly none).
    pub fn insert_sequence(&mut self, hash: SequenceHash, fps: impl IntoIterator<Item = u64>) {
        let mut fps = fps.into_iter();
        // A sequence stored with no representation: no fingerprint can match this one.
        let first = fps.next().unwrap_or_else(|| fingerprint("\u{0}", "\u{0}"));
        let mut k = Known {
            first,
            last: NONE,
            deferred: false,
        };
        for fp in fps {
            k.last = push_node(
                &mut self.nodes,
                Node {
                    fp,
                    at: 0,
                    prev: k.last,
                    len: STORED,
                },
            );
        }
        self.known.insert(hash, k);
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
        let k = self.known.get_mut(hash)?;
        let fp = fingerprint(header, source);
        if k.first == fp || list(&self.nodes, k.last).any(|n| n.fp == fp) {
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
        k.last = push_node(
            &mut self.nodes,
            Node {
                fp,
                at,
                prev: k.last,
                len: header.len() as u32,
            },
        );
        if !k.deferred {
            k.deferred = true;
            self.deferred.push(*hash);
        }
        Some(true)
    }

    /// Takes the deferred representations, per sequence in first-seen order and in the
    /// order they were added, and forgets everything else (the commit's end).
    pub fn take_deferred(
        &mut self,
    ) -> impl Iterator<Item = (SequenceHash, Vec<Representation>)> + use<> {
        let taken = std::mem::take(self);
        let KnownRepresentations {
            known,
            nodes,
            deferred,
            text,
            sources,
        } = taken;
        // The map is needed for each deferred sequence's last node only: those are kept and
        // the map (48 bytes per sequence touched) freed before the commit's peak.
        let lasts: Vec<(SequenceHash, u32)> =
            deferred.into_iter().map(|h| (h, known[&h].last)).collect();
        drop(known);
        lasts.into_iter().map(move |(hash, last)| {
            let mut reps: Vec<Representation> = list(&nodes, last)
                .filter(|n| n.len != STORED)
                .map(|n| {
                    let (source_ix, header) = text.get(n.at, n.len);
                    Representation {
                        header: String::from_utf8_lossy(header).into_owned(),
                        source: sources[source_ix as usize].clone(),
                    }
                })
                .collect();
            reps.reverse();
            (hash, reps)
        })
    }

    /// Whether the session has seen nothing since its last commit.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Forgets everything (a rollback), freeing the memory.
    pub fn clear(&mut self) {
        *self = KnownRepresentations::default();
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

/// Appends `n` and returns its index.
fn push_node(nodes: &mut Vec<Node>, n: Node) -> u32 {
    let ix = nodes.len();
    assert!(
        ix < NONE as usize,
        "fewer than 2^32 - 1 extra representations per session"
    );
    nodes.push(n);
    ix as u32
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

    fn h(i: u8) -> SequenceHash {
        SequenceHash::of_residues(&[b'A' + i])
    }

    #[test]
    fn repeats_are_refused_and_new_representations_come_back_in_order() {
        let mut k = KnownRepresentations::default();
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
        let got: Vec<_> = k.take_deferred().collect();
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
        assert_eq!(k.take_deferred().count(), 0);
    }

    #[test]
    fn a_sequence_stored_without_representations_takes_any() {
        let mut k = KnownRepresentations::default();
        k.insert_sequence(h(0), []);
        assert_eq!(k.add_representation(&h(0), "", ""), Some(true));
        assert_eq!(k.add_representation(&h(0), "", ""), Some(false));
    }

    proptest::proptest! {
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..4, 0u8..5, 0u8..2), 0..200)) {
            let mut k = KnownRepresentations::default();
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
            let mut got: Vec<_> = k.take_deferred().collect();
            // First-seen order of the deferred sequences is the order of their second
            // representation; the model lists them by first representation.
            got.sort_by_key(|g| want.iter().position(|w| w.0 == g.0));
            proptest::prop_assert_eq!(got, want);
        }
    }
}
