//! Writing a file whole or not at all: a temporary file in the same folder,
//! fsync, rename over the target, fsync of the folder. A reader (an
//! analyst's browser, node_exporter, the next run) sees the old content or
//! all of the new, never half; a crash leaves at most a temporary file,
//! which is removed when the write fails. The temporary file is created
//! 0600 (tempfile's default), so private data never lies readable.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` through `write`, atomically; its folder is created if
/// missing.
pub fn write_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `bytes` to `path`, atomically ([`write_with`]).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// [`write`] for a file another user must read and that holds nothing
/// private (the run's metrics, read by node_exporter): made 0644 before it
/// takes its name.
pub fn write_readable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |w| {
        w.write_all(bytes)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            w.get_ref()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        Ok(())
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_readable_file_is_0644_and_a_private_one_0600() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let public = dir.path().join("m.prom");
        super::write_readable(&public, b"x 1\n").unwrap();
        assert_eq!(mode(&public), 0o644);
        let private = dir.path().join("r.json");
        super::write(&private, b"{}").unwrap();
        assert_eq!(mode(&private), 0o600);
    }
}
