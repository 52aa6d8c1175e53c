"""dropout ops (see csrc/)."""
__all__ = []
