//! Layered commits: many small commits keep a bounded number of index layers, every
//! sequence and alias answers through them, `compact` merges them into one and `gc`
//! deletes exactly what no commit record names.

use std::collections::BTreeMap;

use pack_format::{Representation, SequenceHash};
use sequoia_store::{PackedSequenceStorage, SequenceId, StoreOptions};

fn residues(n: usize) -> Vec<u8> {
    let aa = b"ACDEFGHIKLMNPQRSTVWY";
    [b'M', aa[n / 400 % 20], aa[n / 20 % 20], aa[n % 20]]
        .into_iter()
        .chain(aa.iter().copied().cycle().skip(n % 7).take(10 + n % 30))
        .collect()
}

#[test]
fn many_small_commits_keep_few_layers_and_compact_and_gc_leave_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    // A first, bigger commit, then 150 commits of 3 records, one of them a sequence
    // stored before (an addition entry in a later layer).
    for i in 0..600 {
        let h = format!("P{i:05} first");
        store
            .put(&residues(i), Representation::new(h.clone(), "a"))
            .unwrap();
        model.entry(residues(i)).or_default().push(h);
    }
    store.commit().unwrap();
    let mut most = 0;
    for c in 0..150 {
        for k in 0..3 {
            let n = if k == 2 { c * 3 } else { 600 + c * 3 + k };
            let h = format!("Q{c:03}{k} later");
            store
                .put(&residues(n), Representation::new(h.clone(), "b"))
                .unwrap();
            model.entry(residues(n)).or_default().push(h);
        }
        store.commit().unwrap();
        most = most.max(store.stats().unwrap().layers);
    }
    // log3(900 / 3) is about 5; the rule keeps at most a few more.
    assert!(most <= 8, "{most} layers");
    let check = |store: &PackedSequenceStorage| {
        for (r, headers) in &model {
            let rec = store
                .get_record(&SequenceHash::of_residues(r))
                .unwrap()
                .unwrap();
            let got: Vec<String> = rec
                .representations
                .iter()
                .map(|r| r.header.clone())
                .collect();
            assert_eq!(&got, headers);
            let acc = headers.last().unwrap().split(' ').next().unwrap();
            let id = SequenceId::parse(acc).unwrap();
            assert_eq!(
                store.resolve(&id).unwrap(),
                vec![SequenceHash::of_residues(r)]
            );
        }
        let keys: Vec<SequenceHash> = model.keys().map(|r| SequenceHash::of_residues(r)).collect();
        let mut found = 0;
        store
            .get_many(&keys, |i, r| {
                assert_eq!(r, Some(&model.keys().nth(i).unwrap()[..]));
                found += 1;
            })
            .unwrap();
        assert_eq!(found, keys.len());
        let report = store.verify(&mut |_, _| {});
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
    };
    check(&store);
    let before = store.stats().unwrap();
    assert!(before.reclaimable_bytes > 0 && before.superseded_files > 0);
    let summary = store.compact().unwrap();
    assert_eq!(summary.layers_after, 1);
    assert_eq!(store.stats().unwrap().layers, 1);
    check(&store);
    let dry = store.gc(true).unwrap();
    assert!(!dry.files.is_empty());
    assert!(dry.files.iter().all(|(p, _)| p.exists()));
    let gc = store.gc(false).unwrap();
    assert_eq!(gc.files, dry.files);
    assert!(gc.files.iter().all(|(p, _)| !p.exists()));
    let after = store.stats().unwrap();
    assert_eq!(after.reclaimable_bytes, 0);
    // One commit record and one layer's four files.
    assert_eq!(after.index_files, 5);
    check(&store);
    drop(store);
    let reader = PackedSequenceStorage::open(dir.path()).unwrap();
    check(&reader);
}

/// Files in `indices/` whose names start with `layer-`.
fn layer_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("indices"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("layer-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_session_past_its_run_bound_seals_runs_that_the_commit_merges_into_one_layer() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        run_sequences: 100,
        ..StoreOptions::default()
    };
    let store = PackedSequenceStorage::open_writer(dir.path(), options.clone()).unwrap();
    // Committed before the session: 50 sequences, each with one representation.
    for i in 0..50 {
        let rep = Representation::new(format!("OLD{i} old"), "a");
        store.put(&residues(i), rep).unwrap();
    }
    store.commit().unwrap();
    let before = layer_files(dir.path());
    // 450 new sequences (4 runs of 100 and a rest), each seen again later in the session
    // with the same representation (a repeat) and a new one (an addition), and every
    // committed sequence seen again with a new representation.
    let mut model: BTreeMap<Vec<u8>, Vec<String>> = (0..50)
        .map(|i| (residues(i), vec![format!("OLD{i} old")]))
        .collect();
    for i in 50..500 {
        let rep = Representation::new(format!("NEW{i} new"), "b");
        assert!(store.put(&residues(i), rep).unwrap().new_sequence);
        model
            .entry(residues(i))
            .or_default()
            .push(format!("NEW{i} new"));
    }
    // Four runs sealed; the geometric rule merged the first three (100 + 100 + 100 rows)
    // and kept the fourth apart: two runs of four files each.
    let runs = layer_files(dir.path()).len() - before.len();
    assert_eq!(runs, 2 * 4, "two runs of four files each");
    // Nothing of the session is visible before the commit.
    let reader = PackedSequenceStorage::open(dir.path()).unwrap();
    assert!(reader
        .get(&SequenceHash::of_residues(&residues(60)))
        .unwrap()
        .is_none());
    for i in (0..500).rev() {
        let again = Representation::new(
            model[&residues(i)].last().unwrap().clone(),
            if i < 50 { "a" } else { "b" },
        );
        let put = store.put(&residues(i), again).unwrap();
        assert!(
            !put.new_sequence && !put.new_representation,
            "record {i} repeated"
        );
        let h = format!("ALT{i} again");
        let put = store
            .put(&residues(i), Representation::new(h.clone(), "c"))
            .unwrap();
        assert!(
            !put.new_sequence && put.new_representation,
            "record {i} added to"
        );
        model.get_mut(&residues(i)).unwrap().push(h);
    }
    store.commit().unwrap();
    // The runs are merged into one new layer and removed; nothing is left over.
    let after = layer_files(dir.path());
    assert_eq!(after.len(), before.len() + 4, "{after:?}");
    let stats = store.stats().unwrap();
    assert!(stats.leftovers.is_empty(), "{:?}", stats.leftovers);
    assert_eq!(stats.sequences, 500);
    drop(store);
    let store = PackedSequenceStorage::open(dir.path()).unwrap();
    for (r, headers) in &model {
        let rec = store
            .get_record(&SequenceHash::of_residues(r))
            .unwrap()
            .unwrap();
        let mut got: Vec<String> = rec
            .representations
            .iter()
            .map(|r| r.header.clone())
            .collect();
        let mut want = headers.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let acc = headers[0].split(' ').next().unwrap();
        let found = store.resolve(&SequenceId::Accession(acc.into())).unwrap();
        assert_eq!(found, vec![SequenceHash::of_residues(r)], "{acc}");
    }
    let report = store.verify(&mut |_, _| {});
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_rolled_back_session_leaves_none_of_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        run_sequences: 10,
        ..StoreOptions::default()
    };
    let store = PackedSequenceStorage::open_writer(dir.path(), options).unwrap();
    store
        .put(&residues(0), Representation::new("A0 kept", "a"))
        .unwrap();
    store.commit().unwrap();
    let files = |sub: &str| {
        let mut v: Vec<String> = std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let (packs, indices) = (files("packs"), files("indices"));
    for i in 1..45 {
        let rep = Representation::new(format!("B{i} dropped"), "b");
        store.put(&residues(i), rep).unwrap();
    }
    assert!(files("indices").len() > indices.len(), "runs were sealed");
    store.rollback().unwrap();
    assert_eq!(files("packs"), packs);
    assert_eq!(files("indices"), indices);
    assert!(store
        .get(&SequenceHash::of_residues(&residues(5)))
        .unwrap()
        .is_none());
}

#[test]
fn a_long_session_merges_its_runs_so_that_few_are_left_to_probe() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        run_sequences: 10,
        ..StoreOptions::default()
    };
    let store = PackedSequenceStorage::open_writer(dir.path(), options).unwrap();
    let mut most = 0;
    for i in 0..2000 {
        let rep = Representation::new(format!("R{i} run"), "a");
        store.put(&residues(i), rep).unwrap();
        most = most.max(layer_files(dir.path()).len() / 4);
    }
    // 200 runs sealed; the geometric rule keeps about log3(200) + 1 of them.
    assert!((2..=8).contains(&most), "{most} runs at once");
    // A repeat of a sequence of the first run is found through the merged runs.
    let again = store
        .put(&residues(3), Representation::new("R3 run", "a"))
        .unwrap();
    assert!(!again.new_sequence && !again.new_representation);
    store.commit().unwrap();
    assert_eq!(layer_files(dir.path()).len(), 4, "one layer, no run left");
    assert_eq!(store.stats().unwrap().sequences, 2000);
    let report = store.verify(&mut |_, _| {});
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
