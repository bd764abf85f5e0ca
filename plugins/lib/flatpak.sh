# shellcheck shell=sh
# The Flatpak plugins, on top of plugin.sh: flatpak (the system
# installation, system scope) and flatpak-user (each user's installation,
# user scope) differ only in the installation they name, FP_INSTALLATION
# (--system, --user or --installation=NAME), which the plugin sets before
# sourcing this file.

fp() { flatpak "$FP_INSTALLATION" "$@"; }

cmd_is_applicable() {
    ua_have flatpak || return 1
    # Something installed in this installation.
    [ -n "$(fp list --columns=ref 2>/dev/null)" ]
}

# May this process change the installation? The system one needs root
# (as a user, flatpak would ask polkit, which no unit can answer).
fp_writable() {
    [ "$FP_INSTALLATION" = --user ] || [ "$(id -u)" -eq 0 ]
}

# The pending updates, tab-separated: REF VERSION DOWNLOAD INSTALLED COMMIT,
# REF as kind/id/arch/branch. `flatpak remote-ls --updates` compares each
# remote's summary with what is deployed (pulled but undeployed commits
# still count). Sizes are GLib's g_format_size ("409 bytes", "1.5 kB" with
# a no-break space, powers of 1000).
fp_updates() {
    nbsp=$(printf '\302\240')
    fp remote-ls --updates --columns=ref,version,download-size,installed-size,commit |
        sed "s/$nbsp/ /g"
}

cmd_estimate_update() {
    if fp_writable; then
        # Fresh version numbers for the remotes (appstream data); an
        # appstream-less remote is only a warning.
        fp update --appstream -y --noninteractive || :
    fi
    updates=$(fp_updates) || ua_fail ESTIMATE_FAILED "flatpak remote-ls --updates failed"
    installed=$(fp list --columns=application,arch,branch,version,active) ||
        ua_fail ESTIMATE_FAILED "flatpak list failed"
    rows=$(printf '%s\n' "$updates" | while IFS='	' read -r ref new dl inst commit; do
        [ -n "$ref" ] || continue
        id_arch_branch=${ref#*/}
        # Installed version and commit of the same id/arch/branch.
        cur=$(printf '%s\n' "$installed" | awk -F '\t' -v k="$id_arch_branch" \
            '$1 "/" $2 "/" $3 == k { print $4 "\t" $5; exit }')
        cur_version=${cur%%	*} cur_commit=${cur#*	}
        # Versions come from appstream data, which runtimes often lack, and
        # a rebuild keeps the version: then the commits tell them apart.
        # Otherwise each version carries its commit as semantic versioning's
        # build metadata, VERSION+COMMIT (which update policies ignore when
        # they compare versions): the rollback returns to the commit the
        # estimate saw (fp_restore).
        if [ -z "$new" ] || [ "$new" = "$cur_version" ]; then
            new=$commit cur_version=$cur_commit
        else
            new="$new+$commit" cur_version="${cur_version:+$cur_version+}$cur_commit"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ref" "$cur_version" "$new" \
            "$(ua_size_to_bytes "${dl% bytes}")" "$(ua_size_to_bytes "${inst% bytes}")" "${ref%%/*}"
    done)
    set --
    for app in $(printf '%s\n' "$rows" | awk -F '\t' '$6 == "app" { split($1, r, "/"); print r[2] }' | sort -u); do
        set -- "$@" --application "$app"
    done
    # The name is id//branch, as flatpak's own commands take it.
    printf '%s\n' "$rows" | awk -F '\t' 'NF >= 5 { split($1, r, "/"); print r[2] "//" r[4] "\t" $2 "\t" $3 "\t" $4 "\t" $5 }' |
        ua_estimate "$@"
}

# flatpak update, with a progress step per ref: flatpak prints
# "Updating REF" (or "Installing REF" for a new dependency) as it starts
# each one when its output is not a terminal.
fp_update() { # PERCENT_FROM PERCENT_TO [FLAG...]
    from=$1 to=$2
    shift 2
    n=$(fp_updates | grep -c . || :)
    ua_progress "$from" "$n Flatpak refs to update"
    ua_run_progress -s '^(Updating|Installing) ' -n "$n" -r "$from" "$to" -- \
        flatpak "$FP_INSTALLATION" update -y --noninteractive "$@"
}

cmd_download() {
    # --no-deploy pulls into the local repository only; the update unit
    # then deploys without downloading again.
    fp_update 0 100 --no-deploy
}

cmd_update() {
    fp_update 0 95 || return
    if ua_is_true "$(ua_setting uninstall_unused false)"; then
        ua_progress 95 "Removing unused runtimes and extensions"
        ua_run flatpak "$FP_INSTALLATION" uninstall --unused -y --noninteractive || return
    fi
    ua_progress 100 "Flatpak updated"
}

# rollback: `flatpak update --commit=COMMIT REF`, COMMIT the one the run's
# estimate saw deployed (its current_version, COMMIT or VERSION+COMMIT, a
# short commit), found in full in the remote's history (`flatpak
# remote-info --log`, which flatpak fetches from the remote); a commit the
# remote no longer has is NOT_AVAILABLE. NAME is ID//BRANCH, as the
# estimate names it.
fp_restore() { # NAME OLD NEW
    if ! fp_writable; then
        ua_rollback_refuse PERMISSION_DENIED "rolling back the system installation needs root"
        return 1
    fi
    short=${2##*+} id=${1%%//*} branch=${1#*//}
    row=$(fp list --columns=application,branch,origin,ref |
        awk -F '\t' -v i="$id" -v b="$branch" '$1 == i && $2 == b { print $3 "\t" $4; exit }')
    if [ -z "$row" ]; then
        ua_rollback_refuse ROLLBACK_FAILED "$1 is not installed (flatpak list)"
        return 1
    fi
    origin=${row%%	*} ref=${row#*	}
    full=$(fp remote-info --log "$origin" "$ref" </dev/null 2>/dev/null |
        awk -v c="$short" '$1 == "Commit:" && index($2, c) == 1 { print $2; exit }')
    if [ -z "$full" ]; then
        ua_rollback_refuse NOT_AVAILABLE "commit $short of $1 is no longer in the history of remote $origin (flatpak remote-info --log $origin $ref)"
        return 1
    fi
    ua_run fp update -y --noninteractive --commit="$full" "$ref"
}

cmd_rollback() { ua_rollback_each fp_restore; }
