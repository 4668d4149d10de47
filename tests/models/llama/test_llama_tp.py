"""Tensor parallelism for real: two CPU processes over gloo (loopback only) run a reduced Llama
sharded by the loader's own shard spec, and their logits match one process."""

from __future__ import annotations

import textwrap

from helpers import run_ranks

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


def test_two_process_tensor_parallel_matches_one_process():
    for report in run_ranks(WORKER):
        assert report["mesh"] == [[1, 2], ["batch", "model"]]
        for tied, r in report["results"].items():
            assert r["pcc"] >= 0.999, (tied, r)
            assert r["shape"] == [2, 32, 128256]
            assert r["q_local"] == [32, 64] and r["o_local"] == [64, 32], "q/o must really be split"
            assert r["lm_head_sharded"] == (tied == "False"), "lm_head splits only when untied"
