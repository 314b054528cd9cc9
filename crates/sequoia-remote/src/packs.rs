//! The packs of a remote store as [`pack_io::remote`] reads them.

use std::ops::Range;
use std::sync::Arc;

use pack_format::PackId;
use pack_io::remote::{RangeSource, RemotePacks};

use crate::client::ObjectClient;

/// The `packs/` objects of a store on object storage.
#[derive(Debug, Clone)]
pub struct PackObjects {
    client: Arc<ObjectClient>,
}

impl PackObjects {
    /// The packs under `client`'s prefix.
    pub fn new(client: Arc<ObjectClient>) -> PackObjects {
        PackObjects { client }
    }
}

struct PackObject {
    client: Arc<ObjectClient>,
    rel: String,
    url: String,
}

fn io(e: crate::RemoteError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl RangeSource for PackObject {
    fn name(&self) -> &str {
        &self.url
    }

    fn read_suffix(&self, n: u64) -> std::io::Result<(u64, Vec<u8>)> {
        self.client.suffix(&self.rel, n).map_err(io)
    }

    fn read_ranges(&self, ranges: &[Range<u64>]) -> std::io::Result<Vec<Vec<u8>>> {
        self.client.ranges(&self.rel, ranges).map_err(io)
    }
}

impl RemotePacks for PackObjects {
    fn pack(&self, name: &str) -> std::io::Result<Arc<dyn RangeSource>> {
        let rel = format!("packs/{name}");
        Ok(Arc::new(PackObject {
            url: self.client.url_of(&rel),
            client: self.client.clone(),
            rel,
        }))
    }

    fn pack_ids(&self) -> std::io::Result<Vec<PackId>> {
        let listed = self.client.list("packs").map_err(io)?;
        Ok(listed
            .iter()
            .filter_map(|l| pack_io::parse_pack_file_name(&l.name))
            .collect())
    }
}
