"""Which precision and layout training runs in: bf16 only on CPUs with native bf16, channels_last."""
from __future__ import annotations

import logging

import pytest
import torch

from steering.training import loop
from steering.training.loop import choose_precision, native_bf16_in_cpuinfo

CPU = torch.device("cpu")
EPYC_AVX2 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
             "flags\t\t: fpu sse sse2 avx f16c fma avx2 bmi2 sha_ni vaes vpclmulqdq\n")
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
COOPER_LAKE = "flags\t\t: avx2 avx512f avx512bw avx512_bf16\n"
SKYLAKE_AVX512 = "flags\t\t: avx2 avx512f avx512bw avx512dq avx512vl\n"  # bf16 emulated by oneDNN
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd aes sha2 sve bf16 i8mm\n"


@pytest.mark.parametrize("text, expected", [(EPYC_AVX2, False), (SKYLAKE_AVX512, False), (SAPPHIRE_RAPIDS, True),
                                            (COOPER_LAKE, True), (GRAVITON3, True), ("processor\t: 0\n", None)])
def test_native_bf16_is_read_from_the_cpu_flags(text, expected):
    assert native_bf16_in_cpuinfo(text) is expected


def test_amp_on_a_cpu_without_native_bf16_stays_fp32_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: False)
    loop._warn_emulated_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger="steering.training.loop"):
        first = choose_precision(CPU, amp=True, backbone_trains=True)
        second = choose_precision(CPU, amp=True, backbone_trains=True)
    assert first.autocast_dtype is None and second.autocast_dtype is None
    warnings = [r.getMessage() for r in caplog.records if "no native bf16" in r.getMessage()]
    assert len(warnings) == 1 and "stays fp32" in warnings[0]


def test_amp_on_a_cpu_with_native_bf16_autocasts_where_the_backbone_trains(monkeypatch):
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: True)
    assert choose_precision(CPU, amp=True, backbone_trains=True).autocast_dtype == torch.bfloat16
    assert choose_precision(CPU, amp=True, backbone_trains=False).autocast_dtype is None
    assert choose_precision(CPU, amp=False).autocast_dtype is None


def test_cpu_training_runs_channels_last_and_inputs_follow():
    precision = choose_precision(CPU, amp=False)
    assert precision.channels_last
    x = precision.to_device(torch.zeros(2, 3, 66, 200))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert precision.to_device(torch.zeros(2, 1280)).is_contiguous()  # cached features: left as they are
