//! Every file operation that makes a store durable goes through here: creating, writing and
//! fsyncing files, renaming them, fsyncing directories, removing temporary files.
//!
//! Production code pays one atomic load per operation. Tests install an [`IoHook`] that
//! sees every operation before it happens and may fail it: that is how the reliability
//! suites inject full disks and I/O errors, and record which bytes were fsynced when, to
//! rebuild what a power cut at any moment would have left on disk.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// One operation, as an [`IoHook`] sees it.
#[derive(Debug)]
pub enum IoOp<'a> {
    /// A new, empty file.
    Create {
        /// The file.
        path: &'a Path,
    },
    /// Bytes written at `offset`.
    Write {
        /// The file.
        path: &'a Path,
        /// Where the bytes go.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// `fsync` of a file.
    SyncFile {
        /// The file.
        path: &'a Path,
    },
    /// A rename (replacing `to` if it exists).
    Rename {
        /// Old name.
        from: &'a Path,
        /// New name.
        to: &'a Path,
    },
    /// `fsync` of a directory.
    SyncDir {
        /// The directory.
        path: &'a Path,
    },
    /// A removed file.
    Remove {
        /// The file.
        path: &'a Path,
    },
}

/// Observes file operations and may fail them (tests only).
pub trait IoHook: Send + Sync {
    /// Called before `op` runs; an error is returned to the caller instead of running it.
    fn before(&self, op: &IoOp<'_>) -> std::io::Result<()>;
}

static HOOKED: AtomicBool = AtomicBool::new(false);
static HOOK: RwLock<Option<Arc<dyn IoHook>>> = RwLock::new(None);

/// Installs (or with `None` removes) the process-wide hook.
pub fn set_hook(hook: Option<Arc<dyn IoHook>>) {
    let mut h = HOOK.write().unwrap_or_else(|p| p.into_inner());
    HOOKED.store(hook.is_some(), Ordering::SeqCst);
    *h = hook;
}

fn check(op: IoOp<'_>) -> std::io::Result<()> {
    if !HOOKED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let hook = HOOK.read().unwrap_or_else(|p| p.into_inner()).clone();
    match hook {
        Some(h) => h.before(&op),
        None => Ok(()),
    }
}

/// A file being written: every write and fsync passes the hook.
#[derive(Debug)]
pub struct DurableFile {
    file: File,
    path: PathBuf,
    offset: u64,
    crc: crc32fast::Hasher,
}

impl DurableFile {
    /// Creates `path`, failing if it exists.
    pub fn create_new(path: &Path) -> std::io::Result<DurableFile> {
        check(IoOp::Create { path })?;
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(DurableFile {
            file,
            path: path.to_path_buf(),
            offset: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Creates `path`, truncating it if it exists (for temporary files only).
    pub fn create_truncate(path: &Path) -> std::io::Result<DurableFile> {
        check(IoOp::Create { path })?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(DurableFile {
            file,
            path: path.to_path_buf(),
            offset: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// CRC-32 of the bytes written so far.
    pub fn crc32(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.offset
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// `fsync`: data and metadata reach the disk.
    pub fn sync_all(&self) -> std::io::Result<()> {
        check(IoOp::SyncFile { path: &self.path })?;
        self.file.sync_all()
    }
}

impl Write for DurableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        check(IoOp::Write {
            path: &self.path,
            offset: self.offset,
            data: buf,
        })?;
        let n = self.file.write(buf)?;
        if n < buf.len() && HOOKED.load(Ordering::Relaxed) {
            // The hook saw all of `buf`; keep its record exact by refusing short writes.
            return Err(std::io::Error::other(
                "short write while an I/O hook is installed",
            ));
        }
        self.crc.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Renames `from` to `to` (atomically replacing `to`).
pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    check(IoOp::Rename { from, to })?;
    std::fs::rename(from, to)
}

/// `fsync` of a directory, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    check(IoOp::SyncDir { path: dir })?;
    File::open(dir)?.sync_all()
}

/// Removes a file (only temporary files of the caller's own, uncommitted writes).
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    check(IoOp::Remove { path })?;
    std::fs::remove_file(path)
}
