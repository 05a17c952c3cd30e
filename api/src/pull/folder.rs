//! What the `--into` folder holds before a pull touches it. dap pull writes only into a
//! folder that is missing, empty, an earlier mirror, or one it claimed itself for a first
//! pull that never committed (a claim file marks such a folder, so its leftovers can be
//! cleared without guessing whose files they are).

use std::path::Path;

/// Marks a folder whose first pull has started and not committed yet.
const CLAIM: &str = ".dap-pull-new";

/// The state of the mirror folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Folder {
    /// Missing, empty, or claimed by a first pull that never committed.
    New,
    /// Holds a Delta table (at least one commit in `_delta_log`).
    Delta,
    /// Holds files that are neither a Delta table nor dap pull's own.
    Other,
}

/// Looks at `dir` without changing it.
pub(super) fn inspect(dir: &Path) -> anyhow::Result<Folder> {
    if !dir.exists() {
        return Ok(Folder::New);
    }
    if has_delta_commits(dir)? {
        return Ok(Folder::Delta);
    }
    let empty = std::fs::read_dir(dir)?.next().is_none();
    Ok(if empty || dir.join(CLAIM).is_file() {
        Folder::New
    } else {
        Folder::Other
    })
}

/// Whether `dir/_delta_log` holds a commit or checkpoint (files named by a 20-digit version).
fn has_delta_commits(dir: &Path) -> anyhow::Result<bool> {
    let log = dir.join("_delta_log");
    if !log.is_dir() {
        return Ok(false);
    }
    for entry in std::fs::read_dir(log)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let digits = name.bytes().take_while(u8::is_ascii_digit).count();
        if (digits == 20 && name[20..].starts_with('.')) || name == "_last_checkpoint" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Claims a [`Folder::New`] folder for a first pull, clearing what an earlier uncommitted
/// first pull left (its download, data files and temporary commit files).
pub(super) fn claim(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    if dir.join(CLAIM).is_file() {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name() == CLAIM || !is_leftover(&entry.file_name().to_string_lossy()) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    std::fs::write(dir.join(CLAIM), b"")?;
    Ok(())
}

/// Files dap pull writes before its first commit.
fn is_leftover(name: &str) -> bool {
    name.starts_with(".dap-pull")
        || name == "_delta_log"
        || (name.starts_with("part-") && name.contains(".parquet"))
        || ((name.starts_with("snapshot-v") || name.starts_with("changes-v"))
            && name.contains(".parquet"))
}

/// Drops the claim once the first commit (or state file) made the folder a mirror.
pub(super) fn release(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(dir.join(CLAIM)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The refusal for a folder that holds other files.
pub(super) fn not_empty(dir: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is not empty and holds {what}: dap pull writes a mirror only into a new or empty \
         folder or into an earlier mirror of its own, and --replace does not change that. \
         Choose another folder.",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fresh directory under the system temp dir (the crate has no tempfile dependency).
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dap-pull-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_folder_is_new_delta_or_other() {
        let root = scratch("inspect");
        let dir = root.join("m");
        assert_eq!(inspect(&dir).expect("missing"), Folder::New);
        std::fs::create_dir(&dir).expect("mkdir");
        assert_eq!(inspect(&dir).expect("empty"), Folder::New);
        std::fs::create_dir(dir.join("_delta_log")).expect("log");
        std::fs::write(dir.join("_delta_log/_commit_x.json.tmp"), b"{}").expect("tmp");
        assert_eq!(inspect(&dir).expect("no commit"), Folder::Other);
        std::fs::write(dir.join("_delta_log/00000000000000000000.json"), b"{}").expect("commit");
        assert_eq!(inspect(&dir).expect("delta"), Folder::Delta);
        std::fs::remove_dir_all(root).expect("clean up");
    }

    #[test]
    fn a_claim_clears_only_dap_pull_leftovers() {
        let dir = scratch("claim");
        claim(&dir).expect("claim");
        std::fs::write(dir.join("part-0001-x.snappy.parquet"), b"x").expect("data");
        std::fs::write(dir.join(".dap-pull-export.arrows.part"), b"x").expect("dl");
        std::fs::write(dir.join("notes.txt"), b"mine").expect("other");
        assert_eq!(inspect(&dir).expect("claimed"), Folder::New);

        claim(&dir).expect("claim again");

        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![CLAIM.to_owned(), "notes.txt".to_owned()]);
        release(&dir).expect("release");
        release(&dir).expect("release twice");
        assert_eq!(inspect(&dir).expect("other"), Folder::Other);
        std::fs::remove_dir_all(dir).expect("clean up");
    }
}
