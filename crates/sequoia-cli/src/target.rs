//! The store a command works on: a local directory, or a store on object storage worked
//! on through its local cache (`sequoia-remote`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sequoia_remote::{Location, RemoteStore};
use sequoia_store::layout::StoreLayout;
use sequoia_store::{PackedSequenceStorage, StoreError, StoreOptions};

use crate::commands::{fail, Result};

/// Whether a command writes (and so must start from the newest commit and publish its
/// own).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A resolved `--store`.
pub struct Target {
    layout: StoreLayout,
    remote: Option<RemoteStore>,
    /// The newest commit when the command started (object storage only).
    base: Option<u64>,
    name: String,
    /// Uploads of the packs a writer closed, under way (object storage only).
    early: std::sync::Mutex<Option<sequoia_remote::EarlyUploads>>,
}

impl Target {
    /// The store `store` names (a path, `file://PATH` or `s3://BUCKET/PREFIX`), its cache
    /// under `cache` for one on object storage, brought to the newest commit (a reader
    /// trusts a listing younger than `ttl`).
    pub fn resolve(
        store: &str,
        cache: Option<&Path>,
        ttl: Duration,
        access: Access,
    ) -> Result<Target> {
        match Location::parse(store).map_err(fail)? {
            Location::Local(root) => Ok(Target {
                name: root.display().to_string(),
                layout: StoreLayout::new(&root),
                remote: None,
                base: None,
                early: Default::default(),
            }),
            Location::S3 { bucket, prefix } => {
                let cache_root =
                    cache.map_or_else(sequoia_remote::default_cache_root, Path::to_path_buf);
                let remote = RemoteStore::open_s3(&bucket, &prefix, &cache_root).map_err(fail)?;
                let ttl = if access == Access::Write {
                    Duration::ZERO
                } else {
                    ttl
                };
                let base = remote.refresh(ttl).map_err(fail)?;
                Ok(Target {
                    name: remote.url().to_string(),
                    layout: remote.layout(),
                    remote: Some(remote),
                    base,
                    early: Default::default(),
                })
            }
        }
    }

    /// How the store is named to the user (its path or URL).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local directory the library works in (the store, or its cache).
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The layout the library works on.
    pub fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    /// The store on object storage, if it is one.
    pub fn remote(&self) -> Option<&RemoteStore> {
        self.remote.as_ref()
    }

    fn no_store(&self) -> std::io::Error {
        match &self.remote {
            Some(r) => fail(sequoia_remote::RemoteError::NoStore(r.url().to_string())),
            None => fail(StoreError::NoStore {
                path: self.root().to_path_buf(),
            }),
        }
    }

    /// An error naming the store when it is on object storage and has no commit (a local
    /// store's absence is found when it is opened).
    pub fn check_exists(&self) -> Result<()> {
        if self.remote.is_some() && self.base.is_none() {
            return Err(self.no_store());
        }
        Ok(())
    }

    /// A reader.
    pub fn open(&self) -> Result<PackedSequenceStorage> {
        self.check_exists()?;
        PackedSequenceStorage::open_in(self.layout.clone()).map_err(fail)
    }

    /// A writer, creating the store if there is none. On object storage, each pack it
    /// closes is uploaded at once, while the writer goes on.
    pub fn open_writer(&self, mut options: StoreOptions) -> Result<PackedSequenceStorage> {
        if let Some(remote) = &self.remote {
            let (hook, uploads) = remote.upload_as_closed();
            options.on_pack_closed = Some(hook);
            *self.early.lock().unwrap_or_else(|p| p.into_inner()) = Some(uploads);
        }
        PackedSequenceStorage::open_writer_in(self.layout.clone(), options).map_err(fail)
    }

    /// A writer of a store that must exist.
    pub fn open_existing_writer(&self) -> Result<PackedSequenceStorage> {
        let exists = match &self.remote {
            Some(_) => self.base.is_some(),
            None => self.layout.indices_dir().is_dir(),
        };
        if !exists {
            return Err(self.no_store());
        }
        self.open_writer(StoreOptions::default())
    }

    /// A writer that accepts damaged indexes.
    pub fn open_for_repair(&self) -> Result<PackedSequenceStorage> {
        self.check_exists()?;
        PackedSequenceStorage::open_for_repair_in(self.layout.clone()).map_err(fail)
    }

    /// Publishes the commit a writer made (object storage; nothing to do for a local
    /// store, whose commit is published by the library).
    pub fn publish(&self) -> Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let early = self.early.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(seq) = remote.publish(self.base, early).map_err(fail)? {
            eprintln!("published commit {seq} to {}", remote.url());
        }
        Ok(())
    }

    /// Prints the requests made to object storage (`SEQUOIA_TRACE_REQUESTS`).
    pub fn report_traffic(&self) {
        if let Some(r) = &self.remote {
            if std::env::var_os("SEQUOIA_TRACE_REQUESTS").is_some_and(|v| v != "0") {
                let t = r.client().traffic();
                use std::sync::atomic::Ordering::Relaxed;
                eprintln!(
                    "s3: {} requests, {} bytes in, {} bytes out",
                    t.requests.load(Relaxed),
                    t.bytes_in.load(Relaxed),
                    t.bytes_out.load(Relaxed)
                );
            }
        }
    }
}

/// The default store directory: `~/.talaria/databases/sequences`.
pub fn default_store() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".talaria/databases/sequences")
}
