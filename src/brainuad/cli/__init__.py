"""The ``brainuad`` command line. Each module here with a ``register(app)`` adds its commands."""
