# valgrind.mk - every step's server under valgrind's memcheck (included by the Makefile).
#
#   make valgrind                            every step, each with the suites chosen below
#   make valgrind-03                         step 03 alone
#   make valgrind-03 SERVER=path/to/server   the same, for your own server
#
# The suites start the server through tests/valgrind-server, which runs it under memcheck.
# Each test has a server of its own, and stop_server fails the test unless that server
# exits with status 0: memcheck turns that status into 99 on any invalid read or write, use
# of uninitialised memory, or leaked block, and its report is in the failing test's output.
# This checks the very binaries `make` builds, not special builds as `make test-san` does.
#
# Memcheck makes a server 10 to 50 times slower, and each test pays about a second to start
# one, so a step does not run every suite it passes: it runs those that exercise the code it
# added, which is where its memory can go wrong.
#
#   01  00-command-line 01-echo   the command line (ready line, SIGINT, SIGTERM, exit 2 for
#                                 bad usage all pass through the wrapper) and the echo loop
#   02  02-protocol               reading requests, allocating their arguments, the list store
#   03  02-protocol 03-event-loop the buffers and the connections of the poll() loop: every
#                                 way a connection can end must free what it held
#   04  04-pipelining             buffer.c's reclaiming of the consumed front, and the
#                                 hold-back of deep pipelines, with large values
#   05  05-hashtable              the hash table: 200,000 keys set, read, half deleted,
#                                 through many resizes, and keys that differ after a NUL
#   06  06-timers                 the timer heap and every way a connection now ends for
#                                 time: idle, request deadline, bounded lingering close
#   07  07-expiry                 keys that expire: the store's heap of deadlines, lazy
#                                 expiry on every request type, and the expiry task (its
#                                 200,000-key tests skip themselves: they measure time)
#   08  07-expiry 08-epoll        everything step 08 changed: replies queued as blocks and
#                                 values shared by reference (a GET's reply must outlive a
#                                 SET or an expiry of its key), input kept only when
#                                 unfinished, the refused and the over-budget connections
#   09  07-expiry 09-resp         KV/1 now reaches the store through the command table,
#                                 and RESP's parser keeps argument arrays across reads
#
# Steps 04 to 08 do not repeat 02-protocol: its code did not change, and the whole run
# stays near four minutes. (The fuzz targets, under ASan, cover the protocol and the store
# of every step: make fuzz-ci.)
#
# A step without a line here runs all of its suites (SUITES_NN in the Makefile). Name the
# suites for each new step: each step then adds a fixed time (about 45 s today) to `make
# valgrind`, where running every earlier suite again would make it grow with the square of
# the number of steps (docs/testing.md, "Test time"). Tests tagged `slow` run here too.

VALGRIND_SUITES_01 := 00-command-line 01-echo
VALGRIND_SUITES_02 := 02-protocol
VALGRIND_SUITES_03 := 02-protocol 03-event-loop
VALGRIND_SUITES_04 := 04-pipelining
VALGRIND_SUITES_05 := 05-hashtable
VALGRIND_SUITES_06 := 06-timers
VALGRIND_SUITES_07 := 07-expiry
VALGRIND_SUITES_08 := $(VALGRIND_SUITES_07) 08-epoll
VALGRIND_SUITES_09 := 07-expiry 09-resp

valgrind_suites = $(or $(VALGRIND_SUITES_$(1)),$(SUITES_$(1)))

.PHONY: valgrind valgrind-programs $(addprefix valgrind-,$(STEPS))

valgrind: valgrind-programs $(addprefix valgrind-,$(STEPS))

# The hash table's and the heap's own test programs, under memcheck too.
valgrind-programs: $(TEST_PROGRAMS)
	@echo "== the data structures' test programs under valgrind =="
	$(BATS) $(BATS_FLAGS) tests/c-programs-valgrind.bats

# KV_UNDER_VALGRIND tells a test that the server runs under memcheck, for the rare test that
# cannot hold then (memcheck keeps 12 of the server's descriptors for itself).
define valgrind_rule
valgrind-$(1): build/step-$(1) $(TOOLS) $(TEST_PROGRAMS)
	@echo "== step $(1) under valgrind: $$(or $$(SERVER),build/step-$(1)) =="
	VALGRIND_SERVER="$$(or $$(SERVER),build/step-$(1))" KV_SERVER=tests/valgrind-server \
	KV_UNDER_VALGRIND=1 $$(BATS) $$(BATS_FLAGS) \
	    $$(foreach s,$$(call valgrind_suites,$(1)),tests/$$(s).bats)
endef
$(foreach n,$(STEPS),$(eval $(call valgrind_rule,$(n))))
