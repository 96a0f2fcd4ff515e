"""The bundled demo model: training (GAN, encoder), classifier-fitted directions, pack extras."""
