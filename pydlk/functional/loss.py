"""loss ops (see csrc/)."""
__all__ = []
