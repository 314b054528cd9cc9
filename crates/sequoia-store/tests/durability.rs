//! What a power cut at any moment leaves on disk, modelled below the store.
//!
//! Every file operation of a run of imports and commits is recorded through the
//! `pack_io::fs` hook. For each prefix of that record, the disk a crash would leave is
//! rebuilt: a file holds what it held at its last fsync (or, for the torn variant, that
//! plus part of what came after), and a directory holds the names it held at its last
//! fsync (pessimistic) or all of its current names (as a journaling file system may keep).
//! On each such disk the store must open without repair, verify clean, return every
//! sequence and representation of every commit that had returned, and show nothing that
//! was never put. The run ends with a repack, which must never show less (or more).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pack_format::{Representation, SequenceHash};
use pack_io::fs::{IoHook, IoOp};
use sequoia_store::{PackedSequenceStorage, StoreOptions};

#[derive(Clone, Debug)]
enum Rec {
    Create(PathBuf),
    Write(PathBuf, u64, Vec<u8>),
    SyncFile(PathBuf),
    Rename(PathBuf, PathBuf),
    SyncDir(PathBuf),
    Remove(PathBuf),
    /// Commit number `n` returned.
    Committed(usize),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Rec>>);

impl IoHook for Recorder {
    fn before(&self, op: &IoOp<'_>) -> std::io::Result<()> {
        let rec = match op {
            IoOp::Create { path } => Rec::Create(path.to_path_buf()),
            IoOp::Write { path, offset, data } => {
                Rec::Write(path.to_path_buf(), *offset, data.to_vec())
            }
            IoOp::SyncFile { path } => Rec::SyncFile(path.to_path_buf()),
            IoOp::Rename { from, to } => Rec::Rename(from.to_path_buf(), to.to_path_buf()),
            IoOp::SyncDir { path } => Rec::SyncDir(path.to_path_buf()),
            IoOp::Remove { path } => Rec::Remove(path.to_path_buf()),
        };
        self.0.lock().unwrap().push(rec);
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Inode {
    data: Vec<u8>,
    synced: Vec<u8>,
}

#[derive(Clone, Default)]
struct Dir {
    live: BTreeMap<String, usize>,
    durable: BTreeMap<String, usize>,
}

#[derive(Clone, Default)]
struct Disk {
    inodes: Vec<Inode>,
    dirs: HashMap<PathBuf, Dir>,
    last_written: Option<usize>,
}

fn split(p: &Path) -> (PathBuf, String) {
    (
        p.parent().unwrap().to_path_buf(),
        p.file_name().unwrap().to_str().unwrap().to_string(),
    )
}

impl Disk {
    fn apply(&mut self, rec: &Rec) {
        match rec {
            Rec::Create(p) => {
                let (d, n) = split(p);
                self.inodes.push(Inode::default());
                let id = self.inodes.len() - 1;
                self.dirs.entry(d).or_default().live.insert(n, id);
            }
            Rec::Write(p, off, data) => {
                let (d, n) = split(p);
                let id = self.dirs[&d].live[&n];
                let f = &mut self.inodes[id].data;
                let end = *off as usize + data.len();
                if f.len() < end {
                    f.resize(end, 0);
                }
                f[*off as usize..end].copy_from_slice(data);
                self.last_written = Some(id);
            }
            Rec::SyncFile(p) => {
                let (d, n) = split(p);
                let id = self.dirs[&d].live[&n];
                self.inodes[id].synced = self.inodes[id].data.clone();
            }
            Rec::Rename(from, to) => {
                let (fd, fname) = split(from);
                let id = self.dirs.get_mut(&fd).unwrap().live.remove(&fname).unwrap();
                let (td, tname) = split(to);
                self.dirs.entry(td).or_default().live.insert(tname, id);
            }
            Rec::SyncDir(p) => {
                let dir = self.dirs.entry(p.clone()).or_default();
                dir.durable = dir.live.clone();
            }
            Rec::Remove(p) => {
                let (d, n) = split(p);
                self.dirs.get_mut(&d).unwrap().live.remove(&n);
            }
            Rec::Committed(_) => {}
        }
    }

    /// Writes what a crash now leaves into `root` (a copy of the store's directories).
    fn materialize(&self, store: &Path, root: &Path, optimistic_dirs: bool, torn: Option<usize>) {
        for sub in ["packs", "indices"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for (dir, entries) in &self.dirs {
            // Directories above the store (fsynced when it was created) hold nothing of it.
            let Ok(rel) = dir.strip_prefix(store) else {
                continue;
            };
            let names = if optimistic_dirs {
                &entries.live
            } else {
                &entries.durable
            };
            for (name, id) in names {
                let inode = &self.inodes[*id];
                let mut content = inode.synced.clone();
                if let (Some(cut), Some(last)) = (torn, self.last_written) {
                    if last == *id && inode.data.len() > content.len() {
                        let extra = &inode.data[content.len()..];
                        content.extend_from_slice(&extra[..cut % (extra.len() + 1)]);
                    }
                }
                std::fs::write(root.join(rel).join(name), content).unwrap();
            }
        }
    }
}

type Commit = Vec<(Vec<u8>, Representation)>;

/// Three commits: new sequences, new representations of old ones, and both; then a
/// small one, which stays a layer of its own (for `compact` to merge).
fn workload() -> Vec<Commit> {
    let seq =
        |i: usize| format!("MK{}V{}", "ACDEFGHIKLMNPQRSTVWY".repeat(i % 9 + 1), i).into_bytes();
    let seq = |i: usize| {
        seq(i)
            .into_iter()
            .filter(|b| b.is_ascii_alphabetic())
            .collect::<Vec<u8>>()
    };
    let mut commits = Vec::new();
    for c in 0..3 {
        let mut recs = Vec::new();
        for i in 0..40 {
            let s = seq(c * 20 + i); // half of each commit repeats the previous one's sequences
            recs.push((
                s,
                Representation::new(format!("c{c}_r{i} record {i}"), format!("src{c}")),
            ));
        }
        commits.push(recs);
    }
    commits.push(
        (0..5)
            .map(|i| {
                let rep = Representation::new(format!("c3_r{i} small"), "src3");
                (format!("MWWW{}", "Y".repeat(i + 1)).into_bytes(), rep)
            })
            .collect(),
    );
    commits
}

#[test]
fn every_crash_point_leaves_a_consistent_store() {
    // One layout after the other: the recording hook is the process's.
    for format in [pack_format::PackVersion::V2, pack_format::PackVersion::V3] {
        crash_points(format);
    }
}

/// Every crash point of a run of imports, a compact, a gc and a repack writing `format`.
fn crash_points(format: pack_format::PackVersion) {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    // A run every 4 sequences: sealed, merged by the commit, their files removed.
    let options = StoreOptions {
        format,
        pack_size_limit: 1200,
        block_size: Some(300),
        level: Some(1),
        run_sequences: 4,
        ..StoreOptions::default()
    };
    let recorder = Arc::new(Recorder::default());
    let commits = workload();
    {
        pack_io::fs::set_hook(Some(recorder.clone()));
        let store = PackedSequenceStorage::open_writer(&store_dir, options.clone()).unwrap();
        for (n, recs) in commits.iter().enumerate() {
            for (s, r) in recs {
                store.put(s, r.clone()).unwrap();
            }
            store.commit().unwrap();
            recorder.0.lock().unwrap().push(Rec::Committed(n));
        }
        // Compacting, collecting garbage and repacking are commits (or deletions) that
        // change what is stored, not what is visible.
        let done = |n: usize| recorder.0.lock().unwrap().push(Rec::Committed(n));
        let compacted = store.compact().unwrap();
        assert_eq!((compacted.layers_before, compacted.layers_after), (2, 1));
        done(commits.len());
        assert!(!store.gc(false).unwrap().files.is_empty());
        done(commits.len() + 1);
        let summary = store.repack().unwrap();
        assert!(summary.new_entries < summary.old_entries);
        done(commits.len() + 2);
        assert!(!store.gc(false).unwrap().files.is_empty());
        done(commits.len() + 3);
        pack_io::fs::set_hook(None);
    }
    let mut commits = commits;
    commits.extend(std::iter::repeat_with(Commit::new).take(4));
    let log = recorder.0.lock().unwrap().clone();
    let syncs = log
        .iter()
        .filter(|r| matches!(r, Rec::SyncFile(_) | Rec::SyncDir(_)))
        .count();
    assert!(
        syncs > 10,
        "the workload fsyncs often enough to be interesting: {syncs}"
    );

    let mut all_seqs: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut all_reps: BTreeSet<(String, String)> = BTreeSet::new();
    for recs in &commits {
        for (s, r) in recs {
            all_seqs.insert(s.clone());
            all_reps.insert((r.header.clone(), r.source.clone()));
        }
    }

    let mut disk = Disk::default();
    let mut returned = 0usize;
    let mut images = 0usize;
    for (k, rec) in log.iter().enumerate() {
        disk.apply(rec);
        if let Rec::Committed(n) = rec {
            returned = n + 1;
        }
        for (variant, (optimistic, torn)) in [(false, None), (true, None), (false, Some(k * 7919))]
            .into_iter()
            .enumerate()
        {
            let image = dir.path().join(format!("crash_{k}_{variant}"));
            disk.materialize(&store_dir, &image, optimistic, torn);
            check_image(&image, &commits, returned, &all_seqs, &all_reps, k, variant);
            images += 1;
            std::fs::remove_dir_all(&image).unwrap();
        }
    }
    assert_eq!(returned, commits.len());
    eprintln!(
        "checked {images} crash images over {} recorded operations",
        log.len()
    );
}

type Visible = BTreeMap<Vec<u8>, BTreeSet<(String, String)>>;

fn model(commits: &[Commit]) -> Visible {
    let mut m = Visible::new();
    for recs in commits {
        for (s, r) in recs {
            m.entry(s.clone())
                .or_default()
                .insert((r.header.clone(), r.source.clone()));
        }
    }
    m
}

fn check_image(
    image: &Path,
    commits: &[Commit],
    returned: usize,
    all_seqs: &BTreeSet<Vec<u8>>,
    all_reps: &BTreeSet<(String, String)>,
    k: usize,
    variant: usize,
) {
    let at = format!("crash after operation {k} (variant {variant})");
    let committed = &commits[..returned];
    let store =
        PackedSequenceStorage::open(image).unwrap_or_else(|e| panic!("{at}: open failed: {e}"));
    assert!(store.problems().is_empty(), "{at}: {:?}", store.problems());
    let report = store.verify(&mut |_, _| {});
    assert!(report.problems.is_empty(), "{at}: {:?}", report.problems);
    for recs in committed {
        for (s, r) in recs {
            let hash = SequenceHash::of_residues(s);
            assert_eq!(
                store.get(&hash).unwrap().as_deref(),
                Some(&s[..]),
                "{at}: committed sequence lost"
            );
            assert!(
                store.representations(&hash).unwrap().contains(r),
                "{at}: committed {r:?} lost"
            );
        }
    }
    let mut visible = Visible::new();
    store
        .for_each_sequence(|rec| {
            assert!(
                all_seqs.contains(&rec.residues),
                "{at}: a sequence that was never put"
            );
            for r in &rec.representations {
                let rep = (r.header.clone(), r.source.clone());
                assert!(all_reps.contains(&rep), "{at}: {r:?} was never put");
                visible.entry(rec.residues.clone()).or_default().insert(rep);
            }
            Ok(())
        })
        .unwrap();
    // Commits are atomic: what is visible is the last commit that returned, or the one in
    // flight when the crash came after its commit record.
    let next = (returned + 1).min(commits.len());
    assert!(
        visible == model(committed) || visible == model(&commits[..next]),
        "{at}: the store shows part of a commit"
    );
    drop(store);
    // Work goes on from there without repair.
    let writer = PackedSequenceStorage::open_writer(image, StoreOptions::default())
        .unwrap_or_else(|e| panic!("{at}: cannot write after the crash: {e}"));
    writer
        .put(b"WWWWKKKK", Representation::new("after", "crash"))
        .unwrap();
    writer
        .commit()
        .unwrap_or_else(|e| panic!("{at}: commit after the crash: {e}"));
    assert!(
        writer.verify(&mut |_, _| {}).problems.is_empty(),
        "{at}: unsound after a new commit"
    );
}
