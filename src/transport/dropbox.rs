//! `[dropbox]`: a local folder used as the file source, for demos and for
//! implementers' dry runs. It gives the same guarantees as SFTP because
//! intake drives both through [`Source`].
//!
//! With `keep_originals` (the demo reading `samples/outbound` in place) a
//! taken file is *copied* to the archive or failed folder and stays where it
//! is; the state file still keeps it from being taken twice.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Disposition, RemoteFile, Source, TransportError, disposal_name};
use crate::config::DropboxConfig;

/// A local folder as a [`Source`].
pub struct DropboxSource {
    cfg: DropboxConfig,
}

impl DropboxSource {
    pub fn new(cfg: &DropboxConfig) -> DropboxSource {
        DropboxSource { cfg: cfg.clone() }
    }

    fn local(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TransportError {
        let path = path.to_path_buf();
        move |source| TransportError::Local { op, path, source }
    }

    /// Moves (or, keeping originals, copies) `f` into `dir`.
    fn move_into(
        &self,
        f: &RemoteFile,
        sha256: Option<&str>,
        dir: &Path,
    ) -> Result<(), TransportError> {
        fs::create_dir_all(dir).map_err(Self::local("create folder", dir))?;
        let free = disposal_name(&f.name, sha256, |n| {
            Ok::<_, std::convert::Infallible>(dir.join(n).exists())
        });
        let Ok(Some((name, unlink_first))) = free else {
            return Err(Self::local("find a free name in", dir)(io::Error::other(
                format!("{}.unread.1 to .1000 are all taken", f.name),
            )));
        };
        let from = self.cfg.dir.join(&f.name);
        let to = dir.join(name);
        if unlink_first {
            fs::remove_file(&to).map_err(Self::local("remove", &to))?;
        }
        if self.cfg.keep_originals {
            copy_atomically(&from, &to)
        } else {
            match fs::rename(&from, &to) {
                Ok(()) => Ok(()),
                // Another file system: copy, then remove the original.
                Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                    copy_atomically(&from, &to)?;
                    fs::remove_file(&from).map_err(Self::local("remove", &from))
                }
                Err(e) => Err(Self::local("move", &from)(e)),
            }
        }
    }
}

/// Copies to a temporary name beside `to`, syncs, then renames into place, so
/// that the folder never shows a half-copied file.
fn copy_atomically(from: &Path, to: &Path) -> Result<(), TransportError> {
    let tmp: PathBuf = {
        let mut s = to.as_os_str().to_owned();
        s.push(format!(".{}.part", std::process::id()));
        s.into()
    };
    let result = (|| {
        let mut src = fs::File::open(from).map_err(DropboxSource::local("read", from))?;
        let mut dst = fs::File::create(&tmp).map_err(DropboxSource::local("write", &tmp))?;
        io::copy(&mut src, &mut dst).map_err(DropboxSource::local("copy to", &tmp))?;
        dst.sync_all().map_err(DropboxSource::local("sync", &tmp))?;
        fs::rename(&tmp, to).map_err(DropboxSource::local("rename into", to))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Modification time, Unix seconds.
fn mtime_of(meta: &fs::Metadata) -> Option<i64> {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

impl Source for DropboxSource {
    fn describe(&self) -> String {
        format!("dropbox:{}", self.cfg.dir.display())
    }

    fn list(&mut self) -> Result<Vec<RemoteFile>, TransportError> {
        let dir = &self.cfg.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(Self::local("list drop box folder", dir))? {
            let entry = entry.map_err(Self::local("list drop box folder", dir))?;
            let meta = entry
                .metadata()
                .map_err(Self::local("read", &entry.path()))?;
            if !meta.file_type().is_file() {
                continue;
            }
            out.push(RemoteFile {
                name: entry.file_name().to_string_lossy().into_owned(),
                size: Some(meta.len()),
                mtime: mtime_of(&meta),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn stat(&mut self, f: &RemoteFile) -> Result<RemoteFile, TransportError> {
        let path = self.cfg.dir.join(&f.name);
        let meta = fs::symlink_metadata(&path).map_err(Self::local("read", &path))?;
        Ok(RemoteFile {
            name: f.name.clone(),
            size: Some(meta.len()),
            mtime: mtime_of(&meta),
        })
    }

    fn fetch(&mut self, f: &RemoteFile, dest: &mut dyn Write) -> Result<u64, TransportError> {
        let path = self.cfg.dir.join(&f.name);
        let mut src = fs::File::open(&path).map_err(Self::local("read", &path))?;
        io::copy(&mut src, dest).map_err(Self::local("copy", &path))
    }

    fn dispose(
        &mut self,
        f: &RemoteFile,
        sha256: Option<&str>,
        to: Disposition,
    ) -> Result<(), TransportError> {
        let dir = match to {
            Disposition::Archive => self.cfg.archive_dir.clone(),
            Disposition::Failed => self.cfg.failed_dir.clone(),
        };
        self.move_into(f, sha256, &dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(root: &Path, keep: bool) -> DropboxConfig {
        DropboxConfig {
            dir: root.join("in"),
            archive_dir: root.join("archive"),
            failed_dir: root.join("failed"),
            settle_seconds: 0,
            keep_originals: keep,
            max_file_bytes: crate::config::DEFAULT_MAX_FILE_BYTES,
        }
    }

    #[test]
    fn lists_files_only_and_moves_or_copies() {
        let t = tempfile::tempdir().unwrap();
        for keep in [false, true] {
            let root = t.path().join(format!("k{keep}"));
            let c = cfg(&root, keep);
            fs::create_dir_all(c.dir.join("sub")).unwrap();
            fs::write(c.dir.join("A.BIF"), b"abc").unwrap();
            let mut s = DropboxSource::new(&c);
            let l = s.list().unwrap();
            assert_eq!(l.len(), 1, "{l:?}");
            assert_eq!((l[0].name.as_str(), l[0].size), ("A.BIF", Some(3)));
            assert_eq!(s.stat(&l[0]).unwrap(), l[0]);
            assert!(l[0].mtime.is_some());
            let mut buf = Vec::new();
            assert_eq!(s.fetch(&l[0], &mut buf).unwrap(), 3);
            assert_eq!(buf, b"abc");
            s.dispose(&l[0], Some("ffff"), Disposition::Archive)
                .unwrap();
            assert_eq!(fs::read(c.archive_dir.join("A.BIF")).unwrap(), b"abc");
            assert_eq!(c.dir.join("A.BIF").exists(), keep);
            if keep {
                // Archived again (same bytes): lands under the sha name, and
                // again replaces that same-bytes copy.
                s.dispose(&l[0], Some("ffff"), Disposition::Archive)
                    .unwrap();
                s.dispose(&l[0], Some("ffff"), Disposition::Archive)
                    .unwrap();
                assert!(c.archive_dir.join("A.BIF.ffff").exists());
                assert_eq!(fs::read_dir(&c.archive_dir).unwrap().count(), 2);
            }
        }
    }

    #[test]
    fn missing_folder_names_it() {
        let t = tempfile::tempdir().unwrap();
        let mut s = DropboxSource::new(&cfg(t.path(), false));
        let e = s.list().unwrap_err();
        assert!(!e.is_transient());
        assert!(e.to_string().contains("in"), "{e}");
    }
}
