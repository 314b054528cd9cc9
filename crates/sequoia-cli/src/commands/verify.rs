//! `sequoia verify`: every pack and index re-read, every sequence re-hashed.

use std::io::Write;
use std::process::ExitCode;

use super::{fail, progress_bar, Result, LEFTOVER_NOTE};
use sequoia_remote::Target;

pub fn exec(target: &Target) -> Result<ExitCode> {
    let store = target.open().map_err(fail)?;
    let total = store.stats().map_err(fail)?.pack_bytes;
    let bar = progress_bar(Some(total));
    bar.set_message("verify");
    let report = store.verify(&mut |done, _| bar.set_position(done));
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    for p in &report.problems {
        writeln!(out, "problem: {p}")?;
    }
    match target.remote() {
        // The bucket's leftovers, not the cache's.
        Some(remote) => {
            for (rel, _) in remote.leftovers().map_err(fail)?.objects {
                if !rel.starts_with("indices/commit-") {
                    writeln!(out, "{LEFTOVER_NOTE}: {}", remote.client().url_of(&rel))?;
                }
            }
        }
        None => {
            for p in &report.leftovers {
                writeln!(out, "{LEFTOVER_NOTE}: {}", p.display())?;
            }
        }
    }
    writeln!(
        out,
        "verified {} packs ({:.1} MB), {} entries, {} sequences re-hashed, {} index files in {:.2} s ({:.0} MB/s): {}",
        report.packs,
        report.pack_bytes as f64 / 1e6,
        report.entries,
        report.sequences,
        report.index_files,
        report.seconds,
        report.pack_bytes as f64 / 1e6 / report.seconds.max(1e-9),
        if report.problems.is_empty() { "OK".to_string() } else { format!("{} PROBLEMS", report.problems.len()) }
    )?;
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
