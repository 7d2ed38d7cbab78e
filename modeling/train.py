"""Train Stage 1 (latent diffusion + implicit captioner) or Stage 2 (mask generator) from shards.

    python -m modeling.train --stage 1 --config tiny --shards /exports/v3/manifest.json --out runs/s1
    python -m modeling.train --stage 2 --config tiny --shards /exports/v3 --init runs/s1 --out runs/s2
    torchrun --nproc-per-node 8 -m modeling.train --stage 1 --config sd15 --shards s3://bucket/v3/ --out runs/s1

Exit status 0 on success, 2 for bad input (config, shards, checkpoint), with a one-line message.
This module imports no Django: the platform runs it as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import sys

from modeling.core.errors import ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.train", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", type=int, choices=(1, 2), required=True)
    parser.add_argument("--config", default="tiny", help="preset (tiny, sd15) or a config JSON file")
    parser.add_argument("--shards", required=True, help="manifest.json, export folder, or shard URLs (comma-separated)")
    parser.add_argument("--out", required=True, help="run folder: metrics.jsonl, config.json, checkpoints/")
    parser.add_argument("--split", default="train", help="manifest split to train on (default: train)")
    parser.add_argument("--steps", type=int, help="total steps (overrides train.steps)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--init", help="stage 2: the stage 1 checkpoint (or run folder) to take the backbone from")
    parser.add_argument("--few-shot", type=int, help="keep N samples per class (overrides data.few_shot_per_class)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: the local GPU if any)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="e.g. --set train.lr=5e-5"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from modeling.core.config import load_config
        from modeling.core.trainer import train

        overrides = list(args.overrides)
        if args.steps is not None:
            overrides.append(f"train.steps={args.steps}")
        if args.few_shot is not None:
            overrides.append(f"data.few_shot_per_class={args.few_shot}")
        if args.gradient_checkpointing:
            overrides.append("train.gradient_checkpointing=true")
        config = load_config(args.config, overrides)
        result = train(
            stage=args.stage,
            config=config,
            shards=args.shards,
            out_dir=args.out,
            split=args.split or None,
            resume=args.resume,
            init_from=args.init,
            device=args.device,
        )
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
