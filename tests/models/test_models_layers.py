"""The exact-shape strided convolutions and their phase (space-to-depth) implementation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from brainuad.models.layers import (
    StridedConv3d,
    StridedConvTranspose3d,
    conv3d_stride2_phase,
    conv_transpose3d_stride2_phase,
)

SHAPES = [(9, 8, 7), (17, 23, 19), (6, 6, 6), (1, 2, 3)]


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("shape", SHAPES)
def test_phase_conv_matches_native_values_and_gradients(k, shape):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, *shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, k, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    ref = F.conv3d(x, w, b, stride=2, padding=k // 2)
    out = conv3d_stride2_phase(x, w, b)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    grads_ref = torch.autograd.grad((ref * up).sum(), (x, w, b))
    grads = torch.autograd.grad((out * up).sum(), (x, w, b))
    for a, r in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("shape", SHAPES)
def test_phase_transposed_conv_matches_native(k, shape):
    g = torch.Generator().manual_seed(2)
    small = tuple((s + 1) // 2 for s in shape)
    x = torch.randn(2, 4, *small, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, k, k, k, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    pad = tuple(o - (2 * n - 1) for o, n in zip(shape, small, strict=True))
    ref = F.conv_transpose3d(x, w, b, stride=2, padding=k // 2, output_padding=pad)
    out = conv_transpose3d_stride2_phase(x, w, b, shape)
    assert tuple(out.shape[2:]) == shape
    torch.testing.assert_close(out, ref)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    grads_ref = torch.autograd.grad((ref * up).sum(), (x, w, b))
    grads = torch.autograd.grad((out * up).sum(), (x, w, b))
    for a, r in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("impl", ["native", "phase"])
def test_strided_layers_restore_odd_shapes(impl):
    shape = (17, 23, 19)
    down = StridedConv3d(1, 3, 5, impl=impl)
    up = StridedConvTranspose3d(3, 1, 5, shape, impl=impl)
    x = torch.rand(2, 1, *shape)
    h = down(x)
    assert tuple(h.shape) == (2, 3, 9, 12, 10)
    assert tuple(up(h).shape) == (2, 1, *shape)
    assert down.use_phase == (impl == "phase")


def test_auto_impl_picks_phase_only_for_thin_layers():
    assert StridedConv3d(1, 8, 5).use_phase
    assert not StridedConv3d(16, 32, 5).use_phase
    assert StridedConvTranspose3d(8, 1, 5, (8, 8, 8)).use_phase
    assert not StridedConvTranspose3d(32, 16, 5, (8, 8, 8)).use_phase


def test_transposed_layer_rejects_unreachable_shape():
    up = StridedConvTranspose3d(2, 1, 3, (10, 10, 10))
    with pytest.raises(ValueError, match="cannot map spatial shape"):
        up(torch.rand(1, 2, 3, 5, 5))
