// check.h — the native tests' one assertion: counts passes and failures, prints each failure.
// Each test program ends with: std::printf("%d passed, %d failed\n", g_passed, g_failed).
#pragma once

#include <cstdio>

static int g_passed = 0, g_failed = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (cond) {                                                   \
      ++g_passed;                                                 \
    } else {                                                      \
      ++g_failed;                                                 \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                             \
  } while (0)
