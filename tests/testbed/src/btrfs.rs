//! A real btrfs filesystem for a test, and a snapper of its own, without
//! touching the host's mounts, its `/etc` or its loop devices for longer
//! than the instance lives:
//!
//! - [`Testbed::mount_btrfs`]: `mkfs.btrfs` on a sparse file in a host
//!   temporary directory, attached with `losetup -f --show` (loop devices
//!   are the kernel's, not a namespace's), marked autoclear, and mounted
//!   INSIDE the instance's mount namespace: the `/dev/loopN` node is made
//!   in the instance's private `/dev`, then mounted there. The kernel
//!   detaches the loop device when its last user goes: the mount, which
//!   goes with the instance's mount namespace. The host never sees the
//!   mount.
//! - [`Testbed::private_snapper`]: an instance-private directory bound over
//!   `/etc/snapper` and a private copy of `/etc/default/snapper` over
//!   that file (in the instance's mount namespace only), so that `snapper
//!   create-config` writes only there; [`Testbed::snapper_config`] makes a
//!   configuration in them.
//!
//! Where a loop device or btrfs cannot be used, [`btrfs_unavailable`]
//! says why; tests then call [`crate::skip`] (a failure under `CI=true`).

use crate::Testbed;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

/// A btrfs filesystem mounted inside an instance (see the module
/// documentation). Dropping it removes the image's directory on the host;
/// the loop device keeps the file until the mount goes.
#[derive(Debug)]
pub struct Btrfs {
    /// Where it is mounted inside the instance.
    pub mount: String,
    /// The loop device, `/dev/loopN` (the same name inside and outside).
    pub device: String,
    _image_dir: tempfile::TempDir,
}

/// Why a btrfs filesystem cannot be made here, or `None` when it can: the
/// tools (`mkfs.btrfs`, `losetup`, `btrfs`), the kernel's btrfs and loop
/// devices.
pub fn btrfs_unavailable() -> Option<String> {
    let missing = crate::missing_tools(&["mkfs.btrfs", "losetup", "btrfs"]);
    if !missing.is_empty() {
        return Some(format!(
            "missing {} (install btrfs-progs and util-linux)",
            missing.join(", ")
        ));
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let has_btrfs = filesystems.lines().any(|l| l.trim_end().ends_with("btrfs"));
    // A module not loaded yet loads at the first mount.
    let module = Path::new("/sys/module/btrfs").exists()
        || Command::new("modinfo")
            .arg("btrfs")
            .output()
            .is_ok_and(|o| o.status.success());
    if !has_btrfs && !module {
        return Some("the kernel has no btrfs (not in /proc/filesystems, no module)".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control: loop devices cannot be used here".into());
    }
    None
}

// linux/loop.h: the status ioctls and the autoclear flag.
const LOOP_SET_STATUS64: u64 = 0x4C04;
const LOOP_GET_STATUS64: u64 = 0x4C05;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64` of linux/loop.h.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// Marks the loop device open as `fd` autoclear: the kernel detaches it
/// when its last user closes it.
fn set_autoclear(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: an all-zero loop_info64 is a valid value (integers and byte
    // arrays only).
    let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open loop device and `info` a loop_info64 that
    // the kernel fills (GET) and reads (SET); both outlive the calls.
    let got = unsafe {
        nix::libc::ioctl(
            fd.as_raw_fd(),
            LOOP_GET_STATUS64 as _,
            &mut info as *mut LoopInfo64,
        )
    };
    if got != 0 {
        return Err(std::io::Error::last_os_error());
    }
    info.lo_flags |= LO_FLAGS_AUTOCLEAR;
    // SAFETY: as above.
    let set = unsafe {
        nix::libc::ioctl(
            fd.as_raw_fd(),
            LOOP_SET_STATUS64 as _,
            &info as *const LoopInfo64,
        )
    };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs a host command; its trimmed standard output, or what it said.
fn host(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Testbed {
    /// Makes a btrfs filesystem of `size_mb` MiB and mounts it at `inside`
    /// in this instance only (see the module documentation). Its top-level
    /// subvolume is the mount point.
    ///
    /// # Errors
    ///
    /// Why it could not be made, attached or mounted; nothing is left
    /// attached then.
    pub fn mount_btrfs(&self, inside: &str, size_mb: u64) -> Result<Btrfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("update-all-testbed-btrfs-")
            .tempdir_in("/var/tmp")
            .map_err(|e| format!("temporary directory: {e}"))?;
        let image = dir.path().join("btrfs.img");
        let file = std::fs::File::create(&image).map_err(|e| format!("{image:?}: {e}"))?;
        file.set_len(size_mb * 1024 * 1024)
            .map_err(|e| format!("{image:?}: {e}"))?;
        drop(file);
        host(Command::new("mkfs.btrfs").arg("-q").arg(&image))?;
        let device = host(Command::new("losetup").args(["-f", "--show"]).arg(&image))?;
        // Held open until the mount holds the device: autoclear detaches
        // it at the last close.
        let fd = match open(
            Path::new(&device),
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = host(Command::new("losetup").args(["-d", &device]));
                return Err(format!("{device}: {e}"));
            }
        };
        if let Err(e) = set_autoclear(&fd) {
            let _ = host(Command::new("losetup").args(["-d", &device]));
            return Err(format!("{device}: cannot set autoclear: {e}"));
        }
        let name = device.trim_start_matches("/dev/");
        let numbers = std::fs::read_to_string(format!("/sys/block/{name}/dev"))
            .map_err(|e| format!("/sys/block/{name}/dev: {e}"))?;
        let (major, minor) = numbers
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("/sys/block/{name}/dev: {numbers:?}"))?;
        let script = format!(
            "set -e; [ -b {device} ] || mknod {device} b {major} {minor}; \
             mkdir -p {inside}; mount -t btrfs {device} {inside}"
        );
        let out = self.sh(&script);
        if !out.status.success() {
            return Err(format!(
                "mounting {device} at {inside} in the instance failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        drop(fd);
        Ok(Btrfs {
            mount: inside.to_owned(),
            device,
            _image_dir: dir,
        })
    }

    /// Binds an instance-private `/etc/snapper` (with an empty `configs/`)
    /// and `/etc/default/snapper` (with no configuration listed) over the
    /// host's, in this instance's mount namespace only.
    ///
    /// # Panics
    ///
    /// If the bind mounts fail (the host has no `/etc/snapper`: snapper is
    /// not installed).
    pub fn private_snapper(&self) {
        self.check(&[
            "/bin/sh",
            "-c",
            "set -e; d=/run/testbed-snapper; mkdir -p $d/etc/configs; \
             printf 'SNAPPER_CONFIGS=\"\"\\nDISABLE_APT_SNAPSHOT=\"yes\"\\n' > $d/default; \
             mount --bind $d/etc /etc/snapper; mount --bind $d/default /etc/default/snapper",
        ]);
    }

    /// Creates the snapper configuration `name` for the subvolume `path`
    /// (`snapper --no-dbus create-config`, into the files of
    /// [`Testbed::private_snapper`]), then restarts snapperd if it runs:
    /// the host's preset starts it at boot, and it reads the list of
    /// configurations only when it starts.
    ///
    /// # Panics
    ///
    /// If snapper fails.
    pub fn snapper_config(&self, name: &str, path: &str) {
        self.check(&["snapper", "--no-dbus", "-c", name, "create-config", path]);
        self.check(&["systemctl", "try-restart", "snapperd.service"]);
    }
}
