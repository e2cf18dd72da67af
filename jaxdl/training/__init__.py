"""Training: the state (a pytree), pure steps, and the driver loop."""

__all__ = []
