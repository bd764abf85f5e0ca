//! Starting an instance: namespaces, mounts and the exec of systemd.
//!
//! The test process spawns util-linux `unshare` (after moving it into the
//! instance's fresh cgroups, see [`crate::cgroup`]) with new PID, mount,
//! cgroup, UTS and IPC namespaces. Its forked child, PID 1 of the new PID
//! namespace, runs [`SCRIPT`]: it builds the private mounts and finally
//! `exec`s systemd.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;

use nix::sys::prctl;
use nix::sys::signal::Signal;

use crate::cgroup::{self, HostCgroups, Layout};

/// The systemd binary booted as PID 1.
pub(crate) const SYSTEMD: &str = "/usr/lib/systemd/systemd";

/// Value of `$container` for the instance's PID 1 (systemd then behaves as
/// in a container: no console or clock setup, no kmsg, ...).
pub(crate) const CONTAINER: &str = "update-all-testbed";

/// `PATH` for the boot script and for commands run inside.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Units masked (`/run/systemd/system/<unit> -> /dev/null`) before boot.
///
/// They would either touch host state that is not namespaced (devices via
/// udev, sysctls, binfmt, kernel modules, the clock, pstore, audit, network
/// configuration, `/etc` or `/var` updates) or are pointless in a container.
/// `systemd-logind`, D-Bus and `user@.service` stay available.
pub(crate) const MASKED_UNITS: &[&str] = &[
    // udev would re-trigger the host's devices.
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-hwdb-update.service",
    // Global kernel state.
    "systemd-sysctl.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-pstore.service",
    "systemd-journald-audit.socket",
    "systemd-timesyncd.service",
    "systemd-networkd.service",
    "systemd-networkd.socket",
    "systemd-networkd-wait-online.service",
    "systemd-resolved.service",
    // Kernel filesystems nobody needs inside.
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    // Would write to the host's /etc or /var, or the root file system.
    "systemd-firstboot.service",
    "systemd-machine-id-commit.service",
    "systemd-sysusers.service",
    "systemd-random-seed.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-update-done.service",
    "systemd-journal-catalog-update.service",
    "ldconfig.service",
    "systemd-remount-fs.service",
    "systemd-fsck-root.service",
    "systemd-repart.service",
    "systemd-boot-update.service",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
    "systemd-tmpfiles-clean.timer",
    // All timers (apt-daily, man-db, ...): they act on the host's /var.
    "timers.target",
    // Terminals.
    "getty.target",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
];

/// The program PID 1 runs before becoming systemd. Parameters come from the
/// `TB_*` environment variables (cleared again by `env -i` at the end).
/// Host directories under /tmp or /var/tmp (which an instance covers with
/// its own tmpfs) that tests run things from: this workspace and the
/// target directory of the running test. Space-separated.
fn kept_dirs() -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf));
    let mut kept: Vec<String> = Vec::new();
    for dir in std::iter::once(workspace).chain(target) {
        let Ok(dir) = std::fs::canonicalize(dir) else {
            continue;
        };
        let masked = dir.starts_with("/tmp") || dir.starts_with("/var/tmp");
        let inside = kept.iter().any(|k| dir.starts_with(k));
        if masked && !inside && !dir.to_string_lossy().contains(char::is_whitespace) {
            kept.push(dir.to_string_lossy().into_owned());
        }
    }
    kept.join(" ")
}

pub(crate) const SCRIPT: &str = r#"
set -eu
# Wait until the host has moved our parent (unshare) out of our cgroups.
read -r _ || true
exec </dev/null

# A root directory of its own (Testbed::boot_root): pivot into it first,
# with the host's /sys and /dev bound in for the mounts below, then let go
# of the host's root.
if [ -n "$TB_ROOT" ]; then
    mount --bind "$TB_ROOT" "$TB_ROOT"
    mount --rbind /sys "$TB_ROOT/sys"
    mount --rbind /dev "$TB_ROOT/dev"
    mkdir -p "$TB_ROOT/.testbed-old-root"
    cd "$TB_ROOT"
    pivot_root . .testbed-old-root
    cd /
fi

# Private /run first (-n: libmount must not create /run/mount on the host).
mount -n -t tmpfs -o mode=755,nosuid,nodev tmpfs /run

# A boot of a kept state (Testbed::boot_keeping): its /var/lib/update-all,
# held here before /tmp is covered and moved into place below, and what
# the previous boot kept of its /run (as a disk keeps /etc and /usr).
if [ -n "$TB_STATE" ]; then
    mkdir -p /run/testbed-state
    mount --bind "$TB_STATE/var-lib-update-all" /run/testbed-state
    if [ -d "$TB_STATE/run" ]; then
        cp -a "$TB_STATE/run/." /run/
    fi
fi

# The tests' own tree (the workspace and its target directory) may live
# under /tmp or /var/tmp, which get fresh tmpfs below: hold on to it here
# and put it back at the same path afterwards.
i=0
for k in $TB_KEEP; do
    mkdir -p "/run/testbed-keep/$i"
    mount --bind "$k" "/run/testbed-keep/$i"
    i=$((i + 1))
done

# Fresh /proc for the new PID namespace; kernel tunables read-only.
mount -t proc -o nosuid,nodev,noexec proc /proc
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
# A boot id of its own: each boot of a kept state is a boot of its own.
if [ -n "$TB_BOOT_ID" ]; then
    printf '%s\n' "$TB_BOOT_ID" > /run/testbed-boot-id
    mount --bind /run/testbed-boot-id /proc/sys/kernel/random/boot_id
fi

# umount needs /proc: now the host's root can go.
if [ -n "$TB_ROOT" ]; then
    umount -l /.testbed-old-root
    rmdir /.testbed-old-root
fi

# Private /dev: a few bind-mounted host nodes, an own devpts, the console pty.
d=/run/testbed-dev
mkdir -m 755 "$d"
mount -t tmpfs -o mode=755,nosuid tmpfs "$d"
for n in null zero full random urandom tty; do
    touch "$d/$n"
    mount --bind "/dev/$n" "$d/$n"
done
touch "$d/console"
if [ -c "$TB_CONSOLE" ]; then
    mount --bind "$TB_CONSOLE" "$d/console"
else
    mount --bind /dev/null "$d/console"
fi
mkdir -m 755 "$d/pts" "$d/mqueue"
mkdir -m 1777 "$d/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$d/pts"
ln -s pts/ptmx "$d/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d/shm"
ln -s /proc/self/fd "$d/fd"
ln -s /proc/self/fd/0 "$d/stdin"
ln -s /proc/self/fd/1 "$d/stdout"
ln -s /proc/self/fd/2 "$d/stderr"
mount --move "$d" /dev
rmdir "$d"

# Own machine id (never written to the host's /etc).
printf '%s\n' "$TB_MACHINE_ID" > /run/machine-id
chmod 444 /run/machine-id
mount --bind /run/machine-id /etc/machine-id

mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
i=0
for k in $TB_KEEP; do
    mkdir -p "$k"
    mount --move "/run/testbed-keep/$i" "$k"
    i=$((i + 1))
done
rm -rf /run/testbed-keep
for v in /var/lib/systemd /var/lib/update-all; do
    mkdir -p "$v"
    if [ "$v" = /var/lib/update-all ] && [ -n "$TB_STATE" ]; then
        mount --move /run/testbed-state "$v"
        rmdir /run/testbed-state
    else
        mount -t tmpfs -o mode=755,nosuid,nodev "tmpfs" "$v"
    fi
done

# cgroup hierarchies again, now rooted at the new cgroup namespace.
umount -R /sys/fs/cgroup
if [ "$TB_CGROUP_LAYOUT" = unified ]; then
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
else
    mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
    while read -r type dir opts; do
        [ -n "$type" ] || continue
        mkdir -p "/sys/fs/cgroup/$dir"
        if [ "$type" = cgroup2 ]; then
            mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "/sys/fs/cgroup/$dir"
        else
            mount -t cgroup -o "nosuid,nodev,noexec,$opts" cgroup "/sys/fs/cgroup/$dir"
        fi
    done <<EOF
$TB_CGROUP_MOUNTS
EOF
    while read -r name target; do
        [ -n "$name" ] || continue
        ln -s "$target" "/sys/fs/cgroup/$name"
    done <<EOF
$TB_CGROUP_LINKS
EOF
fi

# Unit masks and drop-ins; /run is private, so this is instance-local.
mkdir -p /run/systemd/system /run/systemd/journald.conf.d \
    /run/systemd/system/systemd-tmpfiles-setup.service.d
for u in $TB_MASK; do
    ln -s /dev/null "/run/systemd/system/$u"
done
cat > /run/systemd/system/systemd-tmpfiles-setup.service.d/testbed.conf <<EOF
[Service]
ExecStart=
ExecStart=systemd-tmpfiles --create --remove --boot --prefix=/run --prefix=/tmp --prefix=/var/tmp --prefix=/var/lib/systemd
EOF
printf '[Journal]\nStorage=volatile\n' > /run/systemd/journald.conf.d/testbed.conf

exec env -i container="$TB_CONTAINER" "$TB_SYSTEMD" --system --unit=basic.target
"#;

/// Absolute paths of the host tools the testbed relies on.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub unshare: PathBuf,
    pub nsenter: PathBuf,
}

/// Finds `name` in `$PATH` and the usual system directories.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

impl Tools {
    pub(crate) fn find() -> Result<Tools, String> {
        let find = |n: &str| which(n).ok_or_else(|| format!("`{n}` (util-linux) not found"));
        Ok(Tools {
            unshare: find("unshare")?,
            nsenter: find("nsenter")?,
        })
    }
}

/// Everything [`spawn`] needs.
pub(crate) struct Plan<'a> {
    pub tools: &'a Tools,
    pub host: &'a HostCgroups,
    pub procs_files: Vec<CString>,
    pub console_path: &'a str,
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub machine_id: String,
    /// The root directory to boot, `None` for the host's `/`.
    pub root: Option<&'a Path>,
    /// Units to mask, e.g. [`MASKED_UNITS`].
    pub mask: Vec<&'a str>,
    /// A state kept across boots (see [`crate::Testbed::boot_keeping`]).
    pub state: Option<&'a Path>,
}

/// Starts `unshare` running [`SCRIPT`]; returns the `unshare` process.
///
/// The script first waits for a line on its stdin (a pipe, see
/// `Child::stdin`), so the caller can move `unshare` out of the instance's
/// cgroups before anything else happens.
///
/// The child kills itself (SIGKILL, via `PR_SET_PDEATHSIG`) when the test
/// process dies, and `unshare --kill-child` passes that on to the PID 1,
/// which takes the whole PID namespace with it.
pub(crate) fn spawn(plan: Plan<'_>) -> io::Result<Child> {
    let mut cmd = Command::new(&plan.tools.unshare);
    cmd.args([
        "--pid",
        "--fork",
        "--kill-child=SIGKILL",
        "--mount",
        "--cgroup",
        "--uts",
        "--ipc",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        "eval \"$TB_SCRIPT\"",
        "testbed-init",
    ])
    .env_clear()
    .env("TB_SCRIPT", SCRIPT)
    .env("PATH", PATH)
    .env("TB_CONSOLE", plan.console_path)
    .env("TB_MACHINE_ID", &plan.machine_id)
    .env(
        "TB_CGROUP_LAYOUT",
        match plan.host.layout {
            Layout::Unified => "unified",
            Layout::Split => "split",
        },
    )
    .env("TB_CGROUP_MOUNTS", plan.host.mount_spec())
    .env("TB_CGROUP_LINKS", plan.host.link_spec())
    .env("TB_MASK", plan.mask.join(" "))
    .env(
        "TB_KEEP",
        if plan.root.is_some() {
            String::new()
        } else {
            kept_dirs()
        },
    )
    .env(
        "TB_ROOT",
        plan.root.map(Path::as_os_str).unwrap_or_default(),
    )
    .env(
        "TB_STATE",
        plan.state.map(Path::as_os_str).unwrap_or_default(),
    )
    .env(
        "TB_BOOT_ID",
        if plan.state.is_some() {
            random_boot_id()?
        } else {
            String::new()
        },
    )
    .env("TB_CONTAINER", CONTAINER)
    .env("TB_SYSTEMD", SYSTEMD)
    .current_dir("/")
    .stdin(Stdio::piped())
    .stdout(plan.stdout)
    .stderr(plan.stderr);
    let procs = plan.procs_files;
    // SAFETY: the hook only makes async-signal-safe system calls (prctl,
    // open, write) on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            prctl::set_pdeathsig(Signal::SIGKILL)?;
            cgroup::join(&procs)
        });
    }
    spawn_from_long_lived_thread(cmd)
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the process.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// not the process; spawning from the (short-lived) test thread would kill
/// an instance that is handed to another thread.
fn spawn_from_long_lived_thread(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("testbed-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("cannot start the testbed spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("testbed spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("testbed spawner thread is gone"))?
}

/// Host PID of the (first) child of `parent`, i.e. the instance's PID 1.
pub(crate) fn child_of(parent: u32) -> Option<u32> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised comm: state ppid ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// A random boot id, in the format of /proc/sys/kernel/random/boot_id.
fn random_boot_id() -> io::Result<String> {
    Ok(fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_owned())
}

/// A random 128-bit id in machine-id format (32 lowercase hex digits).
pub(crate) fn random_machine_id() -> io::Result<String> {
    let uuid = fs::read_to_string("/proc/sys/kernel/random/uuid")?;
    Ok(uuid.trim().replace('-', ""))
}
