//! Damaged files: flipped bytes in every pack and index file, truncated packs, deleted and
//! corrupted indexes. `verify` must detect every flip; `get` must never return wrong
//! residues; sequences in undamaged packs must still read; `rebuild-index` must restore
//! full service after any index file is lost or damaged.
//!
//! Scale: `SEQUOIA_FLIPS=N` flips N seeded positions per file (default 120), `all` flips
//! every byte; `cargo xtask reliability` runs the full suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pack_format::{v2, PackVersion, Representation, SequenceHash};
use sequoia_store::{PackedSequenceStorage, StoreOptions};

type Model = BTreeMap<Vec<u8>, BTreeSet<(String, String)>>;

fn build(dir: &Path) -> Model {
    build_with(dir, [PackVersion::V1, PackVersion::V2, PackVersion::V2])
}

/// Three small commits in `formats`, then a pack with a dictionary. With a v1 pack the
/// commit record holds location rows; with v2 packs alone, entry rows.
fn build_with(dir: &Path, formats: [PackVersion; 3]) -> Model {
    let mut model = Model::new();
    for (round, format) in formats.into_iter().enumerate() {
        let options = StoreOptions {
            format,
            pack_size_limit: 2500,
            block_size: Some(400),
            level: Some(3),
            ..StoreOptions::default()
        };
        let store = PackedSequenceStorage::open_writer(dir, options).unwrap();
        for i in 0..40 {
            let n = round * 25 + i;
            let s: Vec<u8> = format!("M{}", "KVLACDEFGHIPQRSTWY".repeat(n % 5 + 1))
                .into_bytes()
                .into_iter()
                .chain(std::iter::repeat_n(b'W', n))
                .collect();
            let r = Representation::new(format!("r{round}_{i} protein {n}"), format!("s{round}"));
            store.put(&s, r.clone()).unwrap();
            model.entry(s).or_default().insert((r.header, r.source));
        }
        store.commit().unwrap();
    }
    // A pack large enough to train a dictionary on (the default v2 layout).
    let store = PackedSequenceStorage::open_writer(dir, StoreOptions::default()).unwrap();
    for i in 0..300 {
        let s: Vec<u8> = format!("MA{}", "GHKLWYVSTPQ".repeat(i % 11 + 2))
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat_n(b'C', i % 37))
            .chain(
                format!("{i}")
                    .bytes()
                    .map(|d| b"ACDEFGHIKL"[(d - b'0') as usize]),
            )
            .collect();
        let r = Representation::new(
            format!("dict_{i} protein with a longer description {i}"),
            "d",
        );
        if store.put(&s, r.clone()).unwrap().new_representation {
            model.entry(s).or_default().insert((r.header, r.source));
        }
    }
    store.commit().unwrap();
    // Only the files the store uses: `gc` deletes the layers the commits merged and
    // the older commit records.
    store.gc(false).unwrap();
    assert_eq!(store.stats().unwrap().layers, 1);
    model
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in ["packs", "indices"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            v.push(e.unwrap().path());
        }
    }
    v.sort();
    v
}

fn positions(len: usize, seed: u64) -> Vec<usize> {
    let spec = std::env::var("SEQUOIA_FLIPS").unwrap_or_else(|_| "120".into());
    if spec == "all" {
        return (0..len).collect();
    }
    let n: usize = spec.parse().expect("SEQUOIA_FLIPS is a number or 'all'");
    let mut x = seed | 1;
    let mut out: BTreeSet<usize> = BTreeSet::new();
    // Always the first and last bytes (headers, trailers), then seeded positions.
    for p in [
        0,
        1,
        4,
        5,
        len / 2,
        len.saturating_sub(1),
        len.saturating_sub(9),
    ] {
        out.insert(p.min(len - 1));
    }
    while out.len() < n.min(len) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.insert((x % len as u64) as usize);
    }
    out.into_iter().collect()
}

/// Reads every sequence; wrong residues or representations are a failure. Returns how many
/// were an error and how many were not found.
fn read_all(dir: &Path, model: &Model, at: &str) -> (usize, usize) {
    let Ok(store) = PackedSequenceStorage::open(dir) else {
        return (model.len(), 0);
    };
    let (mut errors, mut missing) = (0, 0);
    for (residues, reps) in model {
        let hash = SequenceHash::of_residues(residues);
        match store.get_record(&hash) {
            Ok(Some(rec)) => {
                assert_eq!(&rec.residues, residues, "{at}: wrong residues returned");
                let back: BTreeSet<(String, String)> = rec
                    .representations
                    .into_iter()
                    .map(|r| (r.header, r.source))
                    .collect();
                assert_eq!(&back, reps, "{at}: wrong representations returned");
            }
            Ok(None) => missing += 1,
            Err(_) => errors += 1,
        }
    }
    // Read together, the same keys give the right residues or an error, never others.
    let keys: Vec<(SequenceHash, &Vec<u8>)> = model
        .keys()
        .map(|r| (SequenceHash::of_residues(r), r))
        .collect();
    let hashes: Vec<SequenceHash> = keys.iter().map(|(h, _)| *h).collect();
    let _ = store.get_many(&hashes, |i, r| {
        if let Some(r) = r {
            assert_eq!(r, &keys[i].1[..], "{at}: get_many returned wrong residues");
        }
    });
    let _ = store.get_many_parallel(&hashes, 2, |i, r| {
        if let Some(r) = r {
            assert_eq!(
                r,
                &keys[i].1[..],
                "{at}: get_many_parallel returned wrong residues"
            );
        }
    });
    (errors, missing)
}

fn detected(dir: &Path) -> bool {
    match PackedSequenceStorage::open(dir) {
        Err(_) => true,
        Ok(store) => {
            !store.problems().is_empty() || !store.verify(&mut |_, _| {}).problems.is_empty()
        }
    }
}

/// The index files in `indices/`, by name: the commit record, then the layer's files
/// (accession, md5, rows, sha512t24u), then the v1 packs' indexes.
fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("indices"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The kind byte of the store's one layer's rows: 2 location rows, 6 entry rows.
fn commit_record_kind(dir: &Path) -> u8 {
    let rows = index_files(dir)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".rows.idx"))
        .unwrap();
    std::fs::read(rows).unwrap()[5]
}

#[test]
fn every_flipped_byte_is_detected_and_never_returns_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    assert_eq!(
        commit_record_kind(dir.path()),
        2,
        "a v1 pack needs location rows"
    );
    flip_every_file(dir.path(), &model);
}

#[test]
fn every_flipped_byte_of_a_store_of_v2_packs_is_detected_and_never_returns_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = build_with(dir.path(), [PackVersion::V2; 3]);
    assert_eq!(
        commit_record_kind(dir.path()),
        6,
        "v2 packs alone: entry rows"
    );
    flip_every_file(dir.path(), &model);
}

#[test]
fn every_flipped_byte_of_a_store_of_v3_packs_is_detected_and_never_returns_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let model = build_with(dir.path(), [PackVersion::V3; 3]);
    let v3_packs = files(dir.path())
        .iter()
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(b"PKSQ\x03")))
        .count();
    assert!(v3_packs >= 3, "{v3_packs} v3 packs");
    assert_eq!(commit_record_kind(dir.path()), 6, "v3 packs: entry rows");
    flip_every_file(dir.path(), &model);
}

/// A byte of a pack's entry table row changed: the sequence the row is of reads as an
/// error (the footer CRC), never as missing or wrong, whichever byte it is.
#[test]
fn a_damaged_entry_table_row_is_an_error_not_a_missing_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let model = build_with(dir.path(), [PackVersion::V2; 3]);
    let pack = dir.path().join("packs/pack_0000.tal");
    let original = std::fs::read(&pack).unwrap();
    let (row, hash) = {
        let v2 = v2::V2Pack::parse(&original[..]).unwrap();
        let t = v2.trailer();
        let row = t.footer_offset as usize + t.block_count as usize * v2::BLOCK_ROW_LEN;
        (row, v2.entry_info(0).unwrap().hash)
    };
    assert!(model.keys().any(|r| SequenceHash::of_residues(r) == hash));
    for at in row..row + v2::ENTRY_ROW_LEN {
        let mut bytes = original.clone();
        bytes[at] ^= 0x04;
        std::fs::write(&pack, &bytes).unwrap();
        let store = PackedSequenceStorage::open(dir.path()).unwrap();
        match store.get_record(&hash) {
            Err(_) => {}
            other => panic!(
                "byte {} of the entry table row changed: {other:?}",
                at - row
            ),
        }
        assert!(detected(dir.path()), "byte {} of the row: verify", at - row);
    }
    std::fs::write(&pack, &original).unwrap();
    assert!(!detected(dir.path()));
}

fn flip_every_file(dir: &Path, model: &Model) {
    assert!(!detected(dir), "the fresh store verifies");
    let with_dictionary = files(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tal"))
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| b.get(9).is_some_and(|f| f & v2::FLAG_DICTIONARY != 0))
        })
        .count();
    assert_eq!(with_dictionary, 1, "one pack has a dictionary");
    let mut flips = 0usize;
    let (mut errors, mut missing) = (0usize, 0usize);
    for file in files(dir) {
        if file.file_name().unwrap() == "LOCK" {
            continue;
        }
        let original = std::fs::read(&file).unwrap();
        for (k, pos) in positions(original.len(), original.len() as u64 * 31 + 7)
            .into_iter()
            .enumerate()
        {
            let mut bytes = original.clone();
            bytes[pos] ^= [0x01, 0x80, 0xff, 0x20][k % 4];
            std::fs::write(&file, &bytes).unwrap();
            let at = format!("{} byte {pos}", file.display());
            assert!(detected(dir), "{at}: flip not detected by verify");
            let (e, m) = read_all(dir, model, &at);
            errors += e;
            missing += m;
            flips += 1;
        }
        std::fs::write(&file, &original).unwrap();
    }
    assert!(!detected(dir), "restored store verifies again");
    eprintln!("flips: {flips} made, {flips} detected; reads after flips: {errors} errors, {missing} not found, 0 wrong");
}

#[test]
fn truncated_packs_are_detected_and_other_packs_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let packs: Vec<PathBuf> = files(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tal"))
        .collect();
    assert!(packs.len() >= 3);
    let mut cuts = 0;
    for pack in &packs {
        let original = std::fs::read(pack).unwrap();
        for pos in positions(original.len(), 99).into_iter().take(40) {
            std::fs::write(pack, &original[..pos]).unwrap();
            let at = format!("{} cut at {pos}", pack.display());
            assert!(detected(dir.path()), "{at}: not detected");
            read_all(dir.path(), &model, &at);
            cuts += 1;
        }
        std::fs::write(pack, &original).unwrap();
    }
    // With one small pack damaged (the first, of the first import), the sequences of the
    // other packs, most of the store, still read.
    let victim = &packs[0];
    let original = std::fs::read(victim).unwrap();
    std::fs::write(victim, &original[..original.len() / 2]).unwrap();
    let store = PackedSequenceStorage::open(dir.path()).unwrap();
    let mut ok = 0;
    for residues in model.keys() {
        if let Ok(Some(r)) = store.get(&SequenceHash::of_residues(residues)) {
            assert_eq!(&r, residues);
            ok += 1;
        }
    }
    assert!(
        ok > model.len() / 2,
        "only {ok} of {} sequences read with one pack damaged",
        model.len()
    );
    eprintln!("truncations: {cuts} made, {cuts} detected");
}

#[test]
fn rebuild_index_restores_service_after_any_index_is_lost_or_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let count = index_files(dir.path()).len();
    // The commit record, a layer's four files and at least one v1 pack's index.
    assert!(count >= 6, "{:?}", index_files(dir.path()));
    for n in 0..count {
        for damage in ["delete", "flip", "truncate", "empty"] {
            // Each rebuild writes a layer of a new name: the n-th file has the same role.
            let listed = index_files(dir.path());
            assert_eq!(listed.len(), count, "{listed:?}");
            let index = &listed[n];
            let original = std::fs::read(index).unwrap();
            match damage {
                "delete" => std::fs::remove_file(index).unwrap(),
                "flip" => {
                    let mut b = original.clone();
                    let at = (n * 997) % b.len();
                    b[at] ^= 0x55;
                    std::fs::write(index, b).unwrap();
                }
                "truncate" => std::fs::write(index, &original[..original.len() * 2 / 3]).unwrap(),
                _ => std::fs::write(index, b"").unwrap(),
            }
            let at = format!("{} {damage}", index.display());
            assert!(detected(dir.path()), "{at}: not detected");
            let store = PackedSequenceStorage::open_for_repair(dir.path()).unwrap();
            let summary = store.rebuild_index().unwrap();
            assert!(summary.skipped.is_empty(), "{at}: {:?}", summary.skipped);
            store.gc(false).unwrap();
            drop(store);
            assert!(
                !detected(dir.path()),
                "{at}: still damaged after rebuild-index"
            );
            assert_eq!(
                read_all(dir.path(), &model, &at),
                (0, 0),
                "{at}: not fully served"
            );
        }
    }
}

#[test]
fn a_v2_pack_index_left_by_an_older_version_is_checked_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let model = build(dir.path());
    let pack_indexes = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("indices"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("pack_")
            })
            .collect();
        v.sort();
        v
    };
    // Only the v1 packs have index files: v2 packs index themselves in their footer.
    let packs = std::fs::read_dir(dir.path().join("packs")).unwrap().count();
    let v1_indexes = pack_indexes(dir.path()).len();
    assert!(
        v1_indexes >= 1 && v1_indexes < packs,
        "{v1_indexes} of {packs}"
    );
    let store = PackedSequenceStorage::open(dir.path()).unwrap();
    let files_before = store.verify(&mut |_, _| {}).index_files;
    drop(store);
    // Older versions wrote one per v2 pack too: a damaged one is reported...
    let last = std::fs::read_dir(dir.path().join("packs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let old_index = dir.path().join("indices").join(
        last.file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".tal", ".idx"),
    );
    assert!(!old_index.exists());
    std::fs::write(&old_index, b"an index from an older version, damaged").unwrap();
    assert!(detected(dir.path()), "a damaged old index is reported");
    // ...rebuilt in place by rebuild-index, and then checked against its pack.
    let store = PackedSequenceStorage::open_for_repair(dir.path()).unwrap();
    store.rebuild_index().unwrap();
    drop(store);
    assert!(!detected(dir.path()));
    let store = PackedSequenceStorage::open(dir.path()).unwrap();
    assert_eq!(store.verify(&mut |_, _| {}).index_files, files_before + 1);
    assert_eq!(pack_indexes(dir.path()).len(), v1_indexes + 1);
    drop(store);
    assert_eq!(read_all(dir.path(), &model, "rebuilt"), (0, 0));
    let mut bytes = std::fs::read(&old_index).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&old_index, bytes).unwrap();
    assert!(detected(dir.path()), "a flipped byte in it is reported");
}

#[test]
fn a_merge_over_a_damaged_layer_reports_it_and_leaves_every_file_as_it_was() {
    // A commit reads no layer it does not merge; `compact` merges every one. (A v1 pack's
    // own index is not read by a merge: its rows are in the layer; verify reports its
    // damage.)
    for part in [".rows.idx", ".accession.idx", ".md5.idx", ".sha512t24u.idx"] {
        let dir = tempfile::tempdir().unwrap();
        build(dir.path());
        let path = index_files(dir.path())
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(part))
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // A byte of the last row's value: only its bucket's CRC covers it (and the file's,
        // which a merge does not read).
        let at = bytes.len() - 16 - 3;
        bytes[at] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let store =
            PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
        store
            .put(b"MNEWSEQVENCE", Representation::new("NEW1 new", "n"))
            .unwrap();
        store.commit().unwrap();
        assert_eq!(store.stats().unwrap().layers, 2, "{part}");
        let before: Vec<(PathBuf, Vec<u8>)> = files(dir.path())
            .into_iter()
            .map(|p| {
                let b = std::fs::read(&p).unwrap();
                (p, b)
            })
            .collect();
        let err = store.compact().unwrap_err().to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.contains(&name) && err.contains("checksum"),
            "{name}: {err}"
        );
        drop(store);
        assert_eq!(
            files(dir.path()),
            before.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
        );
        for (p, b) in &before {
            assert!(
                std::fs::read(p).unwrap() == *b,
                "{name}: {} changed",
                p.display()
            );
        }
        let reader = PackedSequenceStorage::open(dir.path()).unwrap();
        assert!(reader
            .contains(&SequenceHash::of_residues(b"MNEWSEQVENCE"))
            .unwrap());
        assert_eq!(reader.stats().unwrap().layers, 2);
    }
}
