// unicode.cc — str as 3.12's compact objects: ASCII (PyASCIIObject + data) or compact
// (PyCompactUnicodeObject + data in 1, 2 or 4 bytes per code point), NUL terminated.
// The empty string and the 256 one-character Latin-1 strings are the runtime's immortal
// singletons, as in CPython.
#include <cstring>

#include <cstdio>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

static const PyASCIIObject* ascii(const PyObject* op) {
  return reinterpret_cast<const PyASCIIObject*>(op);
}

void* PyUnicode_DATA(const PyObject* op) {
  const PyASCIIObject* a = ascii(op);
  if (a->state.ascii) return const_cast<PyASCIIObject*>(a + 1);
  return const_cast<PyCompactUnicodeObject*>(reinterpret_cast<const PyCompactUnicodeObject*>(op) + 1);
}

Py_ssize_t PyUnicode_GetLength(const PyObject* op) { return ascii(op)->length; }

static uint32_t read_cp(const void* data, unsigned kind, Py_ssize_t i) {
  switch (kind) {
    case 1:
      return static_cast<const uint8_t*>(data)[i];
    case 2:
      return static_cast<const uint16_t*>(data)[i];
    default:
      return static_cast<const uint32_t*>(data)[i];
  }
}

PyObject* PyUnicode_FromCodePoints(Runtime& rt, const uint32_t* cps, size_t n) {
  if (n == 0) return rt.EmptyStr();
  uint32_t maxchar = 0;
  for (size_t i = 0; i < n; i++) maxchar = cps[i] > maxchar ? cps[i] : maxchar;
  if (n == 1 && maxchar < 256) return rt.latin1_char(maxchar);
  bool is_ascii = maxchar < 128;
  unsigned kind = maxchar < 256 ? 1 : maxchar < 65536 ? 2 : 4;
  size_t header = is_ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject);
  PyObject* op = rt.object_new(rt.Type(TypeKind::Str), header + (n + 1) * kind);
  if (op == nullptr) return nullptr;
  auto* a = reinterpret_cast<PyASCIIObject*>(op);
  a->length = static_cast<Py_ssize_t>(n);
  a->hash = -1;
  std::memset(&a->state, 0, sizeof a->state);
  a->state.kind = kind;
  a->state.compact = 1;
  a->state.ascii = is_ascii;
  if (!is_ascii) {
    auto* c = reinterpret_cast<PyCompactUnicodeObject*>(op);
    c->utf8_length = 0;
    c->utf8 = nullptr;
  }
  void* data = PyUnicode_DATA(op);
  for (size_t i = 0; i < n; i++) {
    if (kind == 1)
      static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(cps[i]);
    else if (kind == 2)
      static_cast<uint16_t*>(data)[i] = static_cast<uint16_t>(cps[i]);
    else
      static_cast<uint32_t*>(data)[i] = cps[i];
  }
  std::memset(static_cast<char*>(data) + n * kind, 0, kind);
  return op;
}

PyObject* PyUnicode_InternFromUTF8(Runtime& rt, std::string_view s) {
  std::string key(s);
  auto it = rt.interned.find(key);
  if (it != rt.interned.end()) return it->second;
  PyObject* op = PyUnicode_FromUTF8(rt, s);
  if (op == nullptr) return nullptr;
  if (!_Py_IsImmortal(op)) {  // the singletons are immortal (and statically interned) already
    reinterpret_cast<PyASCIIObject*>(op)->state.interned = 2;  // SSTATE_INTERNED_IMMORTAL
    _Py_SetImmortal(op);
    rt.add_ref_total(-1);  // as PyUnicode_InternInPlace: an immortal's reference is not counted
  }
  rt.interned.emplace(std::move(key), op);
  return op;
}

PyObject* PyUnicode_NewFromUTF8Fresh(Runtime& rt, std::string_view s) {
  for (unsigned char c : s)
    if (c >= 128) return PyUnicode_FromUTF8(rt, s);  // only ASCII texts (int reprs) come here
  if (s.empty()) return rt.EmptyStr();
  PyObject* op = rt.object_new(rt.Type(TypeKind::Str), sizeof(PyASCIIObject) + s.size() + 1);
  if (op == nullptr) return nullptr;
  auto* a = reinterpret_cast<PyASCIIObject*>(op);
  a->length = static_cast<Py_ssize_t>(s.size());
  a->hash = -1;
  std::memset(&a->state, 0, sizeof a->state);
  a->state.kind = 1;
  a->state.compact = 1;
  a->state.ascii = 1;
  char* data = static_cast<char*>(PyUnicode_DATA(op));
  std::memcpy(data, s.data(), s.size());
  data[s.size()] = 0;
  return op;
}

// Decodes UTF-8 (lone surrogates encoded WTF-8 style are kept as code points, like
// surrogateescape-free CPython strings built from JS strings).
PyObject* PyUnicode_FromUTF8(Runtime& rt, std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c >> 5) == 6 && i + 1 < s.size()) {
      cp = (c & 0x1Fu) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
      len = 2;
    } else if ((c >> 4) == 14 && i + 2 < s.size()) {
      cp = (c & 0x0Fu) << 12 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6 |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      len = 3;
    } else if ((c >> 3) == 30 && i + 3 < s.size()) {
      cp = (c & 0x07u) << 18 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12 |
           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6 |
           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
      len = 4;
    } else {
      cp = 0xFFFD;
      len = 1;
    }
    cps.push_back(cp);
    i += len;
  }
  return PyUnicode_FromCodePoints(rt, cps.data(), cps.size());
}

std::string PyUnicode_AsUTF8(const PyObject* op) {
  const PyASCIIObject* a = ascii(op);
  const void* data = PyUnicode_DATA(op);
  std::string out;
  out.reserve(static_cast<size_t>(a->length));
  for (Py_ssize_t i = 0; i < a->length; i++) {
    uint32_t cp = read_cp(data, a->state.kind, i);
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

// FNV-1a over the code points (CPython uses SipHash with a random key; only the dict's
// internal slot order depends on it, never anything observable through the API).
Py_ssize_t unicode_hash(PyObject* op) {
  auto* a = reinterpret_cast<PyASCIIObject*>(op);
  if (a->hash != -1) return a->hash;
  uint64_t h = 1469598103934665603ull;
  const void* data = PyUnicode_DATA(op);
  for (Py_ssize_t i = 0; i < a->length; i++) {
    h ^= read_cp(data, a->state.kind, i);
    h *= 1099511628211ull;
  }
  Py_ssize_t x = static_cast<Py_ssize_t>(h >> 1);
  if (x == -1) x = -2;
  // Static strings are read-only shared data in spirit; caching into them is harmless.
  a->hash = x;
  return x;
}

bool unicode_eq(const PyObject* x, const PyObject* y) {
  const PyASCIIObject* a = ascii(x);
  const PyASCIIObject* b = ascii(y);
  if (a->length != b->length || a->state.kind != b->state.kind) return false;
  return std::memcmp(PyUnicode_DATA(x), PyUnicode_DATA(y),
                     static_cast<size_t>(a->length) * a->state.kind) == 0;
}

// unicode_repr: quotes chosen as CPython chooses them, escapes for \\, the quote, \n \t \r and
// the other control characters.
static std::string str_repr(Runtime&, PyObject* op) {
  std::string s = PyUnicode_AsUTF8(op);
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

static size_t unicode_sizeof(const PyObject* op) {
  const PyASCIIObject* a = ascii(op);
  size_t header = a->state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject);
  size_t size = header + static_cast<size_t>(a->length + 1) * a->state.kind;
  // A non-ASCII string whose UTF-8 form was cached carries it too (1-char Latin-1 singletons
  // are created with it in CPython).
  if (!a->state.ascii && a->state.statically_allocated) size += 3;
  return size;
}

static Py_ssize_t unicode_len(PyObject* op) { return PyUnicode_GetLength(op); }

void init_unicode_type(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::Str);
  t->tp_repr = str_repr;
  t->tp_len = unicode_len;
  t->tp_sizeof = unicode_sizeof;
  t->tp_js = JsShape::Str;
}

RCL_END_NAMESPACE
