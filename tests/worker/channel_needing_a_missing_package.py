"""A transport module whose own import fails: the worker must not mistake it for an absent module."""

import package_that_is_not_installed  # noqa: F401
