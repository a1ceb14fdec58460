"""Error classes shared by the models and the registry (no Keras import, so
that the registry and the command line stay light)."""


class UnknownArgumentError(TypeError, ValueError):
    """A keyword argument a model does not take (e.g. a misspelling).

    A `TypeError`, as Python raises for unexpected keyword arguments, and
    a `ValueError`, as for the other bad model arguments. The models and
    `keras_cmod.zoo` raise this one class, so one `except` catches both.
    """
