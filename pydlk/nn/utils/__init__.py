"""Gradient clipping and regularisation penalties (torch.nn.utils)."""
