# shellcheck shell=sh
# Shared by the plugins for user-installed toolchains and app stores
# (pipx, npm, cargo, rustup, sdkman, gcloud, brew, ...), on top of
# plugin.sh: where their tools live when a systemd unit runs them, and
# settings that become the tools' own environment variables.

# tc_path_add DIR...: puts each DIR that exists and is not on PATH yet in
# front of it. A unit's PATH is systemd's default, without ~/.cargo/bin,
# ~/.local/bin or Homebrew, which an interactive shell would have.
tc_path_add() {
    for _tc_dir in "$@"; do
        if [ -z "$_tc_dir" ] || [ ! -d "$_tc_dir" ]; then continue; fi
        case :$PATH: in *:"$_tc_dir":*) continue ;; esac
        PATH=$_tc_dir:$PATH
    done
    export PATH
}

# tc_setting_env KEY VAR: exports VAR as the manifest setting KEY when that
# is set and not empty, so settings such as UPDATE_ALL_PIPX_HOME reach the
# tool as PIPX_HOME; otherwise VAR stays as it is (the tool's default).
tc_setting_env() {
    _tc_val=$(ua_setting "$1" '')
    [ -z "$_tc_val" ] || eval "$2=\$_tc_val; export $2"
}

# tc_newer OLD NEW: is version NEW later than OLD (version sort, as
# sort -V orders 1.9 < 1.10)?
tc_newer() {
    [ "$1" != "$2" ] || return 1
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$2" ]
}

# tc_lines TEXT: the number of non-empty lines of TEXT.
tc_lines() {
    printf '%s\n' "$1" | grep -c . || :
}
