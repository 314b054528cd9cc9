//! Reads by identifier: one sequence, or a batch read in pack order, with the GIL released
//! while the library works.

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use sequoia_store::{PackedSequenceStorage, SequenceHash, SequenceId, StoreError};

use crate::errors::{store_error, AmbiguousIdError};

/// A region of a sequence: 0-based, end excluded, either end open.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    start: Option<u64>,
    end: Option<u64>,
}

impl Region {
    /// The whole sequence.
    pub const WHOLE: Region = Region {
        start: None,
        end: None,
    };

    /// A region from Python's `start` and `end`: `ValueError` for a negative one or a
    /// start past the end.
    pub fn new(start: Option<i64>, end: Option<i64>) -> PyResult<Region> {
        let check = |name: &str, v: Option<i64>| -> PyResult<Option<u64>> {
            match v {
                Some(v) if v < 0 => Err(PyValueError::new_err(format!(
                    "{name} is {v}: positions are 0-based and not negative"
                ))),
                v => Ok(v.map(|v| v as u64)),
            }
        };
        let (start, end) = (check("start", start)?, check("end", end)?);
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(PyValueError::new_err(format!(
                    "start {s} is past end {e} (positions are 0-based, end excluded)"
                )));
            }
        }
        Ok(Region { start, end })
    }

    /// The part of `residues` the region covers (clipped at the end, as a slice is).
    pub fn of<'a>(&self, residues: &'a [u8]) -> &'a [u8] {
        let len = residues.len() as u64;
        let end = self.end.unwrap_or(len).min(len);
        let start = self.start.unwrap_or(0).min(end);
        &residues[start as usize..end as usize]
    }
}

/// What `fetch_many` does with an id that matches nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Raise,
    None,
    Skip,
}

impl Missing {
    pub fn parse(text: &str) -> PyResult<Missing> {
        match text {
            "raise" => Ok(Missing::Raise),
            "none" => Ok(Missing::None),
            "skip" => Ok(Missing::Skip),
            _ => Err(PyValueError::new_err(format!(
                "missing={text:?}: it is \"raise\", \"none\" or \"skip\""
            ))),
        }
    }
}

/// An identifier, or `ValueError`.
pub fn parse_id(text: &str) -> PyResult<SequenceId> {
    SequenceId::parse(text).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{text:?} is not an identifier (empty, or has whitespace)"
        ))
    })
}

/// The error for an accession that names `n` sequences where one is wanted.
pub fn ambiguous(text: &str, n: usize) -> PyErr {
    AmbiguousIdError::new_err(format!(
        "{text} names {n} distinct sequences; store.find({text:?}) lists their SHA-256 keys"
    ))
}

/// Residues (upper-case ASCII letters) as a Python str, made by CPython's ASCII decoder:
/// it checks the bytes and copies them into a compact ASCII string in one pass (no UTF-8
/// decoding, no check of our own first: on 100,000 sequences that was a tenth of
/// `fetch_many`'s time). A byte past ASCII (damage) raises `UnicodeDecodeError`.
pub fn to_str<'py>(py: Python<'py>, residues: &[u8]) -> PyResult<Bound<'py, PyString>> {
    let len = pyo3::ffi::Py_ssize_t::try_from(residues.len())
        .map_err(|_| PyValueError::new_err("a sequence too long for a Python str"))?;
    // SAFETY: the pointer and length describe `residues`, alive for the call; a null
    // `errors` asks for strict decoding; the result is a new reference or null with an
    // exception set, which `from_owned_ptr_or_err` turns into the error.
    let any = unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeASCII(residues.as_ptr().cast(), len, std::ptr::null());
        Bound::from_owned_ptr_or_err(py, ptr)?
    };
    Ok(any.cast_into::<PyString>()?)
}

/// The residues (within `region`) of the one sequence `text` names.
pub fn one(
    py: Python<'_>,
    store: &PackedSequenceStorage,
    text: &str,
    region: Region,
) -> PyResult<Vec<u8>> {
    let id = parse_id(text)?;
    let found = py
        .detach(|| -> Result<Vec<Vec<u8>>, StoreError> {
            Ok(match &id {
                SequenceId::Sha256(hash) => (store.get(hash)?)
                    .map(|r| region.of(&r).to_vec())
                    .into_iter()
                    .collect(),
                _ => (store.get_by(&id)?)
                    .into_iter()
                    .map(|(_, r)| region.of(&r).to_vec())
                    .collect(),
            })
        })
        .map_err(store_error)?;
    match found.len() {
        0 => Err(PyKeyError::new_err(text.to_string())),
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        n => Err(ambiguous(text, n)),
    }
}

/// One item of a batch: its text (for errors), identifier and region.
pub struct Query {
    text: String,
    id: SequenceId,
    region: Region,
}

/// The items of `fetch_many`: identifiers, or `(id, start, end)` tuples.
pub fn parse_items(items: &Bound<'_, PyAny>) -> PyResult<Vec<Query>> {
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for (n, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let query = if let Ok(text) = item.extract::<String>() {
            Query {
                id: parse_id(&text)?,
                text,
                region: Region::WHOLE,
            }
        } else if let Ok(t) = item.cast::<PyTuple>() {
            let (text, start, end): (String, Option<i64>, Option<i64>) =
                t.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "item {n}: a tuple is (id, start, end) with int or None positions"
                    ))
                })?;
            Query {
                id: parse_id(&text)?,
                region: Region::new(start, end)
                    .map_err(|e| PyValueError::new_err(format!("item {n} ({text}): {e}")))?,
                text,
            }
        } else {
            return Err(PyTypeError::new_err(format!(
                "item {n}: an identifier (str) or an (id, start, end) tuple, not {}",
                item.get_type().name()?
            )));
        };
        out.push(query);
    }
    Ok(out)
}

/// What a batch found for one query: nothing, its residues, or several sequences.
enum Found {
    None,
    One(Vec<u8>),
    Several(usize),
}

/// The residues of every query, in order, as a Python list (`missing` says what an id
/// that matches nothing gives).
pub fn many<'py>(
    py: Python<'py>,
    store: &PackedSequenceStorage,
    queries: &[Query],
    missing: Missing,
) -> PyResult<Bound<'py, PyList>> {
    let found = py
        .detach(|| read_many(store, queries))
        .map_err(store_error)?;
    let list = PyList::empty(py);
    for (q, f) in queries.iter().zip(found) {
        match f {
            Found::One(r) => list.append(to_str(py, &r)?)?,
            Found::Several(n) => return Err(ambiguous(&q.text, n)),
            Found::None => match missing {
                Missing::Raise => return Err(PyKeyError::new_err(q.text.clone())),
                Missing::None => list.append(py.None())?,
                Missing::Skip => {}
            },
        }
    }
    Ok(list)
}

/// Reads a batch: SHA-256 keys alone on every core (`map_many_parallel`), any other
/// identifiers through `find_many` on every core (a share each); both in pack order,
/// copying only each region.
fn read_many(store: &PackedSequenceStorage, queries: &[Query]) -> Result<Vec<Found>, StoreError> {
    let hashes: Option<Vec<SequenceHash>> = (queries.iter())
        .map(|q| match q.id {
            SequenceId::Sha256(h) => Some(h),
            _ => None,
        })
        .collect();
    if let Some(hashes) = hashes {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Below a few thousand keys, threads cost more than they share.
        let threads = threads.min(hashes.len() / 2048 + 1);
        let found =
            store.map_many_parallel(&hashes, threads, |i, r| queries[i].region.of(r).to_vec())?;
        return Ok((found.into_iter())
            .map(|r| r.map_or(Found::None, Found::One))
            .collect());
    }
    // Other identifiers: `find_many` (one thread) over a share of the batch per core,
    // each share read in pack order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.min(queries.len() / 2048 + 1);
    if threads == 1 {
        return find_share(store, queries);
    }
    let share = queries.len().div_ceil(threads);
    let parts: Vec<Result<Vec<Found>, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (queries.chunks(share))
            .map(|part| s.spawn(move || find_share(store, part)))
            .collect();
        (handles.into_iter())
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut found = Vec::with_capacity(queries.len());
    for part in parts {
        found.extend(part?);
    }
    Ok(found)
}

/// What `find_many` finds for each of `queries`.
fn find_share(store: &PackedSequenceStorage, queries: &[Query]) -> Result<Vec<Found>, StoreError> {
    let ids: Vec<SequenceId> = queries.iter().map(|q| q.id.clone()).collect();
    let mut found: Vec<Found> = (0..ids.len()).map(|_| Found::None).collect();
    store.find_many(&ids, |i, seq| {
        found[i] = match &found[i] {
            Found::None => Found::One(queries[i].region.of(seq.residues).to_vec()),
            Found::One(_) => Found::Several(2),
            Found::Several(n) => Found::Several(n + 1),
        };
    })?;
    Ok(found)
}
