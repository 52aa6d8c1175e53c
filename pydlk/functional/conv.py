"""conv ops (see csrc/)."""
__all__ = []
