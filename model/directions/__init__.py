"""Edit directions for any pack: GANSpace at export, the InterFaceGAN++ FFHQ set, and imported direction files.

    latent.py    the generator as directions see it (PackModel at export, or a pack's own mapping graph) + W statistics
    ganspace.py  GANSpace: PCA of W, map back to Z, measured layer ranges and effect with F fixed
    convert.py   W directions in the Z+ spaces: the W->Z regression and its measurement
    files.py     readers: InterFaceGAN .npy, GANSpace .npz, e4e/pSp .pt (restricted unpickler), manifest JSON
    entries.py   incoming directions -> checked manifest entries (schema/manifest.schema.json#/definitions/direction)
    ffhq.py      the InterFaceGAN++ boundaries for StyleGAN2 FFHQ config-f (assets/, public/directions/)
    pack.py      attach directions at export; add them to an existing pack (atomic)
    walk.py      the engine's sphere walk (docs/CONTRACTS.md)

How each space's directions act in each inversion space: docs/DIRECTIONS.md.
CLI: python3 -m model.directions add PACK FILE... | ganspace PACK CHECKPOINT | ffhq-json OUT
"""
