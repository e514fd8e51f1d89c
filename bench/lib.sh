# bench/lib.sh - shell functions the benchmark scripts share (bench/idle-conns.sh and
# bench/resp.sh source it). The caller sets SERVER_PID before calling cpu_ticks.

# cpu_ticks: the server's CPU time so far, user + system, in clock ticks.
cpu_ticks() {
    local line
    local -a f
    read -r line <"/proc/$SERVER_PID/stat"
    read -ra f <<<"${line##*) }"
    echo $((f[11] + f[12]))
}

# median_of FILE KEYS: medians, per group of the first KEYS columns, of every later column;
# the header is kept.
median_of() {
    awk -F, -v keys="$2" '
        NR == 1 { print; next }
        {
            k = $1; for (i = 2; i <= keys; i++) k = k "," $i
            if (!(k in n)) order[++groups] = k
            n[k]++; for (i = keys + 1; i <= NF; i++) v[k, i, n[k]] = $i
            ncol = NF
        }
        function median(k, i,    m, j, l, t, a) {
            m = n[k]; for (j = 1; j <= m; j++) a[j] = v[k, i, j] + 0
            for (j = 2; j <= m; j++)
                for (l = j; l > 1 && a[l - 1] > a[l]; l--) { t = a[l]; a[l] = a[l - 1]; a[l - 1] = t }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            for (g = 1; g <= groups; g++) {
                k = order[g]; line = k
                for (i = keys + 1; i <= ncol; i++) line = line "," median(k, i)
                print line
            }
        }' "$1"
}
