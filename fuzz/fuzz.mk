# fuzz.mk - fuzzing each step's request parser with libFuzzer (included by the Makefile).
#
#   make fuzz STEP=03                  build step 03's fuzz target and run it for a minute
#   make fuzz STEP=03 FUZZ_SECONDS=600 ... for ten minutes
#   make fuzz-ci                       every step's target for FUZZ_CI_SECONDS (20) each;
#                                      any crash fails the run
#   make fuzz-coverage STEP=03         which lines of step 03 its corpus reaches
#
# A fuzz target is a function that libFuzzer calls millions of times with inputs it invents,
# each a client's bytes. It is built from the step's own files (never server.c, whose main()
# would clash with libFuzzer's) plus fuzz/model.c, with AddressSanitizer and UBSan, so a bad
# read or write, a leak or undefined behaviour counts as a crash, just as a broken rule does.
#
#   steps without buffer.h (02):      fuzz/fuzz_step02.c, read_request() on a descriptor
#   steps with buffer.h (03 on):      fuzz/fuzz_buffered.c, parse_request() on a buffer;
#                                     from step 07 built with -DMODEL_EXPIRY: keys expire;
#                                     with outqueue.h (08 on), -DOUT_QUEUE: replies are
#                                     queued as blocks, long values by reference
#   steps with resp.h (09 on), also:  fuzz/fuzz_resp.c, RESP's parser against
#                                     fuzz/resp_model.c, and the command table's replies
#                                     (make fuzz-resp STEP=09; fuzz-ci runs both targets)
#
# Everything goes under build/fuzz/: the targets (fuzz-stepNN), the corpus each one grows
# (corpus-NN/, started from fuzz/make-corpus.sh's seeds), and the inputs that crashed one
# (artifacts-NN/). To replay a crash, run the target on the file:
#
#   build/fuzz/fuzz-step03 build/fuzz/artifacts-03/crash-...
#
# Needs clang with libFuzzer (Debian's clang package has it).

FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all
FUZZ_STEPS   ?= $(filter-out 01,$(STEPS))
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 20

# How libFuzzer runs a target:
#   -max_len=4096     inputs of at most 4 KiB. Arguments up to 32 MiB are legal, but the
#                     parser decides everything about an argument from its 4-byte length
#                     field; the payload is only skipped or copied. Small inputs run fast
#                     and still reach every branch, and 4 KiB holds hundreds of frames,
#                     enough to make step 05's table resize several times.
#   -malloc_limit_mb=64  a single allocation over 64 MiB is a crash: docs/protocol.md forbids
#                     allocating what a client declares beyond 32 MiB.
#   -rss_limit_mb=1024   all memory together; step 02 legitimately allocates up to 32 MiB
#                     for a declared argument, and ASan holds freed blocks in quarantine.
#   -timeout=10       an input that takes 10 s has found a hang (a loop that never ends).
FUZZ_RUN_FLAGS := -max_len=4096 -malloc_limit_mb=64 -rss_limit_mb=1024 -timeout=10 \
                  -dict=fuzz/kv1.dict -print_final_stats=1

# Steps 03 on parse from a buffer (they have buffer.h); step 02 reads from a descriptor.
fuzz_buffered = $(wildcard $(call step_dir,$(1))/buffer.h)
# The harness for a step, and the format of its seeds: the buffered harness reads a 2-byte
# cut point before the client's bytes.
fuzz_source = $(if $(call fuzz_buffered,$(1)),fuzz/fuzz_buffered.c,fuzz/fuzz_step02.c)
fuzz_seed_format = $(if $(call fuzz_buffered,$(1)),split,raw)
# Steps from 07 on have keys that expire: the model and the harness then know types 4 to 7.
fuzz_defines = $(if $(filter 02 03 04 05 06,$(1)),,-DMODEL_EXPIRY) \
               $(if $(wildcard $(call step_dir,$(1))/outqueue.h),-DOUT_QUEUE)
# A step's own sources but server.c, and but net.c where requests come from a buffer.
fuzz_step_sources = $(filter-out %/server.c $(if $(call fuzz_buffered,$(1)),%/net.c), \
                        $(wildcard $(call step_dir,$(1))/*.c))

# fuzz_run STEP SECONDS: one run of a step's target, growing its corpus.
fuzz_run = mkdir -p build/fuzz/artifacts-$(1) && \
    build/fuzz/fuzz-step$(1) $(FUZZ_RUN_FLAGS) -max_total_time=$(2) \
        -artifact_prefix=build/fuzz/artifacts-$(1)/ build/fuzz/corpus-$(1)

# Steps that speak RESP too (they have resp.h): a second target, fuzz-resp-stepNN.
RESP_FUZZ_STEPS := $(foreach n,$(FUZZ_STEPS),$(if $(wildcard $(call step_dir,$(n))/resp.h),$(n)))
RESP_FUZZ_RUN_FLAGS := $(filter-out -dict=%,$(FUZZ_RUN_FLAGS)) -dict=fuzz/resp.dict

# fuzz_resp_run STEP SECONDS: one run of a step's RESP target, growing its own corpus.
fuzz_resp_run = mkdir -p build/fuzz/artifacts-resp-$(1) && \
    build/fuzz/fuzz-resp-step$(1) $(RESP_FUZZ_RUN_FLAGS) -max_total_time=$(2) \
        -artifact_prefix=build/fuzz/artifacts-resp-$(1)/ build/fuzz/corpus-resp-$(1)

.PHONY: fuzz fuzz-ci fuzz-coverage fuzz-resp

build/fuzz:
	mkdir -p $@

define fuzz_rules
build/fuzz/fuzz-step$(1): $(call fuzz_source,$(1)) fuzz/model.c fuzz/model.h \
                          $(wildcard $(call step_dir,$(1))/*.[ch]) | build/fuzz
	$$(FUZZ_CC) $$(WARN) $$(FUZZ_CFLAGS) $(call fuzz_defines,$(1)) -I$(call step_dir,$(1)) -Ifuzz -o $$@ \
	    $(call fuzz_source,$(1)) fuzz/model.c $(call fuzz_step_sources,$(1))

build/fuzz/coverage-step$(1): $(call fuzz_source,$(1)) fuzz/model.c fuzz/model.h \
                             $(wildcard $(call step_dir,$(1))/*.[ch]) | build/fuzz
	$$(FUZZ_CC) $$(WARN) $$(FUZZ_COVERAGE_CFLAGS) $(call fuzz_defines,$(1)) -I$(call step_dir,$(1)) -Ifuzz -o $$@ \
	    $(call fuzz_source,$(1)) fuzz/model.c $(call fuzz_step_sources,$(1))

build/fuzz/corpus-$(1).seeded: fuzz/make-corpus.sh | build/fuzz
	fuzz/make-corpus.sh $(call fuzz_seed_format,$(1)) build/fuzz/corpus-$(1)
	touch $$@
endef
$(foreach n,$(FUZZ_STEPS),$(eval $(call fuzz_rules,$(n))))

define fuzz_resp_rules
build/fuzz/fuzz-resp-step$(1): fuzz/fuzz_resp.c fuzz/resp_model.c fuzz/resp_model.h fuzz/model.c \
                               fuzz/model.h $(wildcard $(call step_dir,$(1))/*.[ch]) | build/fuzz
	$$(FUZZ_CC) $$(WARN) $$(FUZZ_CFLAGS) -I$(call step_dir,$(1)) -Ifuzz -o $$@ \
	    fuzz/fuzz_resp.c fuzz/resp_model.c fuzz/model.c $(call fuzz_step_sources,$(1))

build/fuzz/corpus-resp-$(1).seeded: fuzz/make-corpus.sh | build/fuzz
	fuzz/make-corpus.sh resp build/fuzz/corpus-resp-$(1)
	touch $$@
endef
$(foreach n,$(RESP_FUZZ_STEPS),$(eval $(call fuzz_resp_rules,$(n))))

# The step that `make fuzz STEP=NN` asked for, if it has a fuzz target.
FUZZ_STEP := $(filter $(STEP),$(FUZZ_STEPS))

fuzz_usage = $(if $(FUZZ_STEP),,$(error usage: make $@ STEP=NN, NN in: $(FUZZ_STEPS)))

fuzz: $(if $(FUZZ_STEP),build/fuzz/fuzz-step$(FUZZ_STEP) build/fuzz/corpus-$(FUZZ_STEP).seeded)
	$(fuzz_usage)
	$(call fuzz_run,$(FUZZ_STEP),$(FUZZ_SECONDS))

# make fuzz-resp STEP=09: the RESP target of a step that speaks RESP.
RESP_FUZZ_STEP := $(filter $(STEP),$(RESP_FUZZ_STEPS))

fuzz-resp: $(if $(RESP_FUZZ_STEP),build/fuzz/fuzz-resp-step$(RESP_FUZZ_STEP) \
                                  build/fuzz/corpus-resp-$(RESP_FUZZ_STEP).seeded)
	$(if $(RESP_FUZZ_STEP),,$(error usage: make $@ STEP=NN, NN in: $(RESP_FUZZ_STEPS)))
	$(call fuzz_resp_run,$(RESP_FUZZ_STEP),$(FUZZ_SECONDS))

# One step after another (a fuzzer keeps a core busy); every step runs even after a crash,
# and the run fails at the end if any did.
fuzz-ci: $(foreach n,$(FUZZ_STEPS),build/fuzz/fuzz-step$(n) build/fuzz/corpus-$(n).seeded) \
         $(foreach n,$(RESP_FUZZ_STEPS),build/fuzz/fuzz-resp-step$(n) \
                                        build/fuzz/corpus-resp-$(n).seeded)
	@failed=; \
	for n in $(FUZZ_STEPS); do \
	    echo "== fuzzing step $$n for $(FUZZ_CI_SECONDS) s =="; \
	    $(call fuzz_run,$$n,$(FUZZ_CI_SECONDS)) || failed="$$failed $$n"; \
	done; \
	for n in $(RESP_FUZZ_STEPS); do \
	    echo "== fuzzing step $$n's RESP parser for $(FUZZ_CI_SECONDS) s =="; \
	    $(call fuzz_resp_run,$$n,$(FUZZ_CI_SECONDS)) || failed="$$failed $$n-resp"; \
	done; \
	if [ -n "$$failed" ]; then \
	    echo "fuzz-ci: crash in step(s)$$failed: see build/fuzz/artifacts-NN/"; exit 1; \
	fi

# ---------------------------------------------------------------------------------------
# Coverage: which lines of the step the corpus reaches
# ---------------------------------------------------------------------------------------

# The target built again with clang's source-based coverage instead of the sanitizers, run
# once over every input of the corpus (-runs=0), then summarised per file of the step. For
# the lines themselves:  llvm-cov show build/fuzz/coverage-step03 \
#     -instr-profile=build/fuzz/coverage-03.profdata steps/03-event-loop/protocol.c
LLVM_PROFDATA ?= llvm-profdata
LLVM_COV      ?= llvm-cov
FUZZ_COVERAGE_CFLAGS := -O0 -g -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping

fuzz-coverage: $(if $(FUZZ_STEP),build/fuzz/coverage-step$(FUZZ_STEP) \
                                 build/fuzz/corpus-$(FUZZ_STEP).seeded)
	$(fuzz_usage)
	LLVM_PROFILE_FILE=build/fuzz/coverage-$(FUZZ_STEP).profraw \
	    build/fuzz/coverage-step$(FUZZ_STEP) -runs=0 build/fuzz/corpus-$(FUZZ_STEP)
	$(LLVM_PROFDATA) merge -sparse -o build/fuzz/coverage-$(FUZZ_STEP).profdata \
	    build/fuzz/coverage-$(FUZZ_STEP).profraw
	$(LLVM_COV) report build/fuzz/coverage-step$(FUZZ_STEP) \
	    -instr-profile=build/fuzz/coverage-$(FUZZ_STEP).profdata \
	    $(call fuzz_step_sources,$(FUZZ_STEP))
