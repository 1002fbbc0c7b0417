"""Scores a fixed set of requests with a seeded tiny model into a cache; used by the crash test.

python resume_worker.py CACHE_PATH SLEEP_PER_BATCH OUT_CSV -> prints the number of model passes.
"""
import sys
import time

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from rlshift import models
from rlshift.cache import ScoreCache
from rlshift.engine import Scorer
from rlshift.requests import Request

cache_path, pause, out_csv = sys.argv[1], float(sys.argv[2]), sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(models.embedded_path("smollm2-135m-instruct"))
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id)
loaded = models.LoadedModel(LlamaForCausalLM(config).eval(), tokenizer,
                            {"spec": "test:tiny", "revision": "seed0", "quantization": "fp32", "dtype": "float32"})
scorer = Scorer(loaded, cache=ScoreCache(cache_path), batch_size=2, progress=False)
calls = []
forward = loaded.model.forward


def slow_forward(*args, **kwargs):
    calls.append(1)
    time.sleep(pause)
    return forward(*args, **kwargs)


loaded.model.forward = slow_forward  # every model pass, whichever scoring path runs it
requests = [Request(f"r{i}", f"Item {i}: the answer to question {i} is", (" yes", " no", " maybe not"))
            for i in range(40)]
frame = scorer.continuation_logprobs(requests, chat=False, template="t", data_version="d")
frame[["item_id", "option_index", "logprob"]].to_csv(out_csv, index=False)
print(len(calls), flush=True)
