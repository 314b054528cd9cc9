//! Location indexes: `pack_NNNN.idx` (kind 1) and the multi-pack index of location rows
//! (kind 2).

pub(crate) mod access;
pub(crate) mod write;
