//! The writer lock: an advisory `flock` on `ROOT/LOCK`, released by the kernel when the
//! holder exits or is killed, so a crashed writer never blocks the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::StoreError;
use crate::layout::io_err;

/// Held while a process may write to the store.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the lock or fails at once with [`StoreError::Locked`].
    pub fn acquire(path: &Path) -> Result<WriterLock, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: path.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(io_err(path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let first = WriterLock::acquire(&path).unwrap();
        assert!(matches!(
            WriterLock::acquire(&path),
            Err(StoreError::Locked { .. })
        ));
        drop(first);
        WriterLock::acquire(&path).unwrap();
    }
}
