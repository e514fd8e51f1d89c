#!/bin/sh
# epoll-buffers.sh - draws docs/img/epoll-buffers.svg, chapter 08's picture of where a
# request's bytes and its reply's bytes live: read into the shared read_scratch, parsed
# where they landed, only an unfinished tail kept in conn->in; replies queued as blocks,
# a large value by reference to the stored one, all written with one writev().
#
#   sh docs/img/epoll-buffers.sh > docs/img/epoll-buffers.svg
#
# One element a line:
#
#   box|X|Y|W|H|KIND|LINE|LINE...    KIND: kernel, shared, conn, store, value (fill colour);
#                                    a box 100 high or more has its lines at its top
#   arrow|X1|Y1|X2|Y2|LABEL          a labelled arrow; the label sits at its middle
#   note|X|Y|TEXT                    a line of grey text
set -eu

awk -F'|' '
BEGIN {
    W = 940; H = 530
    fill["kernel"] = "#eeeeee"; fill["shared"] = "#fdebd0"; fill["conn"] = "#d6e9f8"
    fill["store"] = "#e2f0d9"; fill["value"] = "#c5e0b4"
    stroke["kernel"] = "#777777"; stroke["shared"] = "#b9770e"; stroke["conn"] = "#2f6f9f"
    stroke["store"] = "#4f7f3a"; stroke["value"] = "#4f7f3a"
}
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function text(x, y, s, anchor, extra) {
    out = out sprintf("<text x=\"%d\" y=\"%d\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor, extra, esc(s))
}
$1 == "box" {
    x = $2; y = $3; w = $4; h = $5
    out = out sprintf("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"4\" fill=\"%s\" stroke=\"%s\"/>\n", x, y, w, h, fill[$6], stroke[$6])
    n = NF - 6
    top = h >= 100 ? y + 22 : y + h / 2 - (n - 1) * 8 + 5 # a tall box holds another: text on top
    for (i = 7; i <= NF; i++)
        text(x + w / 2, top + (i - 7) * 16, $i, "middle", i == 7 ? " font-weight=\"bold\"" : "")
    next
}
$1 == "arrow" {
    out = out sprintf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333333\" stroke-width=\"1.5\" marker-end=\"url(#head)\"/>\n", $2, $3, $4, $5)
    if ($6 != "")
        text(($2 + $4) / 2 + ($2 == $4 ? 6 : 0), ($3 + $5) / 2 - 6, $6, $2 == $4 ? "start" : "middle", " font-size=\"12\" fill=\"#c0392b\"")
    next
}
$1 == "note" {
    text($2, $3, $4, "start", " font-size=\"12\" fill=\"#555555\"")
    next
}
END {
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, H, W, H
    print "<defs><marker id=\"head\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#333333\"/></marker></defs>"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    printf "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", W / 2, "Step 08: where the bytes of a request and of its reply live"
    printf "%s", out
    print "</svg>"
}
' <<'ELEMENTS'
note|20|60|INPUT
box|20|75|150|60|kernel|socket|receive queue
arrow|170|105|250|105|read()
box|250|75|190|60|shared|read_scratch|64 KiB, one for all clients
arrow|440|105|560|105|parsed in place
box|560|75|200|60|shared|answer_requests()|whole frames, not copied
box|20|185|190|60|conn|conn->in|an unfinished tail only
arrow|300|135|160|185|tail copied
note|20|262|freed when empty: an idle client holds none
note|20|305|STORE
box|540|290|380|120|store|entry for "k" in the hash table|the store holds one reference
box|600|345|260|50|value|struct value|refs 2, len 1 MiB, bytes[]
arrow|700|135|700|290|GET: store_get(); SET: value_create()
arrow|580|135|95|445|replies appended
note|20|430|OUTPUT
box|20|445|150|55|conn|block: copied|headers, small replies
arrow|170|472|220|472|
box|220|445|150|55|conn|block: a value|not copied, refs + 1
arrow|370|472|420|472|
box|420|445|120|55|conn|block: copied|the next header
arrow|295|445|600|395|a reference
arrow|540|472|640|472|one writev()
box|640|452|150|40|kernel|socket|send queue
note|20|517|conn->out, an out_queue: a block is freed, and its value released, once the socket has taken its last byte
ELEMENTS
