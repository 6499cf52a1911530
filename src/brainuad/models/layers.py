"""Building blocks of the 3D VAE: exact-shape strided (transposed) convolutions.

Shapes. A stride-2 convolution with odd kernel ``k`` and padding ``k // 2`` maps a size ``n`` to
``ceil(n / 2)``. The matching transposed convolution maps ``m`` back to ``2m - 1 + p`` where
``p`` is the *output padding*; :class:`StridedConvTranspose3d` computes ``p`` (0 or 1) per axis
from the target shape recorded on the way down, so any input shape (64x77x66, odd sizes) is
reproduced exactly with no implicit cropping or padding.

Speed. Convolutions with a single input channel (the first encoder layer) or a single output
channel (the linear output layer) are badly served by the CPU convolution kernels. For those we
use an equivalent *phase* (space-to-depth) form: a stride-2 convolution with kernel ``k`` equals a
stride-1 convolution with kernel ``ceil(k/2)`` over the 8 polyphase components of the input, and
a stride-2 transposed convolution equals a stride-1 convolution producing 8 phase channels that
are then interleaved (depth-to-space). The weights keep the usual PyTorch layout, so checkpoints
do not depend on the implementation; both forms agree to rounding error (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: channel count at or below which the phase implementation is used by ``impl="auto"``
PHASE_MAX_CHANNELS = 4


def _phase_kernel(w: torch.Tensor, k: int) -> torch.Tensor:
    """Split a (A, B, k, k, k) kernel into phases: (A, B, 2, 2, 2, j, j, j), j = ceil(k/2).

    Tap ``t`` of an axis goes to phase ``t % 2`` and position ``t // 2`` (taps past ``k`` are 0).
    """
    j = (k + 1) // 2
    e = 2 * j - k
    wp = F.pad(w, (0, e, 0, e, 0, e))
    a, b = w.shape[:2]
    return wp.reshape(a, b, j, 2, j, 2, j, 2).permute(0, 1, 3, 5, 7, 2, 4, 6)


def conv3d_stride2_phase(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``F.conv3d(x, w, b, stride=2, padding=k//2)`` computed in space-to-depth form."""
    bsz, ci = x.shape[:2]
    k = w.shape[-1]
    p, j = k // 2, (k + 1) // 2
    out = [(n + 2 * p - k) // 2 + 1 for n in x.shape[2:]]
    # explicit padding: p zeros in front, enough at the back for 2 * (out + j - 1) samples
    right = [2 * (o + j - 1) - n - p for o, n in zip(out, x.shape[2:], strict=True)]
    xp = F.pad(x, (p, right[2], p, right[1], p, right[0]))
    half = [o + j - 1 for o in out]
    xs = xp.reshape(bsz, ci, half[0], 2, half[1], 2, half[2], 2)
    xs = xs.permute(0, 1, 3, 5, 7, 2, 4, 6).reshape(bsz, ci * 8, *half)
    xs = xs.contiguous(memory_format=torch.channels_last_3d)
    wk = _phase_kernel(w, k).reshape(w.shape[0], ci * 8, j, j, j)
    return F.conv3d(xs, wk, b)


def conv_transpose3d_stride2_phase(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, out_shape: tuple[int, ...]
) -> torch.Tensor:
    """``F.conv_transpose3d(x, w, b, stride=2, padding=k//2, output_padding=...)`` computed as
    a stride-1 convolution to 8 phase channels followed by depth-to-space and an explicit crop."""
    bsz, ci = x.shape[:2]
    co, k = w.shape[1], w.shape[-1]
    p, j = k // 2, (k + 1) // 2
    # output sample i collects input n through tap t = i + p - 2n; phase (i + p) % 2
    m = [(p + o + 1) // 2 for o in out_shape]
    n = x.shape[2:]
    xp = F.pad(x, (j - 1, m[2] - n[2], j - 1, m[1] - n[1], j - 1, m[0] - n[0]))
    wk = _phase_kernel(w, k).flip(5, 6, 7)  # (ci, co, 2, 2, 2, j, j, j), correlation order
    wk = wk.permute(1, 2, 3, 4, 0, 5, 6, 7).reshape(co * 8, ci, j, j, j)
    z = F.conv3d(xp, wk)
    z = z.reshape(bsz, co, 2, 2, 2, *m).permute(0, 1, 5, 2, 6, 3, 7, 4)
    z = z.reshape(bsz, co, 2 * m[0], 2 * m[1], 2 * m[2])
    y = z[:, :, p : p + out_shape[0], p : p + out_shape[1], p : p + out_shape[2]]
    if b is not None:
        y = y + b.view(1, -1, 1, 1, 1)
    return y.contiguous(memory_format=torch.channels_last_3d)


def _choose_phase(impl: str, channels: int) -> bool:
    if impl not in ("auto", "native", "phase"):
        raise ValueError(f"impl must be 'auto', 'native' or 'phase', not {impl!r}")
    return impl == "phase" or (impl == "auto" and channels <= PHASE_MAX_CHANNELS)


class StridedConv3d(nn.Conv3d):
    """Stride-2 ``nn.Conv3d`` with padding ``k // 2`` (size n -> ceil(n/2)).

    ``impl``: ``"native"`` (PyTorch kernel), ``"phase"`` (space-to-depth form) or ``"auto"``
    (phase form when the layer has at most :data:`PHASE_MAX_CHANNELS` input channels).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, impl: str = "auto"):
        super().__init__(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2)
        self.use_phase = _choose_phase(impl, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_phase:
            return conv3d_stride2_phase(x, self.weight, self.bias)
        return super().forward(x)


class StridedConvTranspose3d(nn.ConvTranspose3d):
    """Stride-2 ``nn.ConvTranspose3d`` that produces exactly ``out_shape``.

    The output padding (0 or 1 per axis) is derived from ``out_shape``; ``impl`` as in
    :class:`StridedConv3d`, the phase form being chosen for at most
    :data:`PHASE_MAX_CHANNELS` output channels.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        out_shape: tuple[int, int, int],
        impl: str = "auto",
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2)
        self.out_shape = tuple(int(s) for s in out_shape)
        self.use_phase = _choose_phase(impl, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out_pad = [o - (2 * n - 1) for o, n in zip(self.out_shape, x.shape[2:], strict=True)]
        if any(q not in (0, 1) for q in out_pad):
            raise ValueError(f"cannot map spatial shape {tuple(x.shape[2:])} to {self.out_shape}")
        if self.use_phase:
            return conv_transpose3d_stride2_phase(x, self.weight, self.bias, self.out_shape)
        k = self.kernel_size[0]
        return F.conv_transpose3d(
            x, self.weight, self.bias, stride=2, padding=k // 2, output_padding=tuple(out_pad)
        )


class ResizeConv3d(nn.Module):
    """Nearest-neighbour resize to exactly ``out_shape``, then a stride-1 'same' convolution."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, out_shape: tuple[int, int, int]
    ):
        super().__init__()
        self.out_shape = tuple(int(s) for s in out_shape)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=self.out_shape, mode="nearest"))


class NormAct(nn.Sequential):
    """BatchNorm3d followed by an in-place LeakyReLU."""

    def __init__(self, channels: int, negative_slope: float):
        super().__init__(nn.BatchNorm3d(channels), nn.LeakyReLU(negative_slope, inplace=True))


def init_weights(module: nn.Module, generator: torch.Generator, negative_slope: float) -> None:
    """He-uniform initialisation drawn from ``generator`` (no global RNG state is touched).

    Convolution and linear weights get U(-b, b) with b = gain * sqrt(3 / fan_in), where fan_in
    counts the inputs that reach one output (for a stride-2 transposed convolution about
    ``in_channels * k^3 / 8``); biases are zero, BatchNorm is the identity.
    """
    gain = (2.0 / (1.0 + negative_slope**2)) ** 0.5
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose3d):
            fan_in = m.in_channels * m.weight[0, 0].numel() / 8.0
        elif isinstance(m, (nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            continue
        else:
            continue
        bound = gain * (3.0 / max(fan_in, 1.0)) ** 0.5
        with torch.no_grad():
            fresh = torch.empty(m.weight.shape, dtype=m.weight.dtype)
            fresh.uniform_(-bound, bound, generator=generator)
            m.weight.copy_(fresh)
            if m.bias is not None:
                m.bias.zero_()
