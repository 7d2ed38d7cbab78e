"""Score a generation folder: Defect-Gen pairs (FID/KID, memorisation, masks, downstream mIoU) or
text-to-image images (FID/KID, IS, CLIP score); the folder's manifest says which.

    python -m modeling.synthesis_report --generated synth/dg-1 --shards /exports/v3 --split test \
        --inception /models/weights-inception-2015-12-05-6726825d.pth --report synth/dg-1/report
    python -m modeling.synthesis_report --generated synth/t2i --shards /exports/v3 --split test \
        --report synth/t2i/report [--inception FILE] [--clip-model ViT-B-16 --clip-weights FILE]

Writes REPORT/report.json and REPORT/report.png; prints the headline figures. Without an Inception
weights file the report says FID/KID (Inception) are unavailable, and why, instead of failing.
Exit status 2 for bad input, with a one-line message. Imports no Django.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modeling.core.errors import ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.synthesis_report", description=__doc__.split("\n")[0])
    parser.add_argument("--generated", required=True, help="the folder python -m modeling.generate wrote")
    parser.add_argument("--shards", required=True, help="manifest.json, export folder, or shard URLs")
    parser.add_argument("--report", required=True, help="folder for report.json and report.png")
    parser.add_argument("--split", default="test", help="real images to compare with and to test on (default: test)")
    parser.add_argument("--train-split", default="train", help="split holding the generator's training samples")
    parser.add_argument("--inception", help="local FID Inception weights file (torch-fidelity's inception-v3-compat)")
    parser.add_argument("--clip-model", default="imdd-tiny-clip", help="open_clip model of the local feature space")
    parser.add_argument(
        "--clip-weights",
        help="local open_clip weights for it (Defect-Gen default: fixed random init; text-to-image: the CLIP score needs them)",
    )
    parser.add_argument(
        "--memorization-factor",
        type=float,
        default=0.5,
        help="near-copy: closer to a training image than this x the training images' median nearest distance",
    )
    parser.add_argument("--downstream-steps", type=int, default=300, help="segmenter training steps (0 skips)")
    parser.add_argument("--downstream-seeds", type=int, default=3)
    return parser.parse_args(argv)


def headline(report: dict) -> dict:
    realism = {
        name: {k: v for k, v in figures.items() if k in ("fid", "kid_mean", "reason")}
        for name, figures in report["realism"].items()
    }
    memorization = {name: figures.get("share_below_threshold") for name, figures in report["memorization"].items()}
    downstream = report["downstream"] or {}
    return {
        "report": report["report"],
        "realism": realism,
        "near_copy_share": memorization,
        "class_present_rate": report["masks"]["class_present_rate"],
        "miou_without_synthetic": downstream.get("miou_without_synthetic"),
        "miou_with_synthetic": downstream.get("miou_with_synthetic"),
    }


def generated_kind(folder: str) -> str | None:
    try:
        return json.loads((Path(folder) / "manifest.json").read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None  # the report itself says what is wrong with the folder


def text_to_image(args: argparse.Namespace) -> dict:
    from modeling.core.text_to_image_report import text_to_image_report

    report = text_to_image_report(
        generated=args.generated,
        shards=args.shards,
        report_dir=args.report,
        split=args.split,
        inception=args.inception,
        clip_model=args.clip_model,
        clip_weights=args.clip_weights,
    )
    return {
        "report": args.report,
        "realism": {
            name: {k: v for k, v in f.items() if k in ("fid", "kid_mean", "reason")}
            for name, f in report["realism"].items()
        },
        "inception_score": report["inception_score"].get("is_mean", report["inception_score"].get("reason")),
        "clip_score": report["clip_score"].get("clip_score", report["clip_score"].get("reason")),
        "random_frozen": report["random_frozen"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if generated_kind(args.generated) == "text-to-image":
            print(json.dumps(text_to_image(args)))
            return 0
        from modeling.core.defect_gen.quality import synthesis_report

        report = synthesis_report(
            generated=args.generated,
            shards=args.shards,
            report_dir=args.report,
            split=args.split,
            train_split=args.train_split,
            inception=args.inception,
            clip_model=args.clip_model,
            clip_weights=args.clip_weights,
            memorization_factor=args.memorization_factor,
            downstream_steps=args.downstream_steps,
            downstream_seeds=args.downstream_seeds,
        )
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(headline({**report, "report": args.report})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
