//! Whether a run's updates touch what a machine boots with: the kernel,
//! the C library, systemd or the boot loader. snapper marks such a pair
//! `important=yes`, and its number cleanup keeps important snapshots
//! apart from the others (`NUMBER_LIMIT_IMPORTANT`), as the dnf and zypp
//! snapper plugins do for their `important_packages`.
//!
//! The names are those of Debian, Fedora, openSUSE and Arch.

/// Package names matched whole.
const EXACT: &[&str] = &[
    "linux",
    "linux-lts",
    "linux-zen",
    "linux-hardened",
    "linux-rt",
    "kernel",
    "kernel-core",
    "kernel-default",
    "glibc",
    "libc6",
    "libc-bin",
    "systemd",
    "libsystemd0",
    "systemd-libs",
    "systemd-udev",
    "udev",
    "grub",
    "grub2",
    "efibootmgr",
    "dracut",
    "mkinitcpio",
    "initramfs-tools",
];

/// Name prefixes: kernel images and their modules, systemd's parts,
/// GRUB's and shim's packages, systemd-boot.
const PREFIXES: &[&str] = &[
    "linux-image-",
    "linux-modules-",
    "kernel-core-",
    "kernel-default-",
    "kernel-modules",
    "glibc-",
    "systemd-boot",
    "systemd-sysv",
    "grub-",
    "grub2-",
    "shim",
];

/// The first of `packages` that makes a run important, if any.
pub fn first<'a>(packages: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    packages.into_iter().find(|p| is_important(p))
}

/// Whether updating `package` touches what the machine boots with.
pub fn is_important(package: &str) -> bool {
    // Debian's architecture qualifier (libc6:amd64) says nothing more.
    let name = package.split(':').next().unwrap_or(package);
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_c_libraries_systemd_and_boot_loaders_are_important() {
        for p in [
            "linux-image-6.1.0-28-amd64",
            "libc6:amd64",
            "glibc",
            "systemd",
            "systemd-boot-efi",
            "grub-efi-amd64",
            "grub2-common",
            "shim-signed",
            "kernel-core",
            "linux",
        ] {
            assert!(is_important(p), "{p}");
        }
        for p in [
            "curl",
            "linux-firmware-extra",
            "libsystemd-dev-doc",
            "nginx",
            "mylinux",
        ] {
            assert!(!is_important(p), "{p}");
        }
        assert_eq!(first(["curl", "libc6", "systemd"]), Some("libc6"));
        assert_eq!(first(["curl"]), None);
    }
}
