# shellcheck shell=sh
# Shared by the system package-manager plugins (apt, dnf, zypper, pacman),
# on top of plugin.sh: running a tool through a filter that turns its own
# machine-readable progress into protocol progress lines, and the parts of
# an estimate that follow from package names alone.

# The awk helpers every filter gets:
#   progress(PERCENT, MESSAGE) prints one progress line (plan 4.5) into the
#     stream, which goes to stderr;
#   stage(STAGE, K, N, MESSAGE) reports step K of N of STAGE ("download" or
#     "install") as a percentage inside that stage's range, taken from the
#     environment: PM_DOWNLOAD and PM_INSTALL, "FROM TO" (default "0 100").
_PM_AWK='
function pm_esc(s) {
    gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s)
    gsub(/[\001-\037\177]/, " ", s)
    gsub(/[\200-\377]/, "?", s)    # progress text only: never invalid UTF-8
    return "\"" s "\""
}
function progress(p, msg) {
    p = int(p); if (p < 0) p = 0; if (p > 100) p = 100
    if (p == _pm_p && msg == _pm_m) return
    _pm_p = p; _pm_m = msg
    printf "{\"type\":\"progress\",\"percent\":%d,\"message\":%s}\n", p, pm_esc(msg)
    fflush()
}
function stage(name, k, n, msg,   r, a) {
    r = ENVIRON[name == "download" ? "PM_DOWNLOAD" : "PM_INSTALL"]
    if (split(r, a, " ") != 2) { a[1] = 0; a[2] = 100 }
    if (n > 0) progress(a[1] + (a[2] - a[1]) * (k > n ? n : k) / n, msg)
}
'

# The tool's lock was held by another run of it: the plugin sets
# PM_LOCKED_STATUS to the exit status the tool gives for that, where it has
# one (zypper 7, dnf 200), and PM_LOCKED to an ERE for the line it prints
# (apt "E: Could not get lock ..."); pkgmgr_run notes the first such line
# in PM_LOCK_HELD, and pkgmgr_fail turns the failure into the transient
# error code LOCKED (docs/plugin-protocol.md, "Error codes"), which
# update-all plugin-exec retries after a wait.
PM_LOCKED='' PM_LOCKED_STATUS='' PM_LOCK_HELD=''
# shellcheck disable=SC2016 # an awk program
_PM_LOCK_RULE='
!_pm_locked && ENVIRON["PM_LOCKED"] != "" && $0 ~ ENVIRON["PM_LOCKED"] {
    _pm_locked = 1; print > ENVIRON["PM_LOCK_NOTE"]; fflush(ENVIRON["PM_LOCK_NOTE"])
}
'

# pkgmgr_run FILTER -- COMMAND...: runs COMMAND (stdin /dev/null) with its
# stdout and stderr through the awk program FILTER, whose output goes to
# stderr; FILTER prints the lines to keep and calls progress(). Variables
# for FILTER come from the environment (ENVIRON). Returns COMMAND's status,
# and sets PM_LOCK_HELD to its line that matched PM_LOCKED, if any.
pkgmgr_run() {
    _pm_filter=$1
    shift
    [ "${1:-}" != -- ] || shift
    PM_LOCK_HELD=''
    PM_LOCK_NOTE=/dev/null
    [ -z "$PM_LOCKED" ] || PM_LOCK_NOTE=$(mktemp "${TMPDIR:-/tmp}/update-all-lock.XXXXXX") ||
        PM_LOCK_NOTE=/dev/null
    export PM_LOCKED PM_LOCK_NOTE
    # The status comes back on fd 4, past the pipe (POSIX sh has no pipefail).
    _pm_rc=$({ { "$@" </dev/null 2>&1 3>&- 4>&-; echo "$?" >&4; } |
        LC_ALL=C awk "$_PM_AWK $_PM_LOCK_RULE $_pm_filter" >&2 3>&- 4>&-; } 4>&1)
    if [ "$PM_LOCK_NOTE" != /dev/null ]; then
        PM_LOCK_HELD=$(head -n 1 "$PM_LOCK_NOTE")
        rm -f "$PM_LOCK_NOTE"
    fi
    return "${_pm_rc:-1}"
}

# The filter of a tool whose output has no progress: every line kept.
# shellcheck disable=SC2034 # for the plugins
PM_PASS='{ print; fflush() }'

# pkgmgr_fail STATUS CODE MESSAGE: fails the command after the tool of the
# last pkgmgr_run ended with STATUS: with LOCKED when its lock was held
# (its PM_LOCKED_STATUS, or a line matching PM_LOCKED), else with CODE and
# MESSAGE; MESSAGE is the details of a LOCKED error.
pkgmgr_fail() {
    if [ -n "$PM_LOCK_HELD" ] || [ "$1" = "${PM_LOCKED_STATUS:-none}" ]; then
        _pm_why=${PM_LOCK_HELD:-the tool ended with status $1, its status for a held lock}
        ua_fail LOCKED "${UA_PLUGIN:-the package manager}'s lock is held by another process: $_pm_why" "$3"
    fi
    ua_fail "$2" "$3"
}

# pkgmgr_need_root WHAT: fails the command unless running as root.
pkgmgr_need_root() {
    [ "$(id -u)" -eq 0 ] ||
        ua_fail PERMISSION_DENIED "$1 needs root (run it with sudo, or through update-all)"
}

# Package names that mean a runtime changes (for affects_runtimes), across
# Debian, Fedora, openSUSE and Arch naming.
_PM_RUNTIMES='
/^(python[0-9.]*|libpython[0-9.]*.*|python[0-9.]*-.*)$/ { print "python" }
/^(perl|perl-base|perl-modules.*|libperl.*)$/           { print "perl" }
/^(nodejs|nodejs[0-9]+|nodejs-.*|node)$/                { print "node" }
/^(ruby[0-9.]*|ruby[0-9.]*-.*|libruby.*)$/              { print "ruby" }
/^(openjdk.*|java-[0-9.]+-openjdk.*|jre[0-9]*-openjdk.*|jdk[0-9]*-openjdk.*)$/ { print "java" }
/^(php[0-9.]*|php[0-9.]*-(cli|common))$/               { print "php" }
/^(golang|golang-[0-9.]+-go|go)$/                       { print "go" }
/^(rustc|cargo|rust)$/                                  { print "rust" }
'

# pkgmgr_runtime_mutexes < NAMES: runtime:<name> for every runtime that the
# packages (one name a line, ":ARCH" allowed) change: the dynamic update
# mutexes (docs/plugin-protocol.md), so that e.g. pipx waits for python.
pkgmgr_runtime_mutexes() {
    sed 's/:.*//' | awk "$_PM_RUNTIMES" | sort -u | sed 's/^/runtime:/'
}

# Updates after which the system should be rebooted: kernels, the C
# library, systemd, D-Bus and firmware (the list dnf's needs-restarting -r
# uses, dnf-plugins-core plugins/needs_restarting.py NEED_REBOOT, in each
# distribution's names).
_PM_REBOOT='^(linux|linux-(lts|zen|hardened|rt)|linux-image-.*|linux-signed-.*|kernel|kernel-(core|rt|default|preempt|longterm)|kernel-(core|rt|default|preempt|longterm)-.*|glibc|libc6|systemd|udev|dbus|dbus-broker|dbus-daemon|linux-firmware|microcode_ctl|intel-ucode|amd-ucode)$'

# pkgmgr_estimate [ua_estimate OPTIONS] < PACKAGES: ua_estimate, plus
# affects_runtimes and requires_reboot derived from the package names
# (PACKAGES as for ua_estimate: name, current, new, download, installed,
# tab-separated; a name may carry an architecture after a colon, as apt's
# "libc6:i386" does).
pkgmgr_estimate() {
    _pm_pkgs=$(cat)
    _pm_names=$(printf '%s\n' "$_pm_pkgs" | cut -f1 | sed 's/:.*//')
    for _pm_rt in $(printf '%s\n' "$_pm_names" | awk "$_PM_RUNTIMES" | sort -u); do
        set -- "$@" --runtime "$_pm_rt"
    done
    if printf '%s\n' "$_pm_names" | grep -Eq "$_PM_REBOOT"; then
        set -- "$@" --reboot
    fi
    printf '%s\n' "$_pm_pkgs" | ua_estimate "$@"
}

# --- services that need a restart (docs/configuration.md, "Services") -------

# Never restarted, whatever services.restart says: the display manager
# (display-manager.service is an alias; the unit it names is added at run
# time), logind, D-Bus, user managers, gettys, the rescue shells, and
# update-all's own units, in which this update runs. needrestart's own
# exclusions (its needrestart.conf, override_rc) for the desktop and
# session services.
_PM_KEEP_RUNNING='^(display-manager|gdm3?|sddm|lightdm|lxdm|xdm|kdm|wdm|slim|nodm|greetd|systemd-logind|elogind|dbus|dbus-broker|user@[0-9]+|user-runtime-dir@[0-9]+|(serial-)?getty@.+|emergency|rescue|update-all.*)\.service$'

# pkgmgr_services_mode: services.restart as update-all plugin-exec hands
# it to the update (UPDATE_ALL_SERVICES_RESTART): none, list or auto; list
# when it is not set (the plugin run by hand) or not one of those.
pkgmgr_services_mode() {
    case ${UPDATE_ALL_SERVICES_RESTART:-list} in
    none | list | auto) echo "${UPDATE_ALL_SERVICES_RESTART:-list}" ;;
    *)
        echo "${UA_PLUGIN:-plugin}: UPDATE_ALL_SERVICES_RESTART=$UPDATE_ALL_SERVICES_RESTART is not none, list or auto; taken as list" >&2
        echo list
        ;;
    esac
}

PM_SERVICES_LEFT='' PM_SERVICES_RESTARTED=''

# pkgmgr_restart_services < UNITS: the services (one unit name a line) that
# still run replaced code. With services.restart auto, each one that may be
# restarted is (systemctl try-restart, one at a time, so that one failure
# does not hide the others); PM_SERVICES_RESTARTED lists those, and
# PM_SERVICES_LEFT the others, one a line. Says what it does on stderr.
pkgmgr_restart_services() {
    _pm_mode=$(pkgmgr_services_mode)
    _pm_dm=$(systemctl show -P Id display-manager.service 2>/dev/null)
    PM_SERVICES_LEFT='' PM_SERVICES_RESTARTED=''
    while IFS= read -r _pm_unit; do
        case $_pm_unit in '') continue ;; *.*) ;; *) _pm_unit=$_pm_unit.service ;; esac
        if [ "$_pm_mode" = auto ]; then
            if [ "$_pm_unit" = "$_pm_dm" ] || printf '%s\n' "$_pm_unit" | grep -Eq "$_PM_KEEP_RUNNING"; then
                echo "${UA_PLUGIN:-plugin}: $_pm_unit needs a restart, which update-all never does" >&2
            elif systemctl try-restart "$_pm_unit" >&2 </dev/null; then
                echo "${UA_PLUGIN:-plugin}: restarted $_pm_unit" >&2
                PM_SERVICES_RESTARTED="$PM_SERVICES_RESTARTED$_pm_unit
"
                continue
            else
                echo "${UA_PLUGIN:-plugin}: systemctl try-restart $_pm_unit failed" >&2
            fi
        else
            echo "${UA_PLUGIN:-plugin}: $_pm_unit needs a restart" >&2
        fi
        PM_SERVICES_LEFT="$PM_SERVICES_LEFT$_pm_unit
"
    done
}

# pkgmgr_success [KEY JSON]...: the update's success document, its data
# the pairs given (ua_json_object) and, when services need or had a
# restart, services_to_restart and services_restarted (arrays of unit
# names, docs/plugin-protocol.md "download and update"); null when there
# is nothing to say.
pkgmgr_success() {
    for _pm_key in services_to_restart services_restarted; do
        if [ "$_pm_key" = services_to_restart ]; then _pm_list=$PM_SERVICES_LEFT; else _pm_list=$PM_SERVICES_RESTARTED; fi
        [ -n "$_pm_list" ] || continue
        # shellcheck disable=SC2086 # one word a line: unit names have no blanks
        set -- "$@" "$_pm_key" "$(ua_json_strings $_pm_list)"
    done
    _pm_held=$(ua_held_back_json)
    [ -z "$_pm_held" ] || set -- "$@" held_back "$_pm_held"
    if [ $# -eq 0 ]; then
        ua_success
    else
        ua_success "$(ua_json_object "$@")"
    fi
}
