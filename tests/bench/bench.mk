# tests/bench/bench.mk - the C half of scripts/bench, included from the Makefile.
#
# A test tool, not part of the daemon: it talks to the broker, Redis and HTTP
# through the libraries directly and links none of the hub's objects.
$(BUILD)/bench: tests/bench/bench.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CH_LIBS) $(LDFLAGS)

# bench_engine measures the correlation engine's store calls directly, so it
# links the hub's library (scripts/bench-engine).
$(BUILD)/bench_engine: tests/bench/bench_engine.c $(LIBHUB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihub -I$(BUILD)/gen -o $@ $^ $(CH_LIBS) $(LDFLAGS)
