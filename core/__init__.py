"""ktiw.core: errors, input validation, resource limits, the derivation cache and provenance.
The lowest layer: imports nothing else of ktiw, and never torch."""
