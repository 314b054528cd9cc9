//! Answering a list of identifier texts as FASTA, as `sequoia get` does: the texts parsed
//! into [`IdQuery`]s (on every core, while the store opens), looked up on several threads
//! (without regions: units of [`UNIT`] identifiers read by every thread together,
//! [`PackedSequenceStorage::find_many_parallel`]; with regions: chunks, a thread each)
//! in pack order, and answered in input order.
//!
//! # Examples
//! ```
//! use sequoia_store::query::{answer_fasta, open_with_queries, Answer};
//! use sequoia_store::{import_fasta, PackedSequenceStorage, StoreOptions};
//! let dir = tempfile::tempdir().unwrap();
//! let store = PackedSequenceStorage::open_writer(dir.path(), StoreOptions::default()).unwrap();
//! let fasta = b">sp|P69905|HBA_HUMAN Hemoglobin\nMVLSPADKTNVKAAW\n".to_vec();
//! import_fasta(&store, Box::new(std::io::Cursor::new(fasta)), "a.fa", "sp", &mut |_, _| {}).unwrap();
//! store.commit().unwrap();
//! drop(store);
//! let texts = ["P69905:2-4", "Q99999"];
//! let (store, queries) = open_with_queries(dir.path(), &texts, 2).unwrap();
//! let mut answers = Vec::new();
//! answer_fasta(&store, &texts, &queries, 60, 2, |a| {
//!     answers.push(match a {
//!         Answer::Fasta(f) => Answer::Fasta(f.clone()),
//!         Answer::Missing(m) => Answer::Missing(m.clone()),
//!     });
//!     Ok(())
//! })
//! .unwrap();
//! assert!(matches!(&answers[0], Answer::Fasta(f) if f == b">sp|P69905|HBA_HUMAN:2-4 Hemoglobin\nVLS\n"));
//! assert!(matches!(&answers[1], Answer::Missing(m) if m == "no sequence matches Q99999"));
//! ```

use std::path::Path;

use crate::error::StoreError;
use crate::fasta::write_found;
use crate::ids::{IdQuery, SequenceId};
use crate::pool::ordered_parallel;
use crate::store::PackedSequenceStorage;

/// Identifiers per unit of work of a list with regions.
const CHUNK: usize = 512;

/// Identifiers per unit of a list without regions, read by every thread together
/// ([`PackedSequenceStorage::find_many_parallel`]): the larger the unit, the fewer blocks
/// are decompressed per sequence (a v3 block of 16 KiB holds about 40 protein sequences);
/// its records are held until the unit is answered.
const UNIT: usize = 1 << 17;

/// Part of the answer to a list of identifiers, in input order.
#[derive(Debug)]
pub enum Answer {
    /// FASTA records.
    Fasta(Vec<u8>),
    /// An identifier or region that matched nothing, with the message saying so.
    Missing(String),
}

/// Why a list of identifiers could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A text is neither an identifier nor an identifier with a valid region.
    #[error("{0}")]
    Invalid(String),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Handing an answer on failed (the output went away).
    #[error(transparent)]
    Output(std::io::Error),
    /// A lookup thread stopped.
    #[error("{0}")]
    Stopped(String),
}

/// Opens the store at `root` for reading while `texts` are parsed on `threads` threads, and
/// returns it with their queries, in order. A text that is not an identifier, or whose
/// region is invalid, is an error (the first in input order), except that a whole text
/// that names records is that name (samtools' rule: `NAME:0` is the record `NAME:0` when
/// one is stored).
pub fn open_with_queries(
    root: &Path,
    texts: &[&str],
    threads: usize,
) -> Result<(PackedSequenceStorage, Vec<IdQuery>), QueryError> {
    open_with_queries_in(&crate::layout::StoreLayout::new(root), texts, threads)
}

/// [`open_with_queries`] of the store `layout` describes (a store on object storage read
/// through its cache, say).
pub fn open_with_queries_in(
    layout: &crate::layout::StoreLayout,
    texts: &[&str],
    threads: usize,
) -> Result<(PackedSequenceStorage, Vec<IdQuery>), QueryError> {
    let parse = |part: &[&str]| -> Vec<Result<IdQuery, String>> {
        part.iter().map(|h| IdQuery::parse(h)).collect()
    };
    let part_len = texts.len().div_ceil(threads.max(1)).max(CHUNK);
    let (parsed, store) = std::thread::scope(|scope| {
        let parts: Vec<_> = texts
            .chunks(part_len)
            .map(|part| scope.spawn(move || parse(part)))
            .collect();
        let store = PackedSequenceStorage::open_in(layout.clone());
        let parsed: Vec<_> = parts
            .into_iter()
            .map(|p| p.join().expect("identifier parsing does not panic"))
            .collect();
        (parsed, store)
    });
    let mut queries = Vec::with_capacity(texts.len());
    for (text, q) in texts.iter().zip(parsed.into_iter().flatten()) {
        queries.push(match q {
            Ok(q) => q,
            Err(e) => {
                let Some(id) = SequenceId::parse(text) else {
                    return Err(QueryError::Invalid(e));
                };
                let open = match store {
                    Ok(ref s) => s,
                    Err(e) => return Err(e.into()),
                };
                if open.find(&id)?.is_empty() {
                    return Err(QueryError::Invalid(e));
                }
                IdQuery { id, region: None }
            }
        });
    }
    Ok((store?, queries))
}

/// Answers `queries` (parsed from `texts`) with FASTA records of `width` residues a line,
/// looked up on `threads` threads in chunks, and hands the answers to `sink` in input
/// order: an identifier or region that matches nothing is an [`Answer::Missing`] in its
/// place. Stops at the first error of a lookup or of `sink`.
pub fn answer_fasta(
    store: &PackedSequenceStorage,
    texts: &[&str],
    queries: &[IdQuery],
    width: usize,
    threads: usize,
    mut sink: impl FnMut(&Answer) -> std::io::Result<()>,
) -> Result<(), QueryError> {
    // Output buffers come back once handed on, so that a chunk fills one grown before
    // instead of growing a new one (reallocating and faulting in fresh pages was a tenth
    // of the time).
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    let keep = 2 * threads.max(1);
    if queries.iter().all(|q| q.region.is_none()) {
        for (texts, queries) in texts.chunks(UNIT).zip(queries.chunks(UNIT)) {
            answer_unit(store, texts, queries, width, threads, &mut sink)?;
        }
        return Ok(());
    }
    let chunk = CHUNK;
    ordered_parallel(
        queries.len().div_ceil(chunk),
        threads,
        || (),
        |_, i| {
            let mut pieces = Vec::new();
            let mut out = spare
                .lock()
                .ok()
                .and_then(|mut s| s.pop())
                .unwrap_or_default();
            let from = i * chunk;
            let to = (from + chunk).min(queries.len());
            let (texts, chunk) = (&texts[from..to], &queries[from..to]);
            if chunk.iter().all(|q| q.region.is_none()) {
                answer_all(store, texts, chunk, width, &mut out, &mut pieces)?;
            } else {
                for (text, q) in texts.iter().zip(chunk) {
                    answer(store, text, q, width, &mut out, &mut pieces)?;
                }
            }
            if !out.is_empty() {
                pieces.push(Answer::Fasta(out));
            }
            Ok(pieces)
        },
        |pieces| {
            for piece in pieces {
                sink(&piece).map_err(QueryError::Output)?;
                if let Answer::Fasta(mut bytes) = piece {
                    bytes.clear();
                    if let Ok(mut s) = spare.lock() {
                        if s.len() < keep {
                            s.push(bytes);
                        }
                    }
                }
            }
            Ok(())
        },
        QueryError::Stopped,
    )
}

/// Bytes of FASTA handed on at once by [`answer_unit`].
const PIECE: usize = 1 << 20;

/// Answers identifiers none of which has a region, read together on `threads` threads
/// ([`PackedSequenceStorage::find_many_parallel`]), handing the records and messages to
/// `sink` in the order of the identifiers, in pieces of about [`PIECE`] bytes.
fn answer_unit(
    store: &PackedSequenceStorage,
    texts: &[&str],
    queries: &[IdQuery],
    width: usize,
    threads: usize,
    sink: &mut impl FnMut(&Answer) -> std::io::Result<()>,
) -> Result<(), QueryError> {
    let ids: Vec<SequenceId> = queries.iter().map(|q| q.id.clone()).collect();
    let mut out = Vec::with_capacity(2 * PIECE);
    // The first error of `sink`: what comes after it is not handed on.
    let mut failed: Option<std::io::Error> = None;
    let mut emit = |answer: Answer| {
        if failed.is_none() {
            failed = sink(&answer).err();
        }
    };
    let mut answered = 0;
    store.find_many_parallel(&ids, threads, |i, rec| {
        let mut messages = (texts[answered..i].iter())
            .map(|text| format!("no sequence matches {text}"))
            .collect::<Vec<_>>();
        answered = i + 1;
        let written = out.len();
        if let Err(message) = write_found(&mut out, rec, &queries[i], width) {
            out.truncate(written);
            messages.push(message);
        }
        if !messages.is_empty() {
            // The records before the messages, then the messages, in order.
            let tail = out.split_off(written.min(out.len()));
            if !out.is_empty() {
                emit(Answer::Fasta(std::mem::take(&mut out)));
            }
            messages.into_iter().for_each(|m| emit(Answer::Missing(m)));
            out = tail;
        }
        if out.len() >= PIECE {
            emit(Answer::Fasta(std::mem::replace(
                &mut out,
                Vec::with_capacity(2 * PIECE),
            )));
        }
    })?;
    if !out.is_empty() {
        emit(Answer::Fasta(out));
    }
    for text in &texts[answered..] {
        emit(Answer::Missing(format!("no sequence matches {text}")));
    }
    failed.map_or(Ok(()), |e| Err(QueryError::Output(e)))
}

/// What `answer` and `answer_all` call for an identifier or region that matches nothing:
/// the records written so far end as a piece, then the message.
fn missing_into(pieces: &mut Vec<Answer>) -> impl FnMut(&mut Vec<u8>, String) + '_ {
    |out: &mut Vec<u8>, message: String| {
        if !out.is_empty() {
            pieces.push(Answer::Fasta(std::mem::take(out)));
        }
        pieces.push(Answer::Missing(message));
    }
}

/// The FASTA records of one identifier, appended to `out` (one buffer per chunk of
/// identifiers); an identifier or region that matches nothing ends the buffer as a piece and
/// adds its message, so that the order of records and messages is kept.
fn answer(
    store: &PackedSequenceStorage,
    text: &str,
    q: &IdQuery,
    width: usize,
    out: &mut Vec<u8>,
    pieces: &mut Vec<Answer>,
) -> Result<(), QueryError> {
    let mut missing = missing_into(pieces);
    // samtools' rule: a whole text that names records is that name, not NAME:REGION
    // (`B0RED7|GO:0006200,GO:0006754` is an identifier, not GO's residues 6754..).
    if q.region.is_some() {
        if let Some(id) = SequenceId::parse(text.trim()) {
            let whole = IdQuery { id, region: None };
            if write_matches(store, &whole, width, out, &mut missing)? > 0 {
                return Ok(());
            }
        }
    }
    if write_matches(store, q, width, out, &mut missing)? == 0 {
        missing(out, format!("no sequence matches {text}"));
    }
    Ok(())
}

/// The FASTA records of a chunk of identifiers none of which has a region, read together
/// ([`PackedSequenceStorage::find_many`]: in pack order), in the order of the
/// identifiers; as [`answer`] gives them one by one.
fn answer_all(
    store: &PackedSequenceStorage,
    texts: &[&str],
    queries: &[IdQuery],
    width: usize,
    out: &mut Vec<u8>,
    pieces: &mut Vec<Answer>,
) -> Result<(), QueryError> {
    let mut missing = missing_into(pieces);
    let ids: Vec<SequenceId> = queries.iter().map(|q| q.id.clone()).collect();
    // The records come in the order of the identifiers: those passed over matched nothing.
    let mut answered = 0;
    store.find_many(&ids, |i, rec| {
        for text in &texts[answered..i] {
            missing(out, format!("no sequence matches {text}"));
        }
        answered = i + 1;
        if let Err(message) = write_found(out, rec, &queries[i], width) {
            missing(out, message);
        }
    })?;
    for text in &texts[answered..] {
        missing(out, format!("no sequence matches {text}"));
    }
    Ok(())
}

/// Writes the records `q` names (its region of each) to `out`; how many sequences matched.
fn write_matches(
    store: &PackedSequenceStorage,
    q: &IdQuery,
    width: usize,
    out: &mut Vec<u8>,
    missing: &mut impl FnMut(&mut Vec<u8>, String),
) -> Result<usize, QueryError> {
    // The records are formatted from the store's reused buffers, without a copy per
    // sequence.
    let found = store.find_each(&q.id, |rec| {
        if let Err(message) = write_found(out, rec, q, width) {
            missing(out, message);
        }
    })?;
    Ok(found)
}
