//! The MessagePack that entries use (maps, strings, binaries, unsigned integers, arrays),
//! written by the `rmp` crate's encoders and read with its [`Marker`]s, with two things of
//! our own: the length of each marker the encoders choose (so that an entry's size is known
//! before it is written), and a [`Reader`] over a slice that reports every error with its
//! byte offset in the pack and never panics or allocates on any input.

use rmp::Marker;

use crate::error::Error;

/// Writing into a `Vec` cannot fail: the only error `rmp` reports is the writer's.
const VEC_WRITE: &str = "writing MessagePack into a Vec does not fail";

pub(crate) fn write_map_len(out: &mut Vec<u8>, n: u32) {
    rmp::encode::write_map_len(out, n).expect(VEC_WRITE);
}

pub(crate) fn write_array_len(out: &mut Vec<u8>, n: u32) {
    rmp::encode::write_array_len(out, n).expect(VEC_WRITE);
}

/// A string in its shortest form (`rmp` picks fixstr, str8, str16 or str32 by length).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(out, s).expect(VEC_WRITE);
}

pub(crate) fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    rmp::encode::write_bin(out, b).expect(VEC_WRITE);
}

pub(crate) fn write_uint(out: &mut Vec<u8>, v: u64) {
    rmp::encode::write_uint(out, v).expect(VEC_WRITE);
}

/// Length of the marker that [`write_array_len`] writes for `n` elements.
pub(crate) fn array_marker_len(n: u32) -> usize {
    match n {
        0..16 => 1,
        16..=0xffff => 3,
        _ => 5,
    }
}

/// Length of the marker that [`write_str`] puts before a string of `n` bytes.
pub(crate) fn str_marker_len(n: usize) -> usize {
    match n {
        0..32 => 1,
        32..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 5,
    }
}

/// Length of the `bin` marker that [`write_bin`] puts before `n` bytes.
pub(crate) fn bin_marker_len(n: usize) -> usize {
    if n <= u8::MAX as usize {
        2
    } else if n <= u16::MAX as usize {
        3
    } else {
        5
    }
}

/// A cursor over MessagePack bytes that reports offsets relative to `base`. Markers are
/// `rmp`'s [`Marker`]; lengths and values are read straight from the slice, so that an
/// error knows its offset and decoding needs no reader state beyond the position.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: u64) -> Self {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The error of a marker that is not of the `expected` kind (reported just after it).
    fn mismatch(&self, what: &'static str, expected: &str, m: Marker) -> Error {
        Error::Corrupt {
            offset: self.offset(),
            message: format!(
                "{what}: expected {expected}, found marker 0x{:02x}",
                m.to_u8()
            ),
        }
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Error::Truncated {
                what,
                offset: self.offset(),
            }),
        }
    }

    fn marker(&mut self, what: &'static str) -> Result<Marker, Error> {
        Ok(Marker::from_u8(self.take(1, what)?[0]))
    }

    /// A big-endian unsigned integer of `N` bytes.
    fn be<const N: usize>(&mut self, what: &'static str) -> Result<u64, Error> {
        let b = self.take(N, what)?;
        Ok(b.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub(crate) fn read_map_len(&mut self, what: &'static str) -> Result<u32, Error> {
        match self.marker(what)? {
            Marker::FixMap(n) => Ok(n.into()),
            Marker::Map16 => Ok(self.be::<2>(what)? as u32),
            Marker::Map32 => Ok(self.be::<4>(what)? as u32),
            m => Err(self.mismatch(what, "a MessagePack map", m)),
        }
    }

    pub(crate) fn read_array_len(&mut self, what: &'static str) -> Result<u32, Error> {
        match self.marker(what)? {
            Marker::FixArray(n) => Ok(n.into()),
            Marker::Array16 => Ok(self.be::<2>(what)? as u32),
            Marker::Array32 => Ok(self.be::<4>(what)? as u32),
            m => Err(self.mismatch(what, "a MessagePack array", m)),
        }
    }

    /// Skips `s` if it comes next in its shortest form (a fixstr, as the writer puts keys):
    /// whether it did. Anything else is left for [`read_str`](Self::read_str) to read.
    pub(crate) fn skip_fixstr(&mut self, s: &str) -> bool {
        let n = s.len();
        let found = n < 32
            && self.bytes.get(self.pos..self.pos + 1 + n).is_some_and(|b| {
                Marker::from_u8(b[0]) == Marker::FixStr(n as u8) && &b[1..] == s.as_bytes()
            });
        if found {
            self.pos += 1 + n;
        }
        found
    }

    pub(crate) fn read_str(&mut self, what: &'static str) -> Result<&'a str, Error> {
        let start = self.offset();
        let n = match self.marker(what)? {
            Marker::FixStr(n) => n.into(),
            Marker::Str8 => self.be::<1>(what)?,
            Marker::Str16 => self.be::<2>(what)?,
            Marker::Str32 => self.be::<4>(what)?,
            m => return Err(self.mismatch(what, "a MessagePack string", m)),
        };
        let b = self.take(n as usize, what)?;
        std::str::from_utf8(b).map_err(|_| Error::Corrupt {
            offset: start,
            message: format!("{what}: string is not UTF-8"),
        })
    }

    pub(crate) fn read_bin(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = match self.marker(what)? {
            Marker::Bin8 => self.be::<1>(what)?,
            Marker::Bin16 => self.be::<2>(what)?,
            Marker::Bin32 => self.be::<4>(what)?,
            m => return Err(self.mismatch(what, "MessagePack binary data", m)),
        };
        self.take(n as usize, what)
    }

    /// An unsigned integer in any of its forms; signed forms are refused, whatever their
    /// value.
    pub(crate) fn read_uint(&mut self, what: &'static str) -> Result<u64, Error> {
        match self.marker(what)? {
            Marker::FixPos(v) => Ok(v.into()),
            Marker::U8 => self.be::<1>(what),
            Marker::U16 => self.be::<2>(what),
            Marker::U32 => self.be::<4>(what),
            Marker::U64 => self.be::<8>(what),
            m => Err(self.mismatch(what, "a MessagePack unsigned integer", m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lengths_are_what_the_writers_write() {
        for n in [0usize, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 70000] {
            let mut out = Vec::new();
            write_str(&mut out, &"x".repeat(n));
            assert_eq!(out.len(), str_marker_len(n) + n, "string of {n}");
            let mut out = Vec::new();
            write_array_len(&mut out, n as u32);
            assert_eq!(out.len(), array_marker_len(n as u32), "array of {n}");
        }
        let mut out = Vec::new();
        write_array_len(&mut out, u32::MAX);
        assert_eq!(out.len(), array_marker_len(u32::MAX));
    }
}
