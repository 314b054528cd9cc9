//! The library's errors as Python exceptions: `KeyError` for an identifier that names
//! nothing, `ValueError` for malformed input, `OSError` subclasses for files and objects
//! (named in the message), the message always the library's own.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileNotFoundError, PyLookupError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::PyErr;
use sequoia_remote::RemoteError;
use sequoia_store::{ImportError, StoreError};

create_exception!(
    sequoia,
    NoStoreError,
    PyFileNotFoundError,
    "There is no store at the location (or no commit of the number asked for)."
);
create_exception!(
    sequoia,
    StoreLockedError,
    PyOSError,
    "Another writer holds the store's lock; wait for it to finish."
);
create_exception!(
    sequoia,
    CorruptStoreError,
    PyOSError,
    "A pack or index file of the store is damaged (`sequoia verify` names it; `sequoia rebuild-index` repairs indexes)."
);
create_exception!(
    sequoia,
    ReadOnlyError,
    PyOSError,
    "A write on a store opened read-only (open it with read_only=False)."
);
create_exception!(
    sequoia,
    ConflictError,
    PyOSError,
    "Another writer published a commit to the same object storage first; nothing of this commit is visible. Run the write again."
);
create_exception!(
    sequoia,
    AmbiguousIdError,
    PyLookupError,
    "An accession names several distinct sequences; `Store.find(id)` lists their SHA-256 keys."
);

/// A store error as the Python exception for its kind.
pub fn store_error(e: StoreError) -> PyErr {
    let message = e.to_string();
    match e {
        StoreError::NoStore { .. } | StoreError::NoCommit { .. } => NoStoreError::new_err(message),
        StoreError::Locked { .. } => StoreLockedError::new_err(message),
        StoreError::ReadOnly => ReadOnlyError::new_err(message),
        StoreError::InvalidSequence(_) => PyValueError::new_err(message),
        StoreError::Io { source, .. } => io_error(source.kind(), message),
        StoreError::Pack(pack_io_error) => match pack_io_error {
            pack_io::Error::Io { source, .. } => io_error(source.kind(), message),
            _ => CorruptStoreError::new_err(message),
        },
        StoreError::Index { .. }
        | StoreError::Corrupt(_)
        | StoreError::PackUnavailable { .. }
        | StoreError::NeedsRepair(_) => CorruptStoreError::new_err(message),
        StoreError::Uncommitted(_) | StoreError::Repack(_) | StoreError::Poisoned(_) => {
            PyOSError::new_err(message)
        }
    }
}

/// An error of a store's location (object storage) as a Python exception.
pub fn remote_error(e: RemoteError) -> PyErr {
    match e {
        RemoteError::Store(e) => store_error(e),
        RemoteError::BadUrl { .. } => PyValueError::new_err(e.to_string()),
        RemoteError::NoStore(_) => NoStoreError::new_err(e.to_string()),
        RemoteError::Conflict { .. } => ConflictError::new_err(e.to_string()),
        RemoteError::Io { ref source, .. } => io_error(source.kind(), e.to_string()),
        e => PyOSError::new_err(e.to_string()),
    }
}

/// An import's error: bad FASTA is a `ValueError` naming file, line and byte offset; a
/// file that cannot be read an `OSError`.
pub fn import_error(e: ImportError) -> PyErr {
    match e {
        ImportError::Fasta(f) => match &f.source {
            Some(io) => io_error(io.kind(), f.to_string()),
            None => PyValueError::new_err(f.to_string()),
        },
        ImportError::Store(e) => store_error(e),
    }
}

/// The `OSError` subclass Python raises for an error of this kind.
pub fn io_error(kind: std::io::ErrorKind, message: String) -> PyErr {
    match kind {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}
