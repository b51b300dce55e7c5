"""Bit-identical results whatever the number of torch threads.

Most of torch's CPU kernels give the same bits on any number of threads; its bilinear interpolation does not: it
rounds its last bit differently on one thread and on several (the split of a row between threads moves where the
vectorised and the scalar code paths meet). Code whose output must not depend on the thread count runs such an
operation inside :func:`one_torch_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_torch_thread"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the count.

    torch's CPU interpolation (a resize, and the toy renderer's background) rounds its last bit differently on one
    thread and on several, and a pixel rounded to uint8 can then move by 1/255. Decoding and resizing every image
    on one thread makes a run's inputs, and so its records and maps, the same in the local engine (any number of
    threads, any number of DataLoader workers) and in Ray's one-thread actors. Setting the count costs about a
    microsecond.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
