"""Keep native libraries' big, short-lived buffers out of glibc's heap.

ONNX Runtime, tokenizers and numpy allocate and free multi-megabyte buffers for every
embedding batch. glibc raises its mmap threshold after such frees, so later big buffers
land in the heap, which fragments and never shrinks: an ingest of 1,200 coding exchanges
peaked at 794 MB RSS (375 MB of it heap). With the threshold pinned at 1 MB they are
mmapped and returned on free: 584 MB, same speed within noise
(measured with benchmarks/bench_core.py-sized corpora on 2 cores).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3  # from <malloc.h>
THRESHOLD_BYTES = 1024 * 1024
_done = False


def pin_mmap_threshold() -> bool:
    """Process-wide and idempotent; does nothing off glibc. Returns whether it applied."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return _done
