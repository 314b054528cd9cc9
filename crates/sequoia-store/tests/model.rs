//! The store against an in-memory model: random puts, gets, commits, rollbacks and
//! reopenings, in both pack layouts, with packs and blocks small enough to rotate often.

use std::collections::{BTreeMap, BTreeSet};

use pack_format::{PackVersion, Representation, SequenceHash};
use proptest::prelude::*;
use sequoia_store::{IndexKind, PackedSequenceStorage, SequenceDigests, SequenceId, StoreOptions};

#[derive(Clone, Debug)]
enum Op {
    Put {
        seq: usize,
        header: usize,
        source: usize,
    },
    Get {
        seq: usize,
    },
    Commit,
    Rollback,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..12, 0usize..4, 0usize..2).prop_map(|(seq, header, source)| Op::Put { seq, header, source }),
        3 => (0usize..12).prop_map(|seq| Op::Get { seq }),
        2 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Reopen),
    ]
}

type Model = BTreeMap<Vec<u8>, BTreeSet<(String, String)>>;

fn options(v1: bool) -> StoreOptions {
    StoreOptions {
        format: if v1 { PackVersion::V1 } else { PackVersion::V2 },
        pack_size_limit: 3_000,
        block_size: Some(300),
        level: Some(1),
        ..StoreOptions::default()
    }
}

/// [`options`], and a session that writes every addition at once (`flush`): the
/// bound an import reaches past 64 MiB of them; one that seals a run every 3 sequences
/// (`runs`), as an import does every [`sequoia_store::RUN_SEQUENCES`].
fn options_flushing(v1: bool, flush: bool, runs: bool) -> StoreOptions {
    StoreOptions {
        additions_limit: if flush { 1 } else { usize::MAX },
        run_sequences: if runs { 3 } else { usize::MAX },
        ..options(v1)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        pool in proptest::collection::vec("[ACDEFGHIKLMNPQRSTVWYacgt]{1,400}", 12),
        ops in proptest::collection::vec(op(), 1..60),
        v1 in any::<bool>(),
        flush in any::<bool>(),
        runs in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PackedSequenceStorage::open_writer(dir.path(), options_flushing(v1, flush, runs)).unwrap();
        let mut committed: Model = BTreeMap::new();
        let mut pending: Model = BTreeMap::new();
        let norm = |s: &str| s.to_ascii_uppercase().into_bytes();
        for op in ops {
            match op {
                Op::Put { seq, header, source } => {
                    let residues = norm(&pool[seq]);
                    let rep = (format!("id{header} description {header}"), format!("src{source}"));
                    let known_seq = committed.contains_key(&residues) || pending.contains_key(&residues);
                    let known_rep = committed.get(&residues).is_some_and(|r| r.contains(&rep))
                        || pending.get(&residues).is_some_and(|r| r.contains(&rep));
                    let out = store.put(pool[seq].as_bytes(), Representation::new(rep.0.clone(), rep.1.clone())).unwrap();
                    prop_assert_eq!(out.new_sequence, !known_seq);
                    prop_assert_eq!(out.new_representation, !known_rep);
                    pending.entry(residues).or_default().insert(rep);
                }
                Op::Get { seq } => {
                    let residues = norm(&pool[seq]);
                    let hash = SequenceHash::of_residues(&residues);
                    let got = store.get(&hash).unwrap();
                    // The refget digests name the same sequence, once committed.
                    let d = SequenceDigests::of(&residues);
                    for form in [d.md5_hex(), d.ga4gh(), d.trunc512_hex()] {
                        let id = SequenceId::parse(&form).unwrap();
                        let found = store.resolve(&id).unwrap();
                        let want = if committed.contains_key(&residues) { vec![hash] } else { vec![] };
                        prop_assert_eq!(found, want.clone(), "{}", form);
                        // get_by reads the same sequence's residues, or nothing.
                        let read: Vec<_> = store.get_by(&id).unwrap();
                        let want_read: Vec<_> = want.iter().map(|h| (*h, residues.clone())).collect();
                        prop_assert_eq!(read, want_read, "{}", form);
                        let records: Vec<SequenceHash> = store.find(&id).unwrap().into_iter().map(|r| r.hash).collect();
                        prop_assert_eq!(records, want, "{}", form);
                    }
                    // By accession: every committed sequence with a header of it, with just
                    // those representations; find_each also when called from inside itself.
                    for h in 0..4 {
                        let acc = format!("id{h}");
                        let want: BTreeMap<SequenceHash, BTreeSet<(String, String)>> = committed
                            .iter()
                            .filter_map(|(res, reps)| {
                                let m: BTreeSet<_> = reps.iter().filter(|r| r.0.starts_with(&format!("{acc} "))).cloned().collect();
                                (!m.is_empty()).then(|| (SequenceHash::of_residues(res), m))
                            })
                            .collect();
                        let mut got = BTreeMap::new();
                        let mut nested_ok = true;
                        let n = store.find_each(&SequenceId::Accession(acc.clone()), |f| {
                            let nested = store.find(&SequenceId::Sha256(f.hash)).unwrap();
                            nested_ok &= nested.len() == 1 && nested[0].residues == f.residues;
                            got.insert(f.hash, f.representations().map(|(a, b)| (a.to_string(), b.to_string())).collect::<BTreeSet<_>>());
                        }).unwrap();
                        prop_assert!(nested_ok);
                        prop_assert_eq!(n, want.len());
                        prop_assert_eq!(got, want, "{}", acc);
                    }
                    match committed.get(&residues) {
                        Some(reps) => {
                            prop_assert_eq!(got.as_deref(), Some(&residues[..]));
                            let back: BTreeSet<(String, String)> = store
                                .representations(&hash)
                                .unwrap()
                                .into_iter()
                                .map(|r| (r.header, r.source))
                                .collect();
                            prop_assert_eq!(&back, reps);
                            prop_assert!(store.contains(&hash).unwrap());
                        }
                        None => {
                            prop_assert_eq!(got, None);
                            prop_assert!(!store.contains(&hash).unwrap());
                        }
                    }
                }
                Op::Commit => {
                    store.commit().unwrap();
                    for (k, v) in std::mem::take(&mut pending) {
                        committed.entry(k).or_default().extend(v);
                    }
                }
                Op::Rollback => {
                    store.rollback().unwrap();
                    pending.clear();
                }
                Op::Reopen => {
                    drop(store);
                    pending.clear();
                    store = PackedSequenceStorage::open_writer(dir.path(), options_flushing(v1, flush, runs)).unwrap();
                }
            }
        }
        drop(store);
        // A fresh reader sees exactly the committed model, and the store verifies.
        let reader = PackedSequenceStorage::open(dir.path()).unwrap();
        let mut seen: Model = BTreeMap::new();
        reader.for_each_sequence(|s| {
            assert_eq!(SequenceHash::of_residues(&s.residues), s.hash);
            let reps = seen.entry(s.residues.clone()).or_default();
            for r in &s.representations {
                assert!(reps.insert((r.header.clone(), r.source.clone())), "duplicate representation");
            }
            Ok(())
        }).unwrap();
        prop_assert_eq!(&seen, &committed);
        // get_many answers each key once, as get does: stored, never stored, asked twice.
        let mut keys: Vec<SequenceHash> = pool.iter().map(|s| SequenceHash::of_residues(&norm(s))).collect();
        keys.push(keys[0]);
        keys.push(SequenceHash::of_residues(b"NEVERSTORED"));
        let mut answers: Vec<Vec<Option<Vec<u8>>>> = vec![Vec::new(); keys.len()];
        reader.get_many(&keys, |i, r| {
            // The store can be read from inside the call.
            assert_eq!(reader.get(&keys[i]).unwrap().as_deref(), r);
            answers[i].push(r.map(<[u8]>::to_vec));
        }).unwrap();
        let by_hash: BTreeMap<SequenceHash, &Vec<u8>> = committed.keys().map(|r| (SequenceHash::of_residues(r), r)).collect();
        for (key, answer) in keys.iter().zip(&answers) {
            prop_assert_eq!(answer, &vec![by_hash.get(key).map(|r| r.to_vec())], "{}", key);
        }
        // get_many_parallel answers the same, once per key, on any number of threads.
        for threads in [1, 2, 3, 64] {
            let parallel: Vec<std::sync::Mutex<Vec<Option<Vec<u8>>>>> = keys.iter().map(|_| Default::default()).collect();
            reader.get_many_parallel(&keys, threads, |i, r| {
                parallel[i].lock().unwrap().push(r.map(<[u8]>::to_vec));
            }).unwrap();
            let parallel: Vec<_> = parallel.into_iter().map(|m| m.into_inner().unwrap()).collect();
            prop_assert_eq!(&parallel, &answers, "{} threads", threads);
        }
        // find_many gives what find_each gives, id by id, in the order of the ids.
        type Found = (usize, SequenceHash, Vec<u8>, Vec<(String, String)>);
        let mut ids: Vec<SequenceId> = Vec::new();
        for s in &pool {
            let d = SequenceDigests::of(&norm(s));
            ids.extend([SequenceId::Sha256(SequenceHash::of_residues(&norm(s))), SequenceId::parse(&d.md5_hex()).unwrap(), SequenceId::parse(&d.ga4gh()).unwrap()]);
        }
        ids.extend((0..5).map(|h| SequenceId::Accession(format!("id{h}"))));
        let mut one_by_one: Vec<Found> = Vec::new();
        let mut want_counts = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            want_counts.push(reader.find_each(id, |f| {
                one_by_one.push((i, f.hash, f.residues.to_vec(), f.representations().map(|(a, b)| (a.to_string(), b.to_string())).collect()));
            }).unwrap());
        }
        let mut together: Vec<Found> = Vec::new();
        let counts = reader.find_many(&ids, |i, f| {
            together.push((i, f.hash, f.residues.to_vec(), f.representations().map(|(a, b)| (a.to_string(), b.to_string())).collect()));
        }).unwrap();
        prop_assert_eq!(counts, want_counts);
        prop_assert_eq!(together, one_by_one);
        let stats = reader.stats().unwrap();
        prop_assert_eq!(stats.sequences, committed.len() as u64);
        prop_assert_eq!(stats.representations, committed.values().map(|r| r.len() as u64).sum::<u64>());
        // Nothing of a commit, rollback or run is left behind.
        prop_assert!(stats.leftovers.is_empty(), "{:?}", stats.leftovers);
        let report = reader.verify(&mut |_, _| {});
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
        // Accessions: `idN` names every committed sequence with a header `idN ...`.
        let by_accession = |store: &PackedSequenceStorage| -> Vec<BTreeSet<SequenceHash>> {
            (0..4).map(|h| store.resolve(&SequenceId::Accession(format!("ID{h}"))).unwrap().into_iter().collect()).collect()
        };
        let want: Vec<BTreeSet<SequenceHash>> = (0..4).map(|h| committed.iter()
            .filter(|(_, reps)| reps.iter().any(|(header, _)| header.starts_with(&format!("id{h} "))))
            .map(|(r, _)| SequenceHash::of_residues(r)).collect()).collect();
        prop_assert_eq!(&by_accession(&reader), &want);
        // Rebuilding from the packs alone gives the same alias rows, kind by kind, as the
        // layers the commit record names held together: keys, and the first 4 bytes of the
        // SHA-256 they name (a row naming an entry, the hash of that entry).
        let alias_rows = || -> Vec<BTreeSet<(Vec<u8>, Vec<u8>)>> {
            let layout = sequoia_store::layout::StoreLayout::new(dir.path());
            let seqs = sequoia_store::commit_record::list_commit_records(&layout).unwrap();
            let newest = *seqs.iter().max().unwrap();
            let record = sequoia_store::commit_record::read_commit_record(&layout, newest).unwrap();
            [IndexKind::Md5, IndexKind::Sha512t24u, IndexKind::Accession].iter().map(|kind| {
                let mut rows = BTreeSet::new();
                for layer in &record.layers {
                    let ix = pack_index::open(&layout.layer_alias_path(layer.name, *kind)).unwrap();
                    let alias = ix.as_alias().unwrap();
                    let k = ix.key_len();
                    if alias.names_entries() {
                        for r in alias.checked_entry_rows().unwrap() {
                            let pack = pack_io::PackReader::open(&layout.pack_path(r.pack)).unwrap();
                            let (hash, _) = pack.entry_row(r.pack, r.entry).unwrap();
                            rows.insert((r.prefix[..k].to_vec(), hash.0[..4].to_vec()));
                        }
                    } else {
                        for (key, p) in alias.checked_rows_as(alias.layout()).unwrap() {
                            rows.insert((key[..k.min(key.len())].to_vec(), p[..4].to_vec()));
                        }
                    }
                }
                rows
            }).collect()
        };
        let before = alias_rows();
        drop(reader);
        let repair = PackedSequenceStorage::open_for_repair(dir.path()).unwrap();
        let rebuilt = repair.rebuild_index().unwrap();
        prop_assert!(rebuilt.skipped.is_empty(), "{:?}", rebuilt.skipped);
        prop_assert_eq!(before, alias_rows());
        prop_assert_eq!(&by_accession(&repair), &want);
        drop(repair);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("packs")).unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        prop_assert!(leftovers.is_empty(), "temporary packs left: {:?}", leftovers);
    }
}

#[test]
fn readers_in_other_threads_see_commits_while_a_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        PackedSequenceStorage::open_writer(dir.path(), options(false)).unwrap(),
    );
    let seqs: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("MK{}", "W".repeat(i + 1)).into_bytes())
        .collect();
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                let seqs = &seqs;
                scope.spawn(move || {
                    let mut max_seen = 0;
                    for _ in 0..2000 {
                        // Commits happen in order, so what is visible is a prefix.
                        let visible = seqs
                            .iter()
                            .take_while(|s| {
                                store.get(&SequenceHash::of_residues(s)).unwrap().as_deref()
                                    == Some(&s[..])
                            })
                            .count();
                        assert!(visible >= max_seen, "a committed sequence disappeared");
                        max_seen = visible;
                    }
                })
            })
            .collect();
        for (i, s) in seqs.iter().enumerate() {
            store
                .put(s, Representation::new(format!("s{i}"), "t"))
                .unwrap();
            if i % 10 == 9 {
                store.commit().unwrap();
            }
        }
        for r in readers {
            r.join().unwrap();
        }
    });
    for s in &seqs {
        assert_eq!(
            store.get(&SequenceHash::of_residues(s)).unwrap().unwrap(),
            *s
        );
    }
}

#[test]
fn a_store_written_by_another_handle_is_seen_after_refresh() {
    let dir = tempfile::tempdir().unwrap();
    PackedSequenceStorage::open_writer(dir.path(), options(false)).unwrap();
    let reader = PackedSequenceStorage::open(dir.path()).unwrap();
    {
        let writer = PackedSequenceStorage::open_writer(dir.path(), options(false)).unwrap();
        writer.put(b"MKV", Representation::new("x", "y")).unwrap();
        writer.commit().unwrap();
    }
    let hash = SequenceHash::of_residues(b"MKV");
    assert_eq!(reader.get(&hash).unwrap(), None);
    reader.refresh().unwrap();
    assert_eq!(reader.get(&hash).unwrap().unwrap(), b"MKV");
}
