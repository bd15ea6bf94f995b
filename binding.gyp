{
  "targets": [
    {
      "target_name": "v2v_nbd",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/nbd-handle.cc",
        "native/nbd-handle-connect.cc",
        "native/nbd-handle-io.cc",
        "native/nbd-handle-poll.cc",
        "native/copier.cc",
        "native/copier-js.cc",
        "native/copier-open.cc",
        "native/copier-plan.cc",
        "native/copy-io.cc",
        "native/copy-thread.cc",
        "native/copy-requests.cc",
        "native/copy-extents.cc",
        "native/size-tuner.cc",
        "native/size-tuner-sim.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libnbd)"
      ],
      "libraries": ["<!@(pkg-config --libs libnbd)", "-lpthread"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags": ["-fvisibility=hidden", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-fvisibility=hidden", "-O2", "-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
