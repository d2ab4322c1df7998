//! The files a sync keeps beside its target until it publishes: named after the target, private
//! to the user from the moment they exist, guarded by a lock, and removed by the next run when
//! an earlier one was killed before it could remove them itself.
//!
//! For a target `sync.c1z` they are `.sync.c1z.lock` (an empty file, kept: the lock is `flock`
//! on it, held for the whole run), `.sync.c1z.work-XXXXXX/` (index keys spilled to disk, and
//! the merge of a sync into an existing file) and `.sync.c1z.out-XXXXXX.tmp` (the new file
//! before its rename). A run that takes the lock owns every work file of that target: none can
//! belong to a live run, so it removes them. What an interruption can leave is therefore bounded by one run's work files.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::C1zError;

/// Files and folders only the user can read: identity data waits in them.
#[cfg(unix)]
const PRIVATE_FILE: u32 = 0o600;
#[cfg(unix)]
const PRIVATE_DIR: u32 = 0o700;

/// The exclusive lock on a target, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct TargetLock {
    _file: File,
}

/// The folder a target lives in (`.` for a bare file name).
pub fn target_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn target_name(target: &Path) -> String {
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "c1z".into())
}

/// `.NAME.work-`: the prefix of a target's merge folders.
pub fn work_prefix(target: &Path) -> String {
    format!(".{}.work-", target_name(target))
}

/// `.NAME.out-`: the prefix of a target's unpublished files (suffix `.tmp`).
pub fn out_prefix(target: &Path) -> String {
    format!(".{}.out-", target_name(target))
}

/// Takes the target's lock, or says that another run holds it.
pub fn lock(target: &Path) -> Result<TargetLock, C1zError> {
    let path = target_dir(target).join(format!(".{}.lock", target_name(target)));
    let file = private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| C1zError::io("create the lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(TargetLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(C1zError::Busy {
            target: target.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(C1zError::io("lock", &path, e)),
    }
}

/// Removes every work file of `target`: call it holding the target's lock (then none belongs
/// to a live run), or from the run that made them. Returns how many entries it removed.
pub fn remove_leftovers(target: &Path) -> usize {
    let dir = target_dir(target);
    let (work, out) = (work_prefix(target), out_prefix(target));
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let gone = if name.starts_with(&work) {
            std::fs::remove_dir_all(&path).is_ok()
        } else if name.starts_with(&out) && name.ends_with(".tmp") {
            std::fs::remove_file(&path).is_ok()
        } else {
            false
        };
        if gone {
            tracing::info!(path = %path.display(), "removed what an interrupted sync left behind");
            removed += 1;
        }
    }
    removed
}

/// A private merge folder for `target`.
pub fn work_dir(target: &Path) -> Result<tempfile::TempDir, C1zError> {
    let dir = target_dir(target);
    let prefix = work_prefix(target);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(PRIVATE_DIR));
    }
    builder
        .tempdir_in(&dir)
        .map_err(|e| C1zError::io("create a temp directory in", &dir, e))
}

/// A private unpublished file for `target` (tempfile makes these 0600).
pub fn out_file(target: &Path) -> Result<tempfile::NamedTempFile, C1zError> {
    let dir = target_dir(target);
    let prefix = out_prefix(target);
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| C1zError::io("create a temp file in", &dir, e))
}

/// Creates a new private file (truncating one that exists).
pub fn create_private(path: &Path) -> io::Result<File> {
    private_options().write(true).create(true).truncate(true).open(path)
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_FILE);
    }
    options
}

/// Whether `target` holds a previous file to merge into: an empty file (left by `touch` or a
/// failed copy) counts as none, as baton treats it.
pub fn has_previous(target: &Path) -> bool {
    std::fs::metadata(target).is_ok_and(|m| m.len() > 0)
}
