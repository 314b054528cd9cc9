//! Where every file of a store lives, and the one way new files are published:
//! temporary name, fsync, rename, fsync of the directory.

use std::io::Write;
use std::sync::Arc;

use pack_io::fs::DurableFile;
use pack_io::remote::RemotePacks;
use std::path::{Path, PathBuf};

use pack_format::PackId;

use crate::error::StoreError;

/// Paths of a store rooted at one directory.
///
/// ```text
/// ROOT/LOCK                      writer lock (flock), empty
/// ROOT/packs/pack_NNNN.tal       finished packs
/// ROOT/packs/pack_NNNN.tal.tmp   packs of an import not yet committed
/// ROOT/indices/pack_NNNN.idx     the index of a v1 pack
/// ROOT/indices/commit-NNNNNNNNNN the commit records (the highest number is the store)
/// ROOT/indices/layer-NNNNNNNNNN-TTTTTTTT.rows.idx         a layer's location or entry rows
/// ROOT/indices/layer-NNNNNNNNNN-TTTTTTTT.md5.idx          MD5 → SHA-256 prefix
/// ROOT/indices/layer-NNNNNNNNNN-TTTTTTTT.sha512t24u.idx
/// ROOT/indices/layer-NNNNNNNNNN-TTTTTTTT.accession.idx
/// ROOT/indices/multi-pack-index, alias-*.idx    the one layer of a store written before
///                                                layers (read, merged by the next commit)
/// ```
///
/// A store that lives elsewhere (an object store) has a local directory too, its cache:
/// index files and commit records are copied into it whole, packs are read through the
/// remote object `remote` names (see [`pack_io::remote`]), and new files are written in it
/// before they are uploaded.
#[derive(Clone, Debug)]
pub struct StoreLayout {
    root: PathBuf,
    remote: Option<Arc<dyn RemotePacks>>,
}

/// Name of the multi-pack index file of a store written before layers.
pub const MULTI_PACK_INDEX: &str = "multi-pack-index";

impl StoreLayout {
    /// The layout of the store at `root`.
    pub fn new(root: &Path) -> Self {
        StoreLayout {
            root: root.to_path_buf(),
            remote: None,
        }
    }

    /// The layout of a store whose packs are read from `remote`, with `root` as its local
    /// cache.
    pub fn with_remote(root: &Path, remote: Arc<dyn RemotePacks>) -> Self {
        StoreLayout {
            root: root.to_path_buf(),
            remote: Some(remote),
        }
    }

    /// Where packs not in the local directory are read from, for a store that lives
    /// elsewhere.
    pub fn remote(&self) -> Option<&Arc<dyn RemotePacks>> {
        self.remote.as_ref()
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `packs/`.
    pub fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    /// `indices/`.
    pub fn indices_dir(&self) -> PathBuf {
        self.root.join("indices")
    }

    /// A finished pack.
    pub fn pack_path(&self, id: PackId) -> PathBuf {
        self.packs_dir().join(pack_io::pack_file_name(id))
    }

    /// A pack being written.
    pub fn pack_temp_path(&self, id: PackId) -> PathBuf {
        self.packs_dir().join(pack_io::pack_temp_name(id))
    }

    /// The index of one pack.
    pub fn pack_index_path(&self, id: PackId) -> PathBuf {
        self.indices_dir().join(format!("pack_{id:04}.idx"))
    }

    /// The multi-pack index of a store written before layers.
    pub fn multi_index_path(&self) -> PathBuf {
        self.indices_dir().join(MULTI_PACK_INDEX)
    }

    /// Commit record `seq`.
    pub fn commit_record_path(&self, seq: u64) -> PathBuf {
        (self.indices_dir()).join(crate::commit_record::commit_record_name(seq))
    }

    /// The rows file of layer `name`.
    pub fn layer_rows_path(&self, name: crate::commit_record::LayerName) -> PathBuf {
        self.indices_dir().join(format!("{}.rows.idx", name.stem()))
    }

    /// The alias index of `kind` of layer `name`.
    pub fn layer_alias_path(
        &self,
        name: crate::commit_record::LayerName,
        kind: pack_index::IndexKind,
    ) -> PathBuf {
        let part = match kind {
            pack_index::IndexKind::Md5 => "md5",
            pack_index::IndexKind::Sha512t24u => "sha512t24u",
            _ => "accession",
        };
        self.indices_dir()
            .join(format!("{}.{part}.idx", name.stem()))
    }

    /// The alias index of `kind` (MD5, `sha512t24u` or accession) of a store written
    /// before layers.
    pub fn alias_index_path(&self, kind: pack_index::IndexKind) -> PathBuf {
        self.indices_dir().join(alias_index_name(kind))
    }

    /// The writer lock.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("LOCK")
    }
}

/// The alias index kinds a store keeps, in the order they are written.
pub const ALIAS_KINDS: [pack_index::IndexKind; 3] = [
    pack_index::IndexKind::Md5,
    pack_index::IndexKind::Sha512t24u,
    pack_index::IndexKind::Accession,
];

/// File name of the alias index of `kind`.
pub fn alias_index_name(kind: pack_index::IndexKind) -> &'static str {
    match kind {
        pack_index::IndexKind::Md5 => "alias-md5.idx",
        pack_index::IndexKind::Sha512t24u => "alias-sha512t24u.idx",
        _ => "alias-accession.idx",
    }
}

/// The pack id of an index file name `pack_NNNN.idx`.
pub fn parse_pack_index_name(name: &str) -> Option<PackId> {
    let digits = name.strip_prefix("pack_")?.strip_suffix(".idx")?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a rename or creation in `dir` durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    pack_io::fs::sync_dir(dir).map_err(io_err(dir))
}

/// Writes a new file at `path` through `write`: to `path.tmp`, fsync, rename, fsync dir.
/// The previous file at `path`, if any, stays whole until the rename replaces it.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut DurableFile>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    StagedFile::write(path, write)?.publish()
}

/// A new file written and fsynced under a temporary name beside its final one, waiting to
/// be renamed into place ([`publish`](Self::publish)). Dropped unpublished, the temporary
/// file is removed: the published file was never touched.
#[must_use = "a staged file is removed unless published"]
pub struct StagedFile {
    tmp: PathBuf,
    path: PathBuf,
    published: bool,
}

impl StagedFile {
    /// Writes `path.tmp` through `write` and fsyncs it.
    pub fn write(
        path: &Path,
        write: impl FnOnce(&mut std::io::BufWriter<&mut DurableFile>) -> Result<(), StoreError>,
    ) -> Result<StagedFile, StoreError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let staged = StagedFile {
            tmp: PathBuf::from(tmp),
            path: path.to_path_buf(),
            published: false,
        };
        // From here on, an error drops `staged`, which removes the temporary file (ours
        // and incomplete).
        let mut file = DurableFile::create_truncate(&staged.tmp).map_err(io_err(&staged.tmp))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        write(&mut w)?;
        w.flush().map_err(io_err(&staged.tmp))?;
        drop(w);
        file.sync_all().map_err(io_err(&staged.tmp))?;
        Ok(staged)
    }

    /// Renames the file into place and fsyncs the directory.
    pub fn publish(mut self) -> Result<(), StoreError> {
        pack_io::fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        self.published = true;
        fsync_dir(self.path.parent().expect("store files live in a directory"))
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = pack_io::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_parse() {
        assert_eq!(parse_pack_index_name("pack_0012.idx"), Some(12));
        assert_eq!(parse_pack_index_name("pack_0012.idx.tmp"), None);
        assert_eq!(parse_pack_index_name(MULTI_PACK_INDEX), None);
    }

    #[test]
    fn a_failed_atomic_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").unwrap();
        let r = write_atomically(&path, |w| {
            w.write_all(b"partial").unwrap();
            Err(StoreError::Corrupt("simulated".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!dir.path().join("f.tmp").exists());
        write_atomically(&path, |w| {
            w.write_all(b"new").map_err(io_err(Path::new("f")))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
