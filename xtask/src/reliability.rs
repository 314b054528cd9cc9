//! `cargo xtask reliability`: the reliability suites at full size, with their figures.

use std::io::Write;
use std::process::Command;

pub fn run(args: &[String]) -> Result<(), String> {
    let skip_big = args.iter().any(|a| a == "--no-big-line");
    let root = crate::workspace_root();
    eprintln!(
        "==> durability model, injected faults, every byte of every file flipped (release build)"
    );
    let status = Command::new("cargo")
        .args([
            "test",
            "--release",
            "-p",
            "sequoia-store",
            "--test",
            "durability",
            "--test",
            "faults",
            "--test",
            "corruption",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SEQUOIA_FLIPS", "all")
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo test: {e}"))?;
    if !status.success() {
        return Err("a reliability suite failed".into());
    }
    let bin = crate::release_binary()?;
    crate::crash::run(&[
        "--kills".into(),
        "200".into(),
        "--bin".into(),
        bin.display().to_string(),
    ])?;
    if !skip_big {
        big_line(&bin)?;
    }
    Ok(())
}

/// A 2 GiB record on one line is valid FASTA and is accepted; the same line with a digit at
/// its end is rejected with its line and column, and the store is unchanged.
fn big_line(bin: &std::path::Path) -> Result<(), String> {
    let dir = crate::workspace_root().join("target/reliability");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let len: u64 = 2 << 30;
    for (name, tail) in [
        ("big_ok.fa", b"A\n".as_slice()),
        ("big_bad.fa", b"7\n".as_slice()),
    ] {
        let path = dir.join(name);
        let mut f = std::io::BufWriter::with_capacity(
            1 << 22,
            std::fs::File::create(&path).map_err(|e| e.to_string())?,
        );
        f.write_all(b">big one-line record\n")
            .map_err(|e| e.to_string())?;
        let chunk = b"ACDEFGHIKLMNPQRSTVWY".repeat(1 << 16);
        let mut left = len - 1;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
            left -= n as u64;
        }
        f.write_all(tail).map_err(|e| e.to_string())?;
        f.flush().map_err(|e| e.to_string())?;
    }
    let store = dir.join("store");
    let run = |file: &str| {
        let started = std::time::Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(bin)
            .arg("--store")
            .arg(&store)
            .args(["import", dir.join(file).to_str().expect("UTF-8 path")])
            .output()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((out, started.elapsed().as_secs_f64()))
    };
    let (bad, _) = run("big_bad.fa")?;
    let err = String::from_utf8_lossy(&bad.stderr).into_owned();
    if bad.status.success() || !err.contains(&format!("big_bad.fa:2:{len}")) {
        return Err(format!(
            "the 2 GiB line ending in a digit was not rejected at line 2, column {len}: {err}"
        ));
    }
    let (good, secs) = run("big_ok.fa")?;
    if !good.status.success() {
        return Err(format!(
            "the 2 GiB line was refused: {}",
            String::from_utf8_lossy(&good.stderr)
        ));
    }
    let rss_kb = String::from_utf8_lossy(&good.stderr)
        .lines()
        .last()
        .unwrap_or("0")
        .trim()
        .parse::<u64>()
        .unwrap_or(0);
    let verify = Command::new(bin)
        .arg("--store")
        .arg(&store)
        .arg("verify")
        .output()
        .map_err(|e| e.to_string())?;
    if !verify.status.success() {
        return Err("verify failed after the 2 GiB record".into());
    }
    println!(
        "big line: a {len}-residue one-line record imported in {secs:.1} s (peak RSS {} MB) and verified; \
         the same line ending in a digit rejected at line 2, column {len}",
        rss_kb / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
