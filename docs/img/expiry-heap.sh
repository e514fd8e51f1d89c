#!/bin/sh
# expiry-heap.sh - draws docs/img/expiry-heap.svg, chapter 07's picture of the store: the
# hash table's entries, each embedding a heap node, and the heap of deadlines that points
# at those nodes. Each node knows its place in the heap (index), and the heap's slot knows
# its node: from the top of the heap container_of() leads to the key that expires first.
#
#   sh docs/img/expiry-heap.sh > docs/img/expiry-heap.svg
#
# The picture is a list of rows (fields separated by "|"), which awk turns into SVG:
#
#   slot|I|X|Y|DEADLINE       heap slot nodes[I], drawn as a circle centred at X,Y
#   tree|I|J                  the tree edge from slot I to its child J
#   entry|N|X|Y|KEY|DEADLINE|INDEX   entry N's box, top left at X,Y; INDEX "-" = no expiry
#   chain|X1,Y1 X2,Y2 ...     a bucket's chain (ht_node.next), as an arrow along the points
#   ptr|I|N                   heap slot I points at entry N's heap node
#   text|X|Y|TEXT|EXTRA       a label centred at X,Y; EXTRA is more SVG attributes
set -eu

awk -F'|' '
BEGIN { W = 900; H = 580; R = 24; EW = 150; EH = 96 }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function label(x, y, s, extra) {
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"%s>%s</text>\n", x, y, extra, esc(s)
}
NR == 1 {
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, H, W, H
    print "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\"" \
          " markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#2f6f9f\"/></marker>" \
          "<marker id=\"grey\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\"" \
          " markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#777777\"/></marker></defs>"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    label(W / 2, 28, "Step 07: the keys, and the heap of their deadlines", " font-size=\"16\" font-weight=\"bold\"")
}
$1 == "slot" { sx[$2] = $3; sy[$2] = $4; sd[$2] = $5 }
$1 == "tree" {
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999999\"/>\n",
           sx[$2], sy[$2], sx[$3], sy[$3]
}
$1 == "entry" {
    ex[$2] = $3; ey[$2] = $4
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"#eef6ee\" stroke=\"#4f8a4f\"/>\n",
           $3, $4, EW, EH
    label($3 + EW / 2, $4 + 18, "entry \"" $5 "\"", " font-weight=\"bold\"")
    label($3 + EW / 2, $4 + 35, "ht_node, value ...", " fill=\"#555555\"")
    fill = $7 == "-" ? "#f2f2f2" : "#d6e9f8"; stroke = $7 == "-" ? "#999999" : "#2f6f9f"
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"4\" fill=\"%s\" stroke=\"%s\"/>\n",
           $3 + 8, $4 + 44, EW - 16, 44, fill, stroke
    label($3 + EW / 2, $4 + 61, "expiry: key " ($7 == "-" ? "-" : $6))
    label($3 + EW / 2, $4 + 79, "index " ($7 == "-" ? "HEAP_NOT_IN" : $7), $7 == "-" ? " fill=\"#777777\"" : "")
}
$1 == "chain" {
    printf "<polyline points=\"%s\" fill=\"none\" stroke=\"#777777\" stroke-width=\"1.2\" " \
           "marker-end=\"url(#grey)\"/>\n", $2
}
$1 == "ptr" {
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#2f6f9f\" stroke-width=\"1.2\" " \
           "stroke-dasharray=\"5 3\" marker-end=\"url(#head)\"/>\n",
           sx[$2], sy[$2] + R, ex[$3] + EW / 2, ey[$3] + 44
}
$1 == "text" { label($2, $3, $4, $5 == "" ? "" : " " $5) }
END {
    for (i in sx) {
        printf "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\" stroke=\"#2f6f9f\"/>\n",
               sx[i], sy[i], R, i == 0 ? "#fff3cd" : "#d6e9f8"
        label(sx[i], sy[i] + 5, sd[i], " font-weight=\"bold\"")
        label(sx[i] + R + 22, sy[i] - 12, "nodes[" i "]", " fill=\"#555555\" font-size=\"11\"")
    }
    print "</svg>"
}
' <<'ROWS'
text|450|58|struct heap expiries: nodes[] in level order, the earliest deadline on top|fill="#2f6f9f"
slot|0|450|100|1200
slot|1|275|170|1500
slot|2|700|170|1300
slot|3|160|240|4000
slot|4|390|240|1800
tree|0|1
tree|0|2
tree|1|3
tree|1|4
text|150|318|struct hashtable table: its entries|fill="#4f8a4f"
entry|0|30|330|cart:42|4000|3
entry|1|200|330|user:7|1500|1
entry|2|370|330|token:9|1800|4
entry|3|540|330|session:a|1200|0
entry|4|710|330|lock:x|1300|2
entry|5|540|450|visits|-|-
chain|615,426 615,450
ptr|0|3
ptr|1|1
ptr|2|4
ptr|3|0
ptr|4|2
text|450|572|dashed: the heap slot points at the node inside an entry; the node holds its own index back|fill="#555555" font-size="12"
ROWS
