# shellcheck shell=sh
# update-all plugin library: update policies (docs/plugin-protocol.md,
# "Update policies"). update-all plugin-exec hands a plugin's update (and
# `update-all check` its estimate-update) the effective policy:
#
#   UPDATE_ALL_POLICY_ALLOW          patch,minor,major,security (classes)
#   UPDATE_ALL_POLICY_SECURITY_ONLY  true | false
#   UPDATE_ALL_POLICY_HOLD           extended regular expressions over
#                                    package names, one a line
#   UPDATE_ALL_POLICY_MIN_AGE        seconds a version must have been out
#
# Unset (a plugin run by hand) is the default: everything allowed, nothing
# held. Source it after plugin.sh. Each decision's reason is worded as
# update-all's own (core::policy::Held), so `check`, the record and the
# journal say the same.

# policy_active: whether the policy can hold anything back (else a plugin
# keeps its plain upgrade-everything path).
policy_active() {
    for _ua_p_class in patch minor major; do
        case ",${UPDATE_ALL_POLICY_ALLOW:-patch,minor,major,security}," in
        *,"$_ua_p_class",*) ;;
        *) return 0 ;;
        esac
    done
    ua_is_true "${UPDATE_ALL_POLICY_SECURITY_ONLY:-false}" && return 0
    [ -n "${UPDATE_ALL_POLICY_HOLD:-}" ] && return 0
    [ "${UPDATE_ALL_POLICY_MIN_AGE:-0}" -gt 0 ] 2>/dev/null && return 0
    return 1
}

# policy_classify CURRENT NEW: patch, minor or major by semantic version
# (the first number that differs: 1.2.3 → 2.0.0 is major, → 1.3.0 minor,
# → 1.2.4 patch; a leading v and a build or pre-release suffix are
# ignored; numbers past the third count as patch); unknown when either is
# no version or they are equal.
policy_classify() {
    _UA_P_A=$1 _UA_P_B=$2 awk 'BEGIN {
        n = split(ver(ENVIRON["_UA_P_A"]), a, "."); m = split(ver(ENVIRON["_UA_P_B"]), b, ".")
        if (n == 0 || m == 0) { print "unknown"; exit }
        for (i = 1; i <= (n > m ? n : m); i++) {
            if ((a[i] + 0) != (b[i] + 0)) {
                print (i == 1 ? "major" : i == 2 ? "minor" : "patch"); exit
            }
        }
        print "unknown"
    }
    function ver(s) {
        sub(/^[vV]/, "", s); sub(/[-+].*$/, "", s)
        return s ~ /^[0-9]+(\.[0-9]+)*$/ ? s : ""
    }'
}

# policy_held_by NAME: the hold pattern that matches NAME, if one does
# (status 0), as grep -E reads it.
policy_held_by() {
    [ -n "${UPDATE_ALL_POLICY_HOLD:-}" ] || return 1
    _ua_p_ifs=$IFS
    IFS='
'
    for _ua_p_re in $UPDATE_ALL_POLICY_HOLD; do
        if printf '%s\n' "$1" | grep -Eq -- "$_ua_p_re"; then
            IFS=$_ua_p_ifs
            printf '%s\n' "$_ua_p_re"
            return 0
        fi
    done
    IFS=$_ua_p_ifs
    return 1
}

# policy_allows_class TYPE: whether the class TYPE (patch, minor, major,
# security, unknown) passes allow and security_only. Security updates pass
# allow whatever it says; unknown passes allow but not security_only.
policy_allows_class() {
    case $1 in security) return 0 ;; esac
    ! ua_is_true "${UPDATE_ALL_POLICY_SECURITY_ONLY:-false}" || return 1
    case $1 in unknown) return 0 ;; esac
    case ",${UPDATE_ALL_POLICY_ALLOW:-patch,minor,major,security}," in
    *,"$1",*) return 0 ;;
    esac
    return 1
}

# policy_reason NAME TYPE: why the policy holds NAME's update of class
# TYPE back (status 0), or nothing (status 1) when it may be applied.
policy_reason() {
    if _ua_p_by=$(policy_held_by "$1"); then
        printf 'held by the pattern "%s"\n' "$_ua_p_by"
    elif policy_allows_class "$2"; then
        return 1
    elif ua_is_true "${UPDATE_ALL_POLICY_SECURITY_ONLY:-false}"; then
        echo 'not a security update (security_only)'
    else
        printf 'a %s update, not allowed by the policy\n' "$2"
    fi
}

# policy_min_age_cutoff: the newest release time (UTC, ISO 8601 as
# registries write it: 2026-12-04T10:00:00) a version may have under
# min_age; nothing when min_age is 0.
policy_min_age_cutoff() {
    _ua_p_age=${UPDATE_ALL_POLICY_MIN_AGE:-0}
    [ "$_ua_p_age" -gt 0 ] 2>/dev/null || return 0
    date -u -d "@$(($(date +%s) - _ua_p_age))" +%Y-%m-%dT%H:%M:%S
}

# policy_pick CURRENT < VERSIONS: the highest version newer than CURRENT
# that the policy's allow and min_age let through. VERSIONS: one a line,
# `version<TAB>release time` (the time may be missing: min_age then lets
# it through). Pre-releases (1.2.0-rc.1) are never picked. Prints nothing
# when no version qualifies.
policy_pick() {
    _UA_P_CUR=$1 _UA_P_CUTOFF=$(policy_min_age_cutoff) \
        _UA_P_ALLOW=${UPDATE_ALL_POLICY_ALLOW:-patch,minor,major,security} \
        _UA_P_SECONLY=${UPDATE_ALL_POLICY_SECURITY_ONLY:-false} awk '
    # A version as four numbers (missing ones 0), or 0 when it is none.
    function parts(s, out,   n, i) {
        sub(/^[vV]/, "", s)
        if (s !~ /^[0-9]+(\.[0-9]+)*$/) return 0
        n = split(s, out, ".")
        for (i = n + 1; i <= 4; i++) out[i] = 0
        return 1
    }
    function cmp(x, y,   i) {
        for (i = 1; i <= 4; i++) if ((x[i] + 0) != (y[i] + 0)) return (x[i] + 0) < (y[i] + 0) ? -1 : 1
        return 0
    }
    BEGIN {
        FS = "\t"; allow = "," ENVIRON["_UA_P_ALLOW"] ","; cutoff = ENVIRON["_UA_P_CUTOFF"]
        if (!parts(ENVIRON["_UA_P_CUR"], cur)) exit
        if (ENVIRON["_UA_P_SECONLY"] == "true") exit
        best = ""
    }
    {
        if (!parts($1, v) || cmp(v, cur) <= 0) next
        for (i = 1; i <= 3; i++) if ((v[i] + 0) != (cur[i] + 0)) break
        class = i == 1 ? "major" : i == 2 ? "minor" : "patch"
        if (index(allow, "," class ",") == 0) next
        if (cutoff != "" && $2 != "" && substr($2, 1, 19) > cutoff) next
        if (best == "" || cmp(v, bv) > 0) { best = $1; for (k = 1; k <= 4; k++) bv[k] = v[k] }
    }
    END { if (best != "") print best }'
}

# policy_filter < ROWS: ua_estimate's rows (NAME, CURRENT, NEW, download
# and installed size, update_type, tab-separated) for those the policy
# lets through, the update_type filled in by semantic version
# (policy_classify) where the row has none; the others go to
# ua_held_back with the reason. For tools that offer only their newest
# version: a package whose newest version is of a class the policy does
# not allow is held back whole.
policy_filter() {
    # Tabs as \037 for read: a tab is blank to IFS, so two in a row (an
    # empty field) would be one.
    tr '\t' '\037' | while IFS=$(printf '\037') read -r _ua_p_name _ua_p_cur _ua_p_new _ua_p_dl _ua_p_inst _ua_p_type _; do
        [ -n "$_ua_p_name" ] || continue
        [ -n "$_ua_p_type" ] || _ua_p_type=$(policy_classify "$_ua_p_cur" "$_ua_p_new")
        if policy_active && _ua_p_why=$(policy_reason "$_ua_p_name" "$_ua_p_type"); then
            ua_held_back "$_ua_p_name" "$_ua_p_cur" "$_ua_p_new" "$_ua_p_why"
        else
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$_ua_p_name" "$_ua_p_cur" "$_ua_p_new" \
                "$_ua_p_dl" "$_ua_p_inst" "$_ua_p_type"
        fi
    done
}

# policy_min_age_unknown WHY: says on stderr (the unit's journal) that
# min_age is set but not applied, because WHY (the tool does not say
# when a version was released).
policy_min_age_unknown() {
    [ "${UPDATE_ALL_POLICY_MIN_AGE:-0}" -gt 0 ] 2>/dev/null || return 0
    echo "${UA_PLUGIN:-plugin}: min_age (${UPDATE_ALL_POLICY_MIN_AGE}s) is not applied: $1" >&2
}
