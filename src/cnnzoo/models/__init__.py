"""The zoo: one architecture family per module; importing this package registers them all."""

import importlib
import pkgutil

# Every module here registers its builders on import; discovering them keeps this file out of
# the way when a family is added.
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
