//! What a refget request asks for: the API version (from `Accept`) and the sub-sequence
//! (from `start`/`end` or a `Range` header), checked as the specification says.

/// Which refget API version a response speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// refget v1.0.0.
    V1,
    /// refget v2.0.0 (the default).
    V2,
}

/// What kind of body an endpoint produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// Residues: `text/vnd.ga4gh.refget.vX+plain`.
    Text,
    /// JSON: `application/vnd.ga4gh.refget.vX+json`.
    Json,
}

/// The version a request's `Accept` header asks for, or `None` when it accepts nothing the
/// endpoint produces (406). No header, `*/*` and the generic types mean v2.
pub fn negotiate(accept: Option<&str>, body: Body) -> Option<ApiVersion> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(ApiVersion::V2);
    };
    for item in accept.split(',') {
        let media = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let found = match (body, media.as_str()) {
            (Body::Text, "text/vnd.ga4gh.refget.v1.0.0+plain") => Some(ApiVersion::V1),
            (Body::Text, "text/vnd.ga4gh.refget.v2.0.0+plain" | "text/plain" | "text/*") => {
                Some(ApiVersion::V2)
            }
            (Body::Json, "application/vnd.ga4gh.refget.v1.0.0+json") => Some(ApiVersion::V1),
            (
                Body::Json,
                "application/vnd.ga4gh.refget.v2.0.0+json" | "application/json" | "application/*",
            ) => Some(ApiVersion::V2),
            (_, "*/*") => Some(ApiVersion::V2),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Why a sub-sequence cannot be served, as an HTTP status and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 416 or 501.
    pub status: u16,
    /// A short explanation for the JSON error body.
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// The part of a sequence a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slice {
    /// The whole sequence (200).
    Whole,
    /// `start`/`end` query parameters, 0-based half-open (200).
    Query {
        /// First residue, 0-based.
        start: Option<u64>,
        /// One past the last residue.
        end: Option<u64>,
    },
    /// A `Range: bytes=first-last` header, inclusive (206).
    Range {
        /// First byte.
        first: u64,
        /// Last byte.
        last: u64,
    },
}

fn number(s: &str, what: &str) -> Result<u64, Refusal> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(
            400,
            format!("{what} must be a non-negative integer"),
        ));
    }
    s.parse::<u64>()
        .map_err(|_| refuse(400, format!("{what} is too large")))
}

/// Reads `start`/`end` from a raw query string and the `Range` header. Both at once is a
/// bad request, as are malformed values.
pub fn parse_slice(query: Option<&str>, range: Option<&str>) -> Result<Slice, Refusal> {
    let (mut start, mut end) = (None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "start" => start = Some(number(v, "start")?),
            "end" => end = Some(number(v, "end")?),
            _ => {}
        }
    }
    let queried = start.is_some() || end.is_some();
    match range {
        Some(_) if queried => Err(refuse(
            400,
            "give either start/end or a Range header, not both",
        )),
        Some(r) => {
            let spec = r
                .trim()
                .strip_prefix("bytes=")
                .ok_or_else(|| refuse(400, "only Range: bytes=first-last is supported"))?;
            let (a, b) = spec
                .split_once('-')
                .ok_or_else(|| refuse(400, "Range must be bytes=first-last"))?;
            let (first, last) = (number(a, "range start")?, number(b, "range end")?);
            Ok(Slice::Range { first, last })
        }
        None if queried => Ok(Slice::Query { start, end }),
        None => Ok(Slice::Whole),
    }
}

impl Slice {
    /// The bytes to send of a sequence of `len` residues, and whether the answer is partial
    /// content (206); or the refusal the specification names.
    pub fn resolve(&self, len: u64) -> Result<(std::ops::Range<usize>, bool), Refusal> {
        match *self {
            Slice::Whole => Ok((0..len as usize, false)),
            Slice::Query { start, end } => {
                let s = start.unwrap_or(0);
                let e = end.unwrap_or(len);
                if start.is_some() && s >= len {
                    return Err(refuse(
                        416,
                        format!("start {s} is past the last residue ({len} residues)"),
                    ));
                }
                if e > len {
                    return Err(refuse(
                        416,
                        format!("end {e} is past the end ({len} residues)"),
                    ));
                }
                if s > e {
                    return Err(refuse(
                        501,
                        "start is after end: circular sequences are not supported",
                    ));
                }
                Ok((s as usize..e as usize, false))
            }
            Slice::Range { first, last } => {
                if first > last {
                    return Err(refuse(416, "the range's first byte is after its last"));
                }
                if first >= len {
                    return Err(refuse(
                        416,
                        format!("range starts past the end ({len} residues)"),
                    ));
                }
                let last = last.min(len - 1);
                Ok((first as usize..last as usize + 1, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(query: Option<&str>, range: Option<&str>, len: u64) -> u16 {
        match parse_slice(query, range).and_then(|s| s.resolve(len)) {
            Ok((_, true)) => 206,
            Ok((_, false)) => 200,
            Err(r) => r.status,
        }
    }

    #[test]
    fn compliance_cases() {
        // The refget compliance suite's cases (sequence lengths 230218 and 5386).
        for (q, want) in [
            ("start=10&end=10", 200),
            ("start=230217&end=230218", 200),
            ("end=0", 200),
            ("&end=230218", 200),
            ("start=abc&end=20", 400),
            ("start=-10&end=-29", 400),
            ("start=220218&end=671", 501),
        ] {
            assert_eq!(status(Some(q), None, 230218), want, "{q}");
        }
        for (q, want) in [
            ("start=67&end=5387", 416),
            ("start=5386&end=5375", 416),
            ("start=5386&end=5386", 416),
            ("start=5386&end=5", 416),
            ("start=20&end=4", 501),
        ] {
            assert_eq!(status(Some(q), None, 5386), want, "{q}");
        }
        for (r, want) in [
            ("units=20-30", 400),
            ("bytes=ab-19", 400),
            ("bytes=-10--19", 400),
            ("bytes=10--19", 400),
            ("bytes=-10-", 400),
            ("bytes==10-19", 400),
            ("bytes=99999999999999999999999-1", 400),
            ("bytes=5200-19", 416),
            ("bytes=5387-5391", 416),
            ("bytes=5386-5387", 416),
            ("bytes=0-0", 206),
            ("bytes=10-999999", 206),
        ] {
            assert_eq!(status(None, Some(r), 5386), want, "{r}");
        }
        assert_eq!(status(Some("start=1"), Some("bytes=0-1"), 10), 400);
        assert_eq!(
            parse_slice(None, Some("bytes=10-999999"))
                .unwrap()
                .resolve(5386)
                .unwrap()
                .0,
            10..5386
        );
    }

    #[test]
    fn accept_headers() {
        use ApiVersion::*;
        assert_eq!(negotiate(None, Body::Text), Some(V2));
        assert_eq!(
            negotiate(Some("text/vnd.ga4gh.refget.v1.0.0+plain"), Body::Text),
            Some(V1)
        );
        assert_eq!(
            negotiate(Some("application/vnd.ga4gh.refget.v1.0.0+json"), Body::Json),
            Some(V1)
        );
        assert_eq!(
            negotiate(Some("application/json, */*;q=0.1"), Body::Json),
            Some(V2)
        );
        assert_eq!(negotiate(Some("embl/some_json"), Body::Text), None);
        assert_eq!(negotiate(Some("text/plain"), Body::Json), None);
    }
}
