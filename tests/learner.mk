# learner.mk - building a step yourself, stage by stage, and the exercises' solutions
# (included by the Makefile; docs/testing.md, "Building a step yourself", explains it all).
#
#   make start-03             workspace/03/: a copy of step 02's folder, yours to turn into
#                             step 03 (step 01 starts from tests/start-01: a main() alone)
#   make                      also builds each workspace/NN/ that exists into build/workspace-NN
#   make check-03             step 03's tests against build/workspace-03, with a summary
#   make check-03 STAGE=2     only the tests of chapter 03's stages 1 and 2
#   make test-solutions       every exercise's solution passes its test; the step it starts
#                             from fails that same test
#
# workspace/ is git-ignored and nothing here ever writes into an existing workspace: it is
# the learner's own work. A workspace is built like a step, from its own .c files and libc,
# with the same warnings. Tests tagged `implementation` (this project's internals) never
# run against a workspace. KV_SOURCES tells the tests where the workspace's sources are:
# chapter 05's build tests/hashtable_test.c against workspace/05/hashtable.c. Which tests
# make up a stage: tests/check-stages.

WORKSPACES := $(sort $(patsubst workspace/%/,%,$(wildcard workspace/[0-9][0-9]/)))

# The step a chapter's workspace starts from: the one before it ("02:01" in STEP_PAIRS).
prev_step = $(patsubst $(1):%,%,$(filter $(1):%,$(STEP_PAIRS)))
start_from = $(or $(call step_dir,$(call prev_step,$(1))),$(wildcard tests/start-$(1)))

.PHONY: test-solutions $(addprefix start-,$(STEPS)) $(addprefix check-,$(STEPS)) \
        $(addprefix no-workspace-,$(STEPS))

all: $(addprefix build/workspace-,$(WORKSPACES))

define workspace_build_rule
# The folder is a prerequisite too: adding, removing or renaming a file changes its time.
build/workspace-$(1): workspace/$(1) $(wildcard workspace/$(1)/*.c workspace/$(1)/*.h) | build
	$$(if $$(wildcard workspace/$(1)/*.c),,@echo "workspace/$(1)/ holds no .c file" >&2; exit 1)
	$$(CC) $$(WARN) $$(CFLAGS) -o $$@ $$(wildcard workspace/$(1)/*.c)
endef
$(foreach n,$(WORKSPACES),$(eval $(call workspace_build_rule,$(n))))

define learner_rules
start-$(1):
	@if [ -e workspace/$(1) ]; then \
	    echo "workspace/$(1)/ already exists; it is left as it is (move it away to start over)" >&2; \
	    exit 1; \
	fi
	mkdir -p workspace/$(1)
	$(if $(call start_from,$(1)),cp -p $(call start_from,$(1))/* workspace/$(1)/)
	@if grep -qs '^## Build it yourself' $(wildcard docs/$(1)-*.md); then \
	    echo "workspace/$(1)/ is yours. Next: make check-$(1) STAGE=1; the stages are in" \
	        "$(wildcard docs/$(1)-*.md), \"Build it yourself\""; \
	else \
	    echo "workspace/$(1)/ is yours. make check-$(1) runs step $(1)'s tests against it"; \
	fi

no-workspace-$(1):
	@echo "there is no workspace/$(1)/ yet: make start-$(1) creates it" >&2
	@exit 1

check-$(1): $(if $(filter $(1),$(WORKSPACES)),build/workspace-$(1),no-workspace-$(1)) \
            $(TOOLS) $(TEST_PROGRAMS)
	@BATS="$$(BATS)" KV_SOURCES=workspace/$(1) \
	    tests/check-stages $(1) build/workspace-$(1) "$$(STAGE)" \
	    $$(foreach s,$$(SUITES_$(1)),tests/$$(s).bats)
endef
$(foreach n,$(STEPS),$(eval $(call learner_rules,$(n))))

# Each solutions/NN/NAME/ holds solution.patch (against step NN's folder) or a complete
# copy of the folder, and test.bats; tests/test-solutions builds them into
# build/solutions/NN/NAME/ and prints TAP.
test-solutions: $(addprefix build/step-,$(STEPS)) $(TOOLS)
	@CC="$(CC)" WARN="$(WARN)" CFLAGS="$(CFLAGS)" BATS="$(BATS)" tests/test-solutions
