//! What `Store.info` returns: a sequence's length, digests and representations, as small
//! frozen objects.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// One source record of a sequence: its FASTA header (without `>`) and its source (the
/// database or file it was imported from).
#[pyclass(module = "sequoia", frozen, eq, hash, get_all, skip_from_py_object)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Representation {
    /// The FASTA header, without `>`.
    pub header: String,
    /// The source name given at import (by default the file's name).
    pub source: String,
}

#[pymethods]
impl Representation {
    #[new]
    fn new(header: String, source: String) -> Self {
        Representation { header, source }
    }

    fn __repr__(&self) -> String {
        format!(
            "Representation(header={:?}, source={:?})",
            self.header, self.source
        )
    }

    /// `(header, source)`, so that `header, source = rep` works.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyTuple::new(py, [&self.header, &self.source])?
            .as_any()
            .try_iter()
            .map(|i| i.into_any())
    }
}

/// A stored sequence's length, digests and representations (`Store.info`).
#[pyclass(module = "sequoia", frozen, get_all)]
pub struct SequenceInfo {
    /// Residues.
    pub length: usize,
    /// SHA-256 of the residues, 64 hex digits: the store's key.
    pub sha256: String,
    /// MD5 of the residues, 32 hex digits.
    pub md5: String,
    /// The GA4GH refget digest, `SQ.` and 32 characters of base64url.
    pub sha512t24u: String,
    /// Every source record of the sequence (those answering to the identifier, for an
    /// accession), oldest first.
    pub representations: Py<PyTuple>,
}

#[pymethods]
impl SequenceInfo {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "SequenceInfo(length={}, sha256={:?}, md5={:?}, sha512t24u={:?}, representations={})",
            self.length,
            self.sha256,
            self.md5,
            self.sha512t24u,
            self.representations.bind(py).len()
        )
    }
}
