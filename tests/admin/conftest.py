from ..annotation.conftest import people, vocab  # noqa: F401  (the workflow seats and terms)
