#!/usr/bin/env bash
# bench/plots.sh - turns bench/run.sh's CSV files into the chapter's SVG plots.
#
#   bash bench/plots.sh build/bench/full docs/img              every plot (make bench-plots)
#   bash bench/plots.sh build/bench/full docs/img pipeline     one plot: docs/img/pipeline.svg
#
# Each plot picks rows out of a CSV file with awk and hands the points to build/svgplot
# (bench/svgplot.c), which draws them. A plot whose CSV file is missing is skipped with a
# notice: a quick run, for one, has no in-process rehash numbers.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SVGPLOT=$ROOT/build/svgplot
[ $# -ge 2 ] || { echo "usage: bench/plots.sh RESULTS_DIR OUT_DIR [PLOT ...]" >&2; exit 2; }
IN=$1 OUT=$2
shift 2
PLOTS=("$@")
[ ${#PLOTS[@]} -gt 0 ] || PLOTS=(pipeline keys latency redis rehash rehash-server)
[ -x "$SVGPLOT" ] || { echo "bench/plots.sh: build/svgplot is missing" >&2; exit 1; }
mkdir -p "$OUT"

# What the awk programs below share: col("name") is the row's value in the column of that
# name; label(), store_label() and rehash_label() turn a server's CSV name into a legend's.
# shellcheck disable=SC2016 # awk's $ fields, not the shell's
AWK_LIB='
    function col(name) { return $(c[name]) }
    function label(s) {
        if (s == "redis") return "redis-server"
        sub(/^step-/, "step ", s)
        return s
    }
    function rehash_label(s) {
        return s == "step-05" ? "step 05, progressive" : "step 05, all at once"
    }
    function store_label(s) {
        if (s == "step-04") return "step 04 (linked list)"
        if (s == "step-05") return "step 05 (hash table)"
        return label(s)
    }
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }'

# points FILE FILTER SERIES X Y: one "series<TAB>x<TAB>y" line for each row of FILE that
# FILTER selects. The arguments are awk expressions.
points() {
    awk -F, "$AWK_LIB
        $2 { printf \"%s\\t%s\\t%s\\n\", $3, $4, $5 }" "$IN/$1"
}

# percentiles FILE FILTER SERIES COLUMNS LABELS: one point per percentile column of each row.
percentiles() {
    awk -F, -v columns="$4" -v labels="$5" "$AWK_LIB
        $2 {
            n = split(columns, cs, \" \"); split(labels, ls, \" \")
            for (i = 1; i <= n; i++) printf \"%s\\t%s\\t%s\\n\", $3, ls[i], col(cs[i])
        }" "$IN/$1"
}

# plot NAME CSV SVGPLOT-OPTIONS...: draws standard input into OUT/NAME.svg.
plot() {
    local name=$1 csv=$2
    shift 2
    "$SVGPLOT" "$@" --note "bash bench/plots.sh $IN $OUT $name    (data: $IN/$csv)" \
        >"$OUT/$name.svg"
    echo "wrote $OUT/$name.svg"
}

have() {
    [ -s "$IN/$1" ] && return 0
    echo "bench/plots.sh: $IN/$1 is missing: skipping $2" >&2
    return 1
}

# ---------------------------------------------------------------------------------------
# The plots
# ---------------------------------------------------------------------------------------

plot_pipeline() {
    have matrix.csv pipeline || return 0
    {
        points matrix.csv 'col("op") == "get" && col("value_size") == 16 &&
            col("server") == "step-02"' '"step 02, 1 connection"' 'col("pipeline")' 'col("rps")'
        points matrix.csv 'col("op") == "get" && col("value_size") == 16 &&
            col("connections") == 50 && col("server") ~ /^(step|null)/' \
            'label(col("server")) ", 50 connections"' 'col("pipeline")' 'col("rps")'
    } | plot pipeline matrix.csv --logx --logy --xlabel "pipeline depth (requests per write)" \
        --ylabel "GET throughput (requests/s, log)" \
        --title "Throughput vs pipeline depth, GET, 16-byte values"
}

plot_keys() {
    have keys.csv keys || return 0
    points keys.csv 1 'store_label(col("server"))' \
        'col("keys")' 'col("rps")' |
        plot keys keys.csv --logx --logy --xlabel "keys in the store (log)" \
            --ylabel "GET throughput (requests/s, log)" \
            --title "Throughput vs key count: 50 connections, depth 16"
}

plot_latency() {
    have matrix.csv latency || return 0
    percentiles matrix.csv 'col("op") == "get" && col("value_size") == 16 &&
            col("connections") == 50 && (col("pipeline") == 1 || col("pipeline") == 16) &&
            col("server") ~ /^(step-05|redis|nullserver)$/' \
        'label(col("server")) ", depth " col("pipeline")' "p50_us p90_us p99_us p999_us max_us" \
        "p50 p90 p99 p99.9 max" |
        plot latency matrix.csv --categories --logy --xlabel "percentile" \
            --ylabel "latency (microseconds, log)" \
            --title "GET latency percentiles, 50 connections, 16-byte values"
}

plot_redis() {
    have matrix.csv redis || return 0
    points matrix.csv 'col("value_size") == 16 && col("connections") == 50 &&
            col("server") ~ /^(step-05|redis)$/' \
        'label(col("server")) " " toupper(col("op"))' 'col("pipeline")' 'col("rps")' |
        plot redis matrix.csv --logx --logy --xlabel "pipeline depth (requests per write)" \
            --ylabel "throughput (requests/s, log)" \
            --title "Step 05 vs redis-server: 50 connections, 16-byte values"
}

plot_rehash() {
    have rehash-inprocess.csv rehash || return 0
    percentiles rehash-inprocess.csv 1 'col("mode")' \
        "p50_ns p99_ns p999_ns p9999_ns worst_ns" "p50 p99 p99.9 p99.99 worst" |
        plot rehash rehash-inprocess.csv --categories --logy --xlabel "percentile" \
            --ylabel "time of one ht_insert (nanoseconds, log)" \
            --title "2,000,000 inserts into the bare table: progressive vs all at once"
}

plot_rehash_server() {
    have rehash.csv rehash-server || return 0
    percentiles rehash.csv 1 'rehash_label(col("server"))' "p50_us p90_us p99_us p999_us max_us" \
        "p50 p90 p99 p99.9 max" |
        plot rehash-server rehash.csv --categories --logy --xlabel "percentile" \
            --ylabel "SET latency (microseconds, log)" \
            --title "SET latency while 2,000,000 new keys go into step 05 (50 connections)"
}

for name in "${PLOTS[@]}"; do
    case $name in
    pipeline | keys | latency | redis | rehash) "plot_$name" ;;
    rehash-server) plot_rehash_server ;;
    *) echo "bench/plots.sh: no plot called $name" >&2; exit 2 ;;
    esac
done
