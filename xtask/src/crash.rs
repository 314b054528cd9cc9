//! `cargo xtask crash`: SIGKILL the real `sequoia import` at seeded random moments and
//! check, after every kill, that the store opens without repair, verifies, holds every
//! record of every import that had reported success, shows each import all-or-nothing,
//! and shows no record that was never imported.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{Residues, Rng};

type Record = (String, String);

struct Options {
    kills: usize,
    seed: u64,
    bin: Option<PathBuf>,
    files: usize,
    records: usize,
    /// The pack layout imports write (`--format`).
    format: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        kills: 200,
        seed: 1,
        bin: None,
        files: 8,
        records: 1500,
        format: "v2".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kills" => o.kills = crate::option_value(&mut it, "--kills")?,
            "--seed" => o.seed = crate::option_value(&mut it, "--seed")?,
            "--bin" => o.bin = Some(crate::option_value(&mut it, "--bin")?),
            "--records" => o.records = crate::option_value(&mut it, "--records")?,
            "--format" => o.format = crate::option_value(&mut it, "--format")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// FASTA records of one import file: distinct headers, residues shared between files.
fn write_inputs(dir: &Path, o: &Options) -> Result<Vec<(PathBuf, Vec<Record>)>, String> {
    let mut rng = Rng::new(o.seed);
    let aa = Residues::protein();
    let pool: Vec<Vec<u8>> = (0..o.records * 2)
        .map(|_| aa.protein_sequence(&mut rng))
        .collect();
    let mut out = Vec::new();
    for f in 0..o.files {
        let mut text = String::new();
        let mut recs = Vec::new();
        for i in 0..o.records {
            let s = String::from_utf8(pool[rng.below(pool.len() as u64) as usize].clone())
                .expect("ASCII");
            let h = format!("imp{f}_{i} crash harness record");
            text.push('>');
            text.push_str(&h);
            text.push('\n');
            for line in s.as_bytes().chunks(60) {
                text.push_str(std::str::from_utf8(line).expect("ASCII"));
                text.push('\n');
            }
            recs.push((h, s));
        }
        let path = dir.join(format!("imp{f}.fasta"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((path, recs));
    }
    Ok(out)
}

fn records(fasta: &[u8]) -> HashSet<Record> {
    let text = String::from_utf8_lossy(fasta);
    let mut out = HashSet::new();
    let mut cur: Option<Record> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('>') {
            out.extend(cur.take());
            cur = Some((h.to_string(), String::new()));
        } else if let Some(c) = cur.as_mut() {
            c.1.push_str(line);
        }
    }
    out.extend(cur);
    out
}

fn sequoia(bin: &Path, store: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(bin)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let root = crate::workspace_root();
    let bin = match &o.bin {
        Some(b) => b.clone(),
        None => crate::release_binary()?,
    };
    let work = root.join("target/crash");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let inputs = write_inputs(&work, &o)?;
    let store = work.join("store");

    // How long one import takes, to spread kills over its whole life.
    let probe = work.join("probe");
    let started = Instant::now();
    let out = sequoia(
        &bin,
        &probe,
        &[
            "import",
            "--pack-size",
            "65536",
            "--format",
            &o.format,
            inputs[0].0.to_str().expect("UTF-8 path"),
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "probe import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let span = started.elapsed().as_micros() as u64 * 3 / 2 + 1;

    let mut rng = Rng::new(o.seed ^ 0x5eed);
    let mut committed = vec![false; inputs.len()];
    let (mut finished, mut killed, mut leftover_notes) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    for k in 0..o.kills {
        let f = rng.below(inputs.len() as u64) as usize;
        // Mostly imports; now and then a compaction or a gc, which must change nothing
        // visible wherever they are killed.
        let op = match rng.below(10) {
            0 => "compact",
            1 => "gc",
            _ => "import",
        };
        let mut command = Command::new(&bin);
        command.arg("--store").arg(&store).arg(op);
        if op == "import" {
            command
                .args(["--pack-size", "65536", "--format", &o.format])
                .arg(&inputs[f].0);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        std::thread::sleep(Duration::from_micros(rng.below(span)));
        let _ = child.kill();
        let status = child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            if op == "import" {
                committed[f] = true;
            }
            finished += 1;
        } else {
            killed += 1;
        }
        let fail = |what: String| format!("kill {k} (seed {}, {op} imp{f}): {what}", o.seed);
        if !store.exists() {
            // Killed before the first import created the store: nothing was ever
            // committed, and there is nothing to check.
            if committed.iter().any(|c| *c) {
                return Err(fail("the store directory is gone".into()));
            }
            continue;
        }
        let v = sequoia(&bin, &store, &["verify"])?;
        let vtext = String::from_utf8_lossy(&v.stdout).into_owned();
        if !v.status.success() {
            return Err(fail(format!(
                "verify failed:\n{vtext}{}",
                String::from_utf8_lossy(&v.stderr)
            )));
        }
        leftover_notes = vtext
            .lines()
            .filter(|l| l.starts_with("note: leftover"))
            .count();
        let e = sequoia(&bin, &store, &["export", "--width", "0"])?;
        if !e.status.success() {
            return Err(fail(format!(
                "export failed: {}",
                String::from_utf8_lossy(&e.stderr)
            )));
        }
        let visible = records(&e.stdout);
        let mut known = 0usize;
        for (i, (_, recs)) in inputs.iter().enumerate() {
            let present = recs.iter().filter(|r| visible.contains(*r)).count();
            known += present;
            if committed[i] && present != recs.len() {
                return Err(fail(format!(
                    "imp{i} reported success but {} of its {} records are missing",
                    recs.len() - present,
                    recs.len()
                )));
            }
            if present != 0 && present != recs.len() {
                return Err(fail(format!(
                    "imp{i} is partly visible: {present} of {} records",
                    recs.len()
                )));
            }
            if present == recs.len() {
                committed[i] = true;
            }
        }
        if known != visible.len() {
            return Err(fail(format!(
                "{} visible records were never imported",
                visible.len() - known
            )));
        }
    }
    println!(
        "crash: {} kills (seed {}) of imports ({} packs), compactions and gcs: {killed} while running, {finished} after they finished; \
         every kill left a store that opened and verified, with every reported import whole, \
         every import all-or-nothing, nothing never imported; {leftover_notes} leftover files of killed runs reported at the end (the random gcs remove them); one import takes about {} ms; {:.1} s",
        o.kills,
        o.seed,
        o.format,
        span * 2 / 3 / 1000,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
