//! Writes: FASTA files and Python records into a writer, committed (and, on object
//! storage, published) all or nothing.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sequoia_store::fasta::{default_source, open_input};
use sequoia_store::{import_fasta, ImportSummary, Representation, StoreError};

use crate::errors::{import_error, io_error, remote_error, store_error};
use crate::store::Opened;

/// Records handed to the store per release of the GIL.
const PUT_BATCH: usize = 4096;

/// The paths of `import_fasta`'s argument: one path or a list of them.
pub fn paths(arg: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = arg.extract::<std::path::PathBuf>() {
        return Ok(vec![crate::location_text(one)?]);
    }
    let mut out = Vec::new();
    for item in arg.try_iter().map_err(|_| {
        PyTypeError::new_err("paths: a path or an iterable of paths (str or os.PathLike)")
    })? {
        out.push(crate::location_text(item?.extract()?)?);
    }
    if out.is_empty() {
        return Err(PyValueError::new_err("paths: no file given"));
    }
    Ok(out)
}

/// Imports `paths` into the writer `w` (not committed); on an error, everything the
/// writer has not committed is rolled back.
pub fn import(
    py: Python<'_>,
    w: &Opened,
    paths: &[String],
    source: Option<&str>,
) -> PyResult<ImportSummary> {
    let store = &w.store;
    let result = py.detach(|| -> PyResult<ImportSummary> {
        let mut total = ImportSummary::default();
        for path in paths {
            let source = source.map_or_else(|| default_source(path), str::to_string);
            let input = open_input(path).map_err(|e| io_error(e.kind(), format!("{path}: {e}")))?;
            let s =
                import_fasta(store, input, path, &source, &mut |_, _| {}).map_err(import_error)?;
            total.add(&s);
        }
        Ok(total)
    });
    if result.is_err() {
        rollback(py, w)?;
    }
    result
}

/// Stores `(header, residues)` records into the writer `w` (not committed); on an error,
/// everything the writer has not committed is rolled back.
pub fn put_many(
    py: Python<'_>,
    w: &Opened,
    records: &Bound<'_, PyAny>,
    source: &str,
) -> PyResult<ImportSummary> {
    let store = &w.store;
    let started = std::time::Instant::now();
    let mut total = ImportSummary::default();
    let mut batch: Vec<(String, String)> = Vec::with_capacity(PUT_BATCH);
    let put_batch = |batch: &mut Vec<(String, String)>, total: &mut ImportSummary| {
        let first = total.records;
        py.detach(|| -> PyResult<()> {
            for (n, (header, residues)) in batch.drain(..).enumerate() {
                let outcome = store
                    .put(residues.as_bytes(), Representation::new(&header, source))
                    .map_err(|e| match e {
                        StoreError::InvalidSequence(m) => PyValueError::new_err(format!(
                            "record {} ({header:?}): invalid sequence: {m}",
                            first + n as u64
                        )),
                        e => store_error(e),
                    })?;
                total.records += 1;
                total.bytes += residues.len() as u64;
                total.new_sequences += u64::from(outcome.new_sequence);
                total.new_representations += u64::from(outcome.new_representation);
            }
            Ok(())
        })
    };
    let result = (|| -> PyResult<()> {
        let iter = records.try_iter().map_err(|_| {
            PyTypeError::new_err("records: an iterable of (header, residues) pairs")
        })?;
        for (n, item) in iter.enumerate() {
            let pair: (String, String) = item?.extract().map_err(|_| {
                PyTypeError::new_err(format!("record {n}: a (header, residues) pair of str"))
            })?;
            batch.push(pair);
            if batch.len() == PUT_BATCH {
                put_batch(&mut batch, &mut total)?;
            }
        }
        put_batch(&mut batch, &mut total)
    })();
    if let Err(e) = result {
        rollback(py, w)?;
        return Err(e);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// Commits the writer `w` and publishes the commit (object storage): the number of the
/// store's commit after it.
pub fn commit(py: Python<'_>, w: &Opened) -> PyResult<Option<u64>> {
    py.detach(|| -> PyResult<Option<u64>> {
        w.store.commit().map_err(store_error)?;
        let published = w.target.publish().map_err(remote_error)?;
        Ok(published.or_else(|| w.store.commit_seq()))
    })
}

/// Discards what the writer `w` added since its last commit.
pub fn rollback(py: Python<'_>, w: &Opened) -> PyResult<()> {
    py.detach(|| w.store.rollback()).map_err(store_error)
}

/// An import's figures as a dict.
pub fn summary_dict<'py>(py: Python<'py>, s: &ImportSummary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("records", s.records)?;
    d.set_item("new_sequences", s.new_sequences)?;
    d.set_item("new_representations", s.new_representations)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("seconds", s.seconds)?;
    Ok(d)
}
