/*
 * fuzz_callback_ai_call.c - libFuzzer target for the ai_call plugin's provider
 * callbacks (fuzz_callback.h says what is checked).  The plugin's source is
 * compiled in so its static parser is reached without dlopen.
 */
#include "../../plugins/ai_call/ai_call.c"
#include "fuzz_callback.h"

FUZZ_CALLBACK(plugin)
