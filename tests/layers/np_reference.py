"""Numpy references for the layer tests (dense, direct, slow but clear)."""

import numpy as np


def correlate2d(x, kernel, stride=1):
    """Valid cross-correlation of (H, W) with (kh, kw) at `stride`."""
    kh, kw = kernel.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))
    win = win[::stride, ::stride]
    return np.einsum("ijab,ab->ij", win, kernel)


def conv2d_nhwc(x, kernel, stride, pad, bias=None):
    """x (B,H,W,C), kernel (kh,kw,C,O), symmetric zero padding."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # (B, h, w, C, kh, kw)
    out = np.einsum("bijcuv,uvco->bijo", win, kernel)
    return out if bias is None else out + bias


def max_pool(x, size, stride, pad=0):
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                   constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (size, size),
                                                   axis=(1, 2))
    return win[:, ::stride, ::stride].max(axis=(-1, -2))


def center_crop(x, h, w):
    """torchvision offsets: round((H - h) / 2) with ties to even."""
    top = int(round((x.shape[1] - h) / 2))
    left = int(round((x.shape[2] - w) / 2))
    return x[:, top:top + h, left:left + w]


def dtcwpt_dense(lum, kernels, stride, pad):
    """lum (B,H,W); kernels (n,S,S) complex -> (B,h,w,n) complex."""
    out = []
    for img in lum:
        xp = np.pad(img, pad)
        maps = [correlate2d(xp, k.real, stride)
                + 1j * correlate2d(xp, k.imag, stride) for k in kernels]
        out.append(np.stack(maps, -1))
    return np.stack(out)
