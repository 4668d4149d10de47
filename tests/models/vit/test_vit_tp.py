"""ViT's tensor-parallel layout for real: two CPU processes over gloo (loopback only) run each
implementation sharded by the loader's own plan, and their logits match one process. Hugging
Face's q/k/v and MLP are split; torchvision's fused attention stays whole and its MLP is split."""

from __future__ import annotations

import textwrap

from helpers import run_ranks

WORKER = textwrap.dedent(
    """
    import json, os, warnings
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from tt_forge_models.vit import ModelLoader
    from tt_forge_models.parallel import init_mesh, parallelize
    from tt_forge_models.testing import pcc

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2, timeout=timedelta(seconds=60))
    results = {}
    for variant, options in (("vit_b_16_hf", {"num_layers": 2}), ("vit_b_16", {})):
        loader = ModelLoader(variant)
        shape, names = loader.get_mesh_config(2)
        mesh = init_mesh(shape, names)
        model = loader.load_model(weights="random", seed=0, **options)  # same seed: same full weights
        inputs = loader.load_inputs(batch_size=2)
        with torch.no_grad():
            golden = loader.unpack_forward_output(model(inputs))
        plan = loader.load_shard_plan(model)
        parallelize(model, plan, mesh)
        with torch.no_grad():
            sharded = loader.unpack_forward_output(model(inputs))
        params = model.named_parameters()
        split = sorted(n for n, p in params if hasattr(p, "to_local") and p.to_local().shape != p.shape)
        results[variant] = {"pcc": pcc(golden, sharded), "mesh": [list(shape), list(names)], "split": split}
    print("RESULT " + json.dumps(results))
    dist.destroy_process_group()
    """
)


def test_two_process_tensor_parallel_matches_one_process():
    for report in run_ranks(WORKER):
        hf, tv = report["vit_b_16_hf"], report["vit_b_16"]
        for r in (hf, tv):
            assert r["pcc"] >= 0.999, r
            assert r["mesh"] == [[1, 2], ["batch", "model"]]
        assert {"vit.layers.1.attention.q_proj.weight", "vit.layers.1.attention.o_proj.weight"} <= set(hf["split"])
        assert {"vit.layers.1.mlp.fc1.weight", "vit.layers.1.mlp.fc2.weight"} <= set(hf["split"])
        assert "encoder.layers.encoder_layer_11.mlp.0.weight" in tv["split"]
        assert not any("self_attention" in name for name in tv["split"]), "the fused attention must stay whole"
