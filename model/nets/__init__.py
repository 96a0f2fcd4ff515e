"""Networks: StyleGAN2 (rosinality layout), inversion encoder, perceptual terms, attribute classifier."""
