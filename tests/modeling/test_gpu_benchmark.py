"""The GPU benchmark's command works before a GPU is lent: its smoke path runs the same code on the CPU."""

import pytest

from benchmarks import gpu


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_cpu_smoke_path():
    result = gpu.figures(smoke=True)
    training, inference = result["stage_1_training"], result["stage_2_inference"]
    assert result["device"] == "cpu (smoke path)" and training["preset"] == "tiny"
    assert training["ours_images_per_s"] > 0 and training["diffusers_images_per_s"] > 0
    assert training["ratio"] == pytest.approx(
        training["ours_images_per_s"] / training["diffusers_images_per_s"], rel=0.01
    )
    assert inference["fp32"]["latency_s_median"] > 0 and inference["fp32"]["peak_memory_kind"] == "process_rss"
