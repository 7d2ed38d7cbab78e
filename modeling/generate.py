"""Generate images: text-to-image from a Stage 1 checkpoint, or image + mask pairs from Defect-Gen.

    python -m modeling.generate --stage 1 --checkpoint runs/s1 --prompts prompts.txt --out synth/t2i \
        --guidance 7.5 --steps 50 [--sampler ddim|dpm-solver] [--per-prompt 4]
    python -m modeling.generate --stage 1 --checkpoint runs/s1 --from-shards /exports/v3 --split test --out synth/t2i
    python -m modeling.generate --checkpoint runs/dg --out synth/dg-1 --per-class 50 --seed 0   # Defect-Gen

Stage 1 writes OUT/images/NNNNN.png and, last, OUT/manifest.json (modeling/core/text_to_image.py);
Defect-Gen writes OUT/images/, OUT/masks/ and OUT/manifest.json (docs/defect-gen.md). Prints a
one-line summary. Exit status 2 for bad input, with a one-line message. Imports no Django.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from modeling.core.errors import ConfigError, ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=("1", "defect-gen"), default="defect-gen", help="default: defect-gen")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    parser.add_argument("--out", required=True, help="a new folder for images/ (and masks/) and manifest.json")
    parser.add_argument("--seed", type=int, default=0, help="sample n uses seed + n (default 0)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: the local GPU if any)")
    text = parser.add_argument_group("stage 1 (text-to-image)")
    prompts = text.add_mutually_exclusive_group()
    prompts.add_argument("--prompts", help="a text file, one prompt per line")
    prompts.add_argument("--from-shards", help="use the English captions of a split of these shards as prompts")
    text.add_argument("--split", default="test", help="with --from-shards (default: test)")
    text.add_argument("--limit", type=int, help="with --from-shards: at most this many captions")
    text.add_argument("--per-prompt", type=int, default=1, help="images per prompt (default 1)")
    text.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale (1 = none)")
    text.add_argument("--steps", type=int, default=50, help="sampling steps (default 50)")
    text.add_argument("--sampler", default="ddim", help="ddim or dpm-solver (DPM-Solver++, 2nd order)")
    defect_gen = parser.add_argument_group("defect-gen")
    defect_gen.add_argument("--per-class", type=int, help="pairs to generate for each class of the set")
    defect_gen.add_argument(
        "--switch-at", type=int, help="timestep u: large model for t >= u, small below (default: the checkpoint's)"
    )
    defect_gen.add_argument("--inference-steps", type=int, help="DDPM steps (default: the checkpoint's, all of T)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = generate_text_to_image(args) if args.stage == "1" else generate_defect_gen(args)
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


def generate_text_to_image(args: argparse.Namespace) -> dict:
    if args.per_class is not None or args.switch_at is not None or args.inference_steps is not None:
        raise ConfigError(
            "--per-class, --switch-at and --inference-steps are Defect-Gen's; stage 1 takes --per-prompt, --steps"
        )
    from modeling.core.text_to_image import generate_text_to_image as generate
    from modeling.core.text_to_image import prompts_from_shards, read_prompts

    if args.prompts:
        prompts = read_prompts(args.prompts)
    elif args.from_shards:
        prompts = prompts_from_shards(args.from_shards, args.split or None, args.limit)
    else:
        raise ConfigError("--stage 1 needs --prompts FILE or --from-shards SHARDS")
    manifest = generate(
        checkpoint=args.checkpoint,
        prompts=prompts,
        out_dir=args.out,
        per_prompt=args.per_prompt,
        seed=args.seed,
        guidance=args.guidance,
        steps=args.steps,
        sampler=args.sampler,
        batch_size=args.batch_size,
        device=args.device,
    )
    return {
        "out": args.out,
        "samples": len(manifest["samples"]),
        "prompts": len(prompts),
        "checkpoint_step": manifest["checkpoint_step"],
        "sampler": manifest["sampler"],
        "random_frozen": manifest["random_frozen"],
    }


def generate_defect_gen(args: argparse.Namespace) -> dict:
    if args.per_class is None:
        raise ConfigError("Defect-Gen needs --per-class N")
    if args.prompts or args.from_shards:
        raise ConfigError("--prompts and --from-shards are for --stage 1")
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
    return {
        "out": args.out,
        "samples": len(manifest["samples"]),
        "per_class": dict(Counter(sample["class"] for sample in manifest["samples"])),
        "checkpoint_step": manifest["checkpoint_step"],
        "switch_timestep": manifest["config"]["sampler"]["switch_timestep"],
    }


if __name__ == "__main__":
    sys.exit(main())
