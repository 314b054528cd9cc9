//! Lookups in alias indexes (kinds 3 MD5, 4 sha512t24u, 5 accession): key → SHA-256
//! prefix.

use crate::file::{leading, Matching, PackIndex};
use crate::{cut_key, cut_prefix, AliasKey, AliasLayout, Error, HashPrefix, ALIAS_KEY_LEN};

/// An alias index: `alias-md5.idx`, `alias-sha512t24u.idx` or `alias-accession.idx`
/// (kinds 3-5), from [`PackIndex::as_alias`].
#[derive(Debug)]
pub struct AliasIndex<'a, T>(pub(crate) &'a PackIndex<T>);

impl<T> Clone for AliasIndex<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for AliasIndex<'_, T> {}

impl<T: AsRef<[u8]>> PackIndex<T> {
    /// This index as an alias index (kinds 3-5), or an error naming its kind.
    pub fn as_alias(&self) -> Result<AliasIndex<'_, T>, Error> {
        if !self.kind.is_alias() {
            return Err(self.wrong_kind("alias lookups"));
        }
        Ok(AliasIndex(self))
    }

    /// The SHA-256 prefix of row `i` (`i < len()`) of an alias index: its
    /// [`AliasLayout::value_len`] bytes, the rest zero.
    pub(crate) fn alias_prefix(&self, i: u64) -> HashPrefix {
        leading(&self.value_bytes(i))
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

impl<'a, T: AsRef<[u8]>> AliasIndex<'a, T> {
    /// The index file.
    pub fn index(&self) -> &'a PackIndex<T> {
        self.0
    }

    /// The widths of its rows.
    pub fn layout(&self) -> AliasLayout {
        AliasLayout {
            key_len: self.0.key_len,
            value_len: self.0.value_len,
        }
    }

    /// Whether its rows name entries (pack and entry table row, as entry rows do) rather
    /// than SHA-256 prefixes: [`lookup_entries`](Self::lookup_entries) reads them.
    pub fn names_entries(&self) -> bool {
        self.0.entry_widths.is_some()
    }

    /// The entries named under `key` (whole, as for [`lookup`](Self::lookup)), in order,
    /// each as an [`EntryRow`](crate::EntryRow) whose `prefix` holds the index's first
    /// key bytes: an index whose rows [`name entries`](Self::names_entries). Rows of
    /// another key with those first bytes may come too: the caller checks what it finds.
    /// The bucket read is checked against its CRC.
    pub fn lookup_entries(&self, key: &[u8]) -> Result<crate::EntryLookup<'a, T>, Error> {
        let ix = self.0;
        if key.len() != ix.kind.key_len() || !self.names_entries() {
            return Err(ix.wrong_kind(&format!(
                "an entry lookup of {} bytes in an alias index naming {}",
                key.len(),
                if self.names_entries() {
                    "entries"
                } else {
                    "SHA-256 prefixes"
                }
            )));
        }
        ix.matching(&key[..ix.key_len]).map(crate::EntryLookup)
    }

    /// Every row of an index whose rows [`name entries`](Self::names_entries), in key order,
    /// each as an [`EntryRow`](crate::EntryRow) whose `prefix` holds the key's bytes (the
    /// rest zero); each bucket checked against its CRC first.
    pub fn checked_entry_rows(&self) -> Result<Vec<crate::EntryRow>, Error> {
        let ix = self.0;
        if !self.names_entries() {
            return Err(ix.wrong_kind("reading entries of rows that hold SHA-256 prefixes"));
        }
        ix.checked_rows(|i, slot| ix.entry_row_in(i, slot))
    }

    /// Every SHA-256 prefix stored under `key`, in order, each of the index's
    /// [`AliasLayout::value_len`] bytes (the rest zero). `key` is the whole key of the kind
    /// (16 bytes for MD5, 24 for `sha512t24u`, 8 for an accession key); an index whose keys
    /// are shorter is read under its first bytes, so that rows of another key with those
    /// first bytes may come too: the caller checks what it finds. The bucket read is
    /// checked against its CRC.
    pub fn lookup(&self, key: &[u8]) -> Result<AliasLookup<'a, T>, Error> {
        let ix = self.0;
        if key.len() != ix.kind.key_len() || self.names_entries() {
            return Err(ix.wrong_kind(&format!(
                "an alias lookup of {} bytes for SHA-256 prefixes",
                key.len()
            )));
        }
        ix.matching(&key[..ix.key_len]).map(AliasLookup)
    }

    /// Every row whose keys have `N` bytes, in key order, each bucket checked against its
    /// CRC first.
    pub fn checked_rows<const N: usize>(&self) -> Result<Vec<([u8; N], HashPrefix)>, Error> {
        let ix = self.0;
        if ix.key_len != N || self.names_entries() {
            return Err(ix.wrong_kind(&format!("reading alias rows of {N}-byte keys")));
        }
        ix.checked_rows(|i, slot| ix.alias_row_in::<N>(i, slot))
    }

    /// Every row, of any layout, as [`AliasLayout::COMPACT`] holds it: keys cut to
    /// [`ALIAS_KEY_LEN`] bytes, prefixes to [`ALIAS_VALUE_LEN`](crate::ALIAS_VALUE_LEN),
    /// sorted, each row once; each bucket checked against its CRC first. Keys of fewer
    /// bytes come zero-padded ([`cut_key`](crate::cut_key)).
    pub fn checked_compact_rows(&self) -> Result<Vec<(AliasKey, HashPrefix)>, Error> {
        self.checked_rows_as(AliasLayout::COMPACT)
    }

    /// Every row, of any layout, cut to `layout` (keys to its key length, at most
    /// [`ALIAS_KEY_LEN`] bytes, and zero-padded; prefixes to its value length), sorted,
    /// each row once; each bucket checked against its CRC first. This is how a commit
    /// carries the rows of an index of another layout (an earlier build's, or wider) into
    /// its own.
    pub fn checked_rows_as(
        &self,
        layout: AliasLayout,
    ) -> Result<Vec<(AliasKey, HashPrefix)>, Error> {
        let ix = self.0;
        if self.names_entries() {
            return Err(ix.wrong_kind("reading SHA-256 prefixes of rows that name entries"));
        }
        let mut rows = ix.checked_rows(|i, slot| {
            let key: AliasKey = leading(&ix.key_in(i, slot)[..ALIAS_KEY_LEN]);
            (
                cut_key(key, layout.key_len),
                cut_prefix(ix.alias_prefix(i), layout.value_len),
            )
        })?;
        rows.sort_unstable();
        rows.dedup();
        Ok(rows)
    }
}

/// The SHA-256 prefixes stored under one alias key, from [`AliasIndex::lookup`].
pub struct AliasLookup<'a, T>(Matching<'a, T>);

impl<T: AsRef<[u8]>> Iterator for AliasLookup<'_, T> {
    type Item = HashPrefix;

    fn next(&mut self) -> Option<HashPrefix> {
        self.0.next_row().map(|i| self.0.index.alias_prefix(i))
    }
}
