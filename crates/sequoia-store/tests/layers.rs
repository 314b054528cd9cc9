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
