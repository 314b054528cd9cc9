//! SEQUOIA stores on object storage (S3 and the stores that speak its API).
//!
//! A store at `s3://BUCKET/PREFIX` holds the files a local store holds, as objects under
//! `PREFIX/packs/` and `PREFIX/indices/` (docs/format.md, "Stores on object storage"). A
//! process works on it through a local cache directory ([`RemoteStore`]):
//!
//! - **Reads**: the newest commit record and the index files it names are copied into the
//!   cache whole (their names are never reused, so a cached copy is never stale) and
//!   memory-mapped from there; packs are read through stubs, one ranged request per block
//!   a read needs ([`pack_io::remote`]).
//! - **Writes**: a writer commits into the cache as into a local store; [`RemoteStore::publish`]
//!   then uploads the new packs (each a create-only PUT), the new index files, and last the
//!   commit record, created only if no object of its number exists (S3's
//!   `If-None-Match: *`). Of two writers that race for one number exactly one wins; the
//!   other gets [`RemoteError::Conflict`] and nothing of its commit is visible.
//! - [`sync`] copies a store between locations, commit record last.

mod cache;
mod client;
mod gc;
mod packs;
mod sync;
pub mod target;
mod upload;

use std::path::PathBuf;

pub use cache::{default_cache_root, RemoteStore};
pub use client::{Created, Listed, ObjectClient, Traffic};
pub use gc::{RemoteGc, RemoteLeftovers};
pub use packs::PackObjects;
pub use sync::{sync, SyncSummary};
pub use target::{Access, Target};
pub use upload::EarlyUploads;

/// Calls `f` on every item of `items` from `workers` threads (transfers: each item a file
/// or object), returning the sum of what it returns; after the first error no item is
/// started and that error is returned.
pub(crate) fn on_workers<T: Sync>(
    workers: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<u64, RemoteError> + Sync,
) -> Result<u64, RemoteError> {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let total = AtomicU64::new(0);
    let failed: std::sync::Mutex<Option<RemoteError>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| loop {
                if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    return;
                }
                let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                match f(item) {
                    Ok(n) => {
                        total.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => {
                        (failed.lock().unwrap_or_else(|p| p.into_inner())).get_or_insert(e);
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(total.into_inner()),
    }
}

/// Where a store is: a local directory or a prefix in a bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory (`PATH` or `file://PATH`).
    Local(PathBuf),
    /// `s3://BUCKET/PREFIX`.
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl Location {
    /// Reads a store location: `s3://BUCKET[/PREFIX]`, `file://PATH` or a path.
    ///
    /// ```
    /// use sequoia_remote::Location;
    /// assert_eq!(
    ///     Location::parse("s3://lab/stores/nr").unwrap(),
    ///     Location::S3 { bucket: "lab".into(), prefix: "stores/nr".into() }
    /// );
    /// assert_eq!(Location::parse("file:///data/s").unwrap(), Location::Local("/data/s".into()));
    /// assert!(Location::parse("gs://x/y").is_err());
    /// assert!(Location::parse("s3:///y").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Location, RemoteError> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(RemoteError::BadUrl {
                    url: text.to_string(),
                    message: "names no bucket (s3://BUCKET/PREFIX)".into(),
                });
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(RemoteError::BadUrl {
                url: text.to_string(),
                message: format!(
                    "scheme {scheme}:// is not supported: give a directory, file://PATH or s3://BUCKET/PREFIX"
                ),
            });
        }
        Ok(Location::Local(PathBuf::from(text)))
    }

    /// `s3://bucket/prefix` (or `s3://bucket` for an empty prefix).
    pub fn s3_url(bucket: &str, prefix: &str) -> String {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } => f.write_str(&Location::s3_url(bucket, prefix)),
        }
    }
}

/// What can go wrong with a store on object storage.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// A store location that cannot be read.
    #[error("{url}: {message}")]
    BadUrl {
        /// As given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A request failed (after its retries).
    #[error("{object}: {source}")]
    Object {
        /// The object's URL.
        object: String,
        /// What the object store said.
        source: object_store::Error,
    },
    /// A ranged read returned fewer bytes than asked.
    #[error("{object}: asked for bytes {}..{}, got {got}: a truncated response", range.start, range.end)]
    Truncated {
        /// The object's URL.
        object: String,
        /// The range asked.
        range: std::ops::Range<u64>,
        /// Bytes received.
        got: u64,
    },
    /// A local file (of the cache, or a local store of `sync`).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store library refused (a damaged record, a held lock, ...).
    #[error(transparent)]
    Store(#[from] sequoia_store::StoreError),
    /// Another writer published this commit number first.
    #[error("{url}: another writer published commit {seq} first; nothing of this commit is visible (its uploaded packs are left for `sequoia gc`); run it again to apply it on top of the new commit")]
    Conflict {
        /// The store.
        url: String,
        /// The number both wanted.
        seq: u64,
    },
    /// There is no store at the location.
    #[error("{0}: no store here (no commit record)")]
    NoStore(String),
    /// What the two ends of a sync hold does not fit together.
    #[error("{0}")]
    Mismatch(String),
}
