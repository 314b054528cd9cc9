//! `sequoia sync`: a store copied to another location, the files the destination lacks
//! first and the commit record last.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sequoia_store::commit_record::{
    commit_record_name, parse_commit_record_name, CommitRecord, LayerName,
};
use sequoia_store::layout::StoreLayout;

use crate::client::{Created, Listed, ObjectClient};
use crate::{Location, RemoteError};

/// What a sync did.
#[derive(Debug, Default, Clone)]
pub struct SyncSummary {
    /// The commit the destination is at now.
    pub seq: u64,
    /// Files copied (the commit record included).
    pub files: usize,
    /// Bytes copied.
    pub bytes: u64,
    /// Files the destination had already.
    pub skipped: usize,
    /// Wall time.
    pub seconds: f64,
}

/// One end of a sync.
enum Side {
    Local(PathBuf),
    Remote(Arc<ObjectClient>),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RemoteError + '_ {
    move |source| RemoteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Side {
    fn open(location: &Location) -> Result<Side, RemoteError> {
        Ok(match location {
            Location::Local(p) => Side::Local(p.clone()),
            Location::S3 { bucket, prefix } => {
                Side::Remote(Arc::new(ObjectClient::s3(bucket, prefix)?))
            }
        })
    }

    fn name(&self, rel: &str) -> String {
        match self {
            Side::Local(root) => root.join(rel).display().to_string(),
            Side::Remote(c) => c.url_of(rel),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<Listed>, RemoteError> {
        match self {
            Side::Remote(c) => c.list(dir),
            Side::Local(root) => {
                let dir = root.join(dir);
                let items = match std::fs::read_dir(&dir) {
                    Ok(items) => items,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io_err(&dir)(e)),
                };
                let mut out = Vec::new();
                for item in items {
                    let item = item.map_err(io_err(&dir))?;
                    let meta = item.metadata().map_err(io_err(&item.path()))?;
                    if !meta.is_file() {
                        continue;
                    }
                    out.push(Listed {
                        name: item.file_name().to_string_lossy().into_owned(),
                        size: meta.len(),
                        modified: meta.modified().map_err(io_err(&item.path()))?,
                    });
                }
                Ok(out)
            }
        }
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>, RemoteError> {
        match self {
            Side::Remote(c) => c.get(rel)?.ok_or_else(|| {
                RemoteError::Mismatch(format!("{}: gone while syncing", c.url_of(rel)))
            }),
            Side::Local(root) => {
                let path = root.join(rel);
                std::fs::read(&path).map_err(io_err(&path))
            }
        }
    }

    /// Writes `data` as `rel` unless it exists: create-only on object storage; a new file
    /// (temporary name, fsync, rename, fsync of the directory) in a local store, whose
    /// writer lock the sync holds.
    fn write_new(&self, rel: &str, data: Vec<u8>) -> Result<Created, RemoteError> {
        match self {
            Side::Remote(c) => c.put_create(rel, data),
            Side::Local(root) => {
                let path = root.join(rel);
                if path.exists() {
                    return Ok(Created::Exists);
                }
                sequoia_store::layout::write_atomically(&path, |w| {
                    std::io::Write::write_all(w, &data).map_err(|source| {
                        sequoia_store::StoreError::Io {
                            path: path.clone(),
                            source,
                        }
                    })
                })?;
                Ok(Created::Yes)
            }
        }
    }

    /// The newest commit record: its number and bytes.
    fn newest(&self, indices: &[Listed]) -> Result<Option<(u64, Vec<u8>)>, RemoteError> {
        let Some(seq) = indices
            .iter()
            .filter_map(|l| parse_commit_record_name(&l.name))
            .max()
        else {
            return Ok(None);
        };
        let bytes = self.read(&format!("indices/{}", commit_record_name(seq)))?;
        Ok(Some((seq, bytes)))
    }
}

/// Copies the store at `src` to `dst` (either may be local or on object storage): every
/// pack and index file of `src`'s newest commit that `dst` lacks, four at a time, then
/// that commit's record, created only if `dst` has no record of its number. An
/// interrupted sync leaves `dst` at its previous commit; running it again copies only
/// what is still missing. Refused when `dst` holds commits `src` lacks, or a file of
/// the same name with other bytes (another store).
pub fn sync(src: &Location, dst: &Location) -> Result<SyncSummary, RemoteError> {
    let started = Instant::now();
    let from = Side::open(src)?;
    let to = Side::open(dst)?;
    let _lock = match dst {
        Location::Local(root) => {
            let layout = StoreLayout::new(root);
            for dir in [layout.packs_dir(), layout.indices_dir()] {
                std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            }
            Some(sequoia_store::WriterLock::acquire(&layout.lock_path())?)
        }
        Location::S3 { .. } => None,
    };
    let src_indices = from.list("indices")?;
    let Some((seq, record_bytes)) = from.newest(&src_indices)? else {
        return Err(RemoteError::NoStore(src.to_string()));
    };
    let record_path = PathBuf::from(from.name(&format!("indices/{}", commit_record_name(seq))));
    let record = CommitRecord::decode(&record_path, &record_bytes)?;
    let dst_indices = to.list("indices")?;
    let dst_packs = to.list("packs")?;
    let mut summary = SyncSummary {
        seq,
        ..SyncSummary::default()
    };
    if let Some((dst_seq, dst_bytes)) = to.newest(&dst_indices)? {
        if dst_seq > seq || (dst_seq == seq && dst_bytes != record_bytes) {
            return Err(RemoteError::Mismatch(format!(
                "{dst} is at commit {dst_seq}, which {src} (at commit {seq}) does not have: refusing to sync over it"
            )));
        }
        if dst_seq == seq {
            summary.seconds = started.elapsed().as_secs_f64();
            summary.skipped = 1;
            return Ok(summary);
        }
    }
    // What the commit needs: its packs and the files of its layers.
    let named: std::collections::HashSet<LayerName> =
        record.layers.iter().map(|l| l.name).collect();
    let mut wanted: Vec<(String, u64)> = Vec::new();
    let src_packs = from.list("packs")?;
    for &id in &record.packs {
        let name = pack_io::pack_file_name(id);
        let size = (src_packs.iter().find(|l| l.name == name))
            .map(|l| l.size)
            .ok_or_else(|| {
                RemoteError::Mismatch(format!(
                    "{}: listed in commit {seq} but missing",
                    from.name(&format!("packs/{name}"))
                ))
            })?;
        wanted.push((format!("packs/{name}"), size));
    }
    for l in &src_indices {
        if LayerName::parse_file_name(&l.name).is_some_and(|n| named.contains(&n))
            && !l.name.ends_with(".tmp")
        {
            wanted.push((format!("indices/{}", l.name), l.size));
        }
    }
    let present = |rel: &str| -> Option<u64> {
        let (dir, name) = rel.split_once('/')?;
        let list = if dir == "packs" {
            &dst_packs
        } else {
            &dst_indices
        };
        list.iter().find(|l| l.name == name).map(|l| l.size)
    };
    let mut todo = Vec::new();
    for (rel, size) in wanted {
        match present(&rel) {
            Some(s) if s == size => summary.skipped += 1,
            Some(s) => {
                return Err(RemoteError::Mismatch(format!(
                    "{} holds {s} bytes where {} holds {size}: the destination is another store",
                    to.name(&rel),
                    from.name(&rel)
                )))
            }
            None => todo.push((rel, size)),
        }
    }
    let bytes = crate::on_workers(4, &todo, |(rel, _)| {
        let data = from.read(rel)?;
        let n = data.len() as u64;
        match to.write_new(rel, data)? {
            Created::Yes => Ok(n),
            Created::Exists => Err(RemoteError::Mismatch(format!(
                "{} appeared while syncing: another writer is at work there",
                to.name(rel)
            ))),
        }
    })?;
    let record_rel = format!("indices/{}", commit_record_name(seq));
    let n = record_bytes.len() as u64;
    if to.write_new(&record_rel, record_bytes)? == Created::Exists {
        return Err(RemoteError::Conflict {
            url: dst.to_string(),
            seq,
        });
    }
    summary.files = todo.len() + 1;
    summary.bytes = bytes + n;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
