"""Checkpoint readers and the restricted unpickler that every torch.load in the project goes through."""
