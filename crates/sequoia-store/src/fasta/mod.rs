//! FASTA in and out: [`read`] is the strict streaming reader imports use, [`write`] formats
//! stored sequences as records (`get`, `export`, the server's batches).

pub mod read;
pub mod write;

pub use read::*;
pub use write::{write_found, write_record, write_sequence};
