"""verticals: install vertical AI plugins, serve their models to customers, meter every request.

Plugin authors need only ``verticals.hookimpl`` and the contracts in ``verticals.models``,
``verticals.adapters`` and ``verticals.evaluation``.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("verticals")

__all__ = ["__version__", "hookimpl"]
