//! One server per data directory: `qun serve` holds an exclusive OS lock on `qun.lock` in the
//! data directory for as long as the process lives, so a second server on the same directory
//! refuses to start instead of sharing the database, files and credentials.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on Windows): it goes away
//! when the process exits, crash included, so a stale `qun.lock` file left behind never blocks
//! a start. The file holds the holder's PID, for the error message of the one refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "qun.lock";

/// The held lock on a data directory; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Creates `data_dir` if needed and takes its lock, or fails at once if another process holds
/// it, naming that process's PID.
pub fn lock(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    // No truncation here: the file may belong to the running server, whose PID is in it.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = holder_pid(&mut file).map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
            anyhow::bail!(
                "the data directory {} is in use by another qun ({holder}); stop it or use another --data-dir",
                shown(data_dir).display()
            );
        }
        Err(TryLockError::Error(error)) => {
            return Err(error).with_context(|| format!("locking {}", path.display()));
        }
    }
    let pid = std::process::id();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{pid}"))
        .and_then(|()| file.flush())
        .with_context(|| format!("writing the pid to {}", path.display()))?;
    Ok(DataDirLock { _file: file })
}

/// The PID written by the lock's holder. The holder writes it just after locking, so an empty
/// file is read again a few times before giving up.
fn holder_pid(file: &mut File) -> Option<u32> {
    for _ in 0..10 {
        let mut text = String::new();
        if file.rewind().is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The directory as the operator knows it: absolute when that can be found.
fn shown(data_dir: &Path) -> PathBuf {
    std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let held = lock(dir.path()).expect("first lock");
        let error = lock(dir.path()).expect_err("second lock").to_string();
        assert!(error.contains(&format!("pid {}", std::process::id())), "{error}");
        assert!(error.contains("in use by another qun"), "{error}");
        drop(held);
        lock(dir.path()).expect("the lock is free again once dropped");
    }
}
