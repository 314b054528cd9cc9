//! Alias indexes: `alias-md5.idx`, `alias-sha512t24u.idx`, `alias-accession.idx` (kinds
//! 3-5).

pub(crate) mod access;
pub(crate) mod write;
