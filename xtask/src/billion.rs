//! `cargo xtask bench`, index-only stores: the index layers and commit record of stores of
//! up to a billion synthetic sequences, without their packs (which would not fit this
//! machine's disk: about 50 bytes per sequence even for tiny ones). Measured on each:
//! index bytes per sequence, a cold process's open and lookup, a lookup's index probe, and
//! a 1,000-record commit; the growth goes on a log-log plot.
//!
//! The packs the commit record lists are empty placeholder files: nothing reads them, as
//! the measured lookups stop at the index row (the pack read after it costs one block
//! whatever the store's size), and the 1,000 committed records are chosen so that no key
//! of theirs is on the synthetic grid (in a real store a shared 6-byte key prefix costs
//! one block read to tell apart).

use std::path::{Path, PathBuf};
use std::time::Instant;

use pack_format::SequenceHash;
use pack_index::{
    write_sorted_alias_index, write_sorted_entry_index, AliasLayout, EntryRow, EntryWidths,
    IndexCounts, IndexKind,
};
use sequoia_store::commit_record::{CommitRecord, LayerEntry, LayerName, StagedRecord};
use sequoia_store::layout::StoreLayout;
use sequoia_store::{PackedSequenceStorage, StoreOptions};

use crate::bench::{sh, Report, Stat};
use crate::fixtures::{Residues, Rng};

/// Entries of a 64 MB pack of proteins (about 150 compressed bytes each).
const ENTRIES_PER_PACK: u64 = 1 << 19;

/// The alias kinds, each with the seed of its synthetic keys.
const ALIASES: [(IndexKind, u64); 3] = [
    (IndexKind::Md5, 3),
    (IndexKind::Sha512t24u, 4),
    (IndexKind::Accession, 5),
];

/// Seed of the entry rows' keys.
const ENTRY_SEED: u64 = 1;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The `i`th of `n` synthetic keys: each in its own of `n` equal slices of the 64-bit
/// space, at a random place in it, so that they come sorted and distinct (in their first
/// 6 bytes too, below 2^48 / 2^16 = 4 billion keys) without a sort.
fn grid_key(i: u64, n: u64, seed: u64) -> u64 {
    let step = u64::MAX / n;
    i * step + mix(i ^ seed.rotate_left(40)) % step
}

/// Whether a key with these first 6 bytes is one of the grid's.
fn on_grid(key: u64, n: u64, seed: u64) -> bool {
    let step = u64::MAX / n;
    let i = key / step;
    let near = |i: u64| i < n && grid_key(i, n, seed) >> 16 == key >> 16;
    near(i) || (i > 0 && near(i - 1)) || near(i + 1)
}

fn entry_row(i: u64, n: u64, packs: u64) -> EntryRow {
    let r = mix(i ^ 0x5555);
    EntryRow {
        prefix: grid_key(i, n, ENTRY_SEED).to_be_bytes(),
        pack: (r % packs) as u32,
        entry: ((r >> 32) % ENTRIES_PER_PACK) as u32,
    }
}

fn alias_row(i: u64, n: u64, seed: u64) -> (Vec<u8>, [u8; 8]) {
    let key = grid_key(i, n, seed).to_be_bytes()[..pack_index::ALIAS_KEY_LEN].to_vec();
    (key, mix(i ^ seed).to_be_bytes())
}

/// `1M`, `1000M`.
fn size_name(n: u64) -> String {
    format!("{}M", n / 1_000_000)
}

/// Bytes free on the file system of `dir`.
fn free_bytes(dir: &Path) -> u64 {
    sh(&format!(
        "df -B1 --output=avail {} | tail -1",
        dir.display()
    ))
    .ok()
    .and_then(|(_, o)| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
    .unwrap_or(0)
}

/// Index bytes per sequence this module writes, about (6-byte entry rows, 4-5 byte
/// values, three alias indexes of 6-byte keys and 5-byte values, less the key bytes the
/// fan-out implies): for the disk check before building.
const BYTES_PER_SEQUENCE: u64 = 34;

/// Index-only stores up to this size are kept for the next run; larger ones are deleted
/// once measured.
const KEEP_UP_TO: u64 = 10_000_000;

/// Builds the index-only store of `n` sequences at `dir` (once: a marker says it is whole).
fn build(dir: &Path, n: u64) -> Result<f64, String> {
    let marker = dir.join("BENCH_COMPLETE_INDEX_ONLY");
    if marker.exists() {
        return Ok(0.0);
    }
    let _ = std::fs::remove_dir_all(dir);
    let t = Instant::now();
    let e = |e: sequoia_store::StoreError| e.to_string();
    drop(PackedSequenceStorage::open_writer(dir, StoreOptions::default()).map_err(e)?);
    let layout = StoreLayout::new(dir);
    let packs = n.div_ceil(ENTRIES_PER_PACK).max(1);
    let ids: Vec<u32> = (0..packs as u32).collect();
    for &id in &ids {
        let p = layout.pack_path(id);
        std::fs::write(&p, b"").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let counts = IndexCounts {
        sequences: n,
        representations: n,
        residue_bytes: n * 300,
        uncompressed_bytes: n * 360,
    };
    let name = LayerName::new(1);
    let create = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let widths = EntryWidths::for_max(packs as u32 - 1, ENTRIES_PER_PACK as u32 - 1);
    let rows = layout.layer_rows_path(name);
    write_sorted_entry_index(create(&rows)?, &ids, counts, widths, n, || {
        (0..n).map(|i| entry_row(i, n, packs))
    })
    .map_err(|e| format!("{}: {e}", rows.display()))?;
    for (kind, seed) in ALIASES {
        let p = layout.layer_alias_path(name, kind);
        let layout = AliasLayout::for_store(n);
        write_sorted_alias_index(create(&p)?, kind, layout, &ids, n, || {
            (0..n).map(|i| alias_row(i, n, seed))
        })
        .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let record = CommitRecord {
        seq: 1,
        packs: ids,
        counts,
        layers: vec![LayerEntry { name, rows: n }],
    };
    (StagedRecord::write(&layout, &record).and_then(|s| s.publish())).map_err(e)?;
    sh("sync")?;
    std::fs::write(&marker, b"").map_err(|e| e.to_string())?;
    Ok(t.elapsed().as_secs_f64())
}

/// Writes 1,000 new protein records whose SHA-256 keys are not on the grid of `n`.
fn write_new_records(path: &Path, n: u64) -> Result<(), String> {
    use std::fmt::Write as _;
    let aa = Residues::protein();
    let mut rng = Rng::new(77);
    let mut text = String::new();
    let mut written = 0;
    while written < 1000 {
        let s = aa.protein_sequence(&mut rng);
        let h = SequenceHash::of_residues(&s);
        let key = u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"));
        if on_grid(key, n, ENTRY_SEED) {
            continue;
        }
        let _ = writeln!(text, ">fresh{written} synthetic");
        for line in s.chunks(60) {
            text.push_str(std::str::from_utf8(line).expect("ASCII residues"));
            text.push('\n');
        }
        written += 1;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One index-only store's figures.
pub(crate) struct IndexOnly {
    pub(crate) sequences: u64,
    pub(crate) bytes_per_sequence: f64,
    pub(crate) probe_us: f64,
    pub(crate) cold_ms: f64,
    pub(crate) commit_ms: f64,
}

fn measure(
    bin: &Path,
    out: &Path,
    dir: &Path,
    n: u64,
    runs: usize,
    r: &mut Report,
) -> Result<IndexOnly, String> {
    let name = size_name(n);
    let layout = StoreLayout::new(dir);
    let record =
        sequoia_store::commit_record::read_commit_record(&layout, 1).map_err(|e| e.to_string())?;
    let layer = record.layers[0].name;
    let mut bytes = 0;
    let mut paths = vec![layout.layer_rows_path(layer)];
    paths.extend(
        ALIASES
            .iter()
            .map(|(k, _)| layout.layer_alias_path(layer, *k)),
    );
    for p in &paths {
        bytes += std::fs::metadata(p).map_err(|e| e.to_string())?.len();
    }
    let per_seq = bytes as f64 / n as f64;
    r.add(
        &format!("index_only_{name}_b_per_seq"),
        &format!("index-only {name}: index bytes per sequence"),
        per_seq,
        "B",
        format!("{:.1} GB in 4 files", bytes as f64 / 1e9),
    );
    // The index probe: fan-out, bucket, key compare, in the entry rows of this size.
    let ix = pack_index::open(&paths[0]).map_err(|e| e.to_string())?;
    let entries = ix.as_entries().map_err(|e| e.to_string())?;
    let md5 = pack_index::open(&paths[1]).map_err(|e| e.to_string())?;
    let md5 = md5.as_alias().map_err(|e| e.to_string())?;
    let packs = n.div_ceil(ENTRIES_PER_PACK).max(1);
    let mut rng = Rng::new(9);
    let sample: Vec<u64> = (0..100_000).map(|_| rng.below(n)).collect();
    let mut probe = Vec::new();
    let mut alias_probe = Vec::new();
    for _ in 0..runs.max(3) {
        let t = Instant::now();
        for &i in &sample {
            let want = entry_row(i, n, packs);
            let found = entries.lookup(&want.prefix).map_err(|e| e.to_string())?;
            if !found
                .into_iter()
                .any(|row| row.pack == want.pack && row.entry == want.entry)
            {
                return Err(format!("index-only {name}: row {i} not found"));
            }
        }
        probe.push(t.elapsed().as_secs_f64() / sample.len() as f64);
        let t = Instant::now();
        for &i in &sample {
            // Looked up by a whole MD5 whose first bytes are the row's key.
            let mut digest = [0u8; 16];
            let (key, _) = alias_row(i, n, ALIASES[0].1);
            digest[..key.len()].copy_from_slice(&key);
            if md5
                .lookup(&digest)
                .map_err(|e| e.to_string())?
                .next()
                .is_none()
            {
                return Err(format!("index-only {name}: alias row {i} not found"));
            }
        }
        alias_probe.push(t.elapsed().as_secs_f64() / sample.len() as f64);
    }
    let probe = Stat::of(probe);
    let alias_probe = Stat::of(alias_probe);
    r.add(
        &format!("index_only_{name}_probe_us"),
        &format!("index-only {name}: entry probe, warm"),
        probe.median * 1e6,
        "us",
        format!(
            "100,000 random present keys; MD5 alias probe {:.2} us",
            alias_probe.median * 1e6
        ),
    );
    // A cold process: open the store, probe every layer for a sequence it lacks.
    let cold = crate::bench::repeat(runs.max(10), || {
        let (secs, o) = sh(&format!(
            "{} --store {} get {} 2>&1; true",
            bin.display(),
            dir.display(),
            "00".repeat(32)
        ))?;
        let text = String::from_utf8_lossy(&o.stdout);
        if !text.contains("no sequence matches") {
            return Err(format!("index-only {name}: get said {text}"));
        }
        Ok(secs)
    })?;
    r.add(
        &format!("index_only_{name}_cold_ms"),
        &format!("index-only {name}: cold process open + get (absent)"),
        cold.median * 1e3,
        "ms",
        format!("min {:.1} max {:.1}", cold.min * 1e3, cold.max * 1e3),
    );
    // A 1,000-record commit, into a copy sharing the files (a commit only adds files).
    let new = out.join(format!("fresh1000_{name}.fasta"));
    write_new_records(&new, n)?;
    let work = out.join("index_only_work");
    let commit = crate::bench::repeat(runs.max(5), || {
        crate::commit_cost::link_copy(dir, &work)?;
        crate::bench::sequoia_secs(bin, &work, &format!("import {}", new.display()))
    })?;
    let _ = std::fs::remove_dir_all(&work);
    r.add(
        &format!("index_only_{name}_commit1000_ms"),
        &format!("index-only {name}: commit 1,000 records"),
        commit.median * 1e3,
        "ms",
        format!("min {:.0} max {:.0}", commit.min * 1e3, commit.max * 1e3),
    );
    Ok(IndexOnly {
        sequences: n,
        bytes_per_sequence: per_seq,
        probe_us: probe.median * 1e6,
        cold_ms: cold.median * 1e3,
        commit_ms: commit.median * 1e3,
    })
}

/// The index-only series: builds each size that fits the disk (largest last), measures
/// it, and deletes those past [`KEEP_UP_TO`].
pub(crate) fn series(
    bin: &Path,
    out: &Path,
    sizes: &[u64],
    runs: usize,
    r: &mut Report,
) -> Result<Vec<IndexOnly>, String> {
    let mut measured = Vec::new();
    for &n in sizes {
        let name = size_name(n);
        let dir: PathBuf = out.join(format!("index_only_{name}"));
        println!("\n== index-only store: {name} synthetic sequences ==");
        let need = n * BYTES_PER_SEQUENCE;
        let free = free_bytes(out);
        if !dir.join("BENCH_COMPLETE_INDEX_ONLY").exists() && need + (4 << 30) > free {
            println!(
                "skipped: needs about {:.0} GB, {:.0} GB free",
                need as f64 / 1e9,
                free as f64 / 1e9
            );
            r.add(
                &format!("index_only_{name}_skipped_gb"),
                &format!("index-only {name}: skipped, disk too small (GB needed)"),
                need as f64 / 1e9,
                "GB",
                format!("{:.0} GB free", free as f64 / 1e9),
            );
            continue;
        }
        let secs = build(&dir, n)?;
        if secs > 0.0 {
            println!("built in {secs:.0} s");
        }
        measured.push(measure(bin, out, &dir, n, runs, r)?);
        if n > KEEP_UP_TO {
            // Tens of GB, rebuilt in minutes: the disk goes back to the other sections.
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if let (Some(first), Some(last)) = (measured.first(), measured.last()) {
        if measured.len() >= 2 {
            let (a, b) = (size_name(first.sequences), size_name(last.sequences));
            for (key, what, x, y) in [
                ("probe", "entry probe", first.probe_us, last.probe_us),
                ("cold", "cold open + get", first.cold_ms, last.cold_ms),
                (
                    "commit",
                    "1,000-record commit",
                    first.commit_ms,
                    last.commit_ms,
                ),
            ] {
                r.add(
                    &format!("index_only_{key}_ratio"),
                    &format!("index-only {what}, {b} against {a}"),
                    y / x,
                    "x",
                    String::new(),
                );
            }
        }
    }
    Ok(measured)
}
