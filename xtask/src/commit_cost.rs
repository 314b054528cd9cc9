//! `cargo xtask bench`, layered commits: what a commit costs against the size of the store
//! it lands in, and what thousands of small commits do to commit time, the number of index
//! layers and lookups.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pack_format::Representation;
use sequoia_store::{PackedSequenceStorage, StoreOptions};

use crate::bench::{sequoia_secs, sh, Options, Report, Stat};
use crate::fixtures::{Residues, Rng};

/// Commits of the many-commits figure, and records in each.
const SMALL_COMMITS: usize = 10_000;
const SMALL_COMMIT_RECORDS: usize = 10;

/// A store the bench commits into: figure key, label, directory.
pub(crate) struct Target {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) dir: PathBuf,
}

/// Writes `n` synthetic protein records (seeded, headers `new{seed}_{i}`): none of them is
/// in any store the bench builds.
fn write_new_records(path: &Path, n: usize, seed: u64) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    let aa = Residues::protein();
    let mut rng = Rng::new(seed);
    for i in 0..n {
        let s = aa.protein_sequence(&mut rng);
        writeln!(w, ">new{seed}_{i} synthetic protein").map_err(err)?;
        for line in s.chunks(60) {
            w.write_all(line).map_err(err)?;
            w.write_all(b"\n").map_err(err)?;
        }
    }
    w.flush().map_err(err)
}

/// A copy of the store `src` at `dst` that shares its files (hard links): a store's files
/// are immutable once published and a commit only adds files, so the copy takes commits
/// without touching `src`, and a copy of the 100M store costs no disk. Its `LOCK` is its
/// own (a shared inode would share the lock).
pub(crate) fn link_copy(src: &Path, dst: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dst);
    sh(&format!("cp -al {} {}", src.display(), dst.display()))?;
    let lock = dst.join("LOCK");
    if lock.exists() {
        std::fs::remove_file(&lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    }
    Ok(())
}

/// A commit of the same 1,000 new records (`sequoia import`, a whole process) into an
/// empty store and into each of `targets`, in alternating rounds.
pub(crate) fn commit_into_stores(
    o: &Options,
    bin: &Path,
    out: &Path,
    targets: &[Target],
    r: &mut Report,
) -> Result<(), String> {
    println!("\n== layered commits: 1,000 new records into stores of every size ==");
    let new = out.join("new1000.fasta");
    write_new_records(&new, 1000, 1000)?;
    let work = out.join("commit_work");
    let rounds = o.runs.max(5);
    let mut times = vec![Vec::new(); targets.len() + 1];
    for _ in 0..rounds {
        let sources = std::iter::once(None).chain(targets.iter().map(|t| Some(&t.dir)));
        for (i, src) in sources.enumerate() {
            let _ = std::fs::remove_dir_all(&work);
            if let Some(src) = src {
                link_copy(src, &work)?;
            }
            times[i].push(sequoia_secs(
                bin,
                &work,
                &format!("import {}", new.display()),
            )?);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let empty = Stat::of(times[0].clone());
    let note = |s: &Stat| format!("median of {:.0}..{:.0} ms", s.min * 1e3, s.max * 1e3);
    r.add(
        "commit1000_empty_ms",
        "commit 1,000 records into an empty store",
        empty.median * 1e3,
        "ms",
        format!("{}; sequoia import, whole process", note(&empty)),
    );
    for (t, v) in targets.iter().zip(&times[1..]) {
        let s = Stat::of(v.clone());
        r.add(
            &format!("commit1000_{}_ms", t.key),
            &format!("commit 1,000 records into {}", t.label),
            s.median * 1e3,
            "ms",
            note(&s),
        );
        r.add(
            &format!("commit1000_{}_ratio", t.key),
            &format!("  the same against the empty store: {}", t.key),
            s.median / empty.median,
            "x",
            "target <= 2".into(),
        );
    }
    Ok(())
}

/// Seconds of `f` run alternately with `g`, `rounds` times each.
fn alternating(
    rounds: usize,
    mut f: impl FnMut() -> Result<f64, String>,
    mut g: impl FnMut() -> Result<f64, String>,
) -> Result<(Stat, Stat), String> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(f()?);
        b.push(g()?);
    }
    Ok((Stat::of(a), Stat::of(b)))
}

/// 10,000 commits of 10 new records each into a copy of `base` (the protein_all store),
/// through the library: each commit's time, the layers it leaves, `get --keys` on the
/// result against the same store compacted, and `verify`.
pub(crate) fn many_small_commits(
    o: &Options,
    bin: &Path,
    out: &Path,
    base: &Path,
    keyfile: &Path,
    r: &mut Report,
) -> Result<(), String> {
    println!(
        "\n== layered commits: {SMALL_COMMITS} commits of {SMALL_COMMIT_RECORDS} records into protein_all =="
    );
    let dir = out.join("store_small_commits");
    link_copy(base, &dir)?;
    let e = |e: sequoia_store::StoreError| e.to_string();
    let store = PackedSequenceStorage::open_writer(&dir, StoreOptions::default()).map_err(e)?;
    let rows_before = store.stats().map_err(e)?.index_rows;
    let aa = Residues::protein();
    let mut rng = Rng::new(10_000);
    let mut times = Vec::with_capacity(SMALL_COMMITS);
    let mut max_layers = 0;
    let started = Instant::now();
    for c in 0..SMALL_COMMITS {
        let t = Instant::now();
        for j in 0..SMALL_COMMIT_RECORDS {
            let s = aa.protein_sequence(&mut rng);
            let rep = Representation::new(format!("small{c}_{j}"), "bench");
            store.put(&s, rep).map_err(e)?;
        }
        store.commit().map_err(e)?;
        times.push(t.elapsed().as_secs_f64());
        if (c + 1) % 250 == 0 {
            let layers = store.stats().map_err(e)?.layers;
            max_layers = max_layers.max(layers);
            if (c + 1) % 2000 == 0 {
                println!(
                    "  {} commits in {:.0} s, {layers} layers",
                    c + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    let stats = store.stats().map_err(e)?;
    drop(store);
    max_layers = max_layers.max(stats.layers);
    let first = Stat::of(times[..1000].to_vec());
    let last = Stat::of(times[times.len() - 1000..].to_vec());
    r.add(
        "small_commits_first1000_ms",
        "10,000 commits of 10: median of the first 1,000",
        first.median * 1e3,
        "ms",
        format!("{:.1}..{:.1} ms", first.min * 1e3, first.max * 1e3),
    );
    r.add(
        "small_commits_last1000_ms",
        "10,000 commits of 10: median of the last 1,000",
        last.median * 1e3,
        "ms",
        format!("{:.1}..{:.1} ms", last.min * 1e3, last.max * 1e3),
    );
    r.add(
        "small_commits_last_first_ratio",
        "  last thousand against first thousand",
        last.median / first.median,
        "x",
        "target <= 2".into(),
    );
    let slowest = times.iter().copied().fold(0.0f64, f64::max);
    r.add(
        "small_commits_slowest_ms",
        "10,000 commits of 10: the slowest commit",
        slowest * 1e3,
        "ms",
        "a commit that merges layers up to the merge budget".into(),
    );
    // The geometric rule keeps every layer above twice the rows of all newer ones: at
    // most about log3(rows / rows of one commit) + 1 layers.
    let bound =
        ((stats.index_rows as f64 / SMALL_COMMIT_RECORDS as f64).ln() / 3f64.ln()).ceil() + 1.0;
    r.add(
        "small_commits_layers",
        "10,000 commits of 10: index layers, most seen",
        max_layers as f64,
        "",
        format!(
            "{} at the end; bound log3(rows/10)+1 = {bound:.0}; {rows_before} rows before, {} after",
            stats.layers, stats.index_rows
        ),
    );

    // Lookups against the same store compacted into one layer.
    let compacted = out.join("store_small_commits_compacted");
    link_copy(&dir, &compacted)?;
    let (secs, _) = sh(&format!(
        "{} --store {} compact",
        bin.display(),
        compacted.display()
    ))?;
    r.add(
        "small_commits_compact_s",
        "sequoia compact of that store",
        secs,
        "s",
        format!("{} layers into 1", stats.layers),
    );
    let get = |store: &Path| sequoia_secs(bin, store, &format!("get --keys {}", keyfile.display()));
    let (layered, flat) = alternating(o.runs.max(5), || get(&dir), || get(&compacted))?;
    r.add(
        "small_commits_get_keys_s",
        &format!("get --keys over {} layers", stats.layers),
        layered.median,
        "s",
        format!(
            "{:.3}..{:.3}; compacted {:.3} s ({:.3}..{:.3})",
            layered.min, layered.max, flat.median, flat.min, flat.max
        ),
    );
    r.add(
        "small_commits_get_keys_ratio",
        "  layered against compacted",
        layered.median / flat.median,
        "x",
        "target <= 1.5".into(),
    );
    let (secs, verify) = sh(&format!(
        "{} --store {} verify",
        bin.display(),
        dir.display()
    ))?;
    let text = String::from_utf8_lossy(&verify.stdout);
    r.add(
        "small_commits_verify_s",
        "verify of the layered store",
        secs,
        "s",
        format!("exit 0: {}", text.lines().last().unwrap_or("").trim()),
    );
    let _ = std::fs::remove_dir_all(&compacted);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Writes `n` distinct short synthetic proteins (30-60 residues, seeded by `n`).
fn write_short_records(path: &Path, n: u64) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(err)?);
    let aa = Residues::protein();
    let mut rng = Rng::new(n ^ 0xabcd);
    let mut s = Vec::with_capacity(64);
    for i in 0..n {
        s.clear();
        // The record number spelled in residues keeps every sequence distinct.
        let mut k = i;
        loop {
            s.push(b"ACDEFGHIKL"[(k % 10) as usize]);
            k /= 10;
            if k == 0 {
                break;
            }
        }
        s.push(b'W');
        let len = 30 + rng.below(31) as usize;
        while s.len() < len {
            s.push(aa.pick(&mut rng));
        }
        writeln!(w, ">short{i} synthetic").map_err(err)?;
        w.write_all(&s).map_err(err)?;
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)
}

/// Peak RSS of importing `n` and `2n` short sequences, both past the session's run bound
/// ([`sequoia_store::RUN_SEQUENCES`]): what bounds an import's memory whatever its size.
pub(crate) fn import_memory_past_runs(
    o: &Options,
    bin: &Path,
    out: &Path,
    r: &mut Report,
) -> Result<(), String> {
    let n = (sequoia_store::RUN_SEQUENCES as u64 * 3 / 2).next_multiple_of(1_000_000);
    println!(
        "\n== import memory past the run bound: {n} and {} short sequences ==",
        2 * n
    );
    let mut rss = Vec::new();
    for m in [n, 2 * n] {
        let fasta = out.join(format!("short_{m}.fasta"));
        if !fasta.exists() {
            write_short_records(&fasta, m)?;
        }
        let store = out.join("store_short");
        let mut v = Vec::new();
        for _ in 0..o.runs.min(3) {
            let _ = std::fs::remove_dir_all(&store);
            let (secs, kb) = crate::bench::timed_rss(&format!(
                "{} --store {} import {}",
                bin.display(),
                store.display(),
                fasta.display()
            ))?;
            v.push((kb as f64 / 1024.0, secs));
        }
        let _ = std::fs::remove_dir_all(&store);
        let mb = Stat::of(v.iter().map(|x| x.0).collect());
        let secs = Stat::of(v.iter().map(|x| x.1).collect());
        r.add(
            &format!("import_short_{m}_peak_rss_mb"),
            &format!("import {m} short sequences: peak RSS"),
            mb.median,
            "MB",
            format!("{:.0}..{:.0} MB; {:.1} s", mb.min, mb.max, secs.median),
        );
        rss.push(mb.median);
    }
    r.add(
        "import_short_double_rss_ratio",
        "  twice the sequences against once, past the run bound",
        rss[1] / rss[0],
        "x",
        "target <= 1.2".into(),
    );
    Ok(())
}
