// errors.h — how the core reports an error without exceptions or global state.
//
// Guarded runtimes never crash on bad input: a core function that detects a problem records a
// PendingError in its Runtime and returns a neutral value (nullptr / -1 / false). The caller
// (the addon) checks rt.has_error() after every call and turns it into the JS error class with
// the same stable code. Unguarded runtimes take the raw C path instead: CPython's text on stderr,
// then abort() (see Runtime::fatal_*).
#pragma once

#include <cstdint>
#include <string>

#include "config.h"
#include "schema.h"

RCL_BEGIN_NAMESPACE

// The codes are RCL_ERROR_CODES (schema.h): X(enumerator, JS code). lib/errors.ts lists the
// same codes; test/schema.test.ts checks both agree through the binding's `constants`.
enum class ErrorCode : uint8_t {
  None = 0,
#define RCL_X(name, js) name,
  RCL_ERROR_CODES(RCL_X)
#undef RCL_X
};

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
#define RCL_X(name, js) \
  case ErrorCode::name: \
    return js;
    RCL_ERROR_CODES(RCL_X)
#undef RCL_X
    case ErrorCode::None:
      break;
  }
  return "ERR_NONE";
}

// The facts an error carries. Fields a code does not use stay empty / zero.
struct PendingError {
  ErrorCode code = ErrorCode::None;
  std::string message;     // e.g. "'A' object has no attribute 'x'" (CPython's text)
  std::string py_type;     // the Python exception it mirrors: AttributeError, KeyError, ...
  // NegativeRefcountError / RefcountTooSmall
  std::string file;
  int line = 0;
  uintptr_t address = 0;
  int64_t refcount = 0;
  std::string type_name;
  // MemoryCorruptionError
  std::string report;
  // A tracking runtime's AddressSanitizer-shaped history of the object at `address`
  // (Provenance::report), for an error about an object's lifetime.
  std::string provenance;
};

RCL_END_NAMESPACE
