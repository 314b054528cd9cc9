//! A remote store's local cache: its newest commit record and the index files it names,
//! copied whole; stubs of the packs read so far; and, while a writer works, the files of
//! its commit before they are published.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sequoia_store::commit_record::{
    commit_record_name, list_commit_records, parse_commit_record_name, read_commit_record,
    CommitRecord, LayerName,
};
use sequoia_store::layout::StoreLayout;

use crate::client::{Created, ObjectClient};
use crate::packs::PackObjects;
use crate::RemoteError;

/// The cache directory's file that says when the remote commit records were last listed,
/// and which number was newest then.
const REFRESHED: &str = "REFRESHED";

/// Packs uploaded at once by a commit.
const UPLOADS: usize = 4;

/// Where caches live unless `--cache` says: `$XDG_CACHE_HOME/sequoia`, else
/// `~/.cache/sequoia`.
pub fn default_cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("sequoia");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/sequoia")
}

/// A store on object storage and its local cache.
#[derive(Debug, Clone)]
pub struct RemoteStore {
    client: Arc<ObjectClient>,
    cache: PathBuf,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RemoteStore {
    /// The store at `s3://bucket/prefix`, cached under `cache_root` (in a directory of its
    /// own, named for the bucket, the prefix and the endpoint).
    pub fn open_s3(
        bucket: &str,
        prefix: &str,
        cache_root: &Path,
    ) -> Result<RemoteStore, RemoteError> {
        let client = Arc::new(ObjectClient::s3(bucket, prefix)?);
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        let tag = {
            use sha2::Digest;
            let h = sha2::Sha256::digest(format!("{endpoint}\n{}", client.url()).as_bytes());
            h[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let readable: String = format!("{bucket}-{prefix}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let cache = cache_root.join(format!("{readable}-{tag}"));
        Ok(RemoteStore { client, cache })
    }

    /// The requests this process made to the store.
    pub fn client(&self) -> &Arc<ObjectClient> {
        &self.client
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// The local cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// The layout the store library works on: the cache, with packs read remotely.
    pub fn layout(&self) -> StoreLayout {
        StoreLayout::with_remote(&self.cache, Arc::new(PackObjects::new(self.client.clone())))
    }

    fn cache_layout(&self) -> StoreLayout {
        StoreLayout::new(&self.cache)
    }

    /// Brings the cache to the store's newest commit: lists the commit records (unless
    /// the cache listed them less than `max_age` ago), copies the newest and the index
    /// files it names that the cache lacks. Returns its number (`None`: the store has no
    /// commit record, it does not exist yet).
    pub fn refresh(&self, max_age: Duration) -> Result<Option<u64>, RemoteError> {
        let layout = self.cache_layout();
        for dir in [layout.packs_dir(), layout.indices_dir()] {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let stamp = self.cache.join(REFRESHED);
        if !max_age.is_zero() {
            if let Some(seq) = fresh_stamp(&stamp, max_age) {
                if seq.is_none_or(|s| layout.commit_record_path(s).exists()) {
                    return Ok(seq);
                }
            }
        }
        let listed = self.client.list("indices")?;
        let newest = listed
            .iter()
            .filter_map(|l| parse_commit_record_name(&l.name))
            .max();
        if let Some(seq) = newest {
            let path = layout.commit_record_path(seq);
            if !path.exists() {
                // Records are created once and never rewritten: a cached copy is the
                // object.
                self.client
                    .download(&format!("indices/{}", commit_record_name(seq)), &path)?;
            }
            let record = read_commit_record(&layout, seq)?;
            let named: HashSet<LayerName> = record.layers.iter().map(|l| l.name).collect();
            for l in &listed {
                let Some(layer) = LayerName::parse_file_name(&l.name) else {
                    continue;
                };
                let path = layout.indices_dir().join(&l.name);
                if named.contains(&layer) && !path.exists() {
                    self.client
                        .download(&format!("indices/{}", l.name), &path)?;
                }
            }
            self.tidy(Some(&record))?;
        } else {
            self.tidy(None)?;
        }
        let text = newest.map_or_else(|| "none".to_string(), |s| s.to_string());
        std::fs::write(&stamp, text).map_err(io_err(&stamp))?;
        Ok(newest)
    }

    /// Removes from the cache what the store's commit `record` does not name: other commit
    /// records (older ones, or the record of a commit that was never published), index
    /// files, packs and stubs. Skipped while a writer of this cache holds its lock (its
    /// files are not named by any record yet).
    fn tidy(&self, record: Option<&CommitRecord>) -> Result<(), RemoteError> {
        let layout = self.cache_layout();
        let Ok(_lock) = sequoia_store::WriterLock::acquire(&layout.lock_path()) else {
            return Ok(());
        };
        let named: HashSet<String> = record.map_or_else(HashSet::new, |r| {
            (r.layers.iter())
                .map(|l| l.name.stem())
                .chain([commit_record_name(r.seq)])
                .collect()
        });
        let packs: HashSet<u32> =
            record.map_or_else(HashSet::new, |r| r.packs.iter().copied().collect());
        let indices = layout.indices_dir();
        for item in std::fs::read_dir(&indices).map_err(io_err(&indices))? {
            let item = item.map_err(io_err(&indices))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or_default();
            if !named.contains(stem) {
                let _ = std::fs::remove_file(item.path());
            }
        }
        let dir = layout.packs_dir();
        for item in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let item = item.map_err(io_err(&dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".part").unwrap_or(&name);
            let keep = pack_io::parse_pack_file_name(base).is_some_and(|id| packs.contains(&id));
            if !keep {
                let _ = std::fs::remove_file(item.path());
            }
        }
        Ok(())
    }

    /// Uploads pack `id` of the cache, create-only: a pack of its name in the store means
    /// another writer numbered its packs alike, a conflict over commit `seq`.
    fn upload_pack(&self, layout: &StoreLayout, id: u32, seq: u64) -> Result<(), RemoteError> {
        let path = layout.pack_path(id);
        let data = std::fs::read(&path).map_err(io_err(&path))?;
        let rel = format!("packs/{}", pack_io::pack_file_name(id));
        match self.client.put_create(&rel, data)? {
            Created::Yes => Ok(()),
            Created::Exists => Err(RemoteError::Conflict {
                url: self.url().to_string(),
                seq,
            }),
        }
    }

    /// Publishes the commit a writer made in the cache on top of commit `base` (the newest
    /// when it started): uploads the packs of its record the store lacks (create-only: a
    /// pack of that name there means another writer is numbering packs alike), the index
    /// files of its layers, and last its commit record, created only if no record of its
    /// number exists. Returns the published number, or `None` when the cache holds no
    /// commit past `base`. On a lost race, the cache is put back to `base` and
    /// [`RemoteError::Conflict`] returned.
    pub fn publish(
        &self,
        base: Option<u64>,
        early: Option<crate::EarlyUploads>,
    ) -> Result<Option<u64>, RemoteError> {
        let layout = self.cache_layout();
        let early = early.map(crate::EarlyUploads::finish);
        let Some(&top) = list_commit_records(&layout)?.first() else {
            return Ok(None);
        };
        if Some(top) <= base {
            return early.transpose().map(|_| None);
        }
        let record = read_commit_record(&layout, top)?;
        // This commit's packs: those its record lists that the commit it started from
        // did not.
        let before: HashSet<u32> = match base {
            Some(b) if layout.commit_record_path(b).exists() => {
                read_commit_record(&layout, b)?.packs.into_iter().collect()
            }
            _ => HashSet::new(),
        };
        let made: Vec<u32> = (record.packs.iter().copied())
            .filter(|id| !before.contains(id))
            .collect();
        if let Some(Err(e)) = early {
            self.roll_back(&layout, top, &made);
            return Err(e);
        }
        let remote_packs: HashSet<String> = self
            .client
            .list("packs")?
            .into_iter()
            .map(|l| l.name)
            .collect();
        let remote_indices: HashSet<String> = self
            .client
            .list("indices")?
            .into_iter()
            .map(|l| l.name)
            .collect();
        let ours: Vec<u32> = (record.packs.iter().copied())
            .filter(|&id| !remote_packs.contains(&pack_io::pack_file_name(id)))
            .collect();
        let outcome = (|| {
            // Four uploads at a time; the first failure stops the others' next start.
            crate::on_workers(UPLOADS, &ours, |&id| {
                self.upload_pack(&layout, id, top).map(|()| 0)
            })?;
            let named: HashSet<String> = record.layers.iter().map(|l| l.name.stem()).collect();
            let dir = layout.indices_dir();
            for item in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
                let item = item.map_err(io_err(&dir))?;
                let name = item.file_name().to_string_lossy().into_owned();
                let is_layer = LayerName::parse_file_name(&name)
                    .is_some_and(|l| named.contains(&l.stem()) && !name.ends_with(".tmp"));
                if is_layer && !remote_indices.contains(&name) {
                    self.client
                        .upload(&format!("indices/{name}"), &item.path())?;
                }
            }
            let bytes = record.encode();
            match self
                .client
                .put_create(&format!("indices/{}", commit_record_name(top)), bytes)?
            {
                Created::Yes => Ok(()),
                Created::Exists => Err(RemoteError::Conflict {
                    url: self.url().to_string(),
                    seq: top,
                }),
            }
        })();
        match outcome {
            Ok(()) => {
                let stamp = self.cache.join(REFRESHED);
                std::fs::write(&stamp, top.to_string()).map_err(io_err(&stamp))?;
                Ok(Some(top))
            }
            Err(e) => {
                self.roll_back(&layout, top, &made);
                Err(e)
            }
        }
    }

    /// Puts the cache back to the store's state after commit `top` failed to publish: its
    /// record and its packs (whose names another writer may take) leave the cache.
    fn roll_back(&self, layout: &StoreLayout, top: u64, made: &[u32]) {
        let _ = std::fs::remove_file(layout.commit_record_path(top));
        for &id in made {
            let _ = std::fs::remove_file(layout.pack_path(id));
        }
        let _ = std::fs::remove_file(self.cache.join(REFRESHED));
    }
}

/// The number the stamp at `path` holds if it was written less than `max_age` ago
/// (`Some(None)`: the store had no record then).
fn fresh_stamp(path: &Path, max_age: Duration) -> Option<Option<u64>> {
    let meta = std::fs::metadata(path).ok()?;
    let age = meta.modified().ok()?.elapsed().ok()?;
    if age > max_age {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim() {
        "none" => Some(None),
        t => t.parse().ok().map(Some),
    }
}
