//! The Python module (`crates/sequoia-py`): built by maturin into the project's Python
//! environment (`target/py-tools`), then its pytest suite run against it.

use std::path::{Path, PathBuf};

use crate::workspace_root;

/// Builds the module with cargo profile `profile` and installs it into the project's
/// Python environment; returns that environment's interpreter.
pub fn install(profile: &str) -> Result<PathBuf, String> {
    let env = crate::refget::python_env()?;
    let path = std::env::join_paths(
        std::iter::once(env.join("bin")).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .map_err(|e| e.to_string())?;
    crate::step_with_env(
        "python module",
        &env.join("bin/maturin").display().to_string(),
        &[
            "develop",
            "--quiet",
            "--manifest-path",
            "crates/sequoia-py/Cargo.toml",
            "--profile",
            profile,
        ],
        [("VIRTUAL_ENV", env.as_os_str()), ("PATH", path.as_os_str())],
    )?;
    Ok(env.join("bin/python"))
}

/// Builds the module (the dev profile: the crates the debug `sequoia` binary was built
/// from are reused) and runs `crates/sequoia-py/tests` with the `sequoia` binary `bin` to
/// check answers against, and a SeaweedFS on loopback for the tests of stores in a bucket
/// (required under CI, else skipped when it cannot start).
pub fn run(bin: &Path) -> Result<(), String> {
    let python = install("dev")?;
    let server = match crate::s3::start() {
        Ok(s) => Some(s),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("==> python tests of stores in a bucket: skipped ({e})");
            None
        }
        Err(e) => return Err(e),
    };
    let mut env: Vec<(&str, String)> = server.iter().flat_map(|s| s.env()).collect();
    env.push(("SEQUOIA_BIN", bin.display().to_string()));
    crate::step_with_env(
        "python tests",
        &python.display().to_string(),
        &["-m", "pytest", "-q", "-rs", "crates/sequoia-py/tests"],
        env,
    )
}

/// The Python figures of `cargo xtask bench` (section `python`): random fetches by
/// SHA-256 and by accession from Python, one at a time on 1 and 2 threads and with
/// `fetch_many`, against pyfaidx on the de-duplicated FASTA of the same store and against
/// the Rust library's own batch read of the same keys, in one run.
pub(crate) fn bench(
    runs: usize,
    bin: &Path,
    out: &Path,
    fasta: &Path,
    r: &mut crate::bench::Report,
) -> Result<(), String> {
    use crate::bench::sh;
    println!("\n== Python: the sequoia module against pyfaidx ==");
    let python = install("release")?;
    let dir = out.join("python");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let store = dir.join("store");
    let dedup = dir.join("dedup.fa");
    let bin = bin.display();
    sh(&format!(
        "{bin} --store {} import {} 2>/dev/null && {bin} --store {} export --dedup > {}",
        store.display(),
        fasta.display(),
        store.display(),
        dedup.display()
    ))?;
    let script = workspace_root().join("crates/sequoia-py/bench/fetch.py");
    let (_, output) = sh(&format!(
        "{} {} --store {} --dedup {} --by-sha {} --runs {runs} --out {}",
        python.display(),
        script.display(),
        store.display(),
        dedup.display(),
        dir.join("by_sha.fa").display(),
        dir.display()
    ))?;
    let _ = output;
    let text = std::fs::read_to_string(dir.join("python.json")).map_err(|e| e.to_string())?;
    let py: std::collections::BTreeMap<String, f64> =
        serde_json::from_str(&text).map_err(|e| format!("python.json: {e}"))?;
    let get = |k: &str| py.get(k).copied().ok_or(format!("python.json has no {k}"));
    crate::step(
        "build fetch_rate",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "sequoia-store",
            "--example",
            "fetch_rate",
        ],
    )?;
    let example = workspace_root().join("target/release/examples/fetch_rate");
    let rust_rate = |keys: &str, mode: &str| -> Result<f64, String> {
        let (_, o) = sh(&format!(
            "{} {} {} {mode} {runs}",
            example.display(),
            store.display(),
            dir.join(keys).display()
        ))?;
        let text = String::from_utf8_lossy(&o.stdout);
        text.trim()
            .parse::<f64>()
            .map_err(|e| format!("fetch_rate: {text:?}: {e}"))
    };
    let rust_sha = rust_rate("keys.sha256", "map")?;
    let rust_single = rust_rate("keys.sha256", "single")?;
    let rust_ids = rust_rate("keys.ids", "ids")?;
    let keys = get("keys")?;
    let single = get("single")?;
    for (what, label) in [("sha", "SHA-256"), ("ids", "accession")] {
        for threads in ["1t", "2t"] {
            let (Some(ours), Some(theirs)) = (
                py.get(&format!("sequoia_{what}_{threads}")),
                py.get(&format!("pyfaidx_{what}_{threads}")),
            ) else {
                continue;
            };
            let t = &threads[..1];
            r.add(
                &format!("py_{what}_{threads}"),
                &format!("Python store[id] by {label}, {t} thread(s), {single:.0} random"),
                *ours,
                "seq/s",
                format!(
                    "pyfaidx {theirs:.0} seq/s: {:.1}x (goal >= 10x)",
                    ours / theirs
                ),
            );
        }
    }
    let region = get("sequoia_sha_region_1t")?;
    let whole = get("sequoia_sha_1t")?;
    r.add(
        "py_sha_region_1t",
        &format!("Python store.fetch(sha256, 10, 60), {single:.0} random"),
        region,
        "seq/s",
        format!(
            "store[sha256] {whole:.0} seq/s ({:.2}x); Rust get one by one {rust_single:.0} seq/s",
            region / whole
        ),
    );
    let many_sha = get("sequoia_fetch_many_sha")?;
    let many_ids = get("sequoia_fetch_many_ids")?;
    r.add(
        "py_fetch_many_sha",
        &format!("Python fetch_many, {keys:.0} SHA-256"),
        many_sha,
        "seq/s",
        format!(
            "Rust map_many_parallel {rust_sha:.0} seq/s: {:.2}x its time (goal <= 1.5x)",
            rust_sha / many_sha
        ),
    );
    r.add(
        "py_fetch_many_ids",
        &format!("Python fetch_many, {keys:.0} accessions"),
        many_ids,
        "seq/s",
        format!(
            "Rust find_many {rust_ids:.0} seq/s: {:.2}x its time (goal <= 1.5x)",
            rust_ids / many_ids
        ),
    );
    Ok(())
}
