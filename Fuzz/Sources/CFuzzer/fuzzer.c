/* Only the declaration in include/fuzzer.h: libFuzzer itself is linked by -sanitize=fuzzer. */
