//! Lookups in alias indexes (kinds 3 MD5, 4 sha512t24u, 5 accession): key → SHA-256
//! prefix.

use crate::file::{leading, Matching, PackIndex};
use crate::{cut_prefix, AliasKey, AliasLayout, Error, HashPrefix, ALIAS_KEY_LEN};

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// The widths of an alias index's rows (`None` for other kinds).
    pub fn alias_layout(&self) -> Option<AliasLayout> {
        self.kind.is_alias().then_some(AliasLayout {
            key_len: self.key_len,
            value_len: self.value_len,
        })
    }

    /// The SHA-256 prefix of row `i` (`i < len()`) of an alias index: its
    /// [`AliasLayout::value_len`] bytes, the rest zero.
    pub fn alias_prefix(&self, i: u64) -> HashPrefix {
        leading(self.value_bytes(i))
    }

    /// Every SHA-256 prefix stored under `key` in an alias index, in order, each of the
    /// index's [`AliasLayout::value_len`] bytes (the rest zero). `key` is the whole key of
    /// the kind (16 bytes for MD5, 24 for `sha512t24u`, 8 for an accession key); an index
    /// whose keys are shorter is read under its first bytes, so that rows of another key
    /// with those first bytes may come too: the caller checks what it finds. The bucket
    /// read is checked against its CRC.
    pub fn lookup_alias(&self, key: &[u8]) -> Result<AliasLookup<'_, T>, Error> {
        if !self.kind.is_alias() || key.len() != self.kind.key_len() {
            return Err(self.wrong_kind(&format!("an alias lookup of {} bytes", key.len())));
        }
        self.matching(&key[..self.key_len]).map(AliasLookup)
    }

    /// Every row of an alias index whose keys have `N` bytes, in key order, each bucket
    /// checked against its CRC first.
    pub fn checked_alias_rows<const N: usize>(&self) -> Result<Vec<([u8; N], HashPrefix)>, Error> {
        if !self.kind.is_alias() || self.key_len != N {
            return Err(self.wrong_kind(&format!("reading alias rows of {N}-byte keys")));
        }
        self.checked_rows(|i, slot| self.alias_row_in::<N>(i, slot))
    }

    /// Every row of an alias index of any layout as [`AliasLayout::COMPACT`] holds it:
    /// keys cut to [`ALIAS_KEY_LEN`] bytes, prefixes to [`ALIAS_VALUE_LEN`](crate::ALIAS_VALUE_LEN),
    /// sorted, each row once; each bucket checked against its CRC first. This is how a
    /// commit carries the rows of an index written by an earlier build into its own.
    pub fn checked_compact_alias_rows(&self) -> Result<Vec<(AliasKey, HashPrefix)>, Error> {
        if !self.kind.is_alias() {
            return Err(self.wrong_kind("reading alias rows"));
        }
        let layout = AliasLayout::COMPACT;
        let mut rows = self.checked_rows(|i, slot| {
            let key: AliasKey = leading(&self.key_in(i, slot)[..ALIAS_KEY_LEN]);
            (key, cut_prefix(self.alias_prefix(i), layout.value_len))
        })?;
        rows.sort_unstable();
        rows.dedup();
        Ok(rows)
    }

    /// Row `i` (`i < len()`, in fan-out slot `slot`) of an alias index whose keys have `N`
    /// bytes (callers check).
    pub(crate) fn alias_row_in<const N: usize>(
        &self,
        i: u64,
        slot: usize,
    ) -> ([u8; N], HashPrefix) {
        (leading(&self.key_in(i, slot)), self.alias_prefix(i))
    }
}

/// The SHA-256 prefixes stored under one alias key, from [`PackIndex::lookup_alias`].
pub struct AliasLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for AliasLookup<'_, T> {
    type Item = HashPrefix;

    fn next(&mut self) -> Option<HashPrefix> {
        self.0.next_row().map(|i| self.0.index.alias_prefix(i))
    }
}
