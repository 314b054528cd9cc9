//! Every command on a store in a bucket of a real S3 server, `sync`, a kill -9 during an
//! upload, and faults (the server gone, 503 answers, truncated answers, wrong credentials, a
//! missing bucket) through a fault-injecting proxy on loopback. `cargo xtask s3` starts
//! SeaweedFS and runs these; a plain `cargo test` skips them.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data;

fn bucket() -> String {
    std::env::var("SEQUOIA_TEST_S3_BUCKET").expect("run through `cargo xtask s3`")
}

/// `s3://BUCKET/PREFIX` with a prefix no other test or run uses.
fn url(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("s3://{}/{test}-{}-{nanos}", bucket(), std::process::id())
}

/// `sequoia --store STORE --cache CACHE ARGS...` with few retries (faults end fast).
fn cmd(store: &str, cache: &Path, args: &[&str]) -> Command {
    let mut c = common::bin();
    c.args(["--store", store])
        .arg("--cache")
        .arg(cache)
        .args(args)
        .env("SEQUOIA_S3_RETRIES", "2")
        .env("SEQUOIA_S3_TIMEOUT", "10");
    c
}

fn run(store: &str, cache: &Path, args: &[&str]) -> Output {
    cmd(store, cache, args).output().expect("the binary runs")
}

fn ok(store: &str, cache: &Path, args: &[&str]) -> Output {
    let out = run(store, cache, args);
    assert!(
        out.status.success(),
        "sequoia {args:?} on {store} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn fails(store: &str, cache: &Path, args: &[&str]) -> String {
    let out = run(store, cache, args);
    assert!(
        !out.status.success(),
        "sequoia {args:?} on {store} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn local(store: &Path, args: &[&str]) -> Output {
    common::ok(store, args)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A FASTA file of `n` synthetic records, distinct per `tag`.
fn fasta(dir: &Path, tag: &str, n: usize) -> PathBuf {
    let path = dir.join(format!("{tag}.fasta"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut x: u64 = tag.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    for i in 0..n {
        writeln!(f, ">sp|{tag}{i:06}|T{i}_HUMAN synthetic {tag} {i}").unwrap();
        let len = 80 + (i % 300);
        let mut r = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.push(b"ACDEFGHIKLMNPQRSTVWY"[(x % 20) as usize]);
        }
        f.write_all(&r).unwrap();
        writeln!(f).unwrap();
    }
    path
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn every_command_works_on_a_store_in_a_bucket() {
    let store = url("commands");
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let reference = tmp.path().join("local");
    let sample = data("sample.fasta");
    let dup = data("sample_dup.fasta");
    let sample = sample.to_str().unwrap();
    let dup = dup.to_str().unwrap();
    let err = fails(&store, &cache, &["stats"]);
    assert!(
        err.contains("no store here") && err.contains(&store),
        "{err}"
    );
    ok(&store, &cache, &["import", sample]);
    local(&reference, &["import", sample]);
    // Standard input too.
    let mut child = cmd(
        &store,
        &cache,
        &["import", "--source", "sample_dup.fasta", "-"],
    )
    .stdin(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(dup).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    local(&reference, &["import", dup]);
    // Every read the same as the local store's, from a warm and from a cold cache.
    for cache in [cache.clone(), tmp.path().join("cold")] {
        let export = text(&ok(&store, &cache, &["export"]));
        assert_eq!(export, text(&local(&reference, &["export"])));
        assert!(export.len() > 10_000);
        for id in ["Q00000", "Q00006:10-20", "A0A000007", "NP_000000001.1"] {
            assert_eq!(
                text(&ok(&store, &cache, &["get", id])),
                text(&local(&reference, &["get", id]))
            );
        }
        assert_eq!(
            text(&ok(&store, &cache, &["info", "--json", "Q00003"])),
            text(&local(&reference, &["info", "--json", "Q00003"]))
        );
    }
    let keys = tmp.path().join("keys");
    let export = text(&local(&reference, &["export", "--width", "0"]));
    let ids: Vec<&str> = export
        .lines()
        .filter_map(|l| l.strip_prefix(">"))
        .map(|h| h.split_whitespace().next().unwrap())
        .collect();
    std::fs::write(&keys, ids.join("\n")).unwrap();
    let keys = keys.to_str().unwrap();
    let cold = tmp.path().join("cold2");
    assert_eq!(
        text(&ok(&store, &cold, &["get", "--keys", keys])),
        text(&local(&reference, &["get", "--keys", keys]))
    );
    let stats = text(&ok(&store, &cache, &["stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&text(&local(&reference, &["stats", "--json"]))).unwrap();
    for field in ["sequences", "representations", "residue_bytes", "packs"] {
        assert_eq!(stats[field], want[field], "{field}");
    }
    assert_eq!(stats["store"], store.as_str());
    assert!(text(&ok(&store, &cache, &["verify"])).contains(": OK"));
    // Writers: compact, repack, rebuild-index, gc, each published and read back.
    ok(&store, &cache, &["compact"]);
    ok(&store, &cache, &["repack", "--order", "store"]);
    ok(&store, &cache, &["rebuild-index"]);
    let before = text(&ok(&store, &tmp.path().join("c3"), &["export"]));
    assert_eq!(before, text(&local(&reference, &["export"])));
    let stats: serde_json::Value =
        serde_json::from_str(&text(&ok(&store, &cache, &["stats", "--json"]))).unwrap();
    assert!(stats["reclaimable_bytes"].as_u64().unwrap() > 0, "{stats}");
    let v = text(&ok(&store, &cache, &["verify"]));
    assert!(
        v.contains("not part of the store")
            && v.contains("/packs/pack_0000.tal")
            && v.contains(": OK"),
        "verify names the bucket's leftovers: {v}"
    );
    let gc = text(&ok(&store, &cache, &["gc", "--grace", "0"]));
    assert!(
        gc.contains("deleted") && gc.contains("packs/pack_0000.tal"),
        "{gc}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&text(&ok(&store, &cache, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["reclaimable_bytes"], 0, "{stats}");
    let cold = tmp.path().join("c4");
    assert_eq!(text(&ok(&store, &cold, &["export"])), before);
    assert!(text(&ok(&store, &cold, &["verify"])).contains(": OK"));
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn serve_on_a_bucket_picks_up_commits_made_elsewhere() {
    let store = url("serve");
    let tmp = tempfile::tempdir().unwrap();
    ok(
        &store,
        &tmp.path().join("w"),
        &["import", data("sample.fasta").to_str().unwrap()],
    );
    let mut server = cmd(
        &store,
        &tmp.path().join("s"),
        &["serve", "--listen", "127.0.0.1:0", "--log", "warn"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    let mut stdout = server.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let new = fasta(tmp.path(), "later", 3);
    let residues: String = std::fs::read_to_string(&new)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(residues.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let get = |path: &str| -> Option<String> {
        match ureq::get(&format!("{base}{path}")).call() {
            Ok(r) => r.into_string().ok(),
            Err(_) => None,
        }
    };
    assert_eq!(get(&format!("/sequence/{sha}")), None);
    ok(
        &store,
        &tmp.path().join("w"),
        &["import", new.to_str().unwrap()],
    );
    let started = Instant::now();
    let seen = loop {
        if let Some(body) = get(&format!("/sequence/{sha}")) {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not see the commit"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(seen, residues);
    eprintln!(
        "serve saw a commit made elsewhere after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn sync_copies_a_store_to_a_bucket_and_back_and_then_only_what_is_new() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    local(&src, &["import", data("sample.fasta").to_str().unwrap()]);
    let remote = url("sync");
    let back = tmp.path().join("back");
    let s = |a: &str, b: &str| {
        let out = common::bin().args(["sync", a, b]).output().unwrap();
        assert!(
            out.status.success(),
            "sync {a} {b}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = s(src.to_str().unwrap(), &remote);
    assert!(first.contains("copied"), "{first}");
    let again = s(src.to_str().unwrap(), &remote);
    assert!(again.contains("nothing to copy"), "{again}");
    s(&remote, &format!("file://{}", back.display()));
    assert_eq!(
        text(&local(&back, &["export"])),
        text(&local(&src, &["export"]))
    );
    assert!(text(&local(&back, &["verify"])).contains(": OK"));
    // A new commit: only its files move; bucket to bucket too.
    local(
        &src,
        &["import", data("sample_dup.fasta").to_str().unwrap()],
    );
    let update = s(src.to_str().unwrap(), &remote);
    assert!(update.contains("there already"), "{update}");
    let other = url("sync2");
    s(&remote, &other);
    let cache = tmp.path().join("cache");
    assert_eq!(
        text(&ok(&other, &cache, &["export"])),
        text(&local(&src, &["export"]))
    );
    // A destination with commits the source lacks is refused.
    local(
        &back,
        &["import", fasta(tmp.path(), "mine", 5).to_str().unwrap()],
    );
    let out = common::bin()
        .args(["sync", &remote, back.to_str().unwrap()])
        .output()
        .unwrap();
    // back is at commit 2 with other content, remote at 2 too: refused, back unchanged.
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text(&local(&back, &["verify"])).contains(": OK"));
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn a_kill_during_an_import_to_a_bucket_leaves_the_last_commit_and_the_next_import_completes() {
    let store = url("kill");
    let tmp = tempfile::tempdir().unwrap();
    let first = fasta(tmp.path(), "first", 2_000);
    let second = fasta(tmp.path(), "second", 6_000);
    let cache = tmp.path().join("cache");
    // Small packs: the import uploads many, so that kills land in its upload.
    let small = ["--pack-size", "32768"];
    ok(
        &store,
        &cache,
        &[&["import"][..], &small, &[first.to_str().unwrap()]].concat(),
    );
    let probe = |cache: &Path, tag: &str, i: usize| -> bool {
        run(&store, cache, &["get", &format!("{tag}{i:06}")])
            .status
            .success()
    };
    for (round, delay_ms) in [150u64, 400, 800, 1500].into_iter().enumerate() {
        let mut child = cmd(
            &store,
            &cache,
            &[&["import"][..], &small, &[second.to_str().unwrap()]].concat(),
        )
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let fresh = tmp.path().join(format!("fresh{round}"));
        assert!(
            probe(&fresh, "first", 1_999),
            "round {round}: the first commit is gone"
        );
        // All of the second import, or none of it.
        let seen: Vec<bool> = [0, 2_999, 5_999]
            .iter()
            .map(|&i| probe(&fresh, "second", i))
            .collect();
        assert!(
            seen.iter().all(|&s| s == seen[0]),
            "round {round}: half an import: {seen:?}"
        );
        assert!(text(&ok(&store, &fresh, &["verify"])).contains(": OK"));
        eprintln!(
            "round {round}: killed after {delay_ms} ms ({status}); second import visible: {}",
            seen[0]
        );
        if seen[0] {
            break;
        }
    }
    // The next import completes (numbering its packs past any a killed one uploaded), and
    // gc removes what the killed ones left.
    ok(
        &store,
        &cache,
        &[&["import"][..], &small, &[second.to_str().unwrap()]].concat(),
    );
    let fresh = tmp.path().join("after");
    assert!(probe(&fresh, "second", 5_999));
    ok(&store, &cache, &["gc", "--grace", "0"]);
    let stats: serde_json::Value =
        serde_json::from_str(&text(&ok(&store, &fresh, &["stats", "--json"]))).unwrap();
    assert_eq!(stats["reclaimable_bytes"], 0, "{stats}");
    assert!(text(&ok(&store, &tmp.path().join("after2"), &["verify"])).contains(": OK"));
}

/// What the proxy does with each new connection.
const FORWARD: u8 = 0;
/// Accepts and closes at once (the server gone).
const DROP: u8 = 1;
/// Answers `503 Slow Down` (to the next `fail_next` connections, then forwards).
const UNAVAILABLE: u8 = 2;
/// Forwards, cutting the answer after its first 600 bytes.
const TRUNCATE: u8 = 3;
/// Forwards, waiting 100 ms before each piece of an answer.
const SLOW: u8 = 4;

/// A TCP proxy on loopback in front of the S3 server that injects faults.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    fail_next: Arc<AtomicUsize>,
    /// PUT requests forwarded so far.
    puts: Arc<AtomicUsize>,
    /// Every connection, to cut them all.
    live: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let puts = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (m, f, p, l) = (mode.clone(), fail_next.clone(), puts.clone(), live.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                l.lock().unwrap().push(client.try_clone().unwrap());
                let mode = m.load(Ordering::SeqCst);
                let (f, p) = (f.clone(), p.clone());
                std::thread::spawn(move || serve_one(client, upstream, mode, &f, &p));
            }
        });
        Proxy {
            port,
            mode,
            fail_next,
            puts,
            live,
        }
    }

    /// The server gone: new connections are dropped, open ones cut.
    fn cut(&self) {
        self.set(DROP);
        for c in self.live.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve_one(
    mut client: TcpStream,
    upstream: u16,
    mode: u8,
    fail_next: &AtomicUsize,
    puts: &Arc<AtomicUsize>,
) {
    match mode {
        DROP => {}
        UNAVAILABLE
            if fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok() =>
        {
            // Read the request head, answer 503 and close.
            let mut buf = [0u8; 4096];
            let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = client.read(&mut buf);
            let body = "<Error><Code>SlowDown</Code><Message>injected</Message></Error>";
            let _ = write!(
                client,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        _ => {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let puts = puts.clone();
            let up = std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match c2.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            // Request heads start reads often enough to count PUTs by.
                            if buf[..n].starts_with(b"PUT /") {
                                puts.fetch_add(1, Ordering::SeqCst);
                            }
                            if s2.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            let mut server = server;
            if mode == TRUNCATE {
                let mut buf = vec![0u8; 600];
                let mut got = 0;
                while got < buf.len() {
                    match server.read(&mut buf[got..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                let _ = client.write_all(&buf[..got]);
                let _ = client.shutdown(std::net::Shutdown::Both);
            } else {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if mode == SLOW {
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            }
            let _ = up.join();
        }
    }
}

#[test]
#[ignore = "needs an S3 server: cargo xtask s3"]
fn faults_end_in_a_clear_error_naming_the_object_and_the_store_stays_at_its_last_commit() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let upstream: u16 = endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream);
    let store = url("faults");
    let tmp = tempfile::tempdir().unwrap();
    let via = |cache: &str, args: &[&str]| -> Output {
        cmd(&store, &tmp.path().join(cache), args)
            .env("AWS_ENDPOINT_URL", proxy.endpoint())
            .output()
            .unwrap()
    };
    let first = fasta(tmp.path(), "one", 500);
    let second = fasta(tmp.path(), "two", 500);
    let out = via("w", &["import", first.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server gone mid-import (after its third upload, packs being small): the commit
    // is not published, the error names an object.
    let puts = proxy.puts.load(Ordering::SeqCst);
    let child = cmd(
        &store,
        &tmp.path().join("w"),
        &["import", "--pack-size", "16384", second.to_str().unwrap()],
    )
    .env("AWS_ENDPOINT_URL", proxy.endpoint())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while proxy.puts.load(Ordering::SeqCst) < puts + 3
        && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the import finished before the cut");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&store), "{err}");
    eprintln!(
        "server gone: failed in {:.1} s: {err}",
        started.elapsed().as_secs_f64()
    );
    proxy.set(FORWARD);
    for cache in ["w", "fresh1"] {
        assert!(via(cache, &["--cache-ttl", "0", "get", "one000499"])
            .status
            .success());
        assert!(!via(cache, &["--cache-ttl", "0", "get", "two000001"])
            .status
            .success());
    }

    // 503 answers that pass: retried, the import completes.
    proxy.fail_next.store(2, Ordering::SeqCst);
    proxy.set(UNAVAILABLE);
    let out = via("w", &["import", second.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "503s are retried: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        proxy.fail_next.load(Ordering::SeqCst),
        0,
        "the proxy answered 503 twice"
    );
    proxy.set(FORWARD);
    assert!(via("fresh2", &["get", "two000499"]).status.success());

    // 503 answers that do not pass: a clear error, the store unchanged.
    proxy.fail_next.store(usize::MAX, Ordering::SeqCst);
    proxy.set(UNAVAILABLE);
    let third = fasta(tmp.path(), "three", 50);
    let out = via("w", &["import", third.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&store) && err.contains("503"), "{err}");
    proxy.set(FORWARD);
    assert!(!via("fresh3", &["get", "three000001"]).status.success());
    assert!(via("fresh3", &["get", "two000499"]).status.success());

    // Slow answers: slower, whole.
    proxy.set(SLOW);
    let slow = fasta(tmp.path(), "slow", 200);
    let started = Instant::now();
    let out = via("w", &["import", slow.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "slow answers: import took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let out = via("fresh9", &["get", "slow000199"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    proxy.set(FORWARD);

    // Truncated answers: never wrong data; an error or the right answer.
    let want = text(&ok(
        &store,
        &tmp.path().join("fresh4"),
        &["get", "one000123"],
    ));
    proxy.set(TRUNCATE);
    let out = via("fresh5", &["get", "one000123"]);
    if out.status.success() {
        assert_eq!(text(&out), want);
    } else {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&store),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    proxy.set(FORWARD);

    // Wrong credentials, a missing bucket: clear errors.
    let out = cmd(&store, &tmp.path().join("fresh6"), &["stats"])
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&store) && !err.contains("wrong-secret"),
        "{err}"
    );
    let missing = "s3://no-such-bucket-sequoia/x";
    let err = fails(missing, &tmp.path().join("fresh7"), &["stats"]);
    assert!(err.contains(missing), "{err}");
    // After all that, the store is whole and the next import completes.
    let out = via("w", &["import", third.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text(&ok(&store, &tmp.path().join("fresh8"), &["verify"])).contains(": OK"));
}
