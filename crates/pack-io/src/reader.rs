//! Reading entries from a finished pack file through a memory map.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memmap2::Mmap;
use pack_format::entry::HashField;
use pack_format::v1::V1Body;
use pack_format::v2::{self, BlockDecoder, PackDictionary, V2Pack};
use pack_format::v3::{self, V3Pack};
use pack_format::{detect, EntryRef, PackId, PackLocation, PackVersion, SequenceHash};

use crate::Error;

/// Largest decompressed v1 pack this reader accepts (v1 packs rotate at 64 MiB).
const V1_LIMIT: u64 = 4 << 30;

thread_local! {
    /// The decompression context of this thread's block walks
    /// ([`PackReader::for_each_entry_skipping`]), kept between them.
    static WALK_DECODER: std::cell::Cell<Option<BlockDecoder>> = const { std::cell::Cell::new(None) };
    /// This thread's v3 blocks: the last residue and header block it decompressed.
    static V3_BLOCKS: std::cell::Cell<Option<Box<V3Blocks>>> = const { std::cell::Cell::new(None) };
}

/// The last residue block and header block one thread decompressed from v3 packs, with
/// its context: a read of a row needs both, and an index lookup (which re-hashes the
/// residues) followed by the read of the same row finds them here.
#[derive(Default)]
struct V3Blocks {
    decoder: BlockDecoder,
    residue_key: Option<(u64, u32)>,
    residues: Vec<u8>,
    header_key: Option<(u64, u32)>,
    headers: Vec<u8>,
    /// Where the last place looked up was, in which pack: rows asked for in order are
    /// stepped over once ([`V3Pack::place_after`]).
    cursor: Option<(u64, v3::Cursor)>,
}

impl V3Blocks {
    /// Runs `f` with this thread's blocks (a nested call gets blocks of its own).
    fn with<R>(f: impl FnOnce(&mut V3Blocks) -> R) -> R {
        let mut blocks = V3_BLOCKS.take().unwrap_or_default();
        let r = f(&mut blocks);
        V3_BLOCKS.set(Some(blocks));
        r
    }

    /// Row `row`'s place in `pack` (the reader numbered `serial`), from this thread's
    /// cursor when it is in that pack.
    fn place(pack: &V3Pack<'_>, serial: u64, row: u32) -> Result<v3::Place, pack_format::Error> {
        V3Blocks::with(|c| {
            let after = c.cursor.filter(|(s, _)| *s == serial).map(|(_, c)| c);
            let (place, cursor) = pack.place_after(after, row)?;
            c.cursor = Some((serial, cursor));
            Ok(place)
        })
    }

    /// Holds the blocks the row at `place` of `pack` (the reader numbered `serial`) is
    /// read from, decompressing those not held already: its residue block (none for an
    /// addition row) and, with `items`, its header block.
    fn hold(
        &mut self,
        pack: &V3Pack<'_>,
        serial: u64,
        place: &v3::Place,
        items: bool,
    ) -> Result<(), pack_format::Error> {
        let residues = place.addition.is_none().then_some(place.residue_block);
        let headers = items.then_some(place.header_block);
        for (block, key, buf) in [
            (residues, &mut self.residue_key, &mut self.residues),
            (headers, &mut self.header_key, &mut self.headers),
        ] {
            let Some(b) = block else { continue };
            if *key != Some((serial, b)) {
                *key = None;
                pack.read_block(b, &mut self.decoder, buf)?;
                *key = Some((serial, b));
            }
        }
        Ok(())
    }
}

/// A decompression context and the last block it produced, reused across reads by one
/// thread so that neighbouring entries do not decompress their block twice.
#[derive(Default)]
pub struct BlockCache {
    /// A context per pack read (the most recent [`DECODERS`]): each stays warm with its
    /// pack's dictionary.
    decoders: Vec<(u64, BlockDecoder)>,
    key: Option<(u64, u32)>,
    block: Vec<u8>,
}

/// Decompression contexts a [`BlockCache`] keeps.
pub(crate) const DECODERS: usize = 8;

/// The context of `decoders` for the reader with `serial`, moved to the front.
fn decoder_for(decoders: &mut Vec<(u64, BlockDecoder)>, serial: u64) -> &mut BlockDecoder {
    match decoders.iter().position(|(s, _)| *s == serial) {
        Some(0) => {}
        Some(i) => decoders[..=i].rotate_right(1),
        None => {
            // A full cache hands its least recently used context to the new pack: creating
            // a context costs more than decompressing a block (stores of hundreds of packs
            // read at random would create one per get).
            let decoder = if decoders.len() == DECODERS {
                decoders.pop().map(|(_, d)| d)
            } else {
                None
            };
            decoders.insert(0, (serial, decoder.unwrap_or_default()));
        }
    }
    &mut decoders[0].1
}

/// A finished pack file, memory-mapped.
pub struct PackReader {
    path: PathBuf,
    map: Mmap,
    version: PackVersion,
    pack_id: PackId,
    /// What the entries' hash field holds (read from the header at open).
    hash_field: HashField,
    /// A v2 pack's trailer as parsed at open.
    parsed: Option<v2::Trailer>,
    /// A v3 pack's trailer and source table as parsed at open.
    v3: Option<(v3::Trailer, Vec<String>)>,
    v1_body: OnceLock<Result<Vec<u8>, String>>,
    /// Distinguishes readers in a [`BlockCache`] (addresses of dropped maps are reused).
    serial: u64,
    /// The v2 dictionary, prepared on first use.
    dictionary: OnceLock<Result<Option<PackDictionary>, String>>,
    /// The outcome of checking the footer CRC, the first time an entry table row
    /// disagrees with what led a reader to it.
    footer_checked: OnceLock<Result<(), String>>,
    /// Where the blocks of a remote pack's stub come from (`None`: the file is whole).
    fetcher: Option<crate::remote::Fetcher>,
}

static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for PackReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackReader")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("pack_id", &self.pack_id)
            .finish()
    }
}

impl PackReader {
    /// Maps the pack and checks what is cheap: header, trailer and table bounds (v2), or
    /// the zstd magic (v1: decompressed on first read).
    pub fn open(path: &Path) -> Result<PackReader, Error> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: packs are written under a temporary name, fsynced and renamed into place;
        // a finished pack is never written again, so the mapped bytes do not change.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let format = |source| Error::Format {
            path: path.to_path_buf(),
            source,
        };
        let version = detect(&map).map_err(format)?;
        let mut v3 = None;
        let (pack_id, hash_field, parsed) = match version {
            PackVersion::V2 => {
                let v2 = V2Pack::parse(&map).map_err(format)?;
                (v2.pack_id(), v2.hash_field(), Some(*v2.trailer()))
            }
            PackVersion::V3 => {
                let pack = V3Pack::parse(&map).map_err(format)?;
                v3 = Some((*pack.trailer(), pack.sources().map_err(format)?));
                (pack.pack_id(), HashField::Full, None)
            }
            PackVersion::V1 => (u32::MAX, HashField::Full, None),
        };
        let reader = PackReader {
            path: path.to_path_buf(),
            map,
            version,
            pack_id,
            hash_field,
            parsed,
            v3,
            v1_body: OnceLock::new(),
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            dictionary: OnceLock::new(),
            footer_checked: OnceLock::new(),
            fetcher: None,
        };
        Ok(reader)
    }

    /// Opens the remote pack `source` names through its stub beside `path`
    /// ([`remote::stub_path`](crate::remote::stub_path)), making the stub first if there is
    /// none (header, dictionary and footer fetched: see [`crate::remote`]). Blocks are
    /// fetched as reads need them.
    pub fn open_remote(
        path: &Path,
        source: std::sync::Arc<dyn crate::remote::RangeSource>,
    ) -> Result<PackReader, Error> {
        let stub = crate::remote::stub_path(path);
        let remote_err = |source: std::io::Error| Error::Io {
            path: PathBuf::from(&stub),
            source,
        };
        let fetched_err = |e: std::io::Error| Error::Io {
            path: PathBuf::from(source.name()),
            source: e,
        };
        if !stub.exists()
            && crate::remote::make_stub(path, &stub, source.as_ref()).map_err(fetched_err)?
        {
            return PackReader::open(path);
        }
        let mut reader = PackReader::open(&stub)?;
        if reader.version != PackVersion::V1 {
            reader.fetcher =
                Some(crate::remote::Fetcher::new(&stub, source.clone()).map_err(remote_err)?);
        }
        Ok(reader)
    }

    /// Whether blocks are fetched from elsewhere as reads need them
    /// ([`open_remote`](Self::open_remote)).
    pub fn is_remote(&self) -> bool {
        self.fetcher.is_some()
    }

    /// Fetches the blocks of `blocks` a remote pack's reader does not have yet, neighbours
    /// in one request (nothing for a local pack). Reads fetch what they need themselves;
    /// a caller about to read many blocks calls this first so that they arrive together.
    pub fn fetch_blocks(&self, blocks: impl IntoIterator<Item = u32>) -> Result<(), Error> {
        let Some(fetcher) = &self.fetcher else {
            return Ok(());
        };
        let mut wanted = Vec::new();
        for b in blocks {
            let info = self.block_info(b)?;
            wanted.push((b, info.offset..info.offset + info.compressed_len as u64));
        }
        wanted.sort_unstable_by_key(|(b, _)| *b);
        wanted.dedup_by_key(|(b, _)| *b);
        fetcher.ensure(&wanted).map_err(|source| Error::Io {
            path: PathBuf::from(fetcher.source.name()),
            source,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// v1 or v2.
    pub fn version(&self) -> PackVersion {
        self.version
    }

    /// Bytes of the file.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// The raw file bytes (for a remote pack, every block is fetched first).
    pub fn bytes(&self) -> Result<&[u8], Error> {
        if self.fetcher.is_some() {
            self.fetch_blocks(0..self.block_count()?)?;
        }
        Ok(&self.map)
    }

    /// The pack id written inside the pack (for v1 this decompresses the pack).
    pub fn pack_id(&self) -> Result<PackId, Error> {
        match self.version {
            PackVersion::V2 | PackVersion::V3 => Ok(self.pack_id),
            PackVersion::V1 => Ok(self.v1()?.pack_id()),
        }
    }

    fn format_err(&self, source: pack_format::Error) -> Error {
        Error::Format {
            path: self.path.clone(),
            source,
        }
    }

    /// A damage error at `offset` of this pack.
    fn corrupt(&self, offset: u64, message: String) -> Error {
        self.format_err(pack_format::Error::Corrupt { offset, message })
    }

    fn v2(&self) -> Result<V2Pack<'_>, Error> {
        // Header and trailer were checked at open, and the map does not change.
        match self.parsed {
            Some(trailer) => V2Pack::from_parsed(&self.map, self.pack_id, trailer)
                .ok_or_else(|| self.corrupt(0, "the pack changed size since it was opened".into())),
            None => V2Pack::parse(&self.map).map_err(|e| self.format_err(e)),
        }
    }

    fn v3(&self) -> Result<(V3Pack<'_>, &[String]), Error> {
        let (trailer, sources) = self
            .v3
            .as_ref()
            .ok_or_else(|| self.corrupt(0, "a v3 read of a pack of another version".into()))?;
        let pack = V3Pack::from_parsed(&self.map, *trailer)
            .ok_or_else(|| self.corrupt(0, "the pack changed size since it was opened".into()))?;
        Ok((pack, sources))
    }

    /// Row `b` of a v2 or v3 pack's block table.
    fn block_info(&self, b: u32) -> Result<v2::BlockInfo, Error> {
        match self.version {
            PackVersion::V3 => self.v3()?.0.block_info(b),
            _ => self.v2()?.block_info(b),
        }
        .map_err(|e| self.format_err(e))
    }

    /// Reads row `row` of a v3 pack (its residue block must be `block`) through this
    /// thread's [`V3Blocks`], hands it to `f` as an entry, checking that the residues are
    /// of `expected` if given.
    fn read_v3_row<R>(
        &self,
        pack: PackId,
        row: u32,
        block: Option<u32>,
        expected: Option<&SequenceHash>,
        f: impl FnOnce(PackLocation, EntryRef<'_>) -> R,
    ) -> Result<R, Error> {
        let (v3, place) = self.v3_place(row, block)?;
        let (_, sources) = self.v3()?;
        if self.fetcher.is_some() {
            // An addition row has no residues to read.
            let residues = place.addition.is_none().then_some(place.residue_block);
            self.fetch_blocks(residues.into_iter().chain([place.header_block]))?;
        }
        V3Blocks::with(|c| {
            c.hold(&v3, self.serial, &place, true)
                .map_err(|e| self.format_err(e))?;
            let e = v3
                .entry_at(&place, &c.residues, &c.headers, sources, expected)
                .map_err(|e| self.row_error(&v3, &place, e))?;
            Ok(f(v3_location(pack, row, &place), e))
        })
    }

    /// The pack's dictionary (v2 packs that have one), checked against its CRC once.
    fn dictionary(&self) -> Result<Option<&PackDictionary>, Error> {
        let d = self.dictionary.get_or_init(|| {
            self.v2()
                .and_then(|v2| PackDictionary::of(&v2).map_err(|e| self.format_err(e)))
                .map_err(|e| e.to_string())
        });
        match d {
            Ok(d) => Ok(d.as_ref()),
            Err(message) => Err(self.corrupt(v2::HEADER_LEN as u64, message.clone())),
        }
    }

    fn v1(&self) -> Result<V1Body<'_>, Error> {
        let body = self.v1_body.get_or_init(|| {
            pack_format::v1::decompress(&self.map, V1_LIMIT).map_err(|e| e.to_string())
        });
        match body {
            Ok(b) => V1Body::parse(b).map_err(|e| self.format_err(e)),
            Err(message) => Err(self.corrupt(0, message.clone())),
        }
    }

    /// Decodes the entry at `location`, checks that it is an entry of `hash` (the whole
    /// hash, or the tag of a v2 pack whose entries carry tags) and hands it to `f`.
    pub fn read_entry<R>(
        &self,
        hash: &SequenceHash,
        location: &PackLocation,
        cache: &mut BlockCache,
        f: impl FnOnce(EntryRef<'_>) -> R,
    ) -> Result<R, Error> {
        match self.version {
            PackVersion::V3 => self.read_v3_row(
                location.pack,
                location.offset,
                Some(location.block),
                Some(hash),
                |_, e| f(e),
            ),
            PackVersion::V1 => {
                let body = self.v1()?;
                let e = body
                    .entry_at(location.offset, location.length)
                    .map_err(|e| self.format_err(e))?;
                if e.hash != *hash {
                    return Err(self.corrupt(
                        location.offset as u64,
                        format!(
                            "the entry at offset {} holds sequence {}, not {hash}",
                            location.offset, e.hash
                        ),
                    ));
                }
                Ok(f(e))
            }
            PackVersion::V2 => {
                let key = (self.serial, location.block);
                if cache.key != Some(key) {
                    cache.key = None;
                    if self.fetcher.is_some() {
                        self.fetch_blocks([location.block])?;
                    }
                    let decoder = decoder_for(&mut cache.decoders, self.serial);
                    self.v2()?
                        .read_block(
                            location.block,
                            decoder,
                            self.dictionary()?,
                            &mut cache.block,
                        )
                        .map_err(|e| self.format_err(e))?;
                    cache.key = Some(key);
                }
                let e = v2::entry_in_block(
                    &cache.block,
                    location.offset,
                    location.length,
                    self.hash_field,
                    hash,
                )
                .map_err(|e| {
                    let at = self.v2().map_or(0, |v2| block_offset(&v2, location));
                    self.format_err(in_block(e, location.block, at))
                })?;
                Ok(f(e))
            }
        }
    }

    /// Decodes every entry in file order, passing its location (with `pack` set to the id
    /// the caller knows the pack by) to `f`; stops at the first error of the pack or of `f`.
    ///
    /// For v2 packs the entries decoded from the blocks must match the footer's entry table
    /// row for row, so that an index rebuilt from the table is right.
    pub fn for_each_entry<E: From<Error>>(
        &self,
        pack: PackId,
        f: impl FnMut(PackLocation, EntryRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_entry_in(pack, 0..self.block_count()?, f)
    }

    /// Blocks of the pack: the units [`for_each_entry_in`](Self::for_each_entry_in) can
    /// split a walk into (a v1 pack is one).
    pub fn block_count(&self) -> Result<u32, Error> {
        match self.version {
            PackVersion::V1 => Ok(1),
            PackVersion::V2 => Ok(self.v2()?.trailer().block_count),
            PackVersion::V3 => Ok(self.v3()?.0.residue_blocks()),
        }
    }

    /// Like [`for_each_entry`](Self::for_each_entry) over the entries of `blocks` only, so
    /// that several threads can walk one pack; the entry table rows of those blocks are
    /// checked as for the whole pack. A v1 pack is block 0.
    pub fn for_each_entry_in<E: From<Error>>(
        &self,
        pack: PackId,
        blocks: std::ops::Range<u32>,
        f: impl FnMut(PackLocation, EntryRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_entry_skipping(pack, blocks, |_| 0, f)
    }

    /// Like [`for_each_entry_in`](Self::for_each_entry_in), for a caller that has read some
    /// entries already: `known(block)` says how many of a v2 block's entries it has, and
    /// a block whose entry table rows are exactly that many is neither decompressed nor
    /// checked, and its entries are not handed to `f`. v1 packs skip nothing.
    pub fn for_each_entry_skipping<E: From<Error>>(
        &self,
        pack: PackId,
        blocks: std::ops::Range<u32>,
        mut known: impl FnMut(u32) -> u32,
        mut f: impl FnMut(PackLocation, EntryRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self.version {
            PackVersion::V3 => self.walk_v3(pack, blocks, &mut f),
            PackVersion::V1 if blocks.start > 0 || blocks.end == 0 => Ok(()),
            PackVersion::V1 => {
                for item in self.v1()?.entries() {
                    let (offset, length, e) = item.map_err(|e| self.format_err(e))?;
                    f(
                        PackLocation {
                            pack,
                            block: 0,
                            offset,
                            length,
                        },
                        e,
                    )?;
                }
                Ok(())
            }
            PackVersion::V2 => {
                let v2 = self.v2()?;
                let dictionary = self.dictionary()?;
                // The thread's walk context, taken for this walk (a nested walk makes its
                // own) and given back at its end: creating one costs about as much as
                // decompressing 20 blocks, and a store walk is hundreds of walks.
                let mut dec = WALK_DECODER.take().unwrap_or_default();
                let mut buf = Vec::new();
                let walked = self.walk_blocks(
                    v2, dictionary, &mut dec, &mut buf, pack, blocks, &mut known, &mut f,
                );
                WALK_DECODER.set(Some(dec));
                walked
            }
        }
    }

    /// The v2 part of [`for_each_entry_skipping`](Self::for_each_entry_skipping), with the
    /// decompression context and block buffer it uses.
    #[allow(clippy::too_many_arguments)]
    fn walk_blocks<E: From<Error>>(
        &self,
        v2: V2Pack<'_>,
        dictionary: Option<&PackDictionary>,
        dec: &mut BlockDecoder,
        buf: &mut Vec<u8>,
        pack: PackId,
        blocks: std::ops::Range<u32>,
        known: &mut impl FnMut(u32) -> u32,
        f: &mut impl FnMut(PackLocation, EntryRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let t = *v2.trailer();
        let end = blocks.end.min(t.block_count);
        if self.fetcher.is_some() {
            self.fetch_blocks(blocks.start..end)?;
        }
        let mut row = self.first_row_of_block(&v2, blocks.start)?;
        let end_row = self.first_row_of_block(&v2, end)?;
        for block in blocks.start..end {
            let have = known(block);
            if let Some(last) = row.checked_add(have).filter(|_| have > 0) {
                // Rows are in block order: rows row..last are this block's, and
                // no more, when the first and last are and the next is not.
                let listed = |r: u32| -> Result<bool, Error> {
                    Ok(r < end_row
                        && v2.entry_info(r).map_err(|e| self.format_err(e))?.block == block)
                };
                if listed(row)? && listed(last - 1)? && !listed(last)? {
                    row += have;
                    continue;
                }
            }
            v2.read_block(block, dec, dictionary, buf)
                .map_err(|e| self.format_err(e))?;
            let info = v2.block_info(block).map_err(|e| self.format_err(e))?;
            let field = v2.hash_field();
            let mut pos = 0usize;
            while pos < buf.len() {
                let listed = if row < end_row {
                    v2.entry_info(row).map_err(|e| self.format_err(e))?
                } else {
                    let message = format!(
                                "block {block} holds an entry at offset {pos} that the entry table does not list"
                            );
                    return Err(self.corrupt(info.offset, message).into());
                };
                // Decoded as an entry of the listed hash: a whole hash or a tag
                // that differs is an error, so the table names what the blocks hold.
                let (e, used) =
                    pack_format::entry::decode_as(&buf[pos..], pos as u64, field, &listed.hash)
                        .map_err(|e| self.format_err(in_block(e, block, info.offset)))?;
                if (listed.block, listed.offset as usize, listed.length as usize)
                    != (block, pos, used)
                {
                    let message = format!(
                                "entry table row {row} does not match the entry at offset {pos} of block {block}"
                            );
                    return Err(self.corrupt(info.offset, message).into());
                }
                f(
                    PackLocation {
                        pack,
                        block,
                        offset: pos as u32,
                        length: used as u32,
                    },
                    e,
                )?;
                pos += used;
                row += 1;
            }
        }
        if row != end_row {
            let message = format!(
                "entry table lists {end_row} entries up to block {end}, the blocks hold {row}"
            );
            return Err(self.corrupt(t.footer_offset, message).into());
        }
        Ok(())
    }

    /// The v3 part of [`for_each_entry_skipping`](Self::for_each_entry_skipping): the rows
    /// whose residues are in `blocks`, each block decompressed once, every row re-hashed.
    fn walk_v3<E: From<Error>>(
        &self,
        pack: PackId,
        blocks: std::ops::Range<u32>,
        f: &mut impl FnMut(PackLocation, EntryRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_footer_once()?;
        let (v3, sources) = self.v3()?;
        let t = *v3.trailer();
        let end = blocks.end.min(t.residue_blocks);
        if t.rows == 0 || blocks.start >= end {
            return Ok(());
        }
        if self.fetcher.is_some() {
            self.fetch_blocks(0..t.residue_blocks + t.header_blocks)?;
        }
        let err = |e| self.format_err(e);
        // The first group holding a row of `blocks.start`: groups are in block order.
        let (mut lo, mut hi) = (0u32, (t.rows - 1) / v3::GROUP);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let first = v3
                .places_from(mid * v3::GROUP)
                .map_err(err)?
                .next_place()
                .map_err(err)?;
            if first.residue_block < blocks.start {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut places = v3.places_from(lo * v3::GROUP).map_err(err)?;
        // Blocks of its own, with the thread's walk context.
        let mut held = V3Blocks {
            decoder: WALK_DECODER.take().unwrap_or_default(),
            ..V3Blocks::default()
        };
        let walked = (|| -> Result<(), E> {
            for row in lo * v3::GROUP..t.rows {
                let place = places.next_place().map_err(err)?;
                if place.residue_block < blocks.start {
                    continue;
                }
                if place.residue_block >= end {
                    break;
                }
                held.hold(&v3, self.serial, &place, true).map_err(err)?;
                let e = v3
                    .entry_at(&place, &held.residues, &held.headers, sources, None)
                    .map_err(|e| self.row_error(&v3, &place, e))?;
                f(v3_location(pack, row, &place), e)?;
            }
            Ok(())
        })();
        WALK_DECODER.set(Some(held.decoder));
        walked
    }

    /// The first entry table row of `block` or a later one (the table lists entries in
    /// block order; `entry_count` for `block_count`).
    fn first_row_of_block(&self, v2: &V2Pack<'_>, block: u32) -> Result<u32, Error> {
        let (mut lo, mut hi) = (0u32, v2.trailer().entry_count);
        if block >= v2.trailer().block_count {
            return Ok(hi);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if v2.entry_info(mid).map_err(|e| self.format_err(e))?.block < block {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Checks the v2 footer and dictionary checksums (v1 packs are covered by the zstd
    /// frame checksum).
    pub fn verify_footer(&self) -> Result<(), Error> {
        match self.version {
            PackVersion::V2 => {
                self.v2()?.verify_footer().map_err(|e| self.format_err(e))?;
                self.dictionary().map(|_| ())
            }
            PackVersion::V3 => self.v3()?.0.verify_footer().map_err(|e| self.format_err(e)),
            PackVersion::V1 => self.v1().map(|_| ()),
        }
    }

    /// Starts loading the compressed bytes of the block `location` names into the CPU's
    /// caches, for a [`read_entry`](Self::read_entry) of it soon after (a hint: v1 packs
    /// and invalid locations are ignored).
    pub fn prefetch(&self, location: &PackLocation) {
        match self.version {
            PackVersion::V2 => {
                if let Ok(pack) = self.v2() {
                    pack.prefetch_block(location.block);
                }
            }
            // A v3 block (16 KiB) is read whole by the decompressor, forwards: the
            // hardware's own prefetching serves it.
            PackVersion::V1 | PackVersion::V3 => {}
        }
    }

    /// Row `entry` of a v2 pack's entry table: the entry's SHA-256 and its place (with
    /// `pack` as the id the caller knows the pack by). An error for a v1 pack or a row out
    /// of range. The table is under the footer CRC, which this does not check: a caller
    /// that finds the row at odds with its index checks it with
    /// [`check_footer_once`](Self::check_footer_once).
    pub fn entry_row(
        &self,
        pack: PackId,
        entry: u32,
    ) -> Result<(SequenceHash, PackLocation), Error> {
        if self.version == PackVersion::V3 {
            // No hash is stored: the row's residues are read and hashed (and the block
            // stays in this thread's cache for the read that usually follows).
            return self.v3_row_hash(pack, entry);
        }
        if self.version != PackVersion::V2 {
            return Err(self.corrupt(
                0,
                format!("entry {entry} asked of a v1 pack, which has no entry table"),
            ));
        }
        let row = self
            .v2()?
            .entry_info(entry)
            .map_err(|e| self.format_err(e))?;
        Ok((
            row.hash,
            PackLocation {
                pack,
                block: row.block,
                offset: row.offset,
                length: row.length,
            },
        ))
    }

    /// Row `entry` of a v2 or v3 pack's table without reading any block: its location and
    /// its key where the pack stores it (a v2 row; a v3 addition row), `None` for a v3 row
    /// with residues, whose key is their hash: a read with the key checks it
    /// ([`read_entry`](Self::read_entry), which says [`pack_format::Error::OtherSequence`]
    /// for another sequence of the same key prefix).
    pub fn entry_place(
        &self,
        pack: PackId,
        entry: u32,
    ) -> Result<(Option<SequenceHash>, PackLocation), Error> {
        if self.version != PackVersion::V3 {
            return self.entry_row(pack, entry).map(|(h, l)| (Some(h), l));
        }
        let (v3, place) = self.v3_place(entry, None)?;
        let hash = match place.addition {
            Some(i) => Some(v3.addition_hash(i).map_err(|e| self.format_err(e))?),
            None => None,
        };
        Ok((hash, v3_location(pack, entry, &place)))
    }

    /// A v3 pack and the place of its row `row`, whose residue block must be `block` if
    /// given (what an index row's location says). The footer is checked first: the
    /// tables place each row's item, and nothing else ties an item to its row, so they
    /// are checked (once, a fraction of a millisecond) before any is trusted.
    fn v3_place(&self, row: u32, block: Option<u32>) -> Result<(V3Pack<'_>, v3::Place), Error> {
        self.check_footer_once()?;
        let (v3, _) = self.v3()?;
        let place = V3Blocks::place(&v3, self.serial, row).map_err(|e| self.format_err(e))?;
        if block.is_some_and(|b| b != place.residue_block) {
            return Err(self.corrupt(
                v3.trailer().footer_offset,
                format!(
                    "row {row} is in block {}, the index says block {}",
                    place.residue_block,
                    block.unwrap_or_default()
                ),
            ));
        }
        Ok((v3, place))
    }

    /// `e`, an error of the v3 row at `place`, placed at its residue block in the file.
    fn row_error(&self, v3: &V3Pack<'_>, place: &v3::Place, e: pack_format::Error) -> Error {
        let offset = v3.block_info(place.residue_block).map_or(0, |b| b.offset);
        self.format_err(in_block(e, place.residue_block, offset))
    }

    /// The key and location of v3 row `row`: an addition row's stored key, or the hash
    /// of the residues, read through this thread's [`V3Blocks`] (the header block is not
    /// read).
    fn v3_row_hash(&self, pack: PackId, row: u32) -> Result<(SequenceHash, PackLocation), Error> {
        self.with_v3_residues(pack, row, None, None, |hash, location, _| (hash, location))
    }

    /// Hands `f` the key, location and residues (`None` for an addition row) of v3 row
    /// `row`, whose residue block must be `block` if given and whose key must be
    /// `expected` if given, reading the residue block only, through this thread's
    /// [`V3Blocks`].
    fn with_v3_residues<R>(
        &self,
        pack: PackId,
        row: u32,
        block: Option<u32>,
        expected: Option<&SequenceHash>,
        f: impl FnOnce(SequenceHash, PackLocation, Option<&[u8]>) -> R,
    ) -> Result<R, Error> {
        let (v3, place) = self.v3_place(row, block)?;
        let location = v3_location(pack, row, &place);
        if place.addition.is_some() {
            let (hash, _) = (v3.residues_at(&place, &[], expected))
                .map_err(|e| self.row_error(&v3, &place, e))?;
            return Ok(f(hash, location, None));
        }
        if self.fetcher.is_some() {
            self.fetch_blocks([place.residue_block])?;
        }
        V3Blocks::with(|c| {
            c.hold(&v3, self.serial, &place, false)
                .map_err(|e| self.format_err(e))?;
            let (hash, residues) = (v3.residues_at(&place, &c.residues, expected))
                .map_err(|e| self.row_error(&v3, &place, e))?;
            Ok(f(hash, location, Some(residues)))
        })
    }

    /// The residues of the entry at `location`, checked to be an entry of `hash` as
    /// [`read_entry`](Self::read_entry) checks, handed to `f` (`None`: an addition entry,
    /// which has none). A v3 pack reads the row's residue block only, not its header block.
    pub fn read_residues<R>(
        &self,
        hash: &SequenceHash,
        location: &PackLocation,
        cache: &mut BlockCache,
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, Error> {
        if self.version != PackVersion::V3 {
            return self.read_entry(hash, location, cache, |e| {
                f(e.has_sequence().then_some(e.sequence))
            });
        }
        self.with_v3_residues(
            location.pack,
            location.offset,
            Some(location.block),
            Some(hash),
            |_, _, residues| f(residues),
        )
    }

    /// Checks the v2 footer CRC (block and entry tables, trailer) once for this reader and
    /// returns the outcome of that check on later calls.
    pub fn check_footer_once(&self) -> Result<(), Error> {
        let checked = self.footer_checked.get_or_init(|| match self.version {
            PackVersion::V2 => self
                .v2()
                .and_then(|v2| v2.verify_footer().map_err(|e| self.format_err(e)))
                .map_err(|e| e.to_string()),
            PackVersion::V3 => self
                .v3()
                .and_then(|(v3, _)| v3.verify_footer().map_err(|e| self.format_err(e)))
                .map_err(|e| e.to_string()),
            PackVersion::V1 => Ok(()),
        });
        match checked {
            Ok(()) => Ok(()),
            Err(message) => Err(self.corrupt(0, message.clone())),
        }
    }

    /// The entry table of a v2 pack (hash and place of every entry, without decompressing),
    /// or `None` for v1.
    pub fn entry_table(&self, pack: PackId) -> Result<Option<Vec<pack_index::IndexEntry>>, Error> {
        let Some(count) = self.entry_count()? else {
            return Ok(None);
        };
        if self.version == PackVersion::V3 {
            let mut rows = Vec::with_capacity(count as usize);
            self.for_each_entry(pack, |location, e| {
                rows.push(pack_index::IndexEntry {
                    hash: e.hash,
                    location,
                });
                Ok::<(), Error>(())
            })?;
            return Ok(Some(rows));
        }
        (0..count)
            .map(|i| {
                let (hash, location) = self.entry_row(pack, i)?;
                Ok(pack_index::IndexEntry { hash, location })
            })
            .collect::<Result<Vec<_>, Error>>()
            .map(Some)
    }

    /// File offset of block `block` (v2), or `None` for v1 or a block out of range.
    pub fn block_file_offset(&self, block: u32) -> Option<u64> {
        match self.version {
            PackVersion::V2 | PackVersion::V3 => self.block_info(block).ok().map(|b| b.offset),
            PackVersion::V1 => None,
        }
    }

    /// Whether entries are compressed with a per-pack dictionary (v2).
    pub fn has_dictionary(&self) -> bool {
        self.v2().is_ok_and(|v| v.dictionary().is_some())
    }

    /// Rows of a v2 pack's entry table (every entry), or `None` for v1.
    pub fn entry_count(&self) -> Result<Option<u32>, Error> {
        match self.version {
            PackVersion::V2 => Ok(Some(self.v2()?.trailer().entry_count)),
            PackVersion::V3 => Ok(Some(self.v3()?.0.trailer().rows)),
            PackVersion::V1 => Ok(None),
        }
    }

    /// The counts of a v2 trailer, or `None` for v1.
    pub fn trailer_counts(&self) -> Result<Option<v2::PackCounts>, Error> {
        match self.version {
            PackVersion::V2 => Ok(Some(self.v2()?.trailer().counts)),
            PackVersion::V3 => Ok(Some(self.v3()?.0.counts())),
            PackVersion::V1 => Ok(None),
        }
    }
}

/// The location of v3 row `row` at `place`: its residue block, the row number as the
/// offset, and its residue and item bytes as the length.
fn v3_location(pack: PackId, row: u32, place: &v3::Place) -> PackLocation {
    PackLocation {
        pack,
        block: place.residue_block,
        offset: row,
        length: place.residue_len.saturating_add(place.header_len),
    }
}

/// File offset of `location`'s block, for errors (0 if the table row is unreadable).
fn block_offset(v2: &V2Pack<'_>, location: &PackLocation) -> u64 {
    v2.block_info(location.block).map_or(0, |b| b.offset)
}

fn in_block(e: pack_format::Error, block: u32, block_offset: u64) -> pack_format::Error {
    match e {
        pack_format::Error::Corrupt { offset, message } => pack_format::Error::Corrupt {
            offset: block_offset,
            message: format!("block {block}, byte {offset} of the block: {message}"),
        },
        other => other,
    }
}
