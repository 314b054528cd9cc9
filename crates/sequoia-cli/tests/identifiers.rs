//! Identifiers end to end with the real binary: `get` by every identifier form and region,
//! `info`, and `serve`'s start and graceful stop (its HTTP answers are tested in
//! `crates/sequoia-server/tests/http.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{bin, data, ok, run};

/// Standard output of a successful `sequoia` command.
fn ok_text(store: &Path, args: &[&str]) -> String {
    String::from_utf8(ok(store, args).stdout).unwrap()
}

/// The first record of sample.fasta: `sp|Q00000|PROT0_HUMAN ...`, 276 residues.
fn sample_store() -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    ok_text(
        dir.path(),
        &["import", data("sample.fasta").to_str().unwrap()],
    );
    let info: serde_json::Value =
        serde_json::from_str(&ok_text(dir.path(), &["info", "--json", "Q00000"])).unwrap();
    (dir, info[0].clone())
}

fn residues_of(fasta: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in fasta.lines() {
        if line.starts_with('>') {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push_str(line.trim());
        }
    }
    out
}

#[test]
fn get_and_info_answer_every_identifier_form() {
    let (dir, info) = sample_store();
    let store = dir.path();
    let sha = info["sha256"].as_str().unwrap();
    let md5 = info["md5"].as_str().unwrap();
    let sq = info["sha512t24u"].as_str().unwrap();
    assert_eq!(info["length"], 276);
    assert_eq!(md5.len(), 32);
    assert!(sq.starts_with("SQ.") && sq.len() == 35, "{sq}");
    let whole = ok_text(store, &["get", "--width", "0", sha]);
    let n_reps = info["representations"].as_array().unwrap().len();
    assert_eq!(whole.lines().filter(|l| l.starts_with('>')).count(), n_reps);
    let residues = residues_of(&whole)[0].clone();
    assert_eq!(residues.len(), 276);
    // Every digest form gives the same records.
    for form in [md5.to_string(), sq.to_string(), format!("ga4gh:{sq}")] {
        assert_eq!(
            ok_text(store, &["get", "--width", "0", &form]),
            whole,
            "{form}"
        );
    }
    // An accession gives the representations that answer to it only.
    for acc in [
        "Q00000",
        "PROT0_HUMAN",
        "sp|Q00000|PROT0_HUMAN",
        "prot0_human",
    ] {
        let out = ok_text(store, &["get", acc]);
        assert_eq!(
            out.lines().filter(|l| l.starts_with('>')).count(),
            1,
            "{acc}"
        );
        assert!(
            out.starts_with(">sp|Q00000|PROT0_HUMAN Synthetic protein 0"),
            "{out}"
        );
    }
    // Regions: 1-based inclusive, named as samtools does, clipped at the end.
    let out = ok_text(store, &["get", "Q00000:2-11"]);
    assert!(
        out.starts_with(">sp|Q00000|PROT0_HUMAN:2-11 Synthetic"),
        "{out}"
    );
    assert_eq!(residues_of(&out), [residues[1..11].to_string()]);
    let out = ok_text(store, &["get", "--width", "0", &format!("{md5}:270-999")]);
    assert!(out.contains(":270-276 "), "{out}");
    assert!(residues_of(&out).iter().all(|r| *r == residues[269..]));
    let out = ok_text(store, &["get", &format!("ga4gh:{sq}:276")]);
    assert!(residues_of(&out).iter().all(|r| *r == residues[275..]));
    // --keys takes every form, one per line.
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{md5}\n\nPROT0_HUMAN:1-3\n{sha}\n")).unwrap();
    let out = ok_text(store, &["get", "--keys", keys.to_str().unwrap()]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with('>')).count(),
        2 * n_reps + 1
    );
    // Errors name the identifier; a malformed region prints nothing.
    let out = run(store, &["get", "Q00000", "NOPE_HUMAN"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sequence matches NOPE_HUMAN"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(">sp|Q00000"));
    for (bad, says) in [
        ("Q00000:0-3", "1-based"),
        ("Q00000:9-3", "ends before it starts"),
        ("Q00000:277-300", "past the sequence's 276 residues"),
        ("0123456789abcdef0123456789abcdef", "no sequence matches"),
    ] {
        let out = run(store, &["get", bad]);
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad}: {err}");
    }
    let text = ok_text(store, &["info", md5]);
    assert!(text.contains(&format!("sha256           {sha}")), "{text}");
    assert!(
        text.contains(&format!("sha512t24u       ga4gh:{sq}")),
        "{text}"
    );
    assert!(!run(store, &["info", "NOPE"]).status.success());
}

#[test]
fn an_identifier_with_a_colon_is_a_name_before_a_region() {
    let (dir, _) = sample_store();
    let store = dir.path();
    // The header's whole identifier ends in `:digits`, which also reads as a region.
    let name = "SYN0000002|GO:6152158,GO:7433298";
    let whole = ok_text(store, &["get", "--width", "0", name]);
    assert!(whole.starts_with(&format!(">{name}\n")), "{whole}");
    let residues = residues_of(&whole)[0].clone();
    assert!(residues.len() > 5);
    // Any case, as every accession; through --keys too.
    let keys = store.join("keys.txt");
    std::fs::write(&keys, format!("{}\n", name.to_ascii_lowercase())).unwrap();
    assert_eq!(
        ok_text(
            store,
            &["get", "--width", "0", "--keys", keys.to_str().unwrap()]
        ),
        whole
    );
    // A region of it, and regions of other names, still read as regions.
    let region = ok_text(store, &["get", "--width", "0", &format!("{name}:1-5")]);
    assert_eq!(region, format!(">{name}:1-5\n{}\n", &residues[..5]));
    let out = ok_text(store, &["get", "--width", "0", "PROT0_HUMAN:2-4"]);
    assert!(out.starts_with(">sp|Q00000|PROT0_HUMAN:2-4 "), "{out}");
    assert_eq!(residues_of(&out)[0].len(), 3);
}

#[test]
fn a_name_that_reads_as_an_invalid_region_is_still_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    let fasta = store.join("odd.fasta");
    std::fs::write(&fasta, ">odd:0 first\nMKVLA\n>rev:5-2 second\nMKVLAW\n").unwrap();
    ok_text(store, &["import", fasta.to_str().unwrap()]);
    assert_eq!(ok_text(store, &["get", "odd:0"]), ">odd:0 first\nMKVLA\n");
    assert_eq!(
        ok_text(store, &["get", "rev:5-2"]),
        ">rev:5-2 second\nMKVLAW\n"
    );
    let keys = store.join("keys.txt");
    std::fs::write(&keys, "rev:5-2\nodd:0\n").unwrap();
    assert_eq!(
        ok_text(store, &["get", "--keys", keys.to_str().unwrap()]),
        ">rev:5-2 second\nMKVLAW\n>odd:0 first\nMKVLA\n"
    );
    // Names that match nothing whole: the region is the error, and nothing is printed.
    for (text, why) in [("odd:5-2", "ends before it starts"), ("rev:0", "1-based")] {
        let out = run(store, &["get", "odd:0", text]);
        assert!(!out.status.success(), "{text}");
        assert!(out.stdout.is_empty(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(text) && err.contains(why), "{text}: {err}");
    }
}

#[test]
fn rebuild_index_restores_alias_lookups() {
    let (dir, info) = sample_store();
    let store = dir.path();
    let md5 = info["md5"].as_str().unwrap();
    let before = ok_text(store, &["get", md5, "Q00000"]);
    let mut removed = 0;
    for item in std::fs::read_dir(store.join("indices")).unwrap() {
        let path = item.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if [".md5.idx", ".sha512t24u.idx", ".accession.idx"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    assert!(removed >= 3);
    // Missing alias indexes are reported, not silently wrong.
    let out = run(store, &["verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".md5.idx"));
    ok_text(store, &["rebuild-index"]);
    assert_eq!(ok_text(store, &["get", md5, "Q00000"]), before);
    ok_text(store, &["verify"]);
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(store: &Path) -> Server {
        let mut child = bin()
            .arg("--store")
            .arg(store)
            .args(["serve", "--listen", "127.0.0.1:0", "--threads", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let (dir, _) = sample_store();
    let mut server = Server::start(dir.path());
    let info = ureq::get(&format!("{}/sequence/service-info", server.base)).call();
    assert_eq!(info.map(|r| r.status()).ok(), Some(200));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
