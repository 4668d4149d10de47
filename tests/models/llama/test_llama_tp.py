"""Tensor parallelism for real: two CPU processes over gloo (loopback only) run a reduced Llama
sharded by the loader's own shard spec, and their logits match one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

WORKER = textwrap.dedent(
    """
    import json, os, sys, warnings
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from tt_forge_models.llama import ModelLoader
    from tt_forge_models.parallel import init_mesh, parallelize
    from tt_forge_models.testing import pcc

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=60))
    loader = ModelLoader()
    # Heads and KV heads divide by 2; width cut so each process holds a few MB.
    narrow = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    shape, names = loader.get_mesh_config(2)
    mesh = init_mesh(shape, names)
    inputs = loader.load_inputs(batch_size=2, seq_len=32)
    results = {}
    for tied in (True, False):
        # The same seed on both ranks: every process starts from the same full weights.
        model = loader.load_model(weights="random", seed=0, num_layers=2, tie_word_embeddings=tied, **narrow)
        with torch.no_grad():
            golden = model(**inputs).logits
        parallelize(model, loader.load_shard_plan(model), mesh)
        with torch.no_grad():
            sharded = model(**inputs).logits
        attn = model.model.layers[1].self_attn
        results[str(tied)] = {
            "pcc": pcc(golden, sharded),
            "max_abs": float((golden - sharded).abs().max()),
            "q_local": list(attn.q_proj.weight.to_local().shape),
            "o_local": list(attn.o_proj.weight.to_local().shape),
            "lm_head_sharded": hasattr(model.lm_head.weight, "to_local"),
            "shape": list(sharded.shape),
        }
    print("RESULT " + json.dumps({"rank": rank, "mesh": [list(shape), list(names)], "results": results}))
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_tensor_parallel_matches_one_process():
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env={**env, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, f"rank exited {proc.returncode}\n{out}\n{err[-4000:]}"
            outputs.append(out)
    finally:
        for proc in procs:  # never leave a rank waiting on a dead peer
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for out in outputs:
        line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
        report = json.loads(line.removeprefix("RESULT "))
        assert report["mesh"] == [[1, 2], ["batch", "model"]]
        for tied, r in report["results"].items():
            assert r["pcc"] >= 0.999, (tied, r)
            assert r["shape"] == [2, 32, 128256]
            assert r["q_local"] == [32, 64] and r["o_local"] == [64, 32], "q/o must really be split"
            assert r["lm_head_sharded"] == (tied == "False"), "lm_head splits only when untied"
