"""Training precision: ``fp32`` (the default) or ``bf16`` mixed precision.

``bf16`` is mixed precision in the sense of :class:`torch.autocast`: the training forward pass
runs under ``torch.autocast(device_type, dtype=torch.bfloat16)``, so matrix products (``mm``,
``bmm``, ``baddbmm``, ``matmul``, ``linear``, ``einsum``; attention scores and the attention
read-out included) take bfloat16 inputs, while

* parameters, their gradients and the optimiser state stay float32 (autocast casts copies);
* the models' softmaxes, log-softmaxes and losses upcast to float32 first
  (:func:`full_precision`; CPU autocast would otherwise keep them in bfloat16);
* the stacked LSTM kernel (:class:`ktiw.empirics.batched.LSTMRecurrence`, which writes into its
  own buffers and so is not seen by autocast) does its recurrent products in bfloat16 and its
  cell state and gate non-linearities in float32;
* evaluation and every probe run outside autocast, in float32, on the float32 parameters: a
  bf16 run is measured with the same instrument as an fp32 run.

The same context covers any model the trainer trains (stacked models, and plain modules run
through ``vmap``), because it is one :func:`autocast` around the training forward pass.

Hardware.  bf16 is only offered where it is fast: on CUDA when the GPU has native bfloat16
(``torch.cuda.is_bf16_supported(including_emulation=False)``), on CPU when the processor has
AMX-BF16 or AVX-512 BF16 (x86 flags ``amx_bf16``/``avx512_bf16``) or the Arm ``bf16``
extension.  Elsewhere :func:`check_precision` refuses with one line (exit code 2) instead of
running slower than fp32; ``KTIW_SLOW_BF16=1`` in the environment overrides the refusal (for
tests of the numerics on any machine).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import Tensor

from ktiw.core import env
from ktiw.core.errors import KtiwError

PRECISIONS = ("fp32", "bf16")
"""The values of ``--precision``; ``fp32`` is the default (the science default)."""

LOW_PRECISION = {"bf16": torch.bfloat16}
"""The autocast dtype of each mixed precision."""

SLOW_OVERRIDE = "KTIW_SLOW_BF16"
"""Environment variable: ``1`` allows bf16 where the hardware has no fast bf16 path."""


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The fast-bf16 CPU features present (``amx_bf16``, ``avx512_bf16``, Arm ``bf16``), read
    from ``/proc/cpuinfo`` (empty when it cannot be read, e.g. outside Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [f for f in ("amx_bf16", "avx512_bf16", "bf16") if f in flags]


def fast_bf16(device: str) -> tuple[bool, str]:
    """Whether ``device`` has a fast bfloat16 path, and what was found (for the message)."""
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "no CUDA device"
        return ok, f"{name} ({'native' if ok else 'no native'} bfloat16)"
    flags = cpu_bf16_flags()
    if flags:
        return True, "CPU with " + ", ".join(flags)
    return False, "this CPU has neither AMX-BF16 nor AVX-512 BF16 (nor Arm BF16)"


def check_precision(precision: str, device: str) -> None:
    """Refuse (one line, :class:`KtiwError`) an unknown precision, or bf16 on hardware without a
    fast bf16 path (unless ``KTIW_SLOW_BF16=1``): bf16 there would run slower than fp32."""
    if precision not in PRECISIONS:
        raise KtiwError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32" or env.flag(SLOW_OVERRIDE):
        return
    ok, found = fast_bf16(device)
    if not ok:
        raise KtiwError(
            f"--precision {precision}: {found}, so bf16 would be slower than fp32 here; "
            f"use --precision fp32 (or set {SLOW_OVERRIDE}=1 to run it anyway)"
        )


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager[object]:
    """The context of a training forward pass: :class:`torch.autocast` for a mixed precision
    on ``device``'s type, nothing for ``fp32``.  Backward runs outside it (as autocast wants)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=LOW_PRECISION[precision])


def full_precision(x: Tensor) -> Tensor:
    """``x`` in float32 when it is a lower-precision float (an autocast result), else ``x``
    itself (no copy): the models call it before softmaxes, log-softmaxes and losses."""
    if x.dtype in (torch.bfloat16, torch.float16):
        return x.float()
    return x


def matmul_dtype(device_type: str, default: torch.dtype) -> torch.dtype:
    """The dtype of matrix-product inputs in the current context: autocast's lower precision
    when autocast is on for ``device_type``, else ``default`` (the parameters' dtype).  Used by
    kernels that call ``bmm(out=...)``, which autocast does not see."""
    if default == torch.float32 and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return default
