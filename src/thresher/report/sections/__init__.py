"""Extra report sections: each module defines ``ORDER: int`` and ``build(run) -> Section | None``.

Modules here are discovered automatically; they must only read the run directory.
"""
