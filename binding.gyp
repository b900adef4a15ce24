{
  # Three builds of the same sources, one .node each. Only the defines differ; every target is
  # compiled with hidden visibility so the three can be loaded into one process independently.
  "target_defaults": {
    "sources": [
      "native/core/obmalloc.cc",
      "native/core/runtime.cc",
      "native/core/gc.cc",
      "native/core/refs.cc",
      "native/core/provenance.cc",
      "native/core/api.cc",
      "native/core/types/object.cc",
      "native/core/types/long.cc",
      "native/core/types/float.cc",
      "native/core/types/unicode.cc",
      "native/core/types/sequence.cc",
      "native/core/types/dict.cc",
      "native/core/types/set.cc",
      "native/core/types/class.cc",
      "native/core/types/weakref.cc",
      "native/core/types/abstract.cc",
      "native/addon/addon.cc",
      "native/addon/handle.cc",
      "native/addon/js_error.cc",
      "native/addon/args.cc",
      "native/addon/convert.cc",
      "native/addon/raw.cc",
      "native/addon/api_objects.cc",
      "native/addon/api_memory.cc",
      "native/addon/api_gc.cc",
      "native/addon/api_sys.cc",
      "native/addon/api_introspection.cc",
      "native/addon/api_refs.cc"
    ],
    "include_dirs": ["native/core"],
    "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
    "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-O2"],
    "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-O2", "-fexceptions"],
    "xcode_settings": {
      "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-fvisibility-inlines-hidden"]
    },
    "conditions": [
      ["'<!(node -p \"process.env.RCL_SANITIZE || ''\")'=='1'", {
        "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-DRCL_EXPENSIVE_CHECKS"],
        "ldflags": ["-fsanitize=address,undefined"]
      }]
    ]
  },
  "targets": [
    { "target_name": "refcount_release", "defines": ["RCL_BUILD_RELEASE"] },
    { "target_name": "refcount_debug", "defines": ["RCL_BUILD_DEBUG"] },
    { "target_name": "refcount_nodealloc", "defines": ["RCL_BUILD_NODEALLOC"] }
  ]
}
