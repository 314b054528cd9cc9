//! Identifiers end to end with the real binary: `get` by every identifier form and region,
//! `info`, and `serve` answered through a real HTTP client (ureq), during an import too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::Digest as _;

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
    for name in [
        "alias-md5.idx",
        "alias-sha512t24u.idx",
        "alias-accession.idx",
    ] {
        std::fs::remove_file(store.join("indices").join(name)).unwrap();
    }
    // Missing alias indexes are reported, not silently wrong.
    let out = run(store, &["verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("alias-md5.idx"));
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

    /// (status, content-type, content-range, body) of a GET with `headers`.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, String, String) {
        let mut req = ureq::get(&format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let status = resp.status();
        let ctype = resp.header("content-type").unwrap_or("").to_string();
        let crange = resp.header("content-range").unwrap_or("").to_string();
        (status, ctype, crange, resp.into_string().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const V1_TEXT: (&str, &str) = ("Accept", "text/vnd.ga4gh.refget.v1.0.0+plain");
const V1_JSON: (&str, &str) = ("Accept", "application/vnd.ga4gh.refget.v1.0.0+json");

#[test]
fn serve_answers_refget_and_extensions() {
    let (dir, info) = sample_store();
    let residues = residues_of(&ok_text(dir.path(), &["get", "--width", "0", "Q00000"]))[0].clone();
    let (sha, md5, sq) = (
        info["sha256"].as_str().unwrap(),
        info["md5"].as_str().unwrap(),
        info["sha512t24u"].as_str().unwrap(),
    );
    let server = Server::start(dir.path());
    for id in [md5, sq, &format!("ga4gh:{sq}"), sha] {
        let (status, ctype, _, body) = server.get(&format!("/sequence/{id}"), &[]);
        assert_eq!((status, body.as_str()), (200, residues.as_str()), "{id}");
        assert!(
            ctype.starts_with("text/vnd.ga4gh.refget.v2.0.0+plain"),
            "{ctype}"
        );
    }
    let (status, ctype, _, body) =
        server.get(&format!("/sequence/{md5}?start=10&end=20"), &[V1_TEXT]);
    assert_eq!((status, body.as_str()), (200, &residues[10..20]));
    assert!(ctype.starts_with("text/vnd.ga4gh.refget.v1.0.0+plain"));
    let (status, _, crange, body) =
        server.get(&format!("/sequence/{md5}"), &[("Range", "bytes=270-999")]);
    assert_eq!(
        (status, body.as_str(), crange.as_str()),
        (206, &residues[270..], "bytes 270-275/276")
    );
    // Errors: the specification's codes, a JSON body, and the server keeps serving.
    for (path, headers, want) in [
        ("/sequence/Garbagechecksum".to_string(), vec![], 404),
        (format!("/sequence/{md5}?start=abc"), vec![], 400),
        (
            format!("/sequence/{md5}?start=99999999999999999999999"),
            vec![],
            400,
        ),
        (format!("/sequence/{md5}?start=276"), vec![], 416),
        (format!("/sequence/{md5}?end=277"), vec![], 416),
        (format!("/sequence/{md5}?start=20&end=4"), vec![], 501),
        (format!("/sequence/{md5}"), vec![("Range", "bytes=-5")], 400),
        (
            format!("/sequence/{md5}"),
            vec![("Range", "bytes=300-400")],
            416,
        ),
        (
            format!("/sequence/{md5}?start=1"),
            vec![("Range", "bytes=1-2")],
            400,
        ),
        (
            format!("/sequence/{md5}"),
            vec![("Accept", "embl/some_json")],
            406,
        ),
        (
            format!("/sequence/{md5}/metadata"),
            vec![("Accept", "text/plain")],
            406,
        ),
        (
            "/sequence/00000000000000000000000000000000/metadata".to_string(),
            vec![],
            404,
        ),
        ("/accession/NOPE".to_string(), vec![], 404),
        ("/no/such/endpoint".to_string(), vec![], 404),
    ] {
        let (status, ctype, _, body) = server.get(&path, &headers);
        assert_eq!(status, want, "{path} {headers:?}: {body}");
        assert_eq!(ctype, "application/json", "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], want);
    }
    // Metadata and service-info in both versions.
    let (_, _, _, body) = server.get(&format!("/sequence/{sq}/metadata"), &[V1_JSON]);
    let m: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["metadata"]["md5"], md5);
    assert_eq!(m["metadata"]["length"], 276);
    assert_eq!(m["metadata"]["trunc512"].as_str().unwrap().len(), 48);
    assert!(m["metadata"]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["alias"] == "sp|Q00000|PROT0_HUMAN"));
    let (_, _, _, body) = server.get(&format!("/sequence/{md5}/metadata"), &[]);
    let m: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["metadata"]["ga4gh"], sq);
    assert_eq!(m["metadata"]["sha256"], sha);
    let (_, _, _, body) = server.get("/sequence/service-info", &[V1_JSON]);
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["service"]["circular_supported"], false);
    let (_, _, _, body) = server.get("/sequence/service-info", &[]);
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["type"]["artifact"], "refget");
    assert_eq!(s["refget"]["circular_supported"], false);
    // Extensions: accession and batch.
    let (status, _, _, body) = server.get("/accession/PROT0_HUMAN", &[]);
    assert_eq!(status, 200);
    let a: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(a["sequences"][0]["sha256"], sha);
    assert_eq!(
        a["sequences"][0]["representations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let resp = ureq::post(&format!("{}/batch", server.base))
        .send_string(
            &serde_json::json!({"ids": [md5, "Q00000", "NOPE", "a b"], "residues": true})
                .to_string(),
        )
        .unwrap();
    let b: serde_json::Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    let results = b["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["sequences"][0]["residues"], residues.as_str());
    assert_eq!(results[1]["sequences"][0]["sha256"], sha);
    assert_eq!(results[2]["sequences"].as_array().unwrap().len(), 0);
    assert!(results[3]["error"].is_string());
    match ureq::post(&format!("{}/batch", server.base)).send_string("not json") {
        Err(ureq::Error::Status(400, _)) => {}
        other => panic!("bad batch body: {other:?}"),
    }
    let (status, _, _, _) = server.get(&format!("/sequence/{md5}"), &[]);
    assert_eq!(status, 200, "the server still serves after the errors");
}

#[test]
fn serve_picks_up_an_import_within_a_second_and_is_never_blocked() {
    let (dir, _) = sample_store();
    let server = Server::start(dir.path());
    let nucleotide = data("sample_nucleotide.fasta");
    // The first nucleotide record, by MD5 of its residues: not in the store yet.
    let text = std::fs::read_to_string(&nucleotide).unwrap();
    let first: String = text
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('>'))
        .map(|l| l.trim().to_ascii_uppercase())
        .collect();
    let md5: String = md5::Md5::digest(first.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = format!("/sequence/{md5}");
    assert_eq!(server.get(&path, &[]).0, 404);
    let mut import = bin()
        .arg("--store")
        .arg(dir.path())
        .args(["import", nucleotide.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Reads go on while the import runs: every one answered.
    let mut served = 0;
    while import.try_wait().unwrap().is_none() {
        assert_eq!(server.get("/accession/Q00000", &[]).0, 200);
        served += 1;
    }
    assert!(import.wait().unwrap().success());
    let finished = Instant::now();
    loop {
        let (status, _, _, body) = server.get(&path, &[]);
        if status == 200 {
            assert_eq!(body, first);
            break;
        }
        assert!(
            finished.elapsed() < Duration::from_secs(1),
            "the import's sequences were not served within a second ({served} reads during it)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let (dir, _) = sample_store();
    let mut server = Server::start(dir.path());
    assert_eq!(server.get("/sequence/service-info", &[]).0, 200);
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
