"""relacy_model: a Relacy model test built from the production sources."""

# Planted bugs: 1-3 in core/internal/alloc_ops.h, 44, 51 and 52 in
# core/alloc.cc,
# 4-6, 18, 19, 23, 24, 31-33, 43 and 46 in variants/chain/chain_map.cc, 7, 8,
# 20 and 49 in variants/chain/chain_txn.cc, 9, 11, 17, 25, 34-38, 40 and 48 in
# variants/rwlock/rw_lock.cc and rw_lock.h (9 and 34 in the header; 34,
# 35 and 48, lost wakes, by the models with a blocking sync::ModelFutex; 34
# and 35 also by variants/rwlock:rw_wake_test_bug_N), 10, 15, 28-30, 39,
# 42, 45, 47, 50 and 53 in variants/rwlock/rw_map.cc,
# 12-14, 16, 21, 22, 26, 27, 41 and 54 in variants/robinhood/rh_map.cc.
PLANTED_BUGS = range(1, 55)

def relacy_model(name, srcs, plant_bug = None, args = [], size = "medium", extra_srcs = []):
    """One cc_test running Relacy over core/alloc.cc with the model policy.

    Args:
      name: target name.
      srcs: the model's own sources.
      plant_bug: None, or the MB_PLANT_BUG number compiled into the allocator
        (see core/internal/alloc_ops.h). Without it, `--define mb_plant_bug=N`
        plants bug N into the plain model too, to watch it fail.
      args: model arguments (e.g. --expect-failure=NAME).
      size: test size.
      extra_srcs: more production sources to compile with the model policy
        (e.g. a map variant's).
    """
    if plant_bug == None:
        bug = select(dict(
            [("//models:bug%d" % n, ["-DMB_PLANT_BUG=%d" % n]) for n in PLANTED_BUGS] +
            [("//conditions:default", [])],
        ))
    else:
        bug = ["-DMB_PLANT_BUG=%d" % plant_bug]
    native.cc_test(
        name = name,
        srcs = srcs + extra_srcs + ["model_main.h", "crash_play.h", "//core:alloc_srcs", "//core:alloc_hdrs"],
        # Relacy switches fibers with longjmp, which _FORTIFY_SOURCE rejects.
        copts = ["-DMB_SYNC_MODEL=1", "-fno-sized-deallocation", "-U_FORTIFY_SOURCE", "-O1"] + bug,
        args = args,
        size = size,
        tags = ["model"],
        deps = ["@system//:relacy"],
    )
