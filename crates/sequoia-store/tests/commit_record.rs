//! The two kinds of index layer rows: entry rows (hash prefix, pack, entry number) for a
//! store of v2 packs, location rows (48 bytes) for a store with v1 packs or one written
//! before entry rows existed; and the index files of stores written before layers, which
//! the first commit merges into a layer. Every sequence reads, with all its
//! representations, and the store verifies, whichever kind a layer holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pack_format::{PackId, PackVersion, Representation, SequenceHash};
use pack_index::{IndexCounts, IndexEntry, IndexKind};
use pack_io::PackReader;
use sequoia_store::commit_record::{list_commit_records, read_commit_record};
use sequoia_store::layout::{StoreLayout, ALIAS_KINDS};
use sequoia_store::{PackedSequenceStorage, StoreOptions};

type Model = BTreeMap<Vec<u8>, BTreeSet<String>>;

/// Puts 60 sequences in `format`, half of them seen in the round before (so that the store
/// has addition entries), and commits.
fn commit_round(dir: &Path, format: PackVersion, round: usize, model: &mut Model) {
    let options = StoreOptions {
        format,
        ..StoreOptions::default()
    };
    let store = PackedSequenceStorage::open_writer(dir, options).unwrap();
    for i in 0..60 {
        let n = round * 30 + i;
        // n in base 20 over the residue letters: a different sequence for every n.
        let aa = b"ACDEFGHIKLMNPQRSTVWY";
        let residues: Vec<u8> = [b'M', aa[n / 400 % 20], aa[n / 20 % 20], aa[n % 20]]
            .into_iter()
            .chain(aa.iter().copied().cycle().take(20 + n % 50))
            .collect();
        let header = format!("r{round}_{i} protein {n}");
        store
            .put(&residues, Representation::new(header.clone(), "src"))
            .unwrap();
        model.entry(residues).or_default().insert(header);
    }
    store.commit().unwrap();
}

/// The rows file of the newest layer (or the multi-pack index of a store written before
/// layers).
fn rows_file(dir: &Path) -> std::path::PathBuf {
    let layout = StoreLayout::new(dir);
    match list_commit_records(&layout).unwrap().first() {
        Some(seq) => {
            let record = read_commit_record(&layout, *seq).unwrap();
            layout.layer_rows_path(record.layers.last().unwrap().name)
        }
        None => layout.multi_index_path(),
    }
}

fn kind(dir: &Path) -> IndexKind {
    let bytes = std::fs::read(rows_file(dir)).unwrap();
    IndexKind::from_byte(bytes[5]).unwrap()
}

fn compact(dir: &Path) {
    let store = PackedSequenceStorage::open_writer(dir, StoreOptions::default()).unwrap();
    store.compact().unwrap();
    assert_eq!(store.stats().unwrap().layers, 1);
}

/// Every sequence reads with exactly its representations, and `verify` finds nothing.
fn check(dir: &Path, model: &Model) {
    let store = PackedSequenceStorage::open(dir).unwrap();
    for (residues, headers) in model {
        let rec = store
            .get_record(&SequenceHash::of_residues(residues))
            .unwrap()
            .expect("every sequence put is found");
        assert_eq!(&rec.residues, residues);
        let back: BTreeSet<String> = rec.representations.into_iter().map(|r| r.header).collect();
        assert_eq!(&back, headers);
    }
    // get_many reads the same residues, whichever the commit record's kind.
    let keys: Vec<SequenceHash> = model.keys().map(|r| SequenceHash::of_residues(r)).collect();
    let mut read: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    store
        .get_many(&keys, |i, r| {
            assert!(read[i].is_none(), "key {i} answered twice");
            read[i] = r.map(<[u8]>::to_vec);
        })
        .unwrap();
    let want: Vec<Option<Vec<u8>>> = model.keys().cloned().map(Some).collect();
    assert_eq!(read, want);
    let report = store.verify(&mut |_, _| {});
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_store_of_v2_packs_commits_entry_rows_of_the_bytes_its_packs_need() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    for round in 0..3 {
        commit_round(dir.path(), PackVersion::V2, round, &mut model);
        assert_eq!(kind(dir.path()), IndexKind::Entries);
    }
    check(dir.path(), &model);
    compact(dir.path());
    check(dir.path(), &model);
    let path = rows_file(dir.path());
    let index = pack_index::open(&path).unwrap();
    // 180 representations of 120 sequences: an entry per commit a sequence was seen in.
    let entries: u64 = model.values().map(|h| h.len() as u64).sum::<u64>();
    assert_eq!((model.len(), entries), (120, 180));
    assert_eq!(index.len(), entries);
    let packs = index.packs().len() as u64;
    let file = std::fs::read(&path).unwrap();
    let bits = file[7] as u64;
    let fixed = 64 + 4 * (packs + packs % 2) + 12 * (1 << bits) + 16;
    let len = file.len() as u64;
    // Pack ids and entry numbers below 256 each: a value of at most 2 bytes.
    let widths = index.as_entries().unwrap().widths();
    let (max_pack, max_entry) = (0..index.len())
        .map(|i| index.as_entries().expect("an index of this kind").row(i))
        .fold((0, 0), |(p, e), r| (r.pack.max(p), r.entry.max(e)));
    assert!(max_pack < 256 && max_entry < 256, "{max_pack} {max_entry}");
    assert_eq!(
        widths,
        // Pack ids as offsets from the smallest covered one.
        pack_index::EntryWidths::for_max(
            index.packs().last().unwrap() - index.packs()[0],
            max_entry
        )
    );
    assert!(widths.len <= 2, "{widths:?}");
    // Packed rows: the key's bits past the fan-out's, then pack and entry bits.
    assert_eq!(file[4], pack_index::PACKED_VERSION);
    let row = (8 * pack_index::ENTRY_KEY_LEN as u64 - bits
        + widths.pack_bits as u64
        + widths.entry_bits as u64)
        .div_ceil(8);
    assert_eq!(len, fixed + row * entries, "{row} bytes a row");
    assert_eq!(index.key_len(), pack_index::ENTRY_KEY_LEN);
}

/// Turns the store into the one an older version wrote: one multi-pack index of the same
/// rows, as locations, and its alias indexes.
fn rewrite_as_location_rows(dir: &Path) {
    rewrite_commit_record(dir, |packs, counts, tables| {
        let mut rows: Vec<IndexEntry> = tables.into_iter().flat_map(|(_, t)| t).collect();
        pack_index::write_index(Vec::new(), IndexKind::Multi, packs, counts, None, &mut rows)
            .unwrap()
    });
    assert_eq!(kind(dir), IndexKind::Multi);
}

/// Turns the store into one of a build from before index layers: its multi-pack index
/// (the commit record then) what `write` makes of the packs it covers, their counts and
/// each pack's entry table; its alias indexes the current layer's.
fn rewrite_commit_record(
    dir: &Path,
    write: impl FnOnce(&[PackId], IndexCounts, Vec<(PackId, Vec<IndexEntry>)>) -> Vec<u8>,
) {
    let layout = StoreLayout::new(dir);
    if !list_commit_records(&layout).unwrap().is_empty() {
        compact(dir);
        let from = rows_file(dir);
        std::fs::copy(&from, layout.multi_index_path()).unwrap();
        let stem = from.to_str().unwrap().strip_suffix(".rows.idx").unwrap();
        for (kind, part) in ALIAS_KINDS.iter().zip(["md5", "sha512t24u", "accession"]) {
            std::fs::copy(format!("{stem}.{part}.idx"), layout.alias_index_path(*kind)).unwrap();
        }
        for item in std::fs::read_dir(layout.indices_dir()).unwrap() {
            let name = item.unwrap().file_name().into_string().unwrap();
            if name.starts_with("commit-") || name.starts_with("layer-") {
                std::fs::remove_file(layout.indices_dir().join(name)).unwrap();
            }
        }
    }
    let path = layout.multi_index_path();
    let index = pack_index::open(&path).unwrap();
    let (packs, counts) = (index.packs(), index.counts());
    drop(index);
    let tables = packs
        .iter()
        .map(|id| {
            let reader = PackReader::open(&dir.join(format!("packs/pack_{id:04}.tal"))).unwrap();
            (*id, reader.entry_table(*id).unwrap().unwrap())
        })
        .collect();
    std::fs::write(&path, write(&packs, counts, tables)).unwrap();
}

#[test]
fn v1_packs_added_to_a_store_of_entry_rows_turn_its_rows_into_location_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    commit_round(dir.path(), PackVersion::V2, 0, &mut model);
    assert_eq!(kind(dir.path()), IndexKind::Entries);
    commit_round(dir.path(), PackVersion::V1, 1, &mut model);
    assert_eq!(kind(dir.path()), IndexKind::Multi);
    commit_round(dir.path(), PackVersion::V2, 2, &mut model);
    assert_eq!(
        kind(dir.path()),
        IndexKind::Multi,
        "a v1 pack stays covered"
    );
    check(dir.path(), &model);
    let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    store.rebuild_index().unwrap();
    drop(store);
    assert_eq!(kind(dir.path()), IndexKind::Multi);
    check(dir.path(), &model);
}

#[test]
fn location_rows_from_an_older_version_are_kept_until_rebuilt_or_repacked() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    commit_round(dir.path(), PackVersion::V2, 0, &mut model);
    commit_round(dir.path(), PackVersion::V2, 1, &mut model);
    rewrite_as_location_rows(dir.path());
    check(dir.path(), &model);

    commit_round(dir.path(), PackVersion::V2, 2, &mut model);
    assert_eq!(
        kind(dir.path()),
        IndexKind::Multi,
        "the first commit merges them into a layer of their kind"
    );
    assert_eq!(
        list_commit_records(&StoreLayout::new(dir.path()))
            .unwrap()
            .len(),
        1
    );
    check(dir.path(), &model);

    let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    store.rebuild_index().unwrap();
    drop(store);
    assert_eq!(
        kind(dir.path()),
        IndexKind::Entries,
        "rebuild-index writes entry rows"
    );
    check(dir.path(), &model);

    // And a repack of a store with location rows writes entry rows too.
    rewrite_as_location_rows(dir.path());
    check(dir.path(), &model);
    let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    store.repack().unwrap();
    drop(store);
    assert_eq!(
        kind(dir.path()),
        IndexKind::Entries,
        "repack writes entry rows"
    );
    check(dir.path(), &model);
}

/// Replaces the commit record with the one builds before 6-byte keys wrote: the same rows,
/// with 8-byte keys and 3-byte pack ids and entry numbers.
fn rewrite_with_8_byte_keys(dir: &Path) {
    rewrite_commit_record(dir, |packs, counts, tables| {
        let mut rows: Vec<pack_index::EntryRow> = tables
            .iter()
            .flat_map(|(id, table)| {
                table.iter().enumerate().map(|(i, e)| pack_index::EntryRow {
                    prefix: pack_index::hash_prefix(&e.hash),
                    pack: *id,
                    entry: i as u32,
                })
            })
            .collect();
        pack_index::write_entry_index(
            Vec::new(),
            packs,
            counts,
            pack_index::EntryLayout {
                key_len: 8,
                widths: pack_index::EntryWidths::legacy(pack_index::NARROW_ENTRY_VALUE_LEN),
            },
            &mut rows,
        )
        .unwrap()
    });
    assert_eq!(key_len(dir), 8);
}

fn key_len(dir: &Path) -> usize {
    pack_index::open(&rows_file(dir)).unwrap().key_len()
}

#[test]
fn entry_rows_of_8_byte_keys_are_cut_by_the_first_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    commit_round(dir.path(), PackVersion::V2, 0, &mut model);
    commit_round(dir.path(), PackVersion::V2, 1, &mut model);
    assert_eq!(key_len(dir.path()), pack_index::ENTRY_KEY_LEN);
    rewrite_with_8_byte_keys(dir.path());
    check(dir.path(), &model);
    commit_round(dir.path(), PackVersion::V2, 2, &mut model);
    assert_eq!(
        key_len(dir.path()),
        pack_index::ENTRY_KEY_LEN,
        "the first commit merges the old rows into a layer of the current keys"
    );
    check(dir.path(), &model);
    rewrite_with_8_byte_keys(dir.path());
    check(dir.path(), &model);
    let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    store.rebuild_index().unwrap();
    drop(store);
    assert_eq!(key_len(dir.path()), pack_index::ENTRY_KEY_LEN);
    check(dir.path(), &model);
}
