//! Injected write failures: a full disk on every write, an I/O error on every fsync, rename
//! and directory fsync of an import and its commit, one at a time. Each must fail the
//! operation with a clear error, poison the writing session, leave the store at a whole
//! commit with nothing of the failed session left behind, and let the next import work.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use pack_format::{PackVersion, Representation};
use pack_io::fs::{IoHook, IoOp};
use sequoia_store::{PackedSequenceStorage, StoreOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Create,
    Write,
    SyncFile,
    Rename,
    SyncDir,
}

#[derive(Default)]
struct Injector {
    target: Mutex<Option<(Kind, usize)>>,
    seen: Mutex<HashMap<Kind, usize>>,
    fired: Mutex<bool>,
}

impl IoHook for Injector {
    fn before(&self, op: &IoOp<'_>) -> std::io::Result<()> {
        let kind = match op {
            IoOp::Create { .. } => Kind::Create,
            IoOp::Write { .. } => Kind::Write,
            IoOp::SyncFile { .. } => Kind::SyncFile,
            IoOp::Rename { .. } => Kind::Rename,
            IoOp::SyncDir { .. } => Kind::SyncDir,
            IoOp::Remove { .. } => return Ok(()),
        };
        let mut seen = self.seen.lock().unwrap();
        let n = seen.entry(kind).or_default();
        *n += 1;
        if *self.target.lock().unwrap() == Some((kind, *n)) {
            *self.fired.lock().unwrap() = true;
            return Err(match kind {
                Kind::Write | Kind::Create => std::io::Error::from_raw_os_error(28), // ENOSPC
                _ => std::io::Error::from_raw_os_error(5),                           // EIO
            });
        }
        Ok(())
    }
}

type Model = BTreeMap<Vec<u8>, BTreeSet<(String, String)>>;

fn batch(tag: &str, from: usize) -> Vec<(Vec<u8>, Representation)> {
    (from..from + 60)
        .map(|i| {
            let s: Vec<u8> = format!("MKV{}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 7 + 1))
                .into_bytes()
                .into_iter()
                .chain(std::iter::repeat_n(b'W', i))
                .collect();
            (s, Representation::new(format!("{tag}_{i} protein"), tag))
        })
        .collect()
}

fn model(batches: &[&[(Vec<u8>, Representation)]]) -> Model {
    let mut m = Model::new();
    for b in batches {
        for (s, r) in b.iter() {
            m.entry(s.clone())
                .or_default()
                .insert((r.header.clone(), r.source.clone()));
        }
    }
    m
}

fn visible(store: &PackedSequenceStorage) -> Model {
    let mut m = Model::new();
    store
        .for_each_sequence(|rec| {
            for r in &rec.representations {
                m.entry(rec.residues.clone())
                    .or_default()
                    .insert((r.header.clone(), r.source.clone()));
            }
            Ok(())
        })
        .unwrap();
    m
}

/// Small packs, and a run every 20 sequences: faults land in seals too.
fn options(format: PackVersion) -> StoreOptions {
    StoreOptions {
        format,
        pack_size_limit: 4000,
        block_size: Some(500),
        level: Some(1),
        run_sequences: 20,
        ..StoreOptions::default()
    }
}

/// Puts `recs` and commits; the first error, if any.
fn import(store: &PackedSequenceStorage, recs: &[(Vec<u8>, Representation)]) -> Result<(), String> {
    for (s, r) in recs {
        store.put(s, r.clone()).map_err(|e| e.to_string())?;
    }
    store.commit().map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn every_injected_failure_leaves_a_whole_store_and_the_next_import_works() {
    // One layout after the other: the injecting hook is the process's.
    for format in [PackVersion::V2, PackVersion::V3] {
        inject_every_failure(format);
    }
}

/// Fails each file operation of an import writing `format` in turn.
fn inject_every_failure(format: PackVersion) {
    let first = batch("a", 0);
    // Half new sequences, half new representations of stored ones.
    let second: Vec<_> = batch("b", 30);
    let injector = Arc::new(Injector::default());
    let mut injected = 0usize;
    for kind in [
        Kind::Create,
        Kind::Write,
        Kind::SyncFile,
        Kind::Rename,
        Kind::SyncDir,
    ] {
        for n in 1.. {
            let dir = tempfile::tempdir().unwrap();
            {
                let store =
                    PackedSequenceStorage::open_writer(dir.path(), options(format)).unwrap();
                import(&store, &first).unwrap();
            }
            *injector.seen.lock().unwrap() = HashMap::new();
            *injector.fired.lock().unwrap() = false;
            *injector.target.lock().unwrap() = Some((kind, n));
            pack_io::fs::set_hook(Some(injector.clone()));
            let store = PackedSequenceStorage::open_writer(dir.path(), options(format)).unwrap();
            let result = import(&store, &second);
            let fired = *injector.fired.lock().unwrap();
            if !fired {
                pack_io::fs::set_hook(None);
                assert!(
                    result.is_ok(),
                    "{kind:?} #{n}: failed without an injected fault: {result:?}"
                );
                assert!(n > 1, "{kind:?}: the workload performs no such operation");
                break;
            }
            injected += 1;
            let err = result.expect_err("an injected fault must fail the import");
            let expect = match kind {
                Kind::Write | Kind::Create => "No space left on device",
                _ => "Input/output error",
            };
            assert!(err.contains(expect), "{kind:?} #{n}: unclear error: {err}");
            assert!(
                err.contains(dir.path().to_str().unwrap()),
                "{kind:?} #{n}: no path in: {err}"
            );
            // The session is poisoned: it says so rather than pretending.
            let again = store
                .put(b"MKMKMK", Representation::new("x", "y"))
                .unwrap_err()
                .to_string();
            assert!(
                again.contains("accepts no more writes"),
                "{kind:?} #{n}: {again}"
            );
            drop(store);
            pack_io::fs::set_hook(None);

            let reader = PackedSequenceStorage::open(dir.path()).unwrap();
            let state = visible(&reader);
            let before = model(&[&first]);
            let after = model(&[&first, &second]);
            // A failure after the commit record's rename (its directory fsync) may leave the
            // new commit visible; anything else leaves the previous one. Never a part.
            assert!(
                state == before || state == after,
                "{kind:?} #{n}: a partial commit is visible"
            );
            if state == after {
                assert_eq!(
                    kind,
                    Kind::SyncDir,
                    "{kind:?} #{n}: only a failed last fsync may expose the commit"
                );
            }
            let report = reader.verify(&mut |_, _| {});
            assert!(
                report.problems.is_empty(),
                "{kind:?} #{n}: {:?}",
                report.problems
            );
            assert!(
                report.leftovers.is_empty(),
                "{kind:?} #{n}: left behind {:?}",
                report.leftovers
            );
            drop(reader);

            let store = PackedSequenceStorage::open_writer(dir.path(), options(format)).unwrap();
            import(&store, &second).unwrap();
            assert_eq!(
                visible(&store),
                after,
                "{kind:?} #{n}: the next import did not complete the store"
            );
            assert!(store.verify(&mut |_, _| {}).problems.is_empty());
        }
    }
    eprintln!("{format:?}: injected {injected} faults");
    assert!(injected > 20, "only {injected} faults were injected");
}
