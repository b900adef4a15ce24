// long.cc — int and bool (3.12 compact layout, arbitrary precision storage).
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
  auto* v = reinterpret_cast<PyLongObject*>(rt.object_new(rt.Type(TypeKind::Int), size));
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

// long_to_decimal_string: repeated division by 10 of the little-endian magnitude.
static std::string long_repr(Runtime&, PyObject* op) {
  int sign;
  std::vector<uint64_t> w;
  PyLong_AsWords(op, &sign, &w);
  if (w.empty()) return "0";
  std::string digits;
  while (!w.empty()) {
    unsigned __int128 rem = 0;
    for (size_t i = w.size(); i-- > 0;) {
      unsigned __int128 cur = rem << 64 | w[i];
      w[i] = static_cast<uint64_t>(cur / 10);
      rem = cur % 10;
    }
    digits += static_cast<char>('0' + static_cast<int>(rem));
    while (!w.empty() && w.back() == 0) w.pop_back();
  }
  if (sign < 0) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

static std::string bool_repr(Runtime& rt, PyObject* op) { return op == rt.True() ? "True" : "False"; }

// int.__sizeof__: the digits, at least one (0 has one digit in 3.12's layout).
static size_t long_sizeof(const PyObject* op) {
  size_t nd = PyLong_NDigits(op);
  return offsetof(PyLongObject, ob_digit) + (nd ? nd : 1) * sizeof(digit);
}

void init_long_types(Runtime& rt) {
  PyTypeObject* i = rt.Type(TypeKind::Int);
  i->tp_repr = long_repr;
  i->tp_sizeof = long_sizeof;
  i->tp_js = JsShape::Int;
  PyTypeObject* b = rt.Type(TypeKind::Bool);
  b->tp_repr = bool_repr;
  b->tp_sizeof = long_sizeof;
  b->tp_js = JsShape::Bool;
}

RCL_END_NAMESPACE
