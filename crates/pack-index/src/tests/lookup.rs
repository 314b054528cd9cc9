//! Lookups, walks and checks of every index kind against models and damage.

use crate::file::leading;
use crate::write_index;
use crate::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn arb_entry() -> impl Strategy<Value = IndexEntry> {
    (
        any::<[u8; 32]>(),
        0u32..4,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(h, pack, block, offset, length)| IndexEntry {
            hash: SequenceHash(h),
            location: PackLocation {
                pack,
                block,
                offset,
                length,
            },
        })
}

proptest! {
    #[test]
    fn lookups_match_a_model(mut entries in proptest::collection::vec(arb_entry(), 0..400),
                             dup in 0usize..20, probes in proptest::collection::vec(any::<[u8; 32]>(), 0..20)) {
        // Duplicate some hashes at other locations: one hash may have several rows.
        for i in 0..dup.min(entries.len()) {
            let mut e = entries[i];
            e.location.offset = e.location.offset.wrapping_add(1);
            entries.push(e);
        }
        let mut model: BTreeMap<SequenceHash, Vec<PackLocation>> = BTreeMap::new();
        for e in &entries { model.entry(e.hash).or_default().push(e.location); }
        let bytes = write_index(Vec::new(), IndexKind::Multi, &[0, 1, 2, 3], IndexCounts::default(), None, &mut entries).unwrap();
        let index = PackIndex::parse(bytes).unwrap();
        index.verify().unwrap();
        for (h, locs) in &model {
            let mut want = locs.clone();
            want.sort();
            prop_assert_eq!(index.as_locations().and_then(|v| v.lookup(h)).unwrap().collect::<Vec<_>>(), want);
        }
        // Runs are the model's keys in order, each with all its rows.
        let mut runs = Vec::new();
        index.for_each_run(|rows| {
            let key = index.key(rows.start);
            let locs: Vec<PackLocation> = rows.clone().map(|i| index.location(i)).collect();
            assert!(rows.clone().all(|i| index.key(i) == key), "a run holds one key");
            runs.push((key, locs));
            Ok::<(), Error>(())
        }).unwrap();
        let want: Vec<(SequenceHash, Vec<PackLocation>)> = model.iter()
            .map(|(h, l)| { let mut l = l.clone(); l.sort(); (*h, l) }).collect();
        prop_assert_eq!(runs, want);
        for p in probes {
            let h = SequenceHash(p);
            let got: Vec<_> = index.as_locations().and_then(|v| v.lookup(&h)).unwrap().collect();
            prop_assert_eq!(got.is_empty(), !model.contains_key(&h));
        }
        // A prefix finds exactly the rows whose hash starts with it.
        for e in entries.iter().take(20) {
            for len in [4usize, 8, 32] {
                let want: Vec<IndexEntry> = entries.iter().filter(|x| x.hash.0[..len] == e.hash.0[..len]).copied().collect();
                let got: Vec<IndexEntry> = index.as_locations().and_then(|v| v.lookup_prefix(&e.hash.0[..len])).unwrap().collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000), probe in any::<[u8; 32]>()) {
        if let Ok(index) = PackIndex::parse(&bytes[..]) {
            let _ = index.verify();
            if let Ok(l) = index.as_locations().and_then(|v| v.lookup(&SequenceHash(probe))) { let _ = l.count(); }
        }
    }

    #[test]
    fn every_flip_fails_verify(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut entries: Vec<IndexEntry> = (0..100u32).map(|i| IndexEntry {
            hash: SequenceHash::of_residues(&i.to_le_bytes()),
            location: PackLocation { pack: 1, block: i, offset: i, length: 9 },
        }).collect();
        let mut bytes = write_index(Vec::new(), IndexKind::Pack, &[1], IndexCounts::default(), None, &mut entries).unwrap();
        let original = entries.clone();
        let at = pos.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let ok = PackIndex::parse(&bytes[..]).and_then(|i| i.verify()).is_ok();
        prop_assert!(!ok, "flip at byte {} passed verify", at);
        // Lookups either fail or give the original answer: never a wrong one.
        if let Ok(index) = PackIndex::parse(&bytes[..]) {
            for e in &original {
                if let Ok(found) = index.as_locations().and_then(|v| v.lookup(&e.hash)) {
                    prop_assert_eq!(found.collect::<Vec<_>>(), vec![e.location], "flip at {}", at);
                }
            }
        }
    }
}

fn alias_kind() -> impl Strategy<Value = IndexKind> {
    prop_oneof![
        Just(IndexKind::Md5),
        Just(IndexKind::Sha512t24u),
        Just(IndexKind::Accession)
    ]
}

proptest! {
    #[test]
    fn alias_lookups_match_a_model(kind in alias_kind(), which in 0u8..3,
                                   rows in proptest::collection::vec((any::<[u8; 24]>(), any::<[u8; 32]>()), 0..300),
                                   dup in 0usize..20, probes in proptest::collection::vec(any::<[u8; 24]>(), 0..20)) {
        let layout = match which {
            0 => AliasLayout::legacy(kind),
            1 => AliasLayout::COMPACT,
            _ => AliasLayout::SMALL,
        };
        let mut entries: Vec<(Vec<u8>, HashPrefix)> = rows.iter()
            .map(|(k, h)| (k[..kind.key_len()].to_vec(), crate::hash_prefix(&SequenceHash(*h)))).collect();
        for i in 0..dup.min(entries.len()) {
            // One accession may name several sequences.
            let mut e = entries[i].clone();
            e.1[0] ^= 0xff;
            entries.push(e);
            // Two digests may share their first bytes.
            let mut e = entries[i].clone();
            e.0[kind.key_len() - 1] ^= 1;
            entries.push(e);
        }
        // What the index holds: keys and prefixes cut to the layout, each row once.
        let cut = |k: &[u8]| k[..layout.key_len].to_vec();
        let mut model: BTreeMap<Vec<u8>, std::collections::BTreeSet<HashPrefix>> = BTreeMap::new();
        for e in &entries {
            model.entry(cut(&e.0)).or_default().insert(crate::cut_prefix(e.1, layout.value_len));
        }
        let bytes = crate::write_alias_index(Vec::new(), kind, layout, &[0, 5], &entries).unwrap();
        let index = PackIndex::parse(bytes).unwrap();
        index.verify().unwrap();
        prop_assert_eq!(index.kind(), kind);
        prop_assert_eq!(index.as_alias().ok().map(|v| v.layout()), Some(layout));
        prop_assert_eq!(index.packs(), vec![0, 5]);
        prop_assert!(index.as_locations().and_then(|v| v.lookup(&SequenceHash([0; 32]))).is_err(), "a SHA-256 lookup in an alias index");
        for e in &entries {
            let want: Vec<HashPrefix> = model[&cut(&e.0)].iter().copied().collect();
            prop_assert_eq!(index.as_alias().and_then(|v| v.lookup(&e.0)).unwrap().collect::<Vec<_>>(), want);
        }
        for p in probes {
            let k = &p[..kind.key_len()];
            let got: Vec<_> = index.as_alias().and_then(|v| v.lookup(k)).unwrap().collect();
            prop_assert_eq!(got.is_empty(), !model.contains_key(&cut(k)));
        }
        let rows: usize = model.values().map(|v| v.len()).sum();
        prop_assert_eq!(index.len() as usize, rows);
        // Any layout at least as wide reads back as the compact rows...
        let compact: Vec<(AliasKey, HashPrefix)> = entries.iter()
            .map(|(k, p)| (leading(&k[..ALIAS_KEY_LEN]), crate::cut_prefix(*p, crate::ALIAS_VALUE_LEN)))
            .collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        if layout.key_len >= ALIAS_KEY_LEN && layout.value_len >= crate::ALIAS_VALUE_LEN {
            prop_assert_eq!(index.as_alias().and_then(|v| v.checked_compact_rows()).unwrap(), compact);
        }
        // ... and cut to its own layout, as the model holds them (keys zero-padded).
        let own: Vec<(AliasKey, HashPrefix)> = model.iter()
            .flat_map(|(k, ps)| ps.iter().map(move |p| (crate::cut_key(leading(&k[..k.len().min(ALIAS_KEY_LEN)]), layout.key_len), *p)))
            .collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        if layout.key_len <= ALIAS_KEY_LEN {
            prop_assert_eq!(index.as_alias().and_then(|v| v.checked_rows_as(layout)).unwrap(), own);
        }
        if layout.key_len == 8 {
            prop_assert_eq!(index.as_alias().and_then(|v| v.checked_rows::<8>()).unwrap().len(), rows);
            prop_assert!(index.as_alias().and_then(|v| v.checked_rows::<16>()).is_err());
        }
    }

    #[test]
    fn every_flip_of_an_alias_index_fails_verify(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let entries: Vec<([u8; 16], HashPrefix)> = (0..100u32).map(|i| (
            SequenceHash::of_residues(&i.to_le_bytes()).0[..16].try_into().unwrap(),
            crate::hash_prefix(&SequenceHash::of_residues(&(i + 1000).to_le_bytes())))).collect();
        let mut bytes = crate::write_alias_index(Vec::new(), IndexKind::Md5, AliasLayout::COMPACT, &[1], &entries).unwrap();
        let at = pos.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let parsed = PackIndex::parse(&bytes[..]);
        prop_assert!(parsed.as_ref().map_or(true, |i| i.verify().is_err()), "flip at byte {} passed verify", at);
        if let Ok(index) = parsed {
            for e in &entries {
                if let Ok(found) = index.as_alias().and_then(|v| v.lookup(&e.0)) {
                    let want = crate::cut_prefix(e.1, crate::ALIAS_VALUE_LEN);
                    prop_assert_eq!(found.collect::<Vec<_>>(), vec![want], "flip at {}", at);
                }
            }
        }
    }
}

/// `bytes` with rows `i` and `i + 1` (of one bucket) swapped, keys and values, and
/// the CRCs of their bucket and of the file made right again.
fn swapped_and_resealed(bytes: &[u8], i: u64) -> Vec<u8> {
    let ix = PackIndex::parse(bytes).unwrap();
    // Packed rows: one section of whole rows, no values apart.
    let (n, v) = match ix.packed {
        Some(p) => (p.row_len, 0),
        None => (ix.stored_len(), ix.value_len),
    };
    let slot = ix.slot_of(i);
    let (start, end) = ix.slot_rows(slot);
    assert!(
        start <= i && i + 1 < end,
        "rows {i} and {} share a bucket",
        i + 1
    );
    let (keys_at, values_at, crcs_at) = (ix.keys_at, ix.locations_at, ix.crcs_at);
    let mut out = bytes.to_vec();
    let (k, l) = (keys_at + i as usize * n, values_at + i as usize * v);
    let (a, b) = out[k..k + 2 * n].split_at_mut(n);
    a.swap_with_slice(b);
    let (a, b) = out[l..l + 2 * v].split_at_mut(v);
    a.swap_with_slice(b);
    let mut h = crc32fast::Hasher::new();
    h.update(&start.to_le_bytes());
    h.update(&end.to_le_bytes());
    if ix.packed.is_some() {
        // Packed buckets cover the value widths and the first covered pack id too.
        h.update(&out[60..64]);
        let first = match ix.pack_count {
            0 => [0u8; 4],
            _ => out[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap(),
        };
        h.update(&first);
    }
    h.update(&out[keys_at + start as usize * n..keys_at + end as usize * n]);
    h.update(&out[values_at + start as usize * v..values_at + end as usize * v]);
    out[crcs_at + 4 * slot..crcs_at + 4 * slot + 4].copy_from_slice(&h.finalize().to_le_bytes());
    let body = out.len() - TRAILER_LEN;
    let crc = crc32fast::hash(&out[..body]);
    out[body..body + 4].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn verify_finds_rows_out_of_order_in_every_kind_of_index() {
    let hash = |i: u32| SequenceHash::of_residues(&i.to_le_bytes());
    let mut locations: Vec<IndexEntry> = (0..5000u32)
        .map(|i| IndexEntry {
            hash: hash(i),
            location: PackLocation {
                pack: 1,
                block: i,
                offset: 0,
                length: 9,
            },
        })
        .collect();
    let mut entries: Vec<EntryRow> = (0..5000u32)
        .map(|i| EntryRow {
            prefix: crate::hash_prefix(&hash(i)),
            pack: 1,
            entry: i,
        })
        .collect();
    let aliases: Vec<([u8; 16], HashPrefix)> = (0..5000u32)
        .map(|i| {
            (
                hash(i + 9000).0[..16].try_into().unwrap(),
                crate::hash_prefix(&hash(i)),
            )
        })
        .collect();
    let files = [
        write_index(
            Vec::new(),
            IndexKind::Multi,
            &[1],
            IndexCounts::default(),
            None,
            &mut locations,
        )
        .unwrap(),
        crate::write_entry_index(
            Vec::new(),
            &[1],
            IndexCounts::default(),
            EntryLayout::CURRENT,
            &mut entries,
        )
        .unwrap(),
        crate::write_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout::COMPACT,
            &[1],
            &aliases,
        )
        .unwrap(),
    ];
    for bytes in files {
        let ix = PackIndex::parse(&bytes[..]).unwrap();
        ix.verify().unwrap();
        // Two rows of the first bucket with at least two.
        let slot = (0..1usize << ix.bits)
            .find(|&s| {
                let (a, b) = ix.slot_rows(s);
                b - a >= 2
            })
            .unwrap();
        let i = ix.slot_rows(slot).0;
        let kind = ix.kind();
        let swapped = swapped_and_resealed(&bytes, i);
        let err = PackIndex::parse(&swapped[..])
            .unwrap()
            .verify()
            .unwrap_err()
            .to_string();
        assert!(err.contains("out of order"), "{kind:?}: {err}");
    }
}

#[test]
fn runs_walked_in_shares_of_slots_are_the_runs_of_the_whole_index() {
    let hash = |i: u32| SequenceHash::of_residues(&(i % 3000).to_le_bytes());
    // 3000 sequences, 2000 of them with a second row.
    let mut rows: Vec<EntryRow> = (0..5000u32)
        .map(|i| EntryRow {
            prefix: crate::hash_prefix(&hash(i)),
            pack: 1 + i / 3000,
            entry: i % 3000,
        })
        .collect();
    let bytes = crate::write_entry_index(
        Vec::new(),
        &[1, 2],
        IndexCounts::default(),
        EntryLayout::CURRENT,
        &mut rows,
    )
    .unwrap();
    let ix = PackIndex::parse(&bytes[..]).unwrap();
    assert!(ix.needs_slot(), "keys imply bits: a run needs its slot");
    let mut whole = Vec::new();
    ix.for_each_run(|r| {
        whole.push((
            r.clone(),
            ix.as_entries()
                .expect("an index of this kind")
                .rows(r)
                .collect::<Vec<_>>(),
        ));
        Ok::<(), Error>(())
    })
    .unwrap();
    assert_eq!(whole.len(), 3000);
    assert_eq!(
        whole.iter().filter(|(r, _)| r.end - r.start == 2).count(),
        2000
    );
    let slots = ix.fanout_slots();
    for cut in [0, 1, slots / 3, slots / 2, slots - 1, slots] {
        let mut shares = Vec::new();
        for range in [0..cut, cut..slots] {
            ix.for_each_run_in(range, |slot, r| {
                assert_eq!(ix.slot_of(r.start), slot);
                let got = r
                    .clone()
                    .map(|i| {
                        ix.as_entries()
                            .expect("an index of this kind")
                            .row_in_slot(i, slot)
                    })
                    .collect::<Vec<_>>();
                shares.push((r, got));
                Ok::<(), Error>(())
            })
            .unwrap();
        }
        assert_eq!(shares, whole, "cut at slot {cut}");
    }
}

#[test]
fn kinds_are_not_mixed() {
    let h = SequenceHash::of_residues(b"A");
    let rows = vec![([1u8; 16], crate::hash_prefix(&h))];
    assert!(crate::write_alias_index(
        Vec::new(),
        IndexKind::Accession,
        AliasLayout::COMPACT,
        &[],
        &rows
    )
    .is_err());
    assert!(crate::write_alias_index(
        Vec::new(),
        IndexKind::Multi,
        AliasLayout::COMPACT,
        &[],
        &rows
    )
    .is_err());
    let index = PackIndex::parse(
        crate::write_alias_index(Vec::new(), IndexKind::Md5, AliasLayout::COMPACT, &[], &rows)
            .unwrap(),
    )
    .unwrap();
    assert!(
        index.as_alias().and_then(|v| v.lookup(&[1; 24])).is_err(),
        "key of the wrong length"
    );
    assert!(index
        .as_locations()
        .and_then(|v| v.checked_entries())
        .is_err());
    assert_eq!(
        index
            .as_alias()
            .and_then(|v| v.lookup(&[1; 16]))
            .unwrap()
            .collect::<Vec<_>>(),
        vec![crate::cut_prefix(
            crate::hash_prefix(&h),
            crate::ALIAS_VALUE_LEN
        )]
    );
    assert_eq!(
        index.as_alias().ok().map(|v| v.layout()),
        Some(AliasLayout::COMPACT)
    );
    assert!(
        crate::write_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout {
                key_len: crate::SMALL_ALIAS_KEY_LEN - 1,
                value_len: 5
            },
            &[],
            &rows
        )
        .is_err(),
        "keys shorter than any layout's"
    );
    assert!(
        crate::write_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout {
                key_len: 17,
                value_len: 5
            },
            &[],
            &rows
        )
        .is_err(),
        "keys longer than the whole key"
    );
    assert!(
        crate::write_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout {
                key_len: 8,
                value_len: 3
            },
            &[],
            &rows
        )
        .is_err(),
        "prefixes shorter than 4 bytes"
    );
}

#[test]
fn the_legacy_layout_is_the_old_bytes_and_reads_alike() {
    // Byte 60 stays zero and the widths are the kind's: what builds before
    // 2026-12-01 wrote.
    let h = SequenceHash::of_residues(b"MKV");
    let rows = vec![([3u8; 24], crate::hash_prefix(&h))];
    let kind = IndexKind::Sha512t24u;
    let old =
        crate::write_alias_index(Vec::new(), kind, AliasLayout::legacy(kind), &[2], &rows).unwrap();
    assert_eq!((old[6], old[60]), (24, 0));
    let new =
        crate::write_alias_index(Vec::new(), kind, AliasLayout::COMPACT, &[2], &rows).unwrap();
    assert_eq!((new[6], new[60]), (6, 5));
    assert_eq!(
        old.len() - new.len(),
        18 + 3,
        "18 key bytes and 3 value bytes fewer"
    );
    // The rows of 2026-12-01's first compact layout: 8-byte keys.
    let eight = crate::write_alias_index(
        Vec::new(),
        kind,
        AliasLayout {
            key_len: 8,
            value_len: 5,
        },
        &[2],
        &rows,
    )
    .unwrap();
    assert_eq!(eight[6], 8);
    let (old, new, eight) = (
        PackIndex::parse(old).unwrap(),
        PackIndex::parse(new).unwrap(),
        PackIndex::parse(eight).unwrap(),
    );
    assert_eq!(
        old.as_alias()
            .and_then(|v| v.lookup(&[3; 24]))
            .unwrap()
            .collect::<Vec<_>>(),
        vec![crate::hash_prefix(&h)]
    );
    for ix in [&new, &eight] {
        assert_eq!(
            ix.as_alias()
                .and_then(|v| v.lookup(&[3; 24]))
                .unwrap()
                .collect::<Vec<_>>(),
            vec![crate::cut_prefix(crate::hash_prefix(&h), 5)]
        );
    }
    for ix in [&old, &eight] {
        assert_eq!(
            ix.as_alias()
                .and_then(|v| v.checked_compact_rows())
                .unwrap(),
            new.as_alias()
                .and_then(|v| v.checked_compact_rows())
                .unwrap()
        );
    }
}

#[test]
fn opens_from_a_file_through_a_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.idx");
    let h = SequenceHash::of_residues(b"A");
    let loc = PackLocation {
        pack: 9,
        block: 1,
        offset: 2,
        length: 3,
    };
    let counts = IndexCounts {
        sequences: 1,
        representations: 2,
        residue_bytes: 1,
        uncompressed_bytes: 50,
    };
    let bytes = write_index(
        Vec::new(),
        IndexKind::Pack,
        &[9],
        counts,
        Some(0xabcd),
        &mut [IndexEntry {
            hash: h,
            location: loc,
        }],
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let index = open(&path).unwrap();
    assert_eq!(index.kind(), IndexKind::Pack);
    assert_eq!(index.packs(), vec![9]);
    assert_eq!(index.counts(), counts);
    assert_eq!(
        index.as_locations().ok().and_then(|v| v.pack_crc32()),
        Some(0xabcd)
    );
    assert_eq!(
        index
            .as_locations()
            .and_then(|v| v.lookup(&h))
            .unwrap()
            .collect::<Vec<_>>(),
        vec![loc]
    );
    let err = open(&dir.path().join("missing.idx")).unwrap_err();
    assert!(err.to_string().contains("missing.idx"), "{err}");
}
