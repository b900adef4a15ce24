// convert.cc — core object <-> JS value.
#include "convert.h"

#include "args.h"

RCL_BEGIN_NAMESPACE
namespace addon {

Napi::Value int64_value(Napi::Env env, int64_t v) {
  if (v >= -9007199254740991LL && v <= 9007199254740991LL)
    return Napi::Number::New(env, static_cast<double>(v));
  return Napi::BigInt::New(env, v);
}

Napi::Value long_to_js(Napi::Env env, PyObject* op) {
  int64_t v;
  if (PyLong_AsInt64(op, &v)) return int64_value(env, v);
  int sign;
  std::vector<uint64_t> words;
  PyLong_AsWords(op, &sign, &words);
  return Napi::BigInt::New(env, sign < 0 ? 1 : 0, words.size(), words.data());
}

int collect_child(PyObject* child, const RefLabel& label, void* arg) {
  static_cast<std::vector<std::pair<RefLabel, PyObject*>>*>(arg)->emplace_back(label, child);
  return 0;
}

ToJs::Children ToJs::children(PyObject* op) {
  Children out;
  if (walkproc walk = Py_TYPE(op)->tp_walk) walk(op, WalkMode::All, collect_child, &out);
  for (auto& kid : out) {
    // each child is held while it converts; a dangling one (guarded) is the error, not an incref
    PyObject* child = new_ref_to_item(rt, kid.second);
    if (child == nullptr) throw_pending(env, h);
    held.push_back(child);
  }
  return out;
}

Napi::Value ToJs::convert(PyObject* op, int depth_left) {
  // Guarded: a container can hold an object freed behind its back (an extra Py_DECREF through
  // the C API); say so instead of reading it.
  if (rt.guard && rt.checked_object(reinterpret_cast<uintptr_t>(op)) == nullptr) throw_pending(env, h);
  JsShape shape = Py_TYPE(op)->tp_js;
  switch (shape) {
    case JsShape::Null: return env.Null();
    case JsShape::Bool: return Napi::Boolean::New(env, op == rt.True());
    case JsShape::Int: return long_to_js(env, op);
    case JsShape::Float: return Napi::Number::New(env, reinterpret_cast<PyFloatObject*>(op)->ob_fval);
    case JsShape::Str: return Napi::String::New(env, PyUnicode_AsUTF8(op));
    case JsShape::Repr: {
      std::string text = PyObject_Repr(rt, op);
      if (rt.repr_state.failed) throw_pending(env, h);
      return Napi::String::New(env, text);
    }
    default: break;
  }
  auto it = seen.find(op);
  if (it != seen.end()) return it->second;  // cycles map to the same JS object
  if (depth_left <= 0) {
    PendingError e;
    e.py_type = "RecursionError";
    throw_js(env, h->addon, ErrorCode::Recursion,
             "maximum recursion depth exceeded while converting an object to a JS value", &e);
  }
  int d = depth_left - 1;
  switch (shape) {
    case JsShape::Array: {
      Napi::Array a = Napi::Array::New(env);
      hold(op, a);
      for (auto& [label, child] : children(op)) a.Set(static_cast<uint32_t>(label.index), convert(child, d));
      return a;
    }
    case JsShape::Map:
    case JsShape::Set: {
      bool map = shape == JsShape::Map;
      Napi::Function ctor = env.Global().Get(map ? "Map" : "Set").As<Napi::Function>();
      Napi::Object m = ctor.New({});
      hold(op, m);
      Napi::Function put = m.Get(map ? "set" : "add").As<Napi::Function>();
      Napi::Value key;
      for (auto& [label, child] : children(op)) {
        if (label.kind == RefLabel::Key) {
          key = convert(child, d);
        } else if (label.kind == RefLabel::Value) {
          put.Call(m, {key, convert(child, d)});
        } else {
          put.Call(m, {convert(child, d)});
        }
      }
      return m;
    }
    case JsShape::Object: {  // an instance: its attributes, in a materialised __dict__ or not
      Napi::Object o = Napi::Object::New(env);
      hold(op, o);
      for (auto& [label, child] : children(op)) {
        if (label.kind == RefLabel::Attr) {
          o.Set(PyUnicode_AsUTF8(label.key), convert(child, d));
        } else if (label.kind == RefLabel::Dict) {
          for (auto& [entry, value] : children(child))
            if (entry.kind == RefLabel::Value) o.Set(PyUnicode_AsUTF8(entry.key), convert(value, d));
        }
      }
      return o;
    }
    default:
      return env.Undefined();  // not reached: the scalar shapes returned above
  }
}

PyObject* primitive_to_object(Napi::Env env, RtHandle* h, Napi::Value v) {
  Runtime& rt = *h->rt;
  PyObject* op = nullptr;
  switch (v.Type()) {
    case napi_number:
      op = number_to_object(rt, v.As<Napi::Number>().DoubleValue());
      break;
    case napi_bigint: {
      Napi::BigInt b = v.As<Napi::BigInt>();
      int sign = 0;
      size_t count = b.WordCount();
      std::vector<uint64_t> words(count ? count : 1);
      b.ToWords(&sign, &count, words.data());
      op = PyLong_FromWords(rt, sign ? -1 : 1, words.data(), count);
      break;
    }
    case napi_string:
      op = PyUnicode_FromUTF8(rt, v.As<Napi::String>().Utf8Value());
      break;
    case napi_boolean:
      return v.As<Napi::Boolean>().Value() ? rt.True() : rt.False();  // immortal
    case napi_null:
    case napi_undefined:
      return rt.None();
    default:
      return nullptr;
  }
  if (op == nullptr) throw_pending(env, h);
  return op;
}


PyObject* primitive_value(Napi::Env env, RtHandle* h, napi_value v) {
  PyObject* op = v != nullptr ? primitive_to_object(env, h, Napi::Value(env, v)) : h->rt->None();
  if (op == nullptr) throw Napi::TypeError::New(env, "a number, bigint, string, boolean or null is required");
  return op;
}
PyObject* primitive_arg(const Napi::CallbackInfo& info, size_t i, RtHandle* h) {
  return primitive_value(info.Env(), h, i < info.Length() ? static_cast<napi_value>(info[i]) : nullptr);
}


Napi::Value object_list(Napi::Env env, RtHandle* h, const std::vector<PyObject*>& objs) {
  Runtime& rt = *h->rt;
  // Every element is a NEW reference (the lib wraps each in an owning Ref).
  // All of them first: setting an element can run user code (an inherited setter) that would
  // free the ones not yet taken.
  for (PyObject* op : objs) Py_INCREF(rt, op);
  InUserCode scope(h->running_callbacks);
  Napi::Array a = Napi::Array::New(env, objs.size());
  for (size_t i = 0; i < objs.size(); i++)
    a.Set(static_cast<uint32_t>(i), static_cast<double>(reinterpret_cast<uintptr_t>(objs[i])));
  return a;
}
}  // namespace addon
RCL_END_NAMESPACE
