"""Registers every family module of the catalog (imported on first catalog use)."""

# Import order is the catalog's order (simplest families first), so keep it unsorted.
# isort: off
from modelcycle.models import _family_linear  # noqa: F401
from modelcycle.models import _family_trees  # noqa: F401
from modelcycle.models import _family_lightgbm  # noqa: F401
from modelcycle.models import _family_text  # noqa: F401
from modelcycle.models import _family_mlp  # noqa: F401
from modelcycle.models import _family_cnn  # noqa: F401
from modelcycle.models import _family_transformer  # noqa: F401
# isort: on
