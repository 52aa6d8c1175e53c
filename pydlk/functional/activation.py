"""activation ops (see csrc/)."""
__all__ = []
