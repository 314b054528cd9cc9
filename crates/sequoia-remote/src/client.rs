//! The object store a remote SEQUOIA store lives in, behind blocking calls: each runs on
//! this crate's own runtime, so that callers (store readers on any thread, the server's
//! blocking tasks) need none.

use std::future::Future;
use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig,
};

use crate::RemoteError;

/// Ranges closer than this are fetched in one request (object_store's own default).
const COALESCE_GAP: u64 = 1 << 20;
/// Largest range fetched in one request: longer ones are split and fetched in parallel.
const PART: u64 = 8 << 20;
/// Requests in flight at once for one call.
const CONCURRENCY: usize = 8;

/// One object listed: its name inside the listed directory, size and time of writing.
#[derive(Clone, Debug)]
pub struct Listed {
    /// File name (`pack_0001.tal`).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// When it was written.
    pub modified: SystemTime,
}

/// Whether a create-only write created the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// It is written.
    Yes,
    /// An object of that name existed; nothing was written.
    Exists,
}

/// Requests made and bytes received, for `--trace-requests` and the benchmarks.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Requests sent (retries of one request count once).
    pub requests: AtomicU64,
    /// Body bytes received.
    pub bytes_in: AtomicU64,
    /// Body bytes sent.
    pub bytes_out: AtomicU64,
}

/// A bucket and a prefix in it, with the runtime its requests run on.
pub struct ObjectClient {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    runtime: tokio::runtime::Runtime,
    traffic: Traffic,
    trace: bool,
}

impl std::fmt::Debug for ObjectClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials: the URL only.
        f.debug_struct("ObjectClient")
            .field("url", &self.url)
            .finish()
    }
}

impl ObjectClient {
    /// The bucket `bucket` through the S3 API, configured from the standard variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...) as `AmazonS3Builder::from_env` reads them.
    pub fn s3(bucket: &str, prefix: &str) -> Result<ObjectClient, RemoteError> {
        let url = crate::Location::s3_url(bucket, prefix);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(4),
                base: 2.0,
            },
            max_retries: retries(),
            retry_timeout: Duration::from_secs(60),
        };
        // These options replace those from_env read: plain HTTP is allowed here again,
        // only when `AWS_ALLOW_HTTP` says so.
        let allow_http =
            std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        // An http:// endpoint never uses TLS: the system's root certificates, which the
        // HTTP client would otherwise parse at start, are not loaded.
        let plain = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .is_ok_and(|e| e.starts_with("http://"));
        let options = ClientOptions::new()
            .with_no_system_certificates(plain && allow_http)
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(
                env_number("SEQUOIA_S3_TIMEOUT", 300) as u64
            ));
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_client_options(options);
        // `AWS_ENDPOINT_URL` is the variable the AWS tools read; from_env knows it as
        // `AWS_ENDPOINT` too. Plain HTTP stays refused unless `AWS_ALLOW_HTTP` says so.
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        let store = builder.build().map_err(|source| RemoteError::Object {
            object: url.clone(),
            source,
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sequoia-s3")
            .enable_all()
            .build()
            .map_err(|source| RemoteError::Io {
                path: url.clone().into(),
                source,
            })?;
        Ok(ObjectClient {
            store: Arc::new(store),
            prefix: prefix.trim_matches('/').to_string(),
            url,
            runtime,
            traffic: Traffic::default(),
            trace: std::env::var_os("SEQUOIA_TRACE_REQUESTS").is_some_and(|v| v != "0"),
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of the object `rel` (`packs/pack_0001.tal`).
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url.trim_end_matches('/'))
    }

    /// Requests and bytes so far.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    fn path(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn err(&self, rel: &str) -> impl Fn(object_store::Error) -> RemoteError + '_ {
        let object = self.url_of(rel);
        move |source| RemoteError::Object {
            object: object.clone(),
            source,
        }
    }

    fn count(&self, what: &str, rel: &str, bytes_in: u64, bytes_out: u64) {
        self.traffic.requests.fetch_add(1, Ordering::Relaxed);
        self.traffic.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.traffic
            .bytes_out
            .fetch_add(bytes_out, Ordering::Relaxed);
        if self.trace {
            eprintln!(
                "s3: {what} {} in {bytes_in} out {bytes_out}",
                self.url_of(rel)
            );
        }
    }

    /// Runs `fut` on the client's runtime and waits for it, from any thread (also one of
    /// another runtime).
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
    ) -> Result<T, object_store::Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(object_store::Error::Generic {
                store: "S3",
                source: "the request task ended without an answer".into(),
            })
        })
    }

    /// The objects directly under `dir` (`packs`, `indices`), in no particular order.
    pub fn list(&self, dir: &str) -> Result<Vec<Listed>, RemoteError> {
        let store = self.store.clone();
        let path = self.path(dir);
        let listed = self.run(async move {
            let items: Vec<object_store::ObjectMeta> =
                store.list(Some(&path)).try_collect().await?;
            Ok(items)
        });
        let items = listed.map_err(self.err(dir))?;
        self.count("LIST", dir, 0, 0);
        Ok(items
            .into_iter()
            .filter_map(|m| {
                let name = m.location.filename()?.to_string();
                let modified = SystemTime::UNIX_EPOCH
                    + Duration::from_millis(m.last_modified.timestamp_millis().max(0) as u64);
                Some(Listed {
                    name,
                    size: m.size,
                    modified,
                })
            })
            .collect())
    }

    /// The whole object `rel`, or `None` if there is none.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let got = self.run(async move {
            let r = store.get(&path).await?;
            Ok(r.bytes().await?.to_vec())
        });
        match got {
            Ok(b) => {
                self.count("GET", rel, b.len() as u64, 0);
                Ok(Some(b))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Copies the object `rel` to the new file `dest` (temporary name, fsync, rename,
    /// fsync of the directory), streaming; returns its bytes.
    pub fn download(&self, rel: &str, dest: &Path) -> Result<u64, RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let mut tmp = dest.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        let tmp2 = tmp.clone();
        let done = self.run(async move {
            let r = store.get(&path).await?;
            let mut stream = r.into_stream();
            let mut file = std::fs::File::create(&tmp2).map_err(|e| local_err(&tmp2, e))?;
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).map_err(|e| local_err(&tmp2, e))?;
                n += chunk.len() as u64;
            }
            file.sync_all().map_err(|e| local_err(&tmp2, e))?;
            Ok(n)
        });
        let n = match done {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(self.err(rel)(e));
            }
        };
        std::fs::rename(&tmp, dest).map_err(|source| RemoteError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        if let Some(dir) = dest.parent() {
            pack_io::fs::sync_dir(dir).map_err(|source| RemoteError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        self.count("GET", rel, n, 0);
        Ok(n)
    }

    /// The object's length and its last `n` bytes (all of it when shorter).
    pub fn suffix(&self, rel: &str, n: u64) -> Result<(u64, Vec<u8>), RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let got = self.run(async move {
            let options = GetOptions {
                range: Some(GetRange::Suffix(n)),
                ..GetOptions::default()
            };
            let r = store.get_opts(&path, options).await?;
            let size = r.meta.size;
            Ok((size, r.bytes().await?.to_vec()))
        });
        let (size, bytes) = got.map_err(self.err(rel))?;
        self.count("GET suffix", rel, bytes.len() as u64, 0);
        Ok((size, bytes))
    }

    /// The bytes of each range of the object `rel`: ranges closer than 1 MiB share a
    /// request, ranges longer than 8 MiB are split, up to 8 requests in flight.
    pub fn ranges(&self, rel: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, RemoteError> {
        let mut sorted: Vec<Range<u64>> = ranges.to_vec();
        sorted.sort_unstable_by_key(|r| r.start);
        let mut requests: Vec<Range<u64>> = Vec::new();
        for r in &sorted {
            match requests.last_mut() {
                Some(last) if r.start <= last.end + COALESCE_GAP => last.end = last.end.max(r.end),
                _ => requests.push(r.clone()),
            }
        }
        let mut parts: Vec<Range<u64>> = Vec::new();
        for r in requests {
            let mut at = r.start;
            while at < r.end {
                let end = (at + PART).min(r.end);
                parts.push(at..end);
                at = end;
            }
        }
        let store = self.store.clone();
        let path = self.path(rel);
        let asked = parts.clone();
        let fetched = self.run(async move {
            let got: Vec<Vec<u8>> = futures_util::stream::iter(asked)
                .map(|r| {
                    let store = store.clone();
                    let path = path.clone();
                    async move {
                        Ok::<_, object_store::Error>(store.get_range(&path, r).await?.to_vec())
                    }
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            Ok(got)
        });
        let fetched = fetched.map_err(self.err(rel))?;
        for (p, b) in parts.iter().zip(&fetched) {
            self.count(
                &format!("GET {}-{}", p.start, p.end),
                rel,
                b.len() as u64,
                0,
            );
            if b.len() as u64 != p.end - p.start {
                return Err(RemoteError::Truncated {
                    object: self.url_of(rel),
                    range: p.clone(),
                    got: b.len() as u64,
                });
            }
        }
        // Each asked range out of the parts that cover it.
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let mut bytes = Vec::with_capacity((r.end - r.start) as usize);
            for (p, b) in parts.iter().zip(&fetched) {
                if p.end <= r.start || p.start >= r.end {
                    continue;
                }
                let from = r.start.max(p.start) - p.start;
                let to = r.end.min(p.end) - p.start;
                bytes.extend_from_slice(&b[from as usize..to as usize]);
            }
            out.push(bytes);
        }
        Ok(out)
    }

    /// Writes `data` as the object `rel` unless one exists (S3's `If-None-Match: *`).
    pub fn put_create(&self, rel: &str, data: Vec<u8>) -> Result<Created, RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let n = data.len() as u64;
        let put = self.run(async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            store.put_opts(&path, PutPayload::from(data), options).await
        });
        self.count("PUT create", rel, 0, n);
        match put {
            Ok(_) => Ok(Created::Yes),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Created::Exists),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// Uploads the local file `file` as the object `rel`, replacing any (for names no
    /// other writer makes: index layers carry a random token); large files in parts.
    pub fn upload(&self, rel: &str, file: &Path) -> Result<u64, RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let local = file.to_path_buf();
        let done = self.run(async move {
            let len = std::fs::metadata(&local)
                .map_err(|e| local_err(&local, e))?
                .len();
            if len <= 64 << 20 {
                let data = std::fs::read(&local).map_err(|e| local_err(&local, e))?;
                store.put(&path, PutPayload::from(data)).await?;
                return Ok(len);
            }
            let upload = store.put_multipart(&path).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, 16 << 20);
            let mut f = std::fs::File::open(&local).map_err(|e| local_err(&local, e))?;
            let mut buf = vec![0u8; 4 << 20];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| local_err(&local, e))?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(4).await?;
                w.write(&buf[..n]);
            }
            w.finish().await?;
            Ok(len)
        });
        let n = done.map_err(self.err(rel))?;
        self.count("PUT", rel, 0, n);
        Ok(n)
    }

    /// Deletes the object `rel` (no error if it is gone).
    pub fn delete(&self, rel: &str) -> Result<(), RemoteError> {
        let store = self.store.clone();
        let path = self.path(rel);
        let done = self.run(async move { store.delete(&path).await });
        self.count("DELETE", rel, 0, 0);
        match done {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel)(e)),
        }
    }
}

/// How many times a failed request is tried again (`SEQUOIA_S3_RETRIES`, default 4).
fn retries() -> usize {
    env_number("SEQUOIA_S3_RETRIES", 4)
}

/// The number in the variable `name`, else `default`. Also `SEQUOIA_S3_TIMEOUT`: seconds
/// one request may take, body included (default 300: a 64 MiB pack at 250 kB/s).
fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn local_err(path: &Path, e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local file",
        source: format!("{}: {e}", path.display()).into(),
    }
}
