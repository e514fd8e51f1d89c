#!/bin/sh
# conn-states.sh - draws docs/img/conn-states.svg, chapter 03's picture of the connection
# state machine of step 03 (the diagram at the top of steps/03-event-loop/server.c): what
# each state asks poll() for, and which event moves a connection from one state to the next.
#
#   sh docs/img/conn-states.sh > docs/img/conn-states.svg
#
# The picture is a list of rows (fields separated by "|"), which awk turns into SVG:
#
#   state|NAME|X|Y|WAITS FOR       a state's box, its top left corner at X,Y
#   edge|X1,Y1 X2,Y2 ...|COLOUR    an arrow along those points, its head at the last one
#   text|X|Y|TEXT                  a label, centred at X,Y
set -eu

awk -F'|' '
BEGIN { W = 760; H = 470; BW = 170; BH = 58 }
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
    label(W / 2, 28, "Step 03: the states of one connection", " font-size=\"16\" font-weight=\"bold\"")
}
$1 == "state" {
    fill = $2 == "DONE" ? "#f2f2f2" : $2 == "DRAINING" ? "#fde8e6" : "#eef6ee"
    stroke = $2 == "DONE" ? "#777777" : $2 == "DRAINING" ? "#c0392b" : "#4f8a4f"
    w = $2 == "DONE" ? 560 : BW
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"8\" fill=\"%s\" stroke=\"%s\"/>\n",
           $3, $4, w, BH, fill, stroke
    label($3 + w / 2, $4 + 25, $2, " font-weight=\"bold\"")
    label($3 + w / 2, $4 + 44, $5, " fill=\"#555555\"")
}
$1 == "edge" {
    printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" " \
           "marker-end=\"url(#head)\"/>\n", $2, $3
}
$1 == "text" { label($2, $3, $4, $5 == "" ? "" : " fill=\"" $5 "\"") }
END { print "</svg>" }
' <<'ROWS'
state|READING|80|80|poll(): POLLIN
state|WRITING|510|80|poll(): POLLOUT
state|DRAINING|510|250|poll(): POLLIN
state|DONE|100|390|closed and freed in the same round
edge|20,109 80,109|#444444
text|40|100|accepted
edge|250,98 510,98|#4f8a4f
text|380|76|a whole request: answer it|#2f6a2f
edge|510,124 250,124|#4f8a4f
text|380|146|all output sent, nothing|#2f6a2f
text|380|162|more to answer|#2f6a2f
edge|595,138 595,250|#c0392b
text|672|190|output sent after|#c0392b
text|672|206|a protocol error:|#c0392b
text|672|222|shutdown(SHUT_WR)|#c0392b
edge|680,109 730,109 730,60 640,60 640,80|#4f8a4f
text|640|50|all sent, next request waiting|#2f6a2f
edge|165,138 165,390|#777777
text|110|260|EOF, error|#555555
edge|530,138 530,200 420,200 420,390|#777777
text|485|300|write() fails|#555555
edge|595,308 595,390|#777777
text|680|350|EOF, error (bytes|#555555
text|680|366|read are thrown away)|#555555
ROWS
