//! The HTTP API end to end: `sequoia_server::serve` on a loopback port, in this process,
//! answered through a real HTTP client (ureq), during an import too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::Digest as _;
use sequoia_store::{
    import_fasta, PackedSequenceStorage, SequenceDigests, SequenceId, StoreOptions,
};

/// A file of the command line's test data (the same sample the CLI's tests use).
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sequoia-cli/tests/data")
        .join(name)
}

/// Imports `file` into the store at `root` and commits, as `sequoia import` does.
fn import(root: &Path, file: &Path) {
    let store = PackedSequenceStorage::open_writer(root, StoreOptions::default()).unwrap();
    let input = sequoia_store::fasta::open_input(file.to_str().unwrap()).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    import_fasta(&store, input, &name, &name, &mut |_, _| {}).unwrap();
    store.commit().unwrap();
}

/// The first record of sample.fasta: `sp|Q00000|PROT0_HUMAN ...`, 276 residues; its
/// residues and digests as `sequoia info --json` gives them.
fn sample_store() -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    import(dir.path(), &data("sample.fasta"));
    let store = PackedSequenceStorage::open(dir.path()).unwrap();
    let rec = store
        .find(&SequenceId::parse("Q00000").unwrap())
        .unwrap()
        .remove(0);
    let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
    let info = serde_json::json!({
        "residues": String::from_utf8(rec.residues.clone()).unwrap(),
        "sha256": rec.hash.to_hex(),
        "md5": d.md5_hex(),
        "sha512t24u": d.ga4gh(),
    });
    (dir, info)
}

/// The server on a loopback port, on a runtime of its own; stopped when dropped.
struct Server {
    base: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(store: &Path) -> Server {
        let store = Arc::new(PackedSequenceStorage::open(store).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let shutdown = async move {
                    let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
                };
                sequoia_server::serve(listener, store, shutdown).await
            })
        });
        Server {
            base,
            stop: Some(stop),
            thread: Some(thread),
        }
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
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let stopped = t.join().expect("the server thread does not panic");
            if !std::thread::panicking() {
                stopped.expect("the server stops cleanly");
            }
        }
    }
}

const V1_TEXT: (&str, &str) = ("Accept", "text/vnd.ga4gh.refget.v1.0.0+plain");
const V1_JSON: (&str, &str) = ("Accept", "application/vnd.ga4gh.refget.v1.0.0+json");

#[test]
fn serve_answers_refget_and_extensions() {
    let (dir, info) = sample_store();
    let residues = info["residues"].as_str().unwrap().to_string();
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
    let root = dir.path().to_path_buf();
    let importer = std::thread::spawn(move || import(&root, &nucleotide));
    // Reads go on while the import runs: every one answered.
    let mut served = 0;
    while !importer.is_finished() {
        assert_eq!(server.get("/accession/Q00000", &[]).0, 200);
        served += 1;
    }
    importer.join().expect("the import succeeds");
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
