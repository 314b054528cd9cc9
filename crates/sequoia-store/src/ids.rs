//! What users hold instead of a SHA-256: refget digests (MD5, `sha512t24u`) and accessions,
//! and how each maps to a key of an alias index. The rules are in `docs/identifiers.md`.

use md5::Digest as _;
use pack_format::{from_hex, to_hex, SequenceHash};
use pack_index::IndexKind;

/// The three digests of a sequence, all over its upper-case residues as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceDigests {
    /// SHA-256: the store's key.
    pub sha256: SequenceHash,
    /// MD5 (refget v1's `md5`).
    pub md5: [u8; 16],
    /// First 24 bytes of SHA-512 (GA4GH `sha512t24u`; refget v1's `trunc512` in hex).
    pub sha512t24u: [u8; 24],
}

impl SequenceDigests {
    /// Digests of `residues` (already upper-case), with their known SHA-256.
    pub fn with_sha256(sha256: SequenceHash, residues: &[u8]) -> SequenceDigests {
        let full: [u8; 64] = <sha2::Sha512 as sha2::Digest>::digest(residues).into();
        let md5: [u8; 16] = md5::Md5::digest(residues).into();
        Self::with_digests(sha256, &full, md5)
    }

    /// Digests of a sequence from its SHA-256, SHA-512 and MD5, computed elsewhere (many
    /// at once, the `digest-lanes` crate).
    pub(crate) fn with_digests(
        sha256: SequenceHash,
        sha512: &[u8; 64],
        md5: [u8; 16],
    ) -> SequenceDigests {
        let mut t24 = [0u8; 24];
        t24.copy_from_slice(&sha512[..24]);
        SequenceDigests {
            sha256,
            md5,
            sha512t24u: t24,
        }
    }

    /// Digests of `residues` (already upper-case).
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::SequenceDigests;
    /// let d = SequenceDigests::of(b"ACGT");
    /// assert_eq!(d.md5_hex(), "f1f8f4bf413b16ad135722aa4591043e");
    /// assert_eq!(d.ga4gh(), "SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2");
    /// ```
    pub fn of(residues: &[u8]) -> SequenceDigests {
        Self::with_sha256(SequenceHash::of_residues(residues), residues)
    }

    /// MD5 as 32 lower-case hex digits.
    pub fn md5_hex(&self) -> String {
        to_hex(&self.md5)
    }

    /// `SQ.` followed by the base64url `sha512t24u` digest (32 characters).
    pub fn ga4gh(&self) -> String {
        format!("SQ.{}", base64url(&self.sha512t24u))
    }

    /// `trunc512`: the `sha512t24u` digest as 48 hex digits (refget v1).
    pub fn trunc512_hex(&self) -> String {
        to_hex(&self.sha512t24u)
    }
}

/// An identifier a user gives for a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SequenceId {
    /// 64 hex digits.
    Sha256(SequenceHash),
    /// 32 hex digits.
    Md5([u8; 16]),
    /// `SQ.…`, `ga4gh:SQ.…` or 48 hex digits (`trunc512`).
    Sha512t24u([u8; 24]),
    /// Anything else: an accession (the first word of a header or one of its fields).
    Accession(String),
}

impl SequenceId {
    /// Reads an identifier: a digest when it has a digest's form, else an accession.
    /// `None` for an empty string or one with whitespace.
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::SequenceId;
    /// assert!(matches!(SequenceId::parse("6681ac2f62509cfc220d78751b8dc524"), Some(SequenceId::Md5(_))));
    /// assert!(matches!(SequenceId::parse("ga4gh:SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2"), Some(SequenceId::Sha512t24u(_))));
    /// assert_eq!(SequenceId::parse("P69905"), Some(SequenceId::Accession("P69905".into())));
    /// ```
    pub fn parse(id: &str) -> Option<SequenceId> {
        if id.is_empty()
            || id
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return None;
        }
        if let Some(d) = parse_digest(id) {
            return Some(d);
        }
        Some(SequenceId::Accession(id.to_string()))
    }

    /// Reads a digest form only (SHA-256, MD5, `trunc512` hex, `SQ.`, `ga4gh:SQ.`), as the
    /// refget endpoints accept them.
    pub fn parse_digest(id: &str) -> Option<SequenceId> {
        parse_digest(id)
    }

    /// Whether `residues`, read for a candidate of this identifier, answer to it: an MD5's
    /// or `sha512t24u`'s must have that digest (only the one digest is computed); a
    /// SHA-256's were found by their whole hash, which every entry read checks; an
    /// accession's are checked by header instead.
    pub(crate) fn answered_by_residues(&self, residues: &[u8]) -> bool {
        match self {
            SequenceId::Sha256(_) => true,
            SequenceId::Md5(k) => md5::Md5::digest(residues)[..] == k[..],
            SequenceId::Sha512t24u(k) => {
                <sha2::Sha512 as sha2::Digest>::digest(residues)[..24] == k[..]
            }
            SequenceId::Accession(_) => true,
        }
    }

    /// Whether a representation with `header` answers to this identifier: every one for a
    /// digest (it names the residues), for an accession those [`header_answers_to`] it.
    pub(crate) fn matches_header(&self, header: &str) -> bool {
        match self {
            SequenceId::Accession(acc) => header_answers_to(header, acc),
            _ => true,
        }
    }

    /// The alias index and keys this identifier is looked up with (none for a SHA-256).
    ///
    /// An accession with `|` can only be a header's whole identifier, which the accession
    /// index lists only when no field of it is an accession ([`indexed_accessions`]); so it
    /// is looked up as itself and as each of its non-empty fields: every header whose
    /// identifier it is (ignoring case) has one of those keys. Candidates are checked
    /// against the headers by the caller.
    pub(crate) fn alias_keys(&self) -> Option<(IndexKind, Vec<Vec<u8>>)> {
        match self {
            SequenceId::Sha256(_) => None,
            SequenceId::Md5(k) => Some((IndexKind::Md5, vec![k.to_vec()])),
            SequenceId::Sha512t24u(k) => Some((IndexKind::Sha512t24u, vec![k.to_vec()])),
            SequenceId::Accession(a) => {
                let mut keys = vec![accession_key(a).to_vec()];
                if a.contains('|') {
                    for field in a.split('|').filter(|f| !f.is_empty()) {
                        let k = accession_key(field).to_vec();
                        if !keys.contains(&k) {
                            keys.push(k);
                        }
                    }
                }
                Some((IndexKind::Accession, keys))
            }
        }
    }
}

fn parse_digest(id: &str) -> Option<SequenceId> {
    let body = id.strip_prefix("ga4gh:").unwrap_or(id);
    if let Some(b64) = body.strip_prefix("SQ.") {
        return decode_base64url_24(b64).map(SequenceId::Sha512t24u);
    }
    if id.len() != body.len() {
        return None;
    }
    match id.len() {
        64 => id.parse::<SequenceHash>().ok().map(SequenceId::Sha256),
        32 => from_hex::<16>(id).map(SequenceId::Md5),
        48 => from_hex::<24>(id).map(SequenceId::Sha512t24u),
        _ => None,
    }
}

impl std::fmt::Display for SequenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SequenceId::Sha256(h) => write!(f, "{h}"),
            SequenceId::Md5(k) => write!(f, "{}", to_hex(k)),
            SequenceId::Sha512t24u(k) => write!(f, "SQ.{}", base64url(k)),
            SequenceId::Accession(a) => write!(f, "{a}"),
        }
    }
}

/// An identifier with an optional region, as `sequoia get` takes them: `ID` or
/// `ID:START-END` / `ID:START` (1-based, inclusive, as `samtools faidx`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdQuery {
    /// The identifier.
    pub id: SequenceId,
    /// First and last residue (1-based, inclusive; `None` as the end: to the end).
    pub region: Option<(u64, Option<u64>)>,
}

impl IdQuery {
    /// Reads `ID[:START[-END]]`. A colon followed by anything but a region belongs to the
    /// identifier (`ga4gh:SQ.…`).
    ///
    /// # Examples
    /// ```
    /// use sequoia_store::{IdQuery, SequenceId};
    /// let q = IdQuery::parse("P69905:2-5").unwrap();
    /// assert_eq!(q.id, SequenceId::Accession("P69905".into()));
    /// assert_eq!(q.region, Some((2, Some(5))));
    /// assert!(IdQuery::parse("P69905:5-2").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<IdQuery, String> {
        let text = text.trim();
        if let Some((id, region)) = text.rsplit_once(':') {
            let digits =
                |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b',');
            let (a, b) = match region.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (region, None),
            };
            if digits(a) && b.is_none_or(digits) {
                let num = |s: &str| {
                    s.replace(',', "")
                        .parse::<u64>()
                        .map_err(|_| format!("{text}: region number {s} is too large"))
                };
                let start = num(a)?;
                let end = b.map(num).transpose()?;
                if start == 0 {
                    return Err(format!(
                        "{text}: regions are 1-based; the first residue is 1"
                    ));
                }
                if end.is_some_and(|e| e < start) {
                    return Err(format!("{text}: the region ends before it starts"));
                }
                let id =
                    SequenceId::parse(id).ok_or_else(|| format!("{text}: empty identifier"))?;
                return Ok(IdQuery {
                    id,
                    region: Some((start, end)),
                });
            }
        }
        let id = SequenceId::parse(text)
            .ok_or_else(|| format!("{text:?} is not an identifier (empty, or has whitespace)"))?;
        Ok(IdQuery { id, region: None })
    }

    /// The 0-based half-open byte range of the region within `len` residues (clipped at the
    /// end as samtools does), or why there is none.
    pub fn range(&self, len: u64) -> Result<std::ops::Range<usize>, String> {
        match self.region {
            None => Ok(0..len as usize),
            Some((start, end)) => {
                if start > len {
                    return Err(format!(
                        "{}: the region starts at {start}, past the sequence's {len} residues",
                        self.id
                    ));
                }
                let end = end.unwrap_or(len).min(len);
                Ok((start - 1) as usize..end as usize)
            }
        }
    }

    /// The region as samtools appends it to a name: `:START-END`, empty without one.
    pub fn region_suffix(&self, len: u64) -> String {
        match self.region {
            None => String::new(),
            Some((start, end)) => format!(":{start}-{}", end.unwrap_or(len).min(len)),
        }
    }
}

/// Database tags of NCBI-style pipe-delimited identifiers: the field after one is an
/// accession (`gi|345004010|ref|NC_015954.1|`).
const NCBI_TAGS: &[&str] = &[
    "gi", "ref", "gb", "emb", "dbj", "pir", "prf", "pdb", "pat", "bbs", "gnl", "lcl", "tpg", "tpe",
    "tpd", "tr", "sp", "gpp", "nat",
];

/// Every accession a header answers to: its first word, and the accession fields of the
/// pipe-delimited conventions (UniProt `sp|ACC|NAME`, NCBI `gi|N|ref|ACC|`, `ACC|note`).
/// Duplicates are removed; the order is the order of appearance.
///
/// # Examples
/// ```
/// use sequoia_store::accessions;
/// assert_eq!(accessions("sp|P69905|HBA_HUMAN Hemoglobin"), ["sp|P69905|HBA_HUMAN", "P69905", "HBA_HUMAN"]);
/// assert_eq!(accessions("gi|345004010|ref|NC_015954.1| Methanocaldococcus"), ["gi|345004010|ref|NC_015954.1|", "345004010", "NC_015954.1"]);
/// assert_eq!(accessions("B0RED7|GO:0006200"), ["B0RED7|GO:0006200", "B0RED7"]);
/// assert_eq!(accessions("NC_001422.1 phiX174"), ["NC_001422.1"]);
/// ```
pub fn accessions(header: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::with_capacity(3);
    any_accession(header, |acc| {
        push_unique(&mut out, acc);
        false
    });
    out
}

/// Calls `f` with each accession of `header` as [`accessions`] finds them (in order, but
/// with repeats and empty fields), until `f` returns true; whether it did. Nothing is
/// allocated: a lookup checks every header it finds.
fn any_accession<'a>(header: &'a str, mut f: impl FnMut(&'a str) -> bool) -> bool {
    let first = header.split_ascii_whitespace().next().unwrap_or("");
    if first.is_empty() {
        return false;
    }
    if f(first) {
        return true;
    }
    if !first.contains('|') {
        return false;
    }
    let mut fields = first.split('|');
    let mut field = fields.next().unwrap_or("");
    if !NCBI_TAGS.contains(&field) {
        return f(field);
    }
    loop {
        if NCBI_TAGS.contains(&field) {
            let uniprot = matches!(field, "sp" | "tr");
            let Some(acc) = fields.next() else {
                return false;
            };
            if f(acc) {
                return true;
            }
            // UniProt: sp|ACCESSION|ENTRY_NAME.
            if uniprot {
                let Some(name) = fields.next() else {
                    return false;
                };
                if f(name) {
                    return true;
                }
            }
        }
        let Some(next) = fields.next() else {
            return false;
        };
        field = next;
    }
}

fn push_unique<'a>(out: &mut Vec<&'a str>, acc: &'a str) {
    if !acc.is_empty() && !out.contains(&acc) {
        out.push(acc);
    }
}

/// The accessions of `header` that the accession index lists: all of [`accessions`] but a
/// whole identifier with `|` when one of its fields is an accession (a lookup of such an
/// identifier goes through its fields, [`SequenceId`]'s alias keys). Headers such as
/// `B0RED7|GO:0006200,…` differ in their annotations from one source to the next, so their
/// identifiers were most of the index's rows and never the key users hold.
pub(crate) fn indexed_accessions(header: &str) -> Vec<&str> {
    let mut all = accessions(header);
    if all.len() > 1 && all[0].contains('|') {
        all.remove(0);
    }
    all
}

/// Whether `header` answers to `accession` (ASCII case-insensitive).
pub fn header_answers_to(header: &str, accession: &str) -> bool {
    any_accession(header, |a| a.eq_ignore_ascii_case(accession))
}

/// Key of an accession in the accession index: the first 8 bytes of the SHA-256 of its
/// ASCII upper-cased bytes. Keys of different accessions may collide: every match is
/// checked against the representations' headers.
pub(crate) fn accession_key(accession: &str) -> [u8; 8] {
    let upper = accession.to_ascii_uppercase();
    let full = <sha2::Sha256 as sha2::Digest>::digest(upper.as_bytes());
    let mut k = [0u8; 8];
    k.copy_from_slice(&full[..8]);
    k
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding of 24 bytes: 32 characters.
fn base64url(bytes: &[u8; 24]) -> String {
    let mut s = String::with_capacity(32);
    for c in bytes.chunks(3) {
        let n = ((c[0] as u32) << 16) | ((c[1] as u32) << 8) | c[2] as u32;
        for shift in [18, 12, 6, 0] {
            s.push(B64[((n >> shift) & 63) as usize] as char);
        }
    }
    s
}

/// The value of each base64url character, 255 for any other byte: one table load per
/// character of an `SQ.` identifier instead of a search of `B64` (about 150 instructions
/// less per identifier, measured with callgrind on `get --keys`).
const B64_VALUE: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    t
};

fn decode_base64url_24(s: &str) -> Option<[u8; 24]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 24];
    for (i, chunk) in b.chunks_exact(4).enumerate() {
        let mut n = 0u32;
        for &c in chunk {
            let v = B64_VALUE[c as usize];
            if v == 255 {
                return None;
            }
            n = (n << 6) | v as u32;
        }
        out[3 * i] = (n >> 16) as u8;
        out[3 * i + 1] = (n >> 8) as u8;
        out[3 * i + 2] = n as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refget_compliance_digests() {
        // The refget compliance suite's circular test sequence starts like this; its full
        // digests are checked end to end by the suite. Here: published digests of short
        // strings (refget specification examples).
        let d = SequenceDigests::of(b"ACGT");
        assert_eq!(d.md5_hex(), "f1f8f4bf413b16ad135722aa4591043e");
        assert_eq!(d.ga4gh(), "SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2");
        assert_eq!(
            d.trunc512_hex(),
            "68a178f7c740c5c240aa67ba41843b119d3bf9f8b0f0ac36"
        );
    }

    #[test]
    fn ids_by_form() {
        let d = SequenceDigests::of(b"ACGT");
        assert_eq!(
            SequenceId::parse(&d.sha256.to_string()),
            Some(SequenceId::Sha256(d.sha256))
        );
        assert_eq!(
            SequenceId::parse(&d.md5_hex().to_uppercase()),
            Some(SequenceId::Md5(d.md5))
        );
        for form in [d.ga4gh(), format!("ga4gh:{}", d.ga4gh()), d.trunc512_hex()] {
            assert_eq!(
                SequenceId::parse(&form),
                Some(SequenceId::Sha512t24u(d.sha512t24u)),
                "{form}"
            );
        }
        assert_eq!(SequenceId::parse(""), None);
        assert_eq!(SequenceId::parse("a b"), None);
        // Not quite a digest: an accession, and never a digest for the refget endpoints.
        assert_eq!(
            SequenceId::parse("SQ.short"),
            Some(SequenceId::Accession("SQ.short".into()))
        );
        assert_eq!(SequenceId::parse_digest("SQ.short"), None);
        assert_eq!(SequenceId::parse_digest("Garbagechecksum"), None);
        assert_eq!(
            SequenceId::parse_digest("ga4gh:6681ac2f62509cfc220d78751b8dc524"),
            None
        );
    }

    #[test]
    fn accession_rules() {
        assert_eq!(accessions(""), Vec::<&str>::new());
        assert_eq!(accessions("   "), Vec::<&str>::new());
        assert_eq!(
            accessions("tr|A0A024R161|A0A024R161_HUMAN x"),
            [
                "tr|A0A024R161|A0A024R161_HUMAN",
                "A0A024R161",
                "A0A024R161_HUMAN"
            ]
        );
        assert_eq!(
            accessions("gi|1|emb|CAA1.1|x|gb|AAB2.2|"),
            ["gi|1|emb|CAA1.1|x|gb|AAB2.2|", "1", "CAA1.1", "AAB2.2"]
        );
        assert_eq!(accessions("P1|P1"), ["P1|P1", "P1"]);
        assert!(header_answers_to("sp|P69905|HBA_HUMAN H", "p69905"));
        assert!(!header_answers_to("sp|P69905|HBA_HUMAN H", "P6990"));
        assert_eq!(accession_key("hba_human"), accession_key("HBA_HUMAN"));
    }

    #[test]
    fn a_pipe_identifier_is_indexed_through_its_fields() {
        assert_eq!(
            indexed_accessions("sp|P69905|HBA_HUMAN H"),
            ["P69905", "HBA_HUMAN"]
        );
        assert_eq!(indexed_accessions("B0RED7|GO:1,GO:2"), ["B0RED7"]);
        // No field is an accession: the identifier itself is listed.
        assert_eq!(indexed_accessions("|x"), ["|x"]);
        assert_eq!(indexed_accessions("sp|"), ["sp|"]);
        assert_eq!(indexed_accessions("NC_001422.1 phiX"), ["NC_001422.1"]);
        // Whatever case a header's identifier and a query have, one of the query's keys
        // is a key the header is listed under.
        for (header, query) in [
            ("sp|P69905|HBA_HUMAN x", "sp|P69905|HBA_HUMAN"),
            ("sp|P69905|HBA_HUMAN x", "SP|p69905|hba_human"),
            ("SP|P69905|HBA_HUMAN x", "sp|P69905|HBA_HUMAN"),
            ("B0RED7|GO:1,GO:2", "b0red7|go:1,go:2"),
            ("|x", "|X"),
            ("sp|", "SP|"),
            ("SP|", "sp|"),
            (
                "gi|1|emb|CAA1.1|x|gb|AAB2.2|",
                "GI|1|EMB|CAA1.1|X|GB|AAB2.2|",
            ),
        ] {
            assert!(header_answers_to(header, query), "{header} / {query}");
            let (_, keys) = SequenceId::parse(query).unwrap().alias_keys().unwrap();
            assert!(
                indexed_accessions(header)
                    .iter()
                    .any(|a| keys.contains(&accession_key(a).to_vec())),
                "{header} / {query}"
            );
        }
    }

    proptest! {
        #[test]
        fn a_header_answers_to_exactly_its_accessions(
            fields in proptest::collection::vec("(sp|tr|gi|ref|gb||[A-Za-z0-9.]{1,3})", 0..8),
            tail in "( [a-z |]{0,5})?",
            q in "[a-zA-Z|0-9.]{1,8}",
        ) {
            let h = format!("{}{}", fields.join("|"), tail);
            let listed = accessions(&h);
            for a in &listed {
                prop_assert!(header_answers_to(&h, &a.to_ascii_lowercase()));
            }
            prop_assert_eq!(
                header_answers_to(&h, &q),
                listed.iter().any(|a| a.eq_ignore_ascii_case(&q))
            );
        }

        #[test]
        fn base64url_round_trips(bytes in any::<[u8; 24]>()) {
            let s = base64url(&bytes);
            prop_assert_eq!(s.len(), 32);
            prop_assert_eq!(decode_base64url_24(&s), Some(bytes));
        }

        #[test]
        fn base64url_refuses_any_other_character(
            bytes in any::<[u8; 24]>(),
            at in 0usize..32,
            c in any::<char>().prop_filter("not base64url", |c| {
                !c.is_ascii_alphanumeric() && *c != '-' && *c != '_'
            }),
        ) {
            // One character replaced by anything outside the alphabet (the standard
            // alphabet's `+` and `/`, padding, controls, non-ASCII) is no SQ. digest.
            let mut chars: Vec<char> = base64url(&bytes).chars().collect();
            chars[at] = c;
            let s: String = chars.into_iter().collect();
            prop_assert_eq!(decode_base64url_24(&s), None);
        }

        #[test]
        fn a_header_is_found_by_its_identifier_in_any_case(
            fields in proptest::collection::vec("(sp|tr|gi|ref|SP|Gi|[A-Za-z0-9_.:]{0,6})", 1..6),
            flips in any::<u64>(),
        ) {
            let identifier = fields.join("|");
            prop_assume!(!identifier.is_empty());
            let header = format!("{identifier} description");
            let query: String = identifier
                .chars()
                .enumerate()
                .map(|(i, c)| if flips >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            prop_assert!(header_answers_to(&header, &query));
            let (_, keys) = SequenceId::parse(&query).unwrap().alias_keys().unwrap();
            prop_assert!(indexed_accessions(&header)
                .iter()
                .any(|a| keys.contains(&accession_key(a).to_vec())));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = SequenceId::parse(&s);
            let _ = accessions(&s);
        }
    }
}
