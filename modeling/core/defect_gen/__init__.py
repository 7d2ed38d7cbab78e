"""Defect-Gen (Defect Spectrum, Yang et al.): two-stage pixel-space diffusion of image + mask pairs.

A large-receptive-field U-Net learns the global layout of a defective part, a small-receptive-field
U-Net (few down levels, no attention, no middle block) learns patch-level texture and so memorises
less from few images. Sampling starts with the large one and switches to the small one at timestep u.

  config.py    presets and the config dataclasses
  models.py    the two U-Nets on the joint image + one-hot mask tensor, its encoding and decoding
               (mask = argmax of the mask channels), the training loss, receptive_field
  sampler.py   the switch sampler, and image + mask pairs from per-sample seeds
  data.py      choosing the training samples (product/domain/classes/few-shot) and their batches
  training.py  ``train_defect_gen``: the stage 1/2 Trainer over the two models
  generation.py  ``generate``: N pairs per class into a folder with a manifest
  features.py, downstream.py, quality.py, report_figure.py  the synthesis report (FID/KID,
      memorisation, mask checks, downstream mIoU) and its PNG

Like the rest of modeling.core, nothing here imports Django.
"""
