"""Keep a process's freed memory for reuse instead of handing it back to the OS (glibc malloc): the RL learner and
actors, and ``pstar bench act`` / ``bench backbone --keep-freed-memory``.

A CPU update allocates and frees the same large tensors every time (latent arrays of 16 MB, entity features of
60 MB for a 2,048-sample batch). glibc serves blocks that large with fresh ``mmap`` pages and unmaps them on free,
so every update page-faults them all in again (up to ~100,000 faults and 0.2 s of system time per update, and the
threads of a multi-threaded learner wait on each other's faults). With ``mmap`` off for allocations and no trimming
of the heap, and one malloc arena for threads started afterwards (others' arenas live in mmap-ed heaps, unmapped when
they empty), freed blocks are reused as they are; the process keeps its peak footprint, which every update reaches.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc malloc.h)
M_MMAP_MAX = -4
M_ARENA_MAX = -8
NO_TRIM = 2**31 - 1  # bytes of free heap top kept before any is returned (mallopt takes an int)


def keep_freed_memory() -> bool:
    """Set glibc malloc to reuse freed memory (process-wide); False where malloc is not glibc's (nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) for option, value in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, NO_TRIM),
                                                            (M_ARENA_MAX, 1)))  # fmt: skip
