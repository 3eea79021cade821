/*
 * fuzz_callback_caseworker.c - libFuzzer target for the caseworker plugin's provider
 * callbacks (fuzz_callback.h says what is checked).  The plugin's source is
 * compiled in so its static parser is reached without dlopen.
 */
#include "../../plugins/caseworker/caseworker.c"
#include "fuzz_callback.h"

FUZZ_CALLBACK(plugin)
