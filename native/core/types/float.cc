// float.cc — float: PyFloatObject (24 bytes), 3.12's free list of 100 floats, and repr.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../refcount.h"
#include "types.h"

RCL_BEGIN_NAMESPACE

// The float free list is linked through ob_type, as 3.12 links it.
PyObject* PyFloat_FromDouble(Runtime& rt, double v) {
  FreeLists& fl = rt.freelists;
  PyObject* op = fl.floats;
  if (op != nullptr) {
    fl.floats = reinterpret_cast<PyObject*>(op->ob_type);
    fl.float_num--;
    op->ob_type = rt.Type(TypeKind::Float);
    rt.from_freelist(op);
  } else {
    op = rt.object_new(rt.Type(TypeKind::Float), sizeof(PyFloatObject));
    if (op == nullptr) return nullptr;
  }
  reinterpret_cast<PyFloatObject*>(op)->ob_fval = v;
  return op;
}

static void float_dealloc(Runtime& rt, PyObject* op) {
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

// float_repr: the shortest text that round-trips, as repr(float) (1.0, 1e+16, 1e-05, inf, nan).
static std::string float_repr(Runtime&, PyObject* op) {
  double v = reinterpret_cast<PyFloatObject*>(op)->ob_fval;
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int prec = 1; prec <= 17; prec++) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  double ip;
  if (s.find_first_of(".einn") == std::string::npos && std::modf(v, &ip) == 0.0) s += ".0";
  return s;
}

void init_float_type(Runtime& rt) {
  PyTypeObject* t = rt.Type(TypeKind::Float);
  t->tp_dealloc = float_dealloc;
  t->tp_repr = float_repr;
  t->tp_js = JsShape::Float;
}

RCL_END_NAMESPACE
