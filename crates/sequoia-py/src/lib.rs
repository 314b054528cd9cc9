//! The Python module `sequoia`: SEQUOIA stores from Python, on the Rust library.
//!
//! ```python
//! import sequoia
//! with sequoia.open("/data/store") as store:
//!     print(store["P69905"][:10], len(store))
//! ```
//!
//! One file per part: `store.rs` (the `Store` class), `read.rs` (reads by identifier and
//! batches), `write.rs` (imports and commits), `iter.rs` (whole-store iterators),
//! `info.rs` (`SequenceInfo`, `Representation`), `errors.rs` (exceptions).

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod errors;
mod info;
mod iter;
mod read;
mod store;
mod write;

use store::Store;

/// mimalloc for the module's own (Rust) allocations: a batch allocates a buffer per
/// sequence on the reading threads and frees it on the calling one, which glibc's
/// per-thread arenas serialise (as in the `sequoia` binary).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A location as text: a path, `file://PATH` or `s3://BUCKET/PREFIX`.
pub(crate) fn location_text(path: PathBuf) -> PyResult<String> {
    path.into_os_string()
        .into_string()
        .map_err(|p| PyValueError::new_err(format!("{p:?}: the location is not valid UTF-8")))
}

/// Opens the store at `location` (a directory, `file://PATH` or `s3://BUCKET/PREFIX`):
/// read-only by default; `read_only=False` opens it for writing, creating it if needed
/// (one writer per store: a second raises `StoreLockedError`). `cache`: the local cache
/// directory of a store on object storage (default under the user's cache directory);
/// `cache_ttl`: seconds a reader trusts its last look at the newest commit there.
///
/// `with sequoia.open(path, read_only=False) as w:` commits what the block wrote when it
/// ends, or rolls it back if it raised.
#[pyfunction]
#[pyo3(name = "open", signature = (location, *, read_only = true, cache = None, cache_ttl = 10.0))]
fn open_store(
    py: Python<'_>,
    location: PathBuf,
    read_only: bool,
    cache: Option<PathBuf>,
    cache_ttl: f64,
) -> PyResult<Store> {
    Store::new(py, location, read_only, cache, cache_ttl)
}

/// Re-opens a pickled store at its commit (what unpickling calls).
#[pyfunction]
#[pyo3(signature = (location, commit, cache))]
fn _reopen(
    py: Python<'_>,
    location: String,
    commit: Option<u64>,
    cache: Option<PathBuf>,
) -> PyResult<Store> {
    Store::open(py, location, true, cache, 10.0, commit)
}

/// SEQUOIA sequence stores: every distinct sequence once, keyed by the SHA-256 of its
/// residues, with every source record of it; read by SHA-256, MD5, refget `SQ.` digest or
/// accession. Start with `sequoia.open(path)`; `help(sequoia.Store)` shows the API.
#[pymodule]
fn sequoia(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(open_store, m)?)?;
    m.add_function(wrap_pyfunction!(_reopen, m)?)?;
    m.add_class::<Store>()?;
    m.add_class::<info::SequenceInfo>()?;
    m.add_class::<info::Representation>()?;
    m.add("NoStoreError", py.get_type::<errors::NoStoreError>())?;
    m.add(
        "StoreLockedError",
        py.get_type::<errors::StoreLockedError>(),
    )?;
    m.add(
        "CorruptStoreError",
        py.get_type::<errors::CorruptStoreError>(),
    )?;
    m.add("ReadOnlyError", py.get_type::<errors::ReadOnlyError>())?;
    m.add("ConflictError", py.get_type::<errors::ConflictError>())?;
    m.add(
        "AmbiguousIdError",
        py.get_type::<errors::AmbiguousIdError>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
