{
  "target_defaults": {
    "cflags!": ["-fno-exceptions"],
    "cflags_c": ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O2"],
    "conditions": [["OS!='linux'", { "type": "none" }]]
  },
  "targets": [
    {
      "target_name": "hatchery_addon",
      "cflags_c": ["-fvisibility=hidden"],
      "sources": [
        "native/addon.c",
        "native/addon_napi.c",
        "native/addon_spawn.c",
        "native/addon_fds.c",
        "native/addon_watch.c",
        "native/addon_system.c",
        "native/addon_stat.c",
        "native/addon_path_watch.c"
      ]
    },
    {
      "target_name": "hatchery-zygote",
      "type": "executable",
      "sources": [
        "native/zygote.c",
        "native/zygote_io.c",
        "native/zygote_spawn.c",
        "native/child_table.c",
        "native/wire.c",
        "native/child.c",
        "native/limits.c",
        "native/util.c",
        "native/ns.c",
        "native/ns_stock.c",
        "native/ns_twin.c",
        "native/landlock.c",
        "native/seccomp.c",
        "native/probe.c",
        "native/privilege.c",
        "native/remove.c"
      ]
    },
    {
      "target_name": "protocol-golden",
      "type": "executable",
      "sources": ["native/test/protocol_golden.c", "native/wire.c", "native/util.c"]
    },
    {
      "target_name": "posix-spawn-floor",
      "type": "executable",
      "sources": ["bench/floor.c"]
    },
    {
      "target_name": "hatchery-probe",
      "type": "executable",
      "sources": ["test/probes/probe.c"]
    }
  ]
}
