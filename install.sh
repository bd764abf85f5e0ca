#!/bin/sh
# install.sh: installs update-all from this source tree, system-wide or for
# one user, and uninstalls it again. The distribution packages
# (packaging/) stage their trees with it too, so there is one list of what
# goes where.
#
#   cargo build --release --locked
#   sudo ./install.sh              # system: /usr/local, /etc
#   ./install.sh --user            # you alone: ~/.local, ~/.config
#   sudo ./install.sh --uninstall  # (--user --uninstall for the user install)
#
# Run ./install.sh --help for the options.
set -eu

usage() {
    cat <<'EOF'
Usage: install.sh [--system | --user] [OPTION]...
Install update-all from this source tree, or with --uninstall remove what
an earlier install.sh run installed (it keeps a list of every file).

  --system          for the whole machine (the default for root): binaries
                    in PREFIX (/usr/local), configuration in /etc
  --user            for the invoking user alone (the default for others):
                    ~/.local and ~/.config; only the user-scope plugins
  --prefix DIR      installation prefix
  --sysconfdir DIR  configuration directory (system: /etc)
  --destdir DIR     stage everything under DIR (for packages); nothing is
                    reloaded
  --binaries DIR    take update-all and update-all-generator from DIR
                    (default: target/release, or $CARGO_TARGET_DIR/release)
  --build           run cargo build --release --locked first
  --zsh-dir DIR     where _update-all goes (PREFIX/share/zsh/site-functions)
  --no-record       keep no list of installed files (packages: the package
                    manager keeps it)
  --uninstall       remove the files the list of an earlier install names;
                    give the same --user/--prefix/--destdir as then
  -h, --help        this text

Plugins are found through their manifests, which the generator reads from
/usr/lib/update-all/plugins.d, /etc/update-all/plugins.d and (user scope)
~/.config/update-all/plugins.d. So with PREFIX /usr the manifests go to
/usr/lib/update-all/plugins.d; with any other PREFIX they go to
SYSCONFDIR/update-all/plugins.d with their executable paths rewritten, and
a configuration drop-in tells the units where update-all is.
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

src=$(cd "$(dirname "$0")" && pwd)
mode=install scope='' prefix='' sysconfdir='' destdir='' binaries='' build='' zshdir='' record=yes
while [ $# -gt 0 ]; do
    case $1 in
    --system) scope=system ;;
    --user) scope=user ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
    --prefix=*) prefix=${1#*=} ;;
    --sysconfdir) sysconfdir=${2:?--sysconfdir needs a directory}; shift ;;
    --sysconfdir=*) sysconfdir=${1#*=} ;;
    --destdir) destdir=${2:?--destdir needs a directory}; shift ;;
    --destdir=*) destdir=${1#*=} ;;
    --binaries) binaries=${2:?--binaries needs a directory}; shift ;;
    --binaries=*) binaries=${1#*=} ;;
    --build) build=yes ;;
    --zsh-dir) zshdir=${2:?--zsh-dir needs a directory}; shift ;;
    --zsh-dir=*) zshdir=${1#*=} ;;
    --no-record) record='' ;;
    --uninstall) mode=uninstall ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done

if [ -z "$scope" ]; then
    if [ "$(id -u)" = 0 ]; then scope=system; else scope=user; fi
fi
destdir=${destdir%/}
case $destdir in '' | /*) ;; *) destdir=$(pwd)/$destdir ;; esac

# Directories, as the installed system sees them (without DESTDIR).
if [ "$scope" = system ]; then
    prefix=${prefix:-/usr/local}
    sysconfdir=${sysconfdir:-/etc}
    systemddir=$prefix/lib/systemd
    unitdir=$systemddir/system
    userunitdir=$systemddir/user
    generatordir=$systemddir/system-generators
    usergeneratordir=$systemddir/user-generators
    # The configuration layer that the system and user generators both read.
    configdir=$sysconfdir/update-all
else
    [ -n "${HOME:-}" ] || die "--user needs \$HOME"
    prefix=${prefix:-$HOME/.local}
    confighome=${XDG_CONFIG_HOME:-$HOME/.config}
    sysconfdir=${sysconfdir:-$confighome}
    unitdir=
    # $XDG_DATA_HOME/systemd/user is on the user manager's unit path.
    userunitdir=${XDG_DATA_HOME:-$HOME/.local/share}/systemd/user
    generatordir=
    # systemd has no per-user generator directory: the user manager is
    # pointed at this one by a user.conf drop-in (SYSTEMD_GENERATOR_PATH).
    usergeneratordir=$prefix/lib/systemd/user-generators
    configdir=$sysconfdir/update-all
fi
case $prefix in /*) ;; *) die "--prefix must be absolute: $prefix" ;; esac
bindir=$prefix/bin
libdir=$prefix/lib/update-all
datadir=$prefix/share
mandir=$datadir/man
zshdir=${zshdir:-$datadir/zsh/site-functions}
# Where the generator looks for manifests: the vendor directory only for
# /usr, else the administrator's (or the user's) directory.
if [ "$scope" = system ] && [ "$prefix" = /usr ]; then
    manifestdir=/usr/lib/update-all/plugins.d
else
    manifestdir=$configdir/plugins.d
fi
recordfile=$libdir/installed-files

# --- what was installed, for --uninstall --------------------------------

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
records=$work/records
: >"$records"

# Every path this run creates goes into the list: "f SHA256 PATH" for
# files (so that an edited configuration file is kept), "l - PATH" for
# links, "d - PATH" for directories it made (removed when empty). A file,
# not a variable: put also runs at the end of pipelines, in subshells.
note() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$records"
}

# mkdirs DIR: mkdir -p, noting each directory it makes.
mkdirs() {
    [ ! -d "$destdir$1" ] || return 0
    if [ "$1" = / ]; then
        mkdir -p "$destdir"
        return 0
    fi
    mkdirs "$(dirname "$1")"
    mkdir -m 755 "$destdir$1"
    note d - "$1"
}

# put MODE DEST: standard input into DEST (as the system sees it).
put() {
    mkdirs "$(dirname "$2")"
    cat >"$destdir$2.install-tmp"
    chmod "$1" "$destdir$2.install-tmp"
    mv -f "$destdir$2.install-tmp" "$destdir$2"
    note f "$(sha256sum <"$destdir$2" | cut -d' ' -f1)" "$2"
}

# link TARGET DEST
link() {
    mkdirs "$(dirname "$2")"
    ln -sfn "$1" "$destdir$2"
    note l - "$2"
}

# The units and the default configuration name /usr/bin/update-all.
relocate() {
    sed "s|/usr/bin/update-all|$bindir/update-all|g"
}

# system or user: the scope a manifest's plugin runs in (manifest.md:
# scope, else system when requires_sudo is true).
manifest_scope() {
    awk '
        /^  scope:[ \t]*system/ { s = "system" }
        /^  scope:[ \t]*user/ { s = "user" }
        /^  requires_sudo:[ \t]*true/ { sudo = 1 }
        END { print s != "" ? s : (sudo ? "system" : "user") }
    ' "$1"
}

# --- install ------------------------------------------------------------

install_all() {
    if [ -n "$build" ]; then
        (cd "$src" && cargo build --release --locked --bins -p update-all -p update-all-generator)
    fi
    bin=${binaries:-${CARGO_TARGET_DIR:-$src/target}/release}
    for b in update-all update-all-generator; do
        [ -x "$bin/$b" ] || die "$bin/$b is not built: run \`cargo build --release --locked\` first (or pass --build or --binaries DIR)"
    done
    if [ -n "$record" ] && [ -e "$destdir$recordfile" ]; then
        # An upgrade: what the earlier version installed goes first, so
        # nothing it had and this one lacks stays behind.
        echo "install.sh: replacing the earlier installation ($recordfile)"
        remove_recorded
    fi

    put 755 "$bindir/update-all" <"$bin/update-all"
    if [ "$scope" = system ]; then
        put 755 "$generatordir/update-all-generator" <"$bin/update-all-generator"
        # The user manager runs the same program (it reads SYSTEMD_SCOPE).
        link ../system-generators/update-all-generator "$usergeneratordir/update-all-generator"
        for u in "$src"/units/*; do
            [ ! -d "$u" ] || continue
            relocate <"$u" | put 644 "$unitdir/${u##*/}"
        done
        # Debian and Fedora honour presets; the timer is on by default.
        put 644 "$systemddir/system-preset/80-update-all.preset" <"$src/packaging/systemd/80-update-all.preset"
        put 644 "$systemddir/user-preset/80-update-all.preset" <"$src/packaging/systemd/80-update-all-user.preset"
    else
        put 755 "$usergeneratordir/update-all-generator" <"$bin/update-all-generator"
        printf '%s\n' \
            "# Written by update-all's install.sh --user: systemd reads user" \
            "# generators only from system directories, so the user manager is" \
            "# told where this user's copy is (the trailing : keeps the others)." \
            "[Manager]" \
            "ManagerEnvironment=SYSTEMD_GENERATOR_PATH=$usergeneratordir:" |
            put 644 "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user.conf.d/update-all.conf"
    fi
    for u in "$src"/units/user/*; do
        [ -e "$u" ] || [ -L "$u" ] || continue
        relocate <"$u" | put 644 "$userunitdir/${u##*/}"
    done

    for lib in "$src"/plugins/lib/*.sh; do
        put 644 "$libdir/lib/${lib##*/}" <"$lib"
    done
    # The administrator's (or the user's) manifest directory, where the
    # documentation sends them to add a plugin: there even when empty.
    mkdirs "$configdir/plugins.d"
    for manifest in "$src"/plugins/*/*.yaml; do
        name=$(basename "$manifest" .yaml)
        [ "$scope" = system ] || [ "$(manifest_scope "$manifest")" = user ] || continue
        put 755 "$libdir/plugins/$name" <"$(dirname "$manifest")/$name"
        sed "s|^\([ \t]*executable:[ \t]*\)/usr/lib/update-all/plugins/|\1$libdir/plugins/|" "$manifest" |
            put 644 "$manifestdir/$name.yaml"
    done

    if [ "$bindir" != /usr/bin ]; then
        printf '%s\n' "# Written by update-all's install.sh: where this installation's" \
            "# update-all is (see update-all.conf(5), paths.runner)." \
            "paths:" "  runner: $bindir/update-all" |
            put 644 "$configdir/config.d/50-install-prefix.yaml"
    fi
    if [ "$scope" = system ]; then
        if [ -e "$destdir$configdir/config.yaml" ]; then
            echo "install.sh: keeping the existing $configdir/config.yaml"
        else
            put 644 "$configdir/config.yaml" <"$src/packaging/config.yaml"
        fi
    fi

    # Man pages (gzip -n: no time stamp, so the package is reproducible).
    "$bin/update-all" man "$work/man" >/dev/null
    cp "$src"/packaging/man/*.[0-9] "$work/man/"
    for page in "$work"/man/*.[0-9]; do
        gzip -9n <"$page" | put 644 "$mandir/man${page##*.}/${page##*/}.gz"
    done

    "$bin/update-all" completions bash | put 644 "$datadir/bash-completion/completions/update-all"
    "$bin/update-all" completions zsh | put 644 "$zshdir/_update-all"
    "$bin/update-all" completions fish | put 644 "$datadir/fish/vendor_completions.d/update-all.fish"

    for doc in "$src/README.md" "$src"/docs/*.md; do
        put 644 "$datadir/doc/update-all/${doc##*/}" <"$doc"
    done

    if [ -n "$record" ]; then
        sort -t "$(printf '\t')" -k3,3 "$records" >"$work/list"
        put 644 "$recordfile" <"$work/list"
    fi
    reload
    if [ -z "$destdir" ]; then
        echo "install.sh: installed update-all for the $scope scope in $prefix"
        if [ "$scope" = system ]; then
            echo "  scheduled runs: update-all schedule enable   (or systemctl enable --now update-all.timer)"
        else
            echo "  scheduled runs: update-all --user schedule enable"
            case :$PATH: in *":$bindir:"*) ;; *) echo "  add $bindir to your PATH" ;; esac
            echo "  zsh completion: add $zshdir to your fpath"
        fi
    fi
}

# Lets the service manager see the units (and run the generator).
reload() {
    [ -z "$destdir" ] || return 0
    if [ "$scope" = system ]; then
        if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
    elif systemctl --user show-environment >/dev/null 2>&1; then
        # A user manager rereads user.conf.d (the generator path) only when
        # it re-executes; daemon-reload alone would not find the generator.
        systemctl --user daemon-reexec || true
    fi
}

# --- uninstall ----------------------------------------------------------

uninstall_all() {
    [ -f "$destdir$recordfile" ] || die "no $recordfile: nothing installed by install.sh here (same --user/--prefix/--destdir as the install?)"
    remove_recorded
    reload
    [ -n "$destdir" ] || echo "install.sh: removed update-all ($scope scope, $prefix)"
}

# Removes what the list names, and the list.
remove_recorded() {
    # Read before removing anything: the list lives among the files.
    sort -t "$(printf '\t')" -k3,3r "$destdir$recordfile" >"$records"
    rm -f "$destdir$recordfile"
    tab=$(printf '\t')
    # Reverse order: what is inside a directory comes before it.
    while IFS=$tab read -r kind sum path; do
        case $kind in
        f)
            [ -e "$destdir$path" ] || continue
            if [ "$(sha256sum <"$destdir$path" | cut -d' ' -f1)" = "$sum" ]; then
                rm -f "$destdir$path"
            else
                echo "install.sh: keeping $path (changed since it was installed)"
            fi
            ;;
        l) rm -f "$destdir$path" ;;
        # Kept when something else is in it (an admin's manifest, ...).
        d) rmdir "$destdir$path" 2>/dev/null || true ;;
        esac
    done <"$records"
    : >"$records"
}

if [ "$mode" = install ]; then install_all; else uninstall_all; fi
