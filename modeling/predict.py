"""Segment one image with any category names; print detections, latency and peak memory as JSON.

python -m modeling.predict --checkpoint runs/s2 --image part.png --categories "scratch,dent,crack"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from modeling.core.errors import ModelingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling.predict", description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="stage 2 checkpoint folder or run folder")
    parser.add_argument("--image", required=True)
    parser.add_argument("--categories", required=True, help="comma-separated category names (EN labels)")
    parser.add_argument("--score-threshold", type=float, default=0.3)
    parser.add_argument("--max-detections", type=int, default=20)
    parser.add_argument("--device")
    parser.add_argument("--out", help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from PIL import Image, UnidentifiedImageError

        from modeling.core.checkpoint import load_checkpoint
        from modeling.core.evaluation import random_frozen_parts
        from modeling.core.inference import DefectSegmenter

        try:
            image = Image.open(args.image)
            image.load()
        except (FileNotFoundError, UnidentifiedImageError) as exc:
            raise ModelingError(f"cannot read image {args.image}: {exc}") from None
        segmenter = DefectSegmenter.from_checkpoint(args.checkpoint, args.device)
        random_frozen = random_frozen_parts(load_checkpoint(args.checkpoint).meta)
        prediction = segmenter.predict(
            image,
            args.categories.split(","),
            score_threshold=args.score_threshold,
            max_detections=args.max_detections,
        )
    except ModelingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if random_frozen:
        # A tiny run's checkpoint: its proposals come from untrained image and text features.
        print(
            f"warning: randomly initialised frozen {', '.join(random_frozen)} in {args.checkpoint}: "
            "not a pretrained model's predictions",
            file=sys.stderr,
        )
    output = json.dumps({**prediction.to_json(), "random_frozen": random_frozen}, indent=2)
    if args.out:
        Path(args.out).write_text(output)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
