"""Synthetic industrial defect images for demos and tests.

``python manage.py seed_demo`` needs plausible defect images with pixel masks
without downloading a data set.  This module paints them procedurally with
numpy and Pillow only: a surface texture (brushed metal, woven fabric, wood,
glazed tile or a bare PCB) and zero or more defects (scratch, crack, hole,
stain, contamination) on top of it.  Each defect comes with a boolean mask
that covers exactly the pixels its painter changed.

Conventions used throughout:

* ``size`` arguments are Pillow-style ``(width, height)``.
* Masks and grey fields are numpy-style ``(H, W)`` arrays.
* While painting, colour is a float32 ``(3, H, W)`` array in 0..255, one plane
  per channel.  Channel-first keeps every "(H, W) field times colour"
  operation a plain broadcast, which is several times faster in numpy than
  broadcasting against a trailing axis of length 3.
* All randomness comes from the ``numpy.random.Generator`` passed in, so the
  same seed always gives byte-identical images.  Random scalars are turned
  into Python floats before they meet float32 arrays, because a numpy
  float64 scalar would silently promote whole images to float64.

The package deliberately does not import Django: painting.py has the shared helpers, surfaces.py
the textures, defects.py the defect painters, images.py whole images and the catalog.
"""

from .images import DEFECT_KINDS, SURFACES, DemoDefect, DemoImage, demo_catalog, draw_demo_image

__all__ = [
    "DEFECT_KINDS",
    "SURFACES",
    "DemoDefect",
    "DemoImage",
    "demo_catalog",
    "draw_demo_image",
]
