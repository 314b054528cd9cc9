//! A strict, streaming FASTA reader: records of any length (megabases on one line) are read
//! without holding more than the record, and every rejection names the line, column and
//! byte offset.
//!
//! Accepted: `>` headers, residue lines of A-Z/a-z/`*`/`-` (upper-cased), CRLF or LF line
//! endings, blank lines, trailing spaces or tabs at the end of a residue line.
//! Rejected: text before the first `>`, an empty header, a record without residues,
//! any other byte in residues (digits, inner spaces, control bytes, NUL), control bytes or
//! invalid UTF-8 in headers.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use crate::alphabet::{describe_byte, upper_residues, RESIDUE};

/// Longest header accepted.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// One FASTA record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FastaRecord {
    /// Header line without `>` and line ending.
    pub header: String,
    /// Upper-cased residues.
    pub residues: Vec<u8>,
    /// Line of the header (1-based).
    pub line: u64,
}

/// Input that is not valid FASTA, or that could not be read.
#[derive(Debug)]
pub struct FastaError {
    /// The input's name (file path or `-`).
    pub input: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, when the problem is one byte.
    pub column: Option<u64>,
    /// Byte offset in the (decompressed) input.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
    /// The read error behind it, if any.
    pub source: Option<std::io::Error>,
}

impl fmt::Display for FastaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(
                f,
                "{}:{}:{}: {} (byte offset {})",
                self.input, self.line, c, self.message, self.offset
            ),
            None => write!(
                f,
                "{}:{}: {} (byte offset {})",
                self.input, self.line, self.message, self.offset
            ),
        }
    }
}

impl std::error::Error for FastaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Start,
    Header,
    Residues,
}

/// Reads FASTA records from any `BufRead`.
///
/// # Examples
/// ```
/// use sequoia_store::fasta::{FastaReader, FastaRecord};
/// let mut r = FastaReader::new(&b">a one\r\nmk\r\nVL\n\n>b\nW\n"[..], "example.fa");
/// let mut rec = FastaRecord::default();
/// assert!(r.next_record(&mut rec).unwrap());
/// assert_eq!((rec.header.as_str(), &rec.residues[..]), ("a one", &b"MKVL"[..]));
/// assert!(r.next_record(&mut rec).unwrap());
/// assert_eq!(rec.residues, b"W");
/// assert!(!r.next_record(&mut rec).unwrap());
/// ```
pub struct FastaReader<R> {
    inner: R,
    name: String,
    line: u64,
    line_start: u64,
    consumed: u64,
    kind: LineKind,
    header: Vec<u8>,
    header_line: u64,
    have_header: bool,
    residues: Vec<u8>,
    trailing_ws: Option<u64>,
    done: bool,
}

impl<R: BufRead> FastaReader<R> {
    /// A reader over `inner`, named `name` in errors.
    pub fn new(inner: R, name: &str) -> Self {
        FastaReader {
            inner,
            name: name.to_string(),
            line: 1,
            line_start: 0,
            consumed: 0,
            kind: LineKind::Start,
            header: Vec::new(),
            header_line: 0,
            have_header: false,
            residues: Vec::new(),
            trailing_ws: None,
            done: false,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    fn error(&self, line: u64, column: Option<u64>, offset: u64, message: String) -> FastaError {
        FastaError {
            input: self.name.clone(),
            line,
            column,
            offset,
            message,
            source: None,
        }
    }

    /// Reads the next record into `rec`; `false` at the end of the input.
    pub fn next_record(&mut self, rec: &mut FastaRecord) -> Result<bool, FastaError> {
        if self.done {
            return Ok(false);
        }
        loop {
            let consumed = self.consumed;
            let (inner, mut scan) = self.split();
            let buf = match inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let mut err = scan.error(
                        *scan.line,
                        None,
                        format!(
                            "cannot read the input (truncated or damaged?) after {consumed} bytes: {e}"
                        ),
                    );
                    err.offset = consumed;
                    err.source = Some(e);
                    return Err(err);
                }
            };
            if buf.is_empty() {
                if *scan.kind == LineKind::Header {
                    finish_header(&mut scan)?;
                }
                self.done = true;
                return if self.have_header {
                    self.emit(rec)?;
                    Ok(true)
                } else {
                    Ok(false)
                };
            }
            let (used, emitted) = Self::scan(buf, &mut scan)?;
            inner.consume(used);
            self.consumed += used as u64;
            if emitted {
                self.emit(rec)?;
                return Ok(true);
            }
        }
    }

    /// The input and, borrowed apart from it, the scanning state.
    fn split(&mut self) -> (&mut R, Scan<'_>) {
        (
            &mut self.inner,
            Scan {
                line: &mut self.line,
                line_start: &mut self.line_start,
                consumed: self.consumed,
                kind: &mut self.kind,
                header: &mut self.header,
                header_line: &mut self.header_line,
                have_header: &mut self.have_header,
                residues: &mut self.residues,
                trailing_ws: &mut self.trailing_ws,
                name: &self.name,
            },
        )
    }

    /// Hands the record in progress to `rec`.
    fn emit(&mut self, rec: &mut FastaRecord) -> Result<(), FastaError> {
        if self.residues.is_empty() {
            let id = String::from_utf8_lossy(&self.header);
            let id = id.split_whitespace().next().unwrap_or("").to_string();
            return Err(self.error(
                self.header_line,
                None,
                self.consumed,
                format!("record '{id}' has no residues"),
            ));
        }
        rec.header.clear();
        rec.header
            .push_str(std::str::from_utf8(&self.header).expect("header checked as UTF-8"));
        rec.line = self.header_line;
        std::mem::swap(&mut rec.residues, &mut self.residues);
        self.residues.clear();
        self.have_header = false;
        Ok(())
    }

    /// Processes bytes of `buf`; returns how many were used and whether a record is
    /// complete (the next `>` was reached and left unconsumed).
    fn scan(buf: &[u8], s: &mut Scan<'_>) -> Result<(usize, bool), FastaError> {
        let mut i = 0;
        while i < buf.len() {
            match *s.kind {
                LineKind::Start => match buf[i] {
                    b'>' => {
                        if *s.have_header {
                            return Ok((i, true));
                        }
                        *s.kind = LineKind::Header;
                        s.header.clear();
                        *s.header_line = *s.line;
                        i += 1;
                    }
                    b'\n' => {
                        i += 1;
                        s.new_line(i);
                    }
                    _ => *s.kind = LineKind::Residues,
                },
                LineKind::Header => {
                    let end = memchr::memchr(b'\n', &buf[i..]).map(|p| i + p);
                    let stop = end.unwrap_or(buf.len());
                    if s.header.len() + (stop - i) > MAX_HEADER_LEN {
                        return Err(s.error(
                            *s.line,
                            None,
                            format!("header longer than {MAX_HEADER_LEN} bytes"),
                        ));
                    }
                    s.header.extend_from_slice(&buf[i..stop]);
                    match end {
                        Some(e) => {
                            finish_header(s)?;
                            i = e + 1;
                            s.new_line(i);
                        }
                        None => i = stop,
                    }
                }
                LineKind::Residues => {
                    let end = memchr::memchr(b'\n', &buf[i..]).map(|p| i + p);
                    let stop = end.unwrap_or(buf.len());
                    s.residue_bytes(&buf[i..stop], i)?;
                    match end {
                        Some(e) => {
                            i = e + 1;
                            *s.trailing_ws = None;
                            *s.kind = LineKind::Start;
                            s.new_line(i);
                        }
                        None => i = stop,
                    }
                }
            }
        }
        Ok((i, false))
    }
}

/// The reader's state, borrowed apart from its input so that a chunk can be scanned.
struct Scan<'a> {
    line: &'a mut u64,
    line_start: &'a mut u64,
    consumed: u64,
    kind: &'a mut LineKind,
    header: &'a mut Vec<u8>,
    header_line: &'a mut u64,
    have_header: &'a mut bool,
    residues: &'a mut Vec<u8>,
    trailing_ws: &'a mut Option<u64>,
    name: &'a str,
}

impl Scan<'_> {
    /// A line starts at index `i` of the current chunk.
    fn new_line(&mut self, i: usize) {
        *self.line += 1;
        *self.line_start = self.consumed + i as u64;
        *self.kind = LineKind::Start;
    }

    fn error(&self, line: u64, column: Option<u64>, message: String) -> FastaError {
        FastaError {
            input: self.name.to_string(),
            line,
            column,
            offset: column.map_or(*self.line_start, |c| *self.line_start + c - 1),
            message,
            source: None,
        }
    }

    fn residue_bytes(&mut self, seg: &[u8], at: usize) -> Result<(), FastaError> {
        // Fast path: a clean segment is translated in one pass.
        let start = self.residues.len();
        if self.residues.capacity() == 0 {
            // Most proteins fit: one allocation per record instead of a doubling series.
            self.residues.reserve(1024);
        }
        self.residues.resize(start + seg.len(), 0);
        // Written through a slice: no capacity check per byte.
        let clean = upper_residues(&mut self.residues[start..], seg);
        if clean && self.trailing_ws.is_none() {
            if !*self.have_header {
                self.residues.truncate(start);
                let col = self.consumed + at as u64 - *self.line_start + 1;
                return Err(self.error(
                    *self.line,
                    Some(col),
                    "text before the first '>' header".into(),
                ));
            }
            return Ok(());
        }
        self.residues.truncate(start);
        for (k, &b) in seg.iter().enumerate() {
            let col = self.consumed + (at + k) as u64 - *self.line_start + 1;
            let r = RESIDUE[b as usize];
            if r != 0 {
                if let Some(ws_col) = *self.trailing_ws {
                    return Err(self.error(
                        *self.line,
                        Some(ws_col),
                        format!(
                            "whitespace inside residues (before '{}' at column {col})",
                            b as char
                        ),
                    ));
                }
                if !*self.have_header {
                    return Err(self.error(
                        *self.line,
                        Some(col),
                        "text before the first '>' header".into(),
                    ));
                }
                self.residues.push(r);
            } else if matches!(b, b' ' | b'\t' | b'\r') {
                if self.trailing_ws.is_none() {
                    *self.trailing_ws = Some(col);
                }
            } else if !*self.have_header {
                return Err(self.error(
                    *self.line,
                    Some(col),
                    "text before the first '>' header".into(),
                ));
            } else {
                return Err(self.error(
                    *self.line,
                    Some(col),
                    format!("{} is not a residue (A-Z, a-z, '*', '-')", describe_byte(b)),
                ));
            }
        }
        Ok(())
    }
}

fn finish_header(s: &mut Scan<'_>) -> Result<(), FastaError> {
    if s.header.last() == Some(&b'\r') {
        s.header.pop();
    }
    while s.header.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
        s.header.pop();
    }
    let line = *s.header_line;
    if s.header.is_empty() {
        return Err(s.error(
            line,
            Some(1),
            "empty header: '>' is followed by nothing".into(),
        ));
    }
    // \x01 separates the headers of one sequence in NCBI nr; the importer splits on it.
    if let Some(p) = s
        .header
        .iter()
        .position(|&b| (b < 0x20 && b != b'\t' && b != 1) || b == 0x7f)
    {
        return Err(s.error(
            line,
            Some(p as u64 + 2),
            format!("{} in the header", describe_byte(s.header[p])),
        ));
    }
    if let Err(e) = std::str::from_utf8(s.header) {
        return Err(s.error(
            line,
            Some(e.valid_up_to() as u64 + 2),
            "the header is not valid UTF-8".into(),
        ));
    }
    *s.have_header = true;
    s.residues.clear();
    *s.kind = LineKind::Start;
    Ok(())
}

/// The source name an import gives the records of `path` when none is given: the file's
/// name (`stdin` for `-`).
///
/// ```
/// assert_eq!(sequoia_store::fasta::default_source("/data/uniprot_sprot.fasta.gz"), "uniprot_sprot.fasta.gz");
/// assert_eq!(sequoia_store::fasta::default_source("-"), "stdin");
/// ```
pub fn default_source(path: &str) -> String {
    if path == "-" {
        return "stdin".to_string();
    }
    std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Opens `path` (`-` for standard input), decompressing gzip or Zstandard input detected
/// from its first bytes.
pub fn open_input(path: &str) -> std::io::Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let head = buffered.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buffered),
        )))
    } else if head.starts_with(&pack_format::ZSTD_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::with_buffer(buffered)?,
        )))
    } else {
        Ok(Box::new(buffered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(input: &[u8]) -> Result<Vec<FastaRecord>, FastaError> {
        parse_chunked(input, 1 << 16)
    }

    /// Parses through a tiny buffer so that every state crosses chunk boundaries.
    fn parse_chunked(input: &[u8], cap: usize) -> Result<Vec<FastaRecord>, FastaError> {
        let mut r = FastaReader::new(BufReader::with_capacity(cap, input), "t.fa");
        let mut out = Vec::new();
        let mut rec = FastaRecord::default();
        while r.next_record(&mut rec)? {
            out.push(rec.clone());
        }
        Ok(out)
    }

    #[test]
    fn accepts_crlf_blank_lines_lowercase_and_trailing_space() {
        let recs = parse(b"\n>x desc\r\nacgt \r\n\r\nNN\n>y\nM*-\n").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].header, "x desc");
        assert_eq!(recs[0].residues, b"ACGTNN");
        assert_eq!(recs[0].line, 2);
        assert_eq!(recs[1].residues, b"M*-");
        assert_eq!(recs[1].line, 6);
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"\n\n").unwrap().is_empty());
    }

    fn err(input: &[u8]) -> FastaError {
        parse(input).expect_err("input should be rejected")
    }

    #[test]
    fn rejections_name_line_and_column() {
        let e = err(b"MKV\n>x\nA\n");
        assert_eq!((e.line, e.column), (1, Some(1)));
        assert!(e.message.contains("before the first"), "{e}");

        let e = err(b">x\nMK1V\n");
        assert_eq!((e.line, e.column, e.offset), (2, Some(3), 5));
        assert!(e.message.contains("digit '1'"), "{e}");

        let e = err(b">x\nMK V\n");
        assert_eq!((e.line, e.column), (2, Some(3)));
        assert!(e.message.contains("whitespace inside"), "{e}");

        let e = err(b">x\nMK\0V\n");
        assert!(e.message.contains("NUL"), "{e}");

        let e = err(b">x\nMK\x07\n");
        assert!(e.message.contains("0x07"), "{e}");

        let e = err(b">\nMK\n");
        assert!(e.message.contains("empty header"), "{e}");

        let e = err(b">a\nMK\n>b\n>c\nMK\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("'b' has no residues"), "{e}");

        let e = err(b">a\nMK\n>last\n");
        assert!(e.message.contains("'last' has no residues"), "{e}");

        let e = err(b">a\xff\nMK\n");
        assert!(e.message.contains("UTF-8"), "{e}");

        assert!(e.to_string().starts_with("t.fa:1:"), "{e}");
    }

    #[test]
    fn a_long_single_line_is_one_record() {
        let mut input = b">long\n".to_vec();
        input.extend(std::iter::repeat_n(b'A', 3_000_000));
        input.push(b'\n');
        let recs = parse_chunked(&input, 4096).unwrap();
        assert_eq!(recs[0].residues.len(), 3_000_000);
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_the_result(
            records in proptest::collection::vec(("[a-zA-Z0-9 |_.]{1,30}", "[A-Za-z*-]{1,200}", 1usize..80, any::<bool>()), 1..10),
            cap in 1usize..64,
        ) {
            let mut text = Vec::new();
            for (h, s, width, crlf) in &records {
                let nl: &[u8] = if *crlf { b"\r\n" } else { b"\n" };
                text.extend_from_slice(b">");
                text.extend_from_slice(h.trim().as_bytes());
                if h.trim().is_empty() { text.push(b'x'); }
                text.extend_from_slice(nl);
                for line in s.as_bytes().chunks(*width) {
                    text.extend_from_slice(line);
                    text.extend_from_slice(nl);
                }
            }
            let whole = parse(&text).unwrap();
            let chunked = parse_chunked(&text, cap).unwrap();
            prop_assert_eq!(&whole, &chunked);
            prop_assert_eq!(whole.len(), records.len());
            for (rec, (_, s, _, _)) in whole.iter().zip(&records) {
                prop_assert_eq!(rec.residues.clone(), s.to_ascii_uppercase().into_bytes());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), cap in 1usize..32) {
            let _ = parse_chunked(&bytes, cap);
        }
    }
}
