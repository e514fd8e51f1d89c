#!/bin/sh
# consumed-front.sh - draws docs/img/consumed-front.svg, chapter 04's picture of a buffer
# with a consumed front: three requests read at once, then answered without moving a byte.
#
#   sh docs/img/consumed-front.sh > docs/img/consumed-front.svg
#
# Each row below is one moment, with its caption, the pointer marks, and its segments:
#
#   row|CAPTION
#   mark|BYTE|NAME           a pointer at BYTE (0 = base), named above the bar
#   seg|BYTES|KIND|TEXT      KIND: consumed, held or free (free space is drawn wider)
set -eu

awk -F'|' '
BEGIN {
    W = 820; X = 40; UNIT = 16; FREE_W = 300; BH = 40; ROW_H = 120; y = 60; rows = 0
    fill["consumed"] = "#e4e4e4"; fill["held"] = "#d6e9f8"; fill["free"] = "#ffffff"
    stroke["consumed"] = "#999999"; stroke["held"] = "#2f6f9f"; stroke["free"] = "#999999"
}
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function text(x, y, s, anchor, extra) {
    out = out sprintf("<text x=\"%d\" y=\"%d\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor, extra, esc(s))
}
$1 == "row" {
    if (rows++ > 0) y += ROW_H
    x = X; nmarks = 0
    text(X, y, $2, "start", " font-weight=\"bold\"")
    next
}
$1 == "mark" {
    mx = X + $2 * UNIT
    out = out sprintf("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" stroke-width=\"2\"/>\n", mx, y + 22, mx, y + 34 + BH)
    text(mx + 4, y + 18, $3, "start", " fill=\"#c0392b\"")
    next
}
$1 == "seg" {
    w = $2 * UNIT + ($3 == "free" ? FREE_W : 0)
    out = out sprintf("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"%s\"/>\n", x, y + 28, w, BH, fill[$3], stroke[$3])
    text(x + w / 2, y + 28 + BH / 2 + 5, $4, "middle", "")
    x += w
    next
}
END {
    height = y + ROW_H - 20
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, height, W, height
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    printf "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">%s</text>\n", W / 2, "Step 04: consuming a request moves a pointer, not the bytes after it"
    printf "%s", out
    print "</svg>"
}
' <<'ROWS'
row|after read(): 26 bytes, three requests, all held
seg|12|held|SET "a" "1" (12 B)
seg|7|held|GET "a"
seg|7|held|GET "b"
seg|0|free|free space
mark|0|base = data
mark|26|data + len
row|the SET answered: buffer_consume(&c->in, 12) only moves data forward
seg|12|consumed|consumed
seg|7|held|GET "a"
seg|7|held|GET "b"
seg|0|free|free space
mark|0|base
mark|12|data
mark|26|data + len
row|both GETs answered: len is 0, so data goes back to base; nothing was moved
seg|26|free|free space: the whole allocation
mark|0|base = data = data + len
ROWS
