"""norm ops (see csrc/)."""
__all__ = []
