# shellcheck shell=sh
# update-all plugin library: the protocol of docs/plugin-protocol.md for
# POSIX-sh plugins. A plugin sources it, defines cmd_* functions and hands
# its arguments to the dispatcher:
#
#   #!/bin/sh
#   UA_PLUGIN=example UA_VERSION=1.0.0 UA_TOOLS="example-tool"
#   . "$(dirname "$0")/../lib/plugin.sh"
#   cmd_estimate_update() { example-tool list-updates | ua_estimate; }
#   cmd_update() { ua_run_progress -- example-tool upgrade --yes; }
#   ua_main "$@"
#
# Variables a plugin sets before ua_main (all optional):
#   UA_PLUGIN         plugin name; settings are UPDATE_ALL_<PLUGIN>_<KEY>
#   UA_VERSION        printed by `version`
#   UA_TOOLS          programs that must all be on PATH for is-applicable
#   UA_REQUIRES_SUDO  true: does-require-sudo answers yes
#   UA_SUDO_PROGRAMS  programs (names or paths) for sudo-programs-paths
# Functions it may define: cmd_is_applicable, cmd_estimate_update,
# cmd_download, cmd_update, cmd_self_update, cmd_self_upgrade, cmd_validate,
# cmd_<phase>_mutexes, cmd_<phase>_dependency, cmd_runs_after,
# cmd_rollback (see "rollback" below), and ua_cleanup (runs at exit of the JSON commands, with UA_SIGNAL set to the
# number of the signal that interrupted the command, if one did; the
# library owns the EXIT/TERM/INT/HUP traps).
#
# Every function here works under `set -u`. Names starting with _ua are
# private.

# Non-interactive defaults: nothing may wait for a terminal inside a unit,
# and tool output must be parseable (untranslated, no colours, no pager).
export LC_ALL=C.UTF-8
export DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none
export NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export npm_config_yes=true npm_config_fund=false npm_config_audit=false
export npm_config_update_notifier=false npm_config_progress=false
export GIT_TERMINAL_PROMPT=0 PAGER=cat SYSTEMD_PAGER='' NO_COLOR=1
export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never

_UA_STATE=''      # directory of the JSON commands' state (see _ua_status)
_UA_LAST_ERROR='' # what the last ua_run/ua_run_progress failure was
UA_SIGNAL=''      # number of the signal that interrupted the command
_UA_SIGNAME=''    # and its name

# --- JSON -------------------------------------------------------------------

# The awk half of the library: JSON string escaping that also turns invalid
# UTF-8 into U+FFFD, so one stray byte never makes a document unparsable.
# Run with LC_ALL=C so that awk counts bytes.
_UA_AWK_LIB='
function ua_init(   i) { for (i = 1; i < 256; i++) _ord[sprintf("%c", i)] = i }
function ua_esc(s,   out, i, n, c, o, len, lo, hi, j, b, ok) {
    if (s ~ /^[ -~]*$/ && index(s, "\"") == 0 && index(s, "\\") == 0)
        return "\"" s "\""
    out = ""; n = length(s); i = 1
    while (i <= n) {
        c = substr(s, i, 1); o = _ord[c]
        if (c == "\"" || c == "\\") { out = out "\\" c; i++; continue }
        if (o < 32) {
            if (o == 10) out = out "\\n"
            else if (o == 9) out = out "\\t"
            else if (o == 13) out = out "\\r"
            else out = out sprintf("\\u%04x", o)
            i++; continue
        }
        if (o < 128) { out = out c; i++; continue }
        len = 0
        if (o >= 194 && o <= 223) len = 2
        else if (o >= 224 && o <= 239) len = 3
        else if (o >= 240 && o <= 244) len = 4
        ok = len > 0 && i + len - 1 <= n
        lo = 128; hi = 191
        if (o == 224) lo = 160; else if (o == 237) hi = 159
        else if (o == 240) lo = 144; else if (o == 244) hi = 143
        for (j = 1; ok && j < len; j++) {
            b = _ord[substr(s, i + j, 1)]
            if (b < lo || b > hi) ok = 0
            lo = 128; hi = 191
        }
        if (ok) { out = out substr(s, i, len); i += len }
        else { out = out "\\ufffd"; i++ }
    }
    return "\"" out "\""
}
function ua_num(s) { return s ~ /^[0-9]+$/ ? s + 0 : "null" }
'

_ua_awk() { # PROGRAM [FILE...]: awk with the library, byte semantics
    _ua_prog=$1
    shift
    LC_ALL=C awk "$_UA_AWK_LIB BEGIN { ua_init() } $_ua_prog" "$@"
}

# ua_json_string TEXT: TEXT as a JSON string literal (quotes included).
ua_json_string() {
    case $1 in
    *[![:alnum:]\ ._:+~/@=,%-]*)
        _UA_S=$1 _ua_awk 'BEGIN { printf "%s", ua_esc(ENVIRON["_UA_S"]) }' ;;
    *) printf '"%s"' "$1" ;;
    esac
}

# ua_json_object KEY VALUE...: an object from pairs; each VALUE is JSON
# already (use ua_json_string for text): ua_json_object n 3 s '"x"'.
ua_json_object() {
    _ua_sep='{'
    _ua_obj=''
    while [ $# -ge 2 ]; do
        _ua_obj="$_ua_obj$_ua_sep$(ua_json_string "$1"):$2"
        _ua_sep=','
        shift 2
    done
    [ -n "$_ua_obj" ] || _ua_obj='{'
    printf '%s}' "$_ua_obj"
}

# ua_json_strings TEXT...: a JSON array of strings.
ua_json_strings() {
    _ua_arr=''
    for _ua_x in "$@"; do
        _ua_arr="$_ua_arr${_ua_arr:+,}$(ua_json_string "$_ua_x")"
    done
    printf '[%s]' "$_ua_arr"
}

# --- documents (plan 4.3) ---------------------------------------------------

_ua_emit() { # STATUS DOCUMENT: print the command's one document
    if [ -n "$(_ua_status)" ]; then
        printf 'update-all plugin %s: a second %s document was not printed\n' \
            "${UA_PLUGIN:-?}" "$1" >&2
        return 0
    fi
    if [ -n "${_UA_STATE:-}" ]; then
        printf '%s' "$1" >"$_UA_STATE/status"
        printf '%s\n' "$2" >&3
    else
        printf '%s\n' "$2"
    fi
}

# The status of the printed document lives in a file, not a variable: the
# emitters are often the end of a pipeline (tool | ua_estimate), a subshell.
_ua_status() {
    [ -z "${_UA_STATE:-}" ] || cat "$_UA_STATE/status" 2>/dev/null
}

_ua_failed() { # COMMAND STATUS: remember the failure for the error document
    _UA_LAST_ERROR="$1 exited with status $2"
    [ -z "${_UA_STATE:-}" ] || printf '%s' "$_UA_LAST_ERROR" >"$_UA_STATE/last_error"
}

# ua_success [DATA_JSON]: {"status":"success","data":DATA,...}
ua_success() {
    _ua_emit success "{\"status\":\"success\",\"data\":${1:-null},\"error\":null,\"progress\":null}"
}

_ua_error_doc() { # CODE MESSAGE [DETAILS]
    _ua_details=null
    [ -z "${3:-}" ] || _ua_details=$(ua_json_string "$3")
    printf '{"status":"error","data":null,"error":{"code":%s,"message":%s,"details":%s},"progress":null}' \
        "$(ua_json_string "$1")" "$(ua_json_string "$2")" "$_ua_details"
}

# ua_error CODE MESSAGE [DETAILS]: the error document; the command fails.
# CODE is UPPER_SNAKE (NETWORK_ERROR, LOCKED, PARSE_ERROR, ...).
ua_error() {
    _ua_emit error "$(_ua_error_doc "$1" "$2" "${3:-}")"
}

# ua_fail CODE MESSAGE [DETAILS]: ua_error, then exit (with the command's
# error exit code).
ua_fail() {
    ua_error "$@"
    exit 1
}

# ua_not_applicable [REASON]: status not_applicable (estimate-update exit 1).
ua_not_applicable() {
    _ua_reason=null
    [ -z "${1:-}" ] || _ua_reason=$(ua_json_string "$1")
    _ua_emit not_applicable "{\"status\":\"not_applicable\",\"data\":{\"applicable\":false,\"reason\":$_ua_reason},\"error\":null,\"progress\":null}"
}

# ua_not_supported MESSAGE: an error document with code NOT_SUPPORTED
# (self-update/self-upgrade exit 1).
ua_not_supported() {
    _ua_emit not_supported "$(_ua_error_doc NOT_SUPPORTED "$1")"
}

# --- estimate-update (plan 4.4) ---------------------------------------------

# ua_package NAME CURRENT NEW [DOWNLOAD_BYTES [INSTALLED_BYTES]]: one input
# line for ua_estimate (tabs and newlines in fields become spaces).
ua_package() {
    _UA_P="$1	${2:-}	${3:-}	${4:-}	${5:-}" _ua_awk 'BEGIN {
        n = split(ENVIRON["_UA_P"], f, "\t")
        for (i = 1; i <= 5; i++) { gsub(/[\t\r\n]/, " ", f[i]); printf "%s%s", f[i], i < 5 ? "\t" : "\n" }
    }'
}

# ua_estimate [OPTIONS] < PACKAGES: the estimate-update success document.
# PACKAGES: one line per package, tab-separated:
#   name  current_version  new_version  download_bytes  installed_bytes
# empty versions or sizes are null (sizes must be whole numbers of bytes).
# Options:
#   --download-total BYTES   total download size when the tool reports only
#                            a total (default: sum of the packages' sizes)
#   --installed-total BYTES  likewise for the installed size
#   --time SECONDS           estimated duration (default: 5 s per package
#                            plus the download at 10 MB/s)
#   --reboot / --security    requires_reboot / security_updates true
#   --runtime NAME, --application NAME   affects_runtimes/_applications
ua_estimate() {
    _UA_E_DL='' _UA_E_INST='' _UA_E_TIME='' _UA_E_REBOOT=false _UA_E_SEC=false
    _UA_E_RT='' _UA_E_APP=''
    while [ $# -gt 0 ]; do
        case $1 in
        --download-total) _UA_E_DL=$2; shift ;;
        --installed-total) _UA_E_INST=$2; shift ;;
        --time) _UA_E_TIME=$2; shift ;;
        --reboot) _UA_E_REBOOT=true ;;
        --security) _UA_E_SEC=true ;;
        --runtime) _UA_E_RT="$_UA_E_RT$2
"; shift ;;
        --application) _UA_E_APP="$_UA_E_APP$2
"; shift ;;
        *) printf 'ua_estimate: unknown option %s\n' "$1" >&2; return 2 ;;
        esac
        shift
    done
    _UA_E_HELD=$(ua_held_back_json)
    export _UA_E_DL _UA_E_INST _UA_E_TIME _UA_E_REBOOT _UA_E_SEC _UA_E_RT _UA_E_APP _UA_E_HELD
    _ua_est=$(_ua_awk '
    function list(s,   n, a, i, out) {
        n = split(s, a, "\n"); out = ""
        for (i = 1; i <= n; i++) if (a[i] != "") out = out (out == "" ? "" : ",") ua_esc(a[i])
        return "[" out "]"
    }
    function str(s) { return s == "" ? "null" : ua_esc(s) }
    BEGIN { FS = "\t"; pkgs = ""; count = 0; dl = 0; inst = 0; dl_known = 0; inst_known = 0 }
    /^[ \t\r]*$/ { next }
    {
        sub(/\r$/, "")
        d = ua_num($4); s = ua_num($5)
        if (d != "null") { dl += d; dl_known = 1 }
        if (s != "null") { inst += s; inst_known = 1 }
        pkgs = pkgs (count++ ? "," : "") "{\"name\":" ua_esc($1) ",\"current_version\":" str($2) \
            ",\"new_version\":" str($3) ",\"download_size_bytes\":" d ",\"installed_size_bytes\":" s \
            ($6 == "" ? "" : ",\"update_type\":" ua_esc($6)) "}"
    }
    END {
        e = ENVIRON["_UA_E_DL"]; if (e != "") { dl = ua_num(e); dl_known = 1 }
        e = ENVIRON["_UA_E_INST"]; if (e != "") { inst = ua_num(e); inst_known = 1 }
        if (!dl_known && count) dl = "null"
        if (!inst_known && count) inst = "null"
        t = ENVIRON["_UA_E_TIME"]
        if (t != "") t = ua_num(t)
        else t = count * 5 + (dl == "null" ? 0 : int((dl + 9999999) / 10000000))
        printf "{\"status\":\"success\",\"data\":{\"applicable\":true,\"packages_to_update\":[%s]," \
            "\"total_download_size_bytes\":%s,\"total_installed_size_bytes\":%s," \
            "\"estimated_time_seconds\":%s,\"affects_runtimes\":%s,\"affects_applications\":%s," \
            "\"requires_reboot\":%s,\"security_updates\":%s%s},\"error\":null,\"progress\":null}",
            pkgs, dl, inst, t, list(ENVIRON["_UA_E_RT"]), list(ENVIRON["_UA_E_APP"]),
            ENVIRON["_UA_E_REBOOT"], ENVIRON["_UA_E_SEC"],
            ENVIRON["_UA_E_HELD"] == "" ? "" : ",\"held_back\":" ENVIRON["_UA_E_HELD"]
    }') || return
    _ua_emit success "$_ua_est"
}

# ua_held_back NAME CURRENT NEW REASON: an update the plugin's policy
# (lib/policy.sh) held back. ua_estimate, pkgmgr_success and an update that
# ends without a document of its own report them as `held_back`.
ua_held_back() {
    [ -n "${_UA_STATE:-}" ] || return 0
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$_UA_STATE/held_back"
    printf '%s: held back %s %s -> %s: %s\n' "${UA_PLUGIN:-plugin}" "$1" "$2" "$3" "$4" >&2
}

# ua_held_back_json: the held updates as a JSON array; nothing when none.
ua_held_back_json() {
    [ -s "${_UA_STATE:-/nonexistent}/held_back" ] || return 0
    _ua_awk 'function str(s) { return s == "" ? "null" : ua_esc(s) }
    BEGIN { FS = "\t"; out = "" }
    { out = out (NR > 1 ? "," : "") "{\"name\":" ua_esc($1) ",\"current_version\":" str($2) \
        ",\"new_version\":" str($3) ",\"reason\":" str($4) "}" }
    END { printf "[%s]", out }' "$_UA_STATE/held_back"
}

# ua_size_to_bytes SIZE [UNIT]: "12.3 MB", "1,024 kB", "5 M", "3.1MiB" →
# bytes. kB/MB/GB/TB are powers of 1000 (apt); K/M/G/T, k and KiB/MiB/...
# powers of 1024 (dnf, pacman). Prints nothing for text it cannot read.
ua_size_to_bytes() {
    _UA_S="$1 ${2:-}" _ua_awk 'BEGIN {
        s = ENVIRON["_UA_S"]; gsub(/[ ,]/, "", s)
        if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit
        v = substr(s, 1, RLENGTH); u = substr(s, RLENGTH + 1)
        m["B"] = 1; m[""] = 1
        m["kB"] = 1e3; m["KB"] = 1e3; m["MB"] = 1e6; m["GB"] = 1e9; m["TB"] = 1e12
        m["k"] = 1024; m["K"] = 1024; m["M"] = 1048576; m["G"] = 1073741824; m["T"] = 1099511627776
        m["KiB"] = 1024; m["MiB"] = 1048576; m["GiB"] = 1073741824; m["TiB"] = 1099511627776
        if (!(u in m)) exit
        printf "%.0f\n", v * m[u]
    }'
}

# --- progress (plan 4.5) ----------------------------------------------------

# ua_progress PERCENT MESSAGE: a progress line on stderr. PERCENT is 0-100,
# or empty when unknown (null). Inside a unit it becomes the status text.
ua_progress() {
    case ${1:-} in
    '') _ua_pct=null ;;
    *[!0-9]*) _ua_pct=null ;;
    *)
        _ua_pct=${1#"${1%%[!0]*}"} # no leading zeros: 08 is not octal
        _ua_pct=$((${_ua_pct:-0} > 100 ? 100 : ${_ua_pct:-0}))
        ;;
    esac
    printf '{"type":"progress","percent":%s,"message":%s}\n' "$_ua_pct" "$(ua_json_string "${2:-}")" >&2
}

# ua_run COMMAND...: run a tool with its output on stderr (stdout carries
# only the plugin's document); its exit status is returned.
ua_run() {
    "$@" 3>&- >&2 </dev/null && return 0
    set -- "$?" "$1"
    _ua_failed "$2" "$1"
    return "$1"
}

# ua_run_progress [-s ERE] [-n TOTAL] [-r FROM TO] -- COMMAND...: like
# ua_run, and turns the tool's output into progress lines. Every output
# line is passed on (to stderr) unchanged; a line matching ERE counts as
# one of TOTAL steps, and a line with a percentage ("45%") reports it; the
# percentage is mapped into FROM..TO (default 0..100) and the line is the
# message. A progress line is printed only when a step is counted or the
# percentage changes.
ua_run_progress() {
    _UA_R_STEP='' _UA_R_TOTAL=0 _UA_R_FROM=0 _UA_R_TO=100
    while [ $# -gt 0 ]; do
        case $1 in
        -s) _UA_R_STEP=$2; shift ;;
        -n) _UA_R_TOTAL=$2; shift ;;
        -r) _UA_R_FROM=$2 _UA_R_TO=$3; shift 2 ;;
        --) shift; break ;;
        *) break ;;
        esac
        shift
    done
    export _UA_R_STEP _UA_R_TOTAL _UA_R_FROM _UA_R_TO
    # The tool's status comes back through fd 4, past the pipe (POSIX sh has
    # no pipefail). The tool gets neither fd 3 (the document) nor fd 4.
    _ua_rc=$({ { "$@" </dev/null 2>&1 3>&- 4>&-; echo "$?" >&4; } | _ua_awk '
    BEGIN {
        step = ENVIRON["_UA_R_STEP"]; total = ENVIRON["_UA_R_TOTAL"] + 0
        from = ENVIRON["_UA_R_FROM"] + 0; to = ENVIRON["_UA_R_TO"] + 0
        k = 0; last = -1
    }
    {
        sub(/\r$/, "")
        print; fflush()
        pct = -1
        if (step != "" && $0 ~ step) {
            k++
            pct = total > 0 ? from + int((to - from) * (k <= total ? k : total) / total) : last
            if (pct < 0) pct = from
            last = -1    # a new step always reports
        } else if (match($0, /[0-9]+(\.[0-9]+)?%/)) {
            v = int(substr($0, RSTART, RLENGTH - 1))
            if (v <= 100) pct = from + int((to - from) * v / 100)
        }
        if (pct >= 0 && pct != last) {
            msg = $0; sub(/^[ \t]+/, "", msg)
            if (length(msg) > 200) msg = substr(msg, 1, 200)
            printf "{\"type\":\"progress\",\"percent\":%d,\"message\":%s}\n", pct, ua_esc(msg)
            fflush()
            last = pct
        }
    }' >&2 4>&-; } 4>&1)
    _ua_rc=${_ua_rc:-1}
    [ "$_ua_rc" -eq 0 ] && return 0
    _ua_failed "$1" "$_ua_rc"
    return "$_ua_rc"
}

# --- settings and small helpers ---------------------------------------------

# ua_have PROGRAM: is it on PATH?
ua_have() { command -v "$1" >/dev/null 2>&1; }

# ua_setting KEY DEFAULT: the manifest setting KEY (env
# UPDATE_ALL_<PLUGIN>_<KEY>), or DEFAULT when it is not set.
ua_setting() {
    _ua_var=$(printf 'UPDATE_ALL_%s_%s' "${UA_PLUGIN:?UA_PLUGIN is not set}" "$1" | tr 'a-z-' 'A-Z_')
    case $_ua_var in *[!A-Z0-9_]*) printf '%s\n' "${2-}"; return ;; esac
    _ua_set='' _ua_val=''
    eval "_ua_set=\${$_ua_var+set} _ua_val=\${$_ua_var-}"
    if [ "$_ua_set" = set ]; then printf '%s\n' "$_ua_val"; else printf '%s\n' "${2-}"; fi
}

# ua_is_true VALUE: true/yes/on/1 (any case) → 0; anything else → 1.
ua_is_true() {
    case $1 in [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn] | 1) return 0 ;; esac
    return 1
}

_ua_defined() { # NAME: is NAME a shell function?
    case $(command -v "$1" 2>/dev/null) in "$1") return 0 ;; esac
    return 1
}

# --- rollback ---------------------------------------------------------------

# A plugin that can return packages to their versions before a run defines
# cmd_rollback (and says `supports_rollback: true` in its manifest). The
# packages come in the file UPDATE_ALL_ROLLBACK_FILE, one a line,
# tab-separated: name, the version to restore (the run's estimate's
# current_version), the version the run installed (its new_version; may be
# empty). An empty file changes nothing and answers success. Most plugins
# hand one function to ua_rollback_each:
#
#   cmd_rollback() { ua_rollback_each npm_restore; }
#   npm_restore() { ua_run npm install -g "$1@$2"; }    # NAME OLD NEW
#
# The function returns 0 when NAME is back at OLD. Otherwise it says why
# with ua_rollback_refuse CODE REASON (NOT_AVAILABLE: OLD is no longer in
# the archive, registry or cache) before it returns non-zero; without that
# the reason is the last failed ua_run. A plugin that must install all
# packages at once (apt) reads the rows with ua_rollback_list, reports each
# package with ua_rolled_back or ua_rollback_failed, and ends with
# ua_rollback_done.

# ua_rollback_list: the rollback file's rows, NAME<TAB>OLD<TAB>NEW, one a
# line. A row without an old version (a package the run installed new) is
# left out, with a line on stderr: there is no version to return to, and
# removing packages is not a rollback's to do. A malformed row (no name, a
# name with a space or starting with "-", which a tool would take for an
# option) is noted as failed with code INVALID_INPUT instead. Fails, with
# an error document, when UPDATE_ALL_ROLLBACK_FILE is unset or unreadable.
ua_rollback_list() {
    _ua_rbf=${UPDATE_ALL_ROLLBACK_FILE:-}
    if [ -z "$_ua_rbf" ] || [ ! -r "$_ua_rbf" ]; then
        ua_error INVALID_INPUT "rollback needs UPDATE_ALL_ROLLBACK_FILE, a readable file of name<TAB>old version<TAB>new version lines${_ua_rbf:+ ($_ua_rbf is not readable)}"
        return 1
    fi
    _UA_RB_BAD="$_UA_STATE/rollback_failed" _ua_awk '
    BEGIN { FS = "\t" }
    { sub(/\r$/, "") }
    /^[ \t]*$/ { next }
    $1 != "" && $2 == "" && $1 !~ /^-/ && $1 !~ /[ \t]/ {
        printf "%s was new in the run: left installed, there is no version to return to\n", $1 > "/dev/stderr"
        next
    }
    $1 == "" || $1 ~ /^-/ || $1 ~ /[ \t]/ {
        printf "%s\tINVALID_INPUT\tline %d of the rollback file is not name<TAB>old version<TAB>new version\n",
            ($1 == "" ? "line " NR : $1), NR >> ENVIRON["_UA_RB_BAD"]
        next
    }
    { print $1 "\t" $2 "\t" $3 }' "$_ua_rbf"
}

# ua_rolled_back NAME VERSION: NAME is back at VERSION.
ua_rolled_back() {
    printf '%s\t%s\n' "$1" "$2" >>"$_UA_STATE/rolled_back"
}

# ua_rollback_failed NAME CODE REASON: NAME could not be rolled back; CODE
# is UPPER_SNAKE (NOT_AVAILABLE, ROLLBACK_FAILED, ...).
ua_rollback_failed() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$(printf '%s' "$3" | tr '\t\r\n' '   ')" \
        >>"$_UA_STATE/rollback_failed"
}

# ua_rollback_refuse CODE REASON: inside ua_rollback_each's function, why
# the package it was given is not rolled back.
ua_rollback_refuse() {
    printf '%s\t%s' "$1" "$(printf '%s' "$2" | tr '\t\r\n' '   ')" >"$_UA_STATE/rollback_refusal"
}

# ua_rollback_each FUNCTION: calls FUNCTION NAME OLD NEW for each row of the
# rollback file, with a progress line each, notes how it went, and prints
# the document (ua_rollback_done).
ua_rollback_each() {
    _ua_rb_rows=$(ua_rollback_list) || return 1
    _ua_rb_n=$(printf '%s\n' "$_ua_rb_rows" | grep -c . || :)
    _ua_rb_k=0
    while IFS='	' read -r _ua_rb_name _ua_rb_old _ua_rb_new <&5; do
        [ -n "$_ua_rb_name" ] || continue
        ua_progress $((_ua_rb_k * 100 / _ua_rb_n)) "Rolling back $_ua_rb_name to $_ua_rb_old"
        _ua_rb_k=$((_ua_rb_k + 1))
        _UA_LAST_ERROR=''
        rm -f "$_UA_STATE/rollback_refusal" "$_UA_STATE/last_error"
        if "$1" "$_ua_rb_name" "$_ua_rb_old" "$_ua_rb_new"; then
            ua_rolled_back "$_ua_rb_name" "$_ua_rb_old"
        elif [ -s "$_UA_STATE/rollback_refusal" ]; then
            _ua_rb_why=$(cat "$_UA_STATE/rollback_refusal")
            ua_rollback_failed "$_ua_rb_name" "${_ua_rb_why%%	*}" "${_ua_rb_why#*	}"
        else
            [ -n "$_UA_LAST_ERROR" ] || _UA_LAST_ERROR=$(cat "$_UA_STATE/last_error" 2>/dev/null)
            ua_rollback_failed "$_ua_rb_name" ROLLBACK_FAILED \
                "${_UA_LAST_ERROR:-rolling back to $_ua_rb_old failed}"
        fi
    done 5<<EOF
$_ua_rb_rows
EOF
    _UA_LAST_ERROR=''
    rm -f "$_UA_STATE/last_error"
    [ "$_ua_rb_n" -eq 0 ] || ua_progress 100 "Rolled back"
    ua_rollback_done
}

# ua_rollback_done: the rollback document from what ua_rolled_back and
# ua_rollback_failed noted: success when nothing failed; otherwise an error
# whose code is the failures' own when they share one (NOT_AVAILABLE) and
# ROLLBACK_FAILED when they differ, its data listing both all the same.
# Returns non-zero when something failed.
ua_rollback_done() {
    : >>"$_UA_STATE/rolled_back"
    : >>"$_UA_STATE/rollback_failed"
    _ua_rb_doc=$(_ua_awk '
    BEGIN { FS = "\t"; ok = ""; nok = 0; bad = ""; nbad = 0; code = ""; msg = "" }
    FILENAME == ARGV[1] && $1 != "" {
        ok = ok (nok++ ? "," : "") "{\"name\":" ua_esc($1) ",\"version\":" ua_esc($2) "}"
    }
    FILENAME == ARGV[2] && $1 != "" {
        bad = bad (nbad ? "," : "") "{\"name\":" ua_esc($1) ",\"reason\":" ua_esc($3) "}"
        if (nbad++ == 0) code = $2; else if (code != $2) code = "ROLLBACK_FAILED"
        if (nbad <= 3) msg = msg (msg == "" ? "" : "; ") $1 ": " $3
    }
    END {
        data = "{\"rolled_back\":[" ok "],\"failed\":[" bad "]}"
        if (nbad == 0) {
            printf "success\t{\"status\":\"success\",\"data\":%s,\"error\":null,\"progress\":null}", data
            exit
        }
        if (nbad > 3) msg = msg "; and " (nbad - 3) " more"
        msg = "could not roll back " nbad " of " (nbad + nok) " packages: " msg
        if (code !~ /^[A-Z][A-Z0-9_]*$/) code = "ROLLBACK_FAILED"
        printf "error\t{\"status\":\"error\",\"data\":%s,\"error\":{\"code\":%s,\"message\":%s,\"details\":null},\"progress\":null}",
            data, ua_esc(code), ua_esc(msg)
    }' "$_UA_STATE/rolled_back" "$_UA_STATE/rollback_failed") || return
    _ua_emit "${_ua_rb_doc%%	*}" "${_ua_rb_doc#*	}"
    [ "${_ua_rb_doc%%	*}" = success ]
}

# --- the dispatcher ---------------------------------------------------------

_ua_is_applicable() {
    if _ua_defined cmd_is_applicable; then
        cmd_is_applicable
        return
    fi
    for _ua_t in ${UA_TOOLS:-}; do
        ua_have "$_ua_t" || return 1
    done
    [ -n "${UA_TOOLS:-}" ] && return 0
    printf 'update-all plugin %s: is-applicable is not implemented\n' "${UA_PLUGIN:-?}" >&2
    return 2
}

_ua_exit_code() { # STATUS: the command's exit code for that document
    case $UA_COMMAND:$1 in
    *:success) echo 0 ;;
    estimate-update:not_applicable) echo 1 ;;
    estimate-update:*) echo 2 ;;
    self-update:not_* | self-upgrade:not_*) echo 1 ;;
    self-update:* | self-upgrade:*) echo 2 ;;
    *) echo 1 ;;
    esac
}

_ua_on_signal() { # NUMBER NAME: the TERM/INT/HUP trap of the JSON commands
    trap '' TERM INT HUP
    UA_SIGNAL=$1 _UA_SIGNAME=$2
    exit
}

_ua_finish() { # EXIT trap of the JSON commands: exactly one document
    _ua_rc=$?
    # A stop sends TERM twice (systemd to the whole cgroup, plugin-exec to
    # the group): a second one must not cut the document or the clean-up.
    trap - EXIT
    trap '' TERM INT HUP
    [ -n "$_UA_LAST_ERROR" ] || _UA_LAST_ERROR=$(cat "$_UA_STATE/last_error" 2>/dev/null)
    if [ -n "$UA_SIGNAL" ]; then
        _ua_rc=$((128 + UA_SIGNAL))
        ua_error INTERRUPTED "$UA_COMMAND was interrupted by signal $UA_SIGNAL"
    elif [ -z "$(_ua_status)" ]; then
        if [ "$_ua_rc" -eq 0 ] && [ "$UA_COMMAND" = estimate-update ]; then
            ua_error PLUGIN_ERROR "estimate-update printed no estimate"
        elif [ "$_ua_rc" -eq 0 ]; then
            _ua_held=$(ua_held_back_json)
            if [ -n "$_ua_held" ]; then
                ua_success "{\"held_back\":$_ua_held}"
            else
                ua_success
            fi
        else
            _ua_code=$(printf '%s_FAILED' "$UA_COMMAND" | tr 'a-z-' 'A-Z_')
            ua_error "$_ua_code" "${_UA_LAST_ERROR:-$UA_COMMAND failed with status $_ua_rc}"
        fi
    fi
    ! _ua_defined ua_cleanup || ua_cleanup || :
    [ -n "$UA_SIGNAL" ] || _ua_rc=$(_ua_exit_code "$(_ua_status)")
    rm -rf "$_UA_STATE"
    if [ -n "$UA_SIGNAL" ]; then
        # Die of the signal, as the plugin would without the trap: callers
        # (systemd, shells) tell a stop from a failure by that.
        trap - TERM INT HUP
        kill -s "$_UA_SIGNAME" "$$"
    fi
    exit "$_ua_rc"
}

_ua_default_validate() {
    _ua_bad='' _ua_ia=0
    _ua_is_applicable >/dev/null 2>&1 || _ua_ia=$?
    [ "$_ua_ia" -ne 2 ] || _ua_bad="$_ua_bad is-applicable is not implemented (define cmd_is_applicable or UA_TOOLS);"
    _ua_defined cmd_estimate_update || _ua_bad="$_ua_bad estimate-update is not implemented;"
    _ua_defined cmd_update || _ua_bad="$_ua_bad update is not implemented;"
    [ -n "${UA_VERSION:-}" ] || _ua_bad="$_ua_bad UA_VERSION is not set;"
    if ua_is_true "${UA_REQUIRES_SUDO:-false}" && [ -z "${UA_SUDO_PROGRAMS:-}" ]; then
        _ua_bad="$_ua_bad UA_REQUIRES_SUDO without UA_SUDO_PROGRAMS;"
    fi
    if _ua_defined cmd_validate && ! cmd_validate; then
        _ua_bad="$_ua_bad ${_UA_LAST_ERROR:-cmd_validate failed};"
    fi
    if [ -n "$_ua_bad" ]; then
        ua_error UNHEALTHY "${_ua_bad# }"
        return 1
    fi
    ua_success '{"healthy":true}'
}

_ua_json_command() { # the commands that print one JSON document
    _UA_STATE=$(mktemp -d "${TMPDIR:-/tmp}/update-all-plugin.XXXXXX") || exit 2
    # Tools' stray stdout goes to stderr: stdout carries the document only.
    exec 3>&1 >&2 </dev/null
    trap _ua_finish EXIT
    # A stop sends TERM twice within microseconds (systemd to the whole
    # cgroup, plugin-exec to the group). The first thing a signal's trap
    # does is ignore the others: a second one that lands before
    # _ua_finish's own `trap ''` would run this trap again, and its `exit`
    # inside the EXIT trap would end the shell without the document or
    # the clean-up.
    trap '_ua_on_signal 15 TERM' TERM
    trap '_ua_on_signal 2 INT' INT
    trap '_ua_on_signal 1 HUP' HUP
    case $UA_COMMAND in
    estimate-update | download | update)
        _ua_is_applicable >/dev/null || {
            _ua_why="plugin ${UA_PLUGIN:-?} does not apply to this system"
            [ -z "${UA_TOOLS:-}" ] || _ua_why="$_ua_why: it needs $UA_TOOLS on PATH"
            ua_not_applicable "$_ua_why"
            exit 1
        }
        ;;
    esac
    case $UA_COMMAND in
    estimate-update) _ua_fn=cmd_estimate_update ;;
    download) _ua_fn=cmd_download ;;
    update) _ua_fn=cmd_update ;;
    self-update) _ua_fn=cmd_self_update ;;
    self-upgrade) _ua_fn=cmd_self_upgrade ;;
    rollback) _ua_fn=cmd_rollback ;;
    validate) _ua_default_validate; exit ;;
    esac
    if ! _ua_defined "$_ua_fn"; then
        case $UA_COMMAND in
        self-*) ua_not_supported "plugin ${UA_PLUGIN:-?} does not support $UA_COMMAND" ;;
        download) ua_error NOT_SUPPORTED "plugin ${UA_PLUGIN:-?} has no separate download" ;;
        *) ua_error NOT_IMPLEMENTED "plugin ${UA_PLUGIN:-?} does not implement $UA_COMMAND" ;;
        esac
        exit 1
    fi
    "$_ua_fn" "$@"
    exit
}

_ua_lines_command() { # FUNCTION: print its lines, or none
    if _ua_defined "$1"; then
        "$1"
        exit
    fi
    exit 0
}

_ua_usage() {
    cat <<EOF
usage: $0 COMMAND
update-all plugin ${UA_PLUGIN:-?} ${UA_VERSION:-}; see docs/plugin-protocol.md.
commands: is-applicable estimate-update can-separate-download download update
  does-require-sudo sudo-programs-paths version self-update self-upgrade
  validate estimate-update-mutexes download-mutexes update-mutexes
  estimate-update-dependency download-dependency update-dependency runs-after
  rollback (with UPDATE_ALL_ROLLBACK_FILE)
EOF
}

# ua_main "$@": run the protocol command named by the first argument.
ua_main() {
    UA_COMMAND=${1:-}
    [ $# -eq 0 ] || shift
    case $UA_COMMAND in
    is-applicable)
        _ua_is_applicable </dev/null >&2 && exit 0
        exit 1
        ;;
    can-separate-download)
        if _ua_defined cmd_can_separate_download; then
            cmd_can_separate_download && exit 0
            exit 1
        fi
        _ua_defined cmd_download && exit 0
        exit 1
        ;;
    does-require-sudo)
        ua_is_true "${UA_REQUIRES_SUDO:-false}" && exit 0
        exit 1
        ;;
    sudo-programs-paths)
        for _ua_p in ${UA_SUDO_PROGRAMS:-}; do
            case $_ua_p in
            /*) printf '%s\n' "$_ua_p" ;;
            *) command -v "$_ua_p" 2>/dev/null || printf '%s\n' "$_ua_p" ;;
            esac
        done
        exit 0
        ;;
    version)
        printf '%s\n' "${UA_VERSION:-unknown}"
        exit 0
        ;;
    estimate-update | download | update | self-update | self-upgrade | validate)
        _ua_json_command "$@"
        ;;
    rollback)
        # Optional: without cmd_rollback, the answer to an unknown command.
        _ua_defined cmd_rollback || _ua_unknown_command
        _ua_json_command "$@"
        ;;
    estimate-update-mutexes) _ua_lines_command cmd_estimate_update_mutexes ;;
    download-mutexes) _ua_lines_command cmd_download_mutexes ;;
    update-mutexes) _ua_lines_command cmd_update_mutexes ;;
    estimate-update-dependency) _ua_lines_command cmd_estimate_update_dependency ;;
    download-dependency) _ua_lines_command cmd_download_dependency ;;
    update-dependency) _ua_lines_command cmd_update_dependency ;;
    runs-after) _ua_lines_command cmd_runs_after ;;
    help | --help | -h)
        _ua_usage
        exit 0
        ;;
    *) _ua_unknown_command ;;
    esac
}

_ua_unknown_command() { # exit 2, nothing on stdout: the protocol's answer
    printf 'update-all plugin %s: unknown command "%s"\n' "${UA_PLUGIN:-?}" "$UA_COMMAND" >&2
    _ua_usage >&2
    exit 2
}
