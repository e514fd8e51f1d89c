# Makefile - builds every step, the shared tools and the tests, into build/ only.
#
#   make                 build everything
#   make step-04         build everything and run step 04 in the foreground (port 7379)
#   make diff-04         what chapter 04 changed: diff -u of steps 03 and 04
#   make test            check-steps, then every step's tests, two steps at a time
#   make test-03         one step's tests, every one of them
#   make test-03 SERVER=path/to/your/server          step 03's tests against your server
#   make test TEST_JOBS=1                            one step at a time
#   make check-steps     each step differs from the one before only where its chapter
#                        says (docs/step-files.txt, scripts/check-steps), and every C
#                        excerpt in a chapter is its step's code (scripts/check-excerpts)
#   make test-san        every step's tests against ASan+UBSan builds
#   make valgrind        every step's server under valgrind's memcheck  (tests/valgrind.mk)
#   make fuzz STEP=03    fuzz step 03's request parser; make fuzz-ci: every step briefly
#                                                                        (fuzz/fuzz.mk)
#   make bench-quick     a one-minute benchmark; make bench: the full matrix (bench/bench.mk)
#   make clean
#
# Each step is built from its own folder and libc alone, exactly as a learner would
# build a copy of that folder: cc -o server steps/NN-name/*.c

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -pedantic
SANFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
BATS    ?= bats
BATS_FLAGS ?=

STEP_DIRS := $(sort $(wildcard steps/[0-9][0-9]-*))
STEPS     := $(foreach d,$(STEP_DIRS),$(firstword $(subst -, ,$(notdir $(d)))))
TOOLS     := $(patsubst common/%.c,build/%,$(wildcard common/*.c))
TEST_PROGRAMS := $(if $(wildcard tests/hashtable_test.c),build/hashtable_test) \
                 $(if $(wildcard tests/heap_test.c),build/heap_test)
SAN_TEST_PROGRAMS := $(TEST_PROGRAMS:build/%=build/san/%)

# Which test suites apply to which step: a step keeps every earlier behaviour that still
# applies (step 02's protocol tests run on 03, 04, 05 ...), and adds its own. Step 02's
# 02-one-at-a-time is its alone: from step 03 on, no client waits for another.
SUITES_01 := 00-command-line 01-echo
SUITES_02 := 00-command-line 02-protocol 02-one-at-a-time
SUITES_03 := 00-command-line 02-protocol 03-event-loop
SUITES_04 := $(SUITES_03) 04-pipelining
SUITES_05 := $(SUITES_04) 05-hashtable
SUITES_06 := $(SUITES_05) 06-timers
SUITES_07 := $(SUITES_06) 07-expiry
SUITES_08 := $(SUITES_07) 08-epoll
SUITES_09 := $(SUITES_08) 09-resp

# Tests tagged `slow` (stress: thousands of connections or keys, storms, sleeps) run whole
# on the step that introduced their suite and on the newest step that has it. `make test`
# (TEST_SLOW=ends) skips them on the steps between, so its time grows with the number of
# steps, not with its square. `make test-NN` alone runs everything (TEST_SLOW=all).
TEST_SLOW ?= all
TEST_JOBS ?= 2
suite_steps = $(foreach n,$(STEPS),$(if $(filter $(1),$(SUITES_$(n))),$(n)))
suite_ends = $(firstword $(call suite_steps,$(1))) $(lastword $(call suite_steps,$(1)))
suite_whole = $(filter $(1),$(call suite_ends,$(2)))
whole_suites = $(if $(filter all,$(TEST_SLOW)),$(SUITES_$(1)), \
                   $(foreach s,$(SUITES_$(1)),$(if $(call suite_whole,$(1),$(s)),$(s))))
fast_suites = $(filter-out $(call whole_suites,$(1)),$(SUITES_$(1)))
# run_suites NN ENV: bats on step NN's suites; those not run whole skip the `slow` tests.
run_suites = status=0; \
    $(2) $(BATS) $(BATS_FLAGS) $(patsubst %,tests/%.bats,$(call whole_suites,$(1))) \
        || status=1; \
    $(if $(call fast_suites,$(1)),$(2) $(BATS) $(BATS_FLAGS) --filter-tags '!slow' \
        $(patsubst %,tests/%.bats,$(call fast_suites,$(1))) || status=1;) exit $$status

step_dir = $(filter steps/$(1)-%,$(STEP_DIRS))

.PHONY: all clean test test-san san $(addprefix step-,$(STEPS)) $(addprefix diff-,$(STEPS)) \
        $(addprefix test-,$(STEPS)) $(addprefix test-san-,$(STEPS))

all: $(addprefix build/step-,$(STEPS)) $(TOOLS) $(TEST_PROGRAMS)

build build/san:
	mkdir -p $@

# ---------------------------------------------------------------------------------------
# Servers: one per step, plain and sanitized
# ---------------------------------------------------------------------------------------

define step_rules
build/step-$(1): $(wildcard $(call step_dir,$(1))/*.c $(call step_dir,$(1))/*.h) | build
	$$(CC) $$(WARN) $$(CFLAGS) -o $$@ $(wildcard $(call step_dir,$(1))/*.c)

build/san/step-$(1): $(wildcard $(call step_dir,$(1))/*.c $(call step_dir,$(1))/*.h) | build/san
	$$(CC) $$(WARN) $$(SANFLAGS) -o $$@ $(wildcard $(call step_dir,$(1))/*.c)

# The client (build/kv), kvbench and the test programs too: the README and the chapters
# use them beside the running server.
step-$(1): build/step-$(1) $(TOOLS) $(TEST_PROGRAMS)
	./build/step-$(1)

test-$(1): build/step-$(1) $(TOOLS) $(TEST_PROGRAMS)
	@echo "== step $(1): $$(or $$(SERVER),build/step-$(1)) =="
	@$$(call run_suites,$(1),KV_SERVER="$$(or $$(SERVER),build/step-$(1))" \
	    KV_SOURCES="$$(if $$(SERVER),,$(call step_dir,$(1)))")

test-san-$(1): build/san/step-$(1) $(TOOLS) $(TEST_PROGRAMS) $(SAN_TEST_PROGRAMS)
	@echo "== step $(1) under ASan+UBSan =="
	@$$(call run_suites,$(1),KV_SERVER=build/san/step-$(1) \
	    KV_HASHTABLE_TEST=build/san/hashtable_test KV_HEAP_TEST=build/san/heap_test \
	    KV_SOURCES=$(call step_dir,$(1)) KV_TEST_CFLAGS="$$(SANFLAGS)")
endef
$(foreach n,$(STEPS),$(eval $(call step_rules,$(n))))

# diff-NN: what chapter NN changed. Pairs each step with the one before it ("02:01 03:02 ..."),
# and ignores diff's exit status 1, which only says the folders differ: that is the point.
STEP_PAIRS := $(filter-out :%,$(join $(wordlist 2,$(words $(STEPS)),$(STEPS)),$(addprefix :,$(STEPS))))
define diff_rule
diff-$(1):
	@diff -u -r $(call step_dir,$(2)) $(call step_dir,$(1)); test $$$$? -le 1
endef
$(foreach p,$(STEP_PAIRS),$(eval $(call diff_rule,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))
diff-$(firstword $(STEPS)):
	@echo "step $(firstword $(STEPS)) is the first step: read $(call step_dir,$(firstword $(STEPS)))/ whole"

# ---------------------------------------------------------------------------------------
# Shared tools and test programs
# ---------------------------------------------------------------------------------------

build/%: common/%.c $(wildcard common/*.h) | build
	$(CC) $(WARN) $(CFLAGS) -o $@ $<

HASHTABLE_SOURCES := $(wildcard $(call step_dir,05)/hashtable.c $(call step_dir,05)/siphash.c)

build/hashtable_test: tests/hashtable_test.c $(wildcard steps/05-*/*.h) $(HASHTABLE_SOURCES) | build
	$(CC) $(WARN) $(CFLAGS) -I$(call step_dir,05) -o $@ tests/hashtable_test.c $(HASHTABLE_SOURCES)

build/san/hashtable_test: tests/hashtable_test.c $(wildcard steps/05-*/*.h) $(HASHTABLE_SOURCES) \
                          | build/san
	$(CC) $(WARN) $(SANFLAGS) -I$(call step_dir,05) -o $@ tests/hashtable_test.c \
	    $(HASHTABLE_SOURCES)

HEAP_SOURCES := $(wildcard $(call step_dir,06)/heap.c)

build/heap_test: tests/heap_test.c $(wildcard steps/06-*/heap.h) $(HEAP_SOURCES) | build
	$(CC) $(WARN) $(CFLAGS) -I$(call step_dir,06) -o $@ tests/heap_test.c $(HEAP_SOURCES)

build/san/heap_test: tests/heap_test.c $(wildcard steps/06-*/heap.h) $(HEAP_SOURCES) | build/san
	$(CC) $(WARN) $(SANFLAGS) -I$(call step_dir,06) -o $@ tests/heap_test.c $(HEAP_SOURCES)

# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------

# make test and make test-san run TEST_JOBS steps at a time, each into its own log under
# build/test-logs/, and print the logs whole, in step order (scripts/test-steps).
test: check-steps all
	@MAKE="$(MAKE)" scripts/test-steps $(TEST_JOBS) test $(STEPS)

san: $(addprefix build/san/step-,$(STEPS))

test-san: check-steps all san $(SAN_TEST_PROGRAMS)
	@MAKE="$(MAKE)" scripts/test-steps $(TEST_JOBS) test-san $(STEPS)

.PHONY: check-steps
check-steps:
	@scripts/check-steps
	@scripts/check-excerpts

clean:
	rm -rf build

# ---------------------------------------------------------------------------------------
# Valgrind, fuzzing and benchmarks each live beside the files they run
# ---------------------------------------------------------------------------------------

include tests/valgrind.mk
include fuzz/fuzz.mk
include bench/bench.mk

# ---------------------------------------------------------------------------------------
# Building a step yourself, and the exercises' solutions
# ---------------------------------------------------------------------------------------

include tests/learner.mk
