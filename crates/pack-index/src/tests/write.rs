//! Writing and merging every index kind.

use crate::file::write::write_rows;
use crate::*;
use pack_format::{PackLocation, SequenceHash};
use proptest::prelude::*;

fn entry(h: [u8; 32], pack: u32, offset: u32) -> IndexEntry {
    IndexEntry {
        hash: SequenceHash(h),
        location: PackLocation {
            pack,
            block: offset / 7,
            offset,
            length: 9,
        },
    }
}

proptest! {
    #[test]
    fn a_merged_index_is_the_index_of_all_rows(
        olds in proptest::collection::vec(
            proptest::collection::vec((any::<[u8; 32]>(), any::<u32>()), 0..1500), 0..3),
        new in proptest::collection::vec((any::<[u8; 32]>(), any::<u32>()), 0..60),
        shared in 0usize..20,
    ) {
        let c = IndexCounts { sequences: 3, ..IndexCounts::default() };
        let mut all = Vec::new();
        let mut old_files = Vec::new();
        for (p, rows) in olds.iter().enumerate() {
            let mut rows: Vec<IndexEntry> =
                rows.iter().map(|(h, o)| entry(*h, p as u32, *o)).collect();
            all.extend(rows.iter().copied());
            old_files.push(write_index(Vec::new(), IndexKind::Multi, &[], c, None, &mut rows).unwrap());
        }
        let old: Vec<PackIndex<&[u8]>> =
            old_files.iter().map(|b| PackIndex::parse(&b[..]).unwrap()).collect();
        let old_refs: Vec<CheckedIndex<&[u8]>> = old.iter().map(|ix| ix.check_buckets().unwrap()).collect();
        // Some new rows repeat an old hash elsewhere (a sequence's second entry).
        let mut new: Vec<IndexEntry> = new.iter().map(|(h, o)| entry(*h, 9, *o)).collect();
        for (i, e) in all.iter().take(shared).enumerate() {
            new.push(entry(e.hash.0, 9, i as u32));
        }
        all.extend(new.iter().copied());
        let merged = write_merged_index(Vec::new(), IndexKind::Multi, &[0, 9], c, &old_refs, &mut new).unwrap();
        let whole = write_index(Vec::new(), IndexKind::Multi, &[0, 9], c, None, &mut all).unwrap();
        prop_assert_eq!(merged, whole);
    }

    #[test]
    fn a_merged_alias_index_is_the_index_of_all_rows_once_each(
        old in proptest::collection::vec((0u64..512, any::<u64>()), 0..1500),
        new in proptest::collection::vec((0u64..64, any::<u64>()), 0..300),
        repeated in 0usize..30,
    ) {
        // Keys that differ in the bytes the layout keeps (the first six), prefixes too
        // (the first five).
        let row = |(k, p): (u64, u64)| ((k << 24).to_be_bytes(), ((p % 5) << 32).to_be_bytes());
        let mut old: Vec<([u8; 8], HashPrefix)> = old.into_iter().map(row).collect();
        let mut new: Vec<([u8; 8], HashPrefix)> = new.into_iter().map(row).collect();
        new.extend(old.iter().take(repeated).copied());
        // A session's rows, as the store pushes them: keys cut to the layout's width.
        let cut = |rows: &[([u8; 8], HashPrefix)]| -> Vec<(AliasKey, HashPrefix)> {
            rows.iter().map(|(k, p)| (k[..ALIAS_KEY_LEN].try_into().unwrap(), *p)).collect()
        };
        let mut all: Vec<_> = old.iter().chain(new.iter()).copied().collect();
        let new = cut(&new);
        all.sort_unstable();
        all.dedup();
        old.sort_unstable();
        old.dedup();
        let old_file = write_alias_index(Vec::new(), IndexKind::Accession, AliasLayout::COMPACT, &[1], &old).unwrap();
        let old_ix = PackIndex::parse(&old_file[..]).unwrap();
        let compact = AliasLayout::COMPACT;
        let merged = write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], &[old_ix.check_buckets().unwrap()], &mut new.clone()).unwrap();
        let whole = write_alias_index(Vec::new(), IndexKind::Accession, AliasLayout::COMPACT, &[1, 2], &all).unwrap();
        prop_assert_eq!(merged, whole);
        // In 4-byte prefixes (a small store's), merged onto an old index of those.
        let small = AliasLayout { value_len: 4, ..compact };
        let old_small = crate::write_alias_index(Vec::new(), IndexKind::Accession, small, &[1], &old).unwrap();
        let old_small = PackIndex::parse(&old_small[..]).unwrap();
        prop_assert!(write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], &[old_small.check_buckets().unwrap()], &mut new.clone()).is_err(), "layouts differ");
        let merged = write_merged_alias_index(Vec::new(), IndexKind::Accession, small, &[1, 2], &[old_small.check_buckets().unwrap()], &mut new.clone()).unwrap();
        let whole = crate::write_alias_index(Vec::new(), IndexKind::Accession, small, &[1, 2], &all).unwrap();
        prop_assert_eq!(merged, whole);
        // In 4-byte keys (a small store's): rows whose keys differ only past them are one.
        let tiny = AliasLayout::SMALL;
        let old_tiny = crate::write_alias_index(Vec::new(), IndexKind::Accession, tiny, &[1], &old).unwrap();
        let old_tiny = PackIndex::parse(&old_tiny[..]).unwrap();
        let merged = write_merged_alias_index(Vec::new(), IndexKind::Accession, tiny, &[1, 2], &[old_tiny.check_buckets().unwrap()], &mut new.clone()).unwrap();
        let whole = crate::write_alias_index(Vec::new(), IndexKind::Accession, tiny, &[1, 2], &all).unwrap();
        prop_assert_eq!(&merged, &whole);
        // A wider index's rows, cut to 4-byte keys, give the same file.
        let mut carried = old_ix.as_alias().and_then(|v| v.checked_rows_as(tiny)).unwrap();
        carried.extend(new.iter().copied());
        let converted = write_merged_alias_index::<_, &[u8]>(Vec::new(), IndexKind::Accession, tiny, &[1, 2], &[], &mut carried).unwrap();
        prop_assert_eq!(converted, whole);
        // An index of the layout before 2026-12-01 is not merged as it is: its rows
        // come in as new ones.
        let legacy = crate::write_alias_index(Vec::new(), IndexKind::Accession, AliasLayout::legacy(IndexKind::Accession), &[1], &old).unwrap();
        let legacy = PackIndex::parse(&legacy[..]).unwrap();
        prop_assert!(write_merged_alias_index(Vec::new(), IndexKind::Accession, compact, &[1, 2], &[legacy.check_buckets().unwrap()], &mut new.clone()).is_err());
        let mut carried = legacy.as_alias().and_then(|v| v.checked_compact_rows()).unwrap();
        carried.extend(new.iter().copied());
        let converted = write_merged_alias_index::<_, &[u8]>(Vec::new(), IndexKind::Accession, compact, &[1, 2], &[], &mut carried).unwrap();
        prop_assert_eq!(converted, write_alias_index(Vec::new(), IndexKind::Accession, AliasLayout::COMPACT, &[1, 2], &all).unwrap());
    }

    #[test]
    fn a_merged_entry_index_is_the_index_of_all_rows(
        old in proptest::collection::vec((0u64..2048, 0u32..3, any::<u32>()), 0..1500),
        new in proptest::collection::vec((0u64..2048, 3u32..5, any::<u32>()), 0..300),
        with_old in any::<bool>(),
        (old_shift, new_shift) in (0u32..32, 0u32..32),
        legacy_old in any::<bool>(),
    ) {
        // Few distinct prefixes: runs of one prefix over several packs and entries.
        // Entry numbers of any width: each side's are shifted down by a random count.
        // Prefixes that differ in the bytes the file keeps (the first six).
        let row = |shift: u32| move |(p, pack, entry): (u64, u32, u32)| EntryRow {
            prefix: (p << 24).to_be_bytes(),
            pack,
            entry: entry >> shift,
        };
        let mut old: Vec<EntryRow> = if with_old { old.into_iter().map(row(old_shift)).collect() } else { Vec::new() };
        old.sort_unstable();
        old.dedup();
        let mut new: Vec<EntryRow> = new.into_iter().map(row(new_shift)).collect();
        new.sort_unstable();
        new.dedup();
        let mut all: Vec<EntryRow> = old.iter().chain(new.iter()).copied().collect();
        let c = IndexCounts { sequences: 7, representations: 9, residue_bytes: 11, uncompressed_bytes: 13 };
        // The old file as this version writes it, or as earlier builds did (3 bytes
        // each when every number fits, else 4), whose rows are read to see.
        let old_widths = legacy_old.then(|| {
            let fits = old.iter().all(|r| r.entry < crate::NARROW_ENTRY_LIMIT);
            EntryWidths::legacy(if fits { crate::NARROW_ENTRY_VALUE_LEN } else { 8 }).unwrap()
        });
        let old_file = write_entry_index(Vec::new(), &[0, 1, 2], c, EntryLayout { key_len: ENTRY_KEY_LEN, widths: old_widths }, &mut old).unwrap();
        let old_ix = PackIndex::parse(&old_file[..]).unwrap();
        old_ix.verify().unwrap();
        prop_assert_eq!(old_ix.as_entries().ok().map(|v| v.widths()).unwrap().is_legacy(), legacy_old);
        let old_arg: Vec<_> = with_old.then(|| old_ix.check_buckets().unwrap()).into_iter().collect();
        let merged = write_merged_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, &old_arg, &mut new).unwrap();
        let whole = write_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, EntryLayout::CURRENT, &mut all).unwrap();
        prop_assert_eq!(&merged, &whole);
        let ix = PackIndex::parse(&merged[..]).unwrap();
        ix.verify().unwrap();
        prop_assert_eq!(ix.kind(), IndexKind::Entries);
        // The narrowest values for the largest covered pack and entry number, even
        // when merged from an old index of wider ones.
        let max_entry = all.iter().map(|r| r.entry).max().unwrap_or(0);
        let widths = EntryWidths::for_max(4, max_entry);
        prop_assert_eq!(ix.as_entries().ok().map(|v| v.widths()), Some(widths));
        prop_assert_eq!(widths.len, (3 + (32 - max_entry.leading_zeros()).max(1) as usize).div_ceil(8));
        let n = all.len();
        // The fan-out width the writer chose, among the three it weighs.
        let bits = merged[7];
        prop_assert!((fanout_bits(n as u64)..=fanout_bits(n as u64) + 2).contains(&bits));
        let fanout = 12usize << bits;
        // Packed rows: the key's bits past the fan-out's, then the value's.
        let row = (8 * ENTRY_KEY_LEN - bits as usize + widths.pack_bits as usize + widths.entry_bits as usize).div_ceil(8);
        prop_assert_eq!(merged[4], crate::PACKED_VERSION);
        prop_assert_eq!(merged.len(), HEADER_LEN + 24 + fanout + row * n + 16);
        prop_assert_eq!(ix.counts(), c);
        // An old index of 8-byte keys (earlier builds) is merged into one of 8-byte
        // keys, the file all rows give with them.
        if with_old && !old.is_empty() {
            let eight = write_entry_index(Vec::new(), &[0, 1, 2], c, EntryLayout { key_len: 8, widths: old_widths }, &mut old.clone()).unwrap();
            let eight = PackIndex::parse(&eight[..]).unwrap();
            prop_assert_eq!(eight.key_len(), 8);
            let merged = write_merged_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, &[eight.check_buckets().unwrap()], &mut new.clone()).unwrap();
            let whole = write_entry_index(Vec::new(), &[0, 1, 2, 3, 4], c, EntryLayout { key_len: 8, widths: None }, &mut all.clone()).unwrap();
            prop_assert_eq!(&merged, &whole);
            prop_assert_eq!(PackIndex::parse(&merged[..]).unwrap().key_len(), 8);
        }
        all.sort_unstable();
        prop_assert_eq!((0..ix.len()).map(|i| ix.as_entries().expect("an index of this kind").row(i)).collect::<Vec<_>>(), all.clone());
        // A lookup gives exactly the rows of its prefix, in order.
        for probe in all.iter().map(|r| r.prefix).take(30).chain([[0xee; 8]]) {
            let want: Vec<EntryRow> = all.iter().filter(|r| r.prefix == probe).copied().collect();
            prop_assert_eq!(ix.as_entries().and_then(|v| v.lookup(&probe)).unwrap().collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn any_header_widths_are_read_or_refused(len in any::<u8>(), pack_bits in any::<u8>(), entry_bits in any::<u8>(), big in any::<usize>()) {
        // Found by the fuzzer: a length past 63 overflowed while the widths of a legacy
        // file were computed for it.
        if let Some(w) = EntryWidths::from_header(len, pack_bits, entry_bits) {
            prop_assert!((1..=8).contains(&w.len));
            prop_assert!(w.pack_bits as usize + w.entry_bits as usize <= 8 * w.len);
        }
        prop_assert_eq!(EntryWidths::legacy(big).is_some(), big == 6 || big == 8);
    }

    #[test]
    fn entry_widths_round_trip(pack in any::<u32>(), entry in any::<u32>(), (pack_shift, entry_shift) in (0u32..32, 0u32..32)) {
        let (pack, entry) = (pack >> pack_shift, entry >> entry_shift);
        let w = EntryWidths::for_max(pack, entry);
        prop_assert!(w.fits(pack, entry));
        let v = w.encode(pack, entry);
        prop_assert_eq!(w.decode(&v[..w.len]), (pack, entry));
        prop_assert!(!w.has_spare_bits(&v[..w.len]));
        prop_assert!(v[w.len..].iter().all(|&b| b == 0), "nothing past the value's bytes");
        prop_assert_eq!(EntryWidths::from_header(w.header()[0], w.header()[1], w.header()[2]), Some(w));
        // One more bit of either does not fit.
        if w.pack_bits < 32 {
            prop_assert!(!w.fits(1 << w.pack_bits, entry));
        }
        if w.entry_bits < 32 {
            prop_assert!(!w.fits(pack, 1 << w.entry_bits));
        }
    }
}

#[test]
fn an_entry_index_is_not_merged_with_other_kinds() {
    let h = SequenceHash::of_residues(b"A");
    let multi = write_index(
        Vec::new(),
        IndexKind::Multi,
        &[1],
        IndexCounts::default(),
        None,
        &mut [IndexEntry {
            hash: h,
            location: pack_format::PackLocation::default(),
        }],
    )
    .unwrap();
    let multi = PackIndex::parse(multi).unwrap();
    let checked = multi.check_buckets().unwrap();
    let mut rows = [EntryRow {
        prefix: crate::hash_prefix(&h),
        pack: 1,
        entry: 0,
    }];
    assert!(write_merged_entry_index(
        Vec::new(),
        &[1],
        IndexCounts::default(),
        &[checked],
        &mut rows
    )
    .is_err());
    assert!(
        multi
            .as_entries()
            .and_then(|v| v.lookup(&crate::hash_prefix(&h)))
            .is_err(),
        "an entry lookup in a multi-pack index"
    );
    let entries = PackIndex::parse(
        write_entry_index(
            Vec::new(),
            &[1],
            IndexCounts::default(),
            EntryLayout::CURRENT,
            &mut rows,
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        entries.as_locations().and_then(|v| v.lookup(&h)).is_err(),
        "a SHA-256 lookup in an entry index"
    );
    assert!(entries
        .as_locations()
        .and_then(|v| v.lookup_prefix(&h.0[..8]))
        .is_err());
    assert!(entries
        .as_locations()
        .and_then(|v| v.checked_entries())
        .is_err());
    assert!(write_merged_index(
        Vec::new(),
        IndexKind::Multi,
        &[1],
        IndexCounts::default(),
        &[entries.check_buckets().unwrap()],
        &mut []
    )
    .is_err());
}

/// `n` entry rows of packs 1 and 2, under the SHA-256 prefixes of their numbers.
fn hashed_rows(n: u32) -> Vec<EntryRow> {
    (0..n)
        .map(|i| EntryRow {
            prefix: crate::hash_prefix(&SequenceHash::of_residues(&i.to_le_bytes())),
            pack: 1 + i % 2,
            entry: i,
        })
        .collect()
}

#[test]
fn every_flip_of_an_entry_index_fails_verify_or_lookups_stay_right() {
    let mut rows = hashed_rows(100);
    let bytes = write_entry_index(
        Vec::new(),
        &[1, 2],
        IndexCounts::default(),
        EntryLayout::CURRENT,
        &mut rows,
    )
    .unwrap();
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let parsed = PackIndex::parse(&bad[..]);
        assert!(
            parsed.as_ref().map_or(true, |i| i.verify().is_err()),
            "flip at byte {at} passed verify"
        );
        if let Ok(index) = parsed {
            for r in &rows {
                if let Ok(found) = index.as_entries().and_then(|v| v.lookup(&r.prefix)) {
                    assert_eq!(found.collect::<Vec<_>>(), vec![*r], "flip at {at}");
                }
            }
        }
    }
}

#[test]
fn entry_values_take_the_bytes_their_largest_pack_and_entry_need() {
    let c = IndexCounts::default();
    let row = |pack: u32, entry: u32| EntryRow {
        prefix: [9, 9, 9, 9, 9, 9, 0, 0],
        pack,
        entry,
    };
    let widths = |packs: &[u32], rows: &mut [EntryRow]| {
        let file = write_entry_index(Vec::new(), packs, c, EntryLayout::CURRENT, rows).unwrap();
        let ix = PackIndex::parse(file).unwrap();
        // verify reports a row naming a pack not covered, as before.
        let covered = rows.iter().all(|r| packs.contains(&r.pack));
        assert_eq!(ix.verify().is_ok(), covered);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                ix.as_entries()
                    .expect("an index of this kind")
                    .row(i as u64),
                *r
            );
        }
        let w = ix.as_entries().ok().map(|v| v.widths()).unwrap();
        (w.len, w.pack_bits, w.entry_bits)
    };
    // Pack ids are held as offsets from the smallest covered one: one pack, one bit.
    assert_eq!(widths(&[7], &mut [row(7, 5)]), (1, 1, 3));
    // A covered pack past the others widens the values, even with no row in it.
    assert_eq!(widths(&[7, 1 << 24], &mut [row(7, 5)]), (4, 24, 3));
    // protein_all's shape: 4 packs of up to about 200,000 entries, 3 bytes.
    assert_eq!(
        widths(&[1, 4], &mut [row(1, 0), row(4, 199_999)]),
        (3, 2, 18)
    );
    assert_eq!(
        widths(&[u32::MAX], &mut [row(u32::MAX, u32::MAX)]),
        (5, 1, 32)
    );
    assert_eq!(widths(&[0, u32::MAX], &mut [row(0, 1)]), (5, 32, 1));
    // A row naming a pack past the covered ones is written as it is, not cut.
    assert_eq!(widths(&[1], &mut [row(300, 0)]), (2, 9, 1));
    // One below the smallest covered pack has no offset: refused.
    let err = write_entry_index(Vec::new(), &[5], c, EntryLayout::CURRENT, &mut [row(3, 0)]);
    assert!(err.is_err(), "a row of pack 3 under pack 5's offsets");
}

#[test]
fn entry_indexes_of_earlier_builds_are_read_and_merged_into_the_narrowest_values() {
    let c = IndexCounts::default();
    let rows = |n: u32| -> Vec<EntryRow> {
        (0..n)
            .map(|i| EntryRow {
                prefix: crate::hash_prefix(&SequenceHash::of_residues(&i.to_le_bytes())),
                pack: 1 + i % 3,
                entry: i * 1000,
            })
            .collect()
    };
    for len in [crate::NARROW_ENTRY_VALUE_LEN, 8] {
        let legacy = EntryWidths::legacy(len).unwrap();
        let mut old = rows(50);
        let file = write_entry_index(
            Vec::new(),
            &[1, 2, 3],
            c,
            EntryLayout {
                key_len: crate::PREFIX_LEN,
                widths: Some(legacy),
            },
            &mut old,
        )
        .unwrap();
        // What those builds wrote: byte 60 the value length (0 for 8), 61..64 zero.
        assert_eq!(
            file[60..64],
            [if len == 8 { 0 } else { len as u8 }, 0, 0, 0]
        );
        let ix = PackIndex::parse(&file[..]).unwrap();
        ix.verify().unwrap();
        assert_eq!(ix.as_entries().ok().map(|v| v.widths()), Some(legacy));
        let mut sorted = old.clone();
        sorted.sort_unstable();
        assert_eq!(
            (0..ix.len())
                .map(|i| ix.as_entries().expect("an index of this kind").row(i))
                .collect::<Vec<_>>(),
            sorted
        );
        let merged = write_merged_entry_index(
            Vec::new(),
            &[1, 2, 3],
            c,
            &[ix.check_buckets().unwrap()],
            &mut [],
        )
        .unwrap();
        let merged = PackIndex::parse(merged).unwrap();
        // Pack 3: 2 bits; entry 49,000: 16 bits.
        assert_eq!(
            merged.as_entries().ok().map(|v| v.widths()),
            Some(EntryWidths::for_bits(2, 16))
        );
        assert_eq!(
            (0..merged.len())
                .map(|i| merged.as_entries().expect("an index of this kind").row(i))
                .collect::<Vec<_>>(),
            sorted
        );
    }
    // Stated widths that do not add up are refused at open.
    let mut file = write_entry_index(
        Vec::new(),
        &[1, 2, 3],
        c,
        EntryLayout::CURRENT,
        &mut rows(5),
    )
    .unwrap();
    file[62] += 8;
    assert!(PackIndex::parse(&file[..]).is_err());
}

/// `n` entry rows of distinct sequences (every 7th with a second row in another pack)
/// and `n` MD5 alias rows, both of SHA-256s of `salt` and a counter.
fn many_rows(n: u32, salt: u32) -> (Vec<EntryRow>, Vec<([u8; 16], HashPrefix)>) {
    let hash = |i: u32| SequenceHash::of_residues(&[salt.to_le_bytes(), i.to_le_bytes()].concat());
    let mut entries = Vec::new();
    let mut aliases = Vec::new();
    for i in 0..n {
        let h = hash(i);
        entries.push(EntryRow {
            prefix: crate::hash_prefix(&h),
            pack: 1 + i % 3,
            entry: i,
        });
        if i % 7 == 0 {
            entries.push(EntryRow {
                prefix: crate::hash_prefix(&h),
                pack: 4,
                entry: i / 7,
            });
        }
        let md5 = hash(i ^ 0x8000_0000).0;
        aliases.push((md5[..16].try_into().unwrap(), crate::hash_prefix(&h)));
    }
    (entries, aliases)
}

#[test]
fn keys_leave_the_bits_their_fan_out_slot_implies() {
    let c = IndexCounts::default();
    let packs = [1, 2, 3, 4];
    // 10,000 sequences (11,429 rows; packs 1 to 4 as offsets from 1, 2 bits; 14 entry
    // bits): 8 fan-out bits, 56 bits a row; 1.05 million (1.2 million rows, 21 entry
    // bits): 15 fan-out bits, 56 bits a row (14 would leave 57: 8 bytes a row, not 7).
    // Packed rows hold the 48 key bits past the fan-out's.
    for (n, fanout) in [(10_000u32, 8u8), (1_050_000, 15)] {
        let (mut old, old_aliases) = many_rows(n, 1);
        let (mut new, new_aliases) = many_rows(n / 10, 2);
        let mut all: Vec<EntryRow> = old.iter().chain(&new).copied().collect();
        let file =
            write_entry_index(Vec::new(), &packs, c, EntryLayout::CURRENT, &mut old).unwrap();
        let ix = PackIndex::parse(&file[..]).unwrap();
        assert_eq!(ix.implied_key_bytes(), 0, "{n} rows");
        assert_eq!(
            (file[4], file[7]),
            (crate::PACKED_VERSION, fanout),
            "{n} rows"
        );
        ix.verify().unwrap();
        let w = ix.as_entries().ok().map(|v| v.widths()).unwrap();
        let fixed = HEADER_LEN + 4 * packs.len() + (12usize << fanout) + 16;
        let row =
            (8 * ENTRY_KEY_LEN - fanout as usize + w.pack_bits as usize + w.entry_bits as usize)
                .div_ceil(8);
        assert_eq!(file.len(), fixed + row * old.len());
        // Every row reads back whole, and a lookup of its prefix finds it.
        old.sort_unstable();
        let held = |r: &EntryRow| EntryRow {
            prefix: cut_prefix(r.prefix, ENTRY_KEY_LEN),
            ..*r
        };
        for (i, r) in old.iter().enumerate() {
            assert_eq!(
                ix.as_entries()
                    .expect("an index of this kind")
                    .row(i as u64),
                held(r)
            );
        }
        // ... and read as a range, each with its slot's bits.
        let entries = ix.as_entries().expect("an index of this kind");
        let (from, to) = (old.len() as u64 / 3, old.len() as u64);
        assert!(entries
            .rows(from..to)
            .eq(old[from as usize..].iter().map(held)));
        for r in old.iter().step_by(97) {
            let found: Vec<EntryRow> = ix
                .as_entries()
                .and_then(|v| v.lookup(&r.prefix))
                .unwrap()
                .collect();
            assert!(found.contains(&held(r)), "{r:?}");
            assert!(found
                .iter()
                .all(|f| f.prefix[..ENTRY_KEY_LEN] == r.prefix[..ENTRY_KEY_LEN]));
        }
        let mut runs = 0;
        ix.for_each_run(|rows| {
            let key = ix
                .as_entries()
                .expect("an index of this kind")
                .row(rows.start)
                .prefix;
            assert!(rows.clone().all(|i| ix
                .as_entries()
                .expect("an index of this kind")
                .row(i)
                .prefix
                == key));
            runs += 1;
            Ok::<(), Error>(())
        })
        .unwrap();
        assert_eq!(runs, n as usize, "one run per sequence");
        // A merge reads the old rows whole: the file all rows give.
        let merged = write_merged_entry_index(
            Vec::new(),
            &packs,
            c,
            &[ix.check_buckets().unwrap()],
            &mut new,
        )
        .unwrap();
        assert_eq!(
            merged,
            write_entry_index(Vec::new(), &packs, c, EntryLayout::CURRENT, &mut all).unwrap()
        );

        // Alias rows alike.
        let all_aliases: Vec<_> = old_aliases.iter().chain(&new_aliases).copied().collect();
        let file = write_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout::COMPACT,
            &packs,
            &old_aliases,
        )
        .unwrap();
        let ax = PackIndex::parse(&file[..]).unwrap();
        ax.verify().unwrap();
        let bits = file[7] as usize;
        assert!(bits >= 8);
        let row = (8 * ALIAS_KEY_LEN - bits + 8 * crate::ALIAS_VALUE_LEN).div_ceil(8);
        let fixed = HEADER_LEN + 4 * packs.len() + (12usize << bits) + 16;
        assert_eq!(
            file.len(),
            fixed + row * old_aliases.len(),
            "{n} alias rows"
        );
        let compact = |rows: &[([u8; 16], HashPrefix)]| -> Vec<(AliasKey, HashPrefix)> {
            let mut v: Vec<(AliasKey, HashPrefix)> = rows
                .iter()
                .map(|(k, p)| {
                    (
                        k[..ALIAS_KEY_LEN].try_into().unwrap(),
                        cut_prefix(*p, crate::ALIAS_VALUE_LEN),
                    )
                })
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(
            ax.as_alias()
                .and_then(|v| v.checked_compact_rows())
                .unwrap(),
            compact(&old_aliases)
        );
        for (k, p) in old_aliases.iter().step_by(101) {
            let want = cut_prefix(*p, crate::ALIAS_VALUE_LEN);
            assert!(ax
                .as_alias()
                .and_then(|v| v.lookup(k))
                .unwrap()
                .any(|f| f == want));
        }
        let merged = write_merged_alias_index(
            Vec::new(),
            IndexKind::Md5,
            AliasLayout::COMPACT,
            &packs,
            &[ax.check_buckets().unwrap()],
            &mut compact(&new_aliases),
        )
        .unwrap();
        assert_eq!(
            merged,
            write_alias_index(
                Vec::new(),
                IndexKind::Md5,
                AliasLayout::COMPACT,
                &packs,
                &all_aliases
            )
            .unwrap()
        );
    }
}

#[test]
fn damage_to_a_key_that_leaves_bytes_to_its_slot_is_found() {
    let (mut rows, _) = many_rows(10_000, 3);
    let file = write_entry_index(
        Vec::new(),
        &[1, 2, 3, 4],
        IndexCounts::default(),
        EntryLayout::CURRENT,
        &mut rows,
    )
    .unwrap();
    assert!(PackIndex::parse(&file[..]).unwrap().needs_slot());
    // Flips spread over the file (every byte would take too long): each fails verify,
    // and lookups give the right rows or an error.
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    for at in (0..file.len()).step_by(37) {
        let mut bad = file.clone();
        bad[at] ^= 0x04;
        let parsed = PackIndex::parse(&bad[..]);
        assert!(
            parsed.as_ref().map_or(true, |i| i.verify().is_err()),
            "flip at byte {at} passed verify"
        );
        if let Ok(index) = parsed {
            for r in sorted.iter().step_by(211) {
                if let Ok(found) = index.as_entries().and_then(|v| v.lookup(&r.prefix)) {
                    let found: Vec<EntryRow> = found.collect();
                    let held = EntryRow {
                        prefix: cut_prefix(r.prefix, ENTRY_KEY_LEN),
                        ..*r
                    };
                    assert!(found.contains(&held), "flip at {at}");
                }
            }
        }
    }
}

#[test]
fn a_value_with_bits_above_its_widths_fails_verify() {
    let c = IndexCounts::default();
    let mut rows = [EntryRow {
        prefix: [1; 8],
        pack: 1,
        entry: 2,
    }];
    let mut file = write_entry_index(Vec::new(), &[1], c, EntryLayout::CURRENT, &mut rows).unwrap();
    let ix = PackIndex::parse(&file[..]).unwrap();
    assert_eq!(
        ix.as_entries().ok().map(|v| v.widths()),
        Some(EntryWidths::for_bits(1, 2))
    );
    // The one packed row (no fan-out bits): the key's 48 bits above the value's 3, pack 1
    // (offset 0 from the smallest covered pack, 1) above entry 2 = 0b010, in 7 bytes; set
    // the top bit (above both) and mend the bucket's and the file's CRCs so that only the
    // widths check can see it.
    assert_eq!(file[7], 0);
    let row_at = file.len() - 16 - 7;
    let mut word = [0u8; 16];
    word[..7].copy_from_slice(&file[row_at..row_at + 7]);
    assert_eq!(
        u128::from_le_bytes(word),
        (0x0101_0101_0101u128 << 3) | 0b010
    );
    let at = row_at + 6;
    file[at] |= 0x80;
    let bits = file[7];
    let fanout_at = HEADER_LEN + 8;
    let slots = 1usize << bits;
    let crcs_at = fanout_at + 8 * slots;
    let slot = bucket(&[1; 8], bits);
    let mut h = crc32fast::Hasher::new();
    h.update(&0u64.to_le_bytes());
    h.update(&1u64.to_le_bytes());
    h.update(&file[60..64]);
    h.update(&1u32.to_le_bytes());
    h.update(&file[row_at..row_at + 7]);
    file[crcs_at + 4 * slot..crcs_at + 4 * slot + 4].copy_from_slice(&h.finalize().to_le_bytes());
    let body = file.len() - 16;
    let crc = crc32fast::hash(&file[..body]);
    file[body..body + 4].copy_from_slice(&crc.to_le_bytes());
    let ix = PackIndex::parse(&file[..]).unwrap();
    let err = ix.verify().unwrap_err().to_string();
    assert!(err.contains("above its widths"), "{err}");
    assert_eq!(
        ix.as_entries().expect("an index of this kind").row(0),
        rows[0],
        "the bits within the widths read as written"
    );
}

#[test]
fn rows_out_of_key_order_are_refused() {
    let rows = [entry([2; 32], 1, 0), entry([1; 32], 1, 9)];
    let err = write_rows(
        Vec::new(),
        IndexKind::Multi,
        None,
        &[1],
        IndexCounts::default(),
        None,
        2,
        || rows.iter(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("out of key order"), "{err}");
}

#[test]
fn damage_in_the_old_index_is_reported_not_copied() {
    let c = IndexCounts::default();
    let mut rows: Vec<IndexEntry> = (0..500u32)
        .map(|i| entry(SequenceHash::of_residues(&i.to_le_bytes()).0, 1, i))
        .collect();
    let mut bytes = write_index(Vec::new(), IndexKind::Multi, &[1], c, None, &mut rows).unwrap();
    // A byte of the locations section: only that bucket's CRC sees it.
    let at = bytes.len() - 16 - 8 * 16 + 5;
    bytes[at] ^= 4;
    // The merge takes only checked indexes: a damaged one never gets that far.
    let old = PackIndex::parse(&bytes[..]).unwrap();
    let err = old.check_buckets().unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let alias = vec![([1u8; 8], [2u8; 8]), ([3u8; 8], [4u8; 8])];
    let mut bytes = write_alias_index(
        Vec::new(),
        IndexKind::Accession,
        AliasLayout::COMPACT,
        &[1],
        &alias,
    )
    .unwrap();
    let at = bytes.len() - 16 - 3;
    bytes[at] ^= 1;
    let old = PackIndex::parse(&bytes[..]).unwrap();
    let err = old.check_buckets().unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn sorted_writers_give_the_files_the_in_memory_writers_give() {
    let (mut entries, aliases) = many_rows(5000, 11);
    let counts = IndexCounts {
        sequences: 5000,
        ..IndexCounts::default()
    };
    let packs = [1, 2, 3, 4];
    let layout = EntryLayout::CURRENT;
    let from_memory =
        write_entry_index(Vec::new(), &packs, counts, layout, &mut entries.clone()).unwrap();
    let ix = PackIndex::parse(&from_memory[..]).unwrap();
    let widths = ix.as_entries().unwrap().widths();
    for r in entries.iter_mut() {
        r.prefix = cut_prefix(r.prefix, ENTRY_KEY_LEN);
    }
    entries.sort_unstable();
    let n = entries.len() as u64;
    let sorted = write_sorted_entry_index(Vec::new(), &packs, counts, widths, n, || {
        entries.iter().copied()
    })
    .unwrap();
    assert_eq!(sorted, from_memory);

    let alias_layout = AliasLayout::COMPACT;
    let from_memory =
        write_alias_index(Vec::new(), IndexKind::Md5, alias_layout, &packs, &aliases).unwrap();
    let mut cut: Vec<(Vec<u8>, HashPrefix)> = (aliases.iter())
        .map(|(k, p)| (k[..ALIAS_KEY_LEN].to_vec(), cut_prefix(*p, ALIAS_VALUE_LEN)))
        .collect();
    cut.sort_unstable();
    cut.dedup();
    let n = cut.len() as u64;
    let sorted =
        write_sorted_alias_index(Vec::new(), IndexKind::Md5, alias_layout, &packs, n, || {
            cut.iter().cloned()
        })
        .unwrap();
    assert_eq!(sorted, from_memory);
}

#[test]
fn sorted_writers_refuse_rows_out_of_order_misfits_and_wrong_counts() {
    let row = |i: u64, entry: u32| EntryRow {
        prefix: (i << 40).to_be_bytes(),
        pack: 0,
        entry,
    };
    let widths = EntryWidths::for_max(0, 15);
    let c = IndexCounts::default();
    let write = |rows: Vec<EntryRow>, count: u64| {
        write_sorted_entry_index(Vec::new(), &[0], c, widths, count, || rows.iter().copied())
            .unwrap_err()
            .to_string()
    };
    let e = write(vec![row(2, 0), row(1, 1)], 2);
    assert!(e.contains("out of key order"), "{e}");
    let e = write(vec![row(1, 0), row(2, 16)], 2);
    assert!(e.contains("does not fit"), "{e}");
    let e = write(vec![row(1, 0), row(2, 1)], 3);
    assert!(e.contains("2 rows to write, 3 announced"), "{e}");
    let e = write_sorted_alias_index(
        Vec::new(),
        IndexKind::Md5,
        AliasLayout::COMPACT,
        &[0],
        1,
        || std::iter::once((vec![1u8; 5], [0u8; 8])),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a key of 5 bytes, not 6"), "{e}");
}

proptest! {
    #[test]
    fn an_alias_index_naming_entries_finds_them_and_merges_into_the_file_of_all_rows(
        old in proptest::collection::vec((any::<u64>(), 0u32..4, 0u32..100_000), 0..800),
        new in proptest::collection::vec((0u64..4096, 4u32..6, 0u32..5000), 0..200),
        small in any::<bool>(),
    ) {
        let key_len = if small { SMALL_ALIAS_KEY_LEN } else { ALIAS_KEY_LEN };
        let kind = IndexKind::Md5;
        // Keys close together too (new ones share their first bytes often).
        let row = |(k, pack, entry): (u64, u32, u32)| EntryRow { prefix: k.rotate_right(12).to_be_bytes(), pack, entry };
        let old: Vec<EntryRow> = old.into_iter().map(row).collect();
        let new: Vec<EntryRow> = new.into_iter().map(row).collect();
        let old_file = write_merged_alias_entry_index::<_, &[u8]>(Vec::new(), kind, key_len, &[0, 1, 2, 3], &[], &mut old.clone()).unwrap();
        let ox = PackIndex::parse(&old_file[..]).unwrap();
        ox.verify().unwrap();
        let packs = [0, 1, 2, 3, 4, 5];
        let merged = write_merged_alias_entry_index(Vec::new(), kind, key_len, &packs, &[ox.check_buckets().unwrap()], &mut new.clone()).unwrap();
        let mut all: Vec<EntryRow> = old.iter().chain(&new).copied().collect();
        let whole = write_merged_alias_entry_index::<_, &[u8]>(Vec::new(), kind, key_len, &packs, &[], &mut all).unwrap();
        prop_assert_eq!(&merged, &whole);
        prop_assert_eq!(merged[4], PACKED_VERSION);
        let ix = PackIndex::parse(&merged[..]).unwrap();
        ix.verify().unwrap();
        let alias = ix.as_alias().unwrap();
        prop_assert!(alias.names_entries());
        prop_assert!(alias.lookup(&[0; 16]).is_err(), "no SHA-256 prefixes to read");
        prop_assert!(alias.checked_compact_rows().is_err());
        let mut distinct: Vec<(Vec<u8>, u32, u32)> = old.iter().chain(&new)
            .map(|r| (r.prefix[..key_len].to_vec(), r.pack, r.entry)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(ix.len() as usize, distinct.len());
        for r in old.iter().chain(&new).step_by(7) {
            let mut md5 = [0u8; 16];
            md5[..8].copy_from_slice(&r.prefix);
            let found: Vec<EntryRow> = alias.lookup_entries(&md5).unwrap().collect();
            // Every row under the key's first bytes, this one among them, in order.
            let want: Vec<(u32, u32)> = distinct.iter()
                .filter(|(k, ..)| k[..] == r.prefix[..key_len]).map(|&(_, p, e)| (p, e)).collect();
            prop_assert_eq!(found.iter().map(|f| (f.pack, f.entry)).collect::<Vec<_>>(), want);
            prop_assert!(found.iter().all(|f| f.prefix[..key_len] == r.prefix[..key_len]));
        }
    }
}

#[test]
fn every_flip_of_an_alias_index_naming_entries_fails_verify() {
    let mut rows = hashed_rows(300);
    let file = write_merged_alias_entry_index::<_, &[u8]>(
        Vec::new(),
        IndexKind::Accession,
        SMALL_ALIAS_KEY_LEN,
        &[1, 2],
        &[],
        &mut rows,
    )
    .unwrap();
    for at in 0..file.len() {
        for bit in [0u8, 3, 7] {
            let mut bad = file.clone();
            bad[at] ^= 1 << bit;
            let parsed = PackIndex::parse(&bad[..]);
            assert!(
                parsed.as_ref().map_or(true, |i| i.verify().is_err()),
                "flip of bit {bit} at byte {at} passed verify"
            );
        }
    }
}

#[test]
fn an_alias_index_naming_entries_is_not_merged_as_one_of_prefixes() {
    // Values of 4 bytes (pack offsets of 1 bit, entries of up to 29 bits): the widths of a
    // small store's prefix layout, which the rows must not be read as.
    let mut rows = vec![EntryRow {
        prefix: [5, 6, 7, 8, 0, 0, 0, 0],
        pack: 1,
        entry: (1 << 29) + 3,
    }];
    let file = write_merged_alias_entry_index::<_, &[u8]>(
        Vec::new(),
        IndexKind::Md5,
        SMALL_ALIAS_KEY_LEN,
        &[1, 2],
        &[],
        &mut rows,
    )
    .unwrap();
    let ix = PackIndex::parse(&file[..]).unwrap();
    let alias = ix.as_alias().unwrap();
    assert!(alias.names_entries());
    assert_eq!(alias.layout(), AliasLayout::SMALL);
    let merged = write_merged_alias_index(
        Vec::new(),
        IndexKind::Md5,
        AliasLayout::SMALL,
        &[1, 2],
        &[ix.check_buckets().unwrap()],
        &mut Vec::new(),
    );
    assert!(
        merged.is_err(),
        "rows naming entries merged as SHA-256 prefixes"
    );
}
