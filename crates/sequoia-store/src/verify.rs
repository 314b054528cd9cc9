//! Full checks of a store: every pack re-read, every checksum checked, every sequence
//! re-hashed, every index checked against the packs. Nothing is modified.

use std::path::PathBuf;
use std::time::Instant;

use pack_format::{PackId, PackVersion, SequenceHash};
use pack_index::IndexKind;

use crate::alphabet::first_non_upper_residue;
use crate::error::StoreError;
use crate::report::Problem;
use crate::store::PackedSequenceStorage;

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
    /// Files that are not part of the store (harmless; `sequoia gc` deletes them).
    pub leftovers: Vec<PathBuf>,
    /// Wall time.
    pub seconds: f64,
}

/// A 64-bit digest of one index row; summed over rows it is a multiset digest, so the rows
/// of a pack, of its index and of the multi-pack index can be compared in any order.
fn row_digest(hash: &SequenceHash, loc: &pack_format::PackLocation) -> u64 {
    let mut words = [0u64; 6];
    for (w, chunk) in words.iter_mut().zip(hash.0.chunks_exact(8)) {
        *w = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
    }
    words[4] = (loc.pack as u64) << 32 | loc.block as u64;
    words[5] = (loc.offset as u64) << 32 | loc.length as u64;
    digest(&words)
}

/// The digest [`row_digest`] is for location rows, for a row of an entry index: the first
/// [`ENTRY_KEY_LEN`](pack_index::ENTRY_KEY_LEN) bytes of its hash prefix (what every
/// entry index holds; those of earlier builds hold 8, under their own CRCs) and its entry
/// number (the digests are summed per pack).
fn entry_row_digest(prefix: &pack_index::HashPrefix, entry: u32) -> u64 {
    let prefix = pack_index::cut_prefix(*prefix, pack_index::ENTRY_KEY_LEN);
    digest(&[u64::from_le_bytes(prefix), entry as u64])
}

fn digest(words: &[u64]) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    words
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15u64, |d, w| mix(d ^ w))
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
        // The listed snapshot: verify reports leftovers.
        let snap = self.listed_snapshot().unwrap_or_else(|_| self.snapshot());
        let mut report = VerifyReport {
            leftovers: snap.leftovers(),
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
        // (pack, entries, multiset digest of its (hash, location) rows, and of its entry
        // table as entry index rows): every index must list exactly these rows, checked
        // without a lookup per entry.
        #[allow(clippy::type_complexity)]
        let mut pack_entries: Vec<(PackId, u64, u64, Option<(u64, u64)>)> = Vec::new();
        // Each pack is checked as a whole (its id, footer, file CRC and own index) and
        // entry by entry in ranges of blocks: both cores are busy even with few packs.
        let packs: Vec<(PackId, &crate::snapshot::PackSlot)> =
            snap.packs.iter().map(|(id, slot)| (*id, &**slot)).collect();
        let mut jobs: Vec<(usize, Option<std::ops::Range<u32>>)> = Vec::new();
        let mut share: Vec<u64> = Vec::new();
        for (i, (_, slot)) in packs.iter().enumerate() {
            jobs.push((i, None));
            share.push(0);
            let Ok(reader) = slot.reader() else {
                continue;
            };
            let blocks = reader.block_count().unwrap_or(0);
            for range in crate::pool::block_ranges(blocks) {
                share.push(reader.file_len() * range.len() as u64 / u64::from(blocks));
                jobs.push((i, Some(range)));
            }
        }
        let total: u64 = share.iter().sum();
        let mut done = 0u64;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, PackOutcome)>();
        let mut results: Vec<Option<PackOutcome>> = (0..jobs.len()).map(|_| None).collect();
        // The multi-pack and alias indexes are read beside the packs, on a third thread.
        let (multi_rows, alias_problems) = std::thread::scope(|scope| {
            let index_files = scope.spawn(|| check_index_files(&snap));
            for _ in 0..2 {
                let tx = tx.clone();
                let (packs, jobs, next) = (&packs, &jobs, &next);
                scope.spawn(move || loop {
                    let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((i, blocks)) = jobs.get(j) else {
                        break;
                    };
                    let (id, slot) = packs[*i];
                    let outcome = match blocks {
                        None => self.check_pack_file(id, slot),
                        Some(blocks) => walk_entries(id, slot, blocks.clone()),
                    };
                    if tx.send((j, outcome)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (j, outcome) in rx {
                done += share[j];
                progress(done, total);
                results[j] = Some(outcome);
            }
            index_files.join().unwrap_or_else(|_| {
                let path = PathBuf::from("indices");
                (vec![(path, Err("checking it panicked".into()))], Vec::new())
            })
        });
        // Per pack, in pack order: the whole-file checks, then its entries block by block,
        // then its own index against the rows its entries make.
        let mut results = results.into_iter().zip(&jobs).peekable();
        for (i, &(id, slot)) in packs.iter().enumerate() {
            let (head, _) = results.next().expect("every pack has a whole-file job");
            let mut head = head.expect("every job was done");
            let mut walked = PackOutcome::default();
            while let Some((o, _)) = results.next_if(|(_, job)| job.0 == i) {
                let o = o.expect("every job was done");
                walked.problems.extend(o.problems);
                walked.sequences += o.sequences;
                walked.entries += o.entries;
                walked.digest = walked.digest.wrapping_add(o.digest);
            }
            report.packs += 1;
            report.pack_bytes += head.bytes;
            report.sequences += walked.sequences;
            report.entries += walked.entries;
            let sound = head.problems.is_empty() && walked.problems.is_empty();
            report.problems.append(&mut head.problems);
            report.problems.append(&mut walked.problems);
            if !head.readable {
                continue;
            }
            pack_entries.push((id, walked.entries, walked.digest, head.table));
            let idx_path = self.layout().pack_index_path(id);
            match head.index {
                // Damage in the pack is reported first; its index is compared only with a
                // sound pack.
                _ if !sound => {}
                Ok(None) => {}
                Ok(Some(ix)) => {
                    report.index_files += 1;
                    if ix.rows != walked.entries || ix.digest != walked.digest || !ix.describes_pack
                    {
                        report.problems.push(Problem {
                            path: idx_path,
                            offset: None,
                            hash: None,
                            message: format!(
                                "indexes {} rows of packs {:?}; pack {id} holds {} entries{}",
                                ix.rows,
                                ix.packs,
                                walked.entries,
                                if ix.digest != walked.digest {
                                    " and the rows differ from them"
                                } else {
                                    ""
                                }
                            ),
                        });
                    }
                    if let Some(p) = ix.crc_problem {
                        report.problems.push(Problem {
                            path: slot.path.clone(),
                            offset: None,
                            hash: None,
                            message: p,
                        });
                    }
                }
                Err(message) => report.problems.push(Problem {
                    path: idx_path,
                    offset: None,
                    hash: None,
                    message,
                }),
            }
        }
        for (rows_path, rows) in multi_rows {
            report.index_files += 1;
            let problem = match rows {
                Err(e) => Some(e),
                Ok((listed, per_pack, entry_rows)) => listed.iter().find_map(|id| {
                    let want = pack_entries
                        .iter()
                        .find(|(p, ..)| p == id)
                        .map(|(_, n, d, table)| {
                            if entry_rows {
                                // Entry rows name entry table rows (which the walk
                                // compared with the blocks). A pack without a readable
                                // table (v1, or a damaged footer, reported already) can
                                // have none: no digest matches.
                                table.unwrap_or((*n, !0))
                            } else {
                                (*n, *d)
                            }
                        });
                    let have = per_pack.get(id).copied().unwrap_or_default();
                    (want.is_some_and(|w| w != have)).then(|| {
                        format!(
                            "lists {} rows of pack {id}, which holds {} entries, or rows that differ from them",
                            have.0,
                            want.map_or(0, |w| w.0)
                        )
                    })
                }),
            };
            if let Some(message) = problem {
                report.problems.push(Problem {
                    path: rows_path,
                    offset: None,
                    hash: None,
                    message,
                });
            }
        }
        for (path, problem) in alias_problems {
            report.index_files += 1;
            if let Some(message) = problem {
                report.problems.push(Problem {
                    path,
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

/// Rows of a layer's rows file per pack: (count, multiset digest).
type RowsPerPack = std::collections::HashMap<PackId, (u64, u64)>;
/// The packs a layer's rows file lists, its rows per pack and whether they are entry rows
/// (to be compared with the packs' entry tables), or what is wrong with it.
type LayerRowsCheck = Result<(Vec<PackId>, RowsPerPack, bool), String>;
/// Per alias index file, what is wrong with it.
type AliasProblems = Vec<(PathBuf, Option<String>)>;

/// Checks every layer's rows file (sound; its rows summed per pack, to be compared with
/// the packs) and alias indexes (sound, and a digest row for every sequence of the
/// layer's packs: rows of an interrupted commit may add more, never fewer).
fn check_index_files(
    snap: &crate::snapshot::Snapshot,
) -> (Vec<(PathBuf, LayerRowsCheck)>, AliasProblems) {
    let mut rows_checks = Vec::new();
    let mut aliases = Vec::new();
    for layer in &snap.layers {
        let m = &layer.rows;
        let check = (|| {
            m.verify().map_err(|e| e.to_string())?;
            let entry_rows = m.kind() == IndexKind::Entries;
            let mut per_pack = RowsPerPack::new();
            let mut add = |pack: PackId, digest: u64| {
                let slot = per_pack.entry(pack).or_default();
                slot.0 += 1;
                slot.1 = slot.1.wrapping_add(digest);
            };
            if entry_rows {
                let entries = m.as_entries().map_err(|e| e.to_string())?;
                for r in entries.rows(0..m.len()) {
                    add(r.pack, entry_row_digest(&r.prefix, r.entry));
                }
            } else {
                let locations = m.as_locations().map_err(|e| e.to_string())?;
                for r in locations.entries() {
                    add(r.location.pack, row_digest(&r.hash, &r.location));
                }
            }
            Ok((m.packs().to_vec(), per_pack, entry_rows))
        })();
        rows_checks.push((layer.rows_path.clone(), check));
        let sequences = m.counts().sequences;
        for (kind, (path, ix)) in &layer.aliases {
            let problem = match ix.verify() {
                Err(e) => Some(e.to_string()),
                Ok(()) if *kind != IndexKind::Accession && ix.len() < sequences => Some(format!(
                    "lists {} digests for the {sequences} sequences of its layer: run sequoia rebuild-index",
                    ix.len()
                )),
                Ok(()) => None,
            };
            aliases.push((path.clone(), problem));
        }
    }
    (rows_checks, aliases)
}

/// What one verification job found: the whole-file checks of a pack, or its entries in a
/// range of blocks.
struct PackOutcome {
    problems: Vec<Problem>,
    sequences: u64,
    entries: u64,
    digest: u64,
    bytes: u64,
    readable: bool,
    /// A v2 pack's entry table as entry index rows: (rows, multiset digest).
    table: Option<(u64, u64)>,
    /// The pack's own index, as found by the whole-file job: `None` for a v2 pack without
    /// an index file (its footer's entry table, checked with the footer, is its index).
    index: Result<Option<OwnIndex>, String>,
}

impl Default for PackOutcome {
    fn default() -> Self {
        PackOutcome {
            problems: Vec::new(),
            sequences: 0,
            entries: 0,
            digest: 0,
            bytes: 0,
            readable: false,
            table: None,
            index: Err("not checked".into()),
        }
    }
}

/// A pack's own index, sound, summed up to be compared with the pack's entries.
struct OwnIndex {
    rows: u64,
    digest: u64,
    packs: Vec<PackId>,
    /// Kind 1 and covering exactly this pack.
    describes_pack: bool,
    /// The pack file's CRC differs from the one the index recorded.
    crc_problem: Option<String>,
}

/// Checks the entries of `blocks` of one pack: each decodes, its residues are upper-case
/// residues hashing to its hash, its representations decode; and sums their rows.
fn walk_entries(
    id: PackId,
    slot: &crate::snapshot::PackSlot,
    blocks: std::ops::Range<u32>,
) -> PackOutcome {
    let mut out = PackOutcome::default();
    let path = &slot.path;
    let reader = match slot.reader() {
        Ok(r) => r,
        // Reported by the pack's whole-file job.
        Err(_) => return out,
    };
    let mut entry_problems = Vec::new();
    let walked = reader.for_each_entry_in::<StoreError>(id, blocks, |loc, e| {
        out.entries += 1;
        // Where and what, worked out only for an entry found wrong.
        let mut flag = |message: String| {
            let at = reader
                .block_file_offset(loc.block)
                .or(match reader.version() {
                    PackVersion::V1 => Some(loc.offset as u64),
                    PackVersion::V2 | PackVersion::V3 => None,
                });
            entry_problems.push(Problem {
                path: path.clone(),
                offset: at,
                hash: Some(e.hash),
                message: format!(
                    "entry at block {} offset {}: {message}",
                    loc.block, loc.offset
                ),
            })
        };
        if e.has_sequence() {
            out.sequences += 1;
            if let Some(p) = first_non_upper_residue(e.sequence) {
                flag(format!(
                    "byte {p} of the residues is not an upper-case residue"
                ));
            }
            let actual = SequenceHash::of_residues(e.sequence);
            if actual != e.hash {
                flag(format!("the residues hash to {actual}"));
            }
        }
        if let Err(err) = e.for_each_representation(|_, _| ()) {
            flag(format!("representations do not decode: {err}"));
        }
        out.digest = out.digest.wrapping_add(row_digest(&e.hash, &loc));
        Ok(())
    });
    out.problems.extend(entry_problems);
    if let Err(e) = walked {
        out.problems.push(problem_of(&e, path));
    }
    out
}

impl PackedSequenceStorage {
    /// Checks what concerns a pack file as a whole: that it opens, its id, its footer, and
    /// its own index (sound, and recording the file's CRC-32).
    fn check_pack_file(&self, id: PackId, slot: &crate::snapshot::PackSlot) -> PackOutcome {
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
        out.bytes = reader.file_len();
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
        // The entry table as entry index rows, for the multi-pack index to be compared with.
        let table = reader.verify_footer().and_then(|()| {
            let Some(count) = reader.entry_count()? else {
                return Ok(None);
            };
            let mut digest = 0u64;
            for entry in 0..count {
                let (hash, _) = reader.entry_row(id, entry)?;
                digest =
                    digest.wrapping_add(entry_row_digest(&pack_index::hash_prefix(&hash), entry));
            }
            Ok(Some((u64::from(count), digest)))
        });
        match table {
            Err(e) => out.problems.push(problem_of(&e.into(), path)),
            Ok(table) => out.table = table,
        }
        let idx_path = self.layout().pack_index_path(id);
        if reader.version().has_row_table() && !idx_path.exists() {
            out.index = Ok(None);
            return out;
        }
        // Only v1 packs have index files; a v1 pack is read whole (fetched whole if remote).
        let whole = match reader.bytes() {
            Ok(bytes) => bytes,
            Err(e) => {
                out.index = Err(e.to_string());
                return out;
            }
        };
        out.index = pack_index::open(&idx_path)
            .and_then(|ix| ix.verify().map(|_| ix))
            .map(|ix| {
                let computed = crc32fast::hash(whole);
                // Another kind of index under a pack index's name does not describe the
                // pack (below); its rows are not location rows.
                let locations = ix.as_locations().ok();
                let recorded_crc = locations.and_then(|l| l.pack_crc32());
                Some(OwnIndex {
                    rows: ix.len(),
                    digest: locations.map_or(0, |l| {
                        l.entries().fold(0u64, |d, r| {
                            d.wrapping_add(row_digest(&r.hash, &r.location))
                        })
                    }),
                    packs: ix.packs().to_vec(),
                    describes_pack: ix.kind() == IndexKind::Pack && ix.packs() == [id],
                    crc_problem: (recorded_crc != Some(computed)).then(|| {
                        format!(
                            "the file's CRC-32 is {computed:08x}; its index recorded {:08x} when it was written: the pack has changed",
                            recorded_crc.unwrap_or(0)
                        )
                    }),
                })
            })
            .map_err(|e| e.to_string());
        out
    }
}
