//! The entry codec shared by v1 and v2 packs: one sequence (or more representations of
//! one already stored) with its representations.
//!
//! ```text
//! [u32 LE header length]
//! [MessagePack map {"hash": bin 32, "sequence_length": uint, "representations_length": uint}]
//! [sequence: MessagePack bin of the residues, sequence_length bytes; absent when 0]
//! [representations: MessagePack array of [header str, source str], representations_length bytes]
//! ```
//!
//! The "hash" field holds the whole SHA-256 ([`HashField::Full`]: v1 packs, older v2
//! packs) or its first [`TAG_LEN`] bytes ([`HashField::Tag`]: v2 packs whose entry table
//! holds the whole hash, so the blocks need not repeat it).

use crate::error::Error;
use crate::hash::SequenceHash;
use crate::msgpack::{self, Reader};

/// One source record of a sequence: its FASTA header and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Representation {
    /// The FASTA header without the leading `>`: identifier and description.
    pub header: String,
    /// The source database or file name the record was imported from.
    pub source: String,
}

impl Representation {
    /// A representation from a header and a source name.
    pub fn new(header: impl Into<String>, source: impl Into<String>) -> Self {
        Representation {
            header: header.into(),
            source: source.into(),
        }
    }
}

/// Bytes of the hash kept in an entry header written with [`HashField::Tag`].
pub const TAG_LEN: usize = 4;

/// What an entry header's "hash" field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashField {
    /// The whole SHA-256, 32 bytes: v1 packs and v2 packs without the tag flag.
    Full,
    /// The first [`TAG_LEN`] bytes of the SHA-256: v2 packs with the tag flag, whose entry
    /// table holds the whole hash. A reader that knows which hash it looks for checks the
    /// tag against it.
    Tag,
}

/// The fixed names of the entry header's map keys.
const KEY_HASH: &str = "hash";
const KEY_SEQUENCE_LENGTH: &str = "sequence_length";
const KEY_REPRESENTATIONS_LENGTH: &str = "representations_length";

/// Appends one encoded entry to `out` and returns its length in bytes.
///
/// `residues` empty means an addition entry: more records of a sequence stored
/// in an earlier entry.
///
/// # Examples
/// ```
/// use pack_format::{entry, Representation, SequenceHash};
/// let reps = [Representation::new("sp|P69905|HBA_HUMAN", "uniprot")];
/// let hash = SequenceHash::of_residues(b"MVLS");
/// let mut buf = Vec::new();
/// let len = entry::encode(&mut buf, &hash, b"MVLS", &reps).unwrap();
/// let (decoded, used) = entry::decode(&buf, 0).unwrap();
/// assert_eq!(used, len);
/// assert_eq!(decoded.sequence, b"MVLS");
/// assert_eq!(decoded.representations().unwrap(), reps);
/// ```
pub fn encode(
    out: &mut Vec<u8>,
    hash: &SequenceHash,
    residues: &[u8],
    representations: &[Representation],
) -> Result<usize, Error> {
    encode_as(out, HashField::Full, hash, residues, representations)
}

/// Like [`encode`], with the hash field written as `field` says.
///
/// # Examples
/// ```
/// use pack_format::entry::{self, HashField};
/// use pack_format::{Representation, SequenceHash};
/// let hash = SequenceHash::of_residues(b"MVLS");
/// let mut full = Vec::new();
/// let mut tagged = Vec::new();
/// entry::encode_as(&mut full, HashField::Full, &hash, b"MVLS", &[]).unwrap();
/// entry::encode_as(&mut tagged, HashField::Tag, &hash, b"MVLS", &[]).unwrap();
/// assert_eq!(full.len() - tagged.len(), 32 - entry::TAG_LEN);
/// let (e, _) = entry::decode_as(&tagged, 0, HashField::Tag, &hash).unwrap();
/// assert_eq!(e.hash, hash);
/// assert!(entry::decode_as(&tagged, 0, HashField::Tag, &SequenceHash::of_residues(b"MK")).is_err());
/// ```
pub fn encode_as(
    out: &mut Vec<u8>,
    field: HashField,
    hash: &SequenceHash,
    residues: &[u8],
    representations: &[Representation],
) -> Result<usize, Error> {
    let start = out.len();
    // The representations' encoded length, known before they are written.
    let count = checked_u32(representations.len(), "representations")?;
    let str_len = |s: &str| msgpack::str_marker_len(s.len()) + s.len();
    let reps_len = msgpack::array_marker_len(count)
        + representations
            .iter()
            .map(|r| 1 + str_len(&r.header) + str_len(&r.source))
            .sum::<usize>();
    let sequence_length = if residues.is_empty() {
        0
    } else {
        residues.len() + msgpack::bin_marker_len(residues.len())
    };
    checked_u32(sequence_length, "sequence")?;
    checked_u32(reps_len, "representations")?;

    out.extend_from_slice(&[0; 4]);
    let header_start = out.len();
    msgpack::write_map_len(out, 3);
    msgpack::write_str(out, KEY_HASH);
    match field {
        HashField::Full => msgpack::write_bin(out, hash.as_bytes()),
        HashField::Tag => msgpack::write_bin(out, &hash.as_bytes()[..TAG_LEN]),
    }
    msgpack::write_str(out, KEY_SEQUENCE_LENGTH);
    msgpack::write_uint(out, sequence_length as u64);
    msgpack::write_str(out, KEY_REPRESENTATIONS_LENGTH);
    msgpack::write_uint(out, reps_len as u64);
    let header_len = (out.len() - header_start) as u32;
    out[start..start + 4].copy_from_slice(&header_len.to_le_bytes());
    if !residues.is_empty() {
        msgpack::write_bin(out, residues);
    }
    let reps_start = out.len();
    msgpack::write_array_len(out, count);
    for r in representations {
        msgpack::write_array_len(out, 2);
        msgpack::write_str(out, &r.header);
        msgpack::write_str(out, &r.source);
    }
    assert_eq!(
        out.len() - reps_start,
        reps_len,
        "array_marker_len and str_marker_len give the lengths write_array_len and \
         write_str write"
    );
    let len = out.len() - start;
    checked_u32(len, "entry")?;
    Ok(len)
}

fn checked_u32(n: usize, what: &str) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::TooLarge(format!("{what} of {n} bytes exceeds 4 GiB")))
}

/// A decoded entry borrowing from the bytes it was read from: an entry of a v1 or v2
/// pack, or a sequence row of a v3 pack (residues and representations from two streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The sequence's key as stored.
    pub hash: SequenceHash,
    /// The residues; empty for an addition entry.
    pub sequence: &'a [u8],
    /// The encoded representations, decoded by [`EntryRef::representations`].
    representations: Encoded<'a>,
}

/// How an entry's representations are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoded<'a> {
    /// A MessagePack array of `[header, source]` (v1, v2), at `offset` of its unit.
    MessagePack { bytes: &'a [u8], offset: u64 },
    /// A v3 header-stream item (see [`crate::v3`]): sources by their index in `sources`.
    Item {
        bytes: &'a [u8],
        sources: &'a [String],
        offset: u64,
    },
}

impl<'a> EntryRef<'a> {
    /// A v3 sequence row: `residues` and its header-stream `item` (at `offset` of its
    /// block, for errors), whose source numbers index `sources`, the pack's source table.
    /// The item is decoded (and checked) by [`representations`](Self::representations).
    pub fn from_item(
        hash: SequenceHash,
        residues: &'a [u8],
        item: &'a [u8],
        sources: &'a [String],
        offset: u64,
    ) -> Self {
        EntryRef {
            hash,
            sequence: residues,
            representations: Encoded::Item {
                bytes: item,
                sources,
                offset,
            },
        }
    }

    /// Whether this entry carries residues (otherwise it is an addition entry: it adds representations).
    pub fn has_sequence(&self) -> bool {
        !self.sequence.is_empty()
    }

    /// Decodes the representations.
    pub fn representations(&self) -> Result<Vec<Representation>, Error> {
        let mut out = Vec::new();
        self.for_each_representation(|header, source| {
            out.push(Representation::new(header, source));
        })?;
        Ok(out)
    }

    /// Calls `f(header, source)` for each representation without allocating.
    pub fn for_each_representation(
        &self,
        mut f: impl FnMut(&'a str, &'a str),
    ) -> Result<(), Error> {
        let (bytes, offset) = match self.representations {
            Encoded::MessagePack { bytes, offset } => (bytes, offset),
            Encoded::Item {
                bytes,
                sources,
                offset,
            } => return crate::v3::decode_item(bytes, sources, offset, f),
        };
        let mut r = Reader::new(bytes, offset);
        let n = r.read_array_len("representations")?;
        for _ in 0..n {
            let fields = r.read_array_len("representation")?;
            if fields != 2 {
                return Err(Error::Corrupt {
                    offset: offset + r.position() as u64,
                    message: format!("a representation has {fields} fields, expected 2"),
                });
            }
            let header = r.read_str("representation header")?;
            let source = r.read_str("representation source")?;
            f(header, source);
        }
        if !r.is_empty() {
            return Err(Error::Corrupt {
                offset: offset + r.position() as u64,
                message: "bytes left after the representations".into(),
            });
        }
        Ok(())
    }
}

/// Decodes the entry at the start of `bytes`; `base` is the offset of `bytes[0]` in the
/// enclosing unit, used in errors. Returns the entry and its length.
pub fn decode(bytes: &[u8], base: u64) -> Result<(EntryRef<'_>, usize), Error> {
    decode_inner(bytes, base, None)
}

/// Decodes the entry at the start of `bytes`, whose hash field is written as `field`
/// says, and checks that it is an entry of `expected` (the whole hash, or the tag):
/// a mismatch is [`Error::Corrupt`]. The returned entry's hash is `expected`.
pub fn decode_as<'a>(
    bytes: &'a [u8],
    base: u64,
    field: HashField,
    expected: &SequenceHash,
) -> Result<(EntryRef<'a>, usize), Error> {
    decode_inner(bytes, base, Some((field, expected)))
}

fn decode_inner<'a>(
    bytes: &'a [u8],
    base: u64,
    expect: Option<(HashField, &SequenceHash)>,
) -> Result<(EntryRef<'a>, usize), Error> {
    let prefix = bytes.get(..4).ok_or(Error::Truncated {
        what: "entry header length",
        offset: base,
    })?;
    let header_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let header = bytes
        .get(4..)
        .and_then(|b| b.get(..header_len))
        .ok_or(Error::Truncated {
            what: "entry header",
            offset: base,
        })?;
    let mut r = Reader::new(header, base + 4);
    let fields = r.read_map_len("entry header")?;
    if fields != 3 {
        return Err(Error::Corrupt {
            offset: base + 4,
            message: format!("entry header has {fields} fields, expected 3"),
        });
    }
    let expect_key = |r: &mut Reader<'_>, key: &'static str| -> Result<(), Error> {
        // The form the writer uses, compared as bytes; any other form is read and checked.
        if r.skip_fixstr(key) {
            return Ok(());
        }
        let at = base + 4 + r.position() as u64;
        let found = r.read_str("entry header key")?;
        if found != key {
            return Err(Error::Corrupt {
                offset: at,
                message: format!("entry header key {found:?} where {key:?} belongs"),
            });
        }
        Ok(())
    };
    expect_key(&mut r, KEY_HASH)?;
    let hash_at = base + 4 + r.position() as u64;
    let hash_bytes = r.read_bin("entry hash")?;
    let want_len = match expect {
        Some((HashField::Tag, _)) => TAG_LEN,
        _ => 32,
    };
    if hash_bytes.len() != want_len {
        return Err(Error::Corrupt {
            offset: hash_at,
            message: format!("hash has {} bytes, expected {want_len}", hash_bytes.len()),
        });
    }
    let hash = match expect {
        None => SequenceHash(hash_bytes.try_into().expect("length checked: 32 bytes")),
        Some((_, expected)) if expected.as_bytes()[..want_len] == *hash_bytes => *expected,
        Some((_, expected)) => {
            return Err(Error::Corrupt {
                offset: hash_at,
                message: format!(
                    "the entry is not one of sequence {expected} (its hash field is {})",
                    crate::hash::to_hex(hash_bytes)
                ),
            })
        }
    };
    expect_key(&mut r, KEY_SEQUENCE_LENGTH)?;
    let sequence_length = r.read_uint("sequence_length")?;
    expect_key(&mut r, KEY_REPRESENTATIONS_LENGTH)?;
    let representations_length = r.read_uint("representations_length")?;
    if !r.is_empty() {
        return Err(Error::Corrupt {
            offset: base + 4 + r.position() as u64,
            message: "bytes left after the entry header".into(),
        });
    }
    let body_start = 4 + header_len;
    let total = (body_start as u64)
        .checked_add(sequence_length)
        .and_then(|t| t.checked_add(representations_length))
        .filter(|&t| t <= bytes.len() as u64)
        .ok_or(Error::Truncated {
            what: "entry body",
            offset: base + body_start as u64,
        })? as usize;
    let seq_end = body_start + sequence_length as usize;
    let sequence = if sequence_length == 0 {
        &[][..]
    } else {
        let mut s = Reader::new(&bytes[body_start..seq_end], base + body_start as u64);
        let residues = s.read_bin("sequence")?;
        if !s.is_empty() || residues.is_empty() {
            return Err(Error::Corrupt {
                offset: base + body_start as u64,
                message: "sequence data does not match sequence_length".into(),
            });
        }
        residues
    };
    Ok((
        EntryRef {
            hash,
            sequence,
            representations: Encoded::MessagePack {
                bytes: &bytes[seq_end..total],
                offset: base + seq_end as u64,
            },
        },
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_rep() -> impl Strategy<Value = Representation> {
        (".{0,300}", "[a-z_.]{0,40}").prop_map(|(h, s)| Representation::new(h, s))
    }

    proptest! {
        #[test]
        fn entries_round_trip(
            residues in proptest::collection::vec(any::<u8>(), 0..70_000),
            reps in proptest::collection::vec(arb_rep(), 0..20),
            prefix in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let hash = SequenceHash::of_residues(&residues);
            let mut buf = prefix.clone();
            let len = encode(&mut buf, &hash, &residues, &reps).unwrap();
            prop_assert_eq!(buf.len(), prefix.len() + len);
            let (e, used) = decode(&buf[prefix.len()..], 0).unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(e.hash, hash);
            prop_assert_eq!(e.sequence, &residues[..]);
            prop_assert_eq!(e.representations().unwrap(), reps);
        }

        #[test]
        fn tagged_entries_round_trip_and_name_their_sequence(
            residues in proptest::collection::vec(any::<u8>(), 0..5_000),
            reps in proptest::collection::vec(arb_rep(), 0..8),
            other in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let hash = SequenceHash::of_residues(&residues);
            let mut full = Vec::new();
            let mut tagged = Vec::new();
            encode_as(&mut full, HashField::Full, &hash, &residues, &reps).unwrap();
            let len = encode_as(&mut tagged, HashField::Tag, &hash, &residues, &reps).unwrap();
            prop_assert_eq!(full.len() - tagged.len(), 32 - TAG_LEN);
            let (e, used) = decode_as(&tagged, 0, HashField::Tag, &hash).unwrap();
            prop_assert_eq!(used, len);
            prop_assert_eq!(e.hash, hash);
            prop_assert_eq!(e.sequence, &residues[..]);
            prop_assert_eq!(e.representations().unwrap(), reps);
            // The whole form read as whole, with or without an expected hash.
            prop_assert_eq!(decode_as(&full, 0, HashField::Full, &hash).unwrap().0.hash, hash);
            // The wrong sequence, or the wrong form, is an error.
            let wrong = SequenceHash::of_residues(&other);
            if wrong.as_bytes()[..TAG_LEN] != hash.as_bytes()[..TAG_LEN] {
                prop_assert!(decode_as(&tagged, 0, HashField::Tag, &wrong).is_err());
            }
            if wrong != hash {
                prop_assert!(decode_as(&full, 0, HashField::Full, &wrong).is_err());
            }
            prop_assert!(decode(&tagged, 0).is_err());
            prop_assert!(decode_as(&full, 0, HashField::Tag, &hash).is_err());
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok((e, used)) = decode(&bytes, 0) {
                prop_assert!(used <= bytes.len());
                let _ = e.representations();
            }
        }

        #[test]
        fn every_truncation_is_an_error(cut in 0usize..100) {
            let hash = SequenceHash::of_residues(b"MKVLA");
            let mut buf = Vec::new();
            encode(&mut buf, &hash, b"MKVLA", &[Representation::new("id desc", "src")]).unwrap();
            let cut = cut % buf.len();
            prop_assert!(decode(&buf[..cut], 0).is_err());
        }
    }

    #[test]
    fn representations_only_entry_has_no_sequence() {
        let hash = SequenceHash::of_residues(b"MK");
        let mut buf = Vec::new();
        encode(&mut buf, &hash, b"", &[Representation::new("x", "y")]).unwrap();
        let (e, _) = decode(&buf, 0).unwrap();
        assert!(!e.has_sequence());
        assert_eq!(e.hash, hash);
    }

    #[test]
    fn headers_that_are_not_utf8_are_errors_and_unicode_ones_read_back() {
        let hash = SequenceHash::of_residues(b"MK");
        let reps = [
            Representation::new("sp|X|Y protéine α", "src"),
            Representation::new("plain", "src"),
        ];
        let mut buf = Vec::new();
        encode(&mut buf, &hash, b"MK", &reps).unwrap();
        assert_eq!(decode(&buf, 0).unwrap().0.representations().unwrap(), reps);
        for target in [&b"plain"[..], "é".as_bytes()] {
            let at = buf.windows(target.len()).position(|w| w == target).unwrap();
            let mut bad = buf.clone();
            bad[at] = 0xff;
            let err = decode(&bad, 0).unwrap().0.representations().unwrap_err();
            assert!(err.to_string().contains("not UTF-8"), "{err}");
        }
    }

    #[test]
    fn longer_messagepack_forms_and_wrong_keys_in_the_header() {
        // The writer's shortest forms are read through a byte comparison; any other form
        // the format allows must still read, and a wrong key must still be an error.
        let hash = SequenceHash::of_residues(b"MK");
        let reps = [Representation::new("a", "b")];
        let mut buf = Vec::new();
        encode(&mut buf, &hash, b"MK", &reps).unwrap();
        let header_len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
        let body = buf[4 + header_len..].to_vec();
        let mut long = vec![0xde, 0, 3, 0xd9, 4];
        long.extend_from_slice(b"hash");
        long.extend_from_slice(&[0xc5, 0, 32]);
        long.extend_from_slice(hash.as_bytes());
        long.extend_from_slice(&[0xd9, 15]);
        long.extend_from_slice(b"sequence_length");
        long.extend_from_slice(&[0xcd, 0, 4, 0xda, 0, 22]);
        long.extend_from_slice(b"representations_length");
        long.extend_from_slice(&[0xce, 0, 0, 0, 6]);
        let mut entry = (long.len() as u32).to_le_bytes().to_vec();
        entry.extend_from_slice(&long);
        entry.extend_from_slice(&body);
        let (e, used) = decode(&entry, 0).unwrap();
        assert_eq!(used, entry.len());
        assert_eq!((e.hash, e.sequence), (hash, &b"MK"[..]));
        assert_eq!(e.representations().unwrap(), reps);

        for (from, to) in [
            (&b"hash"[..], &b"hasx"[..]),
            (b"sequence_length", b"sequence_lengtX"),
        ] {
            let at = buf.windows(from.len()).position(|w| w == from).unwrap();
            let mut bad = buf.clone();
            bad[at..at + to.len()].copy_from_slice(to);
            let err = decode(&bad, 0).unwrap_err().to_string();
            assert!(err.contains(std::str::from_utf8(to).unwrap()), "{err}");
        }
    }

    #[test]
    fn header_is_plain_messagepack() {
        // Another MessagePack implementation reads the header we write.
        let hash = SequenceHash::of_residues(b"MK");
        let mut buf = Vec::new();
        encode(&mut buf, &hash, b"MK", &[Representation::new("a", "b")]).unwrap();
        let header_len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
        let header = &buf[4..4 + header_len];
        let mut expected = vec![0x83, 0xa4];
        expected.extend_from_slice(b"hash");
        expected.extend_from_slice(&[0xc4, 32]);
        expected.extend_from_slice(hash.as_bytes());
        expected.push(0xaf);
        expected.extend_from_slice(b"sequence_length");
        expected.push(4); // bin8 marker + length byte + 2 residues
        expected.push(0xb6);
        expected.extend_from_slice(b"representations_length");
        expected.push(6); // fixarray(1) fixarray(2) fixstr(1) "a" fixstr(1) "b"
        assert_eq!(header, &expected[..]);

        let mut tagged = Vec::new();
        encode_as(
            &mut tagged,
            HashField::Tag,
            &hash,
            b"MK",
            &[Representation::new("a", "b")],
        )
        .unwrap();
        let header_len = u32::from_le_bytes(tagged[..4].try_into().unwrap()) as usize;
        let mut expected_tagged = vec![0x83, 0xa4];
        expected_tagged.extend_from_slice(b"hash");
        expected_tagged.extend_from_slice(&[0xc4, TAG_LEN as u8]);
        expected_tagged.extend_from_slice(&hash.as_bytes()[..TAG_LEN]);
        expected_tagged.extend_from_slice(&expected[2 + 4 + 2 + 32..]);
        assert_eq!(&tagged[4..4 + header_len], &expected_tagged[..]);
    }
}
