"""Train Stage 1 (latent diffusion + implicit captioner), Stage 2 (mask generator), Defect-Gen or the click segmenter.

    python -m modeling.train --stage 1 --config tiny --shards /exports/v3/manifest.json --out runs/s1
    python -m modeling.train --stage 2 --config tiny --shards /exports/v3 --init runs/s1 --out runs/s2
    torchrun --nproc-per-node 8 -m modeling.train --stage 1 --config sd15 --shards s3://bucket/v3/ --out runs/s1
    python -m modeling.train --stage defect-gen --config tiny --shards /exports/v3 --product prod-bottle \
        --few-shot 25 --out runs/dg
    python -m modeling.train --stage click --config tiny --shards /exports/v3 --out runs/click
    python -m modeling.train --stage click --config tiny --pairs /data/pairs --out runs/click   # <stem>_mask.png

Exit status 0 on success, 2 for bad input (config, shards, checkpoint), with a one-line message;
143 when stopped by SIGTERM, after saving a checkpoint that --resume continues from.
This module imports no Django: the platform runs it as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import sys

from modeling.core.config import PRESETS
from modeling.core.errors import ConfigError, ModelingError
from modeling.core.stopping import STOPPED_EXIT_STATUS

STAGES = ("1", "2", "defect-gen", "click")
DEFECT_GEN_ONLY = ("classes", "product", "domain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.train", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=STAGES, required=True, help="1, 2, defect-gen or click")
    parser.add_argument(
        "--config",
        default="tiny",
        help=f"preset (stages 1, 2: {', '.join(PRESETS)}; defect-gen, click: tiny, paper) or a config JSON file",
    )
    parser.add_argument("--shards", help="manifest.json, export folder, or shard URLs (comma-separated)")
    parser.add_argument(
        "--pairs", help="click only, instead of --shards: a folder of images with <stem>_mask.png masks beside them"
    )
    parser.add_argument("--out", required=True, help="run folder: metrics.jsonl, config.json, checkpoints/")
    parser.add_argument("--split", default="train", help="manifest split to train on (default: train)")
    parser.add_argument("--steps", type=int, help="total steps (overrides train.steps)")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--init", help="stage 2: the stage 1 checkpoint (or run folder) to take the backbone from")
    parser.add_argument("--few-shot", type=int, help="keep N samples per class (overrides data.few_shot_per_class)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--allow-random-frozen",
        action="store_true",
        help="stages 1, 2: train although the frozen VAE or CLIP towers have no pretrained weights "
        "(the tiny preset allows it by default)",
    )
    defect_gen = parser.add_argument_group("defect-gen only")
    defect_gen.add_argument("--classes", help="comma-separated class slugs (default: every class the samples carry)")
    filters = defect_gen.add_mutually_exclusive_group()
    filters.add_argument("--product", help="train on the samples of this product term slug")
    filters.add_argument("--domain", help="train on the samples of this domain slug")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: the local GPU if any)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="e.g. --set train.lr=5e-5"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.stage == "click" and (args.shards is None) == (args.pairs is None):
            raise ConfigError("--stage click reads --shards or --pairs (one of them)")
        if args.stage != "click" and (args.shards is None or args.pairs is not None):
            raise ConfigError("give --shards (--pairs is for --stage click only)")
        if args.stage == "defect-gen":
            result = train_defect_gen(args)
        elif args.stage == "click":
            result = train_click(args)
        else:
            result = train_stage(args)
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    if result.get("stopped"):
        print(f"stopped on request at step {result['step']}; resume with --resume", file=sys.stderr)
        return STOPPED_EXIT_STATUS
    return 0


def common_overrides(args: argparse.Namespace) -> list[str]:
    """--set values, then the flags that are shorthands for config keys (the same for every stage)."""
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    if args.few_shot is not None:
        overrides.append(f"data.few_shot_per_class={args.few_shot}")
    if args.gradient_checkpointing:
        overrides.append("train.gradient_checkpointing=true")
    return overrides


def train_stage(args: argparse.Namespace) -> dict:
    """Stage 1 or 2."""
    given = [f"--{name}" for name in DEFECT_GEN_ONLY if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"only --stage defect-gen takes {', '.join(given)}")
    from modeling.core.config import load_config
    from modeling.core.runs import train

    overrides = common_overrides(args)
    if args.allow_random_frozen:
        overrides.append("weights.allow_random_frozen=true")
    config = load_config(args.config, overrides)
    return train(
        stage=int(args.stage),
        config=config,
        shards=args.shards,
        out_dir=args.out,
        split=args.split or None,
        resume=args.resume,
        init_from=args.init,
        device=args.device,
    )


def train_defect_gen(args: argparse.Namespace) -> dict:
    """Defect-Gen: both U-Nets, jointly, on the samples chosen by --product/--domain, --classes, --few-shot."""
    if args.init is not None:
        raise ConfigError("--init applies to --stage 2 only")
    if args.allow_random_frozen:
        raise ConfigError("--allow-random-frozen applies to stages 1 and 2 (Defect-Gen has no frozen part)")
    from modeling.core.defect_gen.config import load_defect_gen_config
    from modeling.core.defect_gen.training import train_defect_gen as train

    overrides = common_overrides(args)
    if args.classes is not None:
        slugs = [slug.strip() for slug in args.classes.split(",") if slug.strip()]
        if not slugs:
            raise ConfigError("--classes names no class slug")
        overrides.append(f"selection.classes={json.dumps(slugs)}")
    for name in ("product", "domain"):
        if getattr(args, name) is not None:
            overrides.append(f"selection.{name}={json.dumps(getattr(args, name))}")
    config = load_defect_gen_config(args.config, overrides)
    return train(
        config=config,
        shards=args.shards,
        out_dir=args.out,
        split=args.split or None,
        resume=args.resume,
        device=args.device,
    )


def train_click(args: argparse.Namespace) -> dict:
    """The interactive click segmenter, on the mask instances of the shards or of a folder of pairs."""
    given = [
        f"--{name.replace('_', '-')}"
        for name in (*DEFECT_GEN_ONLY, "init", "few_shot")
        if getattr(args, name) is not None
    ]
    given += ["--allow-random-frozen"] if args.allow_random_frozen else []
    given += ["--gradient-checkpointing"] if args.gradient_checkpointing else []
    if given:
        raise ConfigError(f"--stage click does not take {', '.join(given)}")
    from modeling.core.click_segmenter import load_click_config
    from modeling.core.click_training import examples_from_pairs, examples_from_shards, train_click_model
    from segmentation.evaluation import ProtocolClicks  # the benchmark's click protocol (pure numpy + OpenCV)

    overrides = list(args.overrides) + ([f"steps={args.steps}"] if args.steps is not None else [])
    config = load_click_config(args.config, overrides)
    if args.pairs is not None:
        examples, counts = examples_from_pairs(args.pairs, size=config.source_size), {}
    else:
        examples, counts = examples_from_shards(args.shards, split=args.split or None, size=config.source_size)
    counts["instances"] = len(examples)
    print(json.dumps({"data": counts}), file=sys.stderr)
    return train_click_model(
        config=config,
        examples=examples,
        out_dir=args.out,
        simulator=ProtocolClicks(),
        device=args.device,
        resume=args.resume,
        data_counts=counts,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )


if __name__ == "__main__":
    sys.exit(main())
