//! Entry indexes: the multi-pack index of entry rows (kind 6).

pub(crate) mod access;
pub(crate) mod write;
