//! Where the WAL's records go. The driver needs three things of a storage: append a record
//! (buffered), make what was appended durable, and start afresh at a height. The node keeps its
//! WAL in a file ([`crate::wal_file::WalFile`]); the simulation keeps it in memory
//! ([`MemoryWal`]), where a crash keeps only what was synced.

use crate::wal::{WalEntry, WalError, encode_record, read_records};

/// A WAL's storage.
pub trait WalStorage {
    type Error;

    /// Buffers a record; it is durable after the next [`WalStorage::sync`].
    fn append(&mut self, entry: &WalEntry);

    /// Makes every appended record durable.
    fn sync(&mut self) -> Result<(), Self::Error>;

    /// Replaces the log, durably, with one that begins at `height`: what came before is
    /// obsolete once the ledger holds the block below it.
    fn start_height(&mut self, height: u64) -> Result<(), Self::Error>;
}

/// A WAL in memory: the bytes a disk would hold, and how many of them are durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryWal {
    bytes: Vec<u8>,
    durable: usize,
}

impl MemoryWal {
    /// A WAL holding `bytes`, all durable (what a restarted process reads).
    pub fn from_bytes(bytes: Vec<u8>) -> MemoryWal {
        MemoryWal {
            durable: bytes.len(),
            bytes,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes appended and not yet synced.
    pub fn pending(&self) -> usize {
        self.bytes.len() - self.durable
    }

    /// What a crash leaves: the durable bytes and `torn` bytes of what was being written (a
    /// torn final record), cut to a whole record as a restart would.
    pub fn crash(&self, torn: usize) -> Result<MemoryWal, WalError> {
        let kept = self.durable + torn.min(self.pending());
        let mut bytes = self.bytes[..kept].to_vec();
        bytes.truncate(read_records(&bytes)?.valid_len);
        Ok(MemoryWal::from_bytes(bytes))
    }
}

impl WalStorage for MemoryWal {
    type Error = std::convert::Infallible;

    fn append(&mut self, entry: &WalEntry) {
        self.bytes.extend_from_slice(&encode_record(entry));
    }

    fn sync(&mut self) -> Result<(), Self::Error> {
        self.durable = self.bytes.len();
        Ok(())
    }

    fn start_height(&mut self, height: u64) -> Result<(), Self::Error> {
        self.bytes = encode_record(&WalEntry::Height(height));
        self.durable = self.bytes.len();
        Ok(())
    }
}
