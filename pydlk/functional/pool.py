"""pool ops (see csrc/)."""
__all__ = []
