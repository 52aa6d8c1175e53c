"""Optimisers on a flat parameter arena, and learning-rate schedules (torch.optim)."""
