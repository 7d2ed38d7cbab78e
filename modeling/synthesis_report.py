"""Score a Defect-Gen generation folder: FID/KID, memorisation, masks and the downstream mIoU check.

    python -m modeling.synthesis_report --generated synth/dg-1 --shards /exports/v3 --split test \
        --inception /models/weights-inception-2015-12-05-6726825d.pth --report synth/dg-1/report

Writes REPORT/report.json and REPORT/report.png; prints the headline figures. Without an Inception
weights file the report says FID/KID (Inception) are unavailable, and why, instead of failing.
Exit status 2 for bad input, with a one-line message. Imports no Django.
"""

from __future__ import annotations

import argparse
import json
import sys

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
    parser.add_argument("--clip-weights", help="local open_clip weights for it (default: fixed random init)")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
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
