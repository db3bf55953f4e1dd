"""Context beyond a model's limit is an error unless the caller says otherwise; a draft model
must be smaller than its target."""

from __future__ import annotations

import json

import attrs
import pytest

import ridgeline
from ridgeline.cli import main
from ridgeline.errors import RegistryError, ScenarioError
from ridgeline.hf_config import model_from_hf_config

CATALOG = ridgeline.default_catalog()


def _limit(model_id: str) -> int:
    return CATALOG.model(model_id).max_seq_len


def test_cli_refuses_a_prompt_beyond_the_models_context(capsys):
    assert _limit("llama-3-70b") == 8192
    for prompt in ("100000", "1e9"):
        assert main(["infer", "llama-3-70b", "--on", "h100", "--tp", "8",
                     "--prompt", prompt]) == 1
        err = capsys.readouterr().err
        assert "8,192" in err and "llama-3-70b" in err and "--context-limit" in err
        assert "Traceback" not in err


def test_cli_context_limit_lets_the_user_go_beyond(capsys):
    assert main(["infer", "llama-3-70b", "--on", "h100", "--tp", "8", "--prompt", "100000",
                 "--context-limit", "128k", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["ttft_s"] > 0
    assert main(["train", "gpt2", "--on", "h100", "--seq", "2048", "--global-batch", "8",
                 "--context-limit", "2048", "--json"]) == 0


def test_prompt_plus_output_up_to_the_limit():
    limit = _limit("llama-3-70b")
    ok = ridgeline.infer("llama-3-70b", on="h100", tp=8, prompt=limit - 256, output=256)
    assert ok.scenario.workload.prompt_tokens + ok.scenario.workload.output_tokens == limit
    with pytest.raises(ScenarioError, match="prompt \\+ output"):
        ridgeline.infer("llama-3-70b", on="h100", tp=8, prompt=limit - 255, output=256)
    with pytest.raises(ScenarioError, match="prompt \\+ output"):
        ridgeline.infer("llama-3-70b", on="h100", tp=8, prompt=16, output=limit)
    # also where a batch that fits is searched for, and for the scenario alone
    with pytest.raises(ScenarioError, match="8,192"):
        ridgeline.infer("llama-3-70b", on="h100", tp=8, batch="max", prompt=limit)
    with pytest.raises(ScenarioError, match="8,192"):
        ridgeline.scenario("infer", "llama-3-70b", on="h100", tp=8, prompt=limit)


def test_training_sequence_up_to_the_limit():
    limit = _limit("gpt2")
    ridgeline.train("gpt2", on="h100", seq=limit, global_batch=8)
    with pytest.raises(ScenarioError, match="seq"):
        ridgeline.train("gpt2", on="h100", seq=limit + 1, global_batch=8)
    e = ridgeline.train("gpt2", on="h100", seq=limit + 1, global_batch=8,
                        context_limit=limit + 1)
    assert e.scenario.workload.seq_len == limit + 1


def test_the_context_limit_given_is_the_limit_in_force():
    e = ridgeline.infer("gpt2", on="h100", prompt=4000, output=96, context_limit=4096)
    assert e["ttft_s"] > 0
    with pytest.raises(ScenarioError, match="context_limit = 4,095"):
        ridgeline.infer("gpt2", on="h100", prompt=4000, output=96, context_limit=4095)
    # a smaller limit than the model's binds too
    with pytest.raises(ScenarioError, match="context_limit"):
        ridgeline.infer("gpt2", on="h100", prompt=200, output=100, context_limit=256)
    for junk in (0, -1, 1.5, "abc", [1], float("nan"), "1e999"):
        with pytest.raises(ScenarioError, match="context_limit"):
            ridgeline.infer("gpt2", on="h100", context_limit=junk)


def test_the_draft_reads_the_same_context():
    # same tokenizer, but the draft's context is 8,192 positions and the target's 131,072
    assert _limit("llama-3-8b") < 10_000 < _limit("llama-3.1-70b")
    ridgeline.infer("llama-3.1-70b", on="h100", tp=8, prompt=4000, draft="llama-3.2-1b")
    with pytest.raises(ScenarioError, match="draft llama-3-8b"):
        ridgeline.infer("llama-3.1-70b", on="h100", tp=8, prompt=10_000, draft="llama-3-8b")


def test_distill_checks_every_model_against_the_context():
    with pytest.raises(ScenarioError, match="1,024-token context of distilgpt2"):
        ridgeline.distill("distilgpt2", teacher="gpt2", tokens="1B", on="h100", seq=2048)
    d = ridgeline.distill("distilgpt2", teacher="gpt2", tokens="1B", on="h100", seq=2048,
                          context_limit=2048)
    assert d.student_training.scenario.workload.seq_len == 2048


# ---------------------------------------------------------------- rope scaling in a config

LLAMA = {"model_type": "llama", "hidden_size": 512, "num_attention_heads": 8,
         "num_hidden_layers": 2, "intermediate_size": 1024, "vocab_size": 1000}


@pytest.mark.parametrize("extra, limit", [
    ({"max_position_embeddings": 4096}, 4096),
    ({"max_position_embeddings": 4096, "rope_scaling": None}, 4096),
    # linear and dynamic NTK: the factor stretches max_position_embeddings
    ({"max_position_embeddings": 4096, "rope_scaling": {"type": "linear", "factor": 2.0}},
     8192),
    ({"max_position_embeddings": 4096, "rope_scaling": {"type": "dynamic", "factor": 4}},
     16384),
    # YaRN (Qwen2.5): the factor times the original length
    ({"max_position_embeddings": 32768, "rope_scaling": {
        "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}, 131072),
    # Llama 3.1: max_position_embeddings is the extended length already
    ({"max_position_embeddings": 131072, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}},
     131072),
    ({"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "llama3",
                                                          "factor": 8.0}}, 131072),
    # a factor below 1 shortens nothing the config states
    ({"max_position_embeddings": 4096, "rope_scaling": {"type": "linear", "factor": 0.5}},
     4096),
])
def test_rope_scaling_extends_the_context(extra, limit):
    assert model_from_hf_config({**LLAMA, **extra}).max_seq_len == limit


@pytest.mark.parametrize("scaling, field", [
    (5, "rope_scaling"), ("linear", "rope_scaling"),
    ({"type": "linear", "factor": "x"}, "rope_scaling.factor"),
    ({"type": "linear", "factor": -2.0}, "rope_scaling.factor"),
    ({"type": "linear", "factor": True}, "rope_scaling.factor"),
    ({"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 0},
     "rope_scaling.original_max_position_embeddings"),
    ({"type": "linear", "factor": 1e300}, "rope_scaling.factor"),
])
def test_a_bad_rope_scaling_is_a_registry_error(scaling, field):
    with pytest.raises(RegistryError, match=field.replace(".", "\\.")):
        model_from_hf_config({**LLAMA, "rope_scaling": scaling})


def test_a_scaled_config_runs_beyond_its_trained_positions(tmp_path):
    folder = tmp_path / "scaled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        **LLAMA, "max_position_embeddings": 4096,
        "rope_scaling": {"type": "linear", "factor": 4.0}}))
    e = ridgeline.infer(str(folder / "config.json"), on="h100", prompt=16000)
    assert e["ttft_s"] > 0
    with pytest.raises(ScenarioError, match="16,384"):
        ridgeline.infer(str(folder / "config.json"), on="h100", prompt=16384)


# ---------------------------------------------------------------- the draft's size


def test_a_draft_larger_than_its_target_is_an_error(capsys):
    with pytest.raises(ScenarioError, match="smaller than the target"):
        ridgeline.infer("llama-3-70b", on="h100", tp=8, draft="llama-3.1-405b")
    with pytest.raises(ScenarioError, match="smaller than the target"):
        ridgeline.infer("llama-3-8b", on="h100", draft="llama-3-8b")
    assert main(["infer", "llama-3-70b", "--on", "h100", "--tp", "8",
                 "--draft", "llama-3.1-405b"]) == 1
    assert "draft llama-3.1-405b" in capsys.readouterr().err
    e = ridgeline.infer("llama-3-70b", on="h100", tp=8, draft="llama-3.2-1b")
    assert e["speculative_speedup"] > 0


def test_a_model_that_states_no_limit_has_none():
    from ridgeline import Model
    m = Model(id="no-limit", vocab_size=32000, hidden_size=1024, num_layers=4, num_heads=8,
              intermediate_size=4096)
    assert m.max_seq_len is None
    e = ridgeline.train(m, on="h100", seq=100_000, global_batch=8)
    assert e.scenario.workload.seq_len == 100_000
    assert ridgeline.infer(m, on="h100", prompt=100_000)["ttft_s"] > 0
    limited = attrs.evolve(m, max_seq_len=4096)
    with pytest.raises(ScenarioError, match="4,096-token context of no-limit"):
        ridgeline.train(limited, on="h100", seq=4097, global_batch=8)
    # a learned position table has a size: the model must state it
    with pytest.raises(ValueError, match="max_seq_len"):
        Model(id="learned", vocab_size=100, hidden_size=64, num_layers=1, num_heads=1,
              intermediate_size=256, positions="learned")
