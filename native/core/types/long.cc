// long.cc — int (3.12 compact layout, arbitrary precision storage) and float.
#include <cmath>
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

// lv_tag: ndigits << 3 | sign bits (0 positive, 1 zero, 2 negative).
static inline uintptr_t lv_tag(size_t ndigits, int sign) {
  return (static_cast<uintptr_t>(ndigits) << 3) | (sign == 0 ? 1u : sign < 0 ? 2u : 0u);
}

size_t PyLong_NDigits(const PyObject* op) {
  return reinterpret_cast<const PyLongObject*>(op)->lv_tag >> 3;
}
int PyLong_Sign(const PyObject* op) {
  uintptr_t s = reinterpret_cast<const PyLongObject*>(op)->lv_tag & 3;
  return s == 1 ? 0 : s == 2 ? -1 : 1;
}

// Allocates an int with n digits (n >= 1): offsetof(ob_digit) + n * sizeof(digit) bytes.
static PyLongObject* long_alloc(Runtime& rt, size_t ndigits) {
  size_t size = offsetof(PyLongObject, ob_digit) + ndigits * sizeof(digit);
  auto* v = reinterpret_cast<PyLongObject*>(rt.object_new(rt.Type(rt.int_type), size));
  return v;
}

PyObject* PyLong_FromWords(Runtime& rt, int sign, const uint64_t* words, size_t nwords) {
  while (nwords > 0 && words[nwords - 1] == 0) nwords--;
  if (nwords == 0) return rt.small_int(0);
  // Small ints come from the immortal cache.
  if (nwords == 1 && words[0] <= 256 && (sign > 0 || words[0] <= _PY_NSMALLNEGINTS))
    return rt.small_int(sign < 0 ? -static_cast<int64_t>(words[0])
                                 : static_cast<int64_t>(words[0]));
  size_t bits = (nwords - 1) * 64 + (64 - static_cast<size_t>(__builtin_clzll(words[nwords - 1])));
  size_t ndigits = (bits + PyLong_SHIFT - 1) / PyLong_SHIFT;
  PyLongObject* v = long_alloc(rt, ndigits);
  if (v == nullptr) return nullptr;
  for (size_t d = 0; d < ndigits; d++) {
    size_t bit = d * PyLong_SHIFT, w = bit / 64, off = bit % 64;
    uint64_t x = words[w] >> off;
    if (off > 64 - PyLong_SHIFT && w + 1 < nwords) x |= words[w + 1] << (64 - off);
    v->ob_digit[d] = static_cast<digit>(x & PyLong_MASK);
  }
  v->lv_tag = lv_tag(ndigits, sign);
  return &v->ob_base;
}

PyObject* PyLong_FromInt64(Runtime& rt, int64_t ival) {
  if (ival >= -_PY_NSMALLNEGINTS && ival < _PY_NSMALLPOSINTS) return rt.small_int(ival);
  uint64_t mag = ival < 0 ? 0 - static_cast<uint64_t>(ival) : static_cast<uint64_t>(ival);
  return PyLong_FromWords(rt, ival < 0 ? -1 : 1, &mag, 1);
}

void PyLong_AsWords(const PyObject* op, int* sign, std::vector<uint64_t>* words) {
  auto* v = reinterpret_cast<const PyLongObject*>(op);
  size_t nd = PyLong_NDigits(op);
  *sign = PyLong_Sign(op);
  words->assign((nd * PyLong_SHIFT + 63) / 64 + 1, 0);
  for (size_t d = 0; d < nd; d++) {
    size_t bit = d * PyLong_SHIFT, w = bit / 64, off = bit % 64;
    (*words)[w] |= static_cast<uint64_t>(v->ob_digit[d]) << off;
    if (off > 64 - PyLong_SHIFT) (*words)[w + 1] |= static_cast<uint64_t>(v->ob_digit[d]) >> (64 - off);
  }
  while (!words->empty() && words->back() == 0) words->pop_back();
}

bool PyLong_AsInt64(const PyObject* op, int64_t* out) {
  int sign;
  std::vector<uint64_t> w;
  PyLong_AsWords(op, &sign, &w);
  if (w.empty()) {
    *out = 0;
    return true;
  }
  if (w.size() > 1) return false;
  if (sign > 0) {
    if (w[0] > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(w[0]);
  } else {
    if (w[0] > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = static_cast<int64_t>(0 - w[0]);
  }
  return true;
}

// =============================================================================================
// float
// =============================================================================================

// The float free list is linked through ob_type, as 3.12 links it.
PyObject* PyFloat_FromDouble(Runtime& rt, double v) {
  FreeLists& fl = rt.freelists;
  PyObject* op = fl.floats;
  if (op != nullptr) {
    fl.floats = reinterpret_cast<PyObject*>(op->ob_type);
    fl.float_num--;
    op->ob_type = rt.Type(rt.float_type);
    rt.from_freelist(op);
  } else {
    op = rt.object_new(rt.Type(rt.float_type), sizeof(PyFloatObject));
    if (op == nullptr) return nullptr;
  }
  reinterpret_cast<PyFloatObject*>(op)->ob_fval = v;
  return op;
}

void float_dealloc(Runtime& rt, PyObject* op) {
  FreeLists& fl = rt.freelists;
  if (fl.float_num >= FreeLists::kFloatMax) {
    rt.object_free(op);
    return;
  }
  fl.float_num++;
  op->ob_type = reinterpret_cast<PyTypeObject*>(fl.floats);
  fl.floats = op;
  rt.to_freelist(op);
}

void float_clear_freelist(Runtime& rt) {
  FreeLists& fl = rt.freelists;
  while (PyObject* op = fl.floats) {
    fl.floats = reinterpret_cast<PyObject*>(op->ob_type);
    rt.object_free(op);
  }
  fl.float_num = 0;
}

RCL_END_NAMESPACE
