//! The subset of MessagePack that entries use (maps, strings, binaries, unsigned integers,
//! arrays), written and read by hand so that every byte is known and decoding of any input
//! returns an error instead of panicking or allocating more than the input holds.

use crate::error::Error;

pub(crate) fn write_map_len(out: &mut Vec<u8>, n: u32) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n <= u16::MAX as u32 {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub(crate) fn write_array_len(out: &mut Vec<u8>, n: u32) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= u16::MAX as u32 {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= u8::MAX as usize {
        out.push(0xd9);
        out.push(n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
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

pub(crate) fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    if n <= u8::MAX as usize {
        out.push(0xc4);
        out.push(n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xc5);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}

pub(crate) fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 128 {
        out.push(v as u8);
    } else if v <= u8::MAX as u64 {
        out.push(0xcc);
        out.push(v as u8);
    } else if v <= u16::MAX as u64 {
        out.push(0xcd);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= u32::MAX as u64 {
        out.push(0xce);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A cursor over MessagePack bytes that reports offsets relative to `base`.
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

    fn corrupt(&self, message: String) -> Error {
        Error::Corrupt {
            offset: self.offset(),
            message,
        }
    }

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

    fn byte(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    fn be(&mut self, n: usize, what: &'static str) -> Result<u64, Error> {
        Ok(self
            .take(n, what)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    pub(crate) fn read_map_len(&mut self, what: &'static str) -> Result<u32, Error> {
        let m = self.byte(what)?;
        match m {
            0x80..=0x8f => Ok((m & 0x0f) as u32),
            0xde => Ok(self.be(2, what)? as u32),
            0xdf => Ok(self.be(4, what)? as u32),
            _ => Err(self.corrupt(format!(
                "{what}: expected a MessagePack map, found marker 0x{m:02x}"
            ))),
        }
    }

    pub(crate) fn read_array_len(&mut self, what: &'static str) -> Result<u32, Error> {
        let m = self.byte(what)?;
        match m {
            0x90..=0x9f => Ok((m & 0x0f) as u32),
            0xdc => Ok(self.be(2, what)? as u32),
            0xdd => Ok(self.be(4, what)? as u32),
            _ => Err(self.corrupt(format!(
                "{what}: expected a MessagePack array, found marker 0x{m:02x}"
            ))),
        }
    }

    /// Skips `s` if it comes next in its shortest form (a fixstr, as the writer puts keys):
    /// whether it did. Anything else is left for [`read_str`](Self::read_str) to read.
    pub(crate) fn skip_fixstr(&mut self, s: &str) -> bool {
        let n = s.len();
        let found = n < 32
            && self
                .bytes
                .get(self.pos..self.pos + 1 + n)
                .is_some_and(|b| b[0] == 0xa0 | n as u8 && &b[1..] == s.as_bytes());
        if found {
            self.pos += 1 + n;
        }
        found
    }

    pub(crate) fn read_str(&mut self, what: &'static str) -> Result<&'a str, Error> {
        let start = self.offset();
        let m = self.byte(what)?;
        let n = match m {
            0xa0..=0xbf => (m & 0x1f) as usize,
            0xd9 => self.be(1, what)? as usize,
            0xda => self.be(2, what)? as usize,
            0xdb => self.be(4, what)? as usize,
            _ => {
                return Err(self.corrupt(format!(
                    "{what}: expected a MessagePack string, found marker 0x{m:02x}"
                )))
            }
        };
        let b = self.take(n, what)?;
        if b.is_ascii() {
            // SAFETY: every ASCII byte sequence is valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).map_err(|_| Error::Corrupt {
            offset: start,
            message: format!("{what}: string is not UTF-8"),
        })
    }

    pub(crate) fn read_bin(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let m = self.byte(what)?;
        let n = match m {
            0xc4 => self.be(1, what)? as usize,
            0xc5 => self.be(2, what)? as usize,
            0xc6 => self.be(4, what)? as usize,
            _ => {
                return Err(self.corrupt(format!(
                    "{what}: expected MessagePack binary data, found marker 0x{m:02x}"
                )))
            }
        };
        self.take(n, what)
    }

    pub(crate) fn read_uint(&mut self, what: &'static str) -> Result<u64, Error> {
        let m = self.byte(what)?;
        match m {
            0x00..=0x7f => Ok(m as u64),
            0xcc => self.be(1, what),
            0xcd => self.be(2, what),
            0xce => self.be(4, what),
            0xcf => self.be(8, what),
            _ => Err(self.corrupt(format!(
                "{what}: expected a MessagePack unsigned integer, found marker 0x{m:02x}"
            ))),
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
