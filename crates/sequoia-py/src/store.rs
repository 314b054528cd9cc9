//! `sequoia.Store`: a store opened for reading (any number of threads at once, the GIL
//! released while the library works) or for writing (one writer per store).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use sequoia_remote::{Access, Target};
use sequoia_store::{PackedSequenceStorage, SequenceDigests, SequenceId, StoreOptions};

use crate::errors::{remote_error, store_error, ReadOnlyError};
use crate::info::{Representation, SequenceInfo};
use crate::iter::{KeyIter, StreamIter};
use crate::read::{self, Missing, Region};
use crate::write;

/// The library's handles of an open store.
#[derive(Clone)]
pub(crate) struct Opened {
    pub store: Arc<PackedSequenceStorage>,
    pub target: Arc<Target>,
}

/// A SEQUOIA store: every distinct sequence once, keyed by the SHA-256 of its residues,
/// with every source record of it (its representations: header and source).
///
/// `Store(location, *, read_only=True, cache=None, cache_ttl=10.0)` opens the store at
/// `location`: a directory, `file://PATH` or `s3://BUCKET/PREFIX` (credentials and
/// endpoint from the AWS_* variables; `cache` is the local cache directory of a store on
/// object storage). `sequoia.open` does the same.
///
/// Reads take any identifier the `sequoia` command takes: a SHA-256 (64 hex digits), an
/// MD5 (32), a refget digest (`SQ.…`, `ga4gh:SQ.…`, or 48 hex digits) or an accession
/// (`P69905`, `HBA_HUMAN`, a header's first word). Coordinates are 0-based and
/// end-exclusive, as in Python slices, refget and pysam.
///
/// - `store[id]` -> str (KeyError if nothing matches), `store.get(id, default=None)`,
///   `store.fetch(id, start=None, end=None)`, `id in store`, `len(store)` (distinct
///   sequences), `iter(store)` (SHA-256 keys).
/// - `store.fetch_many(ids_or_(id, start, end)_tuples, missing="raise")`: a list in
///   input order, read in pack order with the GIL released.
/// - `store.info(id)` -> SequenceInfo, `store.find(id)` -> SHA-256 keys, `store.stats()`.
/// - `store.records()` yields (header, source, residues) for every representation,
///   `store.sequences()` (sha256, residues) once per sequence; both stream.
/// - Writing (`read_only=False`): `import_fasta(paths, source=None)`,
///   `put_many(records, source=...)`; each commits when it ends, all or nothing, except
///   inside `with store:`, which commits on a clean exit and rolls back on an exception.
///
/// Reads may run from many threads at once. A read-only store pickles (it re-opens by
/// location and commit in the other process), so multiprocessing and Dask work.
#[pyclass(module = "sequoia", frozen)]
pub struct Store {
    location: String,
    cache: Option<PathBuf>,
    read_only: bool,
    opened: RwLock<Option<Opened>>,
    /// Inside a writer's `with` block: writes are committed when it ends.
    in_block: AtomicBool,
}

impl Store {
    /// Opens `location` for reading (at commit `at`, or the newest) or for writing.
    pub(crate) fn open(
        py: Python<'_>,
        location: String,
        read_only: bool,
        cache: Option<PathBuf>,
        cache_ttl: f64,
        at: Option<u64>,
    ) -> PyResult<Store> {
        if !(cache_ttl >= 0.0 && cache_ttl.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "cache_ttl must be a number of seconds >= 0, not {cache_ttl}"
            )));
        }
        let ttl = Duration::from_secs_f64(cache_ttl);
        let opened = py.detach(|| -> PyResult<Opened> {
            let access = if read_only {
                Access::Read
            } else {
                Access::Write
            };
            let target =
                Target::resolve(&location, cache.as_deref(), ttl, access).map_err(remote_error)?;
            let store = if read_only {
                target.open_at(at)
            } else {
                target.open_writer(StoreOptions::default())
            }
            .map_err(remote_error)?;
            Ok(Opened {
                store: Arc::new(store),
                target: Arc::new(target),
            })
        })?;
        Ok(Store {
            location,
            cache,
            read_only,
            opened: RwLock::new(Some(opened)),
            in_block: AtomicBool::new(false),
        })
    }

    /// The open store's handles, or `ValueError` once closed.
    pub(crate) fn handles(&self) -> PyResult<Opened> {
        self.opened
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PyValueError::new_err("operation on a closed store"))
    }

    fn store(&self) -> PyResult<Arc<PackedSequenceStorage>> {
        Ok(self.handles()?.store)
    }

    /// The handles of a store opened for writing, or `ReadOnlyError`.
    fn writer(&self) -> PyResult<Opened> {
        if self.read_only {
            return Err(ReadOnlyError::new_err(format!(
                "{} was opened read-only; open it with read_only=False to write",
                self.location
            )));
        }
        self.handles()
    }

    /// Commits what a write added, unless a `with` block commits it at its end.
    fn commit_unless_in_block(&self, py: Python<'_>, w: &Opened) -> PyResult<()> {
        if self.in_block.load(Ordering::SeqCst) {
            return Ok(());
        }
        write::commit(py, w).map(|_| ())
    }
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (location, *, read_only = true, cache = None, cache_ttl = 10.0))]
    pub(crate) fn new(
        py: Python<'_>,
        location: PathBuf,
        read_only: bool,
        cache: Option<PathBuf>,
        cache_ttl: f64,
    ) -> PyResult<Store> {
        let location = crate::location_text(location)?;
        Store::open(py, location, read_only, cache, cache_ttl, None)
    }

    /// The residues of the sequence `id` names, as a str. `KeyError` if none does,
    /// `AmbiguousIdError` if an accession names several, `ValueError` if `id` is not an
    /// identifier.
    fn __getitem__<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyString>> {
        let residues = read::one(py, &*self.store()?, id, Region::WHOLE)?;
        read::to_str(py, &residues)
    }

    /// The residues of `id` from `start` to `end` (0-based, end excluded; `None`: from the
    /// first, to the last), read without building the whole sequence as a str. Raises as
    /// `store[id]` does, and `ValueError` for a negative position or `start > end`; an `end`
    /// past the sequence stops at its end, as a slice does.
    #[pyo3(signature = (id, start = None, end = None))]
    fn fetch<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<Bound<'py, PyString>> {
        let region = Region::new(start, end)?;
        let residues = read::one(py, &*self.store()?, id, region)?;
        read::to_str(py, &residues)
    }

    /// `store[id]`, or `default` when no sequence matches `id`.
    #[pyo3(signature = (id, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match read::one(py, &*self.store()?, id, Region::WHOLE) {
            Ok(residues) => Ok(read::to_str(py, &residues)?.into_any()),
            Err(e) if e.is_instance_of::<PyKeyError>(py) => {
                Ok(default.unwrap_or_else(|| py.None().into_bound(py)))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a sequence matches `id` (False for a text that is not an identifier).
    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(id) = id.extract::<String>() else {
            return Ok(false);
        };
        let Some(id) = SequenceId::parse(&id) else {
            return Ok(false);
        };
        let store = self.store()?;
        let found = py
            .detach(|| match &id {
                SequenceId::Sha256(hash) => store.contains(hash),
                _ => store.resolve(&id).map(|h| !h.is_empty()),
            })
            .map_err(store_error)?;
        Ok(found)
    }

    /// Distinct sequences in the commit this store reads.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.store()?.sequence_count() as usize)
    }

    /// The SHA-256 keys (64 hex digits) of every sequence, pack by pack.
    fn __iter__(&self) -> PyResult<KeyIter> {
        Ok(KeyIter::new(self.store()?))
    }

    /// The SHA-256 keys of every sequence `id` names (one for a digest; any number for an
    /// accession; empty when none).
    fn find(&self, py: Python<'_>, id: &str) -> PyResult<Vec<String>> {
        let id = read::parse_id(id)?;
        let store = self.store()?;
        let hashes = py.detach(|| store.resolve(&id)).map_err(store_error)?;
        Ok(hashes.iter().map(|h| h.to_hex()).collect())
    }

    /// The residues of many sequences, as a list in the order of `items`: each item an
    /// identifier or an `(id, start, end)` tuple (0-based, end excluded, `None` for an open
    /// end). The batch is read in the order of the packs, with the GIL released.
    /// `missing`: "raise" (a `KeyError` naming the first id that matches nothing), "none"
    /// (`None` in its place) or "skip" (left out).
    #[pyo3(signature = (items, *, missing = "raise"))]
    fn fetch_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        missing: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let missing = Missing::parse(missing)?;
        let queries = read::parse_items(items)?;
        read::many(py, &*self.store()?, &queries, missing)
    }

    /// Length, digests and representations of the sequence `id` names (for an accession,
    /// the representations that answer to it). Raises as `store[id]` does.
    fn info(&self, py: Python<'_>, id: &str) -> PyResult<SequenceInfo> {
        let parsed = read::parse_id(id)?;
        let store = self.store()?;
        let mut found = py
            .detach(|| {
                store.find(&parsed).map(|found| {
                    found
                        .into_iter()
                        .map(|s| {
                            let d = SequenceDigests::with_sha256(s.hash, &s.residues);
                            (s, d)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .map_err(store_error)?;
        if found.len() > 1 {
            return Err(read::ambiguous(id, found.len()));
        }
        let Some((s, d)) = found.pop() else {
            return Err(PyKeyError::new_err(id.to_string()));
        };
        let reps = s.representations.into_iter().map(|r| Representation {
            header: r.header,
            source: r.source,
        });
        Ok(SequenceInfo {
            length: s.residues.len(),
            sha256: s.hash.to_hex(),
            md5: d.md5_hex(),
            sha512t24u: d.ga4gh(),
            representations: PyTuple::new(py, reps)?.unbind(),
        })
    }

    /// The store's figures (packs, sequences, representations, bytes, layers, leftovers)
    /// as `sequoia stats --json` gives them.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let store = self.store()?;
        let s = py.detach(|| store.stats()).map_err(store_error)?;
        let d = PyDict::new(py);
        d.set_item("packs", s.packs)?;
        d.set_item("v1_packs", s.v1_packs)?;
        d.set_item("v3_packs", s.v3_packs)?;
        d.set_item("sequences", s.sequences)?;
        d.set_item("representations", s.representations)?;
        d.set_item("residue_bytes", s.residue_bytes)?;
        d.set_item("uncompressed_bytes", s.uncompressed_bytes)?;
        d.set_item("pack_bytes", s.pack_bytes)?;
        d.set_item("index_bytes", s.index_bytes)?;
        d.set_item("index_files", s.index_files)?;
        d.set_item("index_rows", s.index_rows)?;
        d.set_item("layers", s.layers)?;
        d.set_item("compression_ratio", s.compression_ratio())?;
        let leftovers: Vec<String> = (s.leftovers.iter())
            .map(|p| p.display().to_string())
            .collect();
        d.set_item("leftovers", leftovers)?;
        d.set_item("superseded_files", s.superseded_files)?;
        d.set_item("reclaimable_bytes", s.reclaimable_bytes)?;
        let problems: Vec<(String, String)> = (s.problems.iter())
            .map(|p| (p.path.display().to_string(), p.reason.clone()))
            .collect();
        d.set_item("problems", problems)?;
        Ok(d)
    }

    /// Yields `(header, source, residues)` for every representation of every sequence,
    /// as `sequoia export` writes them; streams (memory stays constant).
    fn records(&self) -> PyResult<StreamIter> {
        Ok(StreamIter::start(self.store()?, true))
    }

    /// Yields `(sha256, residues)` once for every distinct sequence; streams.
    fn sequences(&self) -> PyResult<StreamIter> {
        Ok(StreamIter::start(self.store()?, false))
    }

    /// Imports FASTA files (a path or a list of paths; plain, .gz or .zst) with the source
    /// name `source` (default: each file's name). Committed when it ends, all files or
    /// none (inside `with store:`, when the block ends). Bad FASTA raises `ValueError`
    /// naming file, line and byte offset; nothing of this call is kept, nor anything
    /// else not yet committed. Returns the figures of what was added.
    #[pyo3(signature = (paths, source = None))]
    fn import_fasta<'py>(
        &self,
        py: Python<'py>,
        paths: &Bound<'py, PyAny>,
        source: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = self.writer()?;
        let paths = write::paths(paths)?;
        let summary = write::import(py, &w, &paths, source.as_deref())?;
        self.commit_unless_in_block(py, &w)?;
        write::summary_dict(py, &summary)
    }

    /// Stores records given as `(header, residues)` pairs (any iterable; residues in
    /// upper or lower case) under the source name `source`. Committed when it ends, all
    /// records or none (inside `with store:`, when the block ends). A record whose
    /// residues are not a sequence raises `ValueError` naming it; nothing of this call is
    /// kept, nor anything else not yet committed.
    #[pyo3(signature = (records, *, source))]
    fn put_many<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        source: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = self.writer()?;
        let summary = write::put_many(py, &w, records, &source)?;
        self.commit_unless_in_block(py, &w)?;
        write::summary_dict(py, &summary)
    }

    /// Commits what this writer added: durable and visible to readers when it returns.
    /// Returns the number of the store's commit after it.
    fn commit(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        write::commit(py, &self.writer()?)
    }

    /// Discards what this writer added since its last commit.
    fn rollback(&self, py: Python<'_>) -> PyResult<()> {
        write::rollback(py, &self.writer()?)
    }

    /// Moves a reader to the store's newest commit (a store opened at an older one, or
    /// commits made since by other processes).
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.handles()?;
        py.detach(|| -> PyResult<()> {
            if let Some(remote) = h.target.remote() {
                remote.refresh(Duration::ZERO).map_err(remote_error)?;
            }
            h.store.refresh().map_err(store_error)
        })
    }

    /// Closes the store: a writer's uncommitted additions are discarded and its lock
    /// released. Reads after it raise `ValueError`.
    fn close(&self, py: Python<'_>) {
        let taken = self
            .opened
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Dropping a writer discards its session: files to remove, the lock to release.
        py.detach(move || drop(taken));
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.opened
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// The location the store was opened at.
    #[getter]
    fn location(&self) -> &str {
        &self.location
    }

    /// Whether the store was opened read-only.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    /// The number of the commit this store reads (`None` for a store written before
    /// commit records).
    #[getter]
    fn commit_number(&self) -> PyResult<Option<u64>> {
        Ok(self.store()?.commit_seq())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        if !slf.get().read_only {
            slf.get().in_block.store(true, Ordering::SeqCst);
        }
        slf
    }

    /// Ends a `with` block: a writer commits if the block ended without an exception and
    /// rolls back if it raised; the store is closed either way.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.in_block.store(false, Ordering::SeqCst);
        let result = match (self.read_only, self.handles()) {
            (false, Ok(w)) if exc_type.is_none() => write::commit(py, &w).map(|_| ()),
            (false, Ok(w)) => write::rollback(py, &w),
            _ => Ok(()),
        };
        self.close(py);
        result.map(|()| false)
    }

    /// A read-only store pickles as its location, cache and commit: unpickled, it opens
    /// that commit (a store on object storage: its newest).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        if !self.read_only {
            return Err(PyTypeError::new_err(
                "a store opened for writing cannot be pickled (one writer per store); pickle a read-only one",
            ));
        }
        let commit = self.store()?.commit_seq();
        let reopen = py.import("sequoia")?.getattr("_reopen")?;
        let cache = self.cache.as_ref().map(|c| c.display().to_string());
        let args = (self.location.clone(), commit, cache).into_pyobject(py)?;
        PyTuple::new(py, [reopen, args.into_any()])
    }

    fn __repr__(&self) -> String {
        let mode = if self.read_only {
            "read-only"
        } else {
            "writer"
        };
        match self.handles() {
            Ok(h) => format!(
                "<sequoia.Store {:?} {mode}, commit {}, {} sequences>",
                self.location,
                h.store
                    .commit_seq()
                    .map_or_else(|| "none".to_string(), |s| s.to_string()),
                h.store.sequence_count()
            ),
            Err(_) => format!("<sequoia.Store {:?} closed>", self.location),
        }
    }
}
