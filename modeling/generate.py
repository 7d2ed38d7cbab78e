"""Generate image + mask pairs per class from a Defect-Gen checkpoint (docs/defect-gen.md).

    python -m modeling.generate --checkpoint runs/dg --out synth/dg-1 --per-class 50 --seed 0

Writes OUT/images/NNNNN.png, OUT/masks/NNNNN.png (class-index PNG) and, last, OUT/manifest.json;
prints a one-line summary. Exit status 2 for bad input, with a one-line message.
This module imports no Django: the platform runs it as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from modeling.core.errors import ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="Defect-Gen checkpoint folder or run folder")
    parser.add_argument("--out", required=True, help="a new folder for images/, masks/ and manifest.json")
    parser.add_argument("--per-class", type=int, required=True, help="pairs to generate for each class of the set")
    parser.add_argument("--seed", type=int, default=0, help="sample n uses seed + n (default 0)")
    parser.add_argument(
        "--switch-at", type=int, help="timestep u: large model for t >= u, small below (default: the checkpoint's)"
    )
    parser.add_argument("--inference-steps", type=int, help="DDPM steps (default: the checkpoint's, all of T)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: the local GPU if any)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from modeling.core.defect_gen.generation import generate

        manifest = generate(
            checkpoint=args.checkpoint,
            out_dir=args.out,
            per_class=args.per_class,
            seed=args.seed,
            switch_timestep=args.switch_at,
            num_inference_steps=args.inference_steps,
            batch_size=args.batch_size,
            device=args.device,
        )
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_class = Counter(sample["class"] for sample in manifest["samples"])
    summary = {
        "out": args.out,
        "samples": len(manifest["samples"]),
        "per_class": dict(per_class),
        "checkpoint_step": manifest["checkpoint_step"],
        "switch_timestep": manifest["config"]["sampler"]["switch_timestep"],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
