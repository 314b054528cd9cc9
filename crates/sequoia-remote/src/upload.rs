//! Packs uploaded while an import goes on: each as soon as the writer closes it.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use pack_io::PackClosedHook;

use crate::cache::RemoteStore;
use crate::client::{Created, ObjectClient};
use crate::RemoteError;

/// The uploads a writer's closed packs started ([`RemoteStore::upload_as_closed`]).
pub struct EarlyUploads {
    tx: Sender<Option<(u32, PathBuf)>>,
    thread: JoinHandle<Result<Vec<u32>, RemoteError>>,
}

impl EarlyUploads {
    /// Waits for the uploads started so far; the ids of the packs uploaded, or the first
    /// failure (a pack name another writer created first among them).
    pub fn finish(self) -> Result<Vec<u32>, RemoteError> {
        let _ = self.tx.send(None);
        self.thread.join().unwrap_or_else(|_| {
            Err(RemoteError::Mismatch(
                "the pack upload thread stopped".into(),
            ))
        })
    }
}

fn upload(
    client: &ObjectClient,
    cache: &std::path::Path,
    id: u32,
    temp: &std::path::Path,
) -> Result<bool, RemoteError> {
    let name = pack_io::pack_file_name(id);
    // Renamed to its final name by a commit that came first: the same bytes.
    let data = match std::fs::read(temp) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let published = cache.join("packs").join(&name);
            match std::fs::read(&published) {
                Ok(d) => d,
                // Gone (the import failed and removed it): nothing to upload.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(source) => {
                    return Err(RemoteError::Io {
                        path: published,
                        source,
                    })
                }
            }
        }
        Err(source) => {
            return Err(RemoteError::Io {
                path: temp.to_path_buf(),
                source,
            })
        }
    };
    let rel = format!("packs/{name}");
    match client.put_create(&rel, data)? {
        Created::Yes => Ok(true),
        Created::Exists => Err(RemoteError::Mismatch(format!(
            "{}: another writer created it first (it numbers its packs as this one does); nothing of this commit is visible; run it again",
            client.url_of(&rel)
        ))),
    }
}

impl RemoteStore {
    /// A hook for [`sequoia_store::StoreOptions::on_pack_closed`] that uploads each pack the
    /// writer closes (create-only), on a thread of its own, while the import goes on;
    /// [`publish`](Self::publish) then uploads only what is left. After the first failure
    /// the thread uploads nothing more and [`EarlyUploads::finish`] returns the failure.
    pub fn upload_as_closed(&self) -> (PackClosedHook, EarlyUploads) {
        let (tx, rx) = channel::<Option<(u32, PathBuf)>>();
        let client: Arc<ObjectClient> = self.client().clone();
        let cache = self.cache_dir().to_path_buf();
        let thread = std::thread::spawn(move || {
            let mut uploaded = Vec::new();
            while let Ok(Some((id, temp))) = rx.recv() {
                if upload(&client, &cache, id, &temp)? {
                    uploaded.push(id);
                }
            }
            Ok(uploaded)
        });
        let hook_tx = std::sync::Mutex::new(tx.clone());
        let hook = PackClosedHook(Arc::new(move |id, path: &std::path::Path| {
            let tx = hook_tx.lock().unwrap_or_else(|p| p.into_inner());
            let _ = tx.send(Some((id, path.to_path_buf())));
        }));
        (hook, EarlyUploads { tx, thread })
    }
}
