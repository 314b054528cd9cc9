//! The addition entries of a store, read ahead of a whole-store walk: one pass
//! over the multi-pack index finds the sequences with more than one entry, and their other
//! entries are read in file order (each block decompressed once), so that the walk looks
//! nothing up and reads nothing at random.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use pack_format::{PackId, PackLocation, SequenceHash};
use pack_io::BlockCache;

use crate::error::StoreError;
use crate::pool::ordered_parallel;
use crate::snapshot::{index_error, Snapshot};
use pack_index::{IndexKind, PackIndex};

/// Memory the read-ahead may use (its tables and the headers it holds); a store whose
/// other entries need more is walked with a lookup per sequence instead.
const BUDGET: u64 = 1 << 30;

/// Addition entries read per unit of work.
const UNIT_ENTRIES: usize = 8192;

/// Where an entry is, for ordering: (pack, block, offset).
pub(crate) type Place = (PackId, u32, u32);

pub(crate) fn place(loc: &PackLocation) -> Place {
    (loc.pack, loc.block, loc.offset)
}

/// A representation held in one of [`AdditionEntries::texts`]: the header, then the source.
#[derive(Clone, Copy, Default)]
struct Span {
    text: u32,
    start: u32,
    header_len: u32,
    source_len: u32,
}

/// A sequence with several entries: the first (its residues) and the representations of
/// its addition entries.
struct Group {
    main: Place,
    /// Its spans, in the order of its other entries' locations.
    spans: Range<u32>,
}

/// The other entries of every sequence with more than one, from
/// [`AdditionEntries::read`].
pub(crate) struct AdditionEntries {
    /// Sorted by `main`.
    groups: Vec<Group>,
    spans: Vec<Span>,
    /// The headers and sources of each unit read.
    texts: Vec<String>,
    /// Sequences with a second residues entry (a store whose index was rebuilt over the
    /// packs of an interrupted commit can have one): that entry is walked with lookups.
    pub(crate) odd: HashSet<SequenceHash>,
    /// Blocks (pack, block) with entries read here, and how many, in order; none with an
    /// entry of `odd`, whose residues the walk needs.
    blocks: Vec<((PackId, u32), u32)>,
}

/// The places of the residues entries of sequences with several entries, and their other
/// entries.
type ResiduesAndAdditions = (Vec<Place>, Vec<Addition>);

/// The sequences with more than one row in an entry index: for each, in the order of
/// their residues entries, the place of that entry, and its other entries (their hash,
/// location and group) in location order. A prefix's rows sort by pack and entry number,
/// so its first row is the residues entry; the residues entries and the other entries (on
/// two threads when `threads` allows) are read through the packs' entry tables in file
/// order (sorted by pack and entry number), not at random. Rows of one prefix can hold several sequences (sharing their
/// first 6 bytes): each is a group of its own. `None` when the rows would need more than
/// the budget: the walk then looks its sequences up.
/// Over several layers (`layers`: each entry index and its path, the oldest and largest
/// first), a prefix's rows are those of every layer: the rows of the newer layers are all
/// read (they are the smaller ones), the oldest layer's runs are taken when they have two
/// rows or more or a newer layer has their prefix, and the rows are grouped again by
/// prefix. A prefix's lowest (pack, entry) is its residues entry: packs are numbered in
/// the order they were committed.
fn located_groups(
    snap: &Snapshot,
    layers: &[(&PackIndex<memmap2::Mmap>, &std::path::Path)],
    threads: usize,
) -> Result<Option<ResiduesAndAdditions>, StoreError> {
    /// A row to read: pack << 32 | entry number, its prefix, the run of its prefix.
    type Pending = (u64, pack_index::HashPrefix, u32);
    // A row pending (24 bytes), then its whole hash and location (48).
    const ROW_BYTES: u64 = 24 + 48;
    let (multi, path) = layers[0];
    let place_key = |r: &pack_index::EntryRow| (u64::from(r.pack) << 32) | u64::from(r.entry);
    let mut newer: Vec<(pack_index::HashPrefix, u64)> = Vec::new();
    for &(ix, p) in &layers[1..] {
        if ix.key_len() != multi.key_len() {
            return Ok(None);
        }
        let rows = ix.as_entries().map_err(index_error(p))?;
        newer.extend(rows.rows(0..ix.len()).map(|r| (r.prefix, place_key(&r))));
        if newer.len() as u64 * ROW_BYTES > BUDGET {
            return Ok(None);
        }
    }
    let newer_prefixes: HashSet<pack_index::HashPrefix> = newer.iter().map(|r| r.0).collect();
    // The runs of two rows or more (or of a prefix the newer layers have), in a share of
    // the fan-out slots: their first rows and their other rows, each with its run numbered
    // from 0 in the share; `None` past the budget.
    let entries = multi.as_entries().map_err(index_error(path))?;
    let scan = |slots: Range<usize>| {
        let (mut firsts, mut addition_rows): (Vec<Pending>, Vec<Pending>) =
            (Vec::new(), Vec::new());
        let mut runs = 0u32;
        let mut over = false;
        multi
            .for_each_run_in(slots, |slot, rows| {
                if over {
                    return Ok(());
                }
                if rows.end - rows.start < 2
                    && (newer_prefixes.is_empty()
                        || !newer_prefixes.contains(&entries.row_in_slot(rows.start, slot).prefix))
                {
                    return Ok(());
                }
                for i in rows.clone() {
                    let row = entries.row_in_slot(i, slot);
                    let key = (u64::from(row.pack) << 32) | u64::from(row.entry);
                    let to = if i == rows.start {
                        &mut firsts
                    } else {
                        &mut addition_rows
                    };
                    to.push((key, row.prefix, runs));
                }
                runs += 1;
                over = (firsts.len() + addition_rows.len()) as u64 * ROW_BYTES > BUDGET;
                Ok(())
            })
            .map_err(index_error(path))?;
        Ok::<_, StoreError>((!over).then_some((firsts, addition_rows, runs)))
    };
    let slots = multi.fanout_slots();
    let (first_half, second_half) = if threads > 1 && slots > 1 {
        std::thread::scope(|s| {
            let second = s.spawn(|| scan(slots / 2..slots));
            let first = scan(0..slots / 2);
            let second = second.join().unwrap_or_else(|_| {
                Err(StoreError::Corrupt(
                    "export: the thread reading the multi-pack index stopped".into(),
                ))
            });
            (first, second)
        })
    } else {
        (scan(0..slots), Ok(Some(Default::default())))
    };
    let (
        Some((mut firsts, mut addition_rows, runs)),
        Some((more_firsts, more_addition_rows, more_runs)),
    ) = (first_half?, second_half?)
    else {
        return Ok(None);
    };
    // The second share's runs follow the first's.
    let renumber = |p: Pending| (p.0, p.1, p.2 + runs);
    firsts.extend(more_firsts.into_iter().map(renumber));
    addition_rows.extend(more_addition_rows.into_iter().map(renumber));
    let mut runs = runs + more_runs;
    if !newer.is_empty() {
        // Every layer's rows of those prefixes, grouped again: the lowest place first.
        let mut all: Vec<(pack_index::HashPrefix, u64)> = (firsts.iter())
            .chain(addition_rows.iter())
            .map(|p| (p.1, p.0))
            .chain(newer)
            .collect();
        all.sort_unstable();
        firsts.clear();
        addition_rows.clear();
        runs = 0;
        for group in all.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            firsts.push((group[0].1, group[0].0, runs));
            addition_rows.extend(group[1..].iter().map(|r| (r.1, r.0, runs)));
            runs += 1;
        }
    }
    if (firsts.len() + addition_rows.len()) as u64 * ROW_BYTES > BUDGET {
        return Ok(None);
    }
    let resolve = |&(key, prefix, _): &Pending| {
        let row = pack_index::EntryRow {
            prefix,
            pack: (key >> 32) as PackId,
            entry: key as u32,
        };
        snap.resolve_entry(snap.pack_reader(&row)?, &row, path)
    };
    // Each list sorted and read through the entry tables in file order; the two lists on
    // two threads when there are (they read different rows of the same tables).
    let resolve_all = |pending: &mut Vec<Pending>| {
        pending.sort_unstable_by_key(|p| p.0);
        pending
            .iter()
            .map(resolve)
            .collect::<Result<Vec<_>, StoreError>>()
    };
    let (resolved_firsts, resolved_additions) = if threads > 1 {
        std::thread::scope(|s| {
            let additions_thread = s.spawn(|| resolve_all(&mut addition_rows));
            let resolved_firsts = resolve_all(&mut firsts);
            let resolved_additions = additions_thread.join().unwrap_or_else(|_| {
                Err(StoreError::Corrupt(
                    "export: the thread reading entry tables stopped".into(),
                ))
            });
            (resolved_firsts, resolved_additions)
        })
    } else {
        (resolve_all(&mut firsts), resolve_all(&mut addition_rows))
    };
    let (resolved_firsts, resolved_additions) = (resolved_firsts?, resolved_additions?);
    // Groups numbered in the order of their residues entries, with their whole hashes: an
    // other entry of a prefix is of the same sequence when it has the group's hash.
    let mut group_of = vec![0u32; runs as usize];
    let mut hashes = Vec::with_capacity(firsts.len());
    let mut mains = Vec::with_capacity(firsts.len());
    for (group, (first, (hash, location))) in firsts.iter().zip(resolved_firsts).enumerate() {
        group_of[first.2 as usize] = group as u32;
        hashes.push(hash);
        mains.push(place(&location));
    }
    drop(firsts);
    // Other sequences under a prefix already taken (they share its first 6 bytes): by
    // (run, hash), their group. Their first entry, in entry order as `addition_rows` is, holds
    // their residues: it was written first.
    let mut shared: HashMap<(u32, SequenceHash), u32> = HashMap::new();
    let mut additions = Vec::with_capacity(addition_rows.len());
    let mut bytes = 32 * mains.len() as u64;
    for (other, (hash, location)) in addition_rows.iter().zip(resolved_additions) {
        let mut group = group_of[other.2 as usize];
        if hashes[group as usize] != hash {
            match shared.entry((other.2, hash)) {
                Entry::Occupied(g) => group = *g.get(),
                Entry::Vacant(v) => {
                    v.insert(mains.len() as u32);
                    hashes.push(hash);
                    mains.push(place(&location));
                    bytes += 32 + 48;
                    continue;
                }
            }
        }
        bytes += u64::from(location.length) + 96;
        if bytes > BUDGET {
            return Ok(None);
        }
        additions.push(Addition {
            location,
            hash,
            group,
        });
    }
    Ok(Some((mains, additions)))
}

/// What a walk does with the entry holding a sequence's residues.
pub(crate) enum Additions<'a> {
    /// The sequence has no other entry.
    None,
    /// The headers and sources of its other entries, in location order.
    Read(&'a AdditionEntries, Range<u32>),
    /// Look its other entries up in the index.
    Lookup,
}

impl AdditionEntries {
    /// Reads the other entries of every sequence with more than one, on `threads` threads.
    /// `None` when the store has location rows in more than one layer, or per-pack
    /// indexes (degraded), or when the entries would need more than the budget: walk with
    /// lookups.
    pub fn read(snap: &Snapshot, threads: usize) -> Result<Option<AdditionEntries>, StoreError> {
        let (Some(layer), true) = (snap.layers.first(), snap.extras.is_empty()) else {
            return Ok(None);
        };
        let (multi, path) = (&layer.rows, layer.rows_path.as_path());
        let layers: Vec<_> = (snap.layers.iter())
            .map(|l| (&l.rows, l.rows_path.as_path()))
            .collect();
        // Location rows are read ahead from one layer only (a store written before v2
        // packs, or with v1 packs): with more, walk with lookups.
        if layers.len() > 1 && layers.iter().any(|(ix, _)| ix.kind() != IndexKind::Entries) {
            return Ok(None);
        }
        // Groups in key order; the first row of a key is its residues entry (it was written
        // first, and ties sort by location).
        let mut mains: Vec<Place> = Vec::new();
        let mut additions: Vec<Addition> = Vec::new();
        let mut bytes = 0u64;
        let mut over = false;
        if multi.kind() == IndexKind::Entries {
            let Some(found) = located_groups(snap, &layers, threads)? else {
                return Ok(None);
            };
            (mains, additions) = found;
        } else {
            let locations = multi.as_locations().map_err(index_error(path))?;
            multi
                .for_each_run(|rows| {
                    if rows.end - rows.start < 2 || over {
                        return Ok(());
                    }
                    let group = mains.len() as u32;
                    mains.push(place(&locations.location(rows.start)));
                    let hash = locations.key(rows.start);
                    for row in rows.start + 1..rows.end {
                        let location = locations.location(row);
                        bytes += u64::from(location.length) + 96;
                        additions.push(Addition {
                            location,
                            hash,
                            group,
                        });
                    }
                    bytes += 32;
                    over = bytes > BUDGET;
                    Ok(())
                })
                .map_err(index_error(path))?;
        }
        if over || mains.len() > u32::MAX as usize / 2 {
            return Ok(None);
        }
        // Number the groups by where their residues are, the order of the walk.
        let mut order: Vec<u32> = (0..mains.len() as u32).collect();
        order.sort_unstable_by_key(|&g| mains[g as usize]);
        let mut rank = vec![0u32; mains.len()];
        for (k, &g) in order.iter().enumerate() {
            rank[g as usize] = k as u32;
        }
        for addition in &mut additions {
            addition.group = rank[addition.group as usize];
        }
        drop(rank);
        additions.sort_unstable_by_key(|s| place(&s.location));

        // Read them in file order, in units on every thread.
        let units = additions.len().div_ceil(UNIT_ENTRIES);
        let mut texts = Vec::with_capacity(units);
        let mut tagged: Vec<(u32, Span)> = Vec::with_capacity(additions.len());
        let mut odd = HashSet::new();
        let mut odd_blocks = HashSet::new();
        ordered_parallel(
            units,
            threads,
            BlockCache::default,
            |cache, i| read_unit(snap, &additions[i * UNIT_ENTRIES..], cache),
            |(text, unit_spans, unit_odd)| {
                let unit = texts.len() as u32;
                texts.push(text);
                tagged.extend(
                    unit_spans
                        .into_iter()
                        .map(|(g, s)| (g, Span { text: unit, ..s })),
                );
                for (hash, at) in unit_odd {
                    odd.insert(hash);
                    odd_blocks.insert((at.0, at.1));
                }
                Ok(())
            },
            |m| StoreError::Corrupt(format!("export: {m}")),
        )?;
        let mut blocks: Vec<((PackId, u32), u32)> = Vec::new();
        for addition in &additions {
            let block = (addition.location.pack, addition.location.block);
            match blocks.last_mut() {
                Some((b, n)) if *b == block => *n += 1,
                _ => blocks.push((block, 1)),
            }
        }
        blocks.retain(|(b, _)| !odd_blocks.contains(b));
        drop(additions);

        // Each group's spans together, in the order read (a stable counting sort).
        let mut groups: Vec<Group> = order
            .iter()
            .map(|&g| Group {
                main: mains[g as usize],
                spans: 0..0,
            })
            .collect();
        for (g, _) in &tagged {
            groups[*g as usize].spans.end += 1;
        }
        let mut next = 0u32;
        for g in &mut groups {
            let n = g.spans.end;
            g.spans = next..next;
            next += n;
        }
        let mut spans = vec![Span::default(); tagged.len()];
        for (g, s) in tagged {
            let r = &mut groups[g as usize].spans;
            spans[r.end as usize] = s;
            r.end += 1;
        }
        Ok(Some(AdditionEntries {
            groups,
            spans,
            texts,
            odd,
            blocks,
        }))
    }

    /// Cursors for a walk from `from` on (see [`additions`](Self::additions) and
    /// [`known`](Self::known)).
    pub fn cursors_from(&self, from: Place) -> Cursors {
        Cursors {
            group: self.groups.partition_point(|g| g.main < from),
            block: self.blocks.partition_point(|(b, _)| *b < (from.0, from.1)),
        }
    }

    /// How many entries of `block` of `pack` were read here: a walk in block order need
    /// not decompress a block whose entries are all here.
    pub fn known(&self, cursor: &mut usize, pack: PackId, block: u32) -> u32 {
        seek(&self.blocks, cursor, (pack, block), |(b, _)| *b).map_or(0, |(_, n)| *n)
    }

    /// What to do with the residues entry of `hash` at `at`; `cursor` is a walk's
    /// [`Cursors::group`], moved on as the walk goes (entries in location order).
    pub fn additions(&self, cursor: &mut usize, at: Place, hash: &SequenceHash) -> Additions<'_> {
        match seek(&self.groups, cursor, at, |g| g.main) {
            Some(g) => Additions::Read(self, g.spans.clone()),
            None if self.odd.contains(hash) => Additions::Lookup,
            None => Additions::None,
        }
    }

    /// Calls `f(header, source)` for the representations of `spans`.
    pub fn for_each(&self, spans: Range<u32>, mut f: impl FnMut(&str, &str)) {
        for s in &self.spans[spans.start as usize..spans.end as usize] {
            let text = &self.texts[s.text as usize];
            let h = s.start as usize;
            let src = h + s.header_len as usize;
            f(&text[h..src], &text[src..src + s.source_len as usize]);
        }
    }
}

/// The item of `items` (sorted by `key_of`) whose key is `key`, if any, moving `cursor` past
/// the items before it: a walk in key order passes every item once.
fn seek<'a, T, K: Ord>(
    items: &'a [T],
    cursor: &mut usize,
    key: K,
    key_of: impl Fn(&T) -> K,
) -> Option<&'a T> {
    while items.get(*cursor).is_some_and(|x| key_of(x) < key) {
        *cursor += 1;
    }
    items.get(*cursor).filter(|x| key_of(x) == key)
}

/// Where a walk in location order is in [`AdditionEntries`]' tables (at the start of the
/// store for a walk without them).
#[derive(Default)]
pub(crate) struct Cursors {
    pub group: usize,
    pub block: usize,
}

/// What a unit of addition entries gives: their headers and sources, a span per representation
/// with its group, and the second residues entries.
type UnitRead = (String, Vec<(u32, Span)>, Vec<(SequenceHash, Place)>);

/// An entry of a sequence other than its first, and the sequence's group.
struct Addition {
    location: PackLocation,
    hash: SequenceHash,
    group: u32,
}

fn read_unit(
    snap: &Snapshot,
    additions: &[Addition],
    cache: &mut BlockCache,
) -> Result<UnitRead, StoreError> {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut odd = Vec::new();
    for addition in additions.iter().take(UNIT_ENTRIES) {
        let residues = snap
            .with_entry(&addition.hash, &addition.location, cache, |e| {
                e.for_each_representation(|header, source| {
                    let start = text.len() as u32;
                    text.push_str(header);
                    text.push_str(source);
                    spans.push((
                        addition.group,
                        Span {
                            text: 0,
                            start,
                            header_len: header.len() as u32,
                            source_len: source.len() as u32,
                        },
                    ));
                })
                .map(|()| e.has_sequence())
            })?
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        if residues {
            odd.push((addition.hash, place(&addition.location)));
        }
    }
    Ok((text, spans, odd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PackedSequenceStorage, Representation, StoreOptions};
    use std::collections::BTreeSet;

    /// Two sequences whose SHA-256s share their first 6 bytes (`ac2640bd952e`), found by
    /// a birthday search over short peptides.
    const SHARING: [&[u8]; 2] = [b"MPWRFPC", b"MIMQVFK"];

    #[test]
    fn sequences_sharing_a_key_prefix_are_read_ahead_apart() {
        let (a, b) = (
            SequenceHash::of_residues(SHARING[0]),
            SequenceHash::of_residues(SHARING[1]),
        );
        assert_eq!(a.0[..6], b.0[..6]);
        assert_ne!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        let mut want: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 2];
        // Three commits: residues entries, then addition entries of both, then
        // of one; with a sequence of its own prefix between them.
        for round in 0..3 {
            for (i, residues) in SHARING.iter().enumerate().take(2 - round / 2) {
                let header = format!("s{i}_r{round}");
                store
                    .put(residues, Representation::new(header.clone(), "src"))
                    .unwrap();
                want[i].insert(header);
            }
            store
                .put(b"MKV", Representation::new(format!("other{round}"), "src"))
                .unwrap();
            store.commit().unwrap();
        }
        store.compact().unwrap();
        let snap = store.snapshot();
        let multi = &snap.layers[0].rows;
        assert_eq!(multi.key_len(), pack_index::ENTRY_KEY_LEN);
        assert_eq!(
            multi
                .as_entries()
                .and_then(|v| v.lookup(&a.0[..8]))
                .unwrap()
                .count(),
            5,
            "one run of rows under the shared prefix"
        );
        let additions = AdditionEntries::read(&snap, 2).unwrap();
        assert!(additions.is_some(), "the read-ahead does not give up");
        let mut seen = Vec::new();
        store
            .for_each_sequence(|rec| {
                let headers: BTreeSet<String> = rec
                    .representations
                    .iter()
                    .map(|r| r.header.clone())
                    .collect();
                seen.push((rec.hash, rec.residues.clone(), headers));
                Ok(())
            })
            .unwrap();
        for (i, residues) in SHARING.iter().enumerate() {
            let hash = SequenceHash::of_residues(residues);
            let got: Vec<_> = seen.iter().filter(|s| s.0 == hash).collect();
            assert_eq!(got.len(), 1, "sequence {i} walked once");
            assert_eq!(got[0].1, residues.to_vec());
            assert_eq!(got[0].2, want[i], "sequence {i}: all its representations");
            let rec = store.get_record(&hash).unwrap().unwrap();
            assert_eq!(rec.residues, residues.to_vec());
            assert_eq!(rec.representations.len(), want[i].len());
        }
        assert_eq!(seen.len(), 3);
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}
