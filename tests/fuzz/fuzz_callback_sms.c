/*
 * fuzz_callback_sms.c - libFuzzer target for the sms plugin's provider
 * callbacks (fuzz_callback.h says what is checked).  The plugin's source is
 * compiled in so its static parser is reached without dlopen.
 */
#include "../../plugins/sms/sms.c"
#include "fuzz_callback.h"

FUZZ_CALLBACK(plugin)
