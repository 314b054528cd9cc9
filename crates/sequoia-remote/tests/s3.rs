//! Commits on object storage against a real S3 server (`cargo xtask s3` starts SeaweedFS
//! and runs these; a plain `cargo test` skips them).

use std::path::Path;
use std::sync::Arc;

use pack_format::{Representation, SequenceHash};
use sequoia_remote::{RemoteError, RemoteStore};
use sequoia_store::{PackedSequenceStorage, StoreOptions};

/// The test bucket, from `cargo xtask s3`.
fn bucket() -> String {
    std::env::var("SEQUOIA_TEST_S3_BUCKET").expect("run through `cargo xtask s3`")
}

/// A prefix no other test or run uses.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{nanos}", std::process::id())
}

fn residues(writer: usize, i: usize) -> Vec<u8> {
    format!(
        "MK{}W{writer}W{i}",
        "ACDEFGHIKLMNPQRSTVWY".repeat(i % 9 + 1)
    )
    .replace(|c: char| c.is_ascii_digit(), "L")
    .into_bytes()
}

/// Commits `n` sequences of `writer` into `remote`'s cache (not published).
fn commit_in_cache(remote: &RemoteStore, writer: usize, n: usize) -> Vec<SequenceHash> {
    let store =
        PackedSequenceStorage::open_writer_in(remote.layout(), StoreOptions::default()).unwrap();
    let mut hashes = Vec::new();
    for i in 0..n {
        let r = format!(
            "{}{}",
            String::from_utf8(residues(writer, i)).unwrap(),
            "Y".repeat(writer + 1)
        );
        store
            .put(
                r.as_bytes(),
                Representation::new(format!("w{writer}_{i} test"), "test"),
            )
            .unwrap();
        hashes.push(SequenceHash::of_residues(r.as_bytes()));
    }
    store.commit().unwrap();
    hashes
}

fn reader(dir: &Path, bucket: &str, prefix: &str) -> PackedSequenceStorage {
    let remote = RemoteStore::open_s3(bucket, prefix, dir).unwrap();
    remote.refresh(std::time::Duration::ZERO).unwrap();
    PackedSequenceStorage::open_in(remote.layout()).unwrap()
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn of_two_writers_on_one_commit_number_one_wins_and_the_other_applies_later() {
    let (bucket, prefix) = (bucket(), prefix("race2"));
    let caches = tempfile::tempdir().unwrap();
    let a = RemoteStore::open_s3(&bucket, &prefix, &caches.path().join("a")).unwrap();
    let b = RemoteStore::open_s3(&bucket, &prefix, &caches.path().join("b")).unwrap();
    let base_a = a.refresh(std::time::Duration::ZERO).unwrap();
    let base_b = b.refresh(std::time::Duration::ZERO).unwrap();
    assert_eq!((base_a, base_b), (None, None));
    let from_a = commit_in_cache(&a, 1, 50);
    let from_b = commit_in_cache(&b, 2, 40);
    let won = a
        .publish(base_a, None)
        .unwrap()
        .expect("a commit to publish");
    let lost = b.publish(base_b, None);
    assert!(
        matches!(lost, Err(RemoteError::Conflict { .. })),
        "the second publisher of one number must lose: {lost:?}"
    );
    // A fresh reader sees A's commit whole and nothing of B's.
    let r = reader(&caches.path().join("r1"), &bucket, &prefix);
    assert!(from_a.iter().all(|h| r.get(h).unwrap().is_some()));
    assert!(from_b.iter().all(|h| r.get(h).unwrap().is_none()));
    assert!(r.verify(&mut |_, _| {}).problems.is_empty());
    // B's uploads (if any got through before it lost) are leftovers, and B tries again on
    // top of A's commit.
    let base_b = b.refresh(std::time::Duration::ZERO).unwrap();
    assert_eq!(base_b, Some(won));
    let again = commit_in_cache(&b, 2, 40);
    assert_eq!(again, from_b);
    let second = b
        .publish(base_b, None)
        .unwrap()
        .expect("a commit to publish");
    assert_eq!(second, won + 1);
    let r = reader(&caches.path().join("r2"), &bucket, &prefix);
    assert!(from_a
        .iter()
        .chain(&from_b)
        .all(|h| r.get(h).unwrap().is_some()));
    assert!(r.verify(&mut |_, _| {}).problems.is_empty());
    // gc removes exactly the objects no commit names; the store reads the same after.
    let gc = b.gc(false, std::time::Duration::ZERO).unwrap();
    assert!(gc.young.is_empty());
    assert!(b.leftovers().unwrap().objects.is_empty());
    let r = reader(&caches.path().join("r3"), &bucket, &prefix);
    assert!(from_a
        .iter()
        .chain(&from_b)
        .all(|h| r.get(h).unwrap().is_some()));
    assert!(r.verify(&mut |_, _| {}).problems.is_empty());
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn eight_racing_publishers_make_exactly_one_commit() {
    let (bucket, prefix) = (bucket(), prefix("race8"));
    let caches = tempfile::tempdir().unwrap();
    let writers: Vec<(RemoteStore, Option<u64>, Vec<SequenceHash>)> = (0..8)
        .map(|w| {
            let r = RemoteStore::open_s3(&bucket, &prefix, &caches.path().join(format!("w{w}")))
                .unwrap();
            let base = r.refresh(std::time::Duration::ZERO).unwrap();
            let hashes = commit_in_cache(&r, w, 20);
            (r, base, hashes)
        })
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let outcomes: Vec<Result<Option<u64>, RemoteError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (writers.iter())
            .map(|(r, base, _)| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    barrier.wait();
                    r.publish(*base, None)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (outcomes.iter().enumerate())
        .filter(|(_, o)| o.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
    for (i, o) in outcomes.iter().enumerate() {
        if i != winners[0] {
            assert!(
                matches!(o, Err(RemoteError::Conflict { .. })),
                "writer {i}: {o:?}"
            );
        }
    }
    let r = reader(&caches.path().join("r"), &bucket, &prefix);
    for (i, (_, _, hashes)) in writers.iter().enumerate() {
        let seen = hashes
            .iter()
            .filter(|h| r.get(h).unwrap().is_some())
            .count();
        let expected = if i == winners[0] { hashes.len() } else { 0 };
        assert_eq!(seen, expected, "writer {i}");
    }
    assert!(r.verify(&mut |_, _| {}).problems.is_empty());
}
