"""Evaluate a Stage 2 checkpoint on a split: classification accuracy, box mAP@0.5 and @0.5:0.95,
per-class IoU and mIoU, and the same for held-out (open-vocabulary) classes.

    python -m modeling.evaluate --checkpoint runs/s2 --shards /exports/v3/manifest.json --split test --out runs/s2/eval

Writes OUT/report.json and OUT/report.png; prints the report. Exit status 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from modeling.core.errors import ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="stage 2 checkpoint folder or run folder")
    parser.add_argument("--shards", required=True, help="manifest.json, export folder, or shard URLs")
    parser.add_argument("--out", required=True, help="folder for report.json and report.png")
    parser.add_argument(
        "--split",
        default="test",
        help="manifest split (default: test); held-out classes are the report's open_vocabulary",
    )
    parser.add_argument(
        "--held-out", help="comma-separated class slugs to report as open-vocabulary (default: untrained classes)"
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--device")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from modeling.core.evaluation import evaluate

        report = evaluate(
            checkpoint=args.checkpoint,
            shards=args.shards,
            out_dir=args.out,
            split=args.split or None,
            held_out=[s.strip() for s in args.held_out.split(",") if s.strip()] if args.held_out else None,
            device=args.device,
            batch_size=args.batch_size,
        )
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
