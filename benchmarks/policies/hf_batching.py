"""HFPolicy's batching gain: N concurrent requests batched vs the same requests one at a time.

For each model (random-init Qwen2-style chat models built locally with
`agentgym.policies.tiny.build_tiny_model`, no download), the same N chat prompts of mixed lengths
(16 to ~150 tokens) are answered with `--max-tokens` sampled tokens each (temperature 1, a seed per
request), three ways:

* one at a time: `await policy.generate([prompt], params)` for each request in turn (batch of 1);
* batched: N asyncio tasks call `policy.generate([prompt], params)` at once, as N concurrent
  episodes would; the batcher gathers them (window 5 ms, max_batch_size N) into one batch;
* transformers' `model.generate` on the same left-padded batch (sampling, same budget), for
  reference: what the library's own loop costs for the same work.

Rounds interleave the three ways, so load from other processes on a shared machine hits them
alike; the table shows medians over rounds (after one warm-up round), generated tokens/s, and the
ratios. Results also go to results/hf_batching-<timestamp>.json.

    python benchmarks/policies/hf_batching.py                  # the full run (a few minutes on 2 cores)
    python benchmarks/policies/hf_batching.py --quick          # a short smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from agentgym.policies import HFPolicy, SamplingParams
from agentgym.policies.tiny import build_tiny_model

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = {
    "tiny": {"hidden_size": 64, "layers": 2, "heads": 4},
    "small": {"hidden_size": 256, "layers": 4, "heads": 4},
}
WORDS = (
    "up down left right north south east west the a wall is in the way push every box onto a target "
    "you moved I am thinking of an integer between 1 and 100 guess it is too low too high"
).split()

console = Console(width=160)


def make_prompts(tokenizer: Any, count: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 100)))
        encoded = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
        )
        prompts.append(list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded))
    return prompts


async def one_at_a_time(policy: HFPolicy, prompts: list[list[int]], max_tokens: int, seed: int) -> int:
    tokens = 0
    for i, prompt in enumerate(prompts):
        (generation,) = await policy.generate([prompt], SamplingParams(max_tokens=max_tokens, seed=seed + i))
        tokens += len(generation.token_ids)
    return tokens


async def batched(policy: HFPolicy, prompts: list[list[int]], max_tokens: int, seed: int) -> int:
    results = await asyncio.gather(
        *(
            policy.generate([prompt], SamplingParams(max_tokens=max_tokens, seed=seed + i))
            for i, prompt in enumerate(prompts)
        )
    )
    return sum(len(generation.token_ids) for (generation,) in results)


def transformers_generate(policy: HFPolicy, prompts: list[list[int]], max_tokens: int, seed: int) -> int:
    width = max(len(p) for p in prompts)
    pad = policy.tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = policy.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_tokens,
            eos_token_id=list(policy.end_token_ids),
            pad_token_id=pad,
        )
    generated = output[:, width:]
    # tokens up to and including the first end token (what HFPolicy would return)
    is_end = torch.isin(generated, torch.tensor(policy.end_token_ids))
    ended = is_end.cumsum(1) - is_end.long() > 0
    return int((~ended).sum())


def run_model(name: str, config: dict[str, int], args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    path = build_tiny_model(directory / name, **config)
    policy = HFPolicy(path, batch_window_ms=5, max_batch_size=args.requests)
    parameters = sum(p.numel() for p in policy.model.parameters())
    prompts = make_prompts(policy.tokenizer, args.requests)
    ways = {
        "one at a time": lambda seed: asyncio.run(one_at_a_time(policy, prompts, args.max_tokens, seed)),
        "batched": lambda seed: asyncio.run(batched(policy, prompts, args.max_tokens, seed)),
        "transformers generate": lambda seed: transformers_generate(policy, prompts, args.max_tokens, seed),
    }
    samples: dict[str, list[tuple[int, float]]] = {way: [] for way in ways}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for way, run in ways.items():
            if way == "one at a time" and round_ > args.sequential_rounds:
                continue
            batches_before = policy.batches_run
            start = time.perf_counter()
            tokens = run(1000 * round_)
            elapsed = time.perf_counter() - start
            if round_ > 0:
                samples[way].append((tokens, elapsed))
            if way == "batched" and round_ == 1:
                batches = policy.batches_run - batches_before
        console.log(f"{name}: round {round_} done")
    summary = {}
    for way, runs in samples.items():
        rates = [tokens / elapsed for tokens, elapsed in runs]
        summary[way] = {
            "runs": [{"tokens": t, "seconds": s} for t, s in runs],
            "median_tokens_per_s": statistics.median(rates),
            "min_tokens_per_s": min(rates),
            "max_tokens_per_s": max(rates),
            "median_seconds": statistics.median(s for _, s in runs),
            "median_tokens": statistics.median(t for t, _ in runs),
        }
    return {"model": name, "config": config, "parameters": parameters, "batched_batches": batches, "ways": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64, help="concurrent requests (default 64)")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens per response (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds after one warm-up (default 5)")
    parser.add_argument(
        "--sequential-rounds", type=int, default=3, help="of which the slow one-at-a-time way runs (default 3)"
    )
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {list(MODELS)}")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="16 requests, 16 tokens, 2 rounds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.requests, args.max_tokens, args.rounds, args.sequential_rounds = 16, 16, 2, 2

    machine = {
        "cpu": next(
            (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
            platform.processor(),
        )
        if os.path.exists("/proc/cpuinfo")
        else platform.processor(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": importlib.metadata.version("transformers"),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    console.log(f"machine: {machine}")
    with tempfile.TemporaryDirectory() as directory:
        results = [run_model(name, MODELS[name], args, Path(directory)) for name in args.models.split(",")]

    table = Table(
        title=f"HFPolicy: {args.requests} requests x {args.max_tokens} tokens, CPU float32 ({machine['cpu']}, {machine['cores']} cores)"
    )
    for column in (
        "model",
        "params",
        "way",
        "batches",
        "median tokens",
        "median s",
        "median tok/s",
        "min-max tok/s",
        "vs one at a time",
    ):
        table.add_column(column, justify="right" if column not in ("model", "way") else "left")
    for result in results:
        ways = result["ways"]
        base = ways["one at a time"]["median_tokens_per_s"]
        for way, stats in ways.items():
            table.add_row(
                result["model"],
                f"{result['parameters'] / 1e6:.2f}M",
                way,
                {
                    "one at a time": str(args.requests),
                    "batched": str(result["batched_batches"]),
                    "transformers generate": "1",
                }[way],
                f"{stats['median_tokens']:.0f}",
                f"{stats['median_seconds']:.2f}",
                f"{stats['median_tokens_per_s']:.0f}",
                f"{stats['min_tokens_per_s']:.0f}-{stats['max_tokens_per_s']:.0f}",
                f"{stats['median_tokens_per_s'] / base:.1f}x",
            )
    console.print(table)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"hf_batching-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), "machine": machine, "results": results}, indent=2))
    console.log(f"wrote {out.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
