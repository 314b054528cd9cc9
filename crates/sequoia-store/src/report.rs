//! What checks find wrong: [`Problem`]s that `verify` and `rebuild-index` report, and the
//! [`OpenProblem`]s of files a store could not use when it was opened.

use std::path::PathBuf;

use pack_format::SequenceHash;

/// One thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Byte offset in the file (for v1 packs: in the decompressed pack), when known.
    pub offset: Option<u64>,
    /// The sequence concerned, when known.
    pub hash: Option<SequenceHash>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(o) = self.offset {
            write!(f, " at byte {o}")?;
        }
        if let Some(h) = self.hash {
            write!(f, " (sequence {h})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Something found unreadable while opening: reported, left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenProblem {
    /// The file.
    pub path: PathBuf,
    /// Why it could not be used.
    pub reason: String,
}
