#!/bin/sh
# two-front-ends.sh - draws docs/img/two-front-ends.svg, chapter 09's picture of the server:
# two protocols in front, one command table behind. The first byte a connection sends picks
# its parser; both parsers end in an argument vector for the same table; the handler
# replies through struct reply_ops, which each protocol implements, into the connection's
# out queue.
#
#   sh docs/img/two-front-ends.sh > docs/img/two-front-ends.svg
#
# The picture is a list of rows (fields separated by "|"), which awk turns into SVG:
#
#   box|X|Y|W|H|KIND|TITLE|LINE|LINE...   a box, top left at X,Y; KIND picks its colours
#                                         (resp, kv1, both); the lines go under the title
#   arrow|X1,Y1 X2,Y2 ...|LX|LY|LABEL     an arrow along the points, with a label at LX,LY
#   text|X|Y|TEXT|EXTRA                   a label centred at X,Y; EXTRA is more SVG attributes
set -eu

awk -F'|' '
BEGIN {
    W = 980; H = 620
    fill["resp"] = "#d6e9f8"; stroke["resp"] = "#2f6f9f"
    fill["kv1"] = "#fdebd3"; stroke["kv1"] = "#b86e1a"
    fill["both"] = "#eef6ee"; stroke["both"] = "#4f8a4f"
}
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function label(x, y, s, extra) {
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\"%s>%s</text>\n", x, y, extra, esc(s)
}
NR == 1 {
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" " \
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", W, H, W, H
    print "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\"" \
          " markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#444444\"/></marker></defs>"
    print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    label(W / 2, 30, "Step 09: two front ends, one command table", " font-size=\"16\" font-weight=\"bold\"")
}
$1 == "box" {
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"%s\" stroke=\"%s\" stroke-width=\"1.3\"/>\n",
           $2, $3, $4, $5, fill[$6], stroke[$6]
    label($2 + $4 / 2, $3 + 20, $7, " font-weight=\"bold\"")
    for (i = 8; i <= NF; i++)
        label($2 + $4 / 2, $3 + 20 + 18 * (i - 7), $i, " font-family=\"monospace\" font-size=\"12\" xml:space=\"preserve\"")
}
$1 == "arrow" {
    printf "<polyline points=\"%s\" fill=\"none\" stroke=\"#444444\" stroke-width=\"1.3\" " \
           "marker-end=\"url(#head)\"/>\n", $2
    if ($5 != "")
        label($3, $4, $5, " fill=\"#444444\" font-size=\"12\"")
}
$1 == "text" { label($2, $3, $4, $5 == "" ? "" : " " $5) }
END { print "</svg>" }
' <<'ROWS'
box|20|160|140|80|both|bytes received|conn->in|*3\r\n$3\r\nSET...
box|200|160|130|80|both|the first byte|choose_protocol()|conn->protocol
text|240|262|anything else: a KV/1|fill="#777777" font-size="12"
text|240|278|ERROR, then the close|fill="#777777" font-size="12"
box|380|70|200|96|resp|RESP parser|resp.c: resp_parse()|*: an array of bulks|a letter: inline words
box|380|236|200|96|kv1|KV/1 parser|protocol.c|parse_request()|00 02 ... (type 2: SET)
box|620|80|140|76|resp|argv|{"SET", "k", "v"}|any length
box|620|246|140|76|kv1|kv1_answer()|names[type], args|{"SET", "k", "v"}
box|800|70|160|200|both|the command table|commands.c|command_execute()|get     2|set    -3|mget   -2|del    -2|... name, arity,|flags, handler
box|800|320|160|64|both|the handler|set_command()
box|800|430|160|96|both|struct reply_ops|status  error|integer  bulk|value null array
box|520|400|230|80|resp|resp_reply_ops|resp.c: encodes at once|+OK\r\n  :1\r\n  $-1\r\n
box|520|500|230|80|kv1|kv1_catch_ops|catch one reply, then|kv1_translate(): OK ...
box|240|450|200|76|both|the out queue|step 08: out_append()|writev() to the socket
arrow|160,200 198,200|||
arrow|330,185 355,185 355,118 378,118|300|148|* or a letter
arrow|330,215 355,215 355,284 378,284|336|262|0x00
arrow|580,118 618,118|||
arrow|580,284 618,284|||
arrow|760,118 798,118|||
arrow|760,284 780,284 780,240 798,240|||
arrow|880,270 880,318|||
arrow|880,384 880,428|||
arrow|800,465 752,445|||
arrow|800,495 752,530|||
arrow|520,440 442,478|||
arrow|520,540 442,500|||
text|490|602|A connection keeps the protocol its first byte chose; both reach the same store through the same handlers.|fill="#555555"
ROWS
