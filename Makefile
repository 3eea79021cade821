# carehub - build, run and test.
#
#   make run     install what is missing, build, start local mosquitto + redis under ./run/,
#                run carehubd with the example configuration
#   make test    install what is missing, build with warnings as errors (gcc and clang),
#                run every test under AddressSanitizer + UBSan against real services,
#                and a short fuzz smoke run
#   make asan    the whole suite under AddressSanitizer + UBSan
#   make fuzz    build the libFuzzer targets (clang)
#   make install install carehubd, carehubctl, the plugins, example configs and the
#                systemd unit (PREFIX=/usr/local, DESTDIR for packaging)
#
# CFLAGS is yours (default -O2 -g); the project's own flags live in CH_CFLAGS.

CC      ?= cc
CFLAGS  ?= -O2 -g
BUILD   ?= build
WERROR  ?= -Werror
SAN     ?=

PKGS      := libmosquitto hiredis jansson libcurl libmicrohttpd libargon2 libsystemd
TEST_PKGS := cmocka

CH_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
             -Wwrite-strings -Wvla -Wshadow -Wformat=2 $(WERROR) -pthread -fno-omit-frame-pointer \
             -Ihub -I$(BUILD)/gen \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CH_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -ldl -lm
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
CFLAGS   := -O1 -g
endif

HUB_MAIN   := hub/main.c hub/ctl.c
HUB_SRCS   := $(filter-out $(HUB_MAIN),$(wildcard hub/*.c))
HUB_OBJS   := $(HUB_SRCS:%.c=$(BUILD)/obj/%.o)
LIBHUB     := $(BUILD)/libhub.a

PLUGIN_DIRS   := $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c)))
PLUGINS       := $(sort $(foreach d,$(PLUGIN_DIRS),$(BUILD)/plugins/$(notdir $(d)).so))
TPLUGIN_DIRS  := $(patsubst %/,%,$(dir $(wildcard tests/plugins/*/*.c)))
TEST_PLUGINS  := $(sort $(foreach d,$(TPLUGIN_DIRS),$(BUILD)/test-plugins/$(notdir $(d)).so))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
ITEST_SRCS := $(wildcard tests/integration/test_*.c)
ITEST_BINS := $(ITEST_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
ITEST_LIB  := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(ITEST_SRCS),$(wildcard tests/integration/*.c)))

FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

ALL_CFLAGS = $(CH_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS)

# The pkg-config flags above are read when this file is parsed. Targets that
# install what is missing first (run, test, bench) therefore build through a
# second make, which parses again once the libraries are there; any other goal
# on a machine without them stops here with the command that fixes it, rather
# than at the linker with a page of undefined symbols.
DEPS_FIRST := deps run test bench clean stop
ifeq ($(filter $(DEPS_FIRST),$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && echo ok),ok)
$(error the development libraries are missing ($(PKGS)): run 'make deps' (scripts/install-deps) first, or 'make run' / 'make test', which install them)
endif
endif

.PHONY: all run test asan check-suite unit integration browser fuzz fuzz-smoke clang-check harness-check deps bench bench-care clean stop install

CTL := $(if $(wildcard hub/ctl.c),$(BUILD)/carehubctl)

all: $(BUILD)/carehubd $(CTL) $(PLUGINS)

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -MMD -MP -c $< -o $@

# Lua scripts are compiled into the daemon as C strings.
$(BUILD)/gen/%.lua.h: hub/%.lua
	@mkdir -p $(dir $@)
	{ echo 'static const char $(subst .,_,$*)_lua[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@

$(BUILD)/obj/hub/store.o: $(BUILD)/gen/store_ingest.lua.h $(BUILD)/gen/store_timers.lua.h $(BUILD)/gen/store_escalate.lua.h
$(BUILD)/obj/hub/store_care.o: $(BUILD)/gen/store_care.lua.h

# The console page too: hub/console.html with each line "/*#include FILE*/"
# replaced by hub/FILE (its style and scripts), so the page is one document.
# "?" is escaped too: with -std=c11 a "??x" in the page would be a trigraph.
CONSOLE_PARTS := $(wildcard hub/console*.css hub/console*.js)
$(BUILD)/gen/console.html.h: hub/console.html $(CONSOLE_PARTS)
	@mkdir -p $(dir $@)
	awk '/^\/\*#include [A-Za-z0-9_.]+\*\/$$/ { f = "hub/" substr($$2, 1, length($$2) - 2); n = 0; \
	       while ((getline l < f) > 0) { print l; n++ } close(f); \
	       if (!n) { print "console: " f " is missing or empty" > "/dev/stderr"; exit 1 } next } { print }' \
	    $< > $(BUILD)/gen/console.html
	{ echo 'static const char console_html[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $(BUILD)/gen/console.html; echo ';'; } > $@

$(BUILD)/obj/hub/http.o: $(BUILD)/gen/console.html.h

$(LIBHUB): $(HUB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/carehubd: $(BUILD)/obj/hub/main.o $(LIBHUB)
	$(CC) $(ALL_CFLAGS) -rdynamic -o $@ $^ $(CH_LIBS) $(LDFLAGS)

$(BUILD)/carehubctl: $(BUILD)/obj/hub/ctl.o $(LIBHUB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(CH_LIBS) $(LDFLAGS)

# Plugins see only plugins/carehub_plugin.h and their own sources.
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(wildcard plugins/%/*.c) $$(wildcard plugins/%/*.h) plugins/carehub_plugin.h plugins/plugin_http.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden -Iplugins -o $@ $(filter %.c,$^)

$(BUILD)/test-plugins/%.so: $$(wildcard tests/plugins/%/*.c) plugins/carehub_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared -fvisibility=hidden -Iplugins -o $@ $(filter %.c,$^)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(CH_LIBS) $(TEST_LIBS) $(LDFLAGS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(ITEST_LIB) $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(CH_LIBS) $(TEST_LIBS) $(LDFLAGS)

# The whole suite in this build: unit tests, then integration tests against real
# services started on free ports by tests/run.
check-suite: all $(TEST_PLUGINS) $(UNIT_BINS) $(ITEST_BINS)
	tests/run $(BUILD)

unit: all $(TEST_PLUGINS) $(UNIT_BINS)
	tests/run $(BUILD) unit

integration: all $(TEST_PLUGINS) $(ITEST_BINS)
	tests/run $(BUILD) integration

# The console in headless Chromium alone (it also runs with the integration tests).
browser: all
	tests/run $(BUILD) browser

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 check-suite

# Warnings as errors with the other compiler too (compile only).
clang-check:
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang all $(patsubst $(BUILD)/%,build-clang/%,$(UNIT_BINS) $(ITEST_BINS) $(TEST_PLUGINS))

# libFuzzer targets: each links the hub sources built with clang and the fuzzer.
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
build-fuzz/%: tests/fuzz/%.c $(HUB_SRCS) $(wildcard hub/*.h) $(wildcard plugins/*/*.c plugins/*.h tests/fuzz/*.h) $(BUILD)/gen/store_ingest.lua.h $(BUILD)/gen/store_timers.lua.h $(BUILD)/gen/store_escalate.lua.h $(BUILD)/gen/store_care.lua.h $(BUILD)/gen/console.html.h
	@mkdir -p build-fuzz
	clang $(CH_CFLAGS) $(FUZZ_FLAGS) -Ihub -Iplugins -o $@ $< $(HUB_SRCS) $(CH_LIBS)

fuzz: $(FUZZ_BINS)

# A short run of each target from its seed corpus: catches crashes in CI.
fuzz-smoke: fuzz
	tests/fuzz/smoke $(FUZZ_BINS)

# The care-efficacy harness's scripts: the scorer on a hand-made pair, a tiny fleet end to end.
harness-check: all
	tests/backtest/harness-selftest $(BUILD)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory clang-check
	@$(MAKE) --no-print-directory harness-check
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory fuzz-smoke

run: deps
	@$(MAKE) --no-print-directory all
	scripts/run-local

stop:
	scripts/services stop run

include tests/bench/bench.mk

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench
	scripts/bench

# Care efficacy: the rule pack and a naive baseline on two synthetic fleets with ground
# truth and the two real logs (scripts/bench-care; README "Measuring care efficacy").
# e.g. make bench-care BENCH_CARE_ARGS="--rules my-rules.json --repeat-notifies"
bench-care: all
	scripts/bench-care --build $(BUILD) $(BENCH_CARE_ARGS)
# ---------------------------------------------------------------- install
#
# Binaries, plugins under $(LIBDIR)/carehub/plugins, the example configs under
# $(SYSCONFDIR)/carehub (an existing file is kept: yours wins), the broker,
# Prometheus and Grafana files under $(DATADIR)/carehub, the systemd unit.
# The state directory belongs to the service (StateDirectory= makes it with
# the carehub user as owner); it is created here only so a DESTDIR tree has it.
PREFIX        ?= /usr/local
SBINDIR       ?= $(PREFIX)/sbin
BINDIR        ?= $(PREFIX)/bin
LIBDIR        ?= $(PREFIX)/lib
DATADIR       ?= $(PREFIX)/share
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var/lib
UNITDIR       ?= /lib/systemd/system
PLUGINSDIR    := $(LIBDIR)/carehub/plugins
ETC_FILES     := rules.json policies.json templates.json registry.json providers.example.json
SUBST          = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
                     -e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g' -e 's|@PLUGINSDIR@|$(PLUGINSDIR)|g'

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINSDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/carehub $(DESTDIR)$(DATADIR)/carehub/mosquitto \
	    $(DESTDIR)$(DATADIR)/carehub/prometheus $(DESTDIR)$(DATADIR)/carehub/grafana
	install -d -m 700 $(DESTDIR)$(SYSCONFDIR)/carehub/credentials
	install -d -m 750 $(DESTDIR)$(LOCALSTATEDIR)/carehub
	install -m 755 $(BUILD)/carehubd $(DESTDIR)$(SBINDIR)/carehubd
	install -m 755 $(BUILD)/carehubctl $(DESTDIR)$(BINDIR)/carehubctl
	install -m 644 $(PLUGINS) $(DESTDIR)$(PLUGINSDIR)/
	for f in $(ETC_FILES); do \
	    [ -e $(DESTDIR)$(SYSCONFDIR)/carehub/$$f ] || install -m 644 config/$$f $(DESTDIR)$(SYSCONFDIR)/carehub/$$f; \
	done
	[ -e $(DESTDIR)$(SYSCONFDIR)/carehub/carehub.json ] || \
	    { $(SUBST) config/carehub.server.json > $(DESTDIR)$(SYSCONFDIR)/carehub/carehub.json && \
	      chmod 644 $(DESTDIR)$(SYSCONFDIR)/carehub/carehub.json; }
	install -m 644 config/mosquitto/carehub.conf config/mosquitto/carehub.acl $(DESTDIR)$(DATADIR)/carehub/mosquitto/
	install -m 644 config/prometheus/carehub-alerts.yml $(DESTDIR)$(DATADIR)/carehub/prometheus/
	install -m 644 config/grafana/carehub-dashboard.json $(DESTDIR)$(DATADIR)/carehub/grafana/
	$(SUBST) systemd/carehub.service > $(DESTDIR)$(UNITDIR)/carehub.service
	chmod 644 $(DESTDIR)$(UNITDIR)/carehub.service

clean:
	rm -rf build build-asan build-clang build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
