//! Iterators over a whole store: its keys pack by pack, and its records or sequences
//! streamed from a reading thread through a bounded channel (memory stays constant; the
//! thread stops when the iterator is dropped).

use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use sequoia_store::{PackedSequenceStorage, Representation, SequenceHash, StoreError};

use crate::errors::store_error;
use crate::read::to_str;

/// The SHA-256 keys of a store, one pack's at a time.
#[pyclass(module = "sequoia")]
pub struct KeyIter {
    store: Arc<PackedSequenceStorage>,
    packs: Vec<u32>,
    next_pack: usize,
    keys: std::vec::IntoIter<SequenceHash>,
}

impl KeyIter {
    pub fn new(store: Arc<PackedSequenceStorage>) -> KeyIter {
        KeyIter {
            packs: store.packs(),
            store,
            next_pack: 0,
            keys: Vec::new().into_iter(),
        }
    }
}

#[pymethods]
impl KeyIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<String>> {
        loop {
            if let Some(key) = self.keys.next() {
                return Ok(Some(key.to_hex()));
            }
            let Some(&pack) = self.packs.get(self.next_pack) else {
                return Ok(None);
            };
            self.next_pack += 1;
            let store = &self.store;
            let keys = py
                .detach(|| store.keys_of_pack(pack))
                .map_err(store_error)?;
            self.keys = keys.into_iter();
        }
    }
}

/// One sequence and its representations, as the reading thread hands it on.
struct Unit {
    hash: SequenceHash,
    residues: Vec<u8>,
    representations: Vec<Representation>,
}

/// Sequences per message of the reading thread.
const BATCH: usize = 256;
/// Messages the reading thread may be ahead by.
const AHEAD: usize = 4;

/// `Store.records()` (a `(header, source, residues)` tuple per representation) or
/// `Store.sequences()` (a `(sha256, residues)` tuple per sequence).
#[pyclass(module = "sequoia")]
pub struct StreamIter {
    rx: Receiver<Result<Vec<Unit>, StoreError>>,
    batch: std::vec::IntoIter<Unit>,
    /// The sequence whose representations are being yielded, its residues as a str, and
    /// the next representation's place.
    current: Option<(Unit, Py<PyString>, usize)>,
    records: bool,
    done: bool,
}

impl StreamIter {
    /// Starts the reading thread.
    pub fn start(store: Arc<PackedSequenceStorage>, records: bool) -> StreamIter {
        let (tx, rx) = bounded(AHEAD);
        std::thread::spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let walked = store.for_each_sequence(|s| {
                batch.push(Unit {
                    hash: s.hash,
                    residues: s.residues.clone(),
                    representations: if records {
                        s.representations.clone()
                    } else {
                        Vec::new()
                    },
                });
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // The iterator was dropped: stop reading.
                    tx.send(Ok(full))
                        .map_err(|_| StoreError::Corrupt("no reader left".into()))?;
                }
                Ok(())
            });
            let _ = tx.send(walked.map(|()| batch));
        });
        StreamIter {
            rx,
            batch: Vec::new().into_iter(),
            current: None,
            records,
            done: false,
        }
    }
}

#[pymethods]
impl StreamIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        loop {
            if let Some((unit, residues, next)) = &mut self.current {
                if let Some(r) = unit.representations.get(*next) {
                    *next += 1;
                    let residues = residues.bind(py).clone();
                    let item = (r.header.as_str(), r.source.as_str(), residues);
                    return Ok(Some(item.into_pyobject(py)?));
                }
                self.current = None;
            }
            let Some(unit) = self.batch.next() else {
                if self.done {
                    return Ok(None);
                }
                let rx = &self.rx;
                match py.detach(|| rx.recv()) {
                    Ok(Ok(batch)) => self.batch = batch.into_iter(),
                    Ok(Err(e)) => {
                        self.done = true;
                        return Err(store_error(e));
                    }
                    // The thread sent its last batch and ended.
                    Err(_) => self.done = true,
                }
                continue;
            };
            let residues = to_str(py, &unit.residues)?;
            if self.records {
                self.current = Some((unit, residues.unbind(), 0));
            } else {
                let item = (unit.hash.to_hex(), residues);
                return Ok(Some(item.into_pyobject(py)?));
            }
        }
    }
}
