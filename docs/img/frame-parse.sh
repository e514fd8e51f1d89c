#!/bin/sh
# frame-parse.sh - draws docs/img/frame-parse.svg, chapter 02's picture of how step 02 reads
# one KV/1 request from a blocking socket: the type, then each argument's length and bytes,
# and the three ways out to an ERROR and the lingering close.
#
#   sh docs/img/frame-parse.sh > docs/img/frame-parse.svg
#
# The layout is a list of rows (one line each, fields separated by "|"), which awk turns
# into boxes and arrows:
#
#   step|TEXT                a box on the main path
#   test|TEXT|EXIT           a question on the main path; "no" leads right to EXIT
#   loop|TEXT                the start of the loop over the arguments
#   end|TEXT                 the loop's end: an arrow back to the loop's start
#   left|TEXT                a way out that is not an error (right, in grey)
set -eu

awk -F'|' '
BEGIN {
    W = 820; X = 40; BW = 380; BH = 34; GAP = 18; EX = 500; EW = 290
    y = 56; n = 0
}
{ kind[n] = $1; text[n] = $2; exit_text[n] = $3; n++ }

function box(x, y, w, h, fill, stroke, rx) {
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"%d\" fill=\"%s\" " \
           "stroke=\"%s\"/>\n", x, y, w, h, rx, fill, stroke
}
function label(x, y, s, extra) {
    gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"%s>%s</text>\n", x, y, extra, s
}
function arrow(x1, y1, x2, y2, colour) {
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"1.5\" " \
           "marker-end=\"url(#head)\"/>\n", x1, y1, x2, y2, colour
}

END {
    height = 56 + n * (BH + GAP) + 120
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, height, W, height
    print "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\"" \
          " markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#444444\"/></marker></defs>"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    label(W / 2, 28, "Step 02 reads one KV/1 request from a blocking socket",
          " font-size=\"16\" font-weight=\"bold\"")

    cx = X + BW / 2
    for (i = 0; i < n; i++) {
        top[i] = y
        if (kind[i] == "test") {
            box(X, y, BW, BH, "#fff4d6", "#b08000", 14)
            label(cx, y + 22, text[i], "")
            arrow(X + BW, y + BH / 2, EX, y + BH / 2, "#c0392b")
            label((X + BW + EX) / 2, y + BH / 2 - 5, "no", " fill=\"#c0392b\"")
            box(EX, y, EW, BH, "#fde8e6", "#c0392b", 4)
            label(EX + EW / 2, y + 22, exit_text[i], "")
            exits[++nexits] = y + BH
        } else if (kind[i] == "left") {
            box(X, y, BW, BH, "#eef6ee", "#4f8a4f", 4)
            label(cx, y + 22, text[i], "")
            arrow(X + BW, y + BH / 2, EX, y + BH / 2, "#777777")
            label((X + BW + EX) / 2, y + BH / 2 - 5, "0 bytes", " fill=\"#777777\"")
            box(EX, y, EW, BH, "#f2f2f2", "#777777", 4)
            label(EX + EW / 2, y + 22, exit_text[i], "")
        } else {
            box(X, y, BW, BH, kind[i] == "loop" || kind[i] == "end" ? "#e8f0fb" : "#eef6ee",
                kind[i] == "loop" || kind[i] == "end" ? "#3a6fb0" : "#4f8a4f", 4)
            label(cx, y + 22, text[i], "")
        }
        if (kind[i] == "loop")
            loop_top = y
        if (kind[i] == "end") {
            # back up the left side to the start of the loop
            printf "<polyline points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"#3a6fb0\" " \
                   "stroke-width=\"1.5\"/>\n",
                   X, y + BH / 2, X - 22, y + BH / 2, X - 22, loop_top + BH / 2
            arrow(X - 22, loop_top + BH / 2, X, loop_top + BH / 2, "#3a6fb0")
        }
        if (i + 1 < n)
            arrow(cx, y + BH, cx, y + BH + GAP, "#444444")
        y += BH + GAP
    }
    # back to the top for the next request, on the far left
    printf "<polyline points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"#444444\" " \
           "stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n",
           cx - 120, y - GAP, cx - 120, y + 6, X - 34, y + 6
    printf "<polyline points=\"%d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"#444444\" " \
           "stroke-width=\"1.5\" stroke-dasharray=\"5 4\" marker-end=\"url(#head)\"/>\n",
           X - 34, y + 6, X - 34, top[0] + BH / 2, X - 2, top[0] + BH / 2
    label(cx - 20, y + 22, "the next request: back to the top", " fill=\"#444444\"")

    # every ERROR ends in the lingering close: a rail on the right joins them
    hy = y + 40
    rail = EX + EW + 14
    for (k = 1; k <= nexits; k++)
        printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" " \
               "stroke-width=\"1.5\"/>\n", EX + EW, exits[k] - BH / 2, rail, exits[k] - BH / 2
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" " \
           "stroke-width=\"1.5\"/>\n", rail, exits[1] - BH / 2, rail, hy + 26
    arrow(rail, hy + 26, EX + EW, hy + 26, "#c0392b")
    box(EX - 120, hy, EW + 120, 52, "#fde8e6", "#c0392b", 4)
    label(EX - 120 + (EW + 120) / 2, hy + 21, "write the ERROR, then hang up: shutdown(SHUT_WR),", "")
    label(EX - 120 + (EW + 120) / 2, hy + 40, "drop input until the client closes or 5 s pass", "")
    print "</svg>"
}
' <<'EOF'
left|read exactly 2 bytes: the type|the client left: READ_CLOSED
test|a type we know? (GET 1, SET 2, DEL 3)|ERROR: unknown request type
loop|for each argument the type takes (1 or 2):
step|read exactly 4 bytes: the length
test|length <= 32 MiB?|ERROR: argument exceeds the limit
test|malloc(length) succeeds?|ERROR: out of memory
end|read exactly length bytes into it
step|carry out the request on the store
step|write 6 bytes (status, length), then the payload
EOF
