//! The v1 (seed) pack layout: one Zstandard frame over the whole pack.
//!
//! ```text
//! zstd( "PKSQ" | version u8 = 1 | pack id u32 LE | entry* | entry count u32 LE )
//! ```
//! Reading one entry needs the whole pack decompressed; v1 stays for compatibility.

use std::io::{Read, Write};

use crate::entry::{self, EntryRef};
use crate::error::Error;
use crate::hash::SequenceHash;
use crate::{PackId, Representation, MAGIC};

/// Bytes before the first entry of a decompressed v1 pack.
pub const HEADER_LEN: usize = 9;
/// Zstandard level of the whole-file frame unless asked otherwise: the seed format's.
pub const DEFAULT_LEVEL: i32 = 3;

/// Builds a v1 pack in memory; [`V1PackEncoder::finish`] compresses it.
///
/// # Examples
/// ```
/// use pack_format::{v1, Representation, SequenceHash};
/// let mut enc = v1::V1PackEncoder::new(7);
/// let h = SequenceHash::of_residues(b"MKV");
/// let (offset, len) = enc.push(&h, b"MKV", &[Representation::new("id", "src")]).unwrap();
/// let mut file = Vec::new();
/// enc.finish(&mut file, 3).unwrap();
/// let body = v1::decompress(&file, 1 << 30).unwrap();
/// let pack = v1::V1Body::parse(&body).unwrap();
/// assert_eq!(pack.pack_id(), 7);
/// assert_eq!(pack.entry_at(offset, len).unwrap().sequence, b"MKV");
/// ```
pub struct V1PackEncoder {
    body: Vec<u8>,
    count: u32,
}

impl V1PackEncoder {
    /// Starts a pack with the given id.
    pub fn new(pack_id: PackId) -> Self {
        let mut body = Vec::with_capacity(1 << 20);
        body.extend_from_slice(MAGIC);
        body.push(1);
        body.extend_from_slice(&pack_id.to_le_bytes());
        V1PackEncoder { body, count: 0 }
    }

    /// Appends an entry; returns its offset in the decompressed pack and its length.
    pub fn push(
        &mut self,
        hash: &SequenceHash,
        residues: &[u8],
        representations: &[Representation],
    ) -> Result<(u32, u32), Error> {
        let offset = self.body.len();
        let len = entry::encode(&mut self.body, hash, residues, representations)?;
        if self.body.len() > u32::MAX as usize - 4 {
            self.body.truncate(offset);
            return Err(Error::TooLarge("a v1 pack over 4 GiB".into()));
        }
        self.count += 1;
        Ok((offset as u32, len as u32))
    }

    /// Uncompressed bytes so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether no entry was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Writes the footer and the compressed pack to `out`, with a frame checksum.
    pub fn finish<W: Write>(mut self, out: W, level: i32) -> Result<W, Error> {
        self.body.extend_from_slice(&self.count.to_le_bytes());
        let mut enc = zstd::stream::write::Encoder::new(out, level)?;
        enc.include_checksum(true)?;
        enc.set_pledged_src_size(Some(self.body.len() as u64))?;
        enc.write_all(&self.body)?;
        Ok(enc.finish()?)
    }
}

/// Decompresses a v1 pack file, refusing to produce more than `limit` bytes.
pub fn decompress(file: &[u8], limit: u64) -> Result<Vec<u8>, Error> {
    let dec = zstd::stream::read::Decoder::with_buffer(file)
        .map_err(|source| Error::Decompress { offset: 0, source })?;
    let mut out = Vec::new();
    dec.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| Error::Decompress { offset: 0, source })?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge(format!(
            "v1 pack decompresses to more than {limit} bytes"
        )));
    }
    Ok(out)
}

/// A decompressed v1 pack whose header and footer were checked.
#[derive(Debug, Clone, Copy)]
pub struct V1Body<'a> {
    bytes: &'a [u8],
    pack_id: PackId,
    entry_count: u32,
}

impl<'a> V1Body<'a> {
    /// Checks the header and reads the footer; entries are decoded on demand.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < HEADER_LEN + 4 {
            return Err(Error::Truncated {
                what: "v1 pack header and footer",
                offset: 0,
            });
        }
        if &bytes[..4] != MAGIC {
            return Err(Error::NotAPack {
                message: "decompressed v1 pack does not start with PKSQ".into(),
            });
        }
        if bytes[4] != 1 {
            return Err(Error::UnsupportedVersion { version: bytes[4] });
        }
        let pack_id = u32::from_le_bytes(bytes[5..9].try_into().expect("slice of 4 bytes"));
        let n = bytes.len();
        let entry_count = u32::from_le_bytes(bytes[n - 4..].try_into().expect("slice of 4 bytes"));
        Ok(V1Body {
            bytes,
            pack_id,
            entry_count,
        })
    }

    /// The pack id of the header.
    pub fn pack_id(&self) -> PackId {
        self.pack_id
    }

    /// The entry count of the footer.
    pub fn entry_count(&self) -> u32 {
        self.entry_count
    }

    /// The entry at `offset`, which must be exactly `length` bytes long.
    pub fn entry_at(&self, offset: u32, length: u32) -> Result<EntryRef<'a>, Error> {
        let end = self.bytes.len() - 4;
        let (start, stop) = (offset as usize, offset as usize + length as usize);
        if start < HEADER_LEN || stop > end {
            return Err(Error::Corrupt {
                offset: offset as u64,
                message: format!("entry of {length} bytes at {offset} lies outside the pack"),
            });
        }
        let (e, used) = entry::decode(&self.bytes[start..stop], offset as u64)?;
        if used != length as usize {
            return Err(Error::Corrupt {
                offset: offset as u64,
                message: format!("entry is {used} bytes, the index says {length}"),
            });
        }
        Ok(e)
    }

    /// Every entry in order with its offset and length; checks the footer count at the end.
    pub fn entries(&self) -> V1Entries<'a> {
        V1Entries {
            body: *self,
            pos: HEADER_LEN,
            seen: 0,
            done: false,
        }
    }
}

/// Iterator over the entries of a v1 pack.
pub struct V1Entries<'a> {
    body: V1Body<'a>,
    pos: usize,
    seen: u32,
    done: bool,
}

impl<'a> Iterator for V1Entries<'a> {
    type Item = Result<(u32, u32, EntryRef<'a>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let end = self.body.bytes.len() - 4;
        if self.pos >= end {
            self.done = true;
            if self.pos == end && self.seen == self.body.entry_count {
                return None;
            }
            return Some(Err(Error::Corrupt {
                offset: end as u64,
                message: format!(
                    "footer counts {} entries, the pack holds {}",
                    self.body.entry_count, self.seen
                ),
            }));
        }
        match entry::decode(&self.body.bytes[self.pos..end], self.pos as u64) {
            Ok((e, used)) => {
                let at = self.pos as u32;
                self.pos += used;
                self.seen += 1;
                Some(Ok((at, used as u32, e)))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn v1_packs_round_trip(seqs in proptest::collection::vec(("[A-Z]{1,200}", ".{0,40}"), 0..30), id in any::<u32>()) {
            let mut enc = V1PackEncoder::new(id);
            let mut locs = Vec::new();
            for (s, h) in &seqs {
                let hash = SequenceHash::of_residues(s.as_bytes());
                locs.push(enc.push(&hash, s.as_bytes(), &[Representation::new(h.clone(), "t")]).unwrap());
            }
            let file = enc.finish(Vec::new(), 3).unwrap();
            let body = decompress(&file, 1 << 30).unwrap();
            let pack = V1Body::parse(&body).unwrap();
            prop_assert_eq!(pack.pack_id(), id);
            let all: Vec<_> = pack.entries().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(all.len(), seqs.len());
            for ((s, _), ((off, len), (o2, l2, e))) in seqs.iter().zip(locs.iter().zip(all)) {
                prop_assert_eq!((*off, *len), (o2, l2));
                prop_assert_eq!(e.sequence, s.as_bytes());
            }
        }

        #[test]
        fn v1_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(pack) = V1Body::parse(&bytes) {
                for e in pack.entries() { if e.is_err() { break; } }
                let _ = pack.entry_at(9, 20);
            }
            let _ = decompress(&bytes, 1 << 20);
        }
    }

    #[test]
    fn a_wrong_footer_count_is_reported() {
        let mut enc = V1PackEncoder::new(1);
        enc.push(&SequenceHash::of_residues(b"A"), b"A", &[])
            .unwrap();
        let file = enc.finish(Vec::new(), 3).unwrap();
        let mut body = decompress(&file, 1 << 20).unwrap();
        let n = body.len();
        body[n - 4] = 2;
        let pack = V1Body::parse(&body).unwrap();
        assert!(pack.entries().any(|e| e.is_err()));
    }
}
