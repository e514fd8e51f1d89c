# bench/bench.mk - the benchmark targets, included by the Makefile (include bench/bench.mk).
#
#   make bench-quick     every section of bench/run.sh, small and short: well under a minute
#   make bench           the full run: 3 runs per point, medians kept (30 minutes if quiet)
#   make bench-plots     docs/img/*.svg from the full run's CSV files (build/bench/full/)
#   make bench-idle      idle connections: steps 07 and 08 and redis-server with 0, 1,000 and
#                        10,000 of them open, their memory, 1 MiB GETs (bench/idle-conns.sh)
#   make bench-resp      step 09's RESP against redis-server (redis-benchmark and kvbench),
#                        RESP against KV/1 on step 09, instructions per request under
#                        callgrind (bench/resp.sh)
#   make bench-quick SERVER=path/to/server    the throughput matrix against your own server
#
# Results go to build/bench/quick/ and build/bench/full/ only. The programs the runs need
# are built here too, all into build/: the in-process rehash experiment twice (progressive
# and all-at-once resizing), step 05's server with all-at-once resizing, and the plotter.

ifndef BENCH_MK_INCLUDED # read once, also when given with -f as well as included
BENCH_MK_INCLUDED := 1

BENCH_STEP05 := $(wildcard steps/05-*/*.c steps/05-*/*.h)
BENCH_HT_SRC := $(wildcard steps/05-*/hashtable.c steps/05-*/siphash.c)
BENCH_PROGRAMS := build/rehash_latency build/rehash_latency-all-at-once \
                  build/bench/step-05-all-at-once build/svgplot

.PHONY: bench bench-quick bench-plots bench-programs bench-idle bench-resp

bench-programs: $(BENCH_PROGRAMS)

build/bench:
	mkdir -p $@

build/rehash_latency: bench/rehash_latency.c $(BENCH_STEP05) | build
	$(CC) $(WARN) -O2 -I$(call step_dir,05) -o $@ bench/rehash_latency.c $(BENCH_HT_SRC)

build/rehash_latency-all-at-once: bench/rehash_latency.c $(BENCH_STEP05) | build
	$(CC) $(WARN) -O2 -DHT_REHASH_ALL_AT_ONCE=1 -I$(call step_dir,05) -o $@ \
	    bench/rehash_latency.c $(BENCH_HT_SRC)

# Step 05 built from its own folder, as the Makefile builds it, but resizing all at once.
build/bench/step-05-all-at-once: $(BENCH_STEP05) | build/bench
	$(CC) $(WARN) $(CFLAGS) -DHT_REHASH_ALL_AT_ONCE=1 -o $@ $(filter %.c,$(BENCH_STEP05))

build/svgplot: bench/svgplot.c | build
	$(CC) $(WARN) $(CFLAGS) -o $@ bench/svgplot.c -lm

bench-quick: all $(BENCH_PROGRAMS)
	SERVER="$(SERVER)" bash bench/run.sh --quick
	bash bench/plots.sh build/bench/quick build/bench/quick/img

bench: all $(BENCH_PROGRAMS)
	SERVER="$(SERVER)" bash bench/run.sh --full

bench-plots: build/svgplot
	bash bench/plots.sh build/bench/full docs/img

bench-idle: all build/svgplot
	bash bench/idle-conns.sh

bench-resp: all build/svgplot
	bash bench/resp.sh

endif
