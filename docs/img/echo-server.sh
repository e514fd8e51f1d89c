#!/bin/sh
# docs/img/echo-server.sh - draws docs/img/echo-server.svg, chapter 01's picture of the
# blocking echo server: the loop the program runs on the right, the kernel's side in the
# middle (the connection being served, and the accept queue where the others wait).
#
#   sh docs/img/echo-server.sh >docs/img/echo-server.svg
#
# Plain SVG written with printf, so that the picture changes only with this script.

set -eu

# box X Y W H LABEL [SUBLABEL] [FILL]: a rounded rectangle with one or two centred lines.
box() {
    printf '<rect x="%s" y="%s" width="%s" height="%s" rx="6" fill="%s" stroke="#333"/>\n' \
        "$1" "$2" "$3" "$4" "${7:-#fff}"
    if [ -n "${6:-}" ]; then
        text $(($1 + $3 / 2)) $(($2 + $4 / 2 - 3)) middle "$5" bold
        text $(($1 + $3 / 2)) $(($2 + $4 / 2 + 13)) middle "$6" small
    else
        text $(($1 + $3 / 2)) $(($2 + $4 / 2 + 5)) middle "$5" bold
    fi
}

# text X Y ANCHOR STRING [bold|small|note]
text() {
    case ${5:-} in
    bold) style='font-weight="bold" font-size="13"' ;;
    small) style='font-size="11" fill="#555"' ;;
    note) style='font-size="11" font-style="italic" fill="#555"' ;;
    *) style='font-size="12"' ;;
    esac
    printf '<text x="%s" y="%s" text-anchor="%s" %s>%s</text>\n' "$1" "$2" "$3" "$style" "$4"
}

# arrow X1 Y1 X2 Y2 [dashed]: a straight line with an arrowhead at its end.
arrow() {
    printf '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333" stroke-width="1.5"%s marker-end="url(#head)"/>\n' \
        "$1" "$2" "$3" "$4" "$([ "${5:-}" = dashed ] && echo ' stroke-dasharray="5,4"')"
}

# path D: a bent arrow along an SVG path.
path() {
    printf '<path d="%s" fill="none" stroke="#333" stroke-width="1.5" marker-end="url(#head)"/>\n' "$1"
}

cat <<'HEAD'
<svg xmlns="http://www.w3.org/2000/svg" width="800" height="420" viewBox="0 0 800 420" font-family="sans-serif">
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<rect width="800" height="420" fill="#fff"/>
HEAD

text 400 24 middle "Step 01: one client at a time; the others wait in the kernel" bold

# The clients
box 20 70 120 44 "client A" "being served"
box 20 200 120 40 "client B"
box 20 262 120 40 "client C"

# The kernel: the served connection and the accept queue
printf '<rect x="180" y="44" width="250" height="340" rx="8" fill="#f4f6fa" stroke="#889" stroke-dasharray="6,4"/>\n'
text 305 62 middle "the kernel" note
box 200 70 210 44 "connection A (fd 4)" "send and receive buffers" "#fff"
box 200 170 210 150 "" "" "#eef3e6"
text 305 190 middle "accept queue of fd 3" bold
text 305 206 middle "up to the backlog (128)" small
box 215 215 180 36 "B: connected" "bytes wait, no answer" "#fff"
box 215 268 180 36 "C: connected" "bytes wait, no answer" "#fff"
text 305 350 middle "handshakes done by the kernel" small
text 305 364 middle "after listen(), before accept()" small

arrow 140 84 198 84
arrow 198 100 140 100
arrow 140 220 213 228
arrow 140 282 213 284

# The server's loop, with room on its left for the labels of the arrows from the kernel
box 520 44 250 40 "socket, bind, listen" "listen_on_localhost(): fd 3"
box 570 116 150 36 "accept()" "" "#fff8e6"
box 570 186 150 36 "read(fd 4)" "" "#fff8e6"
box 570 256 150 36 "write_all(fd 4)" "" "#fff8e6"
box 570 336 150 36 "close(fd 4)" "" "#fff"

arrow 645 84 645 114
arrow 645 152 645 184
arrow 645 222 645 254
text 655 242 start "n bytes" small
path "M 720 274 C 760 274 760 204 722 204"
text 764 244 start "again" small
path "M 570 204 C 530 204 530 354 568 354"
text 526 290 end "0 or error" small
path "M 580 292 L 580 334"
text 588 318 start "error" small
path "M 720 354 C 788 354 788 134 722 134"
text 730 374 start "next client" small

# Between the kernel and the loop: the two arrows cross, so each label sits by the start
# of its own arrow, on the side away from the other one.
arrow 397 236 568 140 dashed
text 440 234 start "takes the next" small
arrow 410 92 568 196 dashed
text 438 100 start "bytes in, echo out" small

echo '</svg>'
