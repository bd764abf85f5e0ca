//! The RPM spec and the Arch PKGBUILD: both parse with their own tools, and
//! both package exactly the files install.sh lays out, from the workspace's
//! binaries (rpmbuild --define prebuilt; makepkg --repackage after putting
//! the binaries where its build() leaves them).

use packaging_tests::{binaries, have_tools, repo, sh};
use std::collections::BTreeSet;
use std::path::Path;

/// The files and links (not directories) that install.sh puts into a
/// package rooted at `/usr`, as absolute paths.
fn install_tree() -> BTreeSet<String> {
    let dest = tempfile::tempdir().unwrap();
    sh(&format!(
        "'{}/install.sh' --system --prefix /usr --destdir '{}' --binaries '{}' --no-record",
        repo().display(),
        dest.path().display(),
        binaries().display()
    ));
    sh(&format!(
        "cd '{}' && find . ! -type d",
        dest.path().display()
    ))
    .lines()
    .map(|l| l.trim_start_matches('.').to_owned())
    .collect()
}

/// The directory for the administrator's manifests, which every package
/// ships empty (the documentation sends admins there).
const ADMIN_MANIFESTS: &str = "/etc/update-all/plugins.d";

fn assert_same_files(package: &str, got: BTreeSet<String>) {
    let want = install_tree();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{package} differs from install.sh's tree: missing {missing:#?}, extra {extra:#?}"
    );
}

#[test]
fn rpm_spec_parses_and_packages_the_install_tree() {
    if !have_tools(&["rpmspec", "rpmbuild", "rpm"]) {
        return;
    }
    let spec = repo().join("packaging/rpm/update-all.spec");
    let parsed = sh(&format!("rpmspec -P '{}'", spec.display()));
    assert!(parsed.contains("Name:           update-all"), "{parsed}");
    let version = sh(&format!(
        "rpmspec -q --qf '%{{VERSION}}' '{}'",
        spec.display()
    ));
    let cargo = sh(&format!("'{}/update-all' --version", binaries().display()));
    assert_eq!(
        format!("update-all {version}\n"),
        cargo,
        "spec and Cargo.toml versions"
    );

    let top = tempfile::tempdir().unwrap();
    let t = top.path().display();
    std::fs::create_dir_all(top.path().join("SOURCES")).unwrap();
    sh(&format!(
        "cd '{}' && tar --exclude=./target --exclude=./.git -czf '{t}/SOURCES/update-all-{version}.tar.gz' \
         --transform 'flags=r;s,^\\.,update-all-{version},' .",
        repo().display()
    ));
    // --nodeps: the build dependencies are Fedora's names; a fast payload.
    sh(&format!(
        "rpmbuild -bb --nodeps --define '_topdir {t}' --define '_tmppath {t}/tmp' \
         --define 'prebuilt {}' --define '_binary_payload w1.gzdio' '{}' >'{t}/log' 2>&1 \
         || {{ tail -40 '{t}/log'; exit 1; }}",
        binaries().display(),
        spec.display()
    ));
    let rpm = sh(&format!("ls '{t}'/RPMS/*/update-all-{version}-1.*.rpm"));
    let listing = sh(&format!(
        "rpm -qp --qf '[%{{FILEMODES:perms}} %{{FILENAMES}}\\n]' '{}'",
        rpm.trim()
    ));
    // rpmbuild adds links by build id to the binaries (rpm's
    // _build_id_links), beyond what install.sh lays out.
    assert!(
        listing
            .lines()
            .any(|l| l == format!("drwxr-xr-x {ADMIN_MANIFESTS}")),
        "no {ADMIN_MANIFESTS} in the RPM:\n{listing}"
    );
    let files = listing
        .lines()
        .filter(|l| !l.starts_with('d') && !l.contains(" /usr/lib/.build-id/"))
        .filter_map(|l| l.split_once(' ').map(|(_, f)| f.to_owned()))
        .collect();
    assert_same_files("the RPM", files);
    let config = sh(&format!("rpm -qp --configfiles '{}'", rpm.trim()));
    assert_eq!(config, "/etc/update-all/config.yaml\n");
}

#[test]
fn pkgbuild_prints_srcinfo_and_packages_the_install_tree() {
    if !have_tools(&["makepkg", "fakeroot", "unshare", "setpriv", "mknod"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path().display();
    // makepkg refuses root: it runs as nobody, with its build, source and
    // package directories in `work`. nobody may not reach the repository
    // (a clone under a 0700 directory, as `mktemp -d` makes), so the PKGBUILD
    // runs from a copy of the tree in `work`, and the binaries that build()
    // would leave in $srcdir/target/release are copies too.
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    sh(&format!(
        "tar -C '{}' --exclude=./target --exclude=./.git -cf - . | tar -C '{}' -xf -",
        repo().display(),
        tree.display()
    ));
    let release = work.path().join("update-all/src/target/release");
    std::fs::create_dir_all(&release).unwrap();
    for bin in ["update-all", "update-all-generator"] {
        std::fs::copy(binaries().join(bin), release.join(bin)).unwrap();
    }
    sh(&format!(
        "chown -R nobody:nogroup '{w}' && mknod -m 666 '{w}/.null' c 1 3"
    ));
    let makepkg = |args: &str| {
        sh(&format!(
            "cd '{}/packaging/arch' && unshare --mount --propagation private sh -c '\
               {null} && exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
               env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME={w} BUILDDIR={w} PKGDEST={w} \
               SRCDEST={w} LOGDEST={w} PKGEXT=.pkg.tar.gz makepkg {args}' 2>&1",
            tree.display(),
            null = bind_null(work.path()),
        ))
    };
    let srcinfo = makepkg("--printsrcinfo");
    assert!(srcinfo.contains("pkgbase = update-all"), "{srcinfo}");
    let version = srcinfo
        .lines()
        .find_map(|l| l.trim().strip_prefix("pkgver = "))
        .expect("pkgver");
    let cargo = sh(&format!("'{}/update-all' --version", binaries().display()));
    assert_eq!(
        format!("update-all {version}\n"),
        cargo,
        "PKGBUILD and Cargo.toml versions"
    );

    makepkg("--repackage --nodeps --noextract --nocheck --noconfirm");
    let package = sh(&format!("ls '{w}'/update-all-{version}-1-*.pkg.tar.gz"));
    let listing = sh(&format!("tar -tzvf '{}'", package.trim()));
    let admin = format!("{}/", ADMIN_MANIFESTS.trim_start_matches('/'));
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("drwxr-xr-x") && l.ends_with(&format!(" {admin}"))),
        "no {ADMIN_MANIFESTS} in the Arch package:\n{listing}"
    );
    let files = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|f| !f.starts_with('.'))
        .map(|f| format!("/{f}"))
        .collect();
    assert_same_files("the Arch package", files);
}

/// A shell command binding `dir/.null`, a null device everyone may write,
/// over the calling mount namespace's /dev/null: makepkg writes to it, and
/// on some hosts the real one is mode 0644.
fn bind_null(dir: &Path) -> String {
    format!("mount --bind {}/.null /dev/null", dir.display())
}
