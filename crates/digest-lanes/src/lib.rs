//! MD5 and SHA-512 of many messages at once: one message per SIMD lane, sixteen (MD5) or
//! eight (SHA-512) in AVX-512 registers, eight or four in AVX2 registers, else one after
//! another with `md-5` and `sha2`, whose digests these are (property-tested).
//!
//! A SEQUOIA import computes the MD5 (refget v1) and SHA-512 (the GA4GH `sha512t24u`) of
//! every new sequence, and `find_many` recomputes them for the sequences it finds by
//! digest. One message at a time, each hash is a chain of dependent word operations; the
//! lanes run as many chains side by side. `benches/lanes.rs` measures both ways on the
//! same messages (`cargo bench -p digest-lanes`): the lanes stay only while they beat the
//! crates by more than the machine's noise.
//!
//! # Examples
//! ```
//! use md5::Digest as _;
//! let messages: Vec<&[u8]> = vec![b"MKVLA", b"", b"ACGT"];
//! let md5s = digest_lanes::md5_each(&messages);
//! assert_eq!(md5s[0], <[u8; 16]>::from(md5::Md5::digest(b"MKVLA")));
//! let sha512s = digest_lanes::sha512_each(&messages);
//! assert_eq!(sha512s[2], <[u8; 64]>::from(sha2::Sha512::digest(b"ACGT")));
//! ```
#![warn(missing_docs)]

mod md5_lanes;
mod schedule;
mod sha512_lanes;

pub use md5_lanes::md5_each;
pub use sha512_lanes::sha512_each;
