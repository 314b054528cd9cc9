//! FASTA in and out: [`read`](mod@read) is the strict streaming reader imports use;
//! [`write`](mod@write) formats stored sequences as records (`get`, `export`).

pub mod read;
pub mod write;

pub use read::*;
pub use write::{write_found, write_record, write_sequence};
