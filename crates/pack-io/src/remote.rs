//! Packs that live elsewhere (an object store), read through a local sparse copy.
//!
//! A remote pack is read through a *stub*: a local file of the pack's full length in which
//! only the bytes fetched so far are written. Opening a pack the first time fetches its
//! header and dictionary and its footer (block and entry tables, trailer) into a new stub,
//! fsynced and renamed into place, so the stub of a later process opens without a request.
//! Blocks are fetched when a read first needs them, written into the stub and read through
//! the same memory map as a local pack's; which blocks a reader has fetched is kept in
//! memory only, so a block's bytes are never trusted across processes (a block read costs
//! one ranged request per process, whatever happened to the stub before).
//!
//! A v1 pack (whole-file zstd) is fetched whole into its stub: it is read whole anyway. A
//! v3 pack's stub holds its header and footer (block table, sources, groups, lengths,
//! additions, trailer); a row read fetches its residue block and its header block.

use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pack_format::{v2, v3};

/// Where a remote pack's bytes come from: ranged reads of one object.
pub trait RangeSource: Send + Sync {
    /// The object's name for errors (`s3://bucket/prefix/packs/pack_0001.tal`).
    fn name(&self) -> &str;
    /// The object's length and its last `n` bytes (all of it when it is shorter).
    fn read_suffix(&self, n: u64) -> std::io::Result<(u64, Vec<u8>)>;
    /// The bytes of each range, in the order asked (a source coalesces neighbouring ranges
    /// and fetches them in parallel where it can).
    fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>>;
}

/// Where the packs of a store that lives elsewhere are: the object of each pack file name.
pub trait RemotePacks: Send + Sync + std::fmt::Debug {
    /// The object holding the pack file `name` (`pack_NNNN.tal`).
    fn pack(&self, name: &str) -> std::io::Result<std::sync::Arc<dyn RangeSource>>;
    /// Ids of every pack object the remote store holds, committed or not (a writer numbers
    /// its packs past them).
    fn pack_ids(&self) -> std::io::Result<Vec<pack_format::PackId>>;
}

/// Bytes fetched from the end of a pack when its stub is made: the trailer and, for most
/// packs, the whole footer in the same request.
const SUFFIX_FETCH: u64 = 1 << 20;

/// The stub file beside `path` (`pack_NNNN.tal.part`).
pub fn stub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Makes the stub of the pack `source` names: header, dictionary and footer fetched,
/// written at their offsets in a file of the pack's length, fsynced and renamed to `stub`.
/// When that is the whole pack (a v1 pack, or a pack no longer than the first request),
/// it is renamed to `path` instead, a whole local copy; returns whether it was.
pub(crate) fn make_stub(
    path: &Path,
    stub: &Path,
    source: &dyn RangeSource,
) -> std::io::Result<bool> {
    let (len, tail) = source.read_suffix(SUFFIX_FETCH)?;
    let tail_at = len - tail.len() as u64;
    let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
    let v3 = tail.ends_with(v3::TRAILER_MAGIC);
    let whole = tail_at == 0
        || !(tail.ends_with(v2::TRAILER_MAGIC) || v3)
        || (tail.len() as u64) < v2::TRAILER_LEN as u64;
    if whole {
        // Not a v2 pack (or not a pack: the reader says so): fetched whole.
        if tail_at > 0 {
            let head = source.read_ranges(std::slice::from_ref(&(0..tail_at)))?;
            pieces.extend(head.into_iter().map(|b| (0, b)));
        }
    } else {
        let t = &tail[tail.len() - v2::TRAILER_LEN..];
        let footer_offset = u64::from_le_bytes(t[0..8].try_into().expect("8 bytes"));
        // A v2 pack's dictionary follows its header; a v3 pack has none (its trailer
        // bytes 40..44 are the source table's length).
        let dictionary_len = if v3 {
            0
        } else {
            u32::from_le_bytes(t[40..44].try_into().expect("4 bytes")) as u64
        };
        let head_end = (v2::HEADER_LEN as u64 + dictionary_len).min(tail_at);
        let mut ranges = Vec::with_capacity(2);
        ranges.push(0..head_end);
        if footer_offset < tail_at {
            ranges.push(footer_offset..tail_at);
        }
        let fetched = source.read_ranges(&ranges)?;
        for (r, bytes) in ranges.iter().zip(fetched) {
            pieces.push((r.start, bytes));
        }
    }
    pieces.push((tail_at, tail));
    let mut tmp = stub.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.set_len(len)?;
        for (at, bytes) in &pieces {
            file.write_all_at(bytes, *at)?;
        }
        file.sync_data()?;
        std::fs::rename(&tmp, if whole { path } else { stub })
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| whole)
}

/// The fetching half of a reader of a remote pack: which blocks its stub holds for this
/// process, and where the others come from.
pub(crate) struct Fetcher {
    pub source: std::sync::Arc<dyn RangeSource>,
    file: File,
    /// Bit `b` set: block `b` is in the stub (fetched by this reader).
    present: Mutex<Vec<u64>>,
}

impl Fetcher {
    pub fn new(stub: &Path, source: std::sync::Arc<dyn RangeSource>) -> std::io::Result<Self> {
        let file = OpenOptions::new().write(true).open(stub)?;
        Ok(Fetcher {
            source,
            file,
            present: Mutex::new(Vec::new()),
        })
    }

    /// Fetches the blocks of `wanted` (block number and its byte range in the pack, in
    /// block order) this reader has not fetched yet and writes them into the stub.
    /// Missing blocks less than [`GAP`] apart are fetched as one range, the blocks between
    /// them too (all then count as fetched): one request costs more than a MiB of
    /// transfer on any link object storage is reached over.
    pub fn ensure(&self, wanted: &[(u32, Range<u64>)]) -> std::io::Result<()> {
        let missing: Vec<&(u32, Range<u64>)> = {
            let present = self.present.lock().unwrap_or_else(|p| p.into_inner());
            (wanted.iter())
                .filter(|(b, _)| {
                    let (word, bit) = (*b as usize / 64, *b % 64);
                    present.get(word).is_none_or(|w| w & (1 << bit) == 0)
                })
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        // Runs of blocks: (first block, last block, byte range).
        let mut runs: Vec<(u32, u32, Range<u64>)> = Vec::new();
        for (b, r) in missing {
            match runs.last_mut() {
                Some((_, last, range)) if r.start >= range.end && r.start - range.end < GAP => {
                    *last = *b;
                    range.end = r.end;
                }
                _ => runs.push((*b, *b, r.clone())),
            }
        }
        let ranges: Vec<Range<u64>> = runs.iter().map(|(_, _, r)| r.clone()).collect();
        let fetched = self.source.read_ranges(&ranges)?;
        for (r, bytes) in ranges.iter().zip(&fetched) {
            if bytes.len() as u64 != r.end - r.start {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: asked for bytes {}..{}, got {}",
                        self.source.name(),
                        r.start,
                        r.end,
                        bytes.len()
                    ),
                ));
            }
            self.file.write_all_at(bytes, r.start)?;
        }
        let mut present = self.present.lock().unwrap_or_else(|p| p.into_inner());
        for (first, last, _) in runs {
            for b in first..=last {
                let (word, bit) = (b as usize / 64, b % 64);
                if present.len() <= word {
                    present.resize(word + 1, 0);
                }
                present[word] |= 1 << bit;
            }
        }
        Ok(())
    }
}

/// Missing blocks closer than this are fetched in one range with what lies between.
pub const GAP: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCache, PackReader, PackWriter, PackWriterConfig, PutEntry};
    use pack_format::{Representation, SequenceHash};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A pack's bytes behind ranged reads, counting requests and bytes; `short` cuts every
    /// answer by one byte (a truncated response).
    struct Counted {
        bytes: Vec<u8>,
        requests: AtomicUsize,
        fetched: AtomicUsize,
        short: bool,
    }

    impl RangeSource for Counted {
        fn name(&self) -> &str {
            "mem://pack"
        }
        fn read_suffix(&self, n: u64) -> std::io::Result<(u64, Vec<u8>)> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            let from = self.bytes.len().saturating_sub(n as usize);
            self.fetched
                .fetch_add(self.bytes.len() - from, Ordering::SeqCst);
            Ok((self.bytes.len() as u64, self.bytes[from..].to_vec()))
        }
        fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>> {
            self.requests.fetch_add(ranges.len(), Ordering::SeqCst);
            Ok(ranges
                .iter()
                .map(|r| {
                    let end = if self.short { r.end - 1 } else { r.end };
                    self.fetched
                        .fetch_add((end - r.start) as usize, Ordering::SeqCst);
                    self.bytes[r.start as usize..end as usize].to_vec()
                })
                .collect())
        }
    }

    /// A v2 pack of 5,000 sequences of incompressible residues (about 3.4 MB, so that its
    /// blocks lie outside the first request), and its entries.
    fn pack(dir: &Path) -> (Vec<u8>, Vec<pack_index::IndexEntry>) {
        pack_of(dir, pack_format::PackVersion::V2)
    }

    /// [`pack`] in `version`'s layout.
    fn pack_of(
        dir: &Path,
        version: pack_format::PackVersion,
    ) -> (Vec<u8>, Vec<pack_index::IndexEntry>) {
        let mut config = PackWriterConfig::new(dir, 7);
        config.version = version;
        config.pack_size_limit = 1 << 30;
        let writer = PackWriter::spawn(config).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let entries = (0..5_000)
            .map(|i| {
                let residues: Vec<u8> = (0..1_000)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b"ACDEFGHIKLMNPQRSTVWY"[(x % 20) as usize]
                    })
                    .collect();
                PutEntry {
                    hash: SequenceHash::of_residues(&residues),
                    residues,
                    representations: vec![Representation::new(format!("s{i}"), "test")],
                }
            })
            .collect();
        writer.put(entries).unwrap();
        let packs = writer.finish().unwrap();
        let bytes = std::fs::read(&packs[0].temp_path).unwrap();
        (bytes, packs[0].entries().unwrap())
    }

    /// `bytes` behind a counting source, opened as a remote pack with its stub in `cache`
    /// (checked to be a stub, not a whole copy): the source, the pack's path, the reader.
    fn opened_remote(bytes: &[u8], cache: &Path) -> (Arc<Counted>, PathBuf, PackReader) {
        let source = Arc::new(Counted {
            bytes: bytes.to_vec(),
            requests: AtomicUsize::new(0),
            fetched: AtomicUsize::new(0),
            short: false,
        });
        let path = cache.join("pack_0007.tal");
        let reader = PackReader::open_remote(&path, source.clone()).unwrap();
        assert!(reader.is_remote() && stub_path(&path).exists() && !path.exists());
        (source, path, reader)
    }

    fn read(reader: &PackReader, e: &pack_index::IndexEntry) -> Vec<u8> {
        let mut cache = BlockCache::default();
        (reader.read_entry(&e.hash, &e.location, &mut cache, |x| x.sequence.to_vec())).unwrap()
    }

    #[test]
    fn a_remote_pack_reads_through_its_stub_fetching_only_the_blocks_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, entries) = pack(dir.path());
        assert!(bytes.len() > 2 << 20, "{} bytes", bytes.len());
        let local = PackReader::open(&dir.path().join("pack_0007.tal.tmp")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (source, path, reader) = opened_remote(&bytes, cache.path());
        // Opening: the last MiB, then the header with the dictionary and the rest of the
        // footer, in one call.
        let opened = source.requests.load(Ordering::SeqCst);
        assert!(opened <= 3, "{opened} requests to open");
        let e = &entries[1_500];
        assert_eq!(read(&reader, e), read(&local, e));
        assert_eq!(
            source.requests.load(Ordering::SeqCst),
            opened + 1,
            "one block, one request"
        );
        let fetched = source.fetched.load(Ordering::SeqCst);
        assert!(
            fetched < bytes.len() / 2,
            "{fetched} of {} bytes",
            bytes.len()
        );
        assert_eq!(read(&reader, e), read(&local, e));
        assert_eq!(
            source.requests.load(Ordering::SeqCst),
            opened + 1,
            "fetched once"
        );
        // Blocks less than a MiB apart come in one request, with those between them.
        let before = source.requests.load(Ordering::SeqCst);
        reader.fetch_blocks([10, 30]).unwrap();
        assert_eq!(source.requests.load(Ordering::SeqCst), before + 1);
        reader.fetch_blocks([20, 29, 11]).unwrap();
        assert_eq!(
            source.requests.load(Ordering::SeqCst),
            before + 1,
            "fetched with 10..=30"
        );
        // A walk fetches the rest together and decodes what a local reader decodes.
        let (mut remote_rows, mut local_rows) = (Vec::new(), Vec::new());
        reader
            .for_each_entry::<crate::Error>(7, |loc, x| {
                remote_rows.push((loc, x.sequence.to_vec()));
                Ok(())
            })
            .unwrap();
        local
            .for_each_entry::<crate::Error>(7, |loc, x| {
                local_rows.push((loc, x.sequence.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(remote_rows, local_rows);
        // Another process: the stub opens without a request; its blocks are fetched again
        // (never trusted across processes).
        let before = source.requests.load(Ordering::SeqCst);
        let again = PackReader::open_remote(&path, source.clone()).unwrap();
        assert_eq!(source.requests.load(Ordering::SeqCst), before);
        let e = &entries[10];
        assert_eq!(read(&again, e), read(&local, e));
        assert_eq!(source.requests.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn a_remote_v3_pack_reads_a_row_fetching_its_two_blocks_only() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, entries) = pack_of(dir.path(), pack_format::PackVersion::V3);
        assert!(bytes.len() > 2 << 20, "{} bytes", bytes.len());
        let local = PackReader::open(&dir.path().join("pack_0007.tal.tmp")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (source, _, reader) = opened_remote(&bytes, cache.path());
        let opened = source.requests.load(Ordering::SeqCst);
        assert!(opened <= 3, "{opened} requests to open");
        let e = &entries[2_500];
        assert_eq!(read(&reader, e), read(&local, e));
        // Its residue block and its header block (far apart: two ranges).
        assert_eq!(source.requests.load(Ordering::SeqCst), opened + 2);
        let fetched = source.fetched.load(Ordering::SeqCst);
        // The last MiB (trailer and footer), then the two blocks.
        assert!(
            fetched < (1 << 20) + 100_000,
            "{fetched} of {} bytes",
            bytes.len()
        );
        let (mut remote_rows, mut local_rows) = (Vec::new(), Vec::new());
        for (r, rows) in [(&reader, &mut remote_rows), (&local, &mut local_rows)] {
            r.for_each_entry::<crate::Error>(7, |loc, x| {
                rows.push((loc, x.sequence.to_vec(), x.representations().unwrap()));
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(remote_rows.len(), 5_000);
        assert_eq!(remote_rows, local_rows);
    }

    #[test]
    fn a_truncated_answer_is_an_error_naming_the_object_never_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, entries) = pack(dir.path());
        let cache = tempfile::tempdir().unwrap();
        let path = cache.path().join("pack_0007.tal");
        let whole = Arc::new(Counted {
            bytes: bytes.clone(),
            requests: AtomicUsize::new(0),
            fetched: AtomicUsize::new(0),
            short: false,
        });
        drop(PackReader::open_remote(&path, whole).unwrap());
        let short = Arc::new(Counted {
            bytes,
            requests: AtomicUsize::new(0),
            fetched: AtomicUsize::new(0),
            short: true,
        });
        let reader = PackReader::open_remote(&path, short).unwrap();
        let e = &entries[2_000];
        let mut cache = BlockCache::default();
        let err = reader
            .read_entry(&e.hash, &e.location, &mut cache, |x| x.sequence.to_vec())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mem://pack") && err.contains("asked for bytes"),
            "{err}"
        );
    }
}
