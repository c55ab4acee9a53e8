//! Where file bytes live: chat files (message attachments, `services::chatfiles`) and the
//! bytes of group shared files (`rest::group_content`), in one object store — a directory on
//! local disk by default, or a bucket of any S3-compatible store (`object_store`'s
//! `LocalFileSystem` and `AmazonS3`).
//!
//! Keys: a group shared file is `{app_id}/{group_id}/{file_id}` (the same place under the
//! files directory where earlier versions wrote it, so existing data needs no move); a chat
//! file is the folder `chatfiles/{app_id}/{uuid}/` with `file`, `thumbnail` and `meta.json`.
//!
//! [`FileStorage`] also bounds what the server holds in memory for files: uploads are buffered
//! whole (at most [`MAX_UPLOAD_BYTES`] plus framing each) and at most [`UPLOADS_AT_ONCE`] are
//! received at a time; thumbnails are decoded one per core at a time.
//!
//! Invariant: nothing else talks to the object store; no file metadata lives in the database
//! but group shared files' rows (chat file metadata is the `meta.json` object).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, GetResult, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use qun_proto::{ApiError, ErrorCode};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::{S3Config, StorageConfig};

/// The largest file accepted (Agora: 10 MB, for chat files and group shared files alike).
pub const MAX_UPLOAD_BYTES: usize = qun_core::limits::SHARED_FILE_MAX_BYTES;

/// Uploads received at once; more wait their turn (their bodies wait in the kernel). Each
/// holds up to [`MAX_UPLOAD_BYTES`] in memory, so this bounds that memory to about 160 MB.
pub const UPLOADS_AT_ONCE: usize = 16;

/// How long one request to a remote store may take, and all its retries together: a chat
/// upload should fail within seconds when the store is down, not after object_store's
/// default of three minutes.
const REMOTE_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const REMOTE_RETRY_TIMEOUT: Duration = Duration::from_secs(20);

/// The object store and the bounds on file work in memory. Cheap to clone.
#[derive(Clone)]
pub struct FileStorage {
    store: Arc<dyn ObjectStore>,
    /// Where the files are, for logs (`LocalFileSystem(file:///…)`, `AmazonS3(bucket)`).
    description: String,
    uploads: Arc<Semaphore>,
    thumbnails: Arc<Semaphore>,
}

impl std::fmt::Debug for FileStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl FileStorage {
    /// Opens the configured store: creates the local directory, or builds the S3 client.
    pub fn open(config: &StorageConfig) -> anyhow::Result<FileStorage> {
        let store: Arc<dyn ObjectStore> = match config {
            StorageConfig::Local { root } => {
                std::fs::create_dir_all(root).with_context(|| format!("creating files dir {}", root.display()))?;
                // fsync: a file is on disk before its row or metadata says it exists, as it
                // is in a remote store. Cleanup: a chat file's emptied folder goes with it.
                let local = LocalFileSystem::new_with_prefix(root)
                    .with_context(|| format!("opening files dir {}", root.display()))?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                Arc::new(local)
            }
            StorageConfig::S3(s3) => Arc::new(s3_store(s3)?),
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(FileStorage {
            description: store.to_string(),
            store,
            uploads: Arc::new(Semaphore::new(UPLOADS_AT_ONCE)),
            thumbnails: Arc::new(Semaphore::new(cores)),
        })
    }

    /// Says in the log where files go, and warns when the store does not answer (the server
    /// starts anyway: a remote store may come back; uploads fail until it does).
    pub async fn check(&self) {
        match self.store.head(&ObjectPath::from("qun-storage-check")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(storage = %self.description, "file storage ready")
            }
            Err(error) => tracing::warn!(storage = %self.description, %error, "file storage does not answer"),
        }
    }

    /// Waits for a turn to receive an upload (see [`UPLOADS_AT_ONCE`]).
    pub async fn upload_turn(&self) -> SemaphorePermit<'_> {
        self.uploads.acquire().await.expect("the upload semaphore is never closed")
    }

    /// Waits for a turn to decode an image (one per core).
    pub async fn thumbnail_turn(&self) -> SemaphorePermit<'_> {
        self.thumbnails.acquire().await.expect("the thumbnail semaphore is never closed")
    }

    /// Stores `bytes` at `key`, replacing what was there; on local disk it is on disk when
    /// this returns.
    pub async fn put(&self, key: &ObjectPath, bytes: PutPayload) -> Result<(), ApiError> {
        self.store.put(key, bytes).await.map(drop).map_err(|error| self.failed("storing", key, error))
    }

    /// The object at `key` as a stream with its size, or `None` when there is none.
    pub async fn get(&self, key: &ObjectPath) -> Result<Option<GetResult>, ApiError> {
        match self.store.get(key).await {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.failed("reading", key, error)),
        }
    }

    /// The whole object at `key` if it is at most `max_bytes` long (small objects only:
    /// metadata), or `None` when there is none.
    pub async fn get_small(&self, key: &ObjectPath, max_bytes: u64) -> Result<Option<Bytes>, ApiError> {
        let Some(found) = self.get(key).await? else { return Ok(None) };
        if found.meta.size > max_bytes {
            tracing::error!(key = %key, size = found.meta.size, "a metadata object is larger than expected");
            return Err(ApiError::new(ErrorCode::Internal, "internal error"));
        }
        match found.bytes().await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.failed("reading", key, error)),
        }
    }

    /// Removes the object at `key`; one that is not there is already removed.
    pub async fn delete(&self, key: &ObjectPath) -> Result<(), ApiError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.failed("removing", key, error)),
        }
    }

    /// Every object under `prefix`, in no particular order.
    pub fn list(&self, prefix: &ObjectPath) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.store.list(Some(prefix))
    }

    /// Logs a store failure with its details and gives the client the table's 500.
    fn failed(&self, doing: &str, key: &ObjectPath, error: object_store::Error) -> ApiError {
        tracing::error!(storage = %self.description, key = %key, %error, "{doing} a file failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

/// The S3 client: path-style requests (what MinIO, Ceph and local S3 servers expect unless
/// told otherwise), short timeouts and few retries (see [`REMOTE_RETRY_TIMEOUT`]).
fn s3_store(config: &S3Config) -> anyhow::Result<object_store::aws::AmazonS3> {
    // reqwest is built with rustls but no crypto provider, and ring's is installed here, so
    // aws-lc (a C library built with cmake) stays out of the build. rustls deprecated it for
    // lacking post-quantum key exchange, which object storage traffic can do without.
    // Installing fails only when a provider is installed already, which is as good.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&config.bucket)
        .with_region(&config.region)
        .with_allow_http(config.allow_http)
        .with_client_options(
            ClientOptions::new().with_timeout(REMOTE_REQUEST_TIMEOUT).with_allow_http(config.allow_http),
        )
        .with_retry(RetryConfig { max_retries: 3, retry_timeout: REMOTE_RETRY_TIMEOUT, ..RetryConfig::default() });
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        builder = builder.with_access_key_id(key_id).with_secret_access_key(secret);
    }
    builder.build().with_context(|| format!("configuring S3 bucket {}", config.bucket))
}

/// The key of a group shared file's bytes.
pub fn shared_file_key(app_id: i64, group_id: qun_core::GroupId, file_id: &str) -> ObjectPath {
    ObjectPath::from_iter([app_id.to_string(), group_id.to_string(), file_id.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_objects_round_trip_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        let storage = FileStorage::open(&StorageConfig::Local { root: root.clone() }).unwrap();
        let key = ObjectPath::from_iter(["chatfiles", "1", "abc", "file"]);
        storage.put(&key, PutPayload::from_static(b"bytes")).await.unwrap();
        assert!(root.join("chatfiles/1/abc/file").is_file(), "keys are paths under the root");
        assert_eq!(storage.get_small(&key, 100).await.unwrap().as_deref(), Some(&b"bytes"[..]));
        assert!(storage.get_small(&key, 2).await.is_err(), "larger than allowed");
        let listed: Vec<ObjectMeta> =
            futures_util::TryStreamExt::try_collect(storage.list(&ObjectPath::from("chatfiles"))).await.unwrap();
        assert_eq!(listed.iter().map(|meta| meta.location.to_string()).collect::<Vec<_>>(), ["chatfiles/1/abc/file"]);
        storage.delete(&key).await.unwrap();
        storage.delete(&key).await.unwrap();
        assert!(storage.get(&key).await.unwrap().is_none());
        assert!(!root.join("chatfiles/1/abc").exists(), "an emptied folder goes too");
    }

    #[test]
    fn shared_file_keys_keep_the_earlier_layout() {
        let group = qun_core::GroupId::parse("123456").unwrap();
        assert_eq!(shared_file_key(7, group, "42").to_string(), "7/123456/42");
    }
}
