//! Receiving a delivery's file: streamed chunk by chunk into a temporary file (never held
//! whole in memory), hashed on the way (the default delivery id), refused past the size
//! limit. The directory and everything staged in it are removed when the [`Upload`] is
//! dropped, whatever happened to the delivery.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::app::AppError;

/// A file being received.
#[derive(Debug)]
pub struct UploadSink {
    dir: tempfile::TempDir,
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
}

/// A file received whole.
#[derive(Debug)]
pub struct Upload {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub bytes: u64,
}

impl UploadSink {
    pub(crate) fn create(staging: Option<&Path>, limit: u64) -> Result<Self, AppError> {
        let dir = match staging {
            Some(root) => tempfile::Builder::new()
                .prefix("dap-delivery-")
                .tempdir_in(root),
            None => tempfile::Builder::new().prefix("dap-delivery-").tempdir(),
        }
        .map_err(AppError::internal)?;
        let path = dir.path().join("upload");
        let file = std::fs::File::create(&path).map_err(AppError::internal)?;
        Ok(Self {
            dir,
            path,
            file: tokio::fs::File::from_std(file),
            hasher: Sha256::new(),
            bytes: 0,
            limit,
        })
    }

    /// Appends a chunk; past the limit the delivery is refused (413) and nothing more
    /// is written.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        self.bytes += u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        if self.bytes > self.limit {
            return Err(AppError::PayloadTooLarge(format!(
                "the file is larger than the {} bytes a delivery may have; split it into several deliveries",
                self.limit
            )));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(AppError::internal)
    }

    /// The file, once every byte arrived.
    pub async fn finish(mut self) -> Result<Upload, AppError> {
        self.file.flush().await.map_err(AppError::internal)?;
        self.file.sync_all().await.map_err(AppError::internal)?;
        let digest = self.hasher.finalize();
        Ok(Upload {
            dir: self.dir,
            path: self.path,
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            bytes: self.bytes,
        })
    }
}
