# shellcheck shell=sh
# Reading JSON in POSIX sh plugins, without jq or python (neither is
# guaranteed where npm, brew, fwupdmgr or gcloud run): json_flatten turns a
# document into one line per scalar, for awk to pick from.
#
#   npm outdated --json | json_flatten
#   is-number<US>current<TAB>6.0.0
#   is-number<US>wanted<TAB>7.0.0
#
# A line is PATH, a tab, VALUE. PATH is the object keys and array indexes
# (from 0) leading to the value, joined by the unit separator (octal 037),
# so keys may hold "/" or "." (npm's "@scope/name"). VALUE is a string's
# text with its escapes decoded to UTF-8, or a number, true or false as
# written; null is empty. Tabs, newlines and other control characters in
# keys and values become spaces, so every scalar is one line. Empty
# objects and arrays print nothing. Tokens out of order, unbalanced
# brackets and a truncated or missing document fail (status 2, a message
# on stderr) after printing the lines before the fault; stray characters
# between tokens are skipped, not reported.
#
# In awk: BEGIN { FS = "\t" } { n = split($1, p, "\037") ... }.

# One token a line: JSON strings cannot hold raw newlines, so grep -o can
# cut the text into strings, numbers, literals and punctuation; the parser
# below then checks their order.
_JSON_TOKENS='"([^"\\]|\\.)*"|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null|[][{}:,]'

# shellcheck disable=SC2016 # an awk program
_JSON_FLATTEN_AWK='
function hexval(h,   i, v) {
    v = 0; h = tolower(h)
    for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
    return v
}
function utf8(c) {
    if (c < 128) return sprintf("%c", c < 32 ? 32 : c)
    if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
    if (c < 65536) return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
    return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64, 128 + int(c / 64) % 64, 128 + c % 64)
}
function unquote(t,   s, out, i, e, c, u, lo) {
    s = substr(t, 2, length(t) - 2); out = ""
    while ((i = index(s, "\\")) > 0) {
        out = out substr(s, 1, i - 1); e = substr(s, i + 1, 1); s = substr(s, i + 2)
        if (e == "u") {
            u = hexval(substr(s, 1, 4)); s = substr(s, 5)
            if (u >= 55296 && u < 56320 && substr(s, 1, 2) == "\\u") {
                lo = hexval(substr(s, 3, 4))
                if (lo >= 56320 && lo < 57344) { u = 65536 + (u - 55296) * 1024 + (lo - 56320); s = substr(s, 7) }
            }
            if (u >= 55296 && u < 57344) u = 65533
            out = out utf8(u)
        } else if (e == "n" || e == "t" || e == "r" || e == "b" || e == "f") out = out " "
        else out = out e
    }
    out = out s
    gsub(/[\001-\037\177]/, " ", out)
    return out
}
function path(   i, p) {
    p = ""
    for (i = 1; i <= depth; i++) p = p (i > 1 ? "\037" : "") key[i]
    return p
}
function fail(msg) {
    printf "json_flatten: %s (token %d: %s)\n", msg, NR, substr($0, 1, 40) > "/dev/stderr"
    bad = 1; exit 2
}
function scalar(t) {
    if (t ~ /^"/) return unquote(t)
    return t == "null" ? "" : t
}
function done_value() { want = depth == 0 ? "end" : "more" }
BEGIN { depth = 0; want = "value"; bad = 0 }
{
    t = $0
    if (want == "end") fail("text after the document")
    if (t == "{" || t == "[") {
        if (want != "value" && want != "value_or_end") fail("unexpected " t)
        depth++; kind[depth] = t
        if (t == "[") { key[depth] = 0; want = "value_or_end" } else want = "key_or_end"
        next
    }
    if (t == "}" || t == "]") {
        if (depth == 0 || (t == "}") != (kind[depth] == "{")) fail("unbalanced " t)
        if (want != "more" && !(t == "}" && want == "key_or_end") && !(t == "]" && want == "value_or_end"))
            fail("unexpected " t)
        depth--; done_value(); next
    }
    if (t == ":") { if (want != "colon") fail("unexpected :"); want = "value"; next }
    if (t == ",") {
        if (want != "more") fail("unexpected ,")
        if (kind[depth] == "[") { key[depth]++; want = "value" } else want = "key"
        next
    }
    if (want == "key" || want == "key_or_end") {
        if (t !~ /^"/) fail("expected a key")
        key[depth] = unquote(t); want = "colon"; next
    }
    if (want != "value" && want != "value_or_end") fail("unexpected value")
    printf "%s\t%s\n", path(), scalar(t)
    done_value()
}
END {
    if (bad) exit 2
    if (want != "end") {
        printf "json_flatten: %s\n", NR ? "the document is truncated" : "no JSON document" > "/dev/stderr"
        exit 2
    }
}
'

# json_flatten < JSON: the document as PATH<TAB>VALUE lines (see above).
json_flatten() {
    LC_ALL=C grep -Eo "$_JSON_TOKENS" | LC_ALL=C awk "$_JSON_FLATTEN_AWK"
}
