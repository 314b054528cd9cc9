//! `cargo xtask bench`: SEQUOIA against the physical limits of this machine, in one run.
//!
//! Every figure is a median of `--runs` runs (spread reported) and sits beside the anchors
//! measured in the same run on the same input (`cat`, `openssl dgst -sha256`, `zstd`), so
//! that ratios hold on a noisy machine. Results: a table on stdout, `target/bench/results.json`,
//! `target/bench/performance.md` (copied into `docs/performance.md` with commentary) and
//! `target/bench/*.svg` plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use pack_format::{Representation, SequenceHash};
use sequoia_store::{
    accessions, import_fasta, PackedSequenceStorage, SequenceDigests, SequenceId, StoreOptions,
    StoreStats,
};

use crate::fixtures::{Residues, Rng};

pub(crate) struct Options {
    pub(crate) runs: usize,
    data: Option<PathBuf>,
    scale: Vec<u64>,
    keys: usize,
    /// Sections to run (`real`, `fixtures`, `scale`, `commits`, `billion`); empty for all.
    only: Vec<String>,
    /// Sizes of the index-only stores (section `billion`).
    index_only: Vec<u64>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        runs: 3,
        data: None,
        scale: vec![1_000_000, 10_000_000],
        keys: 100_000,
        only: Vec::new(),
        index_only: vec![1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => o.runs = crate::option_value(&mut it, "--runs")?,
            "--data" => o.data = Some(crate::option_value(&mut it, "--data")?),
            "--keys" => o.keys = crate::option_value(&mut it, "--keys")?,
            "--only" => {
                o.only = crate::option_value::<String>(&mut it, "--only")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for s in &o.only {
                    if !SECTIONS.contains(&s.as_str()) {
                        return Err(format!("--only: no section {s} (sections: {SECTIONS:?})"));
                    }
                }
            }
            "--scale" => o.scale = sizes(&mut it, "--scale")?,
            "--index-only" => o.index_only = sizes(&mut it, "--index-only")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    o.runs = o.runs.max(1);
    Ok(o)
}

/// A list of sizes (`1M,10M,500K`) after `option`.
fn sizes(it: &mut std::slice::Iter<'_, String>, option: &str) -> Result<Vec<u64>, String> {
    crate::option_value::<String>(it, option)?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let s = s.trim().to_ascii_uppercase();
            let (n, mul) = match s.strip_suffix('M') {
                Some(n) => (n, 1_000_000),
                None => match s.strip_suffix('K') {
                    Some(n) => (n, 1000),
                    None => (s.as_str(), 1),
                },
            };
            n.parse::<u64>()
                .map(|n| n * mul)
                .map_err(|e| format!("{option}: {e}"))
        })
        .collect()
}

/// The bench's sections, in the order they run.
const SECTIONS: [&str; 8] = [
    "real", "fixtures", "scale", "commits", "billion", "s3", "python", "size",
];

impl Options {
    fn runs_section(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == name)
    }
}

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Stat {
    pub(crate) fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        Stat {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        }
    }
    fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }
}

#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<(String, String, String)>,
    json: BTreeMap<String, f64>,
}

impl Report {
    pub(crate) fn add(&mut self, key: &str, label: &str, value: f64, unit: &str, note: String) {
        self.json.insert(key.to_string(), value);
        let v = if value >= 100.0 {
            format!("{value:.0} {unit}")
        } else {
            format!("{value:.2} {unit}")
        };
        println!("{label:<58} {v:>18}  {note}");
        self.rows.push((label.to_string(), v, note));
    }
    pub(crate) fn timed(
        &mut self,
        key: &str,
        label: &str,
        s: Stat,
        per: f64,
        unit: &str,
        note: &str,
    ) {
        let rate = per / s.median;
        let spread = s.spread();
        let mut n = format!("median {:.3} s of {:.3}..{:.3}", s.median, s.min, s.max);
        if spread > 0.2 {
            let _ = write!(n, " (WIDE spread {:.0}%)", spread * 100.0);
        }
        if !note.is_empty() {
            let _ = write!(n, "; {note}");
        }
        self.json.insert(format!("{key}_seconds"), s.median);
        self.add(key, label, rate, unit, n);
    }
}

pub(crate) fn sh(cmd: &str) -> Result<(f64, std::process::Output), String> {
    let t = Instant::now();
    let out = Command::new("bash")
        .args(["-c", cmd])
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((secs, out))
}

/// Seconds of `sequoia --store STORE ARGS`, its output discarded.
pub(crate) fn sequoia_secs(bin: &Path, store: &Path, args: &str) -> Result<f64, String> {
    sh(&format!(
        "{} --store {} {args} > /dev/null",
        bin.display(),
        store.display()
    ))
    .map(|x| x.0)
}

pub(crate) fn repeat(
    runs: usize,
    mut f: impl FnMut() -> Result<f64, String>,
) -> Result<Stat, String> {
    let mut v = Vec::new();
    for _ in 0..runs {
        v.push(f()?);
    }
    Ok(Stat::of(v))
}

pub(crate) fn have(tool: &str) -> bool {
    Command::new("bash")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn ensure_tools() {
    let missing: Vec<&str> = ["zstd", "openssl", "wrk"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        eprintln!("installing {missing:?} with apt-get");
        let _ = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q {}",
                    missing.join(" ")
                ),
            ])
            .status();
    }
}

fn find_data(o: &Options) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = &o.data {
        candidates.push(d.clone());
    }
    if let Ok(d) = std::env::var("SEQUOIA_DATA") {
        candidates.push(PathBuf::from(d));
    }
    if let Ok(h) = std::env::var("HOME") {
        candidates.push(PathBuf::from(h).join(".cache/sequoia-data"));
    }
    candidates.push(PathBuf::from("/work/data"));
    candidates
        .into_iter()
        .map(|d| d.join("protein_all.fasta"))
        .find(|p| p.is_file())
}

/// Writes `input` followed by a copy of it with every sequence reversed and every header
/// prefixed with `X`: twice the records, twice the distinct sequences and representations
/// (kept from an earlier run when newer than the input).
fn write_doubled(input: &Path, output: &Path) -> Result<(), String> {
    use std::io::{BufRead, BufWriter, Write};
    let newer = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if newer(output).is_some() && newer(output) >= newer(input) {
        return Ok(());
    }
    let err = |e: std::io::Error| format!("{}: {e}", output.display());
    let temp = output.with_extension("fasta.tmp");
    let mut w = BufWriter::new(std::fs::File::create(&temp).map_err(err)?);
    std::io::copy(
        &mut std::fs::File::open(input).map_err(|e| format!("{}: {e}", input.display()))?,
        &mut w,
    )
    .map_err(err)?;
    let record = |header: &str, residues: &mut Vec<u8>, w: &mut BufWriter<_>| {
        if header.is_empty() {
            return Ok::<_, std::io::Error>(());
        }
        residues.reverse();
        writeln!(w, ">X{header}")?;
        for line in residues.chunks(60) {
            w.write_all(line)?;
            w.write_all(b"\n")?;
        }
        residues.clear();
        Ok(())
    };
    let reader = std::io::BufReader::new(
        std::fs::File::open(input).map_err(|e| format!("{}: {e}", input.display()))?,
    );
    let (mut header, mut residues) = (String::new(), Vec::new());
    for line in reader.lines() {
        let line = line.map_err(|e| format!("{}: {e}", input.display()))?;
        if let Some(h) = line.strip_prefix('>') {
            record(&header, &mut residues, &mut w).map_err(err)?;
            header = h.to_string();
        } else {
            residues.extend_from_slice(line.trim_end().as_bytes());
        }
    }
    record(&header, &mut residues, &mut w).map_err(err)?;
    w.into_inner()
        .map_err(|e| err(e.into_error()))?
        .sync_all()
        .map_err(err)?;
    std::fs::rename(&temp, output).map_err(err)
}

/// Wall time and peak RSS (MB) of `runs` runs of `cmd`, each after `prepare`.
fn repeat_rss(
    runs: usize,
    mut prepare: impl FnMut() -> Result<(), String>,
    cmd: &str,
) -> Result<(Stat, Stat), String> {
    let mut rss = Vec::new();
    let secs = repeat(runs, || {
        prepare()?;
        let (secs, kb) = timed_rss(cmd)?;
        rss.push(kb as f64 / 1024.0);
        Ok(secs)
    })?;
    Ok((secs, Stat::of(rss)))
}

/// Peak RSS (KB) and wall time of a command, through /usr/bin/time.
pub(crate) fn timed_rss(cmd: &str) -> Result<(f64, u64), String> {
    let (secs, out) = sh(&format!(
        "/usr/bin/time -f 'RSS %M' {cmd} 2>&1 >/dev/null | tail -1"
    ))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb = text
        .trim()
        .strip_prefix("RSS ")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((secs, kb))
}

pub(crate) fn dir_bytes(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    for sub in ["packs", "indices"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                files += 1;
            }
        }
    }
    (bytes, files + 1)
}

pub(crate) fn sample_keys(
    store: &PackedSequenceStorage,
    n: usize,
    seed: u64,
) -> Result<Vec<SequenceHash>, String> {
    let mut all = Vec::new();
    store
        .for_each_sequence(|s| {
            all.push(s.hash);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let mut rng = Rng::new(seed);
    Ok((0..n)
        .map(|_| all[rng.below(all.len() as u64) as usize])
        .collect())
}

/// Seconds for `threads` threads to call `found` on every item of `items` (split round
/// robin) after a warm-up over the first tenth; an error unless every item is found.
fn timed_on_threads<T: Send + Sync + 'static>(
    store: &Arc<PackedSequenceStorage>,
    items: &Arc<Vec<T>>,
    threads: usize,
    found: fn(&PackedSequenceStorage, &T) -> bool,
) -> Result<f64, String> {
    // Warm the page cache and the maps once.
    for item in items.iter().take(items.len() / 10) {
        found(store, item);
    }
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let store = store.clone();
            let items = items.clone();
            std::thread::spawn(move || {
                items
                    .iter()
                    .skip(i)
                    .step_by(threads)
                    .filter(|item| found(&store, item))
                    .count()
            })
        })
        .collect();
    let n: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    if n != items.len() {
        return Err(format!("only {n} of {} found", items.len()));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Seconds of `store.get` over `keys` on `threads` threads (warm).
pub(crate) fn library_gets(
    store: &Arc<PackedSequenceStorage>,
    keys: &Arc<Vec<SequenceHash>>,
    threads: usize,
) -> Result<f64, String> {
    timed_on_threads(store, keys, threads, |s, k| {
        s.get(k).ok().flatten().is_some()
    })
}

/// Seconds of `store.get_many` over `keys` on `threads` threads (warm), each thread
/// reading its own contiguous share in one call; an error unless every key is found.
fn library_get_many(
    store: &Arc<PackedSequenceStorage>,
    keys: &Arc<Vec<SequenceHash>>,
    threads: usize,
) -> Result<f64, String> {
    let read = |store: &PackedSequenceStorage, part: &[SequenceHash]| -> Result<usize, String> {
        let mut n = 0;
        store
            .get_many(part, |_, r| n += usize::from(r.is_some()))
            .map_err(|e| e.to_string())?;
        Ok(n)
    };
    read(store, &keys[..keys.len() / 10])?;
    let share = keys.len().div_ceil(threads);
    let t = Instant::now();
    let found: Vec<Result<usize, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .chunks(share)
            .map(|part| scope.spawn(move || read(store, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a reader panicked".into())))
            .collect()
    });
    let elapsed = t.elapsed().as_secs_f64();
    let n = found.into_iter().sum::<Result<usize, String>>()?;
    if n != keys.len() {
        return Err(format!("get_many found {n} of {}", keys.len()));
    }
    Ok(elapsed)
}

/// Seconds of one `store.get_many_parallel` over `keys` on `threads` threads (warm), each
/// key's answer recorded in a slot of its own; an error unless every key is found.
fn library_get_many_parallel(
    store: &Arc<PackedSequenceStorage>,
    keys: &Arc<Vec<SequenceHash>>,
    threads: usize,
) -> Result<f64, String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let read = |part: &[SequenceHash]| -> Result<usize, String> {
        let found: Vec<AtomicBool> = part.iter().map(|_| AtomicBool::new(false)).collect();
        store
            .get_many_parallel(part, threads, |i, r| {
                found[i].store(r.is_some(), Ordering::Relaxed)
            })
            .map_err(|e| e.to_string())?;
        Ok(found.iter().filter(|f| f.load(Ordering::Relaxed)).count())
    };
    read(&keys[..keys.len() / 10])?;
    let t = Instant::now();
    let n = read(keys)?;
    let elapsed = t.elapsed().as_secs_f64();
    if n != keys.len() {
        return Err(format!("get_many_parallel found {n} of {}", keys.len()));
    }
    Ok(elapsed)
}

/// Seconds to read the residues `ids` name (`get_by`: resolve, then read) on `threads`
/// threads (warm).
fn library_resolves(
    store: &Arc<PackedSequenceStorage>,
    ids: &Arc<Vec<SequenceId>>,
    threads: usize,
) -> Result<f64, String> {
    timed_on_threads(store, ids, threads, |s, id| {
        s.get_by(id).is_ok_and(|found| !found.is_empty())
    })
}

/// Lookups by MD5, `SQ.` and accession: library (2 threads) and `sequoia get --keys`.
fn identifier_lookups(
    o: &Options,
    bin: &Path,
    out: &Path,
    store: &Path,
    lib: &Arc<PackedSequenceStorage>,
    keys: &[SequenceHash],
    r: &mut Report,
) -> Result<(), String> {
    let (mut md5, mut sq, mut acc) = (Vec::new(), Vec::new(), Vec::new());
    for k in keys {
        let rec = lib
            .get_record(k)
            .map_err(|e| e.to_string())?
            .ok_or("a sampled key is missing")?;
        let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
        md5.push(d.md5_hex());
        sq.push(d.ga4gh());
        // The accession field (P69905 of sp|P69905|..., B0RED7 of B0RED7|GO:...), else the
        // identifier.
        let header = &rec
            .representations
            .first()
            .ok_or("no representation")?
            .header;
        let a = accessions(header);
        acc.push(a.get(1).or(a.first()).ok_or("no accession")?.to_string());
    }
    let n = keys.len() as f64;
    for (name, key, texts) in [
        ("MD5", "md5", &md5),
        ("SQ.", "sq", &sq),
        ("accession", "acc", &acc),
    ] {
        let ids: Arc<Vec<SequenceId>> = Arc::new(
            texts
                .iter()
                .map(|t| SequenceId::parse(t).ok_or(format!("cannot parse {t}")))
                .collect::<Result<_, _>>()?,
        );
        let g2 = repeat(o.runs, || library_resolves(lib, &ids, 2))?;
        r.timed(
            &format!("get_{key}_lib_2t"),
            &format!("random get by {name}, library, 2 threads"),
            g2,
            n,
            "seq/s",
            "target >= 1,000,000",
        );
        let file = out.join(format!("keys_{key}.txt"));
        std::fs::write(
            &file,
            texts.iter().map(|t| format!("{t}\n")).collect::<String>(),
        )
        .map_err(|e| e.to_string())?;
        let gc = repeat(o.runs, || {
            sh(&format!(
                "{} --store {} get --keys {} > /dev/null",
                bin.display(),
                store.display(),
                file.display()
            ))
            .map(|x| x.0)
        })?;
        r.timed(
            &format!("get_{key}_cli_keys"),
            &format!("random get by {name}, sequoia get --keys"),
            gc,
            n,
            "seq/s",
            "target >= 300,000",
        );
    }
    Ok(())
}

/// `sequoia serve` under wrk on loopback: GET /sequence/{md5} of ~1 kb sequences.
fn server_throughput(
    bin: &Path,
    out: &Path,
    store: &Path,
    lib: &Arc<PackedSequenceStorage>,
    r: &mut Report,
) -> Result<(), String> {
    if !have("wrk") {
        println!("wrk not installed: server throughput skipped");
        return Ok(());
    }
    let mut paths = Vec::new();
    lib.for_each_sequence(|s| {
        if (900..=1100).contains(&s.residues.len()) && paths.len() < 20_000 {
            paths.push(format!(
                "/sequence/{}",
                SequenceDigests::with_sha256(s.hash, &s.residues).md5_hex()
            ));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    let list = out.join("wrk_paths.txt");
    std::fs::write(&list, paths.join("\n") + "\n").map_err(|e| e.to_string())?;
    let script = out.join("wrk_paths.lua");
    std::fs::write(
        &script,
        format!(
            "local paths = {{}}\nfor line in io.lines(\"{}\") do paths[#paths + 1] = line end\n\
             local i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n",
            list.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut server = Command::new(bin)
        .arg("--store")
        .arg(store)
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    if let Some(o) = server.stdout.take() {
        use std::io::BufRead;
        let _ = std::io::BufReader::new(o).read_line(&mut line);
    }
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or("")
        .to_string();
    let mut results = Vec::new();
    for _ in 0..3 {
        let (_, o) = sh(&format!(
            "wrk -t1 -c32 -d5s --latency -s {} {base}",
            script.display()
        ))?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let rps = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let non2xx = text.contains("Non-2xx");
        if non2xx {
            return Err(format!("wrk saw errors:\n{text}"));
        }
        let p99 = text
            .lines()
            .find(|l| l.trim_start().starts_with("99%"))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
            .unwrap_or_default();
        results.push((rps, p99));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (median, p99) = results[1].clone();
    r.add(
        "server_rps_1kb",
        &format!(
            "sequoia serve, GET /sequence/{{md5}} of {} ~1 kb sequences (wrk -t1 -c32)",
            paths.len()
        ),
        median,
        "req/s",
        format!(
            "min {:.0} max {:.0}, p99 {p99}; target >= 20,000",
            results[0].0, results[2].0
        ),
    );
    Ok(())
}

struct Measured {
    name: String,
    sequences: u64,
    open_ms: f64,
    lookup_us: f64,
    index_bytes_per_seq: f64,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    ensure_tools();
    let root = crate::workspace_root();
    let bin = crate::release_binary()?;
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let mut r = Report::default();
    let machine = sh("nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; free -g | awk '/Mem:/{print $2\" GiB\"}'")
        .map(|(_, o)| String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    println!("machine: {machine}; runs per figure: {}", o.runs);

    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let fasta = find_data(&o);
    if fasta.is_none() {
        println!("protein_all.fasta not found (run ../shared/datasets/protein.sh DIR, then --data DIR): real-data figures skipped");
    }
    if let (Some(fasta), true) = (&fasta, o.runs_section("real")) {
        real_data(&o, &bin, &out, fasta, &mut r, &mut curves)?;
    }
    if o.runs_section("fixtures") {
        fixtures(&o, &bin, &out, &mut r)?;
    }
    // Before the scale stores: the billion-row index wants the disk they take.
    if o.runs_section("billion") {
        index_only(&o, &bin, &out, &mut r)?;
    }
    let mut series = Vec::new();
    if o.runs_section("scale") {
        for &n in &o.scale {
            series.push(scale_store(&o, &bin, &out, n, &mut r)?);
        }
    }
    if o.runs_section("commits") {
        layered_commits(&o, &bin, &out, fasta.as_deref(), &mut r)?;
    }
    if let (Some(fasta), true) = (&fasta, o.runs_section("s3")) {
        crate::s3::bench(o.runs, &bin, &out, fasta, &mut r)?;
    }
    if let (Some(fasta), true) = (&fasta, o.runs_section("python")) {
        crate::python::bench(o.runs, &bin, &out, fasta, &mut r)?;
    }
    if let (Some(fasta), true) = (&fasta, o.runs_section("size")) {
        crate::size::bench(o.runs, o.keys, &bin, &out, fasta, &mut r)?;
    }
    if series.len() >= 2 {
        let first = &series[0];
        let last = &series[series.len() - 1];
        r.add(
            "scale_lookup_ratio",
            &format!("lookup time, {} vs {} sequences", last.name, first.name),
            last.lookup_us / first.lookup_us,
            "x",
            "target <= 2".into(),
        );
        r.add(
            "scale_open_ratio",
            &format!("cold open + get, {} vs {}", last.name, first.name),
            last.open_ms / first.open_ms,
            "x",
            "target <= 1.5".into(),
        );
    }
    write_outputs(&out, &machine, &o, &r, &series, &curves)?;
    Ok(())
}

/// The index-only series and its log-log plot.
fn index_only(o: &Options, bin: &Path, out: &Path, r: &mut Report) -> Result<(), String> {
    let measured = crate::billion::series(bin, out, &o.index_only, o.runs, r)?;
    let curve = |f: fn(&crate::billion::IndexOnly) -> f64| -> Vec<(f64, f64)> {
        measured
            .iter()
            .map(|m| (m.sequences as f64, f(m)))
            .collect()
    };
    let svg = svg_plot(
        "Index-only stores: growth with the number of sequences (log-log)",
        "sequences (log scale)",
        "log scale",
        &[
            ("entry probe, us".into(), curve(|m| m.probe_us)),
            ("cold open + get, ms".into(), curve(|m| m.cold_ms)),
            ("1,000-record commit, ms".into(), curve(|m| m.commit_ms)),
            (
                "index bytes per sequence".into(),
                curve(|m| m.bytes_per_sequence),
            ),
        ],
        true,
        true,
    );
    if !svg.is_empty() {
        std::fs::write(out.join("index_only.svg"), svg).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The layered-commit figures, on the protein_all store and the largest scale store the
/// bench has built (each built here if missing).
fn layered_commits(
    o: &Options,
    bin: &Path,
    out: &Path,
    fasta: Option<&Path>,
    r: &mut Report,
) -> Result<(), String> {
    let mut targets = Vec::new();
    let all = out.join("store_protein_all");
    let keyfile = out.join("keys.txt");
    if let Some(fasta) = fasta {
        // A store written before layers pays a one-time merge in its first commit: built
        // again, as the real-data section does.
        if !has_commit_record(&all) || !keyfile.exists() {
            let _ = std::fs::remove_dir_all(&all);
            sh(&format!(
                "{} --store {} import {} > /dev/null",
                bin.display(),
                all.display(),
                fasta.display()
            ))?;
            let lib = PackedSequenceStorage::open(&all).map_err(|e| e.to_string())?;
            let keys = sample_keys(&lib, o.keys, 7)?;
            std::fs::write(
                &keyfile,
                keys.iter().map(|k| k.to_hex() + "\n").collect::<String>(),
            )
            .map_err(|e| e.to_string())?;
        }
        let n = PackedSequenceStorage::open(&all)
            .and_then(|s| s.stats())
            .map_err(|e| e.to_string())?
            .sequences;
        targets.push(crate::commit_cost::Target {
            key: "protein_all".into(),
            label: format!("protein_all ({n} sequences)"),
            dir: all.clone(),
        });
    }
    if let Some(&n) = o.scale.iter().max() {
        let name = scale_name(n);
        let dir = out.join(format!("scale_{name}"));
        if !dir.join(SCALE_MARKER).exists() {
            scale_store(o, bin, out, n, r)?;
        }
        targets.push(crate::commit_cost::Target {
            key: format!("scale_{name}"),
            label: format!("the {name} scale store"),
            dir,
        });
    }
    crate::commit_cost::commit_into_stores(o, bin, out, &targets, r)?;
    crate::commit_cost::import_memory_past_runs(o, bin, out, r)?;
    if fasta.is_some() {
        crate::commit_cost::many_small_commits(o, bin, out, &all, &keyfile, r)?;
    }
    Ok(())
}

fn real_data(
    o: &Options,
    bin: &Path,
    out: &Path,
    fasta: &Path,
    r: &mut Report,
    curves: &mut Vec<(String, Vec<(f64, f64)>)>,
) -> Result<(), String> {
    let f = fasta.display();
    let size = std::fs::metadata(fasta).map_err(|e| e.to_string())?.len() as f64;
    let mb = size / 1e6;
    let records = std::fs::read(fasta)
        .map(|b| b.iter().filter(|&&c| c == b'>').count())
        .unwrap_or(0) as f64;
    println!("\n== protein_all.fasta: {records} records, {mb:.0} MB ==");
    // Anchors.
    let mut anchors = BTreeMap::new();
    for (key, label, command) in [
        ("anchor_cat_mb_s", "anchor: cat", format!("cat {f}")),
        (
            "anchor_sha256_mb_s",
            "anchor: openssl dgst -sha256",
            format!("openssl dgst -sha256 {f}"),
        ),
        (
            "anchor_zstd3_t1_mb_s",
            "anchor: zstd -3 -T1",
            format!("zstd -3 -T1 -c {f}"),
        ),
        (
            "anchor_zstd3_t2_mb_s",
            "anchor: zstd -3 -T2",
            format!("zstd -3 -T2 -c {f}"),
        ),
    ] {
        let t = repeat(o.runs, || {
            sh(&format!("{command} > /dev/null")).map(|x| x.0)
        })?;
        r.timed(key, label, t, mb, "MB/s", "");
        anchors.insert(key, t);
    }
    let z2 = anchors["anchor_zstd3_t2_mb_s"];
    let (_, long) = sh(&format!("zstd -3 --long=31 -T1 -c {f} | wc -c"))?;
    let long_mb = String::from_utf8_lossy(&long.stdout)
        .trim()
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1e6;
    r.add(
        "anchor_zstd3_long_mb",
        "anchor: zstd -3 --long=31 output",
        long_mb,
        "MB",
        String::new(),
    );

    // Import, three times into fresh stores.
    let store = out.join("store_protein_all");
    let (import, rss) = repeat_rss(
        o.runs,
        || {
            let _ = std::fs::remove_dir_all(&store);
            Ok(())
        },
        &format!("{} --store {} import {f}", bin.display(), store.display()),
    )?;
    r.timed(
        "import_records_s",
        "import protein_all: records/s",
        import,
        records,
        "rec/s",
        "target >= 1,000,000",
    );
    r.timed(
        "import_mb_s",
        "import protein_all: MB/s of FASTA",
        import,
        mb,
        "MB/s",
        &format!(
            "zstd -3 -T2 takes {:.2} s: ratio {:.2}",
            z2.median,
            import.median / z2.median
        ),
    );
    r.add(
        "import_peak_rss_mb",
        "import protein_all: peak RSS",
        rss.median,
        "MB",
        "target <= 512".into(),
    );
    // Flatness: the same import over twice the distinct content.
    let double = out.join("protein_double.fasta");
    write_doubled(fasta, &double)?;
    let double_store = out.join("store_protein_double");
    // Its peak moves by about 30 MB from run to run: a median, as for protein_all.
    let (double_secs, double_rss) = repeat_rss(
        o.runs,
        || {
            let _ = std::fs::remove_dir_all(&double_store);
            Ok(())
        },
        &format!(
            "{} --store {} import {}",
            bin.display(),
            double_store.display(),
            double.display()
        ),
    )?;
    let _ = std::fs::remove_dir_all(&double_store);
    r.add(
        "import_double_peak_rss_mb",
        "import of the input doubled: peak RSS",
        double_rss.median,
        "MB",
        format!(
            "{:.2}x of protein_all's (median of {:.0}..{:.0} MB); target <= 1.2x ({:.2} s)",
            double_rss.median / rss.median,
            double_rss.min,
            double_rss.max,
            double_secs.median
        ),
    );
    let bytes = store_bytes(&store, "", r);

    // De-duplicated FASTA and its compressibility.
    let dedup = out.join("protein_all.dedup.fa");
    sh(&format!(
        "{} --store {} export --dedup > {}",
        bin.display(),
        store.display(),
        dedup.display()
    ))?;
    let (_, z3) = sh(&format!("zstd -3 -T2 -c {} | wc -c", dedup.display()))?;
    let z3_mb = String::from_utf8_lossy(&z3.stdout)
        .trim()
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1e6;
    r.add(
        "anchor_dedup_zstd3_mb",
        "anchor: zstd -3 of export --dedup",
        z3_mb,
        "MB",
        format!(
            "store is {:.2}x of it; target <= 1",
            bytes as f64 / 1e6 / z3_mb
        ),
    );
    let cache = out.join("dedup.zstd19.size");
    let dsize = std::fs::metadata(&dedup).map(|m| m.len()).unwrap_or(0);
    let cached = std::fs::read_to_string(&cache).ok().and_then(|t| {
        let mut it = t.split_whitespace();
        (it.next()?.parse::<u64>().ok()? == dsize)
            .then(|| it.next()?.parse::<f64>().ok())
            .flatten()
    });
    let z19 = match cached {
        Some(v) => v,
        None => {
            let (_, o19) = sh(&format!("zstd -19 -T2 -c {} | wc -c", dedup.display()))?;
            let v = String::from_utf8_lossy(&o19.stdout)
                .trim()
                .parse::<f64>()
                .unwrap_or(0.0)
                / 1e6;
            let _ = std::fs::write(&cache, format!("{dsize} {v}"));
            v
        }
    };
    r.add(
        "anchor_dedup_zstd19_mb",
        "anchor: zstd -19 of export --dedup (cached)",
        z19,
        "MB",
        format!("store is {:.2}x of it", bytes as f64 / 1e6 / z19),
    );

    // Random gets.
    let lib = Arc::new(PackedSequenceStorage::open(&store).map_err(|e| e.to_string())?);
    let keys = Arc::new(sample_keys(&lib, o.keys, 7)?);
    let keyfile = out.join("keys.txt");
    std::fs::write(
        &keyfile,
        keys.iter().map(|k| k.to_hex() + "\n").collect::<String>(),
    )
    .map_err(|e| e.to_string())?;
    let per = index_and_gets(o, bin, &store, &lib, &keys, &keyfile, "", r)?;
    identifier_lookups(o, bin, out, &store, &lib, &keys, r)?;
    server_throughput(bin, out, &store, &lib, r)?;
    let one = keys[0].to_hex();
    let cold = repeat(o.runs.max(10), || {
        sh(&format!(
            "{} --store {} get {one} > /dev/null",
            bin.display(),
            store.display()
        ))
        .map(|x| x.0)
    })?;
    r.add(
        "cold_get_ms",
        "cold process: open store + get 1 (ms)",
        cold.median * 1e3,
        "ms",
        format!(
            "min {:.1} max {:.1}; target <= 10",
            cold.min * 1e3,
            cold.max * 1e3
        ),
    );
    let (_, open_kb) = timed_rss(&format!(
        "{} --store {} get {one}",
        bin.display(),
        store.display()
    ))?;
    r.add(
        "cold_get_rss_mb",
        "cold process peak RSS (open + get 1)",
        open_kb as f64 / 1024.0,
        "MB",
        "target <= 32 (open only)".into(),
    );

    // Export and verify.
    export_and_verify(o, bin, &store, per.pack_bytes, "", r)?;

    repacked(o, bin, out, &store, &keyfile, &keys, r)?;
    one_sequence_per_block(o, bin, out, fasta, &keyfile, &keys, r)?;

    // Import throughput over the run, in-process, for the plot.
    let tstore = out.join("store_curve");
    let _ = std::fs::remove_dir_all(&tstore);
    let st = PackedSequenceStorage::open_writer(&tstore, StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let input = sequoia_store::fasta::open_input(&fasta.display().to_string())
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut points = Vec::new();
    let mut last = (0.0f64, 0u64);
    import_fasta(&st, input, "protein_all.fasta", "bench", &mut |bytes, _| {
        let t = t0.elapsed().as_secs_f64();
        if t - last.0 > 0.1 {
            points.push((t, (bytes - last.1) as f64 / 1e6 / (t - last.0)));
            last = (t, bytes);
        }
    })
    .map_err(|e| e.to_string())?;
    st.commit().map_err(|e| e.to_string())?;
    curves.push((
        "protein_all import, MB/s of FASTA over time (s)".into(),
        points,
    ));
    drop(st);
    let _ = std::fs::remove_dir_all(&tstore);
    Ok(())
}

/// `sequoia repack` on a copy of the imported store (the old packs it names deleted), and
/// the figures repacking changes: bytes, gets, export, verify.
fn repacked(
    o: &Options,
    bin: &Path,
    out: &Path,
    store: &Path,
    keyfile: &Path,
    keys: &Arc<Vec<SequenceHash>>,
    r: &mut Report,
) -> Result<(), String> {
    let copy = out.join("store_protein_all_repacked");
    let (t, rss) = repeat_rss(
        o.runs,
        || {
            let _ = std::fs::remove_dir_all(&copy);
            sh(&format!("cp -r {} {}", store.display(), copy.display())).map(|_| ())
        },
        &format!("{} --store {} repack", bin.display(), copy.display()),
    )?;
    r.add(
        "repack_s",
        "repack protein_all store (s)",
        t.median,
        "s",
        format!("{:.2}..{:.2}; peak RSS {:.0} MB", t.min, t.max, rss.median),
    );
    sh(&format!("{} --store {} gc", bin.display(), copy.display()))?;
    variant_figures(o, bin, &copy, keyfile, keys, "repacked_", r)
}

/// The same input imported with `--block-size 1` (every sequence in a block of its own),
/// once: the figures that trade changes (bytes, gets, export, verify).
fn one_sequence_per_block(
    o: &Options,
    bin: &Path,
    out: &Path,
    fasta: &Path,
    keyfile: &Path,
    keys: &Arc<Vec<SequenceHash>>,
    r: &mut Report,
) -> Result<(), String> {
    let store = out.join("store_protein_all_block1");
    let _ = std::fs::remove_dir_all(&store);
    let (t, _) = sh(&format!(
        "{} --store {} import --block-size 1 {} > /dev/null",
        bin.display(),
        store.display(),
        fasta.display()
    ))?;
    r.add(
        "block1_import_s",
        "--block-size 1: import wall time (one run)",
        t,
        "s",
        String::new(),
    );
    variant_figures(o, bin, &store, keyfile, keys, "block1_", r)?;
    let _ = std::fs::remove_dir_all(&store);
    Ok(())
}

/// The figures a variant of the imported store (repacked, `--block-size 1`) is compared
/// on, under keys starting with `prefix`: bytes, index bytes, gets, export, verify.
fn variant_figures(
    o: &Options,
    bin: &Path,
    store: &Path,
    keyfile: &Path,
    keys: &Arc<Vec<SequenceHash>>,
    prefix: &str,
    r: &mut Report,
) -> Result<(), String> {
    store_bytes(store, prefix, r);
    let lib = Arc::new(PackedSequenceStorage::open(store).map_err(|e| e.to_string())?);
    let per = index_and_gets(o, bin, store, &lib, keys, keyfile, prefix, r)?;
    export_and_verify(o, bin, store, per.pack_bytes, prefix, r)
}

/// Reports the bytes and files of `store` under `{prefix}store_mb`; returns the bytes.
fn store_bytes(store: &Path, prefix: &str, r: &mut Report) -> u64 {
    let (bytes, files) = dir_bytes(store);
    r.add(
        &format!("{prefix}store_mb"),
        &format!("{}store bytes (packs + indexes)", label_of(prefix)),
        bytes as f64 / 1e6,
        "MB",
        format!("{files} files"),
    );
    bytes
}

/// The label prefix for figures whose keys start with `prefix`: "repacked_" ->
/// "repacked: ", "block1_" -> "--block-size 1: ", "" -> "".
fn label_of(prefix: &str) -> String {
    match prefix.trim_end_matches('_') {
        "" => String::new(),
        "block1" => "--block-size 1: ".into(),
        label => format!("{label}: "),
    }
}

/// Index bytes per sequence, random gets through the library (1 and 2 threads) and
/// through `sequoia get --keys KEYFILE`, under keys starting with `prefix` (labels too,
/// see [`label_of`]). Returns the store's statistics.
#[allow(clippy::too_many_arguments)]
fn index_and_gets(
    o: &Options,
    bin: &Path,
    store: &Path,
    lib: &Arc<PackedSequenceStorage>,
    keys: &Arc<Vec<SequenceHash>>,
    keyfile: &Path,
    prefix: &str,
    r: &mut Report,
) -> Result<StoreStats, String> {
    let label = label_of(prefix);
    let per = lib.stats().map_err(|e| e.to_string())?;
    r.add(
        &format!("{prefix}index_bytes_per_sequence"),
        &format!("{label}index bytes per sequence"),
        per.index_bytes as f64 / per.sequences as f64,
        "B",
        "target <= 48".into(),
    );
    let nkeys = keys.len() as f64;
    type Gets =
        fn(&Arc<PackedSequenceStorage>, &Arc<Vec<SequenceHash>>, usize) -> Result<f64, String>;
    let ways: [(&str, &str, Gets); 2] = [
        ("get", "random get", library_gets),
        (
            "get_many",
            "random get_many (a batch read in pack order)",
            library_get_many,
        ),
    ];
    for (key, name, gets) in ways {
        for (threads, what, target) in
            [(1, "1 thread", ""), (2, "2 threads", "target >= 1,000,000")]
        {
            let g = repeat(o.runs, || gets(lib, keys, threads))?;
            r.timed(
                &format!("{prefix}{key}_lib_{threads}t"),
                &format!("{label}{name}, library, {what}"),
                g,
                nkeys,
                "seq/s",
                target,
            );
        }
    }
    // One batch spread over both threads (the 1-thread case is get_many itself).
    let g = repeat(o.runs, || library_get_many_parallel(lib, keys, 2))?;
    r.timed(
        &format!("{prefix}get_many_parallel_lib_2t"),
        &format!(
            "{label}random get_many_parallel (one batch, shares cut at blocks), library, 2 threads"
        ),
        g,
        nkeys,
        "seq/s",
        "target >= 1,000,000",
    );
    let gc = repeat(o.runs, || {
        sequoia_secs(bin, store, &format!("get --keys {}", keyfile.display()))
    })?;
    r.timed(
        &format!("{prefix}get_cli_keys"),
        &format!("{label}random get, sequoia get --keys (all representations)"),
        gc,
        nkeys,
        "seq/s",
        "target >= 300,000",
    );
    Ok(per)
}

/// `export` MB/s of FASTA out and `verify` MB/s of `pack_bytes`, under keys starting with
/// `prefix` (labels too, see [`label_of`]).
fn export_and_verify(
    o: &Options,
    bin: &Path,
    store: &Path,
    pack_bytes: u64,
    prefix: &str,
    r: &mut Report,
) -> Result<(), String> {
    let command = |args: &str| format!("{} --store {} {args}", bin.display(), store.display());
    let (_, eo) = sh(&command("export | wc -c"))?;
    let export_mb = String::from_utf8_lossy(&eo.stdout)
        .trim()
        .parse::<f64>()
        .unwrap_or(0.0)
        / 1e6;
    let label = label_of(prefix);
    for (what, mb, unit, target) in [
        ("export", export_mb, "FASTA out", "target >= 1000"),
        (
            "verify",
            pack_bytes as f64 / 1e6,
            "pack bytes",
            "target >= 500",
        ),
    ] {
        let t = repeat(o.runs, || {
            sh(&command(&format!("{what} > /dev/null"))).map(|x| x.0)
        })?;
        r.timed(
            &format!("{prefix}{what}_mb_s"),
            &format!("{label}{what} ({unit})"),
            t,
            mb,
            "MB/s",
            target,
        );
    }
    Ok(())
}

fn fixtures(o: &Options, bin: &Path, out: &Path, r: &mut Report) -> Result<(), String> {
    let dir = out.join("fixtures");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    crate::fixtures::generate(&crate::fixtures::Options {
        out: dir.clone(),
        records: 200_000,
        dup_share: 0.3,
        seed: 42,
    })
    .map_err(|e| e.to_string())?;
    for name in ["protein_small.fasta", "nucleotide_small.fasta"] {
        let f = dir.join(name);
        let mb = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let records = std::fs::read(&f)
            .map(|b| b.iter().filter(|&&c| c == b'>').count())
            .unwrap_or(0) as f64;
        let store = out.join(format!("store_{name}"));
        let t = repeat(o.runs, || {
            let _ = std::fs::remove_dir_all(&store);
            sh(&format!(
                "{} --store {} import {}",
                bin.display(),
                store.display(),
                f.display()
            ))
            .map(|x| x.0)
        })?;
        println!("\n== fixture {name}: {records} records, {mb:.0} MB ==");
        r.timed(
            &format!("fixture_{name}_records_s"),
            &format!("import {name}: records/s"),
            t,
            records,
            "rec/s",
            "",
        );
        let (bytes, _) = dir_bytes(&store);
        r.add(
            &format!("fixture_{name}_store_mb"),
            &format!("{name}: store bytes"),
            bytes as f64 / 1e6,
            "MB",
            format!("input {mb:.1} MB"),
        );
    }
    Ok(())
}

/// The file that marks a scale store whole (and of this build's layout).
const SCALE_MARKER: &str = "BENCH_COMPLETE_LAYERS";

/// Sequences per commit when a scale store is built.
const SCALE_COMMIT: u64 = 20_000_000;

/// A store of `n` short synthetic sequences (30-60 residues), put directly through the
/// library (in commits of `SCALE_COMMIT`): lookup latency, cold open, index size.
fn scale_store(
    o: &Options,
    bin: &Path,
    out: &Path,
    n: u64,
    r: &mut Report,
) -> Result<Measured, String> {
    let name = scale_name(n);
    let dir = out.join(format!("scale_{name}"));
    println!("\n== scale series: {name} short sequences ==");
    // Stores built before the alias indexes existed lack them, those built before v2
    // packs went without index files have one per pack, and those built before hash tags
    // repeat every hash in the blocks, those whose commit record holds location rows
    // instead of entry rows, those whose alias rows hold whole digests (before
    // 2026-12-01), those with 8-byte keys in their alias and entry rows, and those whose
    // keys repeat the bytes their fan-out slot implies and whose entry rows hold 3-byte
    // pack ids and entry numbers (before 2026-12-02), and those without index layers
    // (before 2026-12-06): built again.
    let marker = dir.join(SCALE_MARKER);
    let aa = Residues::protein();
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        let store = PackedSequenceStorage::open_writer(&dir, StoreOptions::default())
            .map_err(|e| e.to_string())?;
        let mut rng = Rng::new(n);
        let mut s = Vec::with_capacity(64);
        for i in 0..n {
            s.clear();
            let len = 30 + rng.below(31) as usize;
            s.extend((0..len).map(|_| aa.pick(&mut rng)));
            store
                .put(&s, Representation::new(format!("syn{i}"), "scale"))
                .map_err(|e| e.to_string())?;
            // A session holds its de-duplication map and index rows until it commits
            // (about 200 bytes per sequence): 100M in one session would not fit this
            // machine's memory, so the store is built in commits of SCALE_COMMIT.
            if (i + 1) % SCALE_COMMIT == 0 && i + 1 < n {
                store.commit().map_err(|e| e.to_string())?;
            }
        }
        store.commit().map_err(|e| e.to_string())?;
        println!("built in {:.1} s", t.elapsed().as_secs_f64());
        std::fs::write(&marker, b"").map_err(|e| e.to_string())?;
    }
    let lib = Arc::new(PackedSequenceStorage::open(&dir).map_err(|e| e.to_string())?);
    let stats = lib.stats().map_err(|e| e.to_string())?;
    // Keys: regenerate the same sequences' hashes for a sample of indices.
    let mut rng = Rng::new(n);
    let mut s = Vec::with_capacity(64);
    let mut sample = Vec::new();
    let mut md5_ids = Vec::new();
    let mut pick = Rng::new(3);
    let wanted: std::collections::BTreeSet<u64> =
        (0..o.keys.min(n as usize)).map(|_| pick.below(n)).collect();
    for i in 0..n {
        s.clear();
        let len = 30 + rng.below(31) as usize;
        s.extend((0..len).map(|_| aa.pick(&mut rng)));
        if wanted.contains(&i) {
            sample.push(SequenceHash::of_residues(&s));
            md5_ids.push(SequenceId::Md5(SequenceDigests::of(&s).md5));
        }
    }
    // Gathered in the order the sequences were put, the sample would read the packs front
    // to back (neighbours in one block, in the smaller stores): shuffled, every get is
    // random.
    shuffle(&mut sample, &mut pick);
    shuffle(&mut md5_ids, &mut pick);
    let keys = Arc::new(sample);
    // Time per key of each way of reading, 1 thread.
    let mut per_key = |key: &str, what: &str, g: Stat, n: usize| -> f64 {
        let us = g.median / n as f64 * 1e6;
        r.add(
            &format!("scale_{name}_{key}"),
            &format!("{name}: {what}, library, 1 thread"),
            us,
            "us",
            format!("{n} keys"),
        );
        us
    };
    let g = repeat(o.runs, || library_gets(&lib, &keys, 1))?;
    let lookup_us = per_key("lookup_us", "random get latency", g, keys.len());
    // The same keys in one batch: in a store much larger than the batch, keys almost never
    // share a block, so this shows what reading in pack order gains without that.
    let g = repeat(o.runs, || library_get_many(&lib, &keys, 1))?;
    per_key(
        "get_many_us",
        "random get_many, time per key",
        g,
        keys.len(),
    );
    let md5_ids = Arc::new(md5_ids);
    let g = repeat(o.runs, || library_resolves(&lib, &md5_ids, 1))?;
    per_key(
        "md5_lookup_us",
        "random get by MD5 latency",
        g,
        md5_ids.len(),
    );
    let one = keys[0].to_hex();
    let cold = repeat(o.runs.max(10), || {
        sh(&format!(
            "{} --store {} get {one} > /dev/null",
            bin.display(),
            dir.display()
        ))
        .map(|x| x.0)
    })?;
    r.add(
        &format!("scale_{name}_cold_ms"),
        &format!("{name}: cold process open + get 1"),
        cold.median * 1e3,
        "ms",
        format!("min {:.1} max {:.1}", cold.min * 1e3, cold.max * 1e3),
    );
    let ib = stats.index_bytes as f64 / stats.sequences as f64;
    r.add(
        &format!("scale_{name}_index_b_per_seq"),
        &format!("{name}: index bytes per sequence"),
        ib,
        "B",
        format!(
            "store {:.0} MB",
            (stats.pack_bytes + stats.index_bytes) as f64 / 1e6
        ),
    );
    Ok(Measured {
        name,
        sequences: stats.sequences,
        open_ms: cold.median * 1e3,
        lookup_us,
        index_bytes_per_seq: ib,
    })
}

/// Whether `store` has a commit record (was written with index layers).
fn has_commit_record(store: &Path) -> bool {
    std::fs::read_dir(store.join("indices")).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("commit-"))
    })
}

/// `1M`, `100M`, `500K`: a scale store's name.
fn scale_name(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}K", n / 1000)
    }
}

/// Fisher-Yates.
fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

fn svg_plot(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[(String, Vec<(f64, f64)>)],
    logx: bool,
    logy: bool,
) -> String {
    let (w, h, m) = (640.0, 360.0, 50.0);
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.1.iter().copied()).collect();
    if pts.is_empty() {
        return String::new();
    }
    let tx = |x: f64| if logx { x.max(1.0).log10() } else { x };
    let (x0, x1) = pts.iter().fold((f64::MAX, f64::MIN), |a, p| {
        (a.0.min(tx(p.0)), a.1.max(tx(p.0)))
    });
    // A log y axis spans the decades of the values; a linear one starts at zero.
    let ty = |y: f64| if logy { y.max(1e-3).log10() } else { y };
    let (y0, y1) = if logy {
        pts.iter().fold((f64::MAX, f64::MIN), |a, p| {
            (a.0.min(ty(p.1).floor()), a.1.max(ty(p.1).ceil()))
        })
    } else {
        (0.0, pts.iter().fold(0.0f64, |a, p| a.max(p.1)) * 1.1)
    };
    let sx = |x: f64| m + (tx(x) - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (ty(y) - y0) / (y1 - y0).max(1e-9) * (h - 2.0 * m);
    let mut s = format!("<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='{m}' y='20' font-size='14'>{title}</text>\n<line x1='{m}' y1='{}' x2='{}' y2='{}' stroke='black'/>\n<line x1='{m}' y1='{m}' x2='{m}' y2='{}' stroke='black'/>\n<text x='{}' y='{}'>{xlabel}</text>\n<text x='5' y='{}'>{ylabel}</text>\n<text x='5' y='{}'>{:.2}</text>\n", h - m, w - m, h - m, h - m, w / 2.0, h - 15.0, m - 10.0, m + 5.0, if logy { 10f64.powf(y1) } else { y1 });
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    for (i, (label, p)) in series.iter().enumerate() {
        let path: Vec<String> = p
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill='none' stroke='{}' stroke-width='2' points='{}'/>",
            colors[i % colors.len()],
            path.join(" ")
        );
        for (x, y) in p {
            let _ = writeln!(s, "<circle cx='{:.1}' cy='{:.1}' r='3' fill='{}'/><text x='{:.1}' y='{:.1}' font-size='10'>{}</text>", sx(*x), sy(*y), colors[i % colors.len()], sx(*x) + 4.0, sy(*y) - 4.0, if p.len() < 8 { format!("{y:.2}") } else { String::new() });
        }
        let _ = writeln!(
            s,
            "<text x='{}' y='{}' fill='{}'>{label}</text>",
            w - 260.0,
            m + 15.0 * i as f64,
            colors[i % colors.len()]
        );
    }
    s.push_str("</svg>\n");
    s
}

fn write_outputs(
    out: &Path,
    machine: &str,
    o: &Options,
    r: &Report,
    series: &[Measured],
    curves: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let mut json = String::from("{\n");
    let _ = writeln!(
        json,
        "  \"machine\": {:?},\n  \"runs\": {},",
        machine, o.runs
    );
    let body: Vec<String> = r
        .json
        .iter()
        .map(|(k, v)| format!("  {k:?}: {v}"))
        .collect();
    json.push_str(&body.join(",\n"));
    json.push_str("\n}\n");
    std::fs::write(out.join("results.json"), json).map_err(|e| e.to_string())?;
    let mut md = String::from("| figure | value | notes |\n|---|---|---|\n");
    for (l, v, n) in &r.rows {
        let _ = writeln!(md, "| {l} | {v} | {n} |");
    }
    std::fs::write(
        out.join("performance.md"),
        format!("Machine: {machine}. Runs per figure: {}.\n\n{md}", o.runs),
    )
    .map_err(|e| e.to_string())?;
    if !series.is_empty() {
        let lat: Vec<(f64, f64)> = series
            .iter()
            .map(|m| (m.sequences as f64, m.lookup_us))
            .collect();
        let open: Vec<(f64, f64)> = series
            .iter()
            .map(|m| (m.sequences as f64, m.open_ms))
            .collect();
        let idx: Vec<(f64, f64)> = series
            .iter()
            .map(|m| (m.sequences as f64, m.index_bytes_per_seq))
            .collect();
        let svg = svg_plot(
            "Lookup latency and cold open against store size",
            "sequences (log scale)",
            "us / ms / B",
            &[
                ("get latency, us".into(), lat),
                ("cold open + get, ms".into(), open),
                (
                    "index bytes per sequence / 10".into(),
                    idx.iter().map(|(x, y)| (*x, y / 10.0)).collect(),
                ),
            ],
            true,
            false,
        );
        std::fs::write(out.join("scale.svg"), svg).map_err(|e| e.to_string())?;
    }
    if !curves.is_empty() {
        let svg = svg_plot(
            "Import throughput over the run",
            "seconds",
            "MB/s",
            curves,
            false,
            false,
        );
        std::fs::write(out.join("import.svg"), svg).map_err(|e| e.to_string())?;
    }
    println!(
        "\nwrote {0}/results.json, {0}/performance.md, {0}/*.svg",
        out.display()
    );
    Ok(())
}
