//! Full checks of a store: every pack re-read, every checksum checked, every sequence
//! re-hashed, every index checked against the packs. Nothing is modified.

use std::path::PathBuf;
use std::time::Instant;

use pack_format::{PackId, PackVersion, SequenceHash};
use pack_index::IndexKind;

use crate::alphabet::RESIDUE;
use crate::error::StoreError;
use crate::store::PackedSequenceStorage;

/// One thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Byte offset in the file (for v1 packs: in the decompressed pack), when known.
    pub offset: Option<u64>,
    /// The sequence concerned, when known.
    pub hash: Option<SequenceHash>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let Some(h) = self.hash {
            write!(f, " (sequence {h})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What `verify` checked and found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Packs read.
    pub packs: usize,
    /// Entries decoded.
    pub entries: u64,
    /// Sequences re-hashed.
    pub sequences: u64,
    /// Bytes of pack files read.
    pub pack_bytes: u64,
    /// Index files checked.
    pub index_files: usize,
    /// Problems; empty means the store is sound.
    pub problems: Vec<Problem>,
    /// Leftover temporary files (harmless; safe to delete when no import runs).
    pub stray_temp_files: Vec<PathBuf>,
    /// Wall time.
    pub seconds: f64,
}

/// A 64-bit digest of one index row; summed over rows it is a multiset digest, so the rows
/// of a pack, of its index and of the multi-pack index can be compared in any order.
fn row_digest(hash: &SequenceHash, loc: &pack_format::PackLocation) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let mut d = 0x9e37_79b9_7f4a_7c15u64;
    for w in hash.0.chunks_exact(8) {
        d = mix(d ^ u64::from_le_bytes(w.try_into().expect("8-byte chunk")));
    }
    d = mix(d ^ ((loc.pack as u64) << 32 | loc.block as u64));
    mix(d ^ ((loc.offset as u64) << 32 | loc.length as u64))
}

fn format_offset(e: &pack_format::Error) -> Option<u64> {
    use pack_format::Error as E;
    match e {
        E::Truncated { offset, .. }
        | E::Corrupt { offset, .. }
        | E::Checksum { offset, .. }
        | E::Decompress { offset, .. } => Some(*offset),
        _ => None,
    }
}

fn problem_of(err: &StoreError, path: &std::path::Path) -> Problem {
    let (offset, message) = match err {
        StoreError::Pack(pack_io::Error::Format { source, .. }) => {
            (format_offset(source), source.to_string())
        }
        other => (None, other.to_string()),
    };
    Problem {
        path: path.to_path_buf(),
        offset,
        hash: None,
        message,
    }
}

impl PackedSequenceStorage {
    /// Re-reads every pack and index. `progress(done, total)` counts pack bytes.
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> VerifyReport {
        let started = Instant::now();
        let snap = self.snapshot();
        let mut report = VerifyReport {
            stray_temp_files: snap.leftovers(),
            ..VerifyReport::default()
        };
        for p in &snap.problems {
            report.problems.push(Problem {
                path: p.path.clone(),
                offset: None,
                hash: None,
                message: p.reason.clone(),
            });
        }
        let total: u64 = snap
            .packs
            .values()
            .filter_map(|s| std::fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum();
        let mut done = 0u64;
        // (pack, entries, multiset digest of its (hash, location) rows): every index must
        // list exactly these rows, checked without a lookup per entry.
        let mut pack_entries: Vec<(PackId, u64, u64)> = Vec::new();
        // Packs are checked on two threads; results are gathered in pack order.
        let packs: Vec<(PackId, &crate::snapshot::PackSlot)> =
            snap.packs.iter().map(|(id, slot)| (*id, slot)).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, PackOutcome)>();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                let tx = tx.clone();
                let (packs, next) = (&packs, &next);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(id, slot)) = packs.get(i) else {
                        break;
                    };
                    if tx.send((i, self.verify_pack(id, slot))).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut results: Vec<Option<PackOutcome>> = (0..packs.len()).map(|_| None).collect();
            for (i, outcome) in rx {
                done += outcome.bytes;
                progress(done, total);
                results[i] = Some(outcome);
            }
            for (i, outcome) in results.into_iter().enumerate() {
                let outcome = outcome.expect("every pack was checked");
                report.packs += 1;
                report.problems.extend(outcome.problems);
                report.sequences += outcome.sequences;
                report.entries += outcome.entries;
                report.index_files += outcome.index_files;
                report.pack_bytes += outcome.bytes;
                if outcome.readable {
                    pack_entries.push((packs[i].0, outcome.entries, outcome.digest));
                }
            }
        });
        if let Some(m) = &snap.multi {
            let path = self.layout().multi_index_path();
            report.index_files += 1;
            let problem = match m.verify() {
                Err(e) => Some(e.to_string()),
                Ok(()) => {
                    let mut per_pack: std::collections::HashMap<PackId, (u64, u64)> =
                        std::collections::HashMap::new();
                    for r in m.entries() {
                        let slot = per_pack.entry(r.location.pack).or_default();
                        slot.0 += 1;
                        slot.1 = slot.1.wrapping_add(row_digest(&r.hash, &r.location));
                    }
                    m.packs().iter().find_map(|id| {
                        let want = pack_entries
                            .iter()
                            .find(|(p, _, _)| p == id)
                            .map(|(_, n, d)| (*n, *d));
                        let have = per_pack.get(id).copied().unwrap_or_default();
                        (want.is_some_and(|w| w != have)).then(|| {
                            format!(
                                "lists {} rows of pack {id}, which holds {} entries, or rows that differ from them",
                                have.0,
                                want.map_or(0, |w| w.0)
                            )
                        })
                    })
                }
            };
            if let Some(message) = problem {
                report.problems.push(Problem {
                    path,
                    offset: None,
                    hash: None,
                    message,
                });
            }
        }
        // Alias indexes: sound, and a digest row for every committed sequence (rows of an
        // interrupted commit may add more; never fewer).
        let sequences = snap.counts().sequences;
        for (kind, ix) in &snap.aliases {
            report.index_files += 1;
            let problem = match ix.verify() {
                Err(e) => Some(e.to_string()),
                Ok(()) if *kind != IndexKind::Accession && ix.len() < sequences => Some(format!(
                    "lists {} digests for {sequences} sequences: run sequoia rebuild-index",
                    ix.len()
                )),
                Ok(()) => None,
            };
            if let Some(message) = problem {
                report.problems.push(Problem {
                    path: self.layout().alias_index_path(*kind),
                    offset: None,
                    hash: None,
                    message,
                });
            }
        }
        report.seconds = started.elapsed().as_secs_f64();
        report
    }
}

/// What checking one pack found.
#[derive(Default)]
struct PackOutcome {
    problems: Vec<Problem>,
    sequences: u64,
    entries: u64,
    digest: u64,
    index_files: usize,
    bytes: u64,
    readable: bool,
}

impl PackedSequenceStorage {
    /// Checks one pack and its own index.
    fn verify_pack(&self, id: PackId, slot: &crate::snapshot::PackSlot) -> PackOutcome {
        let mut out = PackOutcome::default();
        let path = &slot.path;
        let reader = match slot.reader() {
            Ok(r) => r,
            Err(reason) => {
                out.problems.push(Problem {
                    path: path.clone(),
                    offset: None,
                    hash: None,
                    message: reason,
                });
                return out;
            }
        };
        out.readable = true;
        let before = out.problems.len();
        match reader.pack_id() {
            Ok(inner) if inner != id => out.problems.push(Problem {
                path: path.clone(),
                offset: Some(5),
                hash: None,
                message: format!("the pack calls itself pack {inner}; its file name says {id}"),
            }),
            Ok(_) => {}
            Err(e) => out.problems.push(problem_of(&e.into(), path)),
        }
        if let Err(e) = reader.verify_footer() {
            out.problems.push(problem_of(&e.into(), path));
        }
        let mut count = 0u64;
        let mut digest = 0u64;
        let mut entry_problems = Vec::new();
        let walked = reader.for_each_entry::<StoreError>(id, |loc, e| {
            count += 1;
            let at = reader
                .block_file_offset(loc.block)
                .or(match reader.version() {
                    PackVersion::V1 => Some(loc.offset as u64),
                    PackVersion::V2 => None,
                });
            let place = format!("entry at block {} offset {}", loc.block, loc.offset);
            let mut flag = |message: String| {
                entry_problems.push(Problem {
                    path: path.clone(),
                    offset: at,
                    hash: Some(e.hash),
                    message: format!("{place}: {message}"),
                })
            };
            if e.has_sequence() {
                out.sequences += 1;
                if let Some(p) = e.sequence.iter().position(|&b| RESIDUE[b as usize] != b) {
                    flag(format!(
                        "byte {p} of the residues is not an upper-case residue"
                    ));
                }
                let actual = SequenceHash::of_residues(e.sequence);
                if actual != e.hash {
                    flag(format!("the residues hash to {actual}"));
                }
            }
            if let Err(err) = e.representations() {
                flag(format!("representations do not decode: {err}"));
            }
            digest = digest.wrapping_add(row_digest(&e.hash, &loc));
            Ok(())
        });
        out.problems.extend(entry_problems);
        if let Err(e) = walked {
            out.problems.push(problem_of(&e, path));
        }
        out.entries = count;
        out.digest = digest;
        // The pack's own index: sound and of the same size.
        let idx_path = self.layout().pack_index_path(id);
        if out.problems.len() == before {
            match pack_index::open(&idx_path).and_then(|ix| ix.verify().map(|_| ix)) {
                Ok(ix) => {
                    out.index_files += 1;
                    let computed = crc32fast::hash(reader.bytes());
                    if ix.pack_crc32() != Some(computed) {
                        out.problems.push(Problem {
                            path: path.clone(),
                            offset: None,
                            hash: None,
                            message: format!(
                                "the file's CRC-32 is {computed:08x}; its index recorded {:08x} when it was written: the pack has changed",
                                ix.pack_crc32().unwrap_or(0)
                            ),
                        });
                    }
                    let listed = ix.entries().fold(0u64, |d, r| {
                        d.wrapping_add(row_digest(&r.hash, &r.location))
                    });
                    if ix.len() != count
                        || listed != digest
                        || ix.kind() != IndexKind::Pack
                        || ix.packs() != [id]
                    {
                        out.problems.push(Problem {
                            path: idx_path,
                            offset: None,
                            hash: None,
                            message: format!(
                                "indexes {} rows of packs {:?}; pack {id} holds {count} entries{}",
                                ix.len(),
                                ix.packs(),
                                if listed != digest {
                                    " and the rows differ from them"
                                } else {
                                    ""
                                }
                            ),
                        });
                    }
                }
                Err(e) => out.problems.push(Problem {
                    path: idx_path,
                    offset: None,
                    hash: None,
                    message: e.to_string(),
                }),
            }
        }
        out.bytes = reader.file_len();
        out
    }
}
