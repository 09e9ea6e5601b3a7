//! The consensus write-ahead log on disk: `consensus.wal` in the data directory. Appends are
//! buffered; `sync` makes them durable (fsync) and is called before any signed message leaves
//! the node. A torn final record is cut off on open; any other damage stops the node. This is
//! the crate's one module that touches the file system; the driver sees only [`WalStorage`].

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::storage::WalStorage;
use crate::wal::{WalContents, WalEntry, WalError, encode_record, read_records};

#[derive(Debug, thiserror::Error)]
pub enum WalFileError {
    #[error("consensus WAL {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("consensus WAL {path}: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: WalError,
    },
}

#[derive(Debug)]
pub struct WalFile {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
}

impl WalFile {
    /// Opens (or creates) the WAL and reads it, cutting a torn final record off.
    pub fn open(path: &Path) -> Result<(WalFile, WalContents), WalFileError> {
        let io = |error: std::io::Error| WalFileError::Io {
            path: path.to_path_buf(),
            reason: error.to_string(),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let contents = read_records(&bytes).map_err(|source| WalFileError::Damaged {
            path: path.to_path_buf(),
            source,
        })?;
        if contents.torn_tail {
            file.set_len(contents.valid_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            WalFile {
                path: path.to_path_buf(),
                file,
                pending: Vec::new(),
            },
            contents,
        ))
    }

    fn io(&self) -> impl Fn(std::io::Error) -> WalFileError + use<> {
        let path = self.path.clone();
        move |error| WalFileError::Io {
            path: path.clone(),
            reason: error.to_string(),
        }
    }
}

impl WalStorage for WalFile {
    type Error = WalFileError;

    fn append(&mut self, entry: &WalEntry) {
        self.pending.extend_from_slice(&encode_record(entry));
    }

    /// Writes what is buffered and fsyncs.
    fn sync(&mut self) -> Result<(), WalFileError> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending).map_err(self.io())?;
            self.pending.clear();
        }
        self.file.sync_data().map_err(self.io())
    }

    /// Starts a new height: the old records are obsolete once the ledger holds the block. The
    /// new file is written beside the old one and renamed over it, so a crash leaves one or the
    /// other whole.
    fn start_height(&mut self, height: u64) -> Result<(), WalFileError> {
        let fresh = self.path.with_extension("wal.new");
        let io = self.io();
        let mut file = File::create(&fresh).map_err(&io)?;
        file.write_all(&encode_record(&WalEntry::Height(height)))
            .map_err(&io)?;
        file.sync_all().map_err(&io)?;
        fs::rename(&fresh, &self.path).map_err(&io)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(&io)?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(&io)?;
        self.pending.clear();
        Ok(())
    }
}
