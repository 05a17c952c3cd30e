//! Made files kept on local disk: a Delta Sharing file encoded for a scope that restricts
//! rows or columns (or a commit's change file) must be whole before its size can be
//! listed, and it is served by range afterwards, for as long as its link lives. Held in
//! memory, one large file (a 10 M-row partition under a row constraint) would hold all
//! its bytes; so a file grows in memory only up to a bound and goes on in an unnamed
//! temporary file. Unnamed: nothing is left on disk when dap stops, however it stops,
//! and the bytes are gone once the last holder drops the file.

use std::fs::File;
use std::io::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;

use crate::files::FileRange;
use crate::{Error, Result};

/// A file up to this size stays in memory.
pub const DEFAULT_MEMORY_BYTES: usize = 4 * 1024 * 1024;

/// A stored file is read in pieces of at most this many bytes.
const READ_PIECE: u64 = 4 * 1024 * 1024;

/// Where made files go once they outgrow memory.
#[derive(Debug, Clone)]
pub(crate) struct Storing {
    /// The directory of the unnamed files (the system's temporary directory by default).
    pub dir: PathBuf,
    /// Bytes a made file may hold in memory before it moves to disk.
    pub memory: usize,
}

impl Default for Storing {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir(),
            memory: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// A whole made file on local disk, read by position (no shared cursor, so any number
/// of readers at once).
#[derive(Debug)]
pub struct StoredFile {
    file: File,
    len: u64,
}

/// A made file on its way: in memory until it outgrows [`Storing::memory`].
pub(crate) enum Growing {
    Memory(Vec<u8>),
    Disk(StoredFile),
}

impl Growing {
    pub fn new() -> Self {
        Growing::Memory(Vec::new())
    }

    /// Appends `bytes`, moving what is held to disk once the bound is passed.
    pub async fn append(self, bytes: Bytes, storing: &Storing) -> Result<Self> {
        match self {
            Growing::Memory(mut held) if held.len() + bytes.len() <= storing.memory => {
                held.extend_from_slice(&bytes);
                Ok(Growing::Memory(held))
            }
            Growing::Memory(held) => {
                let dir = storing.dir.clone();
                blocking(move || {
                    let mut file = tempfile::tempfile_in(&dir).map_err(|error| {
                        Error::Io(std::io::Error::new(
                            error.kind(),
                            format!("no temporary file in {}: {error}", dir.display()),
                        ))
                    })?;
                    file.write_all(&held)?;
                    file.write_all(&bytes)?;
                    let len = (held.len() + bytes.len()) as u64;
                    Ok(Growing::Disk(StoredFile { file, len }))
                })
                .await
            }
            Growing::Disk(mut stored) => {
                blocking(move || {
                    stored.file.write_all(&bytes)?;
                    stored.len += bytes.len() as u64;
                    Ok(Growing::Disk(stored))
                })
                .await
            }
        }
    }
}

impl StoredFile {
    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of `range` (clamped to the file), in pieces of at most [`READ_PIECE`],
    /// each read on the blocking pool when the reader wants it.
    pub(crate) fn read(self: &Arc<Self>, range: Range<u64>) -> FileRange {
        let end = range.end.min(self.len);
        let start = range.start.min(end);
        let pieces = (start..end)
            .step_by(READ_PIECE as usize)
            .map(move |at| at..(at + READ_PIECE).min(end));
        let file = Arc::clone(self);
        futures::stream::iter(pieces)
            .then(move |piece| {
                let file = Arc::clone(&file);
                blocking(move || file.read_at(piece))
            })
            .boxed()
    }

    /// Exactly the bytes of `range`, which lies inside the file.
    fn read_at(&self, range: Range<u64>) -> Result<Bytes> {
        let mut bytes = vec![0; (range.end - range.start) as usize];
        read_exact_at(&self.file, &mut bytes, range.start)?;
        Ok(Bytes::from(bytes))
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut bytes: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt as _;
    while !bytes.is_empty() {
        match file.seek_read(bytes, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                bytes = &mut bytes[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// `work` on the blocking pool: file I/O must not hold up the tasks of a runtime thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|stopped| Error::Runtime(format!("file work stopped: {stopped}")))?
}
