"""Filter banks in pure numpy: Q-shift taps, DT-CWPT kernels, binomials.

This sub-package imports nothing but numpy; layers cast its float64 arrays
to the compute dtype when they run.
"""

from keras_cmod.wavelets.blur import binomial_filter, binomial_filter_2d
from keras_cmod.wavelets.coeffs import biort, qshift, qshift_filters
from keras_cmod.wavelets.dtcwpt import (
    ALEXNET_PACKETS,
    PACKET_SELECTIONS,
    RESNET_PACKETS,
    PacketSelection,
    conjugation_mask,
    decimation_schedule,
    dtcwpt_frequencies,
    dtcwpt_kernels,
    dtcwpt_padding,
    gabor_energy_ratio,
    kernel_size,
)

__all__ = [
    "ALEXNET_PACKETS",
    "PACKET_SELECTIONS",
    "RESNET_PACKETS",
    "PacketSelection",
    "binomial_filter",
    "binomial_filter_2d",
    "biort",
    "conjugation_mask",
    "decimation_schedule",
    "dtcwpt_frequencies",
    "dtcwpt_kernels",
    "dtcwpt_padding",
    "gabor_energy_ratio",
    "kernel_size",
    "qshift",
    "qshift_filters",
]
