"""The torch core of the IMDD model: Stage 1 latent diffusion with an implicit captioner, the Stage 2
mask generator with open-vocabulary grounding, the shard reader, training, evaluation and inference.

It never imports Django: a GPU node trains from WebDataset shards (docs/webdataset-schema.md) with
no database. Submodules are imported explicitly (``from modeling.core.config import preset``) so
that importing this package stays cheap.
"""
