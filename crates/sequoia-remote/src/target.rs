//! The store a program works on, named as users name it (a path, `file://PATH` or
//! `s3://BUCKET/PREFIX`): a local directory, or a store on object storage worked on
//! through its local cache. What the `sequoia` command and the Python module open.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sequoia_store::layout::StoreLayout;
use sequoia_store::{PackedSequenceStorage, StoreError, StoreOptions};

use crate::{Location, RemoteError, RemoteStore};

type Result<T> = std::result::Result<T, RemoteError>;

/// Whether a command writes (and so must start from the newest commit and publish its
/// own).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A resolved store location.
pub struct Target {
    layout: StoreLayout,
    remote: Option<RemoteStore>,
    /// The newest commit when the target was resolved, then the last one it published
    /// (object storage only): what the next commit is published on top of.
    base: std::sync::Mutex<Option<u64>>,
    name: String,
    /// Uploads of the packs a writer closed, under way (object storage only).
    early: std::sync::Mutex<Option<crate::EarlyUploads>>,
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
        match Location::parse(store)? {
            Location::Local(root) => Ok(Target {
                name: root.display().to_string(),
                layout: StoreLayout::new(&root),
                remote: None,
                base: Default::default(),
                early: Default::default(),
            }),
            Location::S3 { bucket, prefix } => {
                let cache_root = cache.map_or_else(crate::default_cache_root, Path::to_path_buf);
                let remote = RemoteStore::open_s3(&bucket, &prefix, &cache_root)?;
                let ttl = if access == Access::Write {
                    Duration::ZERO
                } else {
                    ttl
                };
                let base = remote.refresh(ttl)?;
                Ok(Target {
                    name: remote.url().to_string(),
                    layout: remote.layout(),
                    remote: Some(remote),
                    base: std::sync::Mutex::new(base),
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

    fn no_store(&self) -> RemoteError {
        match &self.remote {
            Some(r) => RemoteError::NoStore(r.url().to_string()),
            None => RemoteError::Store(StoreError::NoStore {
                path: self.root().to_path_buf(),
            }),
        }
    }

    /// The commit the next one is published on top of: the newest when the target was
    /// resolved, then the last one it published (object storage only).
    pub fn base(&self) -> Option<u64> {
        *self.base.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An error naming the store when it is on object storage and has no commit (a local
    /// store's absence is found when it is opened).
    pub fn check_exists(&self) -> Result<()> {
        if self.remote.is_some() && self.base().is_none() {
            return Err(self.no_store());
        }
        Ok(())
    }

    /// A reader.
    pub fn open(&self) -> Result<PackedSequenceStorage> {
        self.check_exists()?;
        Ok(PackedSequenceStorage::open_in(self.layout.clone())?)
    }

    /// A reader of commit `at` (a local store; on object storage the cache holds the
    /// newest commit alone, which is opened).
    pub fn open_at(&self, at: Option<u64>) -> Result<PackedSequenceStorage> {
        self.check_exists()?;
        let at = if self.remote.is_some() { None } else { at };
        Ok(PackedSequenceStorage::open_at_in(self.layout.clone(), at)?)
    }

    /// A writer, creating the store if there is none. On object storage, each pack it
    /// closes is uploaded at once, while the writer goes on.
    pub fn open_writer(&self, mut options: StoreOptions) -> Result<PackedSequenceStorage> {
        if let Some(remote) = &self.remote {
            let (hook, uploads) = remote.upload_as_closed();
            options.on_pack_closed = Some(hook);
            *self.early.lock().unwrap_or_else(|p| p.into_inner()) = Some(uploads);
        }
        Ok(PackedSequenceStorage::open_writer_in(
            self.layout.clone(),
            options,
        )?)
    }

    /// A writer of a store that must exist.
    pub fn open_existing_writer(&self) -> Result<PackedSequenceStorage> {
        let exists = match &self.remote {
            Some(_) => self.base().is_some(),
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
        Ok(PackedSequenceStorage::open_for_repair_in(
            self.layout.clone(),
        )?)
    }

    /// Publishes the commit a writer made (object storage; nothing to do for a local
    /// store, whose commit is published by the library): the number published, if any.
    pub fn publish(&self) -> Result<Option<u64>> {
        let Some(remote) = &self.remote else {
            return Ok(None);
        };
        let early = self.early.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut base = self.base.lock().unwrap_or_else(|p| p.into_inner());
        let published = remote.publish(*base, early)?;
        if published.is_some() {
            *base = published;
        }
        Ok(published)
    }
}

/// The store a program works on when none is named: `~/.talaria/databases/sequences`.
pub fn default_store() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".talaria/databases/sequences")
}
