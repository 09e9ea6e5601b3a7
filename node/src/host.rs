//! What the node needs of the machine it runs on: enough file descriptors for its connection
//! caps and RocksDB, and free disk space. Running short of either must be a clear refusal, never
//! a failure in the middle of a block.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::sync::watch;

use crate::limits::{DISK_CHECK_INTERVAL, OPEN_FILES_WANTED};
use crate::node::Shared;

/// The open-file limit after [`raise_open_file_limit`]: what was there, and what is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    pub before: u64,
    pub now: u64,
}

/// Raises the soft open-file limit to [`OPEN_FILES_WANTED`] (and the hard one, where the
/// process may), so the connection cap and RocksDB's files fit whatever limit the service
/// manager set. It never lowers a limit.
pub fn raise_open_file_limit() -> std::io::Result<OpenFileLimit> {
    let wanted = OPEN_FILES_WANTED as u64;
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    if before >= wanted {
        return Ok(OpenFileLimit {
            before,
            now: before,
        });
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(wanted),
        maximum: limit.maximum.map(|hard| hard.max(wanted)),
    };
    // Raising the hard limit needs privileges; without them, go as far as the hard limit.
    if setrlimit(Resource::Nofile, raised).is_err() {
        let capped = Rlimit {
            current: Some(wanted.min(hard)),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, capped)?;
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    Ok(OpenFileLimit { before, now })
}

/// Free space as the watermark sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub free_bytes: u64,
    pub min_bytes: u64,
}

impl DiskSpace {
    pub fn is_low(&self) -> bool {
        self.free_bytes < self.min_bytes
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stats = rustix::fs::statvfs(path)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Measures the data directory now, then every [`DISK_CHECK_INTERVAL`], publishing on one
/// channel (this task is its only writer) and in the metrics.
pub fn watch_disk(
    shared: Arc<Shared>,
    data_dir: PathBuf,
    min_bytes: u64,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<watch::Receiver<DiskSpace>> {
    let measure = move |shared: &Shared| -> std::io::Result<DiskSpace> {
        let space = DiskSpace {
            free_bytes: free_bytes(&data_dir)?,
            min_bytes,
        };
        let metrics = &shared.metrics;
        metrics
            .disk_free_bytes
            .store(space.free_bytes, Ordering::Relaxed);
        metrics
            .disk_space_low
            .store(u64::from(space.is_low()), Ordering::Relaxed);
        Ok(space)
    };
    let first = measure(&shared)?;
    if first.is_low() {
        tracing::warn!(
            free = first.free_bytes,
            min = min_bytes,
            "disk space below the watermark: refusing new events"
        );
    }
    let (sender, receiver) = watch::channel(first);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DISK_CHECK_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            match measure(&shared) {
                Ok(space) => {
                    let was_low = sender.borrow().is_low();
                    if space.is_low() != was_low {
                        tracing::warn!(
                            free = space.free_bytes,
                            min = min_bytes,
                            low = space.is_low(),
                            "disk space crossed the watermark"
                        );
                    }
                    sender.send_replace(space);
                }
                Err(error) => tracing::warn!(%error, "cannot measure free disk space"),
            }
        }
    });
    Ok(receiver)
}
