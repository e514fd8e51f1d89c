#!/bin/sh
# docs/img/hashtable-resize.sh - draws docs/img/hashtable-resize.svg, chapter 05's picture
# of the hash table in the middle of a resize: the old array of 8 buckets on the left, the
# new array of 16 on the right, rehash_index pointing at the next old bucket to move. The
# state is the one of the chapter's ASCII drawing ("Resizing a little at a time"): nine
# nodes, just after the insert of H started the resize and moved the first two chains.
#
#   sh docs/img/hashtable-resize.sh >docs/img/hashtable-resize.svg
#
# Plain SVG written with printf, so that the picture changes only with this script.

set -eu

# text X Y ANCHOR STRING [bold|small|note|mono]
text() {
    case ${5:-} in
    bold) style='font-weight="bold" font-size="13"' ;;
    small) style='font-size="11" fill="#555"' ;;
    note) style='font-size="11" font-style="italic" fill="#555"' ;;
    mono) style='font-size="12" font-family="monospace"' ;;
    *) style='font-size="12"' ;;
    esac
    printf '<text x="%s" y="%s" text-anchor="%s" %s>%s</text>\n' "$1" "$2" "$3" "$style" "$4"
}

# arrow X1 Y1 X2 Y2 [dashed]: a straight line with an arrowhead at its end.
arrow() {
    printf '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333" stroke-width="1.5"%s marker-end="url(#head)"/>\n' \
        "$1" "$2" "$3" "$4" "$([ "${5:-}" = dashed ] && echo ' stroke-dasharray="5,4"')"
}

# bucket X Y INDEX FILL: one bucket, its index on its left.
bucket() {
    printf '<rect x="%s" y="%s" width="34" height="20" fill="%s" stroke="#333"/>\n' "$1" "$2" "$4"
    text $(($1 - 6)) $(($2 + 15)) end "$3" small
}

# chain X Y NAME...: nodes to the right of the bucket at X, Y, each linked to the next.
chain() {
    x=$(($1 + 34)) y=$2
    shift 2
    for name in "$@"; do
        arrow "$x" $((y + 10)) $((x + 24)) $((y + 10))
        x=$((x + 26))
        printf '<rect x="%s" y="%s" width="28" height="20" rx="4" fill="%s" stroke="#333"/>\n' \
            "$x" "$y" "$([ "$name" = H ] && echo '#fde7c8' || echo '#dfe9f7')"
        text $((x + 14)) $((y + 15)) middle "$name" bold
        x=$((x + 28))
    done
}

OLD=#f4f4f4 MOVED=#e0e0e0 NEW=#ffffff

cat <<'HEAD'
<svg xmlns="http://www.w3.org/2000/svg" width="800" height="520" viewBox="0 0 800 520" font-family="sans-serif">
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>
<rect width="800" height="520" fill="#fff"/>
HEAD

text 380 24 middle "A table growing from 8 to 16 buckets, two buckets into the move" bold

# The old array: buckets 0 and 1 moved (grey), rehash_index at 2.
text 170 56 middle "arrays[0]: the old array" bold
text 170 72 middle "8 buckets, bucket = hash &amp; 7, count = 6" small
x0=150 y0=88
i=0
while [ $i -lt 8 ]; do
    fill=$OLD
    [ $i -lt 2 ] && fill=$MOVED
    bucket $x0 $((y0 + i * 26)) $i $fill
    i=$((i + 1))
done
chain $x0 $((y0 + 3 * 26)) C D
chain $x0 $((y0 + 5 * 26)) E
chain $x0 $((y0 + 6 * 26)) G F
chain $x0 $((y0 + 7 * 26)) I
text 192 $((y0 + 15)) start "moved: A went to new 0" note
text 192 $((y0 + 26 + 15)) start "moved: B went to new 9" note
text 10 $((y0 + 2 * 26 + 15)) start "rehash_index" bold
arrow 104 $((y0 + 2 * 26 + 10)) 128 $((y0 + 2 * 26 + 10))

# The new array: 16 buckets, A, H and B in it.
text 560 56 middle "arrays[1]: the new array" bold
text 560 72 middle "16 buckets, bucket = hash &amp; 15, count = 3" small
x1=520
i=0
while [ $i -lt 16 ]; do
    bucket $x1 $((y0 + i * 26)) $i $NEW
    i=$((i + 1))
done
chain $x1 $y0 A
chain $x1 $((y0 + 2 * 26)) H
chain $x1 $((y0 + 9 * 26)) B
text 612 $((y0 + 2 * 26 + 15)) start "inserted during the resize:" note
text 612 $((y0 + 2 * 26 + 29)) start "new nodes go straight in here" note

# Where the next call's share goes: old bucket 3 splits into new 3 and 11.
printf '<path d="M%s,%s C%s,%s %s,%s %s,%s" fill="none" stroke="#a33" stroke-width="1.2" stroke-dasharray="4,3" marker-end="url(#head)"/>\n' \
    270 $((y0 + 3 * 26 + 10)) 400 $((y0 + 3 * 26 + 10)) 420 $((y0 + 3 * 26 + 10)) 512 $((y0 + 3 * 26 + 10))
printf '<path d="M%s,%s C%s,%s %s,%s %s,%s" fill="none" stroke="#a33" stroke-width="1.2" stroke-dasharray="4,3" marker-end="url(#head)"/>\n' \
    270 $((y0 + 3 * 26 + 14)) 400 $((y0 + 3 * 26 + 60)) 420 $((y0 + 11 * 26 + 10)) 512 $((y0 + 11 * 26 + 10))
text 300 $((y0 + 3 * 26 + 2)) start "next call: C to new 3, D to new 11" note

# The rules, under the old array.
y=$((y0 + 9 * 26 + 4))
text 20 $y start "A lookup: old bucket hash &amp; 7," mono
text 20 $((y + 16)) start "then new bucket hash &amp; 15." mono
text 20 $((y + 36)) start "Each insert, find or remove first" mono
text 20 $((y + 52)) start "moves up to two old chains." mono
text 20 $((y + 72)) start "Old bucket i goes to new i or i + 8." mono
text 20 $((y + 92)) start "Old array empty: it is freed, and" mono
text 20 $((y + 108)) start "the new one becomes arrays[0]." mono
text 20 $((y + 134)) start "low four bits of the hashes:" small
text 20 $((y + 150)) start "A 0000  B 1001  C 0011  D 1011  E 0101" mono
text 20 $((y + 166)) start "F 1110  G 0110  H 0010  I 0111" mono

echo '</svg>'
