#!/bin/sh
# packaging/deb/build.sh: builds update-all_VERSION_ARCH.deb from this source
# tree with dpkg-deb alone: install.sh stages the files (the same list that
# the RPM, the Arch package and from-source installs use), this script adds
# what Debian wants on top (stripped binaries, copyright, changelog, control
# data, maintainer scripts) and runs dpkg-deb.
#
# Why not debian/ with dpkg-buildpackage, or cargo-deb: both would build the
# Rust code again inside their own step (debhelper's dh-cargo wants the
# crates packaged in Debian; cargo-deb needs a `cargo install` of its own,
# minutes of CI time), and cargo-deb cannot run install.sh. This needs only
# dpkg-dev and binutils, and packages the binaries CI already built.
#
#   packaging/deb/build.sh [--binaries DIR] [--out DIR]
#
# DIR defaults to target/release (build it with cargo build --release
# --locked); --out defaults to target/debian. Prints the .deb's path.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
binaries=${CARGO_TARGET_DIR:-$src/target}/release
out=${CARGO_TARGET_DIR:-$src/target}/debian
while [ $# -gt 0 ]; do
    case $1 in
    --binaries) binaries=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    *) echo "usage: $0 [--binaries DIR] [--out DIR]" >&2; exit 2 ;;
    esac
    shift
done

version=$("$binaries/update-all" --version | cut -d' ' -f2)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# dpkg-shlibdeps expects the tree in debian/PACKAGE (next to debian/control)
# and a DEBIAN directory in it.
root=$work/debian/update-all

install -d -m 755 "$root/DEBIAN"
"$src/install.sh" --system --prefix /usr --destdir "$root" --binaries "$binaries" \
    --zsh-dir /usr/share/zsh/vendor-completions --no-record

# As dh_strip does for executables (debug symbols are not shipped).
for exe in "$root/usr/bin/update-all" "$root/usr/lib/systemd/system-generators/update-all-generator"; do
    strip --remove-section=.comment --remove-section=.note "$exe"
done

doc=$root/usr/share/doc/update-all
install -m 644 "$here/copyright" "$doc/copyright"
# A native package's changelog.gz; dated by the last commit when there is
# one, so that rebuilding the same tree gives the same package.
date=$(git -C "$src" log -1 --format=%aD 2>/dev/null || date -R)
printf '%s\n' "update-all ($version) unstable; urgency=medium" "" \
    "  * Built from the update-all source tree." "" \
    " -- update-all maintainers <update-all@example.invalid>  $date" |
    gzip -9n >"$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"

install -d -m 755 "$root/usr/share/lintian/overrides"
install -m 644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/update-all"

# Shared-library dependencies, as dpkg-shlibdeps computes them for
# debian/control's ${shlibs:Depends}; it wants a debian/control to read.
printf 'Source: update-all\n\nPackage: update-all\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O \
    -edebian/update-all/usr/bin/update-all \
    -edebian/update-all/usr/lib/systemd/system-generators/update-all-generator |
    sed -n 's/^shlibs:Depends=//p')

size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@SHLIBS@/$shlibs/" "$here/control.in" >"$root/DEBIAN/control"
for script in postinst prerm postrm; do
    install -m 755 "$here/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/update-all_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
