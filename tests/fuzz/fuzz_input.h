/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): every parser under
 * test reads a path, as the programs do, so each input is written to a
 * per-process scratch file first. The harness then calls the same entry point
 * a program calls; a clean -1 with a message is a pass, a crash, a sanitizer
 * report, a hang or an allocation past libFuzzer's limit is a finding. */
#ifndef TESTS_FUZZ_FUZZ_INPUT_H
#define TESTS_FUZZ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to "<tmp>/mmu_fuzz_<pid>_<tag>" and returns that path
 * (a static buffer per tag slot: slot 0 or 1, so a harness can hold two files). */
const char *fuzz_input_file(const uint8_t *data, size_t size, const char *tag, int slot);

#endif
