#!/bin/sh
# timer-heap.sh - draws docs/img/timer-heap.svg, chapter 06's picture of the timer heap: six
# deadlines as a tree, the same six as the array the heap keeps, and each node's back
# pointer (node.index) that says where in the array it sits.
#
#   sh docs/img/timer-heap.sh > docs/img/timer-heap.svg
#
# The keys are in array order; the tree is drawn from them (children of i: 2i+1, 2i+2), so
# the picture is a heap whatever keys are listed, as long as each is no smaller than its
# parent's. The owners named are the connections (or server tasks) that embed each node.
set -eu

KEYS="1200 1500 1300 2000 1700 1400"
OWNERS="conn fd 7|conn fd 5|accept retry|conn fd 9|conn fd 6|conn fd 8"

awk -v keys="$KEYS" -v owners="$OWNERS" '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function text(x, y, s, anchor, extra) {
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor, extra, esc(s)
}
function box(x, y, w, h, fill, stroke) {
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"4\" fill=\"%s\" stroke=\"%s\"/>\n", x, y, w, h, fill, stroke
}
function line(x1, y1, x2, y2, colour, extra) {
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\"%s/>\n", x1, y1, x2, y2, colour, extra
}
BEGIN {
    n = split(keys, key, " "); split(owners, owner, "|")
    W = 860; H = 585
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, H, W, H
    print "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#c0392b\"/></marker></defs>"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    text(W / 2, 28, "Step 06: the timer heap, as a tree and as the array it is", "middle", " font-size=\"16\" font-weight=\"bold\"")

    # The tree: level d holds indexes 2^d - 1 .. 2^(d+1) - 2, spread evenly across the width.
    NW = 96; NH = 44
    for (i = 0; i < n; i++) {
        d = int(log(i + 1) / log(2) + 1e-9); first = 2 ^ d - 1; slots = 2 ^ d
        tx[i] = 60 + (W - 120) * ((i - first) + 0.5) / slots; ty[i] = 60 + d * 80
    }
    for (i = 1; i < n; i++) {
        p = int((i - 1) / 2)
        line(tx[p], ty[p] + NH, tx[i], ty[i], "#7f8c8d", "")
    }
    for (i = 0; i < n; i++) {
        box(tx[i] - NW / 2, ty[i], NW, NH, i == 0 ? "#fdebd0" : "#d6e9f8", "#2f6f9f")
        text(tx[i], ty[i] + 19, "key " key[i + 1], "middle", " font-weight=\"bold\"")
        text(tx[i], ty[i] + 36, "index " i, "middle", " fill=\"#c0392b\"")
    }
    text(tx[0] + NW / 2 + 10, ty[0] + 27, "the earliest deadline: nodes[0]", "start", "")

    # The array of pointers, and below it the nodes, each embedded in its owner.
    AY = 330; CW = 120; AX = (W - n * CW) / 2
    text(AX - 10, AY + 25, "nodes[]", "end", " font-weight=\"bold\"")
    OY = 440
    for (i = 0; i < n; i++) {
        x = AX + i * CW
        box(x, AY, CW, 40, "#ffffff", "#555555")
        text(x + CW / 2, AY - 8, i, "middle", " fill=\"#555555\"")
        text(x + CW / 2, AY + 25, "pointer", "middle", " fill=\"#555555\"")
        line(x + CW / 2, AY + 40, x + CW / 2, OY - 2, "#555555", " marker-end=\"url(#arrow)\"")
        box(x + 6, OY, CW - 12, 76, "#f4f6f7", "#7f8c8d")
        text(x + CW / 2, OY + 17, owner[i + 1], "middle", " font-style=\"italic\"")
        box(x + 14, OY + 26, CW - 28, 42, "#d6e9f8", "#2f6f9f")
        text(x + CW / 2, OY + 44, "key " key[i + 1], "middle", "")
        text(x + CW / 2, OY + 61, "index " i, "middle", " fill=\"#c0392b\"")
    }
    text(W / 2, OY + 100, "Each node lives inside its owner and knows its own index: a closing connection removes its timer without searching.", "middle", "")
    text(W / 2, OY + 116, "Children of nodes[i]: nodes[2i+1], nodes[2i+2]. Every move goes through place(), which writes the index.", "middle", "")
    print "</svg>"
}
'
