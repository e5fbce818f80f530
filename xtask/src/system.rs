//! System packages the tests need, installed where this machine allows it.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

/// Folders where Vulkan loaders look for installable client drivers (ICDs).
const ICD_DIRS: [&str; 3] = [
    "/usr/share/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
];

/// Makes sure some Vulkan driver exists for the wgpu tests. Without one, installs
/// lavapipe (Debian's `mesa-vulkan-drivers`) when running as root with apt-get;
/// otherwise says how, and the wgpu tests skip themselves.
pub fn ensure_vulkan_driver() -> Result<()> {
    let has_driver = ICD_DIRS.iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
    });
    if has_driver {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !is_root || !Path::new("/usr/bin/apt-get").exists() {
        eprintln!(
            "no Vulkan driver found: the wgpu tests will be skipped. To run them, install one \
             (Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1)"
        );
        return Ok(());
    }
    eprintln!("installing lavapipe (mesa-vulkan-drivers) for the wgpu tests…");
    crate::run(Command::new("apt-get").args(["update", "-qq"]))?;
    crate::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "mesa-vulkan-drivers",
                "libvulkan1",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
