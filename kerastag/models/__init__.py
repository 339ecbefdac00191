"""kerastag's networks. Importing this package registers every custom layer."""

from kerastag.models import crnn, layers  # noqa: F401

__all__ = ["crnn", "layers"]
