"""``keep_freed_memory``: a large block, once freed, serves the next large allocation."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from ktiw.core.host_memory import keep_freed_memory


def _faults_of(n: int) -> int:
    """Minor page faults of allocating and filling a float32 tensor of ``n`` elements."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(n)
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_large_block_is_reused_without_page_faults() -> None:
    assert keep_freed_memory()
    _faults_of(2**25)  # 128 MiB: the heap grows to hold it, then keeps it when it is freed
    pages = 2**24 * 4 // 4096  # a 64 MiB tensor (beyond glibc's largest mmap threshold)
    # without the setting this allocation is a fresh mmap: one fault per page
    assert _faults_of(2**24) < pages // 10
